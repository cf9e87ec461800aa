"""Labelled songs read from the catalog: the one shape every trainer and evaluator consumes.

Labels live in the catalog's ``labels`` table (genres, tags, moods, ... under a ``task`` name)
and a listener's verdicts in ``ratings``. :func:`load_labelled` turns either into a
:class:`LabelledSet` whose ``kind`` says how targets are encoded:

- ``"single"``: one label per song (genre), ``y()`` gives class indices ``(n,)``;
- ``"multi"``: any number of labels per song (tags), ``y()`` gives 0/1 ``(n, n_classes)``;
- ``"binary"``: like (1) / dislike (0) from ratings, ``y()`` gives ``(n,)``;
- ``"regression"``: a 1-5 star rating, ``y()`` gives floats ``(n,)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from earmark.catalog import Catalog
from earmark.catalog.ratings import current_ratings
from earmark.catalog.tracks import iter_tracks

KINDS = ("single", "multi", "binary", "regression")
#: Tasks read from the ``ratings`` table instead of ``labels``.
RATING_TASKS = {"like": "binary", "stars": "regression"}


@dataclass
class LabelledSet:
    """Songs with targets, in a fixed order (by track id).

    Attributes
    ----------
    track_ids, paths : the songs.
    targets : per song, a list of label names (single/multi) or a number (binary/regression).
    kind : one of :data:`KINDS`.
    classes : label names in column order (``["dislike", "like"]`` for binary, empty for
        regression).
    artists : grouping key per song when known (``None`` otherwise).
    splits : ``"train"``/``"valid"``/``"test"`` when the source defines one, else ``None``.
    dataset, task : where the labels came from (``dataset`` ``None`` = every dataset).
    """

    track_ids: list[int]
    paths: list[str]
    targets: list
    kind: str
    classes: list[str]
    artists: list[str | None] = field(default_factory=list)
    splits: list[str | None] = field(default_factory=list)
    dataset: str | None = None
    task: str = "genre"

    def __len__(self) -> int:
        return len(self.track_ids)

    def y(self) -> np.ndarray:
        """Targets encoded for estimators (see the module docstring for shapes)."""
        if self.kind == "single":
            index = {c: i for i, c in enumerate(self.classes)}
            return np.array([index[t[0]] for t in self.targets], dtype=np.int64)
        if self.kind == "multi":
            index = {c: i for i, c in enumerate(self.classes)}
            y = np.zeros((len(self), len(self.classes)), dtype=np.int64)
            for row, labels in enumerate(self.targets):
                y[row, [index[t] for t in labels]] = 1
            return y
        if self.kind == "binary":
            return np.asarray(self.targets, dtype=np.int64)
        return np.asarray(self.targets, dtype=np.float64)

    def subset(self, indices: Iterable[int]) -> LabelledSet:
        idx = list(indices)

        def pick(values: Sequence) -> list:
            return [values[i] for i in idx] if values else []

        return replace(
            self, track_ids=pick(self.track_ids), paths=pick(self.paths),
            targets=pick(self.targets), artists=pick(self.artists), splits=pick(self.splits),
        )

    def in_split(self, name: str) -> np.ndarray:
        """``(n,)`` booleans: which songs the source puts in split ``name`` (none when it
        defines no splits)."""
        return np.array([split == name for split in self.splits], dtype=bool) if self.splits \
            else np.zeros(len(self), dtype=bool)

    def without_split(self, name: str) -> LabelledSet:
        """The songs outside split ``name`` (e.g. ``"test"``, which training never sees), in
        the same order; every song when the source has no such split."""
        return self.subset(np.flatnonzero(~self.in_split(name)))

    def summary(self) -> dict:
        """Counts for a model card: songs, classes and songs per class."""
        out: dict = {"dataset": self.dataset, "task": self.task, "kind": self.kind,
                     "songs": len(self)}
        if self.kind in ("single", "multi"):
            y = self.y()
            counts = np.bincount(y, minlength=len(self.classes)) if self.kind == "single" \
                else y.sum(axis=0)
            out["per_class"] = {c: int(n) for c, n in zip(self.classes, counts, strict=True)}
        elif self.kind == "binary":
            out["per_class"] = {c: int((self.y() == i).sum()) for i, c in enumerate(self.classes)}
        return out


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


def datasets(catalog: Catalog) -> list[dict]:
    """Labelled collections in the catalog: ``{dataset, task, songs, labels}`` each."""
    rows = catalog.execute(
        "SELECT dataset, task, count(DISTINCT track_id) AS songs, count(DISTINCT label) AS n "
        "FROM labels GROUP BY dataset, task ORDER BY dataset, task"
    ).fetchall()
    return [{"dataset": r[0], "task": r[1], "songs": r[2], "labels": r[3]} for r in rows]


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
    playable = {t["id"]: t for t in iter_tracks(catalog)}
    rows = []
    for track_id, rating in sorted(current_ratings(catalog).items()):
        track = playable.get(track_id)
        target = rating.label if task == "like" else rating.stars
        if track is not None and target is not None:
            rows.append((track_id, track["path"], target, track["artist"]))
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
