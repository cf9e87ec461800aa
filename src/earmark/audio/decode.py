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
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import av
import numpy as np
import soxr

from earmark.engine.files import file_source, file_stat, open_file
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
        ".mp2", ".spx", ".tta", ".ofr", ".tak", ".ac3", ".dsf", ".dff", ".bwf", ".w64",
        ".rf64", ".caf", ".m4r",
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


# FFmpeg's words for a duration it guessed from the file size and the first frames' bit rate
# (AVFMT_DURATION_FROM_BITRATE): PyAV does not expose AVFormatContext.duration_estimation_method,
# and FFmpeg logs exactly this warning whenever it fills in a stream's duration that way.
_BITRATE_ESTIMATE = "Estimating duration from bitrate"

# Containers that are bare elementary streams (MP3, ADTS AAC): each frame's header states its
# length in bytes, and FFmpeg's parser hands a frame on only once it has all of it.
_FRAMED_STREAMS = frozenset({"mp3", "aac"})

# Plain words for FFmpeg's error classes; the rest fall back to their errno text.
_FFMPEG_WORDS = {
    av.error.InvalidDataError: "the data is invalid or damaged",
    av.error.EOFError: "the file ends too early",
    av.error.PatchWelcomeError: "it uses a feature FFmpeg does not support",
    av.error.DecoderNotFoundError: "there is no decoder for its codec",
    av.error.DemuxerNotFoundError: "its container format is unknown",
    av.error.BugError: "FFmpeg failed internally",
    av.error.ExternalError: "an external decoder library failed",
}


