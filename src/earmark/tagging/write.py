"""Change tags in a music file without ever losing it: copy, edit, verify, fsync, replace.

A write never touches the original until a complete, verified copy exists beside it:

1. refuse files that cannot be replaced (no write permission on the file or its folder) or that
   differ from what the caller last saw (``expect_hash``);
2. copy the file to a hidden temporary file in the same folder (:data:`TEMP_PREFIX`, suffix
   :data:`TEMP_SUFFIX`, never an audio extension, so a scan cannot mistake it for music);
3. change only the requested keys in the copy with mutagen;
4. re-read the copy: the requested keys hold exactly the new values, every other tag and picture
   is unchanged, and the compressed audio packets hash the same as the original's;
5. fsync the copy, then (after the caller has journalled the change) ``os.replace`` it over the
   original and fsync the folder.

Any failure before step 5 removes the copy and leaves the original byte-identical. A process
killed at any moment leaves either the old or the new file plus, at worst, a temporary file that
:func:`remove_leftovers` deletes on the next run.

Tags are addressed by *keys* in a format's own vocabulary (``"TCON"``, ``"TXXX:MOOD"``,
``"GENRE"``, ``"\\xa9gen"``); :func:`field_key` maps earmark's fields to them. Values are always
lists of strings; ``None`` means the key is absent.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TXXX, Frames
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from earmark.audio import check_audio
from earmark.catalog.tracks import content_digest, content_hash
from earmark.errors import AudioError, TagWriteError

TEMP_PREFIX = ".earmark-"
TEMP_SUFFIX = ".partial"

#: Tag family per mutagen file class: where each family keeps its text tags.
FAMILIES: dict[type, str] = {
    MP3: "id3", WAVE: "id3", AIFF: "id3",
    FLAC: "vorbis", OggVorbis: "vorbis", OggOpus: "vorbis",
    MP4: "mp4",
}

#: earmark field -> key per family. ``TMOO`` exists only in ID3v2.4, so v2.3 uses a TXXX frame
#: (mutagen drops v2.4-only frames when saving v2.3).
_KEYS: dict[str, dict[str, str]] = {
    "genre": {"id3": "TCON", "id3v23": "TCON", "vorbis": "GENRE", "mp4": "\xa9gen"},
    "mood": {"id3": "TMOO", "id3v23": "TXXX:MOOD", "vorbis": "MOOD",
             "mp4": "----:com.apple.iTunes:MOOD"},
    "instrument": {"id3": "TXXX:INSTRUMENT", "id3v23": "TXXX:INSTRUMENT",
                   "vorbis": "INSTRUMENT", "mp4": "----:com.apple.iTunes:INSTRUMENT"},
}
FIELDS = tuple(_KEYS)

Values = list[str] | None


@dataclass(frozen=True)
class TaggedFile:
    """A music file as the tag writer sees it.

    ``family`` is ``"id3"``, ``"vorbis"`` or ``"mp4"``; ``id3_version`` is the minor version of
    an existing ID3v2 tag (3 or 4), ``None`` when there is none (or for other families).
    """

    path: str
    family: str
    id3_version: int | None


@dataclass(frozen=True)
class PreparedWrite:
    """A verified copy of ``path`` with the new tags, waiting to replace it.

    ``old`` and ``new`` map every requested key to its values before and after (``None`` =
    absent); ``old_hash`` / ``new_hash`` are :func:`content_hash` of the file before and of the
    copy. ``unchanged`` is true when the copy would be identical in tags (nothing to do).
    """

    path: str
    temp_path: str
    old: dict[str, Values]
    new: dict[str, Values]
    old_hash: str
    new_hash: str

    @property
    def unchanged(self) -> bool:
        return self.old == self.new


def open_tags(path: str | Path, cls: type | None = None) -> mutagen.FileType:
    """Load a file with mutagen (as class ``cls`` when given); :class:`TagWriteError` if not."""
    try:
        audio = cls(path) if cls is not None else mutagen.File(path)
    except mutagen.MutagenError as exc:
        raise TagWriteError(f"cannot read the tags: {exc}") from exc
    if audio is None:
        raise TagWriteError("not a music file mutagen can tag")
    return audio


def _family(audio: mutagen.FileType) -> str:
    family = FAMILIES.get(type(audio))
    if family is None:
        raise TagWriteError(f"writing tags into {type(audio).__name__} files is not supported")
    return family


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


def write_version(tagged: TaggedFile, id3v23: bool) -> int:
    """ID3 minor version to save: 3 when asked or when the file already uses 2.3, else 4.

    Keeping an existing v2.3 tag as v2.3 avoids rewriting every other frame to v2.4 spellings
    (TYER -> TDRC) behind the user's back.
    """
    return 3 if id3v23 or tagged.id3_version == 3 else 4


def read_keys(audio: mutagen.FileType, keys: list[str]) -> dict[str, Values]:
    """Current values of ``keys`` in a loaded file (``None`` for absent keys)."""
    family = _family(audio)
    tags = audio.tags
    out: dict[str, Values] = {}
    for key in keys:
        values: Values = None
        if tags is not None:
            if family == "id3":
                frame = tags.get(key)
                values = [str(t) for t in frame.text] if frame is not None else None
            elif family == "vorbis":
                values = list(tags[key]) if key in tags else None
            elif key in tags:
                values = [_mp4_str(v) for v in tags[key]]
        out[key] = values
    return out


def _mp4_str(value: object) -> str:
    if isinstance(value, MP4FreeForm | bytes):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _set_keys(audio: mutagen.FileType, new: Mapping[str, Values]) -> None:
    family = _family(audio)
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    for key, values in new.items():
        if family == "id3":
            tags.delall(key)
            if values is not None:
                frame_id, _, desc = key.partition(":")
                if frame_id == "TXXX":
                    tags.add(TXXX(encoding=3, desc=desc, text=list(values)))
                else:
                    tags.add(Frames[frame_id](encoding=3, text=list(values)))
        elif family == "vorbis":
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


def _digest(data: bytes) -> str:
    return hashlib.blake2b(bytes(data), digest_size=16).hexdigest()


def tag_snapshot(audio: mutagen.FileType, exclude: set[str] = frozenset()) -> dict[str, list]:
    """Every tag and picture of a loaded file except ``exclude``, comparable across a save.

    ID3 frames are compared by their displayed value (so a v2.3 round trip, which changes text
    encodings, still compares equal) plus a digest of any binary payload; pictures and other
    binary values by digest.
    """
    family = _family(audio)
    snap: dict[str, list] = {}
    tags = audio.tags
    if tags is not None:
        if family == "id3":
            for key, frame in tags.items():
                if key in exclude:
                    continue
                value = frame.pprint()
                if hasattr(frame, "data"):
                    value += " " + _digest(frame.data)
                snap.setdefault(key, []).append(value)
        elif family == "vorbis":
            lowered = {k.lower() for k in exclude}
            for key, value in tags:
                if key.lower() not in lowered:
                    snap.setdefault(key.lower(), []).append(value)
        else:
            for key, values in tags.items():
                if key in exclude:
                    continue
                values = values if isinstance(values, list) else [values]
                snap[key] = [_digest(v) if isinstance(v, bytes) else str(v) for v in values]
    pictures = getattr(audio, "pictures", None)
    if pictures:
        snap["<pictures>"] = [f"{p.type} {p.mime} {p.desc} {_digest(p.data)}" for p in pictures]
    return {key: sorted(values) for key, values in snap.items()}


def check_writable(path: str | Path) -> str | None:
    """Why ``path`` cannot be replaced by a new file, or ``None`` when it can.

    Replacing needs write permission on the file (the user must own the right to change it) and
    on its folder (to create the temporary copy and rename it).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isfile(path):
        return "not a regular file"
    if not os.access(path, os.W_OK):
        return "read-only file (no write permission)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "read-only folder (cannot create a file beside it)"
    return None


