"""Honest splits: stratified by label, grouped so related songs never straddle train and test.

A group is the song's artist when known. Without artists, files named ``<prefix><number>``
(GTZAN's ``blues.00012.flac``, or ``07 Title.mp3`` track numbers of an album folder) are grouped
in blocks of ``block`` consecutive numbers per folder, because neighbouring GTZAN clips often
come from one artist or even one recording; anything else is its own group. Each chunk of a
song always follows the song, since splits are made over songs. Every split is a pure function
of its inputs and ``seed``; a hold-out looks for a split with every class on both sides.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

_NUMBERED = re.compile(r"^(\D*?)[ ._-]*(\d+)")


def group_keys(
    paths: Sequence[str], artists: Sequence[str | None] | None = None, block: int = 3,
) -> np.ndarray:
    """One grouping key per song, ``(n,)`` strings.

    Parameters
    ----------
    paths : the songs' files.
    artists : artist per song (``None`` where unknown); songs of one artist share a group.
    block : how many consecutive clip numbers form a group when the artist is unknown.
    """
    keys = []
    for i, path in enumerate(paths):
        artist = artists[i] if artists else None
        if artist and artist.strip():
            keys.append("artist:" + artist.strip().casefold())
            continue
        folder, name = os.path.split(path)
        match = _NUMBERED.match(os.path.splitext(name)[0])
        if match:
            keys.append(f"block:{folder}/{match.group(1)}#{int(match.group(2)) // block}")
        else:
            keys.append("song:" + path)
    return np.array(keys, dtype=object)


def stratify_labels(y: np.ndarray, kind: str) -> np.ndarray:
    """A 1-d label per song to stratify on, ``(n,)`` ints.

    ``single``/``binary``: the class itself; ``multi``: the song's rarest positive tag (-1 for
    none), which keeps rare tags in every fold; ``regression``: the quintile of the target.
    """
    y = np.asarray(y)
    if kind in ("single", "binary"):
        return y.astype(np.int64)
    if kind == "multi":
        frequency = y.sum(axis=0)
        rarity = np.where(y > 0, frequency[None, :], np.iinfo(np.int64).max)
        return np.where(y.any(axis=1), rarity.argmin(axis=1), -1)
    edges = np.quantile(y, [0.2, 0.4, 0.6, 0.8])
    return np.searchsorted(np.unique(edges), y, side="right")


def cv_folds(
    y: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0, kind: str = "single",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified group k-fold: ``n_splits`` pairs of ``(train_indices, test_indices)``.

    Every song is in exactly one test fold and no group is on both sides of any fold.
    """
    n_groups = len(set(groups))
    if n_groups < n_splits:
        raise ValueError(f"{n_groups} groups cannot make {n_splits} folds; lower n_splits")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    strata = stratify_labels(y, kind)
    return [(np.sort(tr), np.sort(te))
            for tr, te in splitter.split(np.zeros(len(strata)), strata, groups)]


def missing_classes(y: np.ndarray, indices: np.ndarray, kind: str) -> np.ndarray:
    """Class indices present in ``y`` but absent from the songs ``indices``, ``(m,)`` ints.

    ``single``/``binary``: classes of ``y`` ``(n,)`` no song of ``indices`` has; ``multi``:
    tags of ``y`` ``(n, k)`` with a positive somewhere but none among ``indices``;
    ``regression``: none (there are no classes).
    """
    y = np.asarray(y)
    if kind == "regression":
        return np.array([], dtype=np.int64)
    if kind == "multi":
        return np.flatnonzero(y.any(axis=0) & ~y[indices].any(axis=0))
    return np.setdiff1d(np.unique(y), y[indices])


def holdout_split(
    y: np.ndarray, groups: np.ndarray, test_fraction: float = 0.2, seed: int = 0,
    kind: str = "single", attempts: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """One stratified, grouped split: ``(train_indices, held_out_indices)``.

    The held-out part is about ``test_fraction`` of the songs: one fold of a
    ``round(1 / test_fraction)``-fold split. Stratification alone does not put every class on
    both sides when classes have few groups, so the folds of up to ``attempts`` shuffles
    (seeds derived from ``seed``) are tried in turn and the first whose both sides hold every
    class is taken, else the one missing the fewest (see :func:`missing_classes` to find
    out which).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be between 0 and 1")
    n_splits = max(2, min(round(1.0 / test_fraction), len(set(groups))))
    best, fewest = None, None
    for attempt in range(attempts):
        for train, held in cv_folds(y, groups, n_splits, seed + 7919 * attempt, kind):
            missing = len(missing_classes(y, held, kind)) + len(missing_classes(y, train, kind))
            if missing == 0:
                return train, held
            if fewest is None or missing < fewest:
                best, fewest = (train, held), missing
    return best
