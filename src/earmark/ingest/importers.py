"""Importers: labelled collections on disk -> tracks and labels in the catalog.

Each reader turns its source format into a :class:`Listing`: :class:`Entry` rows (path, labels,
split, artist) and, named with a reason, the rows it could not use (``failed``: malformed) or
left out on purpose (``skipped``: no label of the kind asked for, not in any split list).
:func:`import_entries` then adds the files with :func:`earmark.ingest.scan.scan` (in parallel,
verifying the audio) and stores the labels. A malformed row, a missing or unreadable file is
reported in the :class:`DatasetImportReport` and the import goes on; only a source that cannot
be read as its format at all raises (``ValueError`` with a message for a person, or
``OSError``). :func:`import_dataset` imports a :class:`DatasetSource` with the importer of its
format: what ``earmark dataset import`` (or any other face) calls.

Supported sources
-----------------
- a folder per label, optionally under ``train/``, ``valid/`` and ``test/`` folders
  (:func:`read_folders`);
- a CSV manifest ``path,label[,split][,artist]``, one row per label (:func:`read_csv`);
- GTZAN's genre folders, optionally with split lists such as the fault-filtered
  ``train_filtered.txt`` (:func:`read_gtzan`);
- MagnaTagATune's ``annotations_final.csv`` (:func:`read_mtt`);
- FMA's ``tracks.csv`` with its audio folder (:func:`read_fma`);
- MTG-Jamendo's TSV files and their split files (:func:`read_jamendo`).

Tables are decoded as every text file a person gives earmark is
(:mod:`earmark.ingest.textfiles`: UTF-8, UTF-16 with a byte-order mark, else Windows-1252, as
Excel's "CSV" on Windows, with a warning). A listed file that is missing
but has a namesake with another audio extension in the same folder (``blues.00029.wav``
listed, ``blues.00029.flac`` on disk) is matched by name, with a warning.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import TextIO

from earmark.audio import AUDIO_EXTENSIONS
from earmark.catalog import Catalog, tracks
from earmark.catalog.labels import set_labels
from earmark.engine import Engine
from earmark.ingest.scan import find_audio_files, scan
from earmark.ingest.textfiles import open_text
from earmark.types import ProgressFn

#: Folder and file-name words that mean a split rather than a label, and the split they mean.
SPLIT_FOLDERS = {"train": "train", "training": "train", "valid": "valid",
                 "validation": "valid", "val": "valid", "test": "test", "testing": "test"}

#: Tasks a CSV manifest gives one label per song: genre classification as GTZAN and FMA's top
#: genre pose it, where a second row giving a song another genre is a slip (a copy-paste, a
#: song under two folders) that would silently turn the task multi-label. Tags, moods and
#: instruments take several.
SINGLE_LABEL_TASKS = frozenset({"genre"})

#: MTG-Jamendo's tag categories (``genre---rock``, ``instrument---piano``, ``mood/theme---calm``)
#: and the task each is stored under.
JAMENDO_CATEGORIES = {"genre": "genre", "instrument": "instrument", "mood/theme": "mood"}


@dataclass
class Entry:
    """One labelled file from a source, before it is in the catalog."""

    path: str
    labels: list[str]
    split: str | None = None
    artist: str | None = None


@dataclass
class Listing:
    """What a reader found in a source.

    ``failed`` and ``skipped`` hold ``(where, reason)`` pairs: ``where`` is the file a row
    names, or ``<table>:<line>`` for a row too broken to name one. ``task`` is the kind of
    labels when the source decides it (MTG-Jamendo's tag category), else ``None``.
    """

    entries: list[Entry] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    task: str | None = None


@dataclass
class DatasetImportReport:
    """What an import did.

    ``labelled`` maps path -> labels; ``failed`` lists ``(path, reason)`` for rows and files
    that could not be imported; ``skipped`` lists ``(path, reason)`` for rows left out on
    purpose (no label of the kind asked for, not in any split list); ``warnings`` are lines
    for a person about the whole source (an encoding guessed, files matched by name).
    """

    dataset: str
    task: str
    labelled: dict[str, list[str]] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- reading tables ------------------------------------------------------------------------


def _open_table(path: str | Path, listing: Listing) -> TextIO:
    """Open a text table in its encoding (:func:`earmark.ingest.textfiles.text_encoding`),
    noting any guess in the listing's warnings."""
    return open_text(path, listing.warnings, save_as="'CSV UTF-8'")


def _rows(handle: TextIO, where: str | Path, listing: Listing,
          **dialect) -> Iterator[tuple[int, list[str]]]:
    """``(line number, cells)`` of each non-blank row of a table.

    A row the csv module rejects (a field over its size limit after a stray quote) becomes a
    failed row ``<where>:<line>`` and reading goes on with the next one.
    """
    reader = csv.reader(handle, **dialect)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            listing.failed.append((f"{where}:{reader.line_num}", f"unreadable row: {exc}"))
            continue
        if any(cell.strip() for cell in row):  # spreadsheets end tables with rows of ";;;"
            yield reader.line_num, row


def _header(rows: Iterator[tuple[int, list[str]]], source: str | Path) -> list[str]:
    """The first row's cells, stripped; an empty table is an error."""
    return [cell.strip() for cell in _header_end(rows, source)[1]]


def _header_end(rows: Iterator[tuple[int, list[str]]],
                source: str | Path) -> tuple[int, list[str]]:
    """The next row, while a header is still being read (also the first row after a
    multi-row header); a table that ends there is an error."""
    try:
        return next(rows)
    except StopIteration:
        raise ValueError(f"{source} is empty or ends within its header") from None


def _width_problem(row: list[str], width: int) -> str | None:
    """Why a row of ``len(row)`` cells does not fit a header of ``width`` columns, if it does
    not: a short row is what a cut-off file (``head -n``, a broken download) ends with."""
    if len(row) < width:
        return f"row cut off ({len(row)} of {width} fields)"
    if len(row) > width:
        return f"row longer than the header ({len(row)} fields, not {width})"
    return None


def _format_hint(first_line: str) -> str:
    """A hint naming the format a table that is not a manifest looks like."""
    if first_line.startswith("TRACK_ID\t"):
        return "; it looks like an MTG-Jamendo TSV (format jamendo)"
    if re.fullmatch(r"[\w-]+/[\w.-]+\.\w+", first_line.strip()):
        return "; it looks like a split list such as GTZAN's (format gtzan with split lists)"
    if first_line.startswith(",") or "clip_id" in first_line:
        return "; it looks like FMA's tracks.csv or MTT's annotations (formats fma, mtt)"
    return ""


# --- sources -------------------------------------------------------------------------------


def read_folders(root: str | Path) -> Listing:
    """Entries of a folder-per-label tree.

    ``root/<label>/**/<file>`` gives label ``<label>``; when the first level holds split
    folders (``train``, ``valid``/``validation``, ``test``), ``root/<split>/<label>/**`` is read
    instead. Files directly in ``root`` (or a split folder) have no label and are skipped.

    Raises ``FileNotFoundError`` when ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    children = sorted(p for p in root.iterdir() if p.is_dir())
    split_dirs = [p for p in children if p.name.lower() in SPLIT_FOLDERS]
    if split_dirs:
        parents = [(p, SPLIT_FOLDERS[p.name.lower()]) for p in split_dirs]
    else:
        parents = [(root, None)]
    listing = Listing()
    for parent, split in parents:
        for child in sorted(parent.iterdir()):
            if child.is_dir():
                for path, problem in find_audio_files([child]):
                    if problem is None:
                        listing.entries.append(Entry(path, [child.name], split))
                    else:
                        listing.failed.append((path, problem))
            elif child.suffix.lower() in AUDIO_EXTENSIONS:
                listing.skipped.append((str(child), "not in a label folder"))
    return listing


def read_csv(manifest: str | Path, audio_root: str | Path | None = None, *,
             multi_label: bool = True) -> Listing:
    """Entries of a CSV manifest with columns ``path,label[,split][,artist]``.

    The separator is ``,``, ``;`` or tab, whichever splits the header into ``path`` and
    ``label`` columns. With ``multi_label`` a file listed on several rows gets all their
    labels; without, a row giving a file a second, different label is failed, naming the line
    of the first. Relative paths are relative to ``audio_root``, else to the manifest's
    folder; Windows ``\\`` separators are read as folders when the path as written is no
    file. A ``;`` inside a label cell does *not* split it. A row with a label but no path is
    failed; a row with a path but no label is skipped.

    Raises ``ValueError`` when the header has no ``path`` and ``label`` columns.
    """
    manifest = Path(manifest)
    base = Path(audio_root) if audio_root is not None else manifest.parent
    listing = Listing()
    by_path: dict[str, Entry] = {}
    first_line: dict[str, int] = {}
    with _open_table(manifest, listing) as handle:
        first = handle.readline()
        if not first.strip():
            raise ValueError(f"{manifest} is empty (its first line is blank)")
        handle.seek(0)
        # csv.Sniffer guesses from how consistently rows split, and gives up on one-column
        # lists and ragged rows; a manifest's header names its columns, which settles it.
        delimiter = next((d for d in ",;\t" if {"path", "label"} <= {
            c.strip().lower() for c in next(csv.reader([first], delimiter=d), [])}), None)
        if delimiter is None:
            raise ValueError(f"{manifest}: needs a header with 'path' and 'label' columns, "
                             f"separated by ',', ';' or tabs; its first line is "
                             f"{first.strip()[:80]!r}{_format_hint(first)}")
        rows = _rows(handle, manifest, listing, delimiter=delimiter)
        columns = {c.lower(): i for i, c in enumerate(_header(rows, manifest))}
        for line, row in rows:
            path, label = _cell(row, columns, "path"), _cell(row, columns, "label")
            if path is None:
                listing.failed.append((f"{manifest}:{line}", "no path"))
                continue
            if "\\" in path and not os.path.exists(base / path):
                path = path.replace("\\", "/")  # written on Windows
            full = os.path.normpath(base / path)
            if label is None:
                listing.skipped.append((full, f"no label (line {line})"))
                continue
            split = _cell(row, columns, "split")
            entry = by_path.setdefault(full, Entry(
                full, [], split and SPLIT_FOLDERS.get(split.lower(), split.lower()),
                _cell(row, columns, "artist")))
            if label in entry.labels:
                continue  # the same row twice says nothing new
            if entry.labels and not multi_label:
                listing.failed.append((f"{manifest}:{line}", (
                    f"{path} already has label {entry.labels[0]!r} (line "
                    f"{first_line[full]}); this task takes one label per song")))
                continue
            first_line.setdefault(full, line)
            entry.labels.append(label)
    listing.entries = list(by_path.values())
    return listing


def _cell(row: list[str], columns: dict[str, int], name: str) -> str | None:
    """The stripped cell of column ``name`` (``None`` when empty, absent or past the row)."""
    i = columns.get(name)
    return (row[i].strip() or None) if i is not None and i < len(row) else None


def normalise_split(name: str) -> str:
    """``"validation"`` -> ``"valid"`` and so on (see :data:`SPLIT_FOLDERS`).

    Raises ``ValueError`` for a name that is no split.
    """
    split = SPLIT_FOLDERS.get(name.strip().lower())
    if split is None:
        raise ValueError(f"{name!r} is not a split (train, valid or test)")
    return split


def find_split_lists(folder: str | Path, source: str | Path | None = None) -> dict[str, Path]:
    """The split lists in ``folder``: ``{"train": path, "valid": path, "test": path}``.

    A file is a split list when one word of its name is a split (``train_filtered.txt``,
    ``valid.txt``, ``autotagging_moodtheme-validation.tsv``). When several files name the same
    split (MTG-Jamendo keeps every task's lists in one ``split-N`` folder), those whose name
    starts with ``source``'s stem win.

    Raises ``ValueError`` when the folder has no split list or an ambiguous one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        words = {w.lower() for w in re.split(r"[-_. ]", path.stem)} & set(SPLIT_FOLDERS)
        if path.is_file() and path.suffix.lower() in (".txt", ".tsv", ".csv") \
                and len(words) == 1:
            found.setdefault(SPLIT_FOLDERS[words.pop()], []).append(path)
    stem = Path(source).stem + "-" if source is not None else None
    lists = {}
    for split, paths in found.items():
        if len(paths) > 1 and stem:
            paths = [p for p in paths if p.name.startswith(stem)] or paths
        if len(paths) > 1:
            raise ValueError(f"{folder}: several {split} lists ({', '.join(p.name for p in paths)})"
                             "; name one with train=FILE, valid=FILE, test=FILE")
        lists[split] = paths[0]
    if not lists:
        raise ValueError(f"{folder} holds no split lists (files named like train_filtered.txt, "
                         "valid.txt or <name>-test.tsv)")
    return {split: lists[split] for split in ("train", "valid", "test") if split in lists}


def read_split_list(path: str | Path, listing: Listing) -> list[tuple[int, str]]:
    """``(line, key)`` per entry of a split list: a path such as ``blues/blues.00029.wav`` per
    line (GTZAN), or the ``TRACK_ID`` column of an MTG-Jamendo split TSV."""
    with _open_table(path, listing) as handle:
        lines = handle.read().splitlines()
    keys = [(i + 1, line.strip()) for i, line in enumerate(lines)
            if line.strip() and not line.startswith("#")]
    if keys and keys[0][1].split("\t", 1)[0] == "TRACK_ID":
        return [(line, key.split("\t", 1)[0]) for line, key in keys[1:]]
    return keys


def _splits_by_key(split_lists: Mapping[str, str | Path],
                   listing: Listing) -> dict[str, tuple[str, str, int] | None]:
    """``key -> (split, list file, line)`` over every list; a key in two splits maps to
    ``None`` and is failed, since a song on both sides would leak into its own test."""
    by_key: dict[str, tuple[str, str, int] | None] = {}
    for name, path in split_lists.items():
        split = normalise_split(name)
        for line, key in read_split_list(path, listing):
            earlier = by_key.setdefault(key, (split, str(path), line))
            if earlier is not None and earlier[0] != split:
                by_key[key] = None
                listing.failed.append((f"{path}:{line}", f"{key} is in both the {earlier[0]} "
                                       f"and the {split} list"))
    return by_key


def read_gtzan(root: str | Path,
               split_lists: Mapping[str, str | Path] | None = None) -> Listing:
    """Entries of GTZAN's ``root/<genre>/<genre>.NNNNN.<ext>`` clips.

    Without ``split_lists`` every clip is read with its folder's genre and no split, as
    :func:`read_folders` does. With ``split_lists`` (``{"train": "train_filtered.txt", ...}``,
    lines like ``blues/blues.00029.wav``) exactly the listed clips are read: the label is the
    folder of the listed path, the split is the list's. Clips on disk in no list (the
    fault-filtered split leaves out replicas and mislabelled clips) are skipped; listed clips
    missing on disk fail at import (a namesake with another extension is matched).
    """
    if not split_lists:
        return read_folders(root)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    listing = Listing()
    listed = set()
    for key, where in _splits_by_key(split_lists, listing).items():
        parts = PurePosixPath(key.replace("\\", "/")).parts
        listed.add((parts[-2] if len(parts) > 1 else "", Path(parts[-1]).stem))
        if where is None:
            continue
        split, list_path, line = where
        if len(parts) < 2:
            listing.failed.append((f"{list_path}:{line}", f"{key!r} has no genre/ folder"))
            continue
        listing.entries.append(Entry(os.path.normpath(root.joinpath(*parts)), [parts[-2]],
                                     split))
    for entry in read_folders(root).entries:
        name = Path(entry.path)
        if (name.parent.name, name.stem) not in listed:
            listing.skipped.append((entry.path, "in no split list"))
    return listing


def read_mtt(
    annotations: str | Path, audio_root: str | Path, *, top: int | None = 50,
    clip_info: str | Path | None = None,
) -> Listing:
    """Entries of MagnaTagATune's ``annotations_final.csv``.

    Parameters
    ----------
    annotations : tab-separated table, cells in double quotes as published: ``clip_id``, one
        0/1 column per tag, ``mp3_path``.
    audio_root : folder the ``mp3_path`` values are relative to.
    top : keep only the ``top`` most frequent tags (50 is the usual benchmark); ``None`` keeps
        all 188.
    clip_info : ``clip_info_final.csv`` (tab-separated, ``clip_id`` and ``artist``), so splits
        can group by artist; by default the one beside ``annotations``, if there. A clip it
        does not name takes its artist from its file name, ``<artist>-<album>-<n>-...mp3``.

    Splits follow the usual convention by audio folder: ``0``-``b`` train, ``c`` valid,
    ``d``-``f`` test. Clips with none of the kept tags are skipped.

    Raises ``ValueError`` when the table has no ``clip_id`` and ``mp3_path`` columns.
    """
    listing = Listing()
    header, table = _mtt_table(annotations, listing, "annotations_final.csv",
                               ("clip_id", "mp3_path"))
    path_col, id_col = header.index("mp3_path"), header.index("clip_id")
    tag_cols = [i for i in range(len(header)) if i not in (path_col, id_col)]
    counts = {i: sum(r[i] == "1" for _, r in table) for i in tag_cols}
    if top is not None:
        tag_cols = sorted(tag_cols, key=lambda i: (-counts[i], header[i]))[:top]
    if clip_info is None and (Path(annotations).parent / "clip_info_final.csv").is_file():
        clip_info = Path(annotations).parent / "clip_info_final.csv"
    artists = _mtt_artists(clip_info, listing) if clip_info else {}
    by_name = 0
    for line, row in table:
        if not row[path_col]:
            listing.failed.append((f"{annotations}:{line}", f"clip {row[id_col]}: no mp3_path"))
            continue
        path = os.path.normpath(Path(audio_root) / row[path_col])
        labels = [header[i] for i in tag_cols if row[i] == "1"]
        if not labels:
            listing.skipped.append((path, f"none of the {len(tag_cols)} kept tags"))
            continue
        artist = artists.get(row[id_col])
        if artist is None:
            # MTT names each clip <artist>-<album>-<track>-<title>-<start>-<end>.mp3
            artist = Path(row[path_col]).name.split("-", 1)[0] or None
            by_name += 1
        folder = row[path_col].split("/", 1)[0].lower()
        split = "train" if folder < "c" else "valid" if folder == "c" else "test"
        listing.entries.append(Entry(path, labels, split, artist))
    if by_name:
        source = f"not in {Path(clip_info).name}" if clip_info else \
            "no clip_info_final.csv beside the annotations"
        listing.warnings.append(f"artist taken from the file name: {by_name} clips ({source})")
    return listing


def _mtt_table(path: str | Path, listing: Listing, name: str, columns: tuple[str, ...]
               ) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the ``(line number, stripped cells)`` rows of one of MagnaTagATune's
    tab-separated tables (``name``, for the error message); a row of the wrong width becomes
    a failed row ``<path>:<line>``. Raises ``ValueError`` when a column of ``columns`` is
    missing."""
    with _open_table(path, listing) as handle:
        rows = _rows(handle, path, listing, delimiter="\t")
        header = _header(rows, path)
        if any(column not in header for column in columns):
            raise ValueError(f"{path}: not MagnaTagATune's {name} (needs tab-separated "
                             f"{' and '.join(columns)} columns)")
        table = []
        for line, row in rows:
            problem = _width_problem(row, len(header))
            if problem:
                listing.failed.append((f"{path}:{line}", problem))
            else:
                table.append((line, [c.strip() for c in row]))
    return header, table


def _mtt_artists(clip_info: str | Path, listing: Listing) -> dict[str, str]:
    """``clip_id -> artist`` from ``clip_info_final.csv``."""
    header, table = _mtt_table(clip_info, listing, "clip_info_final.csv", ("clip_id", "artist"))
    id_col, artist_col = header.index("clip_id"), header.index("artist")
    return {row[id_col]: row[artist_col] for _, row in table if row[artist_col]}


#: FMA's nested subsets: a track in ``small`` is also in ``medium``, ``large`` and ``full``.
FMA_SUBSETS = ("small", "medium", "large", "full")
FMA_SPLITS = {"training": "train", "validation": "valid", "test": "test"}


def read_fma(tracks_csv: str | Path, audio_root: str | Path,
             subset: str | None = "small") -> Listing:
    """Entries of FMA's ``tracks.csv`` (top genre per track) with audio under ``audio_root``.

    The table has two header rows (``track``/``set``/``artist`` over ``genre_top``,
    ``subset``, ``split``, ...) and a third naming the ``track_id`` index. Audio is
    ``audio_root/<first 3 digits>/<6-digit id>.mp3`` as in ``fma_small.zip``. ``subset`` keeps
    the tracks of that subset (nested: ``medium`` includes ``small``; the others are counted in
    a warning); ``None`` keeps all. Tracks without a top genre are skipped; a row cut off or
    without a track id is failed.

    Raises ``ValueError`` for an unknown subset or a table without FMA's columns.
    """
    if subset is not None and subset not in FMA_SUBSETS:
        raise ValueError(f"subset must be one of {FMA_SUBSETS}, not {subset!r}")
    wanted = None if subset is None else set(FMA_SUBSETS[: FMA_SUBSETS.index(subset) + 1])
    listing = Listing()
    outside = 0
    with _open_table(tracks_csv, listing) as handle:
        rows = _rows(handle, tracks_csv, listing)
        top, sub = _header(rows, tracks_csv), _header(rows, tracks_csv)
        # The third header row names the index column. A copy cut within the header would
        # otherwise read as a table of 0 tracks, or as one missing FMA's columns.
        first = _header_end(rows, tracks_csv)
        if first[1][0].strip() == "track_id" and not any(c.strip() for c in first[1][1:]):
            first = _header_end(rows, tracks_csv)
        rows = chain([first], rows)
        index = {f"{a}.{b}": i for i, (a, b) in enumerate(zip(top, sub, strict=False)) if a}
        need = ("track.genre_top", "set.subset", "set.split")
        missing = [k for k in need if k not in index]
        if missing:
            raise ValueError(f"{tracks_csv}: not an FMA tracks.csv (no {', '.join(missing)})")
        artist_col = index.get("artist.id", index.get("artist.name"))
        for line, row in rows:
            where = f"{tracks_csv}:{line}"
            if not row[0].strip().isdigit():
                listing.failed.append((where, f"no track id (first field {row[0][:40]!r})"))
                continue
            problem = _width_problem(row, len(top))
            if problem:
                listing.failed.append((where, f"track {int(row[0])}: {problem}"))
                continue
            if wanted is not None and row[index["set.subset"]].strip() not in wanted:
                outside += 1
                continue
            tid = f"{int(row[0]):06d}"
            path = os.path.normpath(Path(audio_root) / tid[:3] / f"{tid}.mp3")
            genre = row[index["track.genre_top"]].strip()
            if not genre:
                listing.skipped.append((path, "no top genre in tracks.csv"))
                continue
            artist = row[artist_col].strip() if artist_col is not None else ""
            listing.entries.append(Entry(
                path, [genre], FMA_SPLITS.get(row[index["set.split"]].strip()), artist or None))
    if outside:
        listing.warnings.append(f"left out: {outside} tracks outside the {subset} subset")
    return listing


def read_jamendo(
    tsv: str | Path, audio_root: str | Path, *, category: str | None = None,
    split_lists: Mapping[str, str | Path] | None = None,
) -> Listing:
    """Entries of an MTG-Jamendo TSV (``raw_30s.tsv``, ``autotagging_moodtheme.tsv``, ...).

    Parameters
    ----------
    tsv : tab-separated ``TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, TAGS``, one tag per
        column from ``TAGS`` on (``genre---rock``, ``mood/theme---calm``), any number per row.
    audio_root : folder the ``PATH`` values (``14/214.mp3``) are relative to; the low-quality
        ``14/214.low.mp3`` is matched by name.
    category : keep one of :data:`JAMENDO_CATEGORIES`' tags, without the ``genre---`` prefix,
        as task ``genre``, ``instrument`` or ``mood``. ``None``: a file whose tags are all of
        one category is read as that category; otherwise every tag is kept whole, as task
        ``tags`` (the ``autotagging`` task).
    split_lists : ``{"train": "split-0/autotagging_moodtheme-train.tsv", ...}``: each track's
        split from the list naming its ``TRACK_ID``; tracks in no list are skipped.

    The artist (``ARTIST_ID``) is the grouping key, which also keeps each album on one side
    of a split. The listing's ``task`` says which task the labels are.

    Raises ``ValueError`` for an unknown category or a table without Jamendo's columns.
    """
    if category is not None and category not in JAMENDO_CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(JAMENDO_CATEGORIES)}, "
                         f"not {category!r}")
    listing = Listing()
    tracks_read = []
    with _open_table(tsv, listing) as handle:
        # Jamendo never quotes; QUOTE_NONE keeps a stray quote from swallowing later rows.
        rows = _rows(handle, tsv, listing, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = _header(rows, tsv)
        need = ("TRACK_ID", "ARTIST_ID", "PATH", "TAGS")
        if any(name not in header for name in need):
            raise ValueError(f"{tsv}: not an MTG-Jamendo TSV (needs tab-separated "
                             "TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION, TAGS columns)")
        col = {name: header.index(name) for name in need}
        for line, row in rows:
            if len(row) < len(header):
                listing.failed.append((f"{tsv}:{line}", _width_problem(row, len(header))))
                continue
            tags = [t.strip() for t in row[col["TAGS"]:] if t.strip()]
            odd = [t for t in tags if t.partition("---")[0] not in JAMENDO_CATEGORIES]
            if odd:
                listing.failed.append((f"{tsv}:{line}", f"tag {odd[0]!r} is not "
                                       "<genre|instrument|mood/theme>---<name>"))
                continue
            tracks_read.append((row[col["TRACK_ID"]].strip(), row[col["ARTIST_ID"]].strip(),
                                os.path.normpath(Path(audio_root) / row[col["PATH"]].strip()),
                                tags))
    present = {t.partition("---")[0] for *_, tags in tracks_read for t in tags}
    if category is None and len(present) == 1:
        category = present.pop()
    listing.task = JAMENDO_CATEGORIES[category] if category else "tags"
    splits = _splits_by_key(split_lists, listing) if split_lists else None
    for track_id, artist, path, tags in tracks_read:
        if category is not None:
            tags = [t.partition("---")[2] for t in tags if t.startswith(category + "---")]
        if not tags:
            listing.skipped.append((path, f"no {category or 'tags'} tags ({track_id})"))
        elif splits is not None and track_id not in splits:
            listing.skipped.append((path, f"{track_id} is in no split list"))
        elif splits is None or splits[track_id] is not None:
            split = splits[track_id][0] if splits is not None else None
            listing.entries.append(Entry(path, tags, split, artist or None))
    return listing


# --- into the catalog ----------------------------------------------------------------------


def _namesake(path: str, folders: dict[str, dict[str, str]]) -> str | None:
    """An audio file in ``path``'s folder named like it with another extension
    (``blues.00029.wav`` -> ``blues.00029.flac``, Jamendo's ``214.mp3`` -> ``214.low.mp3``),
    when exactly one exists; ``folders`` caches each folder's files by name prefix."""
    folder, name = os.path.split(path)
    if folder not in folders:
        try:
            names = sorted(n for n in os.listdir(folder)
                           if os.path.splitext(n)[1].lower() in AUDIO_EXTENSIONS)
        except OSError:
            names = []
        by_stem: dict[str, list[str]] = {}
        for candidate in names:
            # every dot-prefix: "214.low.mp3" is found both as "214" and as "214.low"
            pieces = candidate.split(".")
            for n in range(1, len(pieces)):
                by_stem.setdefault(".".join(pieces[:n]), []).append(candidate)
        folders[folder] = by_stem
    matches = folders[folder].get(os.path.splitext(name)[0], [])
    return os.path.join(folder, matches[0]) if len(matches) == 1 else None


def import_entries(
    catalog: Catalog, listing: Listing, dataset: str, task: str = "genre", *,
    engine: Engine | None = None, progress: ProgressFn | None = None,
) -> DatasetImportReport:
    """Add the listing's files to the catalog (verifying their audio) and store their labels.

    The report starts with the listing's failed and skipped rows and warnings; a listed file
    that is missing is matched by name with another audio extension in its folder (with a
    warning), else failed as ``file not found``; unreadable audio is failed with its reason.
    """
    report = DatasetImportReport(dataset, task, failed=list(listing.failed),
                                 skipped=list(listing.skipped), warnings=list(listing.warnings))
    present, renamed, folders = [], [], {}
    for entry in listing.entries:
        entry.path = tracks.normalise_path(entry.path)
        if not os.path.isfile(entry.path):
            found = _namesake(entry.path, folders)
            if found is None:
                report.failed.append((entry.path, "file not found"))
                continue
            renamed.append((entry.path, found))
            entry.path = found
        present.append(entry)
    if renamed:
        listed, found = renamed[0]
        report.warnings.append(
            f"matched by name with another extension on disk: {len(renamed)} listed files "
            f"(e.g. {os.path.basename(listed)} is {os.path.basename(found)})")
    scan(catalog, [e.path for e in present], engine=engine, progress=progress)
    with catalog.transaction():  # one commit for the whole table, not one per song
        for entry in present:
            track = tracks.get_track(catalog, entry.path)
            if track is None:
                report.failed.append((entry.path, "could not be added to the catalog"))
            elif track.status != "ok":
                report.failed.append((entry.path, track.error or "unreadable audio"))
            else:
                set_labels(catalog, track.id, dataset, task, entry.labels, entry.split,
                           entry.artist)
                report.labelled[entry.path] = list(entry.labels)
    return report


def import_dataset_folders(catalog: Catalog, root: str | Path, dataset: str | None = None,
                           task: str = "genre", **kwargs) -> DatasetImportReport:
    """Import a folder-per-label tree (see :func:`read_folders`); ``dataset`` defaults to the
    folder's name."""
    return import_entries(catalog, read_folders(root), dataset or Path(root).resolve().name,
                          task, **kwargs)


def import_csv(catalog: Catalog, manifest: str | Path, dataset: str | None = None,
               task: str = "genre", *, audio_root: str | Path | None = None,
               **kwargs) -> DatasetImportReport:
    """Import a CSV manifest (see :func:`read_csv`); ``dataset`` defaults to its file stem.
    A task in :data:`SINGLE_LABEL_TASKS` takes one label per song, others several."""
    listing = read_csv(manifest, audio_root, multi_label=task not in SINGLE_LABEL_TASKS)
    return import_entries(catalog, listing, dataset or Path(manifest).stem, task, **kwargs)


def import_gtzan(catalog: Catalog, root: str | Path, dataset: str | None = None,
                 task: str = "genre", *, split_lists: Mapping[str, str | Path] | None = None,
                 **kwargs) -> DatasetImportReport:
    """Import GTZAN (see :func:`read_gtzan`); ``dataset`` defaults to ``gtzan``, or
    ``gtzan_split`` with split lists, so a listed import never mixes with an unlisted one."""
    return import_entries(catalog, read_gtzan(root, split_lists),
                          dataset or ("gtzan_split" if split_lists else "gtzan"), task, **kwargs)


def import_mtt(catalog: Catalog, annotations: str | Path, audio_root: str | Path,
               dataset: str = "magnatagatune", task: str = "tags", *, top: int | None = 50,
               clip_info: str | Path | None = None, **kwargs) -> DatasetImportReport:
    """Import MagnaTagATune tags (see :func:`read_mtt`)."""
    listing = read_mtt(annotations, audio_root, top=top, clip_info=clip_info)
    return import_entries(catalog, listing, dataset, task, **kwargs)


def import_fma(catalog: Catalog, tracks_csv: str | Path, audio_root: str | Path,
               dataset: str | None = None, task: str = "genre", *,
               subset: str | None = "small", **kwargs) -> DatasetImportReport:
    """Import FMA top genres (see :func:`read_fma`); ``dataset`` defaults to ``fma_<subset>``."""
    listing = read_fma(tracks_csv, audio_root, subset)
    return import_entries(catalog, listing, dataset or f"fma_{subset or 'full'}", task, **kwargs)


def import_jamendo(catalog: Catalog, tsv: str | Path, audio_root: str | Path,
                   dataset: str = "mtg-jamendo", task: str | None = None, *,
                   category: str | None = None,
                   split_lists: Mapping[str, str | Path] | None = None,
                   **kwargs) -> DatasetImportReport:
    """Import MTG-Jamendo tags (see :func:`read_jamendo`); ``task`` defaults to the
    category's (``genre``, ``instrument``, ``mood``, or ``tags`` for all of them)."""
    listing = read_jamendo(tsv, audio_root, category=category, split_lists=split_lists)
    return import_entries(catalog, listing, dataset, task or listing.task, **kwargs)


#: The source formats :func:`import_dataset` reads.
DATASET_FORMATS = ("folders", "csv", "gtzan", "mtt", "fma", "jamendo")

#: Formats whose table lists audio kept elsewhere: they need ``audio``.
TABLE_FORMATS = ("mtt", "fma", "jamendo")

#: The formats each format-specific option of :class:`DatasetSource` applies to: an option
#: given for another format is refused, never silently ignored.
OPTION_FORMATS = {
    "audio": ("csv", "mtt", "fma", "jamendo"),
    "splits": ("gtzan", "jamendo"),
    "split_list": ("gtzan", "jamendo"),
    "category": ("jamendo",),
    "clip_info": ("mtt",),
    "subset": ("fma",),
    "top": ("mtt",),
}


@dataclass(frozen=True)
class DatasetSource:
    """A labelled collection to import, as ``earmark dataset import`` (or a web form) names it.

    ``path``: the folder, manifest, or table; ``format``: one of :data:`DATASET_FORMATS`
    (``None``: ``folders`` for a folder, ``csv`` for a file). ``name`` and ``task`` default per
    format (see the ``import_*`` functions). Format-specific options (see
    :data:`OPTION_FORMATS`): ``audio`` (the audio folder of a table; a manifest's root),
    ``splits`` (a folder of split lists), ``split_list`` (split -> list file; wins over
    ``splits``), ``category`` (Jamendo), ``clip_info`` and ``top`` (MTT: the N most frequent
    tags, default 50, 0 = all), ``subset`` (FMA: small (default), medium, large, full).
    """

    path: Path
    format: str | None = None
    audio: Path | None = None
    name: str | None = None
    task: str | None = None
    splits: Path | None = None
    split_list: Mapping[str, Path] = field(default_factory=dict)
    category: str | None = None
    clip_info: Path | None = None
    subset: str | None = None
    top: int | None = None

    @property
    def kind(self) -> str:
        """The format, ``folders`` or ``csv`` by the path's kind when none was given."""
        return self.format or ("folders" if Path(self.path).is_dir() else "csv")

    def misplaced_options(self) -> list[str]:
        """The options given that do not apply to :attr:`kind`, in :data:`OPTION_FORMATS`
        order."""
        return [option for option, formats in OPTION_FORMATS.items()
                if getattr(self, option) not in (None, {}) and self.kind not in formats]

    def problems(self, spell: Callable[[str], str] = str) -> list[str]:
        """What keeps this source from being imported, in words (empty when nothing does):
        options that do not apply, a missing audio folder, an unknown category or subset, a
        split name that is not one. ``spell`` names an option (a field name such as
        ``split_list``) the way the face asking takes it (the CLI: ``--split-list``)."""
        kind = self.kind
        problems = [f"{spell(option)} does not apply to {spell('format')} {kind} (only to "
                    f"{', '.join(OPTION_FORMATS[option])})"
                    for option in self.misplaced_options()]
        if kind not in DATASET_FORMATS:
            problems.append(f"{spell('format')} must be one of {', '.join(DATASET_FORMATS)}")
        if kind in TABLE_FORMATS and self.audio is None:
            problems.append(f"{spell('audio')} FOLDER is needed for {kind} tables")
        if self.category is not None and self.category not in JAMENDO_CATEGORIES:
            problems.append(f"{spell('category')} must be one of "
                            f"{', '.join(JAMENDO_CATEGORIES)}")
        if self.subset is not None and self.subset not in FMA_SUBSETS:
            problems.append(f"{spell('subset')} must be one of {', '.join(FMA_SUBSETS)}")
        problems += [f"{spell('split_list')}: {split!r} is not a split (train, valid or test)"
                     for split in self.split_list if split.strip().lower() not in SPLIT_FOLDERS]
        return problems


def import_dataset(catalog: Catalog, source: DatasetSource, *, engine: Engine | None = None,
                   progress: ProgressFn | None = None) -> DatasetImportReport:
    """Import ``source`` with the importer of its format (``import_dataset_folders``,
    ``import_csv``, ``import_gtzan``, ``import_mtt``, ``import_fma`` or ``import_jamendo``).

    Raises ``ValueError`` naming every problem of :meth:`DatasetSource.problems`, and
    ``ValueError``, ``OSError`` or ``csv.Error`` (each naming the file at fault) for a source
    that cannot be read as its format; bad rows and files are reported, not raised.
    """
    problems = source.problems()
    if problems:
        raise ValueError("; ".join(problems))
    kind, name, task = source.kind, source.name, source.task
    lists = {normalise_split(split): Path(file) for split, file in source.split_list.items()}
    if source.splits is not None:
        lists = {**find_split_lists(source.splits, source.path), **lists}
    common = {"engine": engine, "progress": progress}
    if kind == "folders":
        return import_dataset_folders(catalog, source.path, name, task or "genre", **common)
    if kind == "csv":
        return import_csv(catalog, source.path, name, task or "genre", audio_root=source.audio,
                          **common)
    if kind == "gtzan":
        return import_gtzan(catalog, source.path, name, task or "genre",
                            split_lists=lists or None, **common)
    if kind == "mtt":
        return import_mtt(catalog, source.path, source.audio, name or "magnatagatune",
                          task or "tags", top=50 if source.top is None else source.top or None,
                          clip_info=source.clip_info, **common)
    if kind == "fma":
        subset = None if source.subset == "full" else source.subset or "small"
        return import_fma(catalog, source.path, source.audio, name, task or "genre",
                          subset=subset, **common)
    return import_jamendo(catalog, source.path, source.audio, name or "mtg-jamendo", task,
                          category=source.category, split_lists=lists or None, **common)
