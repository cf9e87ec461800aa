"""Read the tags already in a music file (mutagen), normalised across formats and tag blocks.

Writing tags is :mod:`earmark.tagging`'s job; this module only reads, and never fails a scan: a
tag block mutagen cannot parse is noted in :attr:`FileTags.skipped` and the rest is read.

A file can carry several tag blocks: its main one (ID3v2 in MP3/WAV/AIFF, Vorbis comments in
FLAC/Ogg/Opus, MP4 atoms, ASF attributes in WMA, APEv2 in WavPack/Musepack/Monkey's/TAK/
OptimFROG), and beside it an APEv2 tag (MP3, TTA), further ID3v2 tags straight after the first
one, or a RIFF LIST/INFO chunk (WAV). :func:`read_tags` reads them all. The main block's title,
artist, album and rating win; the other blocks fill what it lacks. Genres are the union of every
block's genres, the main block's first (:func:`existing_genres`): a genre a file carries
anywhere is a genre it has.

Every value is turned into text by one function, :func:`tag_text`, so what this module returns
is JSON-safe by construction; values that are not text (cover art, binary blobs) are left out
with a reason.
"""

from __future__ import annotations

import math
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mutagen
from mutagen._riff import RiffFile, RiffListChunk
from mutagen.apev2 import APEBinaryValue, APENoHeaderError, APETextValue, APEv2
from mutagen.asf import ASF, ASFGUIDAttribute
from mutagen.asf._attrs import ASFBaseAttribute
from mutagen.flac import Picture
from mutagen.id3 import APIC, ID3, POPM, ID3FileType
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.mp4 import AtomDataType as _Atom
from mutagen.wave import WAVE

from earmark.engine.files import file_source, file_stat, open_file
from earmark.errors import NotAudioError

#: Where each normalised field lives, per tag block kind; names are matched case-insensitively.
_FIELDS = {
    "id3": {"title": ("TIT2",), "artist": ("TPE1",), "album": ("TALB",), "genre": ("TCON",)},
    "mp4": {"title": ("\xa9nam",), "artist": ("\xa9ART",), "album": ("\xa9alb",),
            "genre": ("\xa9gen",)},
    "vorbis": {"title": ("title",), "artist": ("artist",), "album": ("album",),
               "genre": ("genre",)},
    "asf": {"title": ("Title",), "artist": ("Author",), "album": ("WM/AlbumTitle",),
            "genre": ("WM/Genre",)},
    "ape": {"title": ("Title",), "artist": ("Artist",), "album": ("Album",),
            "genre": ("Genre",)},
    "info": {"title": ("INAM",), "artist": ("IART",), "album": ("IPRD",), "genre": ("IGNR",)},
}

#: Rating tags per block kind, in order of preference, with the scale each is written in
#: (``None``: people write several scales there, see :func:`rating_fraction`).
_RATINGS = {
    "id3": (("TXXX:FMPS_Rating", "fraction"), ("POPM", "POPM"), ("TXXX:RATING", None)),
    "mp4": (("----:com.apple.iTunes:FMPS_Rating", "fraction"),
            ("----:com.apple.iTunes:RATING", None), ("rate", None)),
    "vorbis": (("fmps_rating", "fraction"), ("rating", None)),
    "asf": (("FMPS/Rating", "fraction"), ("WM/SharedUserRating", "Windows Media")),
    "ape": (("FMPS_Rating", "fraction"), ("Rating", None)),
    "info": (),
}

#: Keys that hold pictures whatever their value looks like (Vorbis keeps them as base64 text).
_PICTURE_KEYS = {"apic", "covr", "metadata_block_picture", "coverart", "wm/picture"}

#: How many ID3v2 tags in a row :func:`read_tags` follows at the start of a file.
_MAX_LEADING_ID3 = 8

#: Text with control characters other than tab and line breaks is binary data, not text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: Lone surrogates (left by some decoders) cannot be stored as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")

#: Rating scales :func:`rating_fraction` knows, and the value of each that means 5 stars.
RATING_SCALES = {"stars": 5.0, "percent": 100.0, "fraction": 1.0, "POPM": 255.0,
                 "Windows Media": 99.0}


