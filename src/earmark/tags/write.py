"""Change tags in a music file without ever losing it: copy, edit, verify, fsync, replace.

A write never touches the original until a complete, verified copy exists beside it:

1. refuse files that cannot be replaced (no write permission on the file or its folder) or that
   differ from what the caller last saw (``expect_hash``);
2. copy the file to a hidden temporary file in the same folder (:data:`TEMP_PREFIX`, suffix
   :data:`TEMP_SUFFIX`, never an audio extension, so a scan cannot mistake it for music);
3. change only the requested keys in the copy with mutagen;
4. re-read the copy: the requested keys hold exactly the new values, every other tag and picture
   is unchanged (ID3 frames compared as stored, an ID3v1 tag byte for byte: see
   :func:`tag_snapshot`), and the compressed audio packets hash the same as the original's (for
   bare streams, :data:`BARE_STREAMS`, every byte between the tag blocks is the same);
5. fsync the copy, then (after the caller has journalled the change) ``os.replace`` it over the
   original and fsync the folder.

Any failure before step 5 removes the copy and leaves the original byte-identical. A process
killed at any moment leaves either the old or the new file plus, at worst, a temporary file that
:func:`remove_leftovers` deletes on the next run.

Tags are addressed by *keys* in a format's own vocabulary (``"TCON"``, ``"TXXX:MOOD"``,
``"GENRE"``, ``"\\xa9gen"``, ``"WM/Genre"``, APEv2 ``"Genre"``); keys of a tag block beside the
file's main one carry the block's prefix (a WAV's RIFF INFO ``"INFO:IGNR"``, the APEv2 tag of an
MP3 ``"APEv2:Genre"``: :func:`side_key`). :func:`field_key` maps earmark's fields to keys and
:func:`field_keys` lists every key of one file that holds a field. Values are always lists of
strings; ``None`` means the key is absent.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
import stat
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen._riff import RiffFile, RiffListChunk
from mutagen.aiff import AIFF
from mutagen.apev2 import APENoHeaderError, APETextValue, APEv2, APEv2File
from mutagen.asf import ASF
from mutagen.flac import FLAC
from mutagen.id3 import COMM, ID3, TCON, TXXX, Encoding, Frames, Frames_2_2, ID3FileType
from mutagen.id3._id3v1 import ParseID3v1, find_id3v1
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, Atom, AtomError, Atoms, MP4FreeForm
from mutagen.oggflac import OggFLAC
from mutagen.oggopus import OggOpus
from mutagen.oggspeex import OggSpeex
from mutagen.oggvorbis import OggVorbis
from mutagen.trueaudio import TrueAudio
from mutagen.wave import WAVE

from earmark.audio import appended_tags_at, check_audio, content_digest, content_hash
from earmark.errors import AudioError, TagWriteError
from earmark.tags.read import info_chunks, riff_info

TEMP_PREFIX = ".earmark-"
TEMP_SUFFIX = ".partial"

#: Tag family per mutagen file class (subclasses included): where each family keeps its text
#: tags. ``apev2`` covers every class built on :class:`APEv2File`: WavPack, Musepack, Monkey's
#: Audio, OptimFROG, TAK, and True Audio files that carry APEv2 (see :func:`open_tags`).
FAMILIES: dict[type, str] = {
    MP3: "id3", WAVE: "id3", AIFF: "id3", TrueAudio: "id3",
    FLAC: "vorbis", OggVorbis: "vorbis", OggOpus: "vorbis", OggSpeex: "vorbis", OggFLAC: "vorbis",
    MP4: "mp4",
    ASF: "asf",
    APEv2File: "apev2",
}

#: Files that are one bare audio stream with tag blocks at its ends (ID3v2 in front; APEv2 and
#: ID3v1 behind). Their demuxers read a cut-short last frame together with the tag bytes after
#: it, so the packet hash would call a tag change an audio change: these are verified by
#: comparing the bytes between the tag blocks instead (:func:`_stream_digest`).
BARE_STREAMS: tuple[type, ...] = (MP3, TrueAudio, APEv2File)

#: earmark field -> key per family. ``TMOO`` exists only in ID3v2.4, so v2.3 uses a TXXX frame
#: (mutagen drops v2.4-only frames when saving v2.3).
_KEYS: dict[str, dict[str, str]] = {
    "genre": {"id3": "TCON", "id3v23": "TCON", "vorbis": "GENRE", "mp4": "\xa9gen",
              "asf": "WM/Genre", "apev2": "Genre"},
    "mood": {"id3": "TMOO", "id3v23": "TXXX:MOOD", "vorbis": "MOOD",
             "mp4": "----:com.apple.iTunes:MOOD", "asf": "WM/Mood", "apev2": "Mood"},
    "instrument": {"id3": "TXXX:INSTRUMENT", "id3v23": "TXXX:INSTRUMENT",
                   "vorbis": "INSTRUMENT", "mp4": "----:com.apple.iTunes:INSTRUMENT",
                   "asf": "INSTRUMENT", "apev2": "Instrument"},
}

#: Keys of RIFF INFO items in a WAV (``"INFO:IGNR"``): written beside the id3 chunk, because
#: FFmpeg-based players show only the INFO chunk when a WAV has one.
INFO_PREFIX = "INFO:"
#: Keys of the items of an APEv2 tag beside an MP3's or True Audio file's ID3v2 tag
#: (``"APEv2:Genre"``): written too, because foobar2000 and FFmpeg show the APEv2 tag's fields
#: instead of ID3v2's when a file has both.
APE_PREFIX = "APEv2:"
#: earmark field -> RIFF INFO item; INFO has no mood or instrument item.
_INFO_ITEMS = {"genre": "IGNR"}
FIELDS = tuple(_KEYS)

Values = list[str] | None


@dataclass(frozen=True)
class TaggedFile:
    """A music file as the tag writer sees it.

    ``family`` is a value of :data:`FAMILIES` (``"id3"``, ``"vorbis"``, ``"mp4"``, ``"asf"``,
    ``"apev2"``); ``id3_version`` is the minor version of
    an existing ID3v2 tag (2, 3 or 4), ``None`` when there is none (or for other families).
    """

    path: str
    family: str
    id3_version: int | None


@dataclass(frozen=True)
class PreparedWrite:
    """A verified copy of ``path`` with the new tags, waiting to replace it.

    ``old`` and ``new`` map every requested key to its values before and after (``None`` =
    absent); ``old_hash`` / ``new_hash`` are :func:`content_hash` of the file before and of the
    copy. ``old_container`` / ``new_container`` describe the tag container before and after
    (:func:`container_form`: ``None`` when the file has none, ``"ID3v2.3"``, ``"vorbis"``...),
    so a journal can tell undo to remove a container the write created or to give an ID3 tag
    back its old version. ``unchanged`` is true when the copy would be identical in tags
    (nothing to do).
    """

    path: str
    temp_path: str
    old: dict[str, Values]
    new: dict[str, Values]
    old_hash: str
    new_hash: str
    old_container: str | None = None
    new_container: str | None = None

    @property
    def unchanged(self) -> bool:
        return self.old == self.new and self.old_container == self.new_container


def open_tags(path: str | Path, cls: type | None = None) -> mutagen.FileType:
    """Load a file with mutagen (as class ``cls`` when given); :class:`TagWriteError` if not.

    A True Audio file is opened for its APEv2 tag (as :class:`APEv2File`) unless it carries an
    ID3v2 tag: FFmpeg's muxer, foobar2000 and EAC write APEv2 into TTA, so a new tag goes where
    players look, and a file tagged by mutagen's ``TrueAudio`` (ID3v2) keeps its tag. One with
    both is opened for its ID3v2 tag, like an MP3 with both, and gets each field written into
    both (:func:`field_keys`), as FFmpeg shows APEv2 and mutagen ID3v2.

    An ID3v2 tag is loaded as stored: its own version's frames, without the ID3v1 tag's fields
    (see :data:`_AS_STORED`).
    """
    try:
        audio = _load(path, cls) if cls is not None else mutagen.File(path)
        if (cls is None and isinstance(audio, TrueAudio)
                and (not isinstance(audio.tags, ID3) or not audio.tags.size)):
            audio = APEv2File(path)
        elif cls is None and isinstance(audio, ID3_FILES):
            audio = _load(path, type(audio))
    except mutagen.MutagenError as exc:
        untaggable = _UNTAGGABLE.get(Path(path).suffix.lower())
        if untaggable is not None:
            raise TagWriteError(f"writing tags into {untaggable} files is not supported") from exc
        raise TagWriteError(f"cannot read the tags: {exc}") from exc
    if audio is None:
        untaggable = _UNTAGGABLE.get(Path(path).suffix.lower())
        if untaggable is not None:
            raise TagWriteError(f"writing tags into {untaggable} files is not supported")
        raise TagWriteError("not a music file mutagen can tag")
    return audio


#: Extensions of containers FFmpeg decodes but mutagen (1.48) has no tag support for (it does
#: not recognise Wave64 or CAF and refuses RF64's root chunk): named in the skip reason, so a
#: person reads why rather than mutagen's parser message.
_UNTAGGABLE = {".w64": "Wave64", ".rf64": "RF64", ".caf": "Core Audio (CAF)"}


#: Classes whose tags are an ID3v2 tag (in front of a bare stream, or in a WAV/AIFF chunk).
ID3_FILES: tuple[type, ...] = (ID3FileType, WAVE, AIFF)

#: How ID3 tags are loaded for writing: as stored. mutagen's defaults would translate every
#: v2.2/v2.3 tag to v2.4 in memory (dropping RVAD, EQUA, TSIZ and TRDA and merging TYER, TDAT
#: and TIME into TDRC), so a save would lose those frames and a check comparing two such loads
#: could not see it; and they would add the ID3v1 tag's fields to the ID3v2 frames, which a
#: save would then write into the ID3v2 tag. Versions are converted only by
#: :func:`_convert_id3`, when a write changes the version.
_AS_STORED = {"translate": False, "load_v1": False}


def _load(path: str | Path, cls: type, **options) -> mutagen.FileType:
    """``cls(path)``, ID3 tags loaded as stored (:data:`_AS_STORED`)."""
    if issubclass(cls, ID3_FILES):
        return cls(path, **_AS_STORED, **options)
    return cls(path)


def _family(audio: mutagen.FileType) -> str:
    for cls in type(audio).__mro__:
        if cls in FAMILIES:
            return FAMILIES[cls]
    raise TagWriteError(f"writing tags into {type(audio).__name__} files is not supported")


def describe_file(path: str | Path) -> TaggedFile:
    """The tag family and ID3 version of ``path``; :class:`TagWriteError` if untaggable."""
    return describe(open_tags(path), path)


def describe(audio: mutagen.FileType, path: str | Path) -> TaggedFile:
    """:func:`describe_file` of a file already loaded with :func:`open_tags`."""
    family = _family(audio)
    version = None
    if family == "id3" and isinstance(audio.tags, ID3):
        version = audio.tags.version[1]
    return TaggedFile(os.fspath(path), family, version)


def field_key(family: str, field: str, id3_version: int = 4) -> str:
    """The key that holds earmark's ``field`` (``genre``, ``mood``, ``instrument``) in a family."""
    if field not in _KEYS:
        raise ValueError(f"unknown field {field!r}; choose one of {', '.join(FIELDS)}")
    name = "id3v23" if family == "id3" and id3_version == 3 else family
    return _KEYS[field][name]