def _fsync_folder(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_to_temp(path: str, st: os.stat_result) -> tuple[str, str]:
    """Copy ``path`` to a temporary file beside it: ``(temporary path, content hash of the
    bytes copied)``, so the file is read once and the hash describes exactly the copy."""
    fd, temp = tempfile.mkstemp(
        dir=os.path.dirname(path),
        prefix=f"{TEMP_PREFIX}{os.path.basename(path)}.{os.getpid()}.", suffix=TEMP_SUFFIX,
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


def prepare_write(
    path: str | Path,
    new: Mapping[str, Values],
    *,
    id3_version: int | None = 4,
    expect_hash: str | None = None,
) -> PreparedWrite:
    """Make and verify a copy of ``path`` whose keys ``new`` hold the given values.

    Parameters
    ----------
    path : the music file (a symbolic link is followed: its target is what gets replaced).
    new : key -> values to write, ``None`` to delete the key. Keys come from :func:`field_key`.
    id3_version : 3 or 4, for MP3/WAV/AIFF; ``None`` keeps the file's own version (see
        :func:`write_version`).
    expect_hash : refuse unless the file's :func:`content_hash` is this (it changed since the
        caller looked at it).

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
    original = open_tags(path)
    if id3_version is None:
        id3_version = write_version(describe(original, path), id3v23=False)
    old = read_keys(original, list(new))
    try:
        temp, old_hash = _copy_to_temp(path, st)
    except OSError as exc:
        raise TagWriteError(f"cannot make a temporary copy: {exc.strerror or exc}") from exc
    try:
        if expect_hash is not None and old_hash != expect_hash:
            raise TagWriteError(
                "the file changed since it was scanned; run `earmark scan` first")
        _edit_and_verify(path, temp, original, new, id3_version)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        new_hash = content_hash(temp)
    except BaseException:
        os.unlink(temp)
        raise
    expected = {key: (list(v) if v is not None else None) for key, v in new.items()}
    return PreparedWrite(path, temp, old, expected, old_hash, new_hash)


def _edit_and_verify(
    path: str, temp: str, original: mutagen.FileType, new: Mapping[str, Values],
    id3_version: int,
) -> None:
    cls = type(original)
    family = _family(original)
    edited = open_tags(temp, cls)
    try:
        _set_keys(edited, new)
        if family == "id3":
            if id3_version == 3:
                # mutagen keeps frames as v2.4 in memory; converting is the caller's job
                # (frames v2.3 cannot hold are dropped, which the check below refuses).
                edited.tags.update_to_v23()
            edited.save(v2_version=id3_version)
        else:
            edited.save()
    except (mutagen.MutagenError, OSError, ValueError) as exc:
        raise TagWriteError(f"mutagen could not write the tags: {exc}") from exc

    reread = open_tags(temp, cls)
    got = read_keys(reread, list(new))
    for key, values in new.items():
        want = list(values) if values is not None else None
        if got[key] != want:
            raise TagWriteError(f"verification failed: {key} reads back as {got[key]!r}, "
                                f"not {want!r}; file left unchanged")
    before = tag_snapshot(original, set(new))
    after = tag_snapshot(reread, set(new))
    if before != after:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        raise TagWriteError(f"verification failed: writing would change other tags "
                            f"({', '.join(changed)}); file left unchanged")
    try:
        if check_audio(path, decode=False).audio_hash != check_audio(temp, decode=False).audio_hash:
            raise TagWriteError("verification failed: the audio would change; file left unchanged")
    except AudioError as exc:
        raise TagWriteError(f"verification failed: {exc.reason}; file left unchanged") from exc


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
    expect_hash: str | None = None,
) -> PreparedWrite:
    """Prepare, verify and commit in one go (no journal); returns what was done."""
    prepared = prepare_write(path, new, id3_version=id3_version, expect_hash=expect_hash)
    if prepared.unchanged:
        discard_write(prepared)
    else:
        commit_write(prepared)
    return prepared


def is_leftover(name: str) -> bool:
    """Whether a file name is one of our temporary copies
    (``.earmark-<name>.<pid>.<random>.partial``)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def _writer_alive(name: str) -> bool:
    """Whether the process that made a temporary copy still runs (it may be writing it)."""
    try:
        pid = int(name.rsplit(".", 3)[1])
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