@dataclass
class FileTags:
    """The tags of one file, normalised; every value is JSON-safe.

    ``rating`` is scaled to 0..1 (``n`` stars = ``n / 5``) and ``rating_scale`` says which of
    :data:`RATING_SCALES` it was written in; ``rating_guessed`` is true when that scale was
    guessed from a free-form value (``RATING=80``), not set by the tag; ``rating_unread`` is
    the first rating tag value no scale explains (``80%``, ``150``, ``4/5``) when no rating was
    read. ``raw`` holds every text tag as a list of strings,
    keyed as the tag block names it (keys of blocks other than the main one are prefixed with
    the block, e.g. ``APEv2:Genre``, ``INFO:IGNR``, ``ID3v2#2:TCON``); ``skipped`` maps the keys
    of values that are not text (pictures, binary data) or blocks that could not be read to the
    reason. ``sources`` names the tag blocks read, main block first.
    """

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genres: list[str] = field(default_factory=list)
    rating: float | None = None
    rating_scale: str | None = None
    rating_guessed: bool = False
    rating_unread: str | None = None
    raw: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    has_cover: bool = False
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def track_columns(self) -> dict:
        """The catalog track fields these tags fill (genres joined with '; ')."""
        return {"title": self.title, "artist": self.artist, "album": self.album,
                "genre": "; ".join(self.genres) or None, "rating": self.rating,
                "tags": self.to_dict()}


# --- one normalising function for every value --------------------------------------------------


def _clean(text: str) -> str:
    """``text`` without the NULs that pad C strings, and storable as UTF-8 (lone surrogates,
    which some decoders leave in, become U+FFFD)."""
    return _SURROGATE.sub("\ufffd", text.rstrip("\x00"))


def _bytes_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError:
        text = None
    if text is None or _CONTROL.search(text):
        raise ValueError(f"binary data ({len(data)} bytes)")
    return _clean(text)


