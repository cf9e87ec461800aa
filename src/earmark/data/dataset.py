"""Labelled songs: the one shape every trainer and evaluator consumes (pure, no catalog).

:func:`earmark.catalog.labels.load_labelled` reads a :class:`LabelledSet` from the catalog's
``labels`` or ``ratings`` table; its ``kind`` says how targets are encoded:

- ``"single"``: one label per song (genre), ``y()`` gives class indices ``(n,)``;
- ``"multi"``: any number of labels per song (tags), ``y()`` gives 0/1 ``(n, n_classes)``;
- ``"binary"``: like (1) / dislike (0) from ratings, ``y()`` gives ``(n,)``;
- ``"regression"``: a 1-5 star rating, ``y()`` gives floats ``(n,)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

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
