"""Ratings in and out: import from folders, playlists, file tags or an export; export CSV/JSON;
read and write M3U/M3U8 playlists.

Importing adds unknown files to the catalog (:func:`earmark.ingest.scan.add_file`). It is
idempotent: a song whose current rating already says the same thing is left alone, so
importing the same folder twice does not double its weight in the taste model.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, ClassVar, Protocol
from urllib.parse import unquote, urlparse

from earmark.catalog import Catalog, ratings, tracks
from earmark.errors import EarmarkError, InputFileError
from earmark.ingest.scan import add_file, find_audio_files, scan
from earmark.ingest.textfiles import read_text
from earmark.tags.read import read_tags
from earmark.types import Outcome, ProgressFn

#: Sub-folder names (case-insensitive) understood by a folder import, and what they mean.
FOLDER_VERDICTS = {
    "good": "like", "like": "like", "liked": "like", "likes": "like", "favourites": "like",
    "favorites": "like", "bad": "dislike", "dislike": "dislike", "disliked": "dislike",
    "dislikes": "dislike",
}
PLAYLIST_EXTENSIONS = (".m3u", ".m3u8")
EXPORT_FIELDS = ("path", "verdict", "stars", "source", "rated_at", "artist", "title")


@dataclass(frozen=True)
class ImportItem(Outcome):
    """What a ratings import did with one file: ``status`` is ``rated``, ``unchanged`` (already
    rated the same), ``unrated`` (nothing to import, e.g. no rating tag) or ``failed``."""

    STATUSES: ClassVar[frozenset[str]] = frozenset({"rated", "unchanged", "unrated", "failed"})

    verdict: str | None = None
    stars: int | None = None
    replaced: str | None = None  # the earlier, different opinion this rating overrides


@dataclass
class RatingsImportReport:
    """What a ratings import did: one item per file or entry, and ``notes`` for the reader
    (e.g. that the files' rating tags use several scales)."""

    kind: str
    items: list[ImportItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def failed(self) -> list[ImportItem]:
        return [item for item in self.items if item.status == "failed"]

    def rated_kinds(self) -> dict[str, int]:
        """How many songs were rated ``liked`` (like, 4-5 stars), ``disliked`` (dislike, 1-2
        stars) and ``neither`` (3 stars, skip): ``{kind: songs}``, every kind present."""
        kinds = {"liked": 0, "disliked": 0, "neither": 0}
        names = {1: "liked", 0: "disliked", None: "neither"}
        for item in self.items:
            if item.status == "rated":
                kinds[names[ratings.rating_label(item.verdict, item.stars)]] += 1
        return kinds


# --- playlists ---------------------------------------------------------------------------------


@dataclass
class PlaylistEntry:
    """One song line of a playlist: ``path`` is the file it names (resolved when found; as
    written, made absolute, when not; ``None`` for a URL), ``problem`` why it cannot be used."""

    line: int
    text: str
    path: str | None
    problem: str | None = None


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:)?[\\/]")


def _candidates(text: str) -> list[str]:
    """The ways other tools may have written a path: as is, without stray spaces, with
    Windows ``\\`` separators, percent-encoded."""
    out: list[str] = []
    for form in (text, text.strip()):
        for variant in (form, form.replace("\\", "/"), unquote(form),
                        unquote(form).replace("\\", "/")):
            if variant and variant not in out:
                out.append(variant)
    return out


#: How many folders above a playlist's own the tail of a Windows path is looked for in: media
#: players keep playlists in ``<library>/Playlists/`` (MusicBee, foobar2000), and a nested
#: ``Playlists/Mine/`` is about as deep as they go.
PLAYLIST_PARENT_LEVELS = 2


def _resolve(base: Path, text: str) -> str | None:
    """The existing file ``text`` names, relative to the playlist's folder ``base``.

    A Windows path with a drive or from a drive's root (``D:\\Music\\Artist\\a.flac``,
    ``\\Music\\a.flac``) cannot be found as written on this system; its trailing parts are
    tried instead, longest first: against ``base`` (``Music/Artist/a.flac``, ... ``a.flac``),
    and, when they keep a folder (``Artist/a.flac``), against the folders up to
    :data:`PLAYLIST_PARENT_LEVELS` above ``base``. That finds the songs of a library copied over
    with its playlists, also when the playlists sit in a ``Playlists/`` folder beside the
    artists' folders; a bare file name is not looked for above ``base``, where it could be a
    namesake.
    """
    candidates = _candidates(text)
    for candidate in candidates:
        if os.path.isfile(base / candidate):
            return tracks.normalise_path(base / candidate)
    folders = [base, *list(base.resolve().parents)[:PLAYLIST_PARENT_LEVELS]]
    for candidate in candidates:
        if _WINDOWS_ABSOLUTE.match(candidate) and not os.path.isabs(text):
            parts = [p for p in re.split(r"[\\/]", candidate[2:] if candidate[1:2] == ":"
                                         else candidate) if p]
            for start in range(len(parts)):
                for folder in folders if start < len(parts) - 1 else folders[:1]:
                    tail = folder.joinpath(*parts[start:])
                    if tail.is_file():
                        return tracks.normalise_path(tail)
    return None


def read_playlist(path: str | Path, notes: list[str] | None = None) -> list[PlaylistEntry]:
    """Every song entry of an M3U/M3U8 playlist, resolved against the playlist's folder.

    ``#`` lines (``#EXTM3U``, ``#EXTINF``) are not entries, except a comment that names an
    existing file (``#1 hit.flac``, written by a tool that does not escape it). ``file://``
    URLs are turned into paths; other URLs (streams) are entries with a problem; Windows
    paths and percent-encoded names are matched as :func:`_resolve` says. The text is decoded
    as :mod:`earmark.ingest.textfiles` says (UTF-8, UTF-16 with a byte-order mark, else
    Windows-1252, which old players wrote); a guessed encoding is appended to ``notes``.
    Raises :class:`~earmark.errors.InputFileError` for a file that is not text.
    """
    path = Path(path)
    text, warning = read_text(path)
    if warning and notes is not None:
        notes.append(warning)
    base = path.parent
    entries = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            found = None if line.startswith("#EXT") else _resolve(base, line)
            if found is not None:
                entries.append(PlaylistEntry(number, line, found))
            continue
        url = urlparse(line.strip())
        if url.scheme == "file":
            name = unquote(url.path)
            if re.match(r"^/[A-Za-z]:/", name):  # file:///C:/Music/a.flac
                name = name[1:]
        elif len(url.scheme) > 1:  # one letter is a Windows drive, not a URL scheme
            entries.append(PlaylistEntry(number, line, None, "a URL, not a file"))
            continue
        else:
            name = line
        found = _resolve(base, name)
        if found is None:
            entries.append(PlaylistEntry(number, line, tracks.normalise_path(base / name.strip()),
                                         "file not found"))
        else:
            entries.append(PlaylistEntry(number, line, found))
    return entries


def read_m3u(path: str | Path) -> list[str]:
    """The file paths an M3U/M3U8 playlist lists (see :func:`read_playlist`), URLs left out;
    entries whose file is missing are included as written, made absolute."""
    return [entry.path for entry in read_playlist(path) if entry.path is not None]


class PlaylistSong(Protocol):
    """What a playlist entry needs of a song: a catalog :class:`~earmark.catalog.tracks.Track`,
    or a song that is not in the catalog (:class:`earmark.taste.recommend.QuerySong`)."""

    path: str
    duration: float | None
    title: str | None
    artist: str | None


def m3u_text(songs: Iterable[PlaylistSong], folder: str | Path | None = None
             ) -> tuple[str, list[tuple[str, str]]]:
    """An extended M3U8 playlist of ``songs`` as text, with paths relative to ``folder`` (the
    playlist file's own folder), or absolute when ``folder`` is ``None`` (a playlist handed
    out for download, whose folder is not known).

    A relative name starting with ``#`` (or a space) is written as ``./#...`` so that players
    do not take it for a comment; a name holding a line break cannot be written in M3U at all
    and is left out.

    Parameters
    ----------
    songs : catalog tracks (or other :class:`PlaylistSong`); each is written with its
        ``duration`` (seconds), ``artist`` and ``title``, as
        ``#EXTINF:<whole seconds>,<artist> - <title>`` (the file name stands in for a missing
        title).

    Returns
    -------
    ``(text, left_out)``: the playlist, and ``(path, reason)`` of each song left out.
    """
    base = None if folder is None else os.path.abspath(folder)
    lines = ["#EXTM3U"]
    left_out = []
    for song in songs:
        if "\n" in song.path or "\r" in song.path:
            left_out.append((song.path, "its name holds a line break, which M3U cannot hold"))
            continue
        duration = song.duration
        seconds = int(round(duration)) if duration else -1
        title = " ".join(_LINE_BREAK.split(tracks.song_name(song)))
        lines.append(f"#EXTINF:{seconds},{title}")
        if base is None:
            lines.append(song.path)
            continue
        relative = os.path.relpath(song.path, base)
        if relative[:1] in ("#", " ", "\t"):
            relative = os.path.join(".", relative)
        lines.append(relative)
    return "\n".join(lines) + "\n", left_out


def write_m3u(path: str | Path, songs: Iterable[PlaylistSong]) -> list[tuple[str, str]]:
    """Write :func:`m3u_text` of ``songs`` to ``path`` (UTF-8, atomically), with paths
    relative to its own folder.

    Returns
    -------
    ``(path, reason)`` of each song left out.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text, left_out = m3u_text(songs, path.parent)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return left_out


# --- import ------------------------------------------------------------------------------------


def stars_from_fraction(value: float | None) -> int | None:
    """A tag rating scaled to 0..1 (n stars = n / 5, see
    :func:`earmark.tags.read.rating_fraction`) -> 1..5 stars, halves rounded up (50 % and 2.5
    stars are 3 stars, the middle of the scale); 0 or ``None`` means "not rated"."""
    if value is None or value <= 0:
        return None
    return max(1, min(5, math.floor(value * 5 + 0.5)))


def rate_file(
    catalog: Catalog,
    path: str | Path,
    verdict: str | None,
    stars: int | None,
    source: str,
    rated_at: float | None = None,
    once_per_source: bool = False,
) -> ImportItem:
    """Add ``path`` to the catalog if needed and rate it, unless its current rating agrees.

    With ``once_per_source`` (imports), a rating ``source`` already gave is not given again
    even if a newer rating from elsewhere replaced it: importing the same folder twice must
    not undo what the listener said since. Never raises for a bad file: the problem is the
    item's ``reason``.
    """
    path = tracks.normalise_path(path)
    if not os.path.exists(path):
        return ImportItem(path, "failed", "file not found", verdict=verdict, stars=stars)
    try:
        track = add_file(catalog, path)
    except (OSError, EarmarkError) as exc:
        return ImportItem(path, "failed", str(exc), verdict=verdict, stars=stars)
    if track.status != "ok":
        return ImportItem(path, "failed", f"not playable: {track.error}", verdict=verdict,
                          stars=stars)
    history = ratings.rating_history(catalog, track.id)
    previous = ratings.latest_opinion(history)
    said = [previous]
    if once_per_source:
        said += [r for r in history if r.source == source][-1:]
    if any(r is not None and (r.verdict, r.stars) == (verdict, stars) for r in said):
        return ImportItem(path, "unchanged", verdict=verdict, stars=stars)
    if verdict == "skip" and previous is not None:
        return ImportItem(path, "unchanged", "a skip does not replace an earlier rating",
                          verdict=previous.verdict, stars=previous.stars)
    ratings.add_rating(catalog, track.id, verdict, stars, source=source, rated_at=rated_at)
    replaced = None
    if previous is not None and previous.label != ratings.rating_label(verdict, stars):
        replaced = previous.describe()
    return ImportItem(path, "rated", verdict=verdict, stars=stars, replaced=replaced)


def _run(catalog: Catalog, kind: str, jobs: list[tuple], progress: ProgressFn | None
         ) -> RatingsImportReport:
    """``jobs`` are ``(path, verdict, stars, rated_at)`` tuples.

    New or changed files are scanned first, in parallel (:func:`earmark.ingest.scan.scan`), so
    rating them afterwards finds them already in the catalog.
    """
    present = [path for path, *_ in jobs if os.path.isfile(path)]
    if present:
        scan(catalog, present, progress=progress)
    report = RatingsImportReport(kind)
    for path, verdict, stars, rated_at in jobs:
        report.items.append(rate_file(catalog, path, verdict, stars, f"import:{kind}", rated_at,
                                      once_per_source=True))
    return report


def verdict_folders(folder: str | Path) -> dict[str, str]:
    """``{subfolder path: verdict}`` for the ``good/``, ``bad/``, ``like/`` ... sub-folders."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {str(child): FOLDER_VERDICTS[child.name.lower()]
            for child in sorted(folder.iterdir())
            if child.is_dir() and child.name.lower() in FOLDER_VERDICTS}


