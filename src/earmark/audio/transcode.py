"""Audio for a web browser: which files it plays as they are, and a FLAC copy of the others.

Browsers play MP3, Ogg Vorbis/Opus/FLAC, FLAC, WAV (PCM), AAC in MP4 and WebM; AIFF, WMA,
Monkey's Audio, WavPack, Musepack, ALAC and the rest are decoded with PyAV and encoded to FLAC,
lossless, so nothing is lost a second time whatever the source was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import av

from earmark.audio.decode import (
    _audio_stream,
    _ffmpeg_logs,
    _open,
    _sample_rate,
    ffmpeg_reason,
)
from earmark.errors import CorruptAudioError

_MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
_WAV_PCM = ("pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le")
#: (container, codec) as PyAV names them -> the media type a browser plays directly.
BROWSER_TYPES: dict[tuple[str, str], str] = {
    ("mp3", "mp3"): "audio/mpeg",
    ("mp3", "mp3float"): "audio/mpeg",
    ("flac", "flac"): "audio/flac",
    ("ogg", "vorbis"): "audio/ogg",
    ("ogg", "opus"): "audio/ogg",
    ("ogg", "flac"): "audio/ogg",
    (_MP4, "aac"): "audio/mp4",
    (_MP4, "mp3float"): "audio/mp4",
    ("matroska,webm", "opus"): "audio/webm",
    ("matroska,webm", "vorbis"): "audio/webm",
    **{("wav", codec): "audio/wav" for codec in _WAV_PCM},
}
#: Suffix and media type of a transcoded copy.
TRANSCODED_SUFFIX, TRANSCODED_TYPE = ".flac", "audio/flac"


def browser_type(path: str | Path, container: str | None, codec: str | None) -> str | None:
    """The media type under which a browser plays the file at ``path`` as it is, given its
    ``container`` and ``codec`` (PyAV's names, as the catalog stores them), or ``None`` when it
    must be transcoded. Matroska counts only as ``.webm``: browsers play the WebM subset."""
    if container == "matroska,webm" and Path(path).suffix.lower() != ".webm":
        return None
    return BROWSER_TYPES.get((container or "", codec or ""))


def transcode_for_browser(path: str | Path, cache_dir: str | Path, key: str) -> Path:
    """A FLAC copy of the audio of ``path`` (first audio stream, every channel, its sample
    rate; 24-bit and float sources kept at 24 bits) in ``cache_dir`` named by ``key`` (the
    file's content hash), made once and reused.

    The copy is written beside its final name and renamed into place, so a request never sees
    half a file. Raises :class:`~earmark.errors.AudioError` when the file cannot be decoded.
    """
    cache = Path(cache_dir)
    target = cache / f"{key}{TRANSCODED_SUFFIX}"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=cache, prefix=f".{key}.", suffix=TRANSCODED_SUFFIX)
    os.close(handle)
    try:
        _encode_flac(Path(path), Path(partial))
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def _encode_flac(source: Path, target: Path) -> None:
    with _ffmpeg_logs(), _open(source) as container:
        stream = _audio_stream(container, source)
        ctx = stream.codec_context
        deep = ctx.format is not None and ctx.format.bits > 16
        rate = _sample_rate(stream, source)
        try:
            with av.open(str(target), mode="w", format="flac") as output:
                out = output.add_stream("flac", rate=rate, layout=ctx.layout.name)
                # FFmpeg's FLAC encoder takes packed s16, or s32 which it writes as 24-bit.
                out.format = "s32" if deep else "s16"
                resampler = av.AudioResampler(format=out.format.name, layout=ctx.layout.name,
                                              rate=rate)
                for frame in container.decode(stream):
                    frame.pts = None
                    for converted in resampler.resample(frame):
                        output.mux(out.encode(converted))
                for converted in resampler.resample(None):
                    output.mux(out.encode(converted))
                output.mux(out.encode(None))
        except av.error.FFmpegError as exc:
            raise CorruptAudioError(source, f"cannot convert for the browser: "
                                            f"{ffmpeg_reason(exc)}") from exc
