"""Decode any audio file into float32 samples with PyAV (FFmpeg bundled in the wheel).

PyAV demuxes and decodes; decoded frames are read straight from their buffers and gathered into
blocks of about a second, which numpy converts to float32 and mixes down to mono; soxr does the
rate conversion, with its high-quality filter, in streaming mode so that a two-hour mix never sits
in memory at once. Working a block at a time rather than a frame at a time matters: an MP3 frame
is only 1152 samples, and per-frame Python work (format conversion, resampler calls) would cost
more than decoding itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
import soxr

from earmark.errors import (
    CorruptAudioError,
    EmptyFileError,
    NotAudioError,
    UnreadableFileError,
    UnsupportedCodecError,
)

AUDIO_EXTENSIONS = frozenset(
    {
        ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".m4b", ".mp4", ".aac", ".wav",
        ".aif", ".aiff", ".aifc", ".wma", ".ape", ".wv", ".mka", ".webm", ".alac", ".mpc",
        ".mp2", ".spx", ".tta", ".ofr", ".tak", ".ac3",
    }
)

# Samples (per channel, native rate) gathered before converting and resampling: ~1.5 s at 44.1 kHz.
_BLOCK_SAMPLES = 1 << 16

# numpy dtype and the scale to [-1, 1] of each FFmpeg sample format (planar or packed); the
# scales are those of FFmpeg's own conversion to float.
_SAMPLE_FORMATS = {
    "u8": (np.uint8, 1 / 128),
    "s16": (np.int16, 1 / 32768),
    "s32": (np.int32, 1 / 2147483648),
    "s64": (np.int64, 1 / 9223372036854775808),
    "flt": (np.float32, 1.0),
    "dbl": (np.float64, 1.0),
}


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a file, without decoding it.

    ``duration`` is in seconds (``None`` when the container does not know it), ``sample_rate``
    in Hz, ``bit_rate`` in bits per second.
    """

    path: str
    container: str
    codec: str
    duration: float | None
    sample_rate: int
    channels: int
    bit_rate: int | None

    def to_dict(self) -> dict:
        return asdict(self)