def field_keys(audio: mutagen.FileType, field: str, id3_version: int = 4) -> list[str]:
    """Every key of a loaded file that holds earmark's ``field``, the family's own first.

    A WAV that carries a RIFF INFO chunk also gets its genre in the INFO item (``INFO:IGNR``),
    which is what FFmpeg-based players show; an MP3 or True Audio file whose ID3v2 tag has an
    APEv2 tag beside it gets the field in the APEv2 item too (``APEv2:Genre``), which is what
    foobar2000 and FFmpeg show. Neither block is created for a plain WAV or MP3: a new INFO
    chunk would hide the id3 chunk (title, artist...) from those players, a new APEv2 tag the
    ID3v2 one. A Broadcast WAV (a ``bext`` chunk) without INFO gets one created: FFmpeg already
    hides its id3 chunk, as it reads ID3 only from a WAV with no other metadata and a ``bext``
    chunk always gives some (``time_reference``), so the INFO item is the only place it shows.
    """
    keys = [field_key(_family(audio), field, id3_version)]
    if field in _INFO_ITEMS and isinstance(audio, WAVE) and (
            _info_items(audio.filename) is not None or _has_bext(audio.filename)):
        keys.append(INFO_PREFIX + _INFO_ITEMS[field])
    if _apev2_beside(audio) is not None:
        keys.append(APE_PREFIX + _KEYS[field]["apev2"])
    return keys


def side_key(key: str) -> bool:
    """Whether ``key`` is in a tag block beside the file's main one (RIFF INFO, an APEv2 tag
    beside ID3v2), which is written apart from the main block."""
    return key.startswith((INFO_PREFIX, APE_PREFIX))


def single_valued(key: str) -> bool:
    """Whether ``key`` holds one string only (a RIFF INFO item): several values must be joined
    into one before writing."""
    return key.startswith(INFO_PREFIX)


def write_version(tagged: TaggedFile, id3v23: bool) -> int:
    """ID3 minor version to save: 3 when asked, when the file already uses 2.3, or for an
    ID3v2.2 tag, else 4.

    Keeping an existing v2.3 tag as v2.3 avoids rewriting every other frame to v2.4 spellings
    (TYER -> TDRC) behind the user's back. mutagen cannot write ID3v2.2 and reads its frames as
    their v2.3 counterparts (TT2 as TIT2), so v2.3 is the version closest to a v2.2 tag.
    """
    return 3 if id3v23 or tagged.id3_version in (2, 3) else 4


def read_keys(audio: mutagen.FileType, keys: list[str]) -> dict[str, Values]:
    """Current values of ``keys`` in a loaded file (``None`` for absent keys)."""
    family = _family(audio)
    tags = audio.tags
    info = _info_items(audio.filename) if any(map(single_valued, keys)) else None
    ape = _apev2_beside(audio) if any(k.startswith(APE_PREFIX) for k in keys) else None
    out: dict[str, Values] = {}
    for key in keys:
        values: Values = None
        if single_valued(key):
            text = (info or {}).get(key.removeprefix(INFO_PREFIX))
            values = [text] if text is not None else None
        elif key.startswith(APE_PREFIX):
            item = key.removeprefix(APE_PREFIX)
            values = _ape_values(ape[item]) if ape is not None and item in ape else None
        elif tags is not None:
            if family == "id3":
                frame = tags.get(key)
                values = [str(t) for t in frame.text] if frame is not None else None
            elif family == "vorbis":
                values = list(tags[key]) if key in tags else None
            elif key not in tags:
                pass
            elif family == "asf":
                values = [str(v) for v in tags[key]]
            elif family == "apev2":
                values = _ape_values(tags[key])
            else:
                values = [_mp4_str(v) for v in tags[key]]
        out[key] = values
    return out


