"""Augmentation functions and the networks trained on audio (tiny widths, few epochs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from earmark.audio import decode_audio, song_chunks
from earmark.data import LabelledSet
from earmark.errors import ModelError
from earmark.features import SHORTCHUNK_MEL, augment
from earmark.learn.train import default_inputs, train_model
from earmark.models.io import ModelCard, TrainedModel, load_model, save_model
from earmark.models.musicnn import MUSICNN_PARAMS, PATCH_FRAMES
from earmark.models.nets.shortchunk import (
    CHUNK_SAMPLES,
    ShortChunkClassifier,
    ShortChunkNet,
    ShortChunkResNet,
)
from music import gtzan_clip, transcode

RATE = 16000


def tones(*frequencies: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE)) / RATE
    return torch.stack([torch.sin(2 * torch.pi * f * t) for f in frequencies])


def peak_hz(row: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(row.numpy() * np.hanning(len(row))))
    return float(np.argmax(spectrum) * RATE / len(row))


def test_augmentations_are_reproducible_from_the_generator():
    x = tones(440.0, 330.0)
    spec = torch.rand(2, 32, 50, generator=torch.Generator().manual_seed(0))
    for fn in (lambda g: augment.random_gain(x, -6, 6, g),
               lambda g: augment.time_shift(x, 400, g),
               lambda g: augment.random_crop(x, 8000, g),
               lambda g: augment.spec_augment(spec, g)):
        a = fn(torch.Generator().manual_seed(5))
        b = fn(torch.Generator().manual_seed(5))
        c = fn(torch.Generator().manual_seed(6))
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_gain_crop_and_shift_do_what_they_say():
    x = tones(440.0, 330.0)
    g = torch.Generator().manual_seed(0)
    gained = augment.random_gain(x, 6.0, 6.0, g)
    assert torch.allclose(gained, x * 10 ** (6 / 20))
    crop = augment.random_crop(x, 4000, torch.Generator().manual_seed(9))
    starts = torch.randint(0, 12001, (2,), generator=torch.Generator().manual_seed(9))
    for row, original, start in zip(crop, x, starts.tolist(), strict=True):
        assert torch.equal(row, original[start:start + 4000])
    assert augment.random_crop(x[:, :100], 4000, g)[:, 100:].abs().max() == 0  # padded
    shifted = augment.time_shift(x, 100, g)
    assert any(torch.allclose(shifted[0], torch.roll(x[0], s)) for s in range(-100, 101))


def test_pitch_shift_moves_pitch_and_time_stretch_keeps_it():
    x = tones(440.0, 440.0, seconds=2.0)
    g = torch.Generator().manual_seed(3)
    expected = augment._uniform(2, -3.0, 3.0, torch.Generator().manual_seed(3))
    shifted = augment.pitch_shift(x, 3.0, g)
    assert shifted.shape == x.shape
    for row, semitones in zip(shifted, expected.tolist(), strict=True):
        assert peak_hz(row) == pytest.approx(440 * 2 ** (semitones / 12), rel=0.02)
    stretched = augment.time_stretch(x, 0.7, 0.7, torch.Generator().manual_seed(0))
    assert stretched.shape == x.shape and peak_hz(stretched[0, :RATE]) == pytest.approx(440,
                                                                                         rel=0.01)


def test_mixup_mixes_inputs_and_targets_alike():
    x = torch.arange(4.0)[:, None].repeat(1, 3)
    y = torch.eye(4)
    mixed_x, mixed_y = augment.mixup(x, y, 0.4, torch.Generator().manual_seed(1))
    # each mixed target's weights say how the input was mixed: x row = sum_j y_ij * j
    assert torch.allclose(mixed_x[:, 0], mixed_y @ torch.arange(4.0), atol=1e-5)
    assert torch.allclose(mixed_y.sum(dim=1), torch.ones(4))


def test_spec_augment_masks_bands_and_frames_with_the_mean():
    spec = torch.rand(3, 40, 60) + 1.0
    out = augment.spec_augment(spec, torch.Generator().manual_seed(2), freq_masks=1,
                               max_freq=10, time_masks=1, max_time=10)
    changed = out != spec
    assert changed.any() and changed.float().mean() < 0.5


def test_short_chunk_resnet_shapes():
    net = ShortChunkResNet(n_outputs=5, width=4).eval()
    mel = torch.randn(2, 128, 231)  # one 59,049-sample chunk at hop 256
    assert net(mel).shape == (2, 5)


@pytest.fixture(scope="module")
def songs(genre_tree):
    paths = [str(genre_tree / g / f"{g}.{n:05d}.wav") for g in ("classical", "metal")
             for n in range(3)]
    return np.array(paths, dtype=object), np.array([0, 0, 0, 1, 1, 1])


def _tiny(**kw) -> ShortChunkClassifier:
    params = dict(width=4, epochs=2, batch_size=6, chunks_per_song=1, device="cpu", seed=0)
    params.update(kw)
    return ShortChunkClassifier(**params)


@pytest.mark.slow
def test_short_chunk_trains_saves_and_resumes(songs, tmp_path):
    X, y = songs
    model = _tiny(pitch=1.0, stretch=0.1, mixup_alpha=0.3).fit(X, y, n_classes=2,
                                                               X_valid=X, y_valid=y)
    proba = model.predict_proba(X)
    assert proba.shape == (6, 2) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(model.valid_output_, proba, atol=1e-6)  # no second pass needed
    assert [h["epoch"] for h in model.history_] == [1, 2] and "valid" in model.history_[0]
    chunks = np.zeros((2, CHUNK_SAMPLES), np.float32)
    assert model.predict_proba(chunks).shape == (2, 2)
    # A song is judged by its whole chunks, as `earmark predict` cuts them: the tail is dropped.
    song = transcode(gtzan_clip("metal", 0), tmp_path / "9 s.wav", "wav", seconds=9)
    audio = decode_audio(song, model.mel_params.sample_rate)
    assert len(song_chunks(audio, CHUNK_SAMPLES)) == 2 < len(audio) / CHUNK_SAMPLES
    np.testing.assert_allclose(
        model.predict_proba(np.array([str(song)], dtype=object))[0],
        model.predict_proba(song_chunks(audio, CHUNK_SAMPLES)).mean(axis=0), atol=1e-5)
    card = ModelCard(model_type="shortchunk", task="genre", kind="single",
                     labels=["classical", "metal"], inputs=default_inputs("shortchunk"), seed=0,
                     hyperparameters=model.get_params(), fitted=model.fitted_info())
    save_model(TrainedModel(model, card), tmp_path / "cnn")
    np.testing.assert_allclose(load_model(tmp_path / "cnn").estimator.predict_proba(X), proba,
                               atol=1e-5)

    straight = _tiny().fit(X, y, n_classes=2)
    checkpoint = str(tmp_path / "ckpt.pt")
    _tiny(epochs=1, checkpoint=checkpoint).fit(X, y, n_classes=2)
    resumed = _tiny(checkpoint=checkpoint, resume=True).fit(X, y, n_classes=2)
    assert len(resumed.history_) == 2
    for name, value in straight.net_.state_dict().items():
        torch.testing.assert_close(resumed.net_.state_dict()[name], value, msg=name)


@pytest.mark.slow
def test_musicnn_fine_tune_trains_only_the_last_layers(songs, tmp_path):
    from earmark.models.musicnn import load_musicnn
    from earmark.models.nets.finetune import MusicnnFineTuned

    X, y = songs
    model = MusicnnFineTuned(epochs=2, batch_size=6, chunks_per_song=1, lr=1e-3,
                             device="cpu").fit(X, y, n_classes=2, X_valid=X, y_valid=y)
    pretrained = load_musicnn("MSD_musicnn").state_dict()
    tuned = model.net_.base.state_dict()
    frozen = [k for k in pretrained if not k.startswith("dense.")]
    assert all(torch.equal(tuned[k], pretrained[k]) for k in frozen)
    assert not torch.equal(tuned["dense.conv.weight"], pretrained["dense.conv.weight"])
    proba = model.predict_proba(X)
    assert proba.shape == (6, 2)
    card = ModelCard(model_type="finetune", task="genre", kind="single",
                     labels=["classical", "metal"], inputs=default_inputs("finetune"), seed=0,
                     hyperparameters=model.get_params(), fitted=model.fitted_info())
    save_model(TrainedModel(model, card), tmp_path / "tuned")
    np.testing.assert_allclose(load_model(tmp_path / "tuned").estimator.predict_proba(X), proba,
                               atol=1e-5)
    assert np.mean(proba.argmax(axis=1) == y) >= 5 / 6  # MSD embeddings separate these at once


# --- a saved network owns its front end (issue 13 item 1) ---------------------------------------


def _save(model, model_type: str, path) -> None:
    card = ModelCard(model_type=model_type, task="genre", kind="single",
                     labels=["classical", "metal"], inputs=default_inputs(model_type), seed=0,
                     hyperparameters=model.get_params(), fitted=model.fitted_info())
    save_model(TrainedModel(model, card), path)


def test_default_inputs_are_the_networks_presets():
    assert default_inputs("shortchunk") == {"mel": SHORTCHUNK_MEL.to_dict(),
                                            "chunk_seconds": CHUNK_SAMPLES / 16000}
    tuned = default_inputs("finetune", "MTT_musicnn")
    assert tuned == {"mel": MUSICNN_PARAMS.to_dict(), "base_model": "MTT_musicnn",
                     "chunk_seconds": PATCH_FRAMES * MUSICNN_PARAMS.hop_length / 16000}


def test_a_saved_network_keeps_its_front_end_when_the_preset_changes(songs, tmp_path,
                                                                     monkeypatch):
    X, y = songs
    model = _tiny(width=2, epochs=1).fit(X, y, n_classes=2)
    chunks = song_chunks(decode_audio(X[3], RATE), CHUNK_SAMPLES)  # real metal
    before, song_before = model.predict_proba(chunks), model.predict_proba(X[3:])
    _save(model, "shortchunk", tmp_path / "old")

    preset = SHORTCHUNK_MEL.with_(n_mels=160, fmax=7000.0, hop_length=200)
    monkeypatch.setattr(ShortChunkNet, "mel_params", preset)
    monkeypatch.setattr(ShortChunkNet, "chunk_samples", 48000)
    assert default_inputs("shortchunk")["mel"] == preset.to_dict()  # new models: new preset

    loaded = load_model(tmp_path / "old").estimator
    assert loaded.mel_params_ == SHORTCHUNK_MEL and loaded.chunk_samples_ == CHUNK_SAMPLES
    np.testing.assert_allclose(loaded.predict_proba(chunks), before, atol=1e-5)
    np.testing.assert_allclose(loaded.predict_proba(X[3:]), song_before, atol=1e-5)
    # What loading used to do: read the song through today's preset. It answers otherwise.
    loaded.mel_params_, loaded.chunk_samples_ = preset, 48000
    assert np.abs(loaded.predict_proba(X[3:]) - song_before).max() > 1e-4


@pytest.fixture(scope="module")
def tiny_saved(tmp_path_factory):
    """A short-chunk classifier (random weights, width 2) saved with today's card."""
    path = tmp_path_factory.mktemp("cnn") / "tiny"
    model = _tiny(width=2).load_state(
        {k: v.numpy() for k, v in ShortChunkResNet(2, width=2).state_dict().items()},
        {"n_outputs": 2}, default_inputs("shortchunk"))
    _save(model, "shortchunk", path)
    return path