def ffmpeg_reason(exc: av.error.FFmpegError) -> str:
    """Plain words for an FFmpeg error, without FFmpeg's errno number or the file's path.

    ``str(exc)`` reads like ``[Errno 1094995529] Invalid data found when processing input:
    '/music/song.dsf'``; a reason is stored beside the path already, so only the words remain.
    """
    for kind, words in _FFMPEG_WORDS.items():
        if isinstance(exc, kind):
            return words
    text = (exc.strerror or type(exc).__name__).strip().rstrip(".")
    return text[:1].lower() + text[1:]


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about a file, without decoding it.

    ``duration`` is in seconds (``None`` when the container does not know it), ``sample_rate``
    in Hz, ``bit_rate`` in bits per second. ``duration_exact`` says the container states the
    duration (Xing/VBRI frame counts, FLAC STREAMINFO, the MP4 moov, WAV/AIFF chunk sizes, the
    Ogg last granule...); it is false when FFmpeg estimated it from the bit rate (an MP3
    without a Xing header, ADTS AAC, a WAV whose data chunk runs past the end of the file).
    """

    path: str
    container: str
    codec: str
    duration: float | None
    sample_rate: int
    channels: int
    bit_rate: int | None
    duration_exact: bool = True

    @property
    def declared_duration(self) -> float | None:
        """:attr:`duration` where the container states it exactly, else ``None``: the length a
        decode may be held to (an estimate from the bit rate says nothing about the file)."""
        return self.duration if self.duration_exact else None

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def _ffmpeg_logs() -> Iterator[list[tuple[int, str, str]]]:
    """Capture FFmpeg's warnings and errors in this thread as ``(level, name, message)``.

    PyAV drops a message identical to the previous one by default; here every one is kept, so
    each packet's complaints are seen and a file opened after a similar one still shows its own.
    """
    level, repeated = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.WARNING)
    av.logging.set_skip_repeated(False)
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_level(level)
        av.logging.set_skip_repeated(repeated)


_NO_AUDIO_DATA = "no audio data (the file holds only a header)"
# What FFmpeg's demuxers say when they know the container but find no audio to read in it,
# in plain words. Anything else that stops the opening means no known container was found.
_OPEN_FAILURES = {
    "moov atom not found": "incomplete file: it has no index (MP4 'moov' atom), as when a "
                           "download stops before the end (truncated file)",
    "no 'data' tag found": _NO_AUDIO_DATA,
}


def _open(path: str | Path) -> av.container.InputContainer:
    """Open a container, turning every failure into an :class:`AudioError` with a clear reason.

    Call it where FFmpeg's log is captured (:func:`_ffmpeg_logs`): only then does FFmpeg's
    error carry the demuxer's own message, which :data:`_OPEN_FAILURES` puts into words.
    """
    path = Path(path)
    try:
        st = file_stat(path)  # the file, or the one its driver sent (earmark.engine.files)
    except OSError as exc:
        raise UnreadableFileError.from_os_error(path, exc) from exc
    if not stat.S_ISREG(st.st_mode):
        raise NotAudioError(path, "not a regular file")
    if st.st_size == 0:
        raise EmptyFileError(path, "empty file (0 bytes)")
    try:
        with open_file(path):
            pass
    except OSError as exc:
        raise UnreadableFileError.from_os_error(path, exc) from exc
    try:
        return av.open(file_source(path), mode="r", metadata_errors="replace")
    except av.error.InvalidDataError as exc:
        said = (exc.log or (None, None, ""))[2].strip()
        if said in _OPEN_FAILURES:
            raise CorruptAudioError(path, _OPEN_FAILURES[said]) from exc
        raise NotAudioError(path, "not an audio file (no known container format found)") from exc
    except av.error.FFmpegError as exc:
        raise CorruptAudioError(path, f"cannot open: {ffmpeg_reason(exc)}") from exc
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


def _sample_rate(stream: av.AudioStream, path: str | Path) -> int:
    """The stream's sample rate in Hz (the codec's, else the stream's);
    :class:`CorruptAudioError` when it declares none."""
    rate = int(stream.codec_context.sample_rate or stream.rate or 0)
    if rate <= 0:
        raise CorruptAudioError(path, "the audio stream declares no sample rate")
    return rate


def probe_audio(path: str | Path) -> AudioInfo:
    """Read container metadata of ``path`` without decoding audio.

    Raises
    ------
    AudioError
        With a user-facing reason when the file is empty, unreadable, not audio or unsupported.
    """
    with _ffmpeg_logs() as logs, _open(path) as container:
        return _describe(container, _audio_stream(container, path), path, logs)


def _describe(
    container: av.container.InputContainer, stream: av.AudioStream, path: str | Path,
    open_logs: list[tuple[int, str, str]],
) -> AudioInfo:
    """The container's description; ``open_logs`` are FFmpeg's messages from opening it."""
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
        duration_exact=not any(_BITRATE_ESTIMATE in message for _, _, message in open_logs),
    )


#: Audio whose loudest sample stays below this (-60 dBFS) is silent: nothing a listener would
#: hear at a normal volume, and nothing a model can tell a genre from (dither alone is ~-90 dBFS).
SILENCE_PEAK = 10 ** (-60 / 20)
# A mono mix whose RMS is below this share of the level unrelated channels would give (the root
# of the channels' summed squared RMS, over their count) has channels that cancel. Measured: real
# stereo music gives at least 1.12 in every 1.5 s block of the three asc-music songs (similar
# channels add up), music in one channel of several gives 1, a channel that is another one
# inverted gives 0.
_CANCELLING_MIX = 0.25


class Downmix:
    """Mixes ``(channels, n)`` blocks down to mono, the one place earmark decides how, and
    remembers what it heard.

    The mix is the channel mean, as librosa (and so the musicnn models' training) makes it.
    When a block's mean is far quieter than even unrelated channels would mix to (under a
    quarter of their level), the channels cancel (one is the other inverted: a wiring or
    mastering mistake) and the mean would throw the music away, so that block is its loudest
    channel instead. Blocks are decided one by one, so memory stays flat; real music never
    comes near the threshold, so a song is treated the same throughout.

    Attributes
    ----------
    peak : the largest absolute sample of any channel so far (1.0 is full scale).
    blocks : blocks of more than one channel mixed so far.
    fallback_blocks : of those, blocks that took their loudest channel.
    """

    def __init__(self) -> None:
        self.peak = 0.0
        self.blocks = 0
        self.fallback_blocks = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(channels, n)`` float32 -> ``(1, n)`` float32."""
        if x.shape[-1] == 0:
            return x[:1]
        # Levels by max/min and dot products: no temporary arrays, a few percent of decoding
        # (float32 sums are ample for a threshold this coarse).
        self.peak = max(self.peak, float(x.max()), -float(x.min()))
        if x.shape[0] == 1:
            return x
        self.blocks += 1
        n = x.shape[-1]
        mix = x.mean(axis=0, keepdims=True)
        power = np.einsum("ij,ij->i", x, x) / n
        unrelated = float(np.sqrt(power.sum())) / x.shape[0]
        mix_rms = float(np.sqrt(np.dot(mix[0], mix[0]) / n))
        if unrelated > SILENCE_PEAK / 10 and mix_rms < _CANCELLING_MIX * unrelated:
            self.fallback_blocks += 1
            loudest = int(np.argmax(power))
            return x[loudest : loudest + 1]
        return mix

    @property
    def silent(self) -> bool:
        """No sample so far reached :data:`SILENCE_PEAK` (true before any audio)."""
        return self.peak < SILENCE_PEAK

    @property
    def note(self) -> str | None:
        """Says so when the mix was not the plain channel mean, else ``None``."""
        if not self.fallback_blocks:
            return None
        share = ("all" if self.fallback_blocks == self.blocks
                 else f"{self.fallback_blocks} of {self.blocks}")
        return (f"the channels cancel out when mixed to mono (one is the other inverted) in "
                f"{share} blocks; the loudest channel was used there instead")


