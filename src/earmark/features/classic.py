"""Classic song descriptors for baselines: MFCC, spectral contrast and chroma statistics.

The hand-crafted features of the GTZAN era (Tzanetakis & Cook 2002 and successors), computed
with librosa: per-frame descriptors summarised by their mean and standard deviation over time,
so any length of audio gives one fixed-size vector.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
from filelock import FileLock

from earmark.audio import decode_audio
from earmark.errors import EarmarkError


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
    """Descriptor statistics of mono audio (librosa's kernels made ready first, see
    :func:`compile_kernels`).

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
    compile_kernels(params)
    return _describe(audio, params)


def _describe(audio: np.ndarray, params: ClassicParams) -> np.ndarray:
    """:func:`classic_descriptors` without the kernel check."""
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
    """Make librosa's numba kernels for :func:`classic_descriptors` ready in this process.

    librosa compiles two numba kernels (zero crossings, and the pitch interpolation behind
    chroma's tuning estimate) when ``librosa.core`` is first imported, and caches them on disk
    beside its sources. Two processes compiling them at once leave a cache that crashes every
    later process loading it with a segfault; the CI of session 3 lost every song of the
    descriptor tests to it. So the first call in a process holds an inter-process lock
    (``filelock``) beside that cache while it:

    1. in a main process, describes one second of noise in a fresh child interpreter. A
       child that fails (a broken cache kills it with a segfault) has the cache cleared and
       is run again, so one broken cache never breaks earmark for good;
    2. describes the noise here, which only reads the now-valid cache.

    Worker processes skip step 1 (their parent did it). Later calls return at once.
    :func:`classic_descriptors` calls this itself.

    Raises
    ------
    EarmarkError
        When the kernels cannot be compiled even after clearing their cache.
    """
    global _kernels_ready
    if _kernels_ready:
        return
    with FileLock(_kernel_lock_path()):
        if multiprocessing.parent_process() is None:
            _check_kernels_in_child()
        _describe_noise(params)
    _kernels_ready = True


_kernels_ready = False


def _kernel_cache_folder() -> Path | None:
    """Where numba caches librosa's kernels (``librosa/core/__pycache__``), found without
    importing ``librosa.core`` (importing it compiles the kernels); ``None`` when that folder
    is not writable and numba uses its per-user cache instead."""
    spec = importlib.util.find_spec("librosa")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "core" / "__pycache__"
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def _kernel_lock_path() -> Path:
    """The lock file beside numba's cache of the kernels, or a per-user one in the temporary
    folder when numba keeps a per-user cache."""
    folder = _kernel_cache_folder()
    if folder is not None:
        return folder / "earmark-kernels.lock"
    return Path(tempfile.gettempdir()) / f"earmark-librosa-kernels-{os.getuid()}.lock"


def _clear_kernel_cache() -> bool:
    """Delete numba's cached kernels of ``librosa.core``; ``False`` if there is no such
    folder to clear."""
    folder = _kernel_cache_folder()
    if folder is None:
        return False
    for cached in [*folder.glob("*.nbi"), *folder.glob("*.nbc")]:
        cached.unlink(missing_ok=True)
    return True


def _describe_noise(params: ClassicParams = ClassicParams()) -> None:
    """Describe one second of noise: runs (and compiles or loads) every kernel."""
    noise = np.random.default_rng(0).standard_normal(params.sample_rate).astype(np.float32)
    _describe(0.1 * noise, params)


def _check_kernels_in_child() -> None:
    """Run :func:`_describe_noise` in a child interpreter; if it fails (a broken cache kills
    it with a segfault), clear the kernel cache and try once more."""
    command = [sys.executable, "-c",
               "from earmark.features.classic import _describe_noise; _describe_noise()"]
    for attempt in range(2):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            return
        if attempt == 1 or not _clear_kernel_cache():
            break
    detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    raise EarmarkError(
        f"librosa's numba kernels cannot be compiled ({detail}); delete the *.nbi and *.nbc "
        "files in librosa's __pycache__ folders and try again")