MEL, SECONDS = SHORTCHUNK_MEL.to_dict(), CHUNK_SAMPLES / 16000


@pytest.mark.parametrize(("inputs", "message"), [
    ({"mel": MEL, "chunk_seconds": SECONDS, "sample_rate": 16000},
     r"inputs \['sample_rate'\] are unknown to ShortChunkClassifier"),
    ({"chunk_seconds": SECONDS}, "does not say which front end"),
    ({}, "does not say which front end"),
    ({"mel": MEL | {"hop": 256}, "chunk_seconds": SECONDS}, r"cannot be used: .*\['hop'\]"),
    ({"mel": MEL | {"n_fft": 0}, "chunk_seconds": SECONDS}, "cannot be used: .*positive"),
    ({"mel": MEL | {"compression": "cube"}, "chunk_seconds": SECONDS}, "cannot be used"),
    ({"mel": MEL | {"sample_rate": 0}, "chunk_seconds": SECONDS}, "impossible: sample_rate"),
    ({"mel": MEL | {"sample_rate": 16000.5}, "chunk_seconds": SECONDS}, "impossible: sample_rate"),
    ({"mel": MEL | {"fmax": 9000.0}, "chunk_seconds": SECONDS}, r"impossible: fmax .* \(8000 Hz\)"),
    ({"mel": MEL | {"win_length": 1024}, "chunk_seconds": SECONDS}, "impossible: win_length"),
    ({"mel": MEL, "chunk_seconds": -1.0}, "impossible: chunk_seconds"),
    ({"mel": MEL, "chunk_seconds": "3.7"}, "impossible: chunk_seconds"),
    ({"mel": MEL | {"n_mels": 96}, "chunk_seconds": SECONDS},
     "96 mel bands x 231 frames; .* needs at least 128"),
    ({"mel": MEL, "chunk_seconds": 1.0}, "128 mel bands x 63 frames; .* needs at least 128"),
])
def test_a_card_whose_front_end_cannot_be_honoured_is_refused(tiny_saved, inputs, message):
    card_path = tiny_saved.with_name("tiny.json")
    card = json.loads(card_path.read_text())
    assert load_model(tiny_saved).estimator.mel_params_ == SHORTCHUNK_MEL  # the good card loads
    bad = tiny_saved.with_name("bad")
    bad.with_name("bad.safetensors").write_bytes(tiny_saved.with_name(
        "tiny.safetensors").read_bytes())
    bad.with_name("bad.json").write_text(json.dumps(card | {"inputs": inputs}))
    with pytest.raises(ModelError, match=message):
        load_model(bad)


