"""musicnn in PyTorch against the original TensorFlow musicnn, on the very same mel patches.

The references in tests/data/musicnn_ref were recorded once with musicnn 0.1.0 itself by
scripts/musicnn_reference.py; the patches are the float16 mel spectrogram musicnn computed.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

from earmark.errors import ModelError
from earmark.features import MUSICNN_MEL, MelParams
from earmark.models import musicnn
from earmark.models.musicnn import (
    Musicnn,
    load_musicnn,
    native_bfloat16,
    resolve_precision,
)
from earmark.models.registry import MODEL_NAMES, MSD_TAGS, MTT_TAGS
from earmark.settings import override_settings

REF = Path(__file__).resolve().parents[1] / "data" / "musicnn_ref"
MEL_CLIPS = ("rock00000", "jazz00000")

if importlib.util.find_spec("musicnn") is None:
    pytest.skip("musicnn weights not installed: pip install --no-deps musicnn==0.1.0",
                allow_module_level=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    with override_settings(cache_dir=root):
        yield root


@pytest.fixture(scope="module")
def models(cache):
    """Exact (float32) models, whatever this machine's default precision."""
    return {name: load_musicnn(name, precision="float32") for name in MODEL_NAMES}


def reference_patches(clip: str) -> torch.Tensor:
    """musicnn's own network input, as ``(batch, n_mels, n_frames)``."""
    mel = np.load(REF / f"{clip}__mel.npz")["mel_fp16"]
    return torch.from_numpy(np.log10(10000 * mel.astype(np.float32) + 1)).transpose(1, 2)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("clip", MEL_CLIPS)
def test_taggram_matches_tensorflow_on_the_same_patches(models, name, clip):
    patches = reference_patches(clip)
    with torch.inference_mode():
        probs, embedding = models[name](patches)
    ref = np.load(REF / f"{clip}__{name}.npz")
    expected = ref["taggram"][: len(patches)]
    probs = probs.numpy()
    assert np.corrcoef(probs.ravel(), expected.ravel())[0, 1] >= 0.999
    assert np.abs(probs - expected).max() <= 1e-3
    if "penultimate" in ref:
        np.testing.assert_allclose(embedding[:1].numpy(), ref["penultimate"], atol=1e-3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bfloat16_stays_close_to_tensorflow_on_the_same_patches(cache, name):
    model = load_musicnn(name, precision="bfloat16")
    assert model.precision == "bfloat16"
    for clip in MEL_CLIPS:
        patches = reference_patches(clip)
        with torch.inference_mode():
            probs, embedding = model(patches)
        assert probs.dtype == embedding.dtype == torch.float32
        expected = np.load(REF / f"{clip}__{name}.npz")["taggram"][: len(patches)]
        assert np.corrcoef(probs.numpy().ravel(), expected.ravel())[0, 1] >= 0.9995
        assert np.abs(probs.numpy() - expected).max() <= 0.01


def plain_musicnn_front_end(model: Musicnn, patches: torch.Tensor) -> torch.Tensor:
    """The front end written the obvious way (one-channel convs over the whole batch, then
    ReLU, batch norm and the max over bands), as an oracle for the fast one."""
    x = model.input_bn(patches.transpose(1, 2).unsqueeze(1))
    features = [block(F.pad(x, (0, 0, 3, 3))).amax(dim=-1) for block in model.timbral]
    for length, block in zip(model.temporal_lengths, model.temporal, strict=True):
        features.append(block(F.pad(x, (0, 0, (length - 1) // 2, length // 2))).amax(dim=-1))
    return torch.cat(features, dim=1)


@pytest.mark.parametrize("frames", [1, 7, 63, 64, 65, 187, 300])
def test_fast_front_end_equals_plain_convolutions_for_any_length(models, frames):
    model = models["MSD_musicnn"]
    patches = torch.rand(3, 96, frames, generator=torch.Generator().manual_seed(frames)) * 4
    with torch.inference_mode():
        expected = plain_musicnn_front_end(model, patches)
        front = model.front_end(patches)
    assert front.shape == (3, 561, frames)
    np.testing.assert_allclose(front.numpy(), expected.numpy(), rtol=1e-5, atol=1e-4)


def test_band_max_in_one_call_equals_chunked():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 150, 96, generator=generator).contiguous(
        memory_format=torch.channels_last)
    weight = torch.randn(51, 8, 4, 1, generator=generator).contiguous(
        memory_format=torch.channels_last)
    whole = musicnn._band_max(x, weight, 150 - 24, 8, None)
    chunked = musicnn._band_max(x, weight, 150 - 24, 8, 64)
    assert whole.shape == (2, 51, 126)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-4)
    maps = torch.randn(2, 5, 59, 7, generator=generator)
    assert torch.equal(musicnn._max_over_bands(maps), maps.amax(2))


def test_precision_choice():
    assert resolve_precision("float32") == "float32"
    assert resolve_precision("bfloat16", "cpu") == "bfloat16"
    assert resolve_precision("auto", "cpu") == ("bfloat16" if native_bfloat16("cpu")
                                                else "float32")
    assert resolve_precision("auto", "mps") == "float32"
    with pytest.raises(ModelError, match="float32"):
        resolve_precision("float8")


def test_models_carry_tags_front_end_and_shapes(models):
    for name, model in models.items():
        assert model.tags == (MTT_TAGS if name.startswith("MTT") else MSD_TAGS)
        assert len(model.tags) == 50
        assert model.mel_params == MUSICNN_MEL
        assert model.patch_frames == 187
        assert not model.training
    assert models["MSD_musicnn"].embedding_dim == 200
    assert models["MSD_vgg"].embedding_dim == 256


def test_zero_input_gives_finite_outputs(models):
    with torch.inference_mode():
        for model in models.values():
            probs, embedding = model(torch.zeros(2, 96, 187))
            assert probs.shape == (2, 50) and embedding.shape == (2, model.embedding_dim)
            assert torch.isfinite(probs).all() and torch.isfinite(embedding).all()
            torch.testing.assert_close(model.taggram(torch.zeros(1, 96, 187)), probs[:1])


def test_musicnn_takes_any_patch_length_vgg_does_not(models):
    with torch.inference_mode():
        assert models["MTT_musicnn"].embed(torch.rand(1, 96, 50)).shape == (1, 200)
        with pytest.raises(ModelError, match="187"):
            models["MTT_vgg"](torch.rand(1, 96, 50))


def test_cache_file_carries_front_end_and_loads_fast(models, cache):
    path = cache / "models" / "MSD_musicnn.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert MelParams.from_dict(json.loads(meta["mel_params"])) == MUSICNN_MEL
    assert json.loads(meta["tags"]) == list(MSD_TAGS)
    start = time.perf_counter()
    model = load_musicnn("MSD_musicnn")
    assert time.perf_counter() - start < 0.5
    for key, value in models["MSD_musicnn"].state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_damaged_cache_is_rebuilt(cache):
    path = cache / "models" / "MTT_musicnn.safetensors"
    path.write_bytes(b"not a safetensors file")
    model = load_musicnn("MTT_musicnn")
    assert model.tags == MTT_TAGS
    assert path.stat().st_size > 1_000_000


def test_unknown_model_name():
    with pytest.raises(ModelError, match="MSD_musicnn"):
        load_musicnn("MSD_musicnn_big")
