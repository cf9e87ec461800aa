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
from safetensors import safe_open

from earmark.errors import ModelError
from earmark.features import MUSICNN_MEL, MelParams
from earmark.models.musicnn import MODEL_NAMES, MSD_TAGS, MTT_TAGS, load_musicnn

REF = Path(__file__).resolve().parents[1] / "data" / "musicnn_ref"
MEL_CLIPS = ("rock00000", "jazz00000")

if importlib.util.find_spec("musicnn") is None:
    pytest.skip("musicnn weights not installed: pip install --no-deps musicnn==0.1.0",
                allow_module_level=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("cache")
        mp.setenv("EARMARK_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="module")
def models(cache):
    return {name: load_musicnn(name) for name in MODEL_NAMES}


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
