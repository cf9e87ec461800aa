"""Audio input: decode any format to float32 samples, mono, at any rate, whole or streamed."""

from earmark.audio.chunks import frame_chunks, song_chunks
from earmark.audio.decode import (
    AUDIO_EXTENSIONS,
    AudioCheck,
    AudioInfo,
    Downmix,
    appended_tags_at,
    check_audio,
    content_digest,
    content_hash,
    decode_audio,
    probe_audio,
    stream_audio,
)

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioCheck",
    "AudioInfo",
    "Downmix",
    "appended_tags_at",
    "check_audio",
    "content_digest",
    "content_hash",
    "decode_audio",
    "frame_chunks",
    "song_chunks",
    "probe_audio",
    "stream_audio",
]