def shown_values(audio: mutagen.FileType, keys: list[str], id3_version: int = 4
                 ) -> dict[str, Values]:
    """What players show in ``keys`` of a loaded file, to plan by: :func:`read_keys`, with ID3
    genre references decoded as mutagen's ``TCON.genres`` does (``(17)`` and ``(17)Rock`` are
    ``Rock``), and, in an MP3 or True Audio file without an ID3v2 tag, the fields of its ID3v1
    tag (:func:`id3v1_values`), which players show then and a new ID3v2 tag takes along (see
    :func:`prepare_write`). Journals keep :func:`read_keys`' values, as stored."""
    out = read_keys(audio, keys)
    if isinstance(audio.tags, ID3):
        frame = audio.tags.get("TCON")
        if "TCON" in out and frame is not None:
            out["TCON"] = list(frame.genres) or None
    elif audio.tags is None and _family(audio) == "id3":
        v1 = id3v1_values(audio, id3_version)
        out = {key: v1.get(key) if values is None else values for key, values in out.items()}
    return out


#: Where a new ID3v2 tag keeps an ID3v1 comment: the plain comment (no description), which
#: players show as the comment; mutagen's ID3v1 reading names it "ID3v1 Comment".
ID3V1_COMMENT = "COMM::eng"


def id3v1_values(audio: mutagen.FileType, id3_version: int = 4) -> dict[str, list[str]]:
    """The fields of a loaded MP3's or True Audio file's ID3v1 tag as ID3v2 keys -> values, as
    mutagen reads them: ``TIT2``, ``TPE1``, ``TALB``, the year (``TDRC``, or ``TYER`` for
    ``id3_version`` 3), :data:`ID3V1_COMMENT`, ``TRCK`` and ``TCON`` (the genre's name); only
    the fields set. Empty when the file has no ID3v1 tag."""
    if not isinstance(audio, ID3FileType):
        return {}
    frames = ParseID3v1(_id3v1_bytes(audio.filename), v2_version=id3_version) or {}
    out: dict[str, list[str]] = {}
    for frame in frames.values():
        if isinstance(frame, COMM):
            out[ID3V1_COMMENT] = [str(t) for t in frame.text]
        elif isinstance(frame, TCON):
            out["TCON"] = list(frame.genres)
        else:
            out[frame.FrameID] = [str(t) for t in frame.text]
    return out


def _id3v1_carried(audio: mutagen.FileType, new: Mapping[str, Values],
                   id3_version: int) -> dict[str, list[str]]:
    """The ID3v1 fields a write that creates a file's ID3v2 tag adds to ``new``.

    FFmpeg-based players show the ID3v2 tag alone once there is one, so a new tag holding just
    earmark's fields would hide the song's title, artist... from them. The new tag gets the
    ID3v1 tag's fields that ``new`` does not set; they are written and journalled like
    ``new``'s, so undo removes them with the tag it created.
    """
    if audio.tags is not None or all(values is None for key, values in new.items()
                                     if not side_key(key)):
        return {}
    return {key: values for key, values in id3v1_values(audio, id3_version).items()
            if key not in new}


def _ape_values(value: object) -> list[str]:
    """An APEv2 item's values: a text item holds several, separated by NUL."""
    return list(value) if isinstance(value, APETextValue) else [str(value)]


def _apev2_beside(audio: mutagen.FileType) -> APEv2 | None:
    """The APEv2 tag beside a loaded ID3-family file's ID3v2 tag, or ``None``."""
    if not isinstance(audio, ID3FileType):
        return None
    try:
        return APEv2(audio.filename)
    except APENoHeaderError:
        return None


def _mp4_str(value: object) -> str:
    if isinstance(value, MP4FreeForm | bytes):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _set_keys(audio: mutagen.FileType, new: Mapping[str, Values]) -> None:
    """Set ``new`` in the loaded tags (keys of other blocks excepted: :func:`_write_side` writes
    them into the saved file)."""
    family = _family(audio)
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    for key, values in new.items():
        if side_key(key):
            continue
        if family == "id3":
            encoding = _text_encoding(tags.get(key), values)
            tags.delall(key)
            if values is not None:
                frame_id, _, desc = key.partition(":")
                if frame_id == "TXXX":
                    tags.add(TXXX(encoding=encoding, desc=desc, text=list(values)))
                elif frame_id == "COMM":  # key COMM:<description>:<language>
                    desc, _, lang = desc.rpartition(":")
                    tags.add(COMM(encoding=encoding, lang=lang, desc=desc, text=list(values)))
                else:
                    tags.add(Frames[frame_id](encoding=encoding, text=list(values)))
        elif family == "apev2":
            _set_ape_item(tags, key, values)
        elif family == "vorbis":
            _set_vorbis_comment(tags, key, values)
        elif family == "asf":
            # mutagen stores a list as repeated ASF attributes of one name.
            if key in tags:
                del tags[key]
            if values is not None:
                tags[key] = list(values)
        else:
            tags.pop(key, None)
            if values is not None:
                if key.startswith("----:"):
                    tags[key] = [MP4FreeForm(v.encode("utf-8")) for v in values]
                else:
                    tags[key] = list(values)


def _set_vorbis_comment(tags, key: str, values: Values) -> None:
    """Set (``None``: remove) a Vorbis comment, several values as repeated comments of one
    name. Names ignore case; comments already there keep their spelling and their place among
    the others (FFmpeg writes ``genre`` before ``title``), so undo puts back the same bytes."""
    wanted = key.lower()
    items = list(tags)  # (name, value) pairs in file order; tags[i] would look up a name
    at = next((i for i, (name, _) in enumerate(items) if name.lower() == wanted), None)
    name = key if at is None else items[at][0]
    kept = [item for item in items if item[0].lower() != wanted]
    at = len(kept) if at is None else at  # every comment before the first match is kept
    tags[:] = kept[:at] + [(name, value) for value in values or []] + kept[at:]


def _set_ape_item(tags: APEv2, item: str, values: Values) -> None:
    """Set (``None``: remove) an APEv2 item: one text item, several values NUL-separated. Item
    names ignore case; an item already there keeps its spelling (FFmpeg writes ``genre``), so
    undo puts back the same bytes."""
    name = next((key for key in tags.keys() if key.lower() == item.lower()), item)
    tags.pop(name, None)
    if values is not None:
        tags[name] = list(values)


def _text_encoding(old: object, values: Values) -> Encoding:
    """Text encoding for an ID3 frame replacing ``old`` (``None``: a new frame): the old frame's
    own when it can hold ``values`` (so undo, writing the old values over earmark's frame, puts
    back the same bytes: Latin-1 as iTunes and Winamp wrote, UTF-16 as Picard writes), else
    UTF-8 (which an ID3v2.3 save writes as UTF-16)."""
    encoding = getattr(old, "encoding", None)
    if encoding is None or values is None:
        return Encoding.UTF8
    if encoding == Encoding.LATIN1:
        try:
            for value in values:
                value.encode("latin-1")
        except UnicodeEncodeError:
            return Encoding.UTF8
    return encoding