def stream_audio(
    path: str | Path,
    sr: int | None = None,
    *,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    block_seconds: float = 10.0,
    downmix: Downmix | None = None,
) -> Iterator[np.ndarray]:
    """Decode ``path`` block by block, keeping memory flat on arbitrarily long files.

    Parameters
    ----------
    path : file to decode (any format FFmpeg reads).
    sr : output sample rate in Hz; ``None`` keeps the file's own rate.
    mono : mix all channels down to one (see :class:`Downmix`).
    offset, duration : seconds; the decoder seeks to ``offset`` rather than decoding up to it.
    block_seconds : length of each yielded block in seconds (the last one may be shorter).
    downmix : with ``mono``, the :class:`Downmix` to mix with; pass one to read afterwards
        whether the audio was silent or its channels cancelled.

    Yields
    ------
    np.ndarray
        float32 blocks of shape ``(n,)`` when ``mono`` else ``(channels, n)``, in [-1, 1].
    """
    mixer = (downmix or Downmix()) if mono else None
    with _ffmpeg_logs():
        container = _open(path)
    try:
        stream = _audio_stream(container, path)
        native_sr = _sample_rate(stream, path)
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
        for chunk in _decode_native(container, stream, path, mixer, offset, duration,
                                    native_sr):
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


def _to_float(channels: list[list[np.ndarray]], fmt: str, mixer: Downmix | None
              ) -> np.ndarray:
    """Join gathered frames into float32 ``(channels, n)`` in [-1, 1], or ``(1, n)`` mixed down
    by ``mixer`` (not FFmpeg's -3 dB matrix, so levels match what models were trained on)."""
    dtype, scale = _SAMPLE_FORMATS[fmt.rstrip("p")]
    x = np.stack([np.concatenate(parts) for parts in channels])
    if dtype == np.uint8:
        x = x.astype(np.float32) - 128
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    if scale != 1.0:
        x *= np.float32(scale)
    return x if mixer is None else mixer(x)


