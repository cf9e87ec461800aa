"""Read TensorFlow 1 checkpoints (``<prefix>.index`` + ``<prefix>.data-*``) without TensorFlow.

A TF1 checkpoint is a *tensor bundle*. Its ``.index`` file is a LevelDB table (SSTable): data
blocks of prefix-compressed key/value entries, an index block pointing at them, and a 48-byte
footer. Each key is a variable name and each value a ``BundleEntryProto`` saying where that
variable's raw little-endian bytes lie in the ``.data-NNNNN-of-MMMMM`` shard files. The empty key
holds the ``BundleHeaderProto`` (number of shards, endianness).

Only what released checkpoints use is supported: uncompressed table blocks and whole (unsliced)
numeric tensors. Anything else raises :class:`~earmark.errors.ModelError` naming what was met.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from earmark.errors import ModelError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes masked crc32c
_NO_COMPRESSION, _SNAPPY = 0, 1

# tensorflow/core/framework/types.proto enum values -> little-endian numpy dtypes.
_DTYPES = {
    1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?",
    14: "<u2", 17: "<u2", 19: "<f2", 22: "<u4", 23: "<u8",
}
_DTYPE_NAMES = {7: "string", 8: "complex64", 18: "complex128", 20: "resource", 21: "variant"}

_WIRE_VARINT, _WIRE_FIXED64, _WIRE_BYTES, _WIRE_FIXED32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at ``buf[pos]``; return ``(value, next_pos)``."""
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ModelError("checkpoint index is damaged (varint longer than 10 bytes)")


def _proto_fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split a protobuf message into ``(field_number, wire_type, value)`` triples.

    Varints come back as ``int`` (unsigned; callers reinterpret signed fields), fixed32/64 as
    ``int``, length-delimited fields as ``bytes`` for the caller to parse further.
    """
    fields = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == _WIRE_VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _WIRE_FIXED64:
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == _WIRE_BYTES:
            length, pos = _varint(buf, pos)
            value = bytes(buf[pos : pos + length])
            pos += length
        elif wire == _WIRE_FIXED32:
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ModelError(f"checkpoint index is damaged (protobuf wire type {wire})")
        fields.append((number, wire, value))
    return fields


def _read_block(data: bytes, handle: tuple[int, int], path: Path) -> bytes:
    """Return the contents of the table block at ``handle = (offset, size)``."""
    offset, size = handle
    if offset + size + _BLOCK_TRAILER_SIZE > len(data):
        raise ModelError(f"{path}: checkpoint index is truncated")
    compression = data[offset + size]
    if compression == _SNAPPY:
        raise ModelError(
            f"{path}: checkpoint index uses snappy-compressed blocks, which earmark cannot read; "
            "re-save the checkpoint without compression"
        )
    if compression != _NO_COMPRESSION:
        raise ModelError(f"{path}: unknown checkpoint block compression type {compression}")
    return data[offset : offset + size]


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """All ``(key, value)`` pairs of one table block, keys expanded from their shared prefixes."""
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * num_restarts
    entries = []
    key = b""
    pos = 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _block_handle(buf: bytes, pos: int = 0) -> tuple[tuple[int, int], int]:
    offset, pos = _varint(buf, pos)
    size, pos = _varint(buf, pos)
    return (offset, size), pos


def read_index(index_path: str | Path) -> dict[str, bytes]:
    """Read every key/value pair of a TF bundle's ``.index`` SSTable.

    Returns ``{key: serialized protobuf}``; key ``""`` is the bundle header.
    """
    path = Path(index_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read checkpoint index {path}: {exc.strerror}") from exc
    if len(data) < _FOOTER_SIZE:
        raise ModelError(f"{path}: too short to be a checkpoint index")
    footer = data[-_FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)
    if magic != _TABLE_MAGIC:
        raise ModelError(f"{path}: not a TensorFlow checkpoint index (bad table magic)")
    _metaindex, pos = _block_handle(footer)
    index_handle, _ = _block_handle(footer, pos)
    entries: dict[str, bytes] = {}
    for _last_key, handle_bytes in _block_entries(_read_block(data, index_handle, path)):
        handle, _ = _block_handle(handle_bytes)
        for key, value in _block_entries(_read_block(data, handle, path)):
            entries[key.decode("utf-8")] = value
    return entries


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for number, _wire, value in _proto_fields(buf):
        if number == 2:  # TensorShapeProto.dim
            size = next((v for n, _w, v in _proto_fields(value) if n == 1), 0)
            dims.append(size - (1 << 64) if size >= 1 << 63 else size)
        elif number == 3 and value:
            raise ModelError("checkpoint tensor has unknown rank")
    return tuple(dims)


def _parse_entry(name: str, buf: bytes) -> dict:
    """Decode a ``BundleEntryProto``: dtype, shape, shard_id, offset, size, crc32c, slices."""
    entry = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0}
    for number, _wire, value in _proto_fields(buf):
        if number == 1:
            entry["dtype"] = value
        elif number == 2:
            entry["shape"] = _parse_shape(value)
        elif number == 3:
            entry["shard_id"] = value
        elif number == 4:
            entry["offset"] = value
        elif number == 5:
            entry["size"] = value
        elif number == 7:
            raise ModelError(f"checkpoint tensor {name!r} is partitioned (sliced); not supported")
    return entry


def _num_shards(header: bytes) -> int:
    num_shards = 1
    for number, _wire, value in _proto_fields(header):
        if number == 1:
            num_shards = value
        elif number == 2 and value != 0:  # BundleHeaderProto.Endianness: 0 = LITTLE
            raise ModelError("big-endian checkpoints are not supported")
    return num_shards


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Load every numeric tensor of a TF1 checkpoint into numpy.

    Parameters
    ----------
    prefix : str or Path
        Checkpoint prefix: the path without ``.index`` / ``.data-00000-of-00001``. A directory
        whose files are literally named ``.index`` and ``.data-…`` (as in musicnn's release)
        is given as ``"dir/"``.

    Returns
    -------
    dict[str, np.ndarray]
        Variable name (e.g. ``"dense/kernel"``) to array, in the dtype and shape saved
        (TF layout: conv kernels are ``(height, width, in, out)``). Non-numeric entries such as
        strings are skipped.
    """
    prefix = str(prefix)
    index = read_index(prefix + ".index")
    num_shards = _num_shards(index.pop("", b""))
    shards: dict[int, bytes] = {}
    tensors: dict[str, np.ndarray] = {}
    for name, value in index.items():
        entry = _parse_entry(name, value)
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            if entry["dtype"] in _DTYPE_NAMES:
                continue
            raise ModelError(f"checkpoint tensor {name!r} has unknown dtype {entry['dtype']}")
        shard = entry["shard_id"]
        if shard not in shards:
            shard_path = f"{prefix}.data-{shard:05d}-of-{num_shards:05d}"
            try:
                shards[shard] = Path(shard_path).read_bytes()
            except OSError as exc:
                raise ModelError(
                    f"cannot read checkpoint data {shard_path}: {exc.strerror}"
                ) from exc
        start, size = entry["offset"], entry["size"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if start + size > len(shards[shard]) or size != count * np.dtype(dtype).itemsize:
            raise ModelError(f"checkpoint tensor {name!r} does not fit its data file (truncated?)")
        array = np.frombuffer(shards[shard], dtype=dtype, count=count, offset=start)
        tensors[name] = array.reshape(entry["shape"]).astype(np.dtype(dtype).newbyteorder("="))
    return tensors
