"""Cut a signal into fixed-length chunks, the unit every model sees."""

from __future__ import annotations

import numpy as np


def frame_chunks(
    samples: np.ndarray, chunk_length: int, hop_length: int | None = None, pad: bool = True
) -> np.ndarray:
    """Split the last axis of ``samples`` into chunks.

    Parameters
    ----------
    samples : ``(..., n)`` array (audio samples or spectrogram frames).
    chunk_length : length of a chunk, in the units of the last axis.
    hop_length : step between chunk starts; defaults to ``chunk_length`` (no overlap).
    pad : zero-pad the end so the tail and inputs shorter than one chunk still give a chunk;
        without it, a trailing partial chunk is dropped.

    Returns
    -------
    np.ndarray
        ``(n_chunks, ..., chunk_length)``; ``n_chunks`` is 0 only for empty input.
    """
    hop = hop_length or chunk_length
    if chunk_length <= 0 or hop <= 0:
        raise ValueError("chunk_length and hop_length must be positive")
    n = samples.shape[-1]
    if n == 0:
        return np.zeros((0, *samples.shape[:-1], chunk_length), dtype=samples.dtype)
    if pad:
        n_chunks = 1 + max(0, -(-(n - chunk_length) // hop))
        total = (n_chunks - 1) * hop + chunk_length
        if total > n:
            width = [(0, 0)] * (samples.ndim - 1) + [(0, total - n)]
            samples = np.pad(samples, width)
    else:
        if n < chunk_length:
            return np.zeros((0, *samples.shape[:-1], chunk_length), dtype=samples.dtype)
        n_chunks = 1 + (n - chunk_length) // hop
    starts = np.arange(n_chunks) * hop
    return np.stack([samples[..., s : s + chunk_length] for s in starts])


def song_chunks(samples: np.ndarray, chunk_length: int) -> np.ndarray:
    """The chunks a whole song is judged by, the same in evaluation and prediction.

    Whole, non-overlapping chunks only: a trailing part shorter than a chunk is dropped (as
    musicnn does with its patches), except that a song shorter than one chunk is zero-padded
    to one, so every song gives at least one chunk.
    """
    return frame_chunks(samples, chunk_length, pad=samples.shape[-1] < chunk_length)