def _digest(data: bytes) -> str:
    return hashlib.blake2b(bytes(data), digest_size=16).hexdigest()


def tag_snapshot(audio: mutagen.FileType, exclude: set[str] = frozenset(), *,
                 id3: ID3 | None = None) -> dict[str, list]:
    """Every tag and picture of a loaded file except ``exclude``, comparable across a save.

    ID3 frames are compared as stored (load the file with :func:`open_tags`): every field of
    each frame (its text encoding aside, which an ID3v2.3 save may change from UTF-8 to UTF-16
    without changing the text), frames mutagen keeps unparsed by their bytes, and a bare
    stream's ID3v1 tag by its bytes, the items of an APEv2 tag beside ID3v2 under
    :data:`APE_PREFIX`. ``id3`` stands for the file's ID3 tag (a copy converted
    to another version, see :func:`_id3_round_trip`). Pictures and other binary values are
    compared by digest.
    """
    family = _family(audio)
    snap: dict[str, list] = {}
    tags = audio.tags if id3 is None else id3
    if tags is not None:
        if family == "id3":
            snap.update(_id3_snapshot(tags, exclude))
        elif family == "vorbis":
            lowered = {k.lower() for k in exclude}
            for key, value in tags:
                if key.lower() not in lowered:
                    snap.setdefault(key.lower(), []).append(value)
        elif family == "asf":
            for key, attr in tags:
                if key not in exclude:
                    snap.setdefault(key, []).append(f"{type(attr).__name__} {_text(attr.value)}")
        elif family == "apev2":
            lowered = {k.lower() for k in exclude}  # APEv2 keys ignore case
            for key, value in tags.items():
                if key.lower() not in lowered:
                    snap[key.lower()] = [f"{value.kind} {_text(value.value)}"]
        else:
            for key, values in tags.items():
                if key in exclude:
                    continue
                values = values if isinstance(values, list) else [values]
                snap[key] = [_text(v) for v in values]
    pictures = getattr(audio, "pictures", None)
    if pictures:
        snap["<pictures>"] = [f"{p.type} {p.mime} {p.desc} {_digest(p.data)}" for p in pictures]
    if isinstance(audio, WAVE):
        for item, text in (_info_items(audio.filename) or {}).items():
            if INFO_PREFIX + item not in exclude:
                snap[INFO_PREFIX + item] = [text]
    ape = _apev2_beside(audio)
    if ape is not None:
        lowered = {k.lower() for k in exclude}
        for item, value in ape.items():
            if (APE_PREFIX + item).lower() not in lowered:
                snap[(APE_PREFIX + item).lower()] = [f"{value.kind} {_text(value.value)}"]
    if isinstance(audio, BARE_STREAMS):
        id3v1 = _id3v1_bytes(audio.filename)
        if id3v1:
            snap["ID3v1"] = [_digest(id3v1)]
    return {key: sorted(values) for key, values in snap.items()}


def _id3_snapshot(tags: ID3, exclude: set[str]) -> dict[str, list]:
    """:func:`tag_snapshot` of an ID3 tag: per key, each frame's fields (as ``repr`` lists them
    all) with the encoding made UTF-8, by digest after a readable form; each unparsed frame
    (``ID3.unknown_frames``, kept as bytes: frame id, size, flags, data) under its frame id."""
    snap: dict[str, list] = {}
    for key, frame in tags.items():
        if key in exclude:
            continue
        if hasattr(frame, "encoding"):
            frame = copy.copy(frame)
            frame.encoding = Encoding.UTF8
        snap.setdefault(key, []).append(f"{frame.pprint()} {_digest(repr(frame).encode())}")
    id_length = 3 if tags.version[:2] == (2, 2) else 4
    for raw in tags.unknown_frames:
        frame_id = raw[:id_length].decode("latin-1")
        if frame_id not in exclude:
            snap.setdefault(frame_id, []).append(f"unparsed {_digest(raw)}")
    return snap


def _id3v1_bytes(path: str | Path) -> bytes:
    """The ID3v1 tag at the end of a bare stream (usually 128 bytes, ``TAG``...), as mutagen
    finds it (and an ID3 save or delete removes it); ``b""`` when there is none."""
    with open(path, "rb") as fileobj:
        _, offset = find_id3v1(fileobj)
        if not offset:
            return b""
        fileobj.seek(offset, os.SEEK_END)
        return fileobj.read()


def _text(value: object) -> str:
    """A tag value as comparable text: binary payloads by digest."""
    return _digest(value) if isinstance(value, bytes) else str(value)


# RIFF INFO. mutagen (1.48) reads and writes only the id3 chunk of a WAV, so the INFO items are
# edited here, with mutagen's own RIFF chunk classes doing the reading, resizing and moving of
# the chunks that follow. Only the item layout is ours: a four-letter id whose data is one
# NUL-terminated string (UTF-8 as FFmpeg writes it; other tools' Latin-1 still reads).

def _info_list(riff: RiffFile) -> RiffListChunk | None:
    """The ``LIST`` chunk of type ``INFO`` in a RIFF/WAVE file, if any."""
    return next(info_chunks(riff), None) if riff.file_type == "WAVE" else None


def _info_items(path: str | Path) -> dict[str, str] | None:
    """Item id -> text of a WAV's RIFF INFO chunk; ``None`` when it has none or is unreadable."""
    try:
        return riff_info(path)
    except mutagen.MutagenError:
        return None


def _has_bext(path: str | Path) -> bool:
    """Whether a WAV has a Broadcast WAV ``bext`` chunk (``False`` when unreadable)."""
    try:
        with open(path, "rb") as handle:
            return any(chunk.id == "bext" for chunk in RiffFile(handle).root.subchunks())
    except (OSError, mutagen.MutagenError):
        return False


def _write_side(path: str, new: Mapping[str, Values]) -> None:
    """Write the keys of ``new`` that live beside the main tag block (:func:`side_key`) into the
    saved file at ``path``, after the main block was saved."""
    _write_info(path, new)
    ape = {key.removeprefix(APE_PREFIX): values for key, values in new.items()
           if key.startswith(APE_PREFIX)}
    if not ape:
        return
    try:
        tags = APEv2(path)
    except APENoHeaderError as exc:
        raise TagWriteError("the APEv2 tag is gone") from exc
    for item, values in ape.items():
        _set_ape_item(tags, item, values)
    with _keeping_id3v1(path):
        tags.save(path)


def _write_info(path: str, new: Mapping[str, Values]) -> None:
    """Write the RIFF INFO keys of ``new`` into the WAV at ``path`` (one value each, or
    ``None`` to remove the item).

    A missing INFO chunk is created at the end of the file (only a Broadcast WAV gets INFO keys
    without one, see :func:`field_keys`); an INFO chunk left empty at the end of the file is
    removed, so undoing the write that created it gives back the original bytes, and undoing
    the removal of a last chunk's last item re-creates it where it was. An empty INFO chunk
    elsewhere stays, as it was there before earmark.
    """
    new = {key.removeprefix(INFO_PREFIX): values for key, values in new.items()
           if single_valued(key)}
    if not new:
        return
    with open(path, "rb+") as fileobj:
        info = _info_list(RiffFile(fileobj))
        if info is None:
            if all(values is None for values in new.values()):
                return
            RiffFile(fileobj).root.insert_chunk("LIST", b"INFO")
            info = _info_list(RiffFile(fileobj))
        for item, values in new.items():
            if values is not None and len(values) != 1:
                raise TagWriteError(f"RIFF INFO {item} holds one value, not {len(values)}")
            chunk = next((c for c in info.subchunks() if c.id == item), None)
            if values is None:
                if chunk is not None:
                    chunk.delete()
                continue
            data = values[0].encode("utf-8") + b"\0"
            if chunk is None:
                info.insert_chunk(item, data)
            else:
                chunk.resize(len(data))
                chunk.write(data)
        riff = RiffFile(fileobj)
        info = _info_list(riff)
        if not info.subchunks() and riff.root.subchunks()[-1].offset == info.offset:
            info.delete()