def import_rating_folders(catalog: Catalog, folder: str | Path,
                          progress: ProgressFn | None = None) -> RatingsImportReport:
    """Like every song under ``good/`` or ``like/`` and dislike every one under ``bad/`` or
    ``dislike/`` (see :data:`FOLDER_VERDICTS`)."""
    subfolders = verdict_folders(folder)
    if not subfolders:
        names = ", ".join(sorted({f"{k}/" for k in FOLDER_VERDICTS}))
        raise EarmarkError(f"{folder} has no rating sub-folders (one of {names})")
    report = RatingsImportReport("folder")
    jobs = []
    for sub, verdict in subfolders.items():
        for path, problem in find_audio_files([sub]):
            if problem:
                report.items.append(ImportItem(tracks.normalise_path(path), "failed",
                                               reason=problem))
            else:
                jobs.append((path, verdict, None, None))
    report.items += _run(catalog, "folder", jobs, progress).items
    return report


def import_playlist(catalog: Catalog, playlist: str | Path, progress: ProgressFn | None = None
                    ) -> RatingsImportReport:
    """Like every song of a playlist of favourites (M3U/M3U8); every entry that names no
    file here (missing, a stream URL) is reported ``failed`` with its line."""
    notes: list[str] = []
    entries = read_playlist(playlist, notes)
    jobs = [(e.path, "like", None, None) for e in entries if e.problem is None]
    report = _run(catalog, "playlist", jobs, progress)
    report.notes += notes
    report.items += [
        ImportItem(e.path or e.text, "failed",
                   f"{e.problem} (playlist line {e.line}: {e.text.strip()})", verdict="like")
        for e in entries if e.problem is not None]
    return report


