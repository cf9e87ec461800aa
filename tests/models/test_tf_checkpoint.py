"""The TF1 checkpoint reader, on hand-built bundles and on musicnn's released checkpoints."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

from earmark.errors import ModelError
from earmark.models.tf_checkpoint import read_checkpoint

MAGIC = 0xDB4775248B80FB57
DTYPE_CODES = {np.dtype("<f4"): 1, np.dtype("<i4"): 3, np.dtype("<i8"): 9, np.dtype("<f2"): 19}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    return varint(number << 3) + varint(value)


def block(entries: list[tuple[bytes, bytes]], restart_interval: int = 2) -> bytes:
    """A LevelDB table block with prefix-compressed keys and a restart every few entries."""
    out, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        previous = key
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def write_bundle(prefix: Path, tensors: dict[str, np.ndarray], compression: int = 0) -> None:
    """Write a TF tensor bundle the way TF lays it out (two data blocks, one index block)."""
    data, entries = bytearray(), [(b"", field(1, 1))]  # header: num_shards = 1
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        shape = b"".join(field(2, field(1, dim)) for dim in array.shape)
        proto = field(1, DTYPE_CODES[array.dtype]) + field(2, shape)
        proto += field(4, len(data)) + field(5, array.nbytes)
        entries.append((name.encode(), proto))
        data += array.tobytes()
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    table, index = bytearray(), []
    half = len(entries) // 2
    for chunk in (entries[:half], entries[half:]):
        body = block(chunk)
        index.append((chunk[-1][0], varint(len(table)) + varint(len(body))))
        table += body + bytes([compression]) + b"\0\0\0\0"
    meta_handle = varint(len(table)) + varint(0)
    empty = block([])
    table += empty + b"\0\0\0\0\0"
    index_body = block(index)
    index_handle = varint(len(table)) + varint(len(index_body))
    table += index_body + b"\0\0\0\0\0"
    handles = meta_handle + index_handle
    table += handles + b"\0" * (40 - len(handles)) + struct.pack("<Q", MAGIC)
    Path(f"{prefix}.index").write_bytes(bytes(table))


def test_round_trip_of_a_hand_built_bundle(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "conv2d/kernel": rng.standard_normal((7, 3, 1, 5)).astype(np.float32),
        "conv2d/bias": rng.standard_normal(5).astype(np.float32),
        "conv2d_1/kernel": rng.standard_normal((2, 2)).astype(np.float16),
        "global_step": np.array(1234567890123, dtype=np.int64),
        "labels": np.arange(300, dtype=np.int32),
    }
    write_bundle(tmp_path / "model", tensors)
    loaded = read_checkpoint(tmp_path / "model")
    assert sorted(loaded) == sorted(tensors)
    for name, array in tensors.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)


def test_snappy_blocks_raise_a_clear_error(tmp_path):
    write_bundle(tmp_path / "model", {"w": np.zeros(3, np.float32)}, compression=1)
    with pytest.raises(ModelError, match="snappy"):
        read_checkpoint(tmp_path / "model")


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "model.index").write_bytes(b"\0" * 100)
    with pytest.raises(ModelError, match="magic"):
        read_checkpoint(tmp_path / "model")
    with pytest.raises(ModelError, match="cannot read"):
        read_checkpoint(tmp_path / "missing")


def test_truncated_data_file(tmp_path):
    write_bundle(tmp_path / "model", {"w": np.ones(100, np.float32)})
    data = tmp_path / "model.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:200])
    with pytest.raises(ModelError, match="truncated"):
        read_checkpoint(tmp_path / "model")


def test_musicnn_release_checkpoint():
    spec = importlib.util.find_spec("musicnn")
    if spec is None:
        pytest.skip("musicnn package (weights only) not installed: pip install --no-deps musicnn")
    folder = Path(next(iter(spec.submodule_search_locations))) / "MSD_musicnn"
    tensors = read_checkpoint(f"{folder}/")
    assert tensors["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert tensors["dense/kernel"].shape == (1506, 200)
    assert tensors["dense_1/bias"].shape == (50,)
    assert tensors["batch_normalization_9/moving_variance"].min() > 0
    assert all(np.isfinite(t).all() for t in tensors.values())