def check_writable(path: str | Path) -> str | None:
    """Why ``path`` cannot be replaced by a new file, or ``None`` when it can.

    Replacing needs write permission on the file (the user must own the right to change it) and
    on its folder (to create the temporary copy and rename it). A file with several hard links
    is refused: the replacement is a new file, so only this name would get it and the other
    names would keep the old tags.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isfile(path):
        return "not a regular file"
    if not os.access(path, os.W_OK):
        return "read-only file (no write permission)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "read-only folder (cannot create a file beside it)"
    links = os.stat(path).st_nlink
    if links > 1:
        return (f"has {links} hard links; writing would separate them (the other names would "
                "keep the old tags), so it was left unchanged")
    return None


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_to_temp(path: str, st: os.stat_result) -> tuple[str, str]:
    """Copy ``path`` to a temporary file beside it: ``(temporary path, content hash of the
    bytes copied)``, so the file is read once and the hash describes exactly the copy.

    The copy's name, ``.earmark-<pid>.<random>.partial``, leaves the song's name out: any name
    the file system accepts (up to 255 bytes) must stay taggable, so the copy's name cannot be
    longer than a short fixed length."""
    fd, temp = tempfile.mkstemp(
        dir=os.path.dirname(path), prefix=f"{TEMP_PREFIX}{os.getpid()}.", suffix=TEMP_SUFFIX,
    )
    digest = content_digest()
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        os.chmod(temp, stat.S_IMODE(st.st_mode))
        try:
            os.chown(temp, st.st_uid, st.st_gid)
        except PermissionError:
            pass  # only root may give a file away; the file then belongs to the writer
    except BaseException:
        os.unlink(temp)
        raise
    return temp, digest.hexdigest()


#: Key of an MP4's ``gnre`` atom (iTunes' genre as an ID3v1 genre number); values are the
#: numbers as decimal strings, counted from 1 (``["18"]`` is Rock). mutagen reads the atom as
#: ``\xa9gen`` text and would save it back as text, so :func:`_open_split` keeps it apart.
GNRE = "gnre"


def container_form(audio: mutagen.FileType) -> str | None:
    """What holds a loaded file's tags: ``None`` when nothing does (no ID3 tag, no Vorbis
    comment block, no MP4 item list...), ``"ID3v2.3"`` / ``"ID3v2.4"`` for an ID3 tag (with
    its version), else the tag family (``"vorbis"``, ``"mp4"``...)."""
    if audio.tags is None:
        return None
    if isinstance(audio.tags, ID3):
        return "ID3v{}.{}".format(*audio.tags.version[:2])
    return _family(audio)


def _gnre_numbers(payload: bytes) -> list[int]:
    """Genre numbers in a ``gnre`` atom's payload: ``data`` atoms of 4-byte size, ``data``,
    4 bytes of version and flags, 4 of locale, then the number as a 16-bit big-endian integer.
    Hand-read because mutagen turns the numbers into names on load and keeps no numbers."""
    numbers, pos = [], 0
    while pos + 18 <= len(payload):
        size = struct.unpack(">I", payload[pos:pos + 4])[0]
        if size < 18 or payload[pos + 4:pos + 8] != b"data":
            break
        numbers.append(struct.unpack(">H", payload[pos + 16:pos + 18])[0])
        pos += size
    return numbers


def _gnre_payload(values: list[str]) -> bytes:
    """A ``gnre`` atom's payload holding ``values`` (decimal genre numbers), as iTunes writes
    it: one ``data`` atom per number, type 0 (implicit), locale 0."""
    try:
        numbers = [int(value) for value in values]
        return b"".join(Atom.render(b"data", struct.pack(">IIH", 0, 0, number))
                        for number in numbers)
    except (ValueError, struct.error) as exc:
        raise TagWriteError(f"a gnre atom holds genre numbers 0-65535, not {values!r}") from exc


def _open_split(path: str | Path, cls: type | None = None) -> mutagen.FileType:
    """:func:`open_tags`, with an MP4's ``gnre`` atoms kept apart from ``\xa9gen``.

    mutagen adds the names of ``gnre`` numbers to ``\xa9gen`` and writes them back as a text
    atom. Here they are taken out of ``\xa9gen`` again and the atoms' raw payload goes where
    mutagen keeps atoms it could not parse (``MP4Tags._failed_atoms``, its documented way of
    writing unknown atoms back as they were), so any save keeps the file's own atom and
    :data:`GNRE` reads and writes it.
    """
    audio = open_tags(path, cls)
    if not isinstance(audio, MP4) or audio.tags is None:
        return audio
    payloads = []
    with open(path, "rb") as fileobj:
        try:
            ilst = Atoms(fileobj).path(b"moov", b"udta", b"meta", b"ilst")[-1]
        except (AtomError, KeyError):
            return audio
        for atom in ilst.children:
            if atom.name == b"gnre":
                ok, data = atom.read(fileobj)
                if ok:
                    payloads.append(data)
    if not payloads:
        return audio
    genres = TCON.GENRES  # the ID3v1 list; gnre numbers count from 1
    names = [genres[n - 1] for p in payloads for n in _gnre_numbers(p) if 0 < n <= len(genres)]
    text = list(audio.tags.get("\xa9gen", []))
    for name in names:  # mutagen appended them in atom order; a text atom comes first
        del text[len(text) - 1 - text[::-1].index(name)]
    audio.tags.pop("\xa9gen", None)
    if text:
        audio.tags["\xa9gen"] = text
    audio.tags._failed_atoms[GNRE] = payloads
    return audio


def _read_split(audio: mutagen.FileType, keys: list[str]) -> dict[str, Values]:
    """:func:`read_keys` of a file opened with :func:`_open_split` (:data:`GNRE` included)."""
    out = read_keys(audio, [key for key in keys if key != GNRE])
    if GNRE in keys:
        failed = getattr(audio.tags, "_failed_atoms", {}).get(GNRE)
        out[GNRE] = [str(n) for p in failed for n in _gnre_numbers(p)] if failed else None
    return {key: out[key] for key in keys}


def current_tags(path: str | Path, keys: list[str]) -> tuple[dict[str, Values], str | None]:
    """What ``path`` holds now: ``keys``' values (as :func:`prepare_write` reports them, an
    MP4's :data:`GNRE` apart) and its :func:`container_form`; :class:`TagWriteError` if it
    cannot be read."""
    audio = _open_split(path)
    return _read_split(audio, keys), container_form(audio)


def _set_split(audio: mutagen.FileType, new: Mapping[str, Values]) -> None:
    """:func:`_set_keys` for a file opened with :func:`_open_split` (:data:`GNRE` included)."""
    _set_keys(audio, {key: values for key, values in new.items() if key != GNRE})
    if GNRE in new and isinstance(audio, MP4):
        if new[GNRE] is None:
            audio.tags._failed_atoms.pop(GNRE, None)
        else:
            audio.tags._failed_atoms[GNRE] = [_gnre_payload(new[GNRE])]


def _id3_round_trip(tags: ID3, id3_version: int, keep_frames: bool = False) -> ID3:
    """``tags`` as an ID3v2.``id3_version`` save by :func:`_save_tags` would leave them (see
    :func:`_convert_id3`), read back as stored; all in memory."""
    trial = copy.deepcopy(tags)
    _convert_id3(trial, id3_version, keep_frames)
    buffer = io.BytesIO()
    ID3.save(trial, buffer, v2_version=id3_version, v23_sep=None)
    buffer.seek(0)
    return ID3(buffer, **_AS_STORED)


#: Frames whose value mutagen's conversion to ID3v2.``n`` (``update_to_v24`` /
#: ``update_to_v23``) moves into another frame, by the version converted to; a frame that goes
#: without its successor appearing is dropped.
_SUCCESSORS = {4: {"TYER": "TDRC", "TDAT": "TDRC", "TIME": "TDRC", "TORY": "TDOR",
                   "IPLS": "TIPL"},
               3: {"TDRC": "TYER", "TDOR": "TORY", "TIPL": "IPLS", "TMCL": "IPLS"}}


def _mutagen_update(tags: ID3, id3_version: int) -> dict[str, object]:
    """Convert ``tags`` in place with mutagen's ``update_to_v2<id3_version>``; returns the
    frames it dropped without moving their value into another frame, by key."""
    before = dict(tags.items())
    if id3_version == 3:
        tags.update_to_v23()
    else:
        tags.update_to_v24()
    successors = _SUCCESSORS[id3_version]
    return {key: frame for key, frame in before.items() if key not in tags
            and not (successors.get(key) in tags and successors.get(key) not in before)}


def v24_only_frames(tags: ID3) -> list[str]:
    """Frames of ``tags`` that ID3v2.3 has no form for: frames only ID3v2.4 defines (``TSOP``,
    ``TSOA``, ``TDRL``, ``TMOO``...), which iTunes writes into v2.3 tags anyway and which
    mutagen's conversion to v2.3 drops (a ``TDRC`` date it moves into ``TYER``/``TDAT``)."""
    return sorted(_mutagen_update(copy.deepcopy(tags), 3))