@pytest.mark.slow  # the pretrained musicnn weights
def test_a_fine_tuned_network_keeps_its_front_end_and_refuses_other_bands(tmp_path,
                                                                           monkeypatch):
    from earmark.models.musicnn import load_musicnn
    from earmark.models.nets.finetune import FineTunedNet, MusicnnFineTuned, MusicnnFineTuning

    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in
             FineTunedNet(load_musicnn("MSD_musicnn"), 2).state_dict().items()}
    model = MusicnnFineTuned(device="cpu").load_state(state, {"n_outputs": 2},
                                                      default_inputs("finetune"))
    chunks = song_chunks(decode_audio(gtzan_clip("jazz", 0), RATE, duration=7.0),
                         MusicnnFineTuning.chunk_samples)
    before = model.predict_proba(chunks)
    _save(model, "finetune", tmp_path / "tuned")
    monkeypatch.setattr(MusicnnFineTuning, "mel_params", MUSICNN_PARAMS.with_(n_fft=1024))
    loaded = load_model(tmp_path / "tuned").estimator
    assert loaded.mel_params_ == MUSICNN_PARAMS
    np.testing.assert_allclose(loaded.predict_proba(chunks), before, atol=1e-5)

    with pytest.raises(ModelError, match="128 mel bands; the weights of MSD_musicnn take 96"):
        MusicnnFineTuned(device="cpu").load_state(state, {"n_outputs": 2}, {
            "mel": MUSICNN_PARAMS.with_(n_mels=128).to_dict(), "chunk_seconds": 3.0})


def test_training_a_network_refuses_a_card_front_end_it_would_not_read(songs):
    X, y = songs
    data = LabelledSet(list(range(6)), list(X), [["classical"]] * 3 + [["metal"]] * 3,
                       "single", ["classical", "metal"])
    other = default_inputs("shortchunk") | {"mel": SHORTCHUNK_MEL.with_(n_mels=160).to_dict()}
    with pytest.raises(ModelError, match="trains on its own front end"):
        train_model(X, data, "shortchunk", other, hyper={"width": 2, "epochs": 1})