def tag_text(value: object) -> str:
    """One tag value of any tag library type as plain, JSON-safe text.

    Strings stay as they are (trailing NULs dropped); numbers become their digits, booleans
    ``true``/``false``, number pairs (MP4 track ``(3, 12)``) ``3/12``, ASF GUIDs their usual
    ``xxxxxxxx-xxxx-...`` form, and bytes that are UTF-8 text that text. ASF, APEv2 and MP4
    values are unwrapped to what they hold.

    Raises
    ------
    ValueError
        For values that are not text: pictures and other binary data; the message is the
        reason a person reads (e.g. ``"picture (5120 bytes)"``).
    """
    if isinstance(value, MP4Cover | Picture | APIC):
        data = value.data if isinstance(value, Picture | APIC) else value
        raise ValueError(f"picture ({len(data)} bytes)")
    if isinstance(value, ASFGUIDAttribute):
        return str(uuid.UUID(bytes_le=value.value))
    if isinstance(value, ASFBaseAttribute):
        return tag_text(value.value)
    if isinstance(value, APEBinaryValue):
        return _bytes_text(value.value)
    if isinstance(value, MP4FreeForm):
        if value.dataformat == _Atom.UTF16:
            return _clean(bytes(value).decode("utf-16-be", "replace"))
        if value.dataformat == _Atom.INTEGER and 1 <= len(value) <= 8:
            return str(int.from_bytes(value, "big", signed=True))
        return _bytes_text(bytes(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_text(bytes(value))
    if isinstance(value, tuple | list):
        return "/".join(tag_text(v) for v in value)
    # str itself, mutagen's str-like values (APE text, ID3 time stamps) and anything else
    # with a text form: its text is what a person would read.
    return _clean(str(value))


# --- ratings -----------------------------------------------------------------------------------


def rating_fraction(text: str, scale: str | None = None) -> tuple[float, str] | None:
    """A rating tag's value as ``(fraction 0..1, scale)``, or ``None`` if it is not a rating.

    ``scale`` is one of :data:`RATING_SCALES` when the tag says which it uses (``FMPS_RATING``:
    ``"fraction"``; ID3 ``POPM``: ``"POPM"``; WMA ``WM/SharedUserRating``:
    ``"Windows Media"``); ``None`` detects it from the value, as free-form ``RATING`` tags are
    written by different players in different scales: integers 1-5 are stars (foobar2000),
    values above 5 up to 100 are percent (20 = 1 star), 0.0-1.0 written with a decimal point is
    a fraction; 0 means not rated (fraction 0). n stars become ``n / 5``.

    ``POPM`` (0-255) and Windows Media (0-99) are star scales whose lowest value, 1, is one
    star: Windows Media Player writes 1, 64, 128, 196, 255 (POPM) and 1, 25, 50, 75, 99 (WMA)
    for 1-5 stars, so values are mapped linearly from 1..top to 1..5 stars.
    """
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x) or x < 0:
        return None
    if scale is None:
        if x <= 1 and "." in str(text):
            scale = "fraction"
        elif x <= 5:
            scale = "stars"
        elif x <= 100:
            scale = "percent"
        else:
            return None
    top = RATING_SCALES[scale]
    if x == 0:
        return 0.0, scale
    if scale in ("POPM", "Windows Media"):
        return (1 + 4 * (min(x, top) - 1) / (top - 1)) / 5, scale
    if x > top:
        return None
    return x / top, scale


# --- one tag block -----------------------------------------------------------------------------


class _Block:
    """The values of one tag block as they are read, turned into :class:`FileTags`."""

    def __init__(self, kind: str, name: str):
        self.kind, self.name = kind, name
        self.raw: dict[str, list[str]] = {}
        self.skipped: dict[str, str] = {}
        self.has_cover = False

    def add(self, key: str, values: object) -> None:
        """Record ``values`` (one value or a list) under ``key``, as text or as skipped."""
        key = _clean(str(key))
        picture = self._is_picture_key(key)
        for value in values if isinstance(values, list) else [values]:
            try:
                text = tag_text(value)
            except ValueError as exc:
                reason = str(exc)
            else:
                if not picture:
                    self.raw.setdefault(key, []).append(text)
                    continue
                reason = f"{len(text)} characters of encoded data"
            if picture or reason.startswith("picture"):
                self.has_cover = True
                reason = reason if reason.startswith("picture") else f"picture: {reason}"
            self.skipped[key] = reason

    @staticmethod
    def _is_picture_key(key: str) -> bool:
        key = key.lower()
        return key.split(":", 1)[0] in _PICTURE_KEYS or key.startswith("cover art")

    def values(self, names: tuple[str, ...]) -> list[str]:
        """The values of the first of ``names`` present, compared case-insensitively; in ID3,
        a name without ``:`` also stands for every frame of that id (``POPM`` for
        ``POPM:email``)."""
        by_name: dict[str, list[str]] = {}
        for key, values in self.raw.items():
            key = key.lower()
            by_name.setdefault(key, []).extend(values)
            if self.kind == "id3" and ":" in key:
                by_name.setdefault(key.split(":", 1)[0], []).extend(values)
        for name in names:
            if by_name.get(name.lower()):
                return by_name[name.lower()]
        return []

    def tags(self, genres: list[str] | None = None) -> FileTags:
        """The normalised view; ``genres`` replaces the block's genre values when given."""
        fields = _FIELDS[self.kind]
        rating, unread = self._rating()
        return FileTags(
            title=_first(self.values(fields["title"])),
            artist=_first(self.values(fields["artist"])),
            album=_first(self.values(fields["album"])),
            genres=split_genres(self.values(fields["genre"]) if genres is None else genres),
            rating=rating[0] if rating else None,
            rating_scale=rating[1] if rating else None,
            rating_guessed=rating[2] if rating else False,
            rating_unread=None if rating else unread,
            raw=self.raw, skipped=self.skipped, has_cover=self.has_cover, sources=[self.name],
        )

    def _rating(self) -> tuple[tuple[float, str, bool] | None, str | None]:
        """``((fraction, scale, guessed), unread)``: the first rating tag that says something,
        a 0 ("not rated") only if none does, and the first value no scale explains."""
        unrated, unread = None, None
        for name, scale in _RATINGS[self.kind]:
            for value in self.values((name,)):
                found = rating_fraction(value, scale)
                if found is None:
                    unread = unread or value
                elif found[0] > 0:
                    return (*found, scale is None), unread
                else:
                    unrated = unrated or (*found, scale is None)
        return unrated, unread


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def split_genres(values: list[str]) -> list[str]:
    """Genres as separate values, each once; taggers that write one string join them with ';'
    or NUL (and the catalog stores a file's genres joined with '; ').

    '/' is left alone: it is part of names such as "Soul/R&B".
    """
    out: list[str] = []
    for value in values:
        for part in value.replace("\x00", ";").split(";"):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _from_id3(tags: ID3, name: str) -> FileTags:
    block = _Block("id3", name)
    for key, frame in tags.items():
        if isinstance(frame, POPM):
            block.add(key, frame.rating)
            continue
        for attr in ("text", "url", "people", "data", "count"):
            if hasattr(frame, attr):
                value = frame if isinstance(frame, APIC) else getattr(frame, attr)
                if attr == "people":
                    value = [f"{role}: {person}" for role, person in value]
                block.add(key, value)
                break
        else:
            block.skipped[key] = f"{frame.FrameID} frame holds no text"
    tcon = tags.get("TCON")
    # mutagen's TCON.genres resolves ID3v1 numeric references such as "(17)" to names.
    genres = [_clean(g) for g in tcon.genres] if tcon is not None else []
    return block.tags(genres)


def _id3_name(tags: ID3) -> str:
    major, minor = tags.version[:2]
    return f"ID3v{major}.{minor}" if major == 2 else "ID3v1"


def _from_pairs(kind: str, name: str, pairs) -> FileTags:
    """Blocks that are (key, value) pairs: Vorbis comments, MP4 atoms, ASF attributes,
    APEv2 items."""
    block = _Block(kind, name)
    for key, value in pairs:
        if isinstance(value, APETextValue):  # several values, NUL-separated
            value = list(value)
        block.add(key.lower() if kind == "vorbis" else key, value)
    return block.tags()


def _main_block(audio: mutagen.FileType) -> FileTags | None:
    tags = audio.tags
    if tags is None:
        return None
    if isinstance(tags, ID3):
        return _from_id3(tags, _id3_name(tags))
    if isinstance(audio, MP4):
        return _from_pairs("mp4", "MP4", tags.items())
    if isinstance(audio, ASF):
        return _from_pairs("asf", "ASF", list(tags))
    if isinstance(tags, APEv2):
        return _from_pairs("ape", "APEv2", tags.items())
    return _from_pairs("vorbis", "Vorbis comment", list(tags))


# --- blocks beside the main one ----------------------------------------------------------------


def info_chunks(riff: RiffFile) -> Iterator[RiffListChunk]:
    """The ``LIST`` chunks of type ``INFO`` at the top level of a RIFF file, in file order."""
    return (chunk for chunk in riff.root.subchunks()
            if isinstance(chunk, RiffListChunk) and chunk.name == "INFO")


def riff_info(path: str | Path) -> dict[str, str] | None:
    """The items of a WAV file's LIST/INFO chunk, by chunk id (``{"INAM": "Title", ...}``).

    ``None`` when the file has no INFO chunk (reading and writing both need to tell).
    mutagen finds the chunks (``mutagen._riff``, which its WAVE
    support uses) but does not interpret LIST/INFO, so the items are decoded here: each is a
    NUL-terminated string, UTF-8 as FFmpeg and most tools write it, else Latin-1 as old
    Windows tools did.

    Raises
    ------
    OSError, mutagen.MutagenError
        When the file cannot be read or is not a RIFF file.
    """
    items: dict[str, str] | None = None
    with open_file(path) as handle:
        for chunk in info_chunks(RiffFile(handle)):
            if items is None:
                items = {}
            for item in chunk.subchunks():
                data = item.read().split(b"\x00", 1)[0]
                try:
                    items[item.id] = _clean(data.decode("utf-8"))
                except UnicodeDecodeError:
                    items[item.id] = _clean(data.decode("latin-1"))
    return items


def _leading_id3_tags(path: str | Path, first: ID3) -> list[FileTags]:
    """ID3v2 tags that follow the first one at the start of the file (mutagen reads only the
    first; FFmpeg and some players read them all)."""
    found = []
    offset = first.size
    with open_file(path) as handle:
        for number in range(2, _MAX_LEADING_ID3 + 1):
            handle.seek(offset)
            marker = handle.read(3)
            if marker == b"3DI":  # an ID3v2.4 footer closing the previous tag
                offset += 10
                handle.seek(offset)
                marker = handle.read(3)
            if marker != b"ID3":
                break
            handle.seek(offset)
            tag = ID3(handle, load_v1=False)  # reads from where the handle stands
            found.append(_from_id3(tag, f"{_id3_name(tag)} (tag {number})"))
            offset += tag.size
    return found


def _extra_blocks(path: str | Path, audio: mutagen.FileType | None
                  ) -> list[tuple[str, Callable[[], list[FileTags]]]]:
    """``(prefix, reader)`` for the blocks a file of this type can carry beside its main one."""
    extra: list[tuple[str, Callable[[], list[FileTags]]]] = []
    if isinstance(audio, ID3FileType) and isinstance(audio.tags, ID3) and audio.tags.size:
        extra.append(("ID3v2#", lambda: _leading_id3_tags(path, audio.tags)))
    if not isinstance(getattr(audio, "tags", None), APEv2):
        extra.append(("APEv2", lambda: [
            _from_pairs("ape", "APEv2", APEv2(file_source(path)).items())]))
    if isinstance(audio, WAVE):
        extra.append(("INFO", lambda: [_info_block(path)]))
    return extra


def _info_block(path: str | Path) -> FileTags:
    block = _Block("info", "RIFF INFO")
    for key, value in (riff_info(path) or {}).items():
        block.add(key, value)
    return block.tags()


def _has_any(tags: FileTags) -> bool:
    return bool(tags.raw or tags.skipped or tags.has_cover)


def _merge(main: FileTags, other: FileTags, prefix: str) -> None:
    """Add ``other`` (a block beside the main one) to ``main``: it fills fields the main block
    lacks and adds its genres; its raw keys get ``prefix``."""
    for name in ("title", "artist", "album"):
        if getattr(main, name) is None:
            setattr(main, name, getattr(other, name))
    if main.rating is None and other.rating is not None:
        main.rating, main.rating_scale = other.rating, other.rating_scale
        main.rating_guessed, main.rating_unread = other.rating_guessed, None
    if main.rating is None:
        main.rating_unread = main.rating_unread or other.rating_unread
    known = {g.casefold() for g in main.genres}
    main.genres += [g for g in other.genres if g.casefold() not in known]
    main.raw.update({f"{prefix}:{k}": v for k, v in other.raw.items()})
    main.skipped.update({f"{prefix}:{k}": v for k, v in other.skipped.items()})
    main.has_cover = main.has_cover or other.has_cover
    main.sources += other.sources


# --- the public readers ------------------------------------------------------------------------


def read_tags(path: str | Path) -> FileTags:
    """Read and normalise every tag block of ``path`` (see the module's description).

    Never raises for a file's content: a block that cannot be read is noted in ``skipped``
    (under its block name) and the others are read; a file with no tags gives empty fields.

    Raises
    ------
    NotAudioError
        When ``path`` is not a regular file (a named pipe, a device, a folder), before
        anything opens it: opening a named pipe blocks until another program writes to it.
    """
    _refuse_special_file(path)
    audio = None
    try:
        audio = mutagen.File(file_source(path))  # or the bytes its driver sent
        result = (_main_block(audio) if audio is not None else None) or FileTags()
    except Exception as exc:  # mutagen raises many types on damaged headers; tags are optional
        result = FileTags(skipped={"tags": f"cannot read the tags: {exc}"})
    result.has_cover = result.has_cover or bool(getattr(audio, "pictures", None))
    for prefix, read in _extra_blocks(path, audio):
        try:
            blocks = read()
        except APENoHeaderError:
            continue
        except Exception as exc:  # a damaged extra block must not hide the main one
            result.skipped[prefix] = f"cannot read the {prefix} tag: {exc}"
            continue
        for number, block in enumerate(blocks, start=2):
            if _has_any(block):
                _merge(result, block, f"{prefix}{number}" if prefix.endswith("#") else prefix)
    return result


def _refuse_special_file(path: str | Path) -> None:
    try:
        mode = file_stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the readers below say why in ``skipped``
    if not stat.S_ISREG(mode):
        raise NotAudioError(path, "not a regular file")


def existing_genres(path: str | Path) -> list[str]:
    """Every genre ``path`` already carries, in any of its tag blocks, each once.

    The main block's genres come first (e.g. ID3 ``TCON`` of an MP3 or WAV), then those of the
    blocks beside it: an APEv2 ``Genre`` (MP3, TTA), further leading ID3v2 tags, a WAV's
    LIST/INFO ``IGNR``. Values joined with ';' or NUL count separately; spellings differing
    only in case count once. This is what "the file already has a genre" means for fill mode.
    Never raises for a file's content (unreadable blocks count as holding no genre); raises
    :class:`~earmark.errors.NotAudioError` as :func:`read_tags` does for a special file.
    """
    return read_tags(path).genres
