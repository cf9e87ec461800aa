"""Decode only some spans of a file, seeking to each: a long song's samples without its whole.

Sampled analysis (:mod:`earmark.analysis.sampling`) needs a few seconds here and there of a
four-minute song; decoding them by seeking costs a fraction of decoding the file. The samples
must be the ones a whole decode would give at the same positions (the patches are then the very
patches ``--full`` analyses), so each span is decoded from a little before to a little after it
(:data:`MARGIN_SECONDS`): the decoder's first frames after a seek (an MP3 frame without its bit
reservoir, an AAC or Vorbis frame without the previous overlap) and the resampler's start and
end settle there and are cut off. The margin starts on an instant that is a whole sample at
both rates, so the resampled samples fall on the output grid of a whole decode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import soxr

from earmark.audio.decode import (
    Downmix,
    _audio_stream,
    _decode_native,
    _ffmpeg_logs,
    _open,
    _sample_rate,
)

#: Seconds decoded before and after each span and thrown away. Measured: 0.1 s already gives
#: the whole decode's samples (to float rounding) for MP3, AAC, Vorbis, Opus and FLAC; twice
#: that leaves room for decoders with longer priming.
MARGIN_SECONDS = 0.2


def decode_spans(
    path: str,
    spans: Sequence[tuple[int, int]],
    sr: int,
    *,
    downmix: Downmix | None = None,
) -> list[np.ndarray]:
    """Mono float32 samples of ``spans`` of ``path`` at ``sr`` Hz, each decoded by seeking.

    Parameters
    ----------
    path : audio file (any format FFmpeg reads).
    spans : ``(start, length)`` in samples at ``sr``; ``start`` may be negative (the samples
        before the audio are zeros, as a centred STFT pads) and a span may run past the end.
    sr : output sample rate in Hz.
    downmix : the :class:`~earmark.audio.decode.Downmix` mixing the channels; read it
        afterwards to know whether the decoded spans were silent or their channels cancelled.

    Returns
    -------
    list of np.ndarray
        One ``(length,)`` float32 array per span, in the order given, cut short where the
        audio ends (a span wholly past the end is empty: a length the container only
        estimated may be too long); the samples a whole
        decode (:func:`~earmark.audio.decode.decode_audio`) has at those positions, to float
        rounding, for MP3 (CBR and VBR with its seek table, as LAME writes it), FLAC, Vorbis
        and PCM. AAC and Opus fill some bands with noise from a generator whose state runs
        through the whole stream, so after a seek those bands hold other noise: the same
        sound, not the same samples (measured: a few frames a minute differ, by up to 0.01).

    Raises
    ------
    AudioError
        When the file cannot be opened or decoded (as :func:`~earmark.audio.decode_audio`).
    """
    mixer = downmix or Downmix()
    with _ffmpeg_logs():
        container = _open(path)
    try:
        stream = _audio_stream(container, path)
        native_sr = _sample_rate(stream, path)
        # Instants that are whole samples at both rates come every 1 / common seconds.
        common = math.gcd(native_sr, sr)
        margin = math.ceil(MARGIN_SECONDS * common)
        decoded_any = False
        out: list[np.ndarray | None] = [None] * len(spans)
        for index in sorted(range(len(spans)), key=lambda i: spans[i][0]):
            start, length = spans[index]
            # From tick ``first`` to ``last`` of the common grid (1 / common seconds each).
            first = max(0, start * common // sr - margin)
            last = -(-(start + length) * common // sr) + margin
            if first == 0 and decoded_any:
                container.seek(0)  # _decode_native seeks only to a positive offset
            native = [chunk[0] for chunk in _decode_native(
                container, stream, path, mixer, first / common, (last - first) / common,
                native_sr)]
            decoded_any = True
            samples = np.concatenate(native) if native else np.zeros(0, np.float32)
            if native_sr != sr and len(samples):
                samples = soxr.resample(samples, native_sr, sr, quality="HQ")
            origin = first * sr // common  # output sample index of samples[0]
            lo = max(0, origin - start)  # where the decoded samples begin inside the span
            part = samples[max(0, start - origin): start - origin + length]
            span = np.zeros(lo + len(part) if part.size else 0, np.float32)
            span[lo:] = part
            out[index] = span
        return [s for s in out if s is not None]
    finally:
        container.close()
