"""Ratings in and out: import from folders, playlists, file tags or an export; export CSV/JSON;
read and write M3U/M3U8 playlists.

Importing adds unknown files to the catalog (:func:`earmark.ingest.scan.add_file`). It is
idempotent: a song whose current rating already says the same thing is left alone, so
importing the same folder twice does not double its weight in the taste model.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar
from urllib.parse import unquote, urlparse

from earmark.catalog import Catalog, ratings, tracks
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file, find_audio_files, scan
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


def _resolve(base: Path, text: str) -> str | None:
    """The existing file ``text`` names, relative to the playlist's folder ``base``.

    A Windows path with a drive or from a drive's root (``C:\\Music\\a.flac``,
    ``\\Music\\a.flac``) cannot be found as written on this system; its trailing parts are
    tried against ``base`` instead (``Music/a.flac``, then ``a.flac``), which finds the songs
    of a library copied over with its playlists.
    """
    candidates = _candidates(text)
    for candidate in candidates:
        if os.path.isfile(base / candidate):
            return tracks.normalise_path(base / candidate)
    for candidate in candidates:
        if _WINDOWS_ABSOLUTE.match(candidate) and not os.path.isabs(text):
            parts = [p for p in re.split(r"[\\/]", candidate[2:] if candidate[1:2] == ":"
                                         else candidate) if p]
            for start in range(len(parts)):
                tail = base.joinpath(*parts[start:])
                if tail.is_file():
                    return tracks.normalise_path(tail)
    return None


def read_playlist(path: str | Path) -> list[PlaylistEntry]:
    """Every song entry of an M3U/M3U8 playlist, resolved against the playlist's folder.

    ``#`` lines (``#EXTM3U``, ``#EXTINF``) are not entries, except a comment that names an
    existing file (``#1 hit.flac``, written by a tool that does not escape it). ``file://``
    URLs are turned into paths; other URLs (streams) are entries with a problem; Windows
    paths and percent-encoded names are matched as :func:`_resolve` says. ``.m3u8`` is UTF-8;
    a plain ``.m3u`` that is not valid UTF-8 is read as Latin-1, the encoding old players wrote.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    base = path.parent
    entries = []
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("#EXT") or _resolve(base, line) is None:
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


def write_m3u(path: str | Path, songs: Iterable[dict]) -> list[tuple[str, str]]:
    """Write an extended M3U8 playlist with paths relative to its own folder.

    A name starting with ``#`` (or a space) is written as ``./#...`` so that players do not
    take it for a comment; a name holding a line break cannot be written in M3U at all and is
    left out.

    Parameters
    ----------
    songs : track dicts with ``path`` and optionally ``duration`` (seconds), ``artist`` and
        ``title``; written as ``#EXTINF:<whole seconds>,<artist> - <title>`` (the file name
        stands in for a missing title).

    Returns
    -------
    ``(path, reason)`` of each song left out.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.path.abspath(path.parent)
    lines = ["#EXTM3U"]
    left_out = []
    for song in songs:
        if "\n" in song["path"] or "\r" in song["path"]:
            left_out.append((song["path"], "its name holds a line break, which M3U cannot hold"))
            continue
        duration = song.get("duration")
        seconds = int(round(duration)) if duration else -1
        title = " ".join(_LINE_BREAK.split(tracks.song_name(song)))
        lines.append(f"#EXTINF:{seconds},{title}")
        relative = os.path.relpath(song["path"], folder)
        if relative[:1] in ("#", " ", "\t"):
            relative = os.path.join(".", relative)
        lines.append(relative)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
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
    if track["status"] != "ok":
        return ImportItem(path, "failed", f"not playable: {track['error']}", verdict=verdict,
                          stars=stars)
    history = ratings.rating_history(catalog, track["id"])
    previous = ratings.latest_opinion(history)
    said = [previous]
    if once_per_source:
        said += [r for r in history if r.source == source][-1:]
    if any(r is not None and (r.verdict, r.stars) == (verdict, stars) for r in said):
        return ImportItem(path, "unchanged", verdict=verdict, stars=stars)
    if verdict == "skip" and previous is not None:
        return ImportItem(path, "unchanged", "a skip does not replace an earlier rating",
                          verdict=previous.verdict, stars=previous.stars)
    ratings.add_rating(catalog, track["id"], verdict, stars, source=source, rated_at=rated_at)
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
    entries = read_playlist(playlist)
    jobs = [(e.path, "like", None, None) for e in entries if e.problem is None]
    report = _run(catalog, "playlist", jobs, progress)
    report.items += [
        ImportItem(e.path or e.text, "failed",
                   f"{e.problem} (playlist line {e.line}: {e.text.strip()})", verdict="like")
        for e in entries if e.problem is not None]
    return report


def import_tags(catalog: Catalog, roots: Iterable[str | Path],
                progress: ProgressFn | None = None) -> RatingsImportReport:
    """Import the ratings already written in files' tags (ID3 ``POPM``, ``FMPS_RATING``,
    Vorbis/APEv2 ``RATING``, WMA ``WM/SharedUserRating``) as 1-5 stars; files without a rating
    tag are reported ``unrated``. Each tag's scale is read as
    :func:`earmark.tags.read.rating_fraction` says; when the files use several scales, a note
    says which and how many files each."""
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
            reason = "no rating tag" if tags.rating is None else "rating tag says 0 (unrated)"
            report.items.append(ImportItem(item.path, "unrated", reason=reason))
            continue
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


def import_export_file(catalog: Catalog, path: str | Path, progress: ProgressFn | None = None
                       ) -> RatingsImportReport:
    """Re-import ratings written by :func:`export_ratings` (CSV or JSON lines), keeping their
    times; relative paths are resolved against the file's folder."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    jobs = []
    for row in rows:
        if "path" not in row:
            raise EarmarkError(f"{path}: every rating needs a 'path' (columns {EXPORT_FIELDS})")
        stars = row.get("stars")
        stars = int(stars) if stars not in (None, "") else None
        verdict = row.get("verdict") or None
        rated_at = row.get("rated_at")
        rated_at = float(rated_at) if rated_at not in (None, "") else None
        jobs.append((path.parent / row["path"], verdict, stars, rated_at))
    return _run(catalog, "file", jobs, progress)