def import_tags(catalog: Catalog, roots: Iterable[str | Path],
                progress: ProgressFn | None = None) -> RatingsImportReport:
    """Import the ratings already written in files' tags (ID3 ``POPM``, ``FMPS_RATING``,
    Vorbis/APEv2 ``RATING``, WMA ``WM/SharedUserRating``) as 1-5 stars; files without a rating
    tag are reported ``unrated`` (with the value, when a rating tag holds one no scale
    explains). Each tag's scale is read as :func:`earmark.tags.read.rating_fraction` says;
    when free-form values (``RATING``) were read in several scales, a note says which and how
    many files each (tags with a fixed scale, such as ``POPM``, are never ambiguous)."""
    report = RatingsImportReport("tags")
    scales: dict[str, int] = {}
    for item in scan(catalog, roots, progress=progress).items:
        if item.status == "failed":
            report.items.append(ImportItem(item.path, "failed", item.reason))
            continue
        if item.status == "skipped":  # a folder reached twice through symbolic links
            continue
        # Read from the file, not the catalog row: a row scanned by an older earmark may hold
        # a rating read in the wrong scale, and the file is unchanged so scan kept the row.
        try:
            tags = read_tags(item.path)
        except EarmarkError as exc:  # e.g. a named pipe, left "unchanged" since it failed
            report.items.append(ImportItem(item.path, "failed", str(exc)))
            continue
        stars = stars_from_fraction(tags.rating)
        if stars is None:
            if tags.rating is not None:
                reason = "rating tag says 0 (unrated)"
            elif tags.rating_unread is not None:
                reason = f"rating tag {tags.rating_unread!r} not understood"
            else:
                reason = "no rating tag"
            report.items.append(ImportItem(item.path, "unrated", reason=reason))
            continue
        if tags.rating_guessed:
            scales[tags.rating_scale] = scales.get(tags.rating_scale, 0) + 1
        report.items.append(rate_file(catalog, item.path, None, stars, "import:tags",
                                      once_per_source=True))
    if len(scales) > 1:
        report.notes.append(describe_scales(scales))
    return report