def id3_conversion(tags: ID3, id3_version: int, exclude: set[str] = frozenset()) -> str | None:
    """What saving ``tags`` as ID3v2.``id3_version`` does to their frames (``exclude`` aside),
    in words: ``"TYER, TDAT -> TDRC; dropped: RVAD, TSIZ; rewritten: TCON"``; ``None`` when
    every frame stays as it is (always, when the tag already has that version).

    Found by trying the conversion :func:`_save_tags` makes, in memory: a frame that moves its
    value into another one, one that goes (also a frame mutagen keeps unparsed, which it writes
    only into a tag of the version it came from), one whose fields change (an old ``(17)``
    genre reference made ``Rock``). :class:`TagWriteError` when the conversion is refused (see
    :func:`_convert_id3`).
    """
    before = _id3_snapshot(tags, set(exclude))
    after = _id3_snapshot(_id3_round_trip(tags, id3_version), set(exclude))
    successors = _SUCCESSORS[id3_version]
    moved: dict[str, list[str]] = {}
    dropped = []
    for key in sorted(key for key in before if key not in after):
        successor = successors.get(key)
        if successor in after and successor not in before:
            moved.setdefault(successor, []).append(key)
        else:
            dropped.append(key)
    rewritten = sorted(key for key in before if key in after and before[key] != after[key])
    parts = [f"{', '.join(olds)} -> {new}" for new, olds in moved.items()]
    if dropped:
        parts.append(f"dropped: {', '.join(dropped)}")
    if rewritten:
        parts.append(f"rewritten: {', '.join(rewritten)}")
    return "; ".join(parts) or None


def _convert_id3(tags: ID3, id3_version: int, keep_frames: bool) -> None:
    """Make in-memory frames fit an ID3v2.``id3_version`` save; nothing when the tag already
    has that version, so a write into a v2.3 tag kept as v2.3 keeps every frame as stored.

    Otherwise mutagen's conversion: to v2.4, ``TYER``/``TDAT``/``TIME`` -> ``TDRC``, ``TORY``
    -> ``TDOR``, ``IPLS`` -> ``TIPL``, and ``RVAD``, ``TSIZ``, ``TRDA`` dropped; to v2.3, the
    reverse, refused (:class:`TagWriteError`) when it would drop frames only v2.4 defines
    (:func:`v24_only_frames`). A v2.3 tag that holds such frames, as iTunes writes them, is
    refused too: earmark writes into it only when told which version to keep.

    ``keep_frames`` is undo's mode, putting a tag back into the version it had: to v2.3 nothing
    is converted (the tag was v2.3 with v2.4 frames before ``--upgrade-id3``; a converted
    ``TDRC`` keeps its v2.4 frame) and to v2.4 the frames the conversion would drop stay.
    """
    source = tags.version[1]
    if keep_frames:
        if id3_version == 4 and source != 4:
            for frame in _mutagen_update(tags, 4).values():
                tags.add(frame)
        return
    if id3_version == 3:
        lost = v24_only_frames(tags)
        if lost and source == 3:
            raise TagWriteError(
                f"refused: this file's ID3v2.3 tag holds frames only ID3v2.4 defines "
                f"({', '.join(lost)}), as iTunes writes them, and earmark writes into such a "
                "tag only when told which version to keep; file left unchanged. `earmark tag "
                "--upgrade-id3` saves it as ID3v2.4, keeping every frame (undo puts back "
                "ID3v2.3)")
        if lost:
            raise TagWriteError(
                f"verification failed: writing ID3v2.3 would change other tags "
                f"({', '.join(lost)}: frames only ID3v2.4 defines, which an ID3v2.3 save "
                "drops); file left unchanged. `earmark tag --upgrade-id3` keeps such a tag "
                "as ID3v2.4")
    if source != id3_version:
        _mutagen_update(tags, id3_version)


def _save_tags(audio: mutagen.FileType, id3_version: int, keep_frames: bool,
               drop_empty_container: bool) -> None:
    """Save the edited tags of a loaded file (see :func:`prepare_write` for the options).

    A bare stream's ID3v1 tag is kept byte for byte (:func:`_keeping_id3v1`).
    """
    with _keeping_id3v1(audio.filename if isinstance(audio, BARE_STREAMS) else None):
        _save_container(audio, id3_version, keep_frames, drop_empty_container)


@contextlib.contextmanager
def _keeping_id3v1(path: str | None) -> Iterator[None]:
    """Put a bare stream's ID3v1 tag back byte for byte after a save that removed it.

    mutagen rewrites it on every ID3 save from the ID3v2 frames (losing the fields ID3v2 lacks,
    and changing the rest) and has no option to leave it alone, so it is removed with the save
    (``v1=0``), as an ID3 delete does; an APEv2 save truncates the file where its tag starts,
    taking the ID3v1 tag after it along. ``None``: a file that has none.
    """
    id3v1 = _id3v1_bytes(path) if path is not None else b""
    yield
    if id3v1 and not _id3v1_bytes(path):
        with open(path, "ab") as fileobj:
            fileobj.write(id3v1)