def import_ratings(catalog: Catalog, source: str | Path, progress: ProgressFn | None = None
                   ) -> RatingsImportReport:
    """Import ratings from whatever ``source`` is.

    A folder with ``good/``/``bad/`` (or ``like/``/``dislike/``) sub-folders is a folder import;
    an ``.m3u``/``.m3u8`` file is a playlist of favourites; a ``.csv`` or ``.jsonl``/``.json``
    file is an earlier export; any other folder or audio file has its rating tags imported.
    """
    source = Path(source)
    if not source.exists():
        raise EarmarkError(f"{source}: file or folder not found")
    if source.is_dir():
        if verdict_folders(source):
            return import_rating_folders(catalog, source, progress)
        return import_tags(catalog, [source], progress)
    suffix = source.suffix.lower()
    if suffix in PLAYLIST_EXTENSIONS:
        return import_playlist(catalog, source, progress)
    if suffix in (".csv", ".json", ".jsonl"):
        return import_export_file(catalog, source, progress)
    return import_tags(catalog, [source], progress)


# --- export ------------------------------------------------------------------------------------


def export_rows(catalog: Catalog, history: bool = False) -> list[dict]:
    """Ratings as dicts with :data:`EXPORT_FIELDS`: each song's current one, or all of them."""
    if history:
        rows = ratings.rating_history(catalog)
    else:
        current = ratings.current_ratings(catalog, include_skips=True)
        rows = sorted(current.values(), key=lambda r: (r.rated_at, r.id))
    by_id = {t["id"]: t for t in tracks.iter_tracks(catalog, None)}
    out = []
    for r in rows:
        track = by_id[r.track_id]
        out.append({"path": r.path, "verdict": r.verdict, "stars": r.stars, "source": r.source,
                    "rated_at": r.rated_at, "artist": track.get("artist"),
                    "title": track.get("title")})
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
    in order. Answers are checked with :func:`earmark.catalog.ratings.parse_rating`; a bad one
    raises :class:`EarmarkError` naming its line.
    """
    path = Path(path)
    by_path: dict[str, str] = {}
    in_order: list[str] = []
    rows = csv.reader(path.read_text(encoding="utf-8").splitlines())
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
