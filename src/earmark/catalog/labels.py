"""Labels and ratings in the catalog as :class:`~earmark.data.LabelledSet` s.

Labels live in the ``labels`` table (genres, tags, moods, ... under a ``task`` name, per
``dataset``), a listener's verdicts in ``ratings``. :func:`set_labels` writes labels,
:func:`load_labelled` reads either table into a labelled set, :func:`datasets` lists what is
there.
"""

from __future__ import annotations

from collections.abc import Iterable

from earmark.catalog.db import Catalog
from earmark.catalog.ratings import current_ratings
from earmark.catalog.tracks import tracks_by_id
from earmark.data.dataset import RATING_TASKS, LabelledSet


def set_labels(
    catalog: Catalog, track_id: int, dataset: str, task: str, labels: Iterable[str],
    split: str | None = None, artist: str | None = None,
) -> None:
    """Replace a track's labels for ``(dataset, task)`` with ``labels``."""
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM labels WHERE track_id = ? AND dataset = ? AND task = ?",
                     (track_id, dataset, task))
        conn.executemany(
            "INSERT OR REPLACE INTO labels (track_id, dataset, task, label, split, artist) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(track_id, dataset, task, label, split, artist) for label in dict.fromkeys(labels)],
        )


def add_label(catalog: Catalog, track_id: int, dataset: str, task: str, label: str) -> bool:
    """Give a track one more label for ``(dataset, task)``, keeping its others; ``True`` when
    it is new, ``False`` when the track had it already."""
    with catalog.transaction() as conn:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO labels (track_id, dataset, task, label) VALUES (?, ?, ?, ?)",
            (track_id, dataset, task, label))
        return cursor.rowcount > 0


def remove_label(catalog: Catalog, track_id: int, dataset: str, task: str, label: str) -> bool:
    """Take one label of ``(dataset, task)`` off a track (any case of it); ``True`` when the
    track had it."""
    with catalog.transaction() as conn:
        cursor = conn.execute(
            "DELETE FROM labels WHERE track_id = ? AND dataset = ? AND task = ? "
            "AND label = ? COLLATE NOCASE", (track_id, dataset, task, label))
        return cursor.rowcount > 0


def dataset_labels(catalog: Catalog, dataset: str, task: str) -> list[tuple[str, str]]:
    """``(path, label)`` of every label in ``(dataset, task)``, by path then label."""
    rows = catalog.execute(
        "SELECT t.path, l.label FROM labels l JOIN tracks t ON t.id = l.track_id "
        "WHERE l.dataset = ? AND l.task = ? ORDER BY t.path, l.label", (dataset, task))
    return [(path, label) for path, label in rows.fetchall()]


def datasets(catalog: Catalog) -> list[dict]:
    """Labelled collections in the catalog: ``{dataset, task, songs, labels}`` each."""
    rows = catalog.execute(
        "SELECT dataset, task, count(DISTINCT track_id) AS songs, count(DISTINCT label) AS n "
        "FROM labels GROUP BY dataset, task ORDER BY dataset, task"
    ).fetchall()
    return [{"dataset": r[0], "task": r[1], "songs": r[2], "labels": r[3]} for r in rows]


def track_labels(catalog: Catalog, track_id: int) -> list[dict]:
    """A track's labels: ``{dataset, task, label, split, artist}`` each, in that order."""
    rows = catalog.execute(
        "SELECT dataset, task, label, split, artist FROM labels WHERE track_id = ? "
        "ORDER BY dataset, task, label", (track_id,)).fetchall()
    return [dict(r) for r in rows]


def load_labelled(
    catalog: Catalog, task: str = "genre", dataset: str | None = None, kind: str | None = None,
) -> LabelledSet:
    """Every playable song with labels for ``task`` (from ``dataset``, or from all datasets).

    ``task="like"`` reads like/dislike verdicts and ``task="stars"`` star ratings from the
    ``ratings`` table (the latest rating of each song counts). For other tasks ``kind`` is
    ``"multi"`` when some song has several labels, else ``"single"``, unless given.
    """
    if task in RATING_TASKS:
        return _load_ratings(catalog, task)
    sql = (
        "SELECT l.track_id, t.path, l.label, l.split, coalesce(l.artist, t.artist) "
        "FROM labels l JOIN tracks t ON t.id = l.track_id "
        "WHERE t.status = 'ok' AND l.task = ?"
    )
    args: tuple = (task,)
    if dataset is not None:
        sql += " AND l.dataset = ?"
        args += (dataset,)
    rows = catalog.execute(sql + " ORDER BY l.track_id, l.label", args).fetchall()
    by_track: dict[int, dict] = {}
    for track_id, path, label, split, artist in rows:
        entry = by_track.setdefault(track_id, {"path": path, "labels": [], "split": split,
                                               "artist": artist})
        entry["labels"].append(label)
    if kind is None:
        kind = "multi" if any(len(e["labels"]) > 1 for e in by_track.values()) else "single"
    if kind not in ("single", "multi"):
        raise ValueError(f"labels of task {task!r} can only be 'single' or 'multi', not {kind!r}")
    if kind == "single":
        ambiguous = [e["path"] for e in by_track.values() if len(e["labels"]) > 1]
        if ambiguous:
            raise ValueError(f"{len(ambiguous)} songs have several {task} labels "
                             f"(e.g. {ambiguous[0]}); use kind='multi'")
    ids = sorted(by_track)
    classes = sorted({label for e in by_track.values() for label in e["labels"]})
    return LabelledSet(
        track_ids=ids, paths=[by_track[i]["path"] for i in ids],
        targets=[by_track[i]["labels"] for i in ids], kind=kind, classes=classes,
        artists=[by_track[i]["artist"] for i in ids], splits=[by_track[i]["split"] for i in ids],
        dataset=dataset, task=task,
    )


def _load_ratings(catalog: Catalog, task: str) -> LabelledSet:
    """Each rated song's *current* rating, by the rules of :mod:`earmark.catalog.ratings` (the
    latest opinion wins, skips change nothing), so training and the taste model agree."""
    current = current_ratings(catalog)
    rated = tracks_by_id(catalog, current)
    rows = []
    for track_id, rating in sorted(current.items()):
        track = rated.get(track_id)
        target = rating.label if task == "like" else rating.stars
        if track is not None and track.status == "ok" and target is not None:
            rows.append((track_id, track.path, target, track.artist))
    if task == "like":
        targets = [int(r[2]) for r in rows]
        classes = ["dislike", "like"]
    else:
        targets = [float(r[2]) for r in rows]
        classes = []
    return LabelledSet(
        track_ids=[r[0] for r in rows], paths=[r[1] for r in rows], targets=targets,
        kind=RATING_TASKS[task], classes=classes, artists=[r[3] for r in rows],
        splits=[None] * len(rows), dataset=None, task=task,
    )
