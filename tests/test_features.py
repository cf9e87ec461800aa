"""The torch mel front end against librosa on real music."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from earmark.audio import decode_audio
from earmark.features import (
    MUSICNN_MEL,
    SHORTCHUNK_MEL,
    MelFrontEnd,
    MelParams,
    compress,
    log_mel,
    mel_filterbank,
    mel_spectrogram,
)
from earmark.features.classic import compile_kernels
from music import gtzan_clip


@pytest.fixture(scope="module", autouse=True)
def librosa_kernels() -> None:
    """``librosa.core`` compiles numba kernels when first imported: let earmark do it under
    its lock, or another test process compiling them at the same time breaks their cache."""
    compile_kernels()


@pytest.fixture(scope="module")
def song() -> np.ndarray:
    return decode_audio(gtzan_clip("jazz", 1), 16000, duration=10.0)


def _librosa_mel(y: np.ndarray, p: MelParams) -> np.ndarray:
    return librosa.feature.melspectrogram(
        y=y, sr=p.sample_rate, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels,
        fmin=p.fmin, fmax=p.fmax, htk=p.mel_scale == "htk", norm=p.norm, power=p.power,
        center=p.center, pad_mode=p.pad_mode,
    )


@pytest.mark.parametrize(
    "params",
    [
        MUSICNN_MEL.with_(compression="none", round_fp16=False),
        SHORTCHUNK_MEL.with_(compression="none"),
        MelParams(sample_rate=16000, n_mels=64, mel_scale="htk", norm=None, power=1.0),
        MelParams(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128, fmin=30.0,
                  pad_mode="reflect"),
    ],
    ids=["musicnn", "shortchunk", "htk-magnitude", "reflect-fmin"],
)
def test_mel_matches_librosa_on_real_music(song, params):
    ref = _librosa_mel(song, params)
    ours = mel_spectrogram(song, params).numpy()
    assert ours.shape == ref.shape
    # rtol 1e-4 on every bin that is not at float32's noise floor relative to the loudest one.
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_filterbank_matches_librosa():
    for params in (MUSICNN_MEL, SHORTCHUNK_MEL, MelParams(mel_scale="htk", norm=None)):
        ref = librosa.filters.mel(sr=params.sample_rate, n_fft=params.n_fft,
                                  n_mels=params.n_mels, fmax=params.fmax,
                                  htk=params.mel_scale == "htk", norm=params.norm)
        np.testing.assert_allclose(mel_filterbank(params), ref, rtol=1e-5, atol=1e-8)


def test_musicnn_compression_is_log10_of_fp16_mel(song):
    mel = _librosa_mel(song, MUSICNN_MEL)
    expected = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
    ours = log_mel(song, MUSICNN_MEL).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)


def test_db_compression_matches_librosa_power_to_db(song):
    params = SHORTCHUNK_MEL.with_(top_db=80.0)
    ref = librosa.power_to_db(_librosa_mel(song, params), ref=1.0, amin=1e-10, top_db=80.0)
    np.testing.assert_allclose(log_mel(song, params).numpy(), ref, atol=1e-3)


def test_batched_equals_one_by_one(song):
    batch = np.stack([song[:32000], song[32000:64000]])
    out = log_mel(batch, SHORTCHUNK_MEL.with_(top_db=80.0))
    for i in range(2):
        single = log_mel(batch[i], SHORTCHUNK_MEL.with_(top_db=80.0))
        torch.testing.assert_close(out[i], single)


def test_module_and_params_round_trip(song):
    params = MUSICNN_MEL
    assert MelParams.from_dict(params.to_dict()) == params
    with pytest.raises(ValueError, match="unknown"):
        MelParams.from_dict({**params.to_dict(), "bogus": 1})
    frontend = MelFrontEnd(params)
    torch.testing.assert_close(frontend(torch.from_numpy(song)), log_mel(song, params))
    assert params.frames_for(3.0) == 188


def test_silence_and_tiny_inputs_are_finite():
    for n in (0, 1, 100, 16000):
        for params in (MUSICNN_MEL, SHORTCHUNK_MEL.with_(top_db=80.0),
                       MelParams(pad_mode="reflect")):
            out = log_mel(np.zeros(n, np.float32), params)
            assert out.shape[0] == params.n_mels and out.shape[1] >= 1
            assert torch.isfinite(out).all()


def test_invalid_params_are_rejected():
    with pytest.raises(ValueError):
        MelParams(mel_scale="bark")
    with pytest.raises(ValueError):
        MelParams(n_mels=0)
    with pytest.raises(ValueError):
        compress(torch.ones(2, 2), MelParams(compression="cuberoot"))
