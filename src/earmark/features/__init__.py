"""Features: the one torch mel front end shared by every model, and classic descriptors."""

from earmark.features.mel import (
    MUSICNN_MEL,
    SHORTCHUNK_MEL,
    MelFrontEnd,
    MelParams,
    compress,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
)

__all__ = [
    "MUSICNN_MEL",
    "SHORTCHUNK_MEL",
    "MelFrontEnd",
    "MelParams",
    "compress",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_spectrogram",
    "mel_to_hz",
]
