"""Importers: labelled collections on disk -> tracks and labels in the catalog.

Each importer only *reads* its source format into :class:`Entry` rows (path, labels, split,
artist); :func:`import_entries` then adds the files with :func:`earmark.scan.scan` (in parallel,
verifying the audio) and stores the labels. A missing or unreadable file is reported in the
:class:`ImportReport` and skipped; the import always goes on.

Supported sources
-----------------
- a folder per label, optionally under ``train/``, ``valid/`` and ``test/`` folders
  (:func:`read_folders`);
- a CSV manifest ``path,label[,split][,artist]``, one row per label (:func:`read_csv`);
- MagnaTagATune's ``annotations_final.csv`` (:func:`read_mtt`);
- FMA's ``tracks.csv`` with its audio folder (:func:`read_fma`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from earmark.catalog import Catalog, tracks
from earmark.data.dataset import set_labels
from earmark.scan import find_audio_files, scan

ProgressFn = Callable[[int, int, str], None]

#: Folder names that mean a split rather than a label, and the split they stand for.
SPLIT_FOLDERS = {"train": "train", "training": "train", "valid": "valid",
                 "validation": "valid", "val": "valid", "test": "test", "testing": "test"}


@dataclass
class Entry:
    """One labelled file from a source, before it is in the catalog."""

    path: str
    labels: list[str]
    split: str | None = None
    artist: str | None = None


@dataclass
class ImportReport:
    """What an import did: ``labelled`` maps path -> labels; ``failed`` lists (path, reason)."""

    dataset: str
    task: str
    labelled: dict[str, list[str]] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)


def read_folders(root: str | Path) -> list[Entry]:
    """Entries of a folder-per-label tree.

    ``root/<label>/**/<file>`` gives label ``<label>``; when the first level holds split
    folders (``train``, ``valid``/``validation``, ``test``), ``root/<split>/<label>/**`` is read
    instead. Files directly in ``root`` (or a split folder) have no label and are ignored.
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
    entries = []
    for parent, split in parents:
        for label_dir in sorted(p for p in parent.iterdir() if p.is_dir()):
            for path, problem in find_audio_files([label_dir]):
                if problem is None:
                    entries.append(Entry(path, [label_dir.name], split))
    return entries


def read_csv(manifest: str | Path) -> list[Entry]:
    """Entries of a CSV manifest with columns ``path,label[,split][,artist]``.

    A file listed on several rows gets all their labels (multi-label). Relative paths are
    relative to the manifest's folder; a ``;`` inside a label cell does *not* split it.
    """
    manifest = Path(manifest)
    base = manifest.parent
    by_path: dict[str, Entry] = {}
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        reader = csv.DictReader(handle, dialect=dialect)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        if "path" not in columns or "label" not in columns:
            raise ValueError(f"{manifest}: needs 'path' and 'label' columns, has "
                             f"{list(columns)}")
        for row in reader:
            path = (row[columns["path"]] or "").strip()
            label = (row[columns["label"]] or "").strip()
            if not path or not label:
                continue
            full = os.path.normpath(base / path)
            split = _cell(row, columns, "split")
            entry = by_path.setdefault(full, Entry(full, [], split and SPLIT_FOLDERS.get(
                split.lower(), split.lower()), _cell(row, columns, "artist")))
            entry.labels.append(label)
    return list(by_path.values())


def _cell(row: dict, columns: dict, name: str) -> str | None:
    value = row.get(columns[name]) if name in columns else None
    return value.strip() or None if value else None


def read_mtt(
    annotations: str | Path, audio_root: str | Path, *, top: int | None = 50,
    clip_info: str | Path | None = None,
) -> list[Entry]:
    """Entries of MagnaTagATune's ``annotations_final.csv``.

    Parameters
    ----------
    annotations : tab-separated table: ``clip_id``, one 0/1 column per tag, ``mp3_path``.
    audio_root : folder the ``mp3_path`` values are relative to.
    top : keep only the ``top`` most frequent tags (50 is the usual benchmark); ``None`` keeps
        all 188.
    clip_info : optional ``clip_info_final.csv`` (tab-separated, ``clip_id`` and ``artist``),
        so splits can group by artist.

    Splits follow the usual convention by audio folder: ``0``-``b`` train, ``c`` valid,
    ``d``-``f`` test. Clips with none of the kept tags are left out.
    """
    with open(annotations, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = [h.strip().strip('"') for h in next(reader)]
        rows = [[c.strip().strip('"') for c in row] for row in reader if row]
    path_col, id_col = header.index("mp3_path"), header.index("clip_id")
    tag_cols = [i for i in range(len(header)) if i not in (path_col, id_col)]
    counts = {i: sum(r[i] == "1" for r in rows) for i in tag_cols}
    if top is not None:
        tag_cols = sorted(tag_cols, key=lambda i: (-counts[i], header[i]))[:top]
    artists = _mtt_artists(clip_info) if clip_info else {}
    entries = []
    for row in rows:
        labels = [header[i] for i in tag_cols if row[i] == "1"]
        if not labels or not row[path_col]:
            continue
        folder = row[path_col].split("/", 1)[0].lower()
        split = "train" if folder < "c" else "valid" if folder == "c" else "test"
        entries.append(Entry(os.path.normpath(Path(audio_root) / row[path_col]), labels, split,
                             artists.get(row[id_col])))
    return entries


def _mtt_artists(clip_info: str | Path) -> dict[str, str]:
    with open(clip_info, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        return {row["clip_id"].strip('"'): row["artist"].strip('"') for row in reader
                if row.get("artist")}


#: FMA's nested subsets: a track in ``small`` is also in ``medium``, ``large`` and ``full``.
FMA_SUBSETS = ("small", "medium", "large", "full")
FMA_SPLITS = {"training": "train", "validation": "valid", "test": "test"}


def read_fma(tracks_csv: str | Path, audio_root: str | Path,
             subset: str | None = "small") -> list[Entry]:
    """Entries of FMA's ``tracks.csv`` (top genre per track) with audio under ``audio_root``.

    The table has two header rows (``track``/``set``/``artist`` over ``genre_top``,
    ``subset``, ``split``, ...) and possibly a third naming the ``track_id`` index. Audio is
    ``audio_root/<first 3 digits>/<6-digit id>.mp3`` as in ``fma_small.zip``. ``subset`` keeps
    the tracks of that subset (nested: ``medium`` includes ``small``); ``None`` keeps all.
    Tracks without a top genre are left out.
    """
    if subset is not None and subset not in FMA_SUBSETS:
        raise ValueError(f"subset must be one of {FMA_SUBSETS}, not {subset!r}")
    wanted = None if subset is None else set(FMA_SUBSETS[: FMA_SUBSETS.index(subset) + 1])
    with open(tracks_csv, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        top, sub = next(reader), next(reader)
        index = {f"{a}.{b}": i for i, (a, b) in enumerate(zip(top, sub, strict=False)) if a}
        need = ("track.genre_top", "set.subset", "set.split")
        missing = [k for k in need if k not in index]
        if missing:
            raise ValueError(f"{tracks_csv}: not an FMA tracks.csv (no {', '.join(missing)})")
        artist_col = index.get("artist.id", index.get("artist.name"))
        entries = []
        for row in reader:
            if not row or not row[0].strip().isdigit():
                continue  # the "track_id" index row, or a blank line
            genre = row[index["track.genre_top"]].strip()
            if not genre or (wanted is not None and row[index["set.subset"]] not in wanted):
                continue
            tid = f"{int(row[0]):06d}"
            artist = row[artist_col].strip() if artist_col is not None else ""
            entries.append(Entry(
                os.path.normpath(Path(audio_root) / tid[:3] / f"{tid}.mp3"), [genre],
                FMA_SPLITS.get(row[index["set.split"]].strip()), artist or None,
            ))
    return entries


def import_entries(
    catalog: Catalog, entries: Iterable[Entry], dataset: str, task: str = "genre", *,
    workers: int | None = None, progress: ProgressFn | None = None,
) -> ImportReport:
    """Add the entries' files to the catalog (verifying their audio) and store their labels."""
    report = ImportReport(dataset, task)
    present = []
    for entry in entries:
        entry.path = tracks.normalise_path(entry.path)
        if os.path.isfile(entry.path):
            present.append(entry)
        else:
            report.failed.append((entry.path, "file not found"))
    scan(catalog, [e.path for e in present], workers=workers, progress=progress)
    with catalog.transaction():  # one commit for the whole table, not one per song
        for entry in present:
            track = tracks.get_track(catalog, entry.path)
            if track is None:
                report.failed.append((entry.path, "could not be added to the catalog"))
            elif track["status"] != "ok":
                report.failed.append((entry.path, track["error"] or "unreadable audio"))
            else:
                set_labels(catalog, track["id"], dataset, task, entry.labels, entry.split,
                           entry.artist)
                report.labelled[entry.path] = list(entry.labels)
    return report


def import_folders(catalog: Catalog, root: str | Path, dataset: str | None = None,
                   task: str = "genre", **kwargs) -> ImportReport:
    """Import a folder-per-label tree (see :func:`read_folders`); ``dataset`` defaults to the
    folder's name."""
    return import_entries(catalog, read_folders(root), dataset or Path(root).resolve().name,
                          task, **kwargs)


def import_csv(catalog: Catalog, manifest: str | Path, dataset: str | None = None,
               task: str = "genre", **kwargs) -> ImportReport:
    """Import a CSV manifest (see :func:`read_csv`); ``dataset`` defaults to its file stem."""
    return import_entries(catalog, read_csv(manifest), dataset or Path(manifest).stem, task,
                          **kwargs)


def import_mtt(catalog: Catalog, annotations: str | Path, audio_root: str | Path,
               dataset: str = "magnatagatune", task: str = "tags", *, top: int | None = 50,
               clip_info: str | Path | None = None, **kwargs) -> ImportReport:
    """Import MagnaTagATune tags (see :func:`read_mtt`)."""
    entries = read_mtt(annotations, audio_root, top=top, clip_info=clip_info)
    return import_entries(catalog, entries, dataset, task, **kwargs)


def import_fma(catalog: Catalog, tracks_csv: str | Path, audio_root: str | Path,
               dataset: str | None = None, task: str = "genre", *,
               subset: str | None = "small", **kwargs) -> ImportReport:
    """Import FMA top genres (see :func:`read_fma`); ``dataset`` defaults to ``fma_<subset>``."""
    entries = read_fma(tracks_csv, audio_root, subset)
    return import_entries(catalog, entries, dataset or f"fma_{subset or 'full'}", task, **kwargs)

