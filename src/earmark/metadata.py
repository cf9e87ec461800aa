"""Read the tags already in a music file (mutagen), normalised across formats.

Writing tags is :mod:`earmark.tagging`'s job; this module only reads, and never fails a scan: a
file whose tags mutagen cannot parse simply has no tags here.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mutagen
from mutagen.id3 import ID3
from mutagen.mp4 import MP4, MP4FreeForm

# Keys of the normalised view, per tag family.
_ID3 = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON"}
_MP4 = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "genre": "\xa9gen"}
_VORBIS = {"title": "title", "artist": "artist", "album": "album", "genre": "genre"}
_BINARY_FRAMES = (
    "APIC", "GEOB", "PRIV", "MCDI", "UFID", "SYLT", "RVA2", "covr", "METADATA_BLOCK_PICTURE",
)


@dataclass
class FileTags:
    """Tags of one file. ``rating`` is scaled to 0..1; ``raw`` holds every text tag as lists."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genres: list[str] = field(default_factory=list)
    rating: float | None = None
    raw: dict[str, list[str]] = field(default_factory=dict)
    has_cover: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def track_columns(self) -> dict:
        """The catalog track fields these tags fill (genres joined with '; ')."""
        return {"title": self.title, "artist": self.artist, "album": self.album,
                "genre": "; ".join(self.genres) or None, "rating": self.rating,
                "tags": self.to_dict()}


def read_tags(path: str | Path) -> FileTags:
    """Read and normalise the tags of ``path``; unknown or unreadable tags give empty fields."""
    try:
        audio = mutagen.File(path)
    except Exception:  # mutagen raises many types on damaged headers; tags are optional
        return FileTags()
    if audio is None or audio.tags is None:
        return FileTags(has_cover=_has_flac_pictures(audio))
    tags = audio.tags
    if isinstance(tags, ID3):
        return _from_id3(tags)
    if isinstance(audio, MP4):
        return _from_mp4(tags)
    return _from_vorbis(tags, _has_flac_pictures(audio))


def _has_flac_pictures(audio: object) -> bool:
    return bool(getattr(audio, "pictures", None))


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _split_genres(values: list[str]) -> list[str]:
    """Genres as separate values; taggers that write one string join them with ';' or NUL.

    '/' is left alone: it is part of names such as "Soul/R&B".
    """
    out: list[str] = []
    for value in values:
        for part in value.replace("\x00", ";").split(";"):
            part = part.strip().strip("\x00")
            if part and part not in out:
                out.append(part)
    return out


def _scale_rating(value: str | float) -> float | None:
    """Ratings come as 0..1 (FMPS), 0..5 stars or 0..100 percent: map all to 0..1."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    if x < 0:
        return None
    if x <= 1:
        return x
    if x <= 5:
        return x / 5
    if x <= 100:
        return x / 100
    return None


def _from_id3(tags: ID3) -> FileTags:
    raw: dict[str, list[str]] = {}
    rating = None
    has_cover = False
    for key, frame in tags.items():
        frame_id = key.split(":", 1)[0]
        if frame_id == "APIC":
            has_cover = True
        if frame_id == "POPM":
            raw.setdefault(key, []).append(str(frame.rating))
            if rating is None:
                rating = frame.rating / 255
            continue
        if frame_id in _BINARY_FRAMES or not hasattr(frame, "text"):
            continue
        raw[key] = [str(t) for t in frame.text]
    fmps = raw.get("TXXX:FMPS_Rating") or raw.get("TXXX:FMPS_RATING")
    if fmps:
        rating = _scale_rating(fmps[0])
    genre_frame = tags.get("TCON")
    genres = _split_genres(list(genre_frame.genres)) if genre_frame is not None else []
    return FileTags(
        title=_first(raw.get(_ID3["title"], [])),
        artist=_first(raw.get(_ID3["artist"], [])),
        album=_first(raw.get(_ID3["album"], [])),
        genres=genres,
        rating=rating,
        raw=raw,
        has_cover=has_cover,
    )


def _mp4_text(value: object) -> str:
    if isinstance(value, MP4FreeForm | bytes):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value)
    return str(value)


def _from_mp4(tags: dict) -> FileTags:
    raw: dict[str, list[str]] = {}
    for key, values in tags.items():
        if key in _BINARY_FRAMES:
            continue
        values = values if isinstance(values, list) else [values]
        raw[key] = [_mp4_text(v) for v in values]
    rating = None
    for key in ("----:com.apple.iTunes:FMPS_Rating", "----:com.apple.iTunes:RATING", "rate"):
        if raw.get(key):
            rating = _scale_rating(raw[key][0])
            break
    return FileTags(
        title=_first(raw.get(_MP4["title"], [])),
        artist=_first(raw.get(_MP4["artist"], [])),
        album=_first(raw.get(_MP4["album"], [])),
        genres=_split_genres(raw.get(_MP4["genre"], [])),
        rating=rating,
        raw=raw,
        has_cover="covr" in tags,
    )


def _from_vorbis(tags: object, has_cover: bool) -> FileTags:
    raw: dict[str, list[str]] = {}
    for key, value in tags.items() if hasattr(tags, "items") else tags:
        key = key.lower()
        if key.upper() in _BINARY_FRAMES:
            has_cover = True
            continue
        raw.setdefault(key, []).extend(value if isinstance(value, list) else [str(value)])
    rating = None
    for key in ("fmps_rating", "rating"):
        if raw.get(key):
            rating = _scale_rating(raw[key][0])
            break
    return FileTags(
        title=_first(raw.get(_VORBIS["title"], [])),
        artist=_first(raw.get(_VORBIS["artist"], [])),
        album=_first(raw.get(_VORBIS["album"], [])),
        genres=_split_genres(raw.get(_VORBIS["genre"], [])),
        rating=rating,
        raw=raw,
        has_cover=has_cover,
    )