def _open(path: str | Path) -> av.container.InputContainer:
    """Open a container, turning every failure into an :class:`AudioError` with a clear reason."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UnreadableFileError.from_os_error(path, exc) from exc
    if not path.is_file():
        raise NotAudioError(path, "not a regular file")
    if st.st_size == 0:
        raise EmptyFileError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise UnreadableFileError.from_os_error(path, exc) from exc
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.InvalidDataError as exc:
        raise NotAudioError(path, "not an audio file (no known container format found)") from exc
    except av.error.FFmpegError as exc:
        raise CorruptAudioError(path, f"cannot open: {exc.strerror or exc}") from exc
    except OSError as exc:
        raise UnreadableFileError.from_os_error(path, exc) from exc


def _audio_stream(container: av.container.InputContainer, path: str | Path) -> av.AudioStream:
    streams = container.streams.audio
    if not streams:
        raise NotAudioError(path, "no audio stream in the file")
    stream = streams[0]
    ctx = stream.codec_context
    if ctx is None or ctx.name in (None, "", "none"):
        raise UnsupportedCodecError(path, "unsupported audio codec")
    if not (ctx.sample_rate or stream.rate) and not ctx.channels:
        # FFmpeg trusts the extension when probing fails; nothing decodable was found.
        raise NotAudioError(path, f"not an audio file (no valid {container.format.name} audio "
                                  "stream found)")
    return stream


def probe_audio(path: str | Path) -> AudioInfo:
    """Read container metadata of ``path`` without decoding audio.

    Raises
    ------
    AudioError
        With a user-facing reason when the file is empty, unreadable, not audio or unsupported.
    """
    with _open(path) as container:
        return _describe(container, _audio_stream(container, path), path)


def _describe(
    container: av.container.InputContainer, stream: av.AudioStream, path: str | Path
) -> AudioInfo:
    ctx = stream.codec_context
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    return AudioInfo(
        path=str(path),
        container=container.format.name,
        codec=ctx.name,
        duration=duration,
        sample_rate=int(ctx.sample_rate or stream.rate or 0),
        channels=int(ctx.channels or 0),
        bit_rate=int(ctx.bit_rate or container.bit_rate or 0) or None,
    )


def stream_audio(
    path: str | Path,
    sr: int | None = None,
    *,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    block_seconds: float = 10.0,
) -> Iterator[np.ndarray]:
    """Decode ``path`` block by block, keeping memory flat on arbitrarily long files.

    Parameters
    ----------
    path : file to decode (any format FFmpeg reads).
    sr : output sample rate in Hz; ``None`` keeps the file's own rate.
    mono : mix all channels down to one.
    offset, duration : seconds; the decoder seeks to ``offset`` rather than decoding up to it.
    block_seconds : length of each yielded block in seconds (the last one may be shorter).

    Yields
    ------
    np.ndarray
        float32 blocks of shape ``(n,)`` when ``mono`` else ``(channels, n)``, in [-1, 1].
    """
    container = _open(path)
    try:
        stream = _audio_stream(container, path)
        native_sr = int(stream.codec_context.sample_rate or stream.rate or 0)
        if native_sr <= 0:
            raise CorruptAudioError(path, "the audio stream declares no sample rate")
        out_sr = sr or native_sr
        block = max(1, int(round(block_seconds * out_sr)))
        resampler = soxr.ResampleStream(native_sr, out_sr, 1 if mono else _channels(stream),
                                        dtype="float32") if out_sr != native_sr else None
        limit = None if duration is None else int(round(duration * out_sr))
        emitted = 0
        pending: list[np.ndarray] = []
        pending_len = 0

        def blocks(final: bool) -> Iterator[np.ndarray]:
            nonlocal pending, pending_len, emitted
            if not pending:
                return
            joined = np.concatenate(pending, axis=-1) if len(pending) > 1 else pending[0]
            if limit is not None:
                joined = joined[..., : max(0, limit - emitted)]
            cut = joined.shape[-1] if final else joined.shape[-1] - joined.shape[-1] % block
            for start in range(0, cut, block):
                piece = joined[..., start : start + block]
                emitted += piece.shape[-1]
                yield _finish(piece, mono)
            rest = joined[..., cut:]
            pending, pending_len = ([rest], rest.shape[-1]) if rest.shape[-1] else ([], 0)

        n_channels = 1 if mono else _channels(stream)
        for chunk in _decode_native(container, stream, path, mono, offset, duration, native_sr):
            if resampler is not None:
                chunk = resampler.resample_chunk(np.ascontiguousarray(chunk.T)).T
            if chunk.shape[-1] == 0:
                continue
            pending.append(chunk)
            pending_len += chunk.shape[-1]
            if pending_len >= block:
                yield from blocks(final=False)
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros((0, n_channels), np.float32), last=True).T
            if tail.shape[-1]:
                pending.append(tail)
        yield from blocks(final=True)
    finally:
        container.close()


def _channels(stream: av.AudioStream) -> int:
    return int(stream.codec_context.channels or 1)


def _finish(samples: np.ndarray, mono: bool) -> np.ndarray:
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    return samples[0] if mono else samples


def _frame_channels(frame: av.AudioFrame) -> list[np.ndarray]:
    """One decoded frame's samples as ``(n,)`` arrays, one per channel, in the frame's dtype."""
    dtype, _ = _SAMPLE_FORMATS[frame.format.name.rstrip("p")]
    n = frame.samples
    if frame.format.is_planar:
        return [np.frombuffer(plane, dtype, n) for plane in frame.planes]
    channels = frame.layout.nb_channels
    packed = np.frombuffer(frame.planes[0], dtype, n * channels).reshape(n, channels)
    return [packed[:, c] for c in range(channels)]


def _to_float(channels: list[list[np.ndarray]], fmt: str, mono: bool) -> np.ndarray:
    """Join gathered frames into float32 ``(channels, n)`` in [-1, 1], or ``(1, n)`` mixed down.

    The downmix is a plain mean of channels (as librosa does), not FFmpeg's -3 dB matrix, so
    levels match what models were trained on.
    """
    dtype, scale = _SAMPLE_FORMATS[fmt.rstrip("p")]
    x = np.stack([np.concatenate(parts) for parts in channels])
    if dtype == np.uint8:
        x = x.astype(np.float32) - 128
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    if scale != 1.0:
        x *= np.float32(scale)
    if mono and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True)
    return x


def _decode_native(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    path: str | Path,
    mono: bool,
    offset: float,
    duration: float | None,
    native_sr: int,
) -> Iterator[np.ndarray]:
    """Yield float32 ``(channels, n)`` arrays at the native rate for [offset, offset + duration).

    Arrays hold about ``_BLOCK_SAMPLES`` samples each, so the work downstream (conversion,
    mixing, resampling) runs a few hundred times per song rather than once per codec frame.
    """
    if offset < 0 or (duration is not None and duration < 0):
        raise ValueError("offset and duration must be non-negative seconds")
    start_sample = int(round(offset * native_sr))
    stop_sample = None if duration is None else start_sample + int(round(duration * native_sr))
    if start_sample > 0:
        try:
            container.seek(int(offset / stream.time_base), stream=stream, backward=True)
        except av.error.FFmpegError:
            container.seek(0)  # unseekable: decode from the start and skip samples instead
    position: int | None = None  # sample index of the next decoded sample
    produced = 0
    errors = 0
    gathered: list[list[np.ndarray]] = []  # per channel, samples not yet yielded
    gathered_len = 0
    gathered_fmt = ""

    def flush() -> Iterator[np.ndarray]:
        nonlocal gathered, gathered_len
        if gathered_len:
            yield _to_float(gathered, gathered_fmt, mono)
        gathered, gathered_len = [], 0

    def take(frame: av.AudioFrame) -> Iterator[np.ndarray]:
        """Keep the part of ``frame`` inside [start_sample, stop_sample); yield full blocks."""
        nonlocal position, produced, gathered, gathered_len, gathered_fmt
        n = frame.samples
        lo = max(0, start_sample - position)
        hi = n if stop_sample is None else min(n, stop_sample - position)
        position += n
        if hi <= lo:
            return
        parts = _frame_channels(frame)
        if gathered and (frame.format.name != gathered_fmt or len(parts) != len(gathered)):
            # The stream changed format or layout mid-way: close the block in the old one.
            if not mono:
                raise CorruptAudioError(path, "the number of channels changes mid-stream")
            yield from flush()
        if not gathered:
            gathered, gathered_fmt = [[] for _ in parts], frame.format.name
        for channel, samples in zip(gathered, parts, strict=True):
            channel.append(samples[lo:hi])
        gathered_len += hi - lo
        produced += hi - lo
        if gathered_len >= _BLOCK_SAMPLES:
            yield from flush()

    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                # A damaged packet mid-file: skip it like players do, but give up on garbage.
                errors += 1
                if errors > 50 and produced == 0:
                    raise CorruptAudioError(path, f"cannot decode audio: {exc}") from exc
                continue
            for frame in frames:
                if position is None:
                    # Without a seek every decoded sample is content (the decoder already drops
                    # encoder priming); after a seek the first frame's timestamp says where we are.
                    # Timestamps count from the stream's start time (MP3 encoder delay).
                    seeked = start_sample > 0 and frame.pts is not None and frame.time_base
                    origin = stream.start_time or 0
                    position = (
                        int(round(float((frame.pts - origin) * frame.time_base) * native_sr))
                        if seeked else 0
                    )
                yield from take(frame)
                if stop_sample is not None and position >= stop_sample:
                    yield from flush()
                    return
    except av.error.EOFError:
        pass
    except av.error.FFmpegError as exc:
        if produced == 0:
            raise CorruptAudioError(path, f"cannot decode audio: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise CorruptAudioError(path, "damaged container metadata") from exc
    yield from flush()
    if produced == 0 and start_sample == 0:
        raise CorruptAudioError(path, "no audio could be decoded (truncated or damaged file)")


def decode_audio(
    path: str | Path,
    sr: int | None = None,
    *,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode ``path`` (any format) to float32 samples at ``sr`` Hz.

    Returns
    -------
    np.ndarray
        ``(n_samples,)`` when ``mono`` else ``(channels, n_samples)``. Reading past the end gives
        what there is (possibly zero samples); ``offset`` seeks instead of decoding from the start.
    """
    blocks = list(stream_audio(path, sr, mono=mono, offset=offset, duration=duration,
                               block_seconds=60.0))
    if blocks:
        return np.concatenate(blocks, axis=-1)
    return np.zeros(0 if mono else (1, 0), dtype=np.float32)