def _save_container(audio: mutagen.FileType, id3_version: int, keep_frames: bool,
                    drop_empty_container: bool) -> None:
    """:func:`_save_tags` without the ID3v1 tag's care."""
    tags = audio.tags
    if (drop_empty_container and tags is not None and not list(tags.keys())
            and not getattr(tags, "_failed_atoms", None)):
        if isinstance(audio, FLAC):
            # FLAC.delete() also drops the padding, moving the audio; taking out just the
            # block keeps mutagen's padding rule, which leaves the audio where it was.
            audio.metadata_blocks[:] = [b for b in audio.metadata_blocks if b is not tags]
            audio.tags = None
            audio.save()
        else:
            audio.delete()  # an ID3 delete removes the ID3v1 tag as well
    elif not isinstance(tags, ID3):
        audio.save()
    else:
        _convert_id3(tags, id3_version, keep_frames)
        # v23_sep=None keeps several values NUL-separated in v2.3 too, as ID3v2.4, foobar2000
        # and Picard write them and mutagen and FFmpeg read them; mutagen's default '/' would
        # turn two genres into one 'Rock/Alternative' and rewrite multi-value frames the file
        # already had. v1=0 removes the ID3v1 tag (WAV and AIFF have none).
        options = {"v1": 0} if isinstance(audio, ID3FileType) else {}
        audio.save(v2_version=id3_version, v23_sep=None, **options)


class _NoFrameTypes(dict):
    """A frame table for mutagen's ID3 parser that knows every frame id (its ID3v2.4 frame
    size detection counts known ids, so it must find the same frame boundaries as a real load)
    but gives no type to parse any with."""

    def __contains__(self, frame_id: object) -> bool:
        return frame_id in Frames

    def __getitem__(self, frame_id: str):
        raise KeyError(frame_id)


def _unread_frames(audio: mutagen.FileType) -> list[str]:
    """Frames stored in a loaded file's ID3v2 tag that mutagen skipped as unreadable (damaged,
    or encrypted), which any save would drop; their frame ids (v2.2 ids as v2.3 ones).

    mutagen's own parser lists every stored frame when it has no frame type to parse them
    with (:class:`_NoFrameTypes`): each is then kept as bytes in ``unknown_frames``; the ids of
    those are compared with what it read.
    """
    tags = audio.tags
    if not isinstance(tags, ID3) or not tags.size:
        return []
    stored = type(tags)(audio.filename, known_frames=_NoFrameTypes(), **_AS_STORED)
    id_length = 3 if tags.version[:2] == (2, 2) else 4
    read = {frame.FrameID for frame in tags.values()}
    read |= {raw[:id_length].decode("latin-1") for raw in tags.unknown_frames}
    missing = set()
    for raw in stored.unknown_frames:
        frame_id = raw[:id_length].decode("latin-1")
        old = Frames_2_2.get(frame_id.rstrip("\0"))
        if old is not None and old.__base__.__name__ in Frames:
            frame_id = old.__base__.__name__  # a v2.2 frame, read as its v2.3 counterpart
        if frame_id not in read:
            missing.add(frame_id)
    return sorted(missing)


#: Why a write into an ID3v2.2 tag (as old iTunes versions wrote them) needs a version chosen.
ID3V22_REFUSED = (
    "its tag is ID3v2.2 (as old iTunes versions wrote), which mutagen reads but cannot write; "
    "pass --upgrade-id3 to save this tag as ID3v2.3, where every frame keeps its value under "
    "its v2.3 name (TT2 -> TIT2...); undo then puts back the old values, in ID3v2.3")


def _undo_id3_version(original: mutagen.FileType, id3_version: int) -> int | None:
    """The ID3 version undo will save in: the file's own 2.3 or 2.4, else the one written."""
    if not isinstance(original.tags, ID3) and _family(original) != "id3":
        return None
    if isinstance(original.tags, ID3) and original.tags.version[:2] in ((2, 3), (2, 4)):
        return original.tags.version[1]
    return id3_version


def _check_restorable(trial: mutagen.FileType, old: Mapping[str, Values],
                      id3_version: int | None) -> None:
    """Refuse a write that undo could not reverse exactly.

    The old values are set again on the written copy's tags (``trial``, as
    :func:`_edit_and_verify` read it back; changed here, in memory only), which are saved in
    memory in the ID3 version undo would use and read back: each must read back as it was.
    Vorbis comments, MP4, ASF and APEv2 items hold any list of strings, and RIFF INFO items any
    one string, so only ID3 is tried.
    """
    old = {key: values for key, values in old.items() if not side_key(key)}
    if id3_version is None or not old:
        return
    _set_split(trial, old)
    trial.tags = _id3_round_trip(trial.tags, id3_version, keep_frames=True)
    got = _read_split(trial, list(old))
    for key, values in old.items():
        if got[key] != values:
            raise TagWriteError(
                f"refused: undo could not put back the old {key} {values!r} (it would read "
                f"back as {got[key]!r} in ID3v2.{id3_version}); file left unchanged")


def prepare_write(
    path: str | Path,
    new: Mapping[str, Values],
    *,
    id3_version: int | None = 4,
    expect_hash: str | None = None,
    keep_frames: bool = False,
    drop_empty_container: bool = False,
) -> PreparedWrite:
    """Make and verify a copy of ``path`` whose keys ``new`` hold the given values.

    Parameters
    ----------
    path : the music file (a symbolic link is followed: its target is what gets replaced).
    new : key -> values to write, ``None`` to delete the key. Keys come from :func:`field_key`,
        plus :data:`GNRE` for an MP4's numeric genre atom. Writing ``\xa9gen`` into an MP4 that
        has a ``gnre`` atom also removes that atom (the written genres replace it), and both
        keys' old values are reported, so undo puts back the same atom. A write that creates the
        ID3v2 tag of an MP3 or True Audio file with an ID3v1 tag also writes the ID3v1 fields
        into it (:func:`_id3v1_carried`), and reports them too.
    id3_version : 3 or 4, for MP3/WAV/AIFF; ``None`` keeps the file's own version (see
        :func:`write_version`). Another version than the tag's converts its frames (see
        :func:`_convert_id3` and :func:`id3_conversion`): 4 for an ID3v2.3 tag upgrades it
        (``earmark tag --upgrade-id3``), 3 for a v2.4 tag is ``--id3v23``. An ID3v2.2 tag,
        which mutagen reads but cannot write, is refused with ``None``: a version must be
        chosen for it.
    expect_hash : refuse unless the file's :func:`content_hash` is this (it changed since the
        caller looked at it).
    keep_frames : undo's mode for a tag put back into its old version: no frame is dropped
        or refused (see :func:`_convert_id3`). Saving ID3v2.3 otherwise refuses a tag holding
        frames that only ID3v2.4 defines (``TSOP``, ``TDRL``...; iTunes writes them into v2.3
        tags); True writes them into the v2.3 tag as they are, as after an ``--upgrade-id3``
        write.
    drop_empty_container : remove the whole tag container (ID3 tag or chunk, FLAC Vorbis
        comment block, MP4 item list) if it holds nothing once ``new`` is applied: how undo
        restores a file that had no tags before earmark created them. A container that still
        holds other tags is kept.

    Returns
    -------
    PreparedWrite
        Call :func:`commit_write` to put it in place or :func:`discard_write` to drop it.

    Raises
    ------
    TagWriteError
        With a user-facing reason; the original is untouched and no copy is left behind.
    """
    path = os.path.realpath(path)
    problem = check_writable(path)
    if problem:
        raise TagWriteError(problem)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise TagWriteError(f"cannot read: {exc.strerror or exc}") from exc
    original = _open_split(path)
    tagged = describe(original, path)
    if id3_version is None:
        if tagged.id3_version == 2:
            raise TagWriteError(ID3V22_REFUSED)
        id3_version = write_version(tagged, id3v23=False)
    unread = _unread_frames(original)
    if unread:
        raise TagWriteError(
            f"refused: mutagen cannot read the ID3 frames {', '.join(unread)} of this file "
            "(damaged or encrypted), so writing would drop them; file left unchanged")
    if (isinstance(original, MP4) and "\xa9gen" in new and GNRE not in new
            and _read_split(original, [GNRE])[GNRE] is not None):
        new = {**new, GNRE: None}
    new = {**_id3v1_carried(original, new, id3_version), **new}
    old = _read_split(original, list(new))
    try:
        temp, old_hash = _copy_to_temp(path, st)
    except OSError as exc:
        raise TagWriteError(f"cannot make a temporary copy: {exc.strerror or exc}") from exc
    try:
        if expect_hash is not None and old_hash != expect_hash:
            raise TagWriteError(
                "the file changed since it was scanned; run `earmark scan` first")
        written = _edit_and_verify(path, temp, original, new, id3_version,
                                   keep_frames, drop_empty_container)
        new_container = container_form(written)
        _check_restorable(written, old, _undo_id3_version(original, id3_version))
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        new_hash = content_hash(temp)
    except BaseException:
        os.unlink(temp)
        raise
    expected = {key: (list(v) if v is not None else None) for key, v in new.items()}
    return PreparedWrite(path, temp, old, expected, old_hash, new_hash,
                         container_form(original), new_container)


