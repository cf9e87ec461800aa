"""Classic song descriptors for baselines: MFCC, spectral contrast and chroma statistics.

The hand-crafted features of the GTZAN era (Tzanetakis & Cook 2002 and successors), computed
with librosa: per-frame descriptors summarised by their mean and standard deviation over time,
so any length of audio gives one fixed-size vector.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import librosa
import numpy as np

from earmark.audio import decode_audio


@dataclass(frozen=True)
class ClassicParams:
    """Everything that defines the descriptor vector (saved with models that use it).

    Attributes
    ----------
    sample_rate : Hz the audio is resampled to.
    n_fft, hop_length : STFT sizes in samples.
    n_mfcc : MFCCs per frame (the 0th, loudness, included).
    n_bands : spectral-contrast octave bands (gives ``n_bands + 1`` values per frame).
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mfcc: int = 20
    n_bands: int = 6

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def size(self) -> int:
        """Length of the descriptor vector."""
        per_frame = self.n_mfcc * 2 + (self.n_bands + 1) + 12 + 4
        return 2 * per_frame


def descriptor_names(params: ClassicParams = ClassicParams()) -> list[str]:
    """Names of the :func:`classic_descriptors` values, in order."""
    frame = ([f"mfcc{i}" for i in range(params.n_mfcc)]
             + [f"delta_mfcc{i}" for i in range(params.n_mfcc)]
             + [f"contrast{i}" for i in range(params.n_bands + 1)]
             + [f"chroma{i}" for i in range(12)]
             + ["centroid", "rolloff", "zero_crossings", "rms"])
    return [f"{name}_mean" for name in frame] + [f"{name}_std" for name in frame]


def classic_descriptors(audio: np.ndarray, params: ClassicParams = ClassicParams()) -> np.ndarray:
    """Descriptor statistics of mono audio.

    Parameters
    ----------
    audio : ``(n_samples,)`` float samples at ``params.sample_rate``.

    Returns
    -------
    np.ndarray
        ``(params.size,)`` float32: the mean over frames of every per-frame descriptor, then
        their standard deviations (names from :func:`descriptor_names`). Centroid and roll-off
        are in kHz so all values have a similar range.
    """
    y = np.asarray(audio, dtype=np.float32)
    if y.size < params.n_fft:
        y = np.pad(y, (0, params.n_fft - y.size))
    sr, n_fft, hop = params.sample_rate, params.n_fft, params.hop_length
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=params.n_mfcc)
    delta = librosa.feature.delta(mfcc, mode="nearest")
    magnitude = np.sqrt(power)
    # Spectral contrast needs a lowest band above 0 Hz; 200 Hz with 6 octaves reaches 12.8 kHz.
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=sr, n_bands=params.n_bands,
                                                 fmin=200.0)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr)
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sr) / 1000.0
    rolloff = librosa.feature.spectral_rolloff(S=magnitude, sr=sr) / 1000.0
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop)
    rms = librosa.feature.rms(S=magnitude, frame_length=n_fft)
    frames = min(m.shape[1] for m in (mfcc, zcr))
    stacked = np.concatenate(
        [m[:, :frames] for m in (mfcc, delta, contrast, chroma, centroid, rolloff, zcr, rms)]
    )
    return np.concatenate([stacked.mean(axis=1), stacked.std(axis=1)]).astype(np.float32)


def song_descriptors(
    path: str, params: ClassicParams = ClassicParams(), *, offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """:func:`classic_descriptors` of a file (``[offset, offset + duration)`` seconds)."""
    audio = decode_audio(path, params.sample_rate, offset=offset, duration=duration)
    return classic_descriptors(audio, params)


def compile_kernels(params: ClassicParams = ClassicParams()) -> None:
    """Compile librosa's numba kernels for :func:`classic_descriptors` in this process.

    librosa caches its numba-compiled kernels on disk beside its sources. Worker processes
    that compile the same kernel at the same time can leave a cache that crashes the next
    process to load it (seen here as a segfault in ``librosa.core.pitch``, so every song's
    worker died). Describing one second of noise here first, in one process, leaves the
    workers only reading the cache.
    """
    noise = np.random.default_rng(0).standard_normal(params.sample_rate).astype(np.float32)
    classic_descriptors(0.1 * noise, params)