@dataclass(frozen=True)
class AudioCheck:
    """Result of decoding a whole file once: what a scan needs to trust it.

    ``decoded_seconds`` is the audio actually decodable; ``bad_packets`` counts packets the
    decoder rejected (``first_bad_at`` seconds in); ``audio_hash`` identifies the compressed
    audio regardless of tags.
    """

    info: AudioInfo
    decoded_seconds: float
    bad_packets: int
    first_bad_at: float | None
    audio_hash: str


def check_audio(path: str | Path, decode: bool = True) -> AudioCheck:
    """Open ``path`` once: describe it, demux every packet (hashing them) and, with ``decode``,
    decode them all.

    Without ``decode`` only the container is read, which is fast but cannot see damaged packets;
    ``decoded_seconds`` is then the sum of packet durations.
    """
    digest = hashlib.blake2b(digest_size=16)
    samples = 0
    packet_seconds = 0.0
    bad = 0
    first_bad = None
    # FFmpeg's error messages are the only sign of frames a decoder dropped: capture them.
    previous_level = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture() as logs, _open(path) as container:
            stream = _audio_stream(container, path)
            info = _describe(container, stream, path)
            time_base = float(stream.time_base) if stream.time_base else 0.0
            try:
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    digest.update(bytes(packet))
                    if packet.duration:
                        packet_seconds += packet.duration * time_base
                    if not decode:
                        continue
                    logged = len(logs)
                    try:
                        for frame in packet.decode():
                            samples += frame.samples
                        failed = len(logs) > logged  # decoders log and drop bad frames
                    except av.error.FFmpegError:
                        failed = True
                    if failed:
                        bad += 1
                        if first_bad is None and packet.pts is not None:
                            first_bad = packet.pts * time_base
                if decode:
                    try:
                        for frame in stream.codec_context.decode(None):
                            samples += frame.samples
                    except av.error.FFmpegError:
                        pass
            except av.error.EOFError:
                pass
            except av.error.FFmpegError as exc:
                if samples == 0 and packet_seconds == 0:
                    raise CorruptAudioError(path, f"cannot read audio packets: {exc}") from exc
                bad += 1
    finally:
        av.logging.set_level(previous_level)
    seconds = samples / info.sample_rate if decode and info.sample_rate else packet_seconds
    if seconds <= 0:
        raise CorruptAudioError(path, "no audio could be decoded (truncated or damaged file)")
    return AudioCheck(info, seconds, bad, first_bad, digest.hexdigest())