def _decode_native(
    container: av.container.InputContainer,
    stream: av.AudioStream,
    path: str | Path,
    mixer: Downmix | None,
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
    packets = 0  # with data; none at all means the file holds no audio, not damaged audio
    gathered: list[list[np.ndarray]] = []  # per channel, samples not yet yielded
    gathered_len = 0
    gathered_fmt = ""

    def flush() -> Iterator[np.ndarray]:
        nonlocal gathered, gathered_len
        if gathered_len:
            yield _to_float(gathered, gathered_fmt, mixer)
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
            if mixer is None:
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
            packets += packet.size > 0
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                # A damaged packet mid-file: skip it like players do, but give up on garbage.
                errors += 1
                if errors > 50 and produced == 0:
                    raise CorruptAudioError(
                        path, f"cannot decode audio: {ffmpeg_reason(exc)}") from exc
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
            raise CorruptAudioError(path, f"cannot decode audio: {ffmpeg_reason(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise CorruptAudioError(path, "damaged container metadata") from exc
    yield from flush()
    if produced == 0 and start_sample == 0:
        raise CorruptAudioError(path, _NO_AUDIO_DATA if not packets else
                                "no audio could be decoded (truncated or damaged file)")


def decode_audio(
    path: str | Path,
    sr: int | None = None,
    *,
    mono: bool = True,
    offset: float = 0.0,
    duration: float | None = None,
    downmix: Downmix | None = None,
) -> np.ndarray:
    """Decode ``path`` (any format) to float32 samples at ``sr`` Hz (``downmix``: as for
    :func:`stream_audio`).

    Returns
    -------
    np.ndarray
        ``(n_samples,)`` when ``mono`` else ``(channels, n_samples)``. Reading past the end gives
        what there is (possibly zero samples); ``offset`` seeks instead of decoding from the start.
    """
    blocks = list(stream_audio(path, sr, mono=mono, offset=offset, duration=duration,
                               block_seconds=60.0, downmix=downmix))
    if blocks:
        return np.concatenate(blocks, axis=-1)
    return np.zeros(0 if mono else (1, 0), dtype=np.float32)


# Decoded audio may fall this far short of an exactly declared length before the file counts as
# truncated: encoder priming and container rounding differ by up to ~50 ms between formats.
_TRUNCATED_SECONDS = 0.5
# When the decoder complained, audio missing beyond this (about two MP3 frames) was lost to the
# damage; less is the priming and rounding above.
_LOST_SECONDS = 0.05


@dataclass(frozen=True)
class AudioCheck:
    """Result of decoding a whole file once: what a scan needs to trust it.

    ``decoded_seconds`` is the audio actually decodable; ``bad_packets`` counts packets the
    decoder complained about (``first_bad_at`` seconds in, ``complaint`` its first message),
    ``lost_packets`` those whose audio it could not give at all; ``cut_off`` says the file stops
    part-way through its last frame or page, ``unfinished`` that an Ogg stream's last page is
    not marked as its end (the file was cut at a page boundary); ``junk_bytes`` counts bytes
    after the last frame of a bare MP3/AAC stream that are neither audio nor a known tag;
    ``audio_hash`` identifies the compressed audio regardless of tags and junk.
    :attr:`problem` and :attr:`warning` turn these into words.
    """

    info: AudioInfo
    decoded_seconds: float
    bad_packets: int
    first_bad_at: float | None
    audio_hash: str
    lost_packets: int = 0
    cut_off: bool = False
    complaint: str | None = None
    unfinished: bool = False
    junk_bytes: int = 0

    @property
    def problem(self) -> str | None:
        """Why the audio cannot be trusted (truncated, or audio lost to damage), or ``None``.

        A declared length is compared only where the container states it exactly: a duration
        FFmpeg estimated from the bit rate says nothing about the file. A decoder that
        complains but still gives all the audio is not damage (see :attr:`warning`).
        """
        seconds = self.decoded_seconds
        declared = self.info.declared_duration
        if declared and seconds < declared - _TRUNCATED_SECONDS:
            return (f"incomplete audio: only {seconds:.1f} s of the {declared:.1f} s its header "
                    "declares could be read (truncated or damaged file)")
        if self.cut_off:
            return f"incomplete audio: the file is cut off after {seconds:.1f} s (truncated file)"
        if self.unfinished:
            return (f"incomplete audio: the file is cut off at a page boundary after "
                    f"{seconds:.1f} s (its last page does not end the stream; truncated file)")
        short = declared is not None and seconds < declared - _LOST_SECONDS
        if self.lost_packets or (self.bad_packets and short):
            where = f" (first at {self.first_bad_at:.1f} s)" if self.first_bad_at else ""
            return f"damaged audio: {self.bad_packets} packet(s) could not be decoded{where}"
        return None

    @property
    def warning(self) -> str | None:
        """What is odd in a file whose audio decoded in full (the decoder's complaints, junk
        after the audio), or ``None``."""
        if self.problem is not None:
            return None
        notes = []
        if self.bad_packets:
            where = f", first at {self.first_bad_at:.1f} s" if self.first_bad_at else ""
            notes.append(f"FFmpeg reported a problem in {self.bad_packets} packet(s) "
                         f"({self.complaint}{where})")
        if self.junk_bytes:
            notes.append(f"{self.junk_bytes} bytes of junk after the audio (neither audio "
                         "nor a known tag)")
        if not notes:
            return None
        return f"{'; '.join(notes)}, but all {self.decoded_seconds:.1f} s of audio decoded"


@dataclass
class _Tally:
    """What :func:`check_audio` has counted so far (see :class:`AudioCheck`)."""

    samples: int = 0
    packet_seconds: float = 0.0
    bad: int = 0
    lost: int = 0
    first_bad: float | None = None
    complaint: str | None = None

    def complain(self, reason: str, at: float | None, lost: bool) -> None:
        self.bad += 1
        self.lost += lost
        self.complaint = self.complaint or reason
        if self.first_bad is None and at is not None:
            self.first_bad = max(0.0, at)  # priming is before 0


def content_digest() -> hashlib.blake2b:
    """The hash object behind :func:`content_hash`, for code that reads a file anyway."""
    return hashlib.blake2b(digest_size=16)


def content_hash(path: str | Path) -> str:
    """blake2b-128 of the whole file, hex: how the catalog recognises a file's content
    (tags included), and how a tag write checks that a file did not change under it."""
    digest = content_digest()
    with open_file(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_audio(path: str | Path, decode: bool = True) -> AudioCheck:
    """Open ``path`` once: describe it, demux every packet (hashing them) and, with ``decode``,
    decode them all.

    Without ``decode`` only the container is read, which is fast but cannot see damaged packets;
    ``decoded_seconds`` is then the sum of packet durations.

    Raises
    ------
    AudioError
        When the file cannot be opened as audio or not one sample can be read from it.
    """
    digest = hashlib.blake2b(digest_size=16)
    tally = _Tally()
    with _ffmpeg_logs() as logs, _open(path) as container:
        stream = _audio_stream(container, path)
        info = _describe(container, stream, path, logs)
        time_base = float(stream.time_base) if stream.time_base else 0.0
        framed = container.format.name in _FRAMED_STREAMS
        tags_at = appended_tags_at(path) if framed else None
        last = None  # the last packet of audio
        # Packets of a bare stream since the last one that starts with a frame header: junk
        # if the file ends with them, damage if audio follows. ``before_junk`` is the tally
        # before them, to count them out.
        junk: list[bytes] = []
        before_junk = tally
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or (tags_at is not None and (packet.pos or 0) >= tags_at):
                    continue  # bytes of a tag after the audio, passed on by the MP3 parser
                data = bytes(packet)
                if framed and not _starts_frame(data, container.format.name):
                    if not junk:
                        before_junk = replace(tally)
                    junk.append(data)
                else:
                    for held in junk:  # audio follows: they were damage inside the stream
                        digest.update(held)
                    junk = []
                    last = packet
                    digest.update(data)
                if packet.duration:
                    tally.packet_seconds += packet.duration * time_base
                if decode:
                    _decode_packet(packet, logs, tally, time_base)
            if decode:
                try:
                    for frame in stream.codec_context.decode(None):
                        tally.samples += frame.samples
                except av.error.FFmpegError:
                    pass
        except av.error.EOFError:
            pass
        except av.error.FFmpegError as exc:
            if tally.samples == 0 and tally.packet_seconds == 0:
                raise CorruptAudioError(
                    path, f"cannot read audio packets: {ffmpeg_reason(exc)}") from exc
            # the rest of the file could not be read
            tally.complain(ffmpeg_reason(exc), None, lost=True)
        if last is None and not junk:
            declared = info.declared_duration
            raise CorruptAudioError(path, "no audio data: the file ends before any of the "
                                    f"{declared:.1f} s its header declares (truncated file)"
                                    if declared else _NO_AUDIO_DATA)
        junk_bytes = 0
        if junk and last is not None:
            tally = before_junk  # bytes appended after the audio are no part of it
            junk_bytes = ((tags_at if tags_at is not None else os.path.getsize(path))
                          - last.pos - last.size)
        cut_off, unfinished = _ends_early(container, stream, last, path)
        if tags_at is not None and last is not None and (
                cut_off or (last.pos or 0) + last.size > tags_at):
            # A tagger wrote after a short last frame, so the file was whole when it was
            # tagged (iTunes and old rippers leave such frames): a blemish, not a truncation.
            cut_off = False
            tally.complain("the last frame is cut short, with tags after it", None, lost=False)
    seconds = (tally.samples / info.sample_rate if decode and info.sample_rate
               else tally.packet_seconds)
    if seconds <= 0:
        raise CorruptAudioError(path, "no audio could be decoded (truncated or damaged file)")
    return AudioCheck(info, seconds, tally.bad, tally.first_bad, digest.hexdigest(), tally.lost,
                      cut_off, tally.complaint, unfinished, junk_bytes)


def _decode_packet(packet: av.Packet, logs: list[tuple[int, str, str]], tally: _Tally,
                   time_base: float) -> None:
    """Decode one packet into ``tally``: its samples, and whether the decoder complained."""
    logged = len(logs)
    failed = None
    try:
        for frame in packet.decode():
            tally.samples += frame.samples
    except av.error.FFmpegError as exc:
        failed = ffmpeg_reason(exc)
    # Decoders log and carry on when they can: complaints without an exception may have cost
    # nothing (see AudioCheck.problem).
    errors = [m for level, _, m in logs[logged:] if level <= av.logging.ERROR]
    if failed or errors:
        at = packet.pts * time_base if packet.pts is not None else None
        tally.complain(errors[0].strip() if errors else failed, at, lost=failed is not None)


def _starts_frame(data: bytes, container: str) -> bool:
    """Whether ``data`` begins with a valid MP3 (MPEG audio) or ADTS AAC frame header.

    Hand-read because FFmpeg's parser hands on whatever follows the last frame of a bare
    stream as one more packet, so a packet that starts with no header is not a frame at all.
    MPEG audio: 11 sync bits, version not 01, layer not 00, bit rate index not 15, sample rate
    index not 3. ADTS: 12 sync bits, layer 00, sample rate index below 13.
    """
    if len(data) < 4 or data[0] != 0xFF:
        return False
    if container == "aac":
        return data[1] & 0xF6 == 0xF0 and (data[2] >> 2) & 0x0F < 13
    return (data[1] & 0xE0 == 0xE0 and data[1] & 0x18 != 0x08 and data[1] & 0x06 != 0
            and data[2] >> 4 != 0x0F and data[2] & 0x0C != 0x0C)


def _ends_early(
    container: av.container.InputContainer, stream: av.AudioStream, last: av.Packet | None,
    path: str | Path,
) -> tuple[bool, bool]:
    """``(cut_off, unfinished)``: whether the file stops part-way through its last packet (cut
    short, as by ``head -c``), and whether an Ogg stream stops at a page not marked as its end.

    Where the container states the length exactly, a short decode shows truncation; these are
    the files where it does not, or where FFmpeg quietly drops the cut remainder.
    """
    if last is None:
        return False, False
    if last.is_corrupt:  # the demuxer got fewer bytes than the packet has (WAV, MP4, AIFF)
        return True, False
    if container.format.name in _FRAMED_STREAMS:
        # A fresh parser gives nothing back for a frame shorter than its header says; the
        # demuxer itself passes such a tail on, and the MP3 decoder decodes it without a word.
        parser = av.CodecContext.create(stream.codec_context.name, "r")
        return not parser.parse(bytes(last)), False
    if container.format.name == "ogg" and last.pos is not None and last.pos >= 0:
        return _ogg_ending(path, last.pos)
    return False, False


def appended_tags_at(path: str | Path) -> int | None:
    """Where the tags appended after the audio begin, or ``None`` when the file ends with audio.

    Tags found, in any order and combination before an ID3v1 tag at the very end: APEv2,
    Lyrics3 v2 and Lyrics3 v1 (Winamp-era lyrics, which sit just before ID3v1). Hand-read
    because a bare MP3 or AAC stream has no container to say where its audio ends, FFmpeg's
    parser hands such tag bytes on as packets, and mutagen finds neither Lyrics3 nor an APEv2
    tag behind one (and keeps the offsets it finds private). ID3v1 is the last 128 bytes,
    starting ``TAG`` (unless that ``TAG`` is part of an APEv2 header's ``APETAGEX``, as in a
    131-byte APEv2 tag); an APEv2 tag ends in a 32-byte footer (``APETAGEX``, version, size of
    items and footer, item count, flags, 8 reserved bytes) and has a 32-byte header too when
    flag bit 31 is set; Lyrics3 v2 is ``LYRICSBEGIN``, fields, a 6-digit size of all that,
    ``LYRICS200``; Lyrics3 v1 is ``LYRICSBEGIN``, at most 5100 bytes of lyrics, ``LYRICSEND``.
    """
    with open_file(path) as handle:
        end = handle.seek(0, os.SEEK_END)

        def read(at: int, n: int) -> bytes:
            handle.seek(max(0, at))
            return handle.read(n)

        id3v1 = (end >= 128 and read(end - 128, 3) == b"TAG"
                 and (end < 131 or read(end - 131, 8) != b"APETAGEX"))
        start = end - 128 if id3v1 else end
        while length := _tag_before(read, start):
            start -= length
    return start if start < end else None


def _tag_before(read: Callable[[int, int], bytes], end: int) -> int:
    """The length of the APEv2 or Lyrics3 tag that ends at byte ``end``, or 0 when none does
    (see :func:`appended_tags_at`); ``read(at, n)`` reads ``n`` bytes from ``at``."""
    footer = read(end - 32, 32) if end >= 32 else b""
    if footer.startswith(b"APETAGEX"):
        length = (int.from_bytes(footer[12:16], "little")
                  + 32 * (int.from_bytes(footer[20:24], "little") >> 31))
        return length if 32 <= length <= end else 0
    if footer.endswith(b"LYRICS200") and footer[-15:-9].isdigit():
        length = int(footer[-15:-9]) + 15
        return length if length <= end and read(end - length, 11) == b"LYRICSBEGIN" else 0
    if footer.endswith(b"LYRICSEND"):
        at = max(0, end - 5100 - 20)
        lyrics = read(at, end - at)
        begin = lyrics.rfind(b"LYRICSBEGIN")
        return len(lyrics) - begin if begin >= 0 else 0
    return 0


def _ogg_ending(path: str | Path, page_at: int) -> tuple[bool, bool]:
    """``(cut, unfinished)`` for the Ogg pages from byte ``page_at`` (where one starts): whether
    they run past the file's end, and whether the last whole page of that page's stream lacks
    the end-of-stream flag.

    Hand-read because FFmpeg silently drops a final page that is cut short, and an Ogg
    stream's declared length comes from the last *complete* page's granule position, so a cut
    file otherwise looks whole. A file cut exactly between two pages is told by its last page:
    the Ogg specification (RFC 3533) requires the last page of a stream to carry the
    end-of-stream flag, and every encoder earmark was tested with sets it (FFmpeg's libvorbis,
    vorbis, libopus, opus, FLAC and libspeex; mutagen's rewrites keep it). A page is ``OggS``,
    version, flags (4: end of stream), granule position (8 bytes), stream serial number (4),
    page number, checksum, a segment count and that many segment sizes, then the segments;
    bytes after the last page that are not a page (another tool's trailing tag) are not a cut.
    """
    serial = None
    ended = False
    with open_file(path) as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(page_at)
        while True:
            header = handle.read(27)
            if not header or not b"OggS".startswith(header[:4]):
                return False, serial is not None and not ended
            if len(header) < 27:
                return True, False
            lacing = handle.read(header[26])
            if len(lacing) < header[26]:
                return True, False
            end = handle.tell() + sum(lacing)
            if end > size:
                return True, False
            serial = serial or header[14:18]
            if header[14:18] == serial:
                ended = bool(header[5] & 0x04)
            handle.seek(end)