def _edit_and_verify(
    path: str, temp: str, original: mutagen.FileType, new: Mapping[str, Values],
    id3_version: int, keep_frames: bool = False, drop_empty_container: bool = False,
) -> mutagen.FileType:
    """Edit the copy, re-read and verify it; returns the copy as re-read (:func:`_open_split`).

    Tags are compared as stored (:func:`tag_snapshot`); when the ID3 version changes, the
    original's frames are compared as the conversion leaves them (:func:`_id3_round_trip`).
    """
    cls = type(original)
    edited = _open_split(temp, cls)
    try:
        _set_split(edited, new)
        _save_tags(edited, id3_version, keep_frames, drop_empty_container)
    except (mutagen.MutagenError, OSError, ValueError) as exc:
        raise TagWriteError(f"mutagen could not write the tags: {exc}") from exc
    try:
        _write_side(temp, new)
    except (mutagen.MutagenError, OSError) as exc:
        raise TagWriteError(f"could not write the tag block beside the main one: {exc}") from exc

    reread = _open_split(temp, cls)
    got = _read_split(reread, list(new))
    for key, values in new.items():
        want = list(values) if values is not None else None
        if got[key] != want:
            raise TagWriteError(f"verification failed: {key} reads back as {got[key]!r}, "
                                f"not {want!r}; file left unchanged")
    converted = None
    if isinstance(original.tags, ID3) and original.tags.version[1] != id3_version:
        converted = _id3_round_trip(original.tags, id3_version, keep_frames)
    before = tag_snapshot(original, set(new), id3=converted)
    after = tag_snapshot(reread, set(new))
    if before != after:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        raise TagWriteError(f"verification failed: writing would change other tags "
                            f"({', '.join(changed)}); file left unchanged")
    if GNRE not in new and _read_split(original, [GNRE]) != _read_split(reread, [GNRE]):
        raise TagWriteError("verification failed: writing would change other tags (gnre); "
                            "file left unchanged")
    if isinstance(original, BARE_STREAMS):
        same_audio = _stream_digest(path, original) == _stream_digest(temp, reread)
    else:
        try:
            same_audio = (check_audio(path, decode=False).audio_hash
                          == check_audio(temp, decode=False).audio_hash)
        except AudioError as exc:
            raise TagWriteError(f"verification failed: {exc.reason}; file left unchanged") from exc
    if not same_audio:
        raise TagWriteError("verification failed: the audio would change; file left unchanged")
    return reread


def _stream_digest(path: str, audio: mutagen.FileType) -> str:
    """Digest of a bare stream's bytes between its leading ID3v2 tag and the tags appended
    after its audio (see :data:`BARE_STREAMS`): everything in the file that is not a tag.

    The leading tag's size is mutagen's (``ID3.size``, 0 without one); the appended tags (APEv2,
    Lyrics3, ID3v1) are found by :func:`~earmark.audio.appended_tags_at`, as the audio check
    finds them.
    """
    start = audio.tags.size if isinstance(audio.tags, ID3) else 0
    stop = appended_tags_at(path)
    digest = content_digest()
    with open(path, "rb") as fileobj:
        if stop is None:
            stop = fileobj.seek(0, os.SEEK_END)
        fileobj.seek(start)
        remaining = max(stop - start, 0)
        while remaining:
            block = fileobj.read(min(remaining, 1 << 20))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


def commit_write(prepared: PreparedWrite) -> None:
    """Atomically replace the original with the verified copy and make the rename durable."""
    try:
        os.replace(prepared.temp_path, prepared.path)
        _fsync_folder(os.path.dirname(prepared.path))
    except OSError as exc:
        discard_write(prepared)
        raise TagWriteError(f"cannot replace the file: {exc.strerror or exc}") from exc


def discard_write(prepared: PreparedWrite) -> None:
    """Drop a prepared copy (the original was never touched)."""
    try:
        os.unlink(prepared.temp_path)
    except FileNotFoundError:
        pass


def write_keys(
    path: str | Path, new: Mapping[str, Values], *, id3_version: int | None = 4,
    expect_hash: str | None = None, keep_frames: bool = False,
    drop_empty_container: bool = False,
) -> PreparedWrite:
    """Prepare, verify and commit in one go (no journal); returns what was done. Parameters as
    for :func:`prepare_write`."""
    prepared = prepare_write(path, new, id3_version=id3_version, expect_hash=expect_hash,
                             keep_frames=keep_frames,
                             drop_empty_container=drop_empty_container)
    if prepared.unchanged:
        discard_write(prepared)
    else:
        commit_write(prepared)
    return prepared


def is_leftover(name: str) -> bool:
    """Whether a file name is one of our temporary copies (``.earmark-<pid>.<random>.partial``,
    or ``.earmark-<song name>.<pid>.<random>.partial`` as earlier versions named them)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def _writer_alive(name: str) -> bool:
    """Whether the process that made a temporary copy still runs (it may be writing it)."""
    core = name[len(TEMP_PREFIX):-len(TEMP_SUFFIX)]
    try:
        pid = int(core.rsplit(".", 2)[-2])  # the pid comes before the random part in both layouts
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def remove_leftovers(folder: str | Path) -> list[str]:
    """Delete temporary copies that interrupted runs left in ``folder``; returns their paths.

    Safe because the original is only ever replaced *by* such a copy, never the other way: a
    leftover is at best a duplicate of a file that already exists. Copies of a process that is
    still running (a concurrent ``earmark tag``) are left to it.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if (is_leftover(entry.name) and not _writer_alive(entry.name)
                and entry.is_file(follow_symlinks=False)):
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed
