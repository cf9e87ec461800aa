"""Scanning: folders of music in, catalog rows out, as a pipeline of small stages.

discover (walk folders, find audio files, note loops) → skip what is unchanged since the last
scan → inspect (probe, hash, decode once to verify, read tags; in worker processes, one per
core) → record (the one process that writes the catalog). Every file that fails any stage gets a
row with ``status = 'error'`` and a reason; the scan always goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

from earmark.audio import AUDIO_EXTENSIONS, check_audio, content_hash
from earmark.catalog import Catalog, tracks
from earmark.engine import Engine, default_engine
from earmark.engine.files import file_stat
from earmark.errors import AudioError, EarmarkError, FileNameError, UnreadableFileError
from earmark.tags.read import read_tags
from earmark.types import Outcome, ProgressFn

#: The problem :func:`find_audio_files` reports for a folder reached again through a link.
FOLDER_LOOP = "symbolic link loop (folder already scanned)"
#: The problem :func:`find_audio_files` reports for a root that does not exist.
ROOT_NOT_FOUND = "file or folder not found"


@dataclass(frozen=True)
class ScanItem(Outcome):
    """What a scan did with one path.

    ``status`` is one of ``added``, ``updated``, ``moved`` (recognised by content hash),
    ``unchanged``, ``failed`` (recorded with ``reason``) or ``skipped`` (outside the duration
    filter, or a folder loop; not recorded). ``warning`` is set for a file that is usable but
    made the decoder complain (e.g. a short last frame), as recorded in the catalog.
    """

    STATUSES: ClassVar[frozenset[str]] = frozenset(
        {"added", "updated", "moved", "unchanged", "failed", "skipped"})

    track_id: int | None = None
    moved_from: str | None = None
    warning: str | None = None


@dataclass
class ScanReport:
    """What :func:`scan` did.

    ``missing`` are catalog tracks under the roots whose files are gone; with ``prune``,
    ``pruned`` are those forgotten and ``not_pruned`` maps each empty folder (see
    :func:`not_pruned_reason`) to the missing tracks kept under it. ``duplicates`` are the
    catalog's groups of :func:`earmark.catalog.tracks.duplicates`.
    """

    items: list[ScanItem] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    not_pruned: dict[str, list[str]] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def still_missing(self) -> list[str]:
        """The :attr:`missing` tracks that are still in the catalog (not :attr:`pruned`)."""
        pruned = set(self.pruned)
        return [path for path in self.missing if path not in pruned]

    @property
    def found_nothing(self) -> bool:
        """Whether the scan had nothing to work on: no audio file under any root (each root
        missing or holding none) and no catalog track under them that went missing."""
        return not self.missing and all(
            item.status == "failed" and item.reason == ROOT_NOT_FOUND for item in self.items)

    @property
    def failed(self) -> list[ScanItem]:
        return [item for item in self.items if item.status == "failed"]

    @property
    def warned(self) -> list[ScanItem]:
        """Files recorded as usable whose decoding gave a warning."""
        return [item for item in self.items if item.warning]


def _first_time(path: str, seen: set[str]) -> bool:
    """Whether ``path`` (as an absolute name) is not in ``seen`` yet; adds it."""
    key = os.path.abspath(path)
    if key in seen:
        return False
    seen.add(key)
    return True


def find_audio_files(
    roots: Iterable[str | Path], extensions: frozenset[str] = AUDIO_EXTENSIONS
) -> Iterator[tuple[str, str | None]]:
    """Yield ``(path, problem)`` for every file with an audio extension under ``roots``.

    A folder below a root reached a second time, when a symbolic link led to it either time,
    is yielded with the problem :data:`FOLDER_LOOP` and not descended into again; a folder
    reached again otherwise (a root given twice, a root inside another root, in either order)
    is passed over silently, its files having been yielded already. A root that is a file is
    yielded as is, whatever its extension; a missing root is yielded with its problem; a name
    that is not valid UTF-8 with :data:`~earmark.catalog.tracks.NOT_UTF8`. Hidden files and folders
    under a root (names starting with ``.``: macOS AppleDouble ``._song.flac`` resource forks,
    ``.Trash-1000``, earmark's own ``.earmark-*`` temporary copies) are left out; a root is
    walked even when it is hidden itself. A root starting with ``~`` is the home folder's.
    Each file is yielded once, though named again (a file given beside its folder, a root
    given twice): else a command would scan, analyse or tag it twice.
    """
    seen_dirs: dict[tuple[int, int], str] = {}  # folder -> the path it was walked by
    seen_files: set[str] = set()
    for root in roots:
        root = os.path.expanduser(os.fspath(root))  # every command's PATHS come through here
        if not os.path.isdir(root):
            if _first_time(root, seen_files):
                yield root, _name_problem(root) if os.path.lexists(root) else ROOT_NOT_FOUND
            continue
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
            except OSError as exc:
                yield folder, f"cannot open folder: {exc.strerror}"
                continue
            key = (st.st_dev, st.st_ino)
            first = seen_dirs.get(key)
            if first is not None:
                if folder != root and (os.path.islink(folder) or os.path.islink(first)):
                    yield folder, FOLDER_LOOP
                continue
            seen_dirs[key] = folder
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError as exc:
                yield folder, f"cannot list folder: {exc.strerror}"
                continue
            subdirs = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False  # a link loop: treat as a file so it is reported below
                if is_dir:
                    subdirs.append(entry.path)
                elif os.path.splitext(entry.name)[1].lower() in extensions and \
                        _first_time(entry.path, seen_files):
                    yield entry.path, _name_problem(entry.path)
            stack.extend(reversed(subdirs))


def _name_problem(path: str) -> str | None:
    """Why the catalog cannot hold ``path`` (:func:`earmark.catalog.tracks.catalog_key`), if
    it cannot."""
    try:
        tracks.catalog_key(path)
    except FileNameError as exc:
        return exc.reason
    return None


def inspect_file(
    path: str,
    verify: bool = True,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
) -> dict:
    """Everything the catalog records about one file; never raises for a bad file.

    Returns a track record (see :data:`earmark.catalog.tracks.TRACK_FIELDS`) with
    ``status`` ``"ok"`` or ``"error"``, or ``{"path": ..., "skipped": reason}`` when the
    duration is outside ``[min_seconds, max_seconds]``.
    """
    record: dict = {"path": path, "status": "error"}
    try:
        st = file_stat(path)  # the driver's, for a file it sent as bytes (engine.files)
        record.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
        if not stat.S_ISREG(st.st_mode):
            record["error"] = "not a regular file"
            return record
        check = check_audio(path, decode=verify)
        info = check.info
        duration = check.decoded_seconds
        if min_seconds is not None and duration < min_seconds:
            return {"path": path, "skipped": f"shorter than {min_seconds:g} s ({duration:.1f} s)"}
        if max_seconds is not None and duration > max_seconds:
            return {"path": path, "skipped": f"longer than {max_seconds:g} s ({duration:.1f} s)"}
        record.update(
            content_hash=content_hash(path), audio_hash=check.audio_hash, duration=duration,
            sample_rate=info.sample_rate, channels=info.channels, codec=info.codec,
            container=info.container, bit_rate=info.bit_rate,
        )
        if check.problem:
            record["error"] = check.problem
        else:
            # A decoder that complained but gave all the audio leaves a warning, not a failure.
            record.update(status="ok", warning=check.warning)
        record.update(read_tags(path).track_columns())
    except AudioError as exc:
        record.update(status="error", error=exc.reason)
    except OSError as exc:
        record.update(status="error", error=UnreadableFileError.from_os_error(path, exc).reason)
    except Exception as exc:  # a bug or a library surprise must not end a whole scan
        # The file may already have looked fine ("ok") when the surprise came.
        record.update(status="error", error=unexpected_error(exc))
    return record


def _crashed(path: str, reason: str) -> dict:
    """The record of a file whose inspection killed its worker process (no size or time is
    kept, so the next scan tries it again)."""
    return {"path": path, "status": "error", "error": reason}


def unexpected_error(exc: BaseException) -> str:
    """The reason recorded for an exception nobody expected (a bug, a library surprise)."""
    return f"unexpected error: {type(exc).__name__}: {exc}"


def _unchanged(recorded: tuple[int | None, int | None] | None, path: str) -> bool:
    """Whether the file at ``path`` still has the ``(size, mtime_ns)`` recorded at its last
    scan (``None``: never scanned). Only metadata is read: never the file's content."""
    if recorded is None:
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    return recorded == (st.st_size, st.st_mtime_ns)


def scan(
    catalog: Catalog,
    roots: Iterable[str | Path],
    *,
    verify: bool = True,
    min_seconds: float | None = None,
    max_seconds: float | None = None,
    force: bool = False,
    prune: bool = False,
    engine: Engine | None = None,
    progress: ProgressFn | None = None,
) -> ScanReport:
    """Scan ``roots`` into ``catalog`` incrementally.

    Parameters
    ----------
    verify : decode every new or changed file once, to find truncated and damaged audio.
    min_seconds, max_seconds : only catalog files whose duration is in this range.
    force : re-inspect files even when their size and modification time are unchanged.
    prune : remove catalog rows under ``roots`` whose files are gone (and were not moved),
        except under a folder that is now empty (an unmounted drive's mount point): those
        are kept and listed in :attr:`ScanReport.not_pruned`.
    engine : where files are inspected (:meth:`~earmark.engine.Engine.map_files`); default
        :func:`~earmark.engine.default_engine` (processes on every core).
    progress : called as ``progress(done, total, path)`` after each file to inspect, and once
        as ``progress(0, total, "")`` before the first, so the total shows from the start.

    ``roots`` may start with ``~`` (the user's home). A root that does not exist is a
    ``failed`` item with the reason :data:`ROOT_NOT_FOUND`; :attr:`ScanReport.found_nothing`
    tells when the scan had nothing at all to work on.
    """
    roots = [tracks.normalise_path(r) for r in roots]
    report = ScanReport()
    todo: list[str] = []
    recorded = {} if force else _recorded_states(catalog, roots)
    # The roots are normalised, so every path found under them (a folder joined with a name)
    # already is.
    for path, problem in find_audio_files(roots):
        if problem == FOLDER_LOOP:
            report.items.append(ScanItem(path, "skipped", problem))
        elif problem:
            report.items.append(ScanItem(path, "failed", problem))
        elif not force and _unchanged(recorded.get(path), path):
            report.items.append(ScanItem(path, "unchanged"))
        else:
            todo.append(path)

    inspect = partial(inspect_file, verify=verify, min_seconds=min_seconds,
                      max_seconds=max_seconds)
    if progress is not None and todo:
        progress(0, len(todo), "")
    records = (engine or default_engine()).map_files(
        inspect, todo, chunksize=4, preload=("earmark.ingest.scan",), on_crash=_crashed)
    for done, record in enumerate(records, start=1):
        report.items.append(record_inspected(catalog, record))
        if progress is not None:
            progress(done, len(todo), record["path"])

    for root in roots:
        if not os.path.isdir(root):
            continue
        try:
            gone = tracks.missing_tracks(catalog, root)
        except FileNameError:
            continue  # no track can be recorded under it; its files were reported above
        report.missing.extend(gone)
        if prune:
            _prune(catalog, root, gone, report)
    report.duplicates = tracks.duplicates(catalog)
    return report


def _recorded_states(catalog: Catalog, roots: list[str]) -> dict[str, tuple]:
    """``{path: (size, mtime_ns)}`` of the catalog's tracks under ``roots``
    (:func:`earmark.catalog.tracks.file_states`); a root the catalog cannot name holds none."""
    recorded: dict[str, tuple] = {}
    for root in roots:
        try:
            recorded.update(tracks.file_states(catalog, root))
        except FileNameError:
            continue  # its files are reported as failed by find_audio_files
    return recorded


def not_pruned_reason(folder: str) -> str:
    """Why ``--prune`` kept the missing tracks under ``folder``, in words for the report."""
    return f"not pruned: {folder} is empty — is the drive unmounted?"


def _prune(catalog: Catalog, root: str, gone: list[str], report: ScanReport) -> None:
    """Forget the ``gone`` tracks under ``root``, except where the nearest folder of a track
    that still exists holds no files at all.

    An unmounted drive leaves its mount point as an empty folder, which looks exactly like a
    library whose every file was deleted; forgetting its tracks would lose their ratings and
    labels for good when it comes back. A song deleted from a folder that still holds other
    files, or a deleted album folder beside others, is pruned. (A folder emptied on purpose
    keeps its tracks until it is removed too; the report says so.)
    """
    empty: dict[str, bool] = {}
    forget = []
    for path in gone:
        folder = os.path.dirname(path)
        while folder != root and not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        if folder not in empty:
            empty[folder] = _holds_no_files(folder)
        if empty[folder]:
            report.not_pruned.setdefault(folder, []).append(path)
        else:
            forget.append(path)
    tracks.forget_tracks(catalog, forget)
    report.pruned.extend(forget)


def _holds_no_files(folder: str) -> bool:
    """Whether no file of any kind is anywhere under ``folder`` (sub-folders may exist; one
    that cannot be listed counts as holding none, so nothing is forgotten on a guess)."""
    return not any(files for _, _, files in os.walk(folder))


def record_inspected(catalog: Catalog, record: dict) -> ScanItem:
    """Record one result of :func:`inspect_file` in the catalog; never raises for the file.

    An unexpected exception while recording makes the file ``failed`` with the reason
    ``unexpected error: ...``; a row with that reason is kept when the catalog takes one, and
    without the file's size and time, so the next scan tries the file again.
    """
    try:
        return _record(catalog, record)
    except FileNameError as exc:
        return ScanItem(record["path"], "failed", exc.reason)
    except Exception as exc:  # one file's surprise must not end the batch
        reason = unexpected_error(exc)
        try:
            track_id = tracks.record_track(
                catalog, {"path": record["path"], "status": "error", "error": reason})
        except Exception:  # e.g. a path SQLite cannot store: the report still says why
            track_id = None
        return ScanItem(record["path"], "failed", reason, track_id)


def _record(catalog: Catalog, record: dict) -> ScanItem:
    path = record["path"]
    if "skipped" in record:
        return ScanItem(path, "skipped", record["skipped"])
    existing = tracks.get_track(catalog, path)
    moved_from = None
    if existing is None and record.get("content_hash"):
        moved = tracks.find_moved(catalog, record["content_hash"])
        if moved is not None:
            tracks.move_track(catalog, moved.id, path)
            moved_from = moved.path
    track_id = tracks.record_track(catalog, record)
    if record["status"] == "error":
        return ScanItem(path, "failed", record.get("error"), track_id)
    status = "moved" if moved_from else ("updated" if existing else "added")
    return ScanItem(path, status, None, track_id, moved_from, record.get("warning"))


def add_file(catalog: Catalog, path: str | Path, verify: bool = True) -> tracks.Track:
    """Make sure one file is in the catalog (scanning it if new or changed); returns its track.

    The track may have ``status = 'error'``; callers decide whether that is fatal for them.

    Raises
    ------
    FileNameError
        For a name the catalog cannot hold (not valid UTF-8), before the file is read.
    EarmarkError
        When no row could be recorded at all, with the reason.
    """
    path = tracks.catalog_key(path)
    existing = tracks.get_track(catalog, path)
    if existing is not None and _unchanged((existing.size, existing.mtime_ns), path):
        return existing
    item = record_inspected(catalog, inspect_file(path, verify))
    track = tracks.get_track(catalog, path) if item.track_id is not None else None
    if track is None:
        raise EarmarkError(f"{path}: {item.reason}")
    return track