def describe_scales(scales: dict[str, int]) -> str:
    """``"ratings in 2 scales: stars (3 files), percent (2 files)"`` from ``{scale: files}``;
    a mix is worth a look, as one player's 5 can be another's 5 %."""
    parts = [f"{scale} ({n} file{'s' if n != 1 else ''})"
             for scale, n in sorted(scales.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"ratings in {len(scales)} scales: " + ", ".join(parts)


def _export_row(row: dict, folder: Path) -> tuple[Path, str | None, int | None, float | None]:
    """``(path, verdict, stars, rated_at)`` of one row of a ratings export, paths relative to
    ``folder``; raises ``ValueError`` saying what is wrong with the row."""
    name = row.get("path")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"no path (columns {', '.join(EXPORT_FIELDS)})")
    verdict = row.get("verdict") or None
    if verdict is not None and verdict not in ratings.VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {', '.join(ratings.VERDICTS)}")
    stars = row.get("stars")
    if stars in (None, ""):
        stars = None
    else:
        try:
            number = float(stars)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(stars, bool) or number not in (1, 2, 3, 4, 5):
            raise ValueError(f"stars {stars!r} is not a whole number from 1 to 5")
        stars = int(number)
    if verdict is None and stars is None:
        raise ValueError("neither a verdict nor stars")
    return folder / name.strip(), verdict, stars, parse_time(row.get("rated_at"))


def iso_time(seconds: float) -> str:
    """A Unix time as ISO 8601 local time with its UTC offset, to the second
    (``2024-05-01T14:03:09+02:00``): what a ratings export writes, readable by people and
    spreadsheets, and exact about the moment wherever it is read."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def parse_time(value: object) -> float | None:
    """A ``rated_at`` of a ratings export as a Unix time in seconds: ISO 8601 (what
    :func:`export_ratings` writes; without an offset it is local time) or seconds since 1970
    (what exports before ISO times wrote); ``None`` for an empty value. Raises ``ValueError``
    saying what is wrong."""
    if value is None or value == "":
        return None
    if not isinstance(value, bool) and isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                seconds = datetime.fromisoformat(text).timestamp()
            except ValueError:
                seconds = math.nan
    if not math.isfinite(seconds):
        raise ValueError(f"rated_at {value!r} is neither an ISO 8601 time "
                         "(2024-05-01T14:03:09+02:00) nor seconds since 1970")
    return seconds


def _export_records(path: Path, text: str) -> tuple[list[tuple[int, dict]], list[ImportItem]]:
    """``(line, row)`` of each record of a ratings export's text (CSV with a header, or JSON
    lines), and a failed item for each line that is no record."""
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if "path" not in (reader.fieldnames or []):
            raise InputFileError(f"{path} is not a ratings export: its first line must name "
                                 f"the columns, with 'path' ({', '.join(EXPORT_FIELDS)})")
        records, failed = [], []
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return records, failed
            except csv.Error as exc:
                failed.append(ImportItem(f"{path}:{reader.line_num}", "failed",
                                         f"unreadable row: {exc}"))
                continue
            if any((cell or "").strip() for cell in row.values() if isinstance(cell, str)):
                records.append((reader.line_num, row))
    records, failed = [], []
    for line, raw in enumerate(_LINE_BREAK.split(text), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            failed.append(ImportItem(f"{path}:{line}", "failed", f"not JSON: {exc.msg}"))
            continue
        if isinstance(row, dict):
            records.append((line, row))
        else:
            failed.append(ImportItem(f"{path}:{line}", "failed",
                                     "not a JSON object with a 'path'"))
    return records, failed


def import_export_file(catalog: Catalog, path: str | Path, progress: ProgressFn | None = None
                       ) -> RatingsImportReport:
    """Re-import ratings written by :func:`export_ratings` (CSV or JSON lines), keeping their
    times; relative paths are resolved against the file's folder.

    The file is decoded as :mod:`earmark.ingest.textfiles` says (an encoding guess becomes a
    note). A row that cannot be used (no path, stars outside 1-5, not JSON ...) is a failed
    item ``<file>:<line>`` with the reason, and the other rows are imported. Raises
    :class:`~earmark.errors.InputFileError` for a file that is not text or a CSV without a
    ``path`` column.
    """
    path = Path(path)
    text, warning = read_text(path)
    records, failed = _export_records(path, text)
    jobs = []
    for line, row in records:
        try:
            jobs.append(_export_row(row, path.parent))
        except ValueError as exc:
            failed.append(ImportItem(f"{path}:{line}", "failed", str(exc)))
    report = _run(catalog, "file", jobs, progress)
    report.items += failed
    report.notes += [warning] if warning else []
    return report


def import_ratings(catalog: Catalog, source: str | Path, progress: ProgressFn | None = None
                   ) -> RatingsImportReport:
    """Import ratings from whatever ``source`` is.

    Raises :class:`EarmarkError` when ``source`` is missing or holds nothing to import (an
    empty folder, playlist or export). A folder with ``good/``/``bad/`` (or
    ``like/``/``dislike/``) sub-folders is a folder import; an ``.m3u``/``.m3u8`` file is a
    playlist of favourites; a ``.csv`` or ``.jsonl``/``.json`` file is an earlier export; any
    other folder or audio file has its rating tags imported.
    """
    source = Path(source)
    if not source.exists():
        raise EarmarkError(f"{source}: file or folder not found")
    suffix = source.suffix.lower()
    if source.is_dir() and verdict_folders(source):
        report = import_rating_folders(catalog, source, progress)
    elif source.is_dir():
        report = import_tags(catalog, [source], progress)
    elif suffix in PLAYLIST_EXTENSIONS:
        report = import_playlist(catalog, source, progress)
    elif suffix in (".csv", ".json", ".jsonl"):
        report = import_export_file(catalog, source, progress)
    else:
        report = import_tags(catalog, [source], progress)
    if not report.items:
        raise EarmarkError(f"{source}: nothing to import: {_NOTHING[report.kind]}")
    return report


#: Why an import found nothing at all, by :attr:`RatingsImportReport.kind`.
_NOTHING = {"folder": "its rating sub-folders hold no audio files",
            "tags": "no audio files to read rating tags from",
            "playlist": "the playlist names no songs",
            "file": "the file holds no ratings"}


# --- export ------------------------------------------------------------------------------------


def export_rows(catalog: Catalog, history: bool = False) -> list[dict]:
    """Ratings as dicts with :data:`EXPORT_FIELDS`: each song's current one, or all of them
    (``rated_at`` as ISO 8601, see :func:`iso_time`)."""
    if history:
        rows = ratings.rating_history(catalog)
    else:
        current = ratings.current_ratings(catalog, include_skips=True)
        rows = sorted(current.values(), key=lambda r: (r.rated_at, r.id))
    by_id = tracks.tracks_by_id(catalog, {r.track_id for r in rows})
    out = []
    for r in rows:
        track = by_id[r.track_id]
        out.append({"path": r.path, "verdict": r.verdict, "stars": r.stars, "source": r.source,
                    "rated_at": iso_time(r.rated_at), "artist": track.artist,
                    "title": track.title})
    return out


def export_ratings(catalog: Catalog, out: IO[str], fmt: str = "csv", history: bool = False
                   ) -> int:
    """Write ratings to ``out`` as CSV (with a header) or JSON lines; returns the row count."""
    rows = export_rows(catalog, history)
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    elif fmt == "json":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise ValueError(f"unknown export format {fmt!r} (csv or json)")
    return len(rows)


def read_answers(path: str | Path) -> tuple[dict[str, str], list[str]]:
    """Answers for a non-interactive review: ``(by_path, in_order)``.

    Each line is either ``path,answer`` (CSV; a ``path,answer`` header is allowed; relative
    paths are resolved against the file's folder) or a bare answer, given to the proposed songs
    in order. The text is decoded as :mod:`earmark.ingest.textfiles` says. Answers are checked
    with :func:`earmark.catalog.ratings.parse_rating`; a bad one raises :class:`EarmarkError`
    naming its line (as does a file that is not text).
    """
    path = Path(path)
    by_path: dict[str, str] = {}
    in_order: list[str] = []
    rows = csv.reader(_LINE_BREAK.split(read_text(path)[0]))
    for number, row in enumerate(rows, start=1):
        row = [cell.strip() for cell in row]
        if not row or not any(row) or row[0].startswith("#"):
            continue
        if number == 1 and [c.lower() for c in row[:2]] == ["path", "answer"]:
            continue
        answer = row[-1]
        try:
            ratings.parse_rating(answer)
        except ValueError as exc:
            raise EarmarkError(f"{path}, line {number}: {exc}") from None
        if len(row) >= 2:
            by_path[tracks.normalise_path(path.parent / ",".join(row[:-1]))] = answer
        else:
            in_order.append(answer)
    return by_path, in_order
