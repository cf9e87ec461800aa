"""Active learning: which songs should the listener rate next to teach the taste model most.

Pure functions over embeddings ``(n, dim)`` and like-probabilities ``(n,)``; they return
indices into the candidates. Distances are cosine distances (``1 - cosine similarity``), the
geometry the taste model itself works in.

Strategies
----------
random : uniform sample, the baseline.
uncertain : the songs whose P(like) is closest to 0.5.
diverse : k-means++ seeding over the embeddings, away from songs already rated, so a batch
    covers the collection instead of one corner of it (also the cold start of the others).
mixed : greedy k-center weighted by uncertainty: each pick maximises
    ``uncertainty * distance to the nearest rated or already picked song``, so the batch is
    informative and yet not ten near-identical songs.
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("random", "uncertain", "diverse", "mixed")

#: The P(like) at which a like and a dislike are equally likely. The taste model is
#: Platt-calibrated (:mod:`earmark.taste.model`), so above it a song is more likely liked than
#: not: a recommendation's reason then names the liked songs it resembles (below it, the
#: disliked ones), and a playlist of recommendations keeps only songs above it by default.
LIKELY = 0.5


def uncertainty(proba: np.ndarray) -> np.ndarray:
    """``(n,)`` in [0, 1]: 1 at P(like) = 0.5, 0 at 0 or 1."""
    return 1.0 - np.abs(2.0 * np.asarray(proba, np.float64) - 1.0)


def l2_normalise(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length ``(n, dim)``; all-zero rows stay zero. float32 rows stay
    float32 (a library's matrix: half the memory and twice the speed of float64, ample for
    cosines); anything else becomes float64."""
    X = np.asarray(X)
    X = X.astype(np.float32 if X.dtype == np.float32 else np.float64, copy=False)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, X.dtype.type(1))


def cosine_similarities(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``(len(A), len(B))`` cosine similarities in [-1, 1] between rows of ``A`` and ``B``
    (float32 when both are float32, see :func:`l2_normalise`)."""
    return unit_similarities(l2_normalise(A), l2_normalise(B))


def unit_similarities(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """:func:`cosine_similarities` of rows already scaled to unit length: ``A`` ``(n, dim)``
    against ``B`` ``(m, dim)`` gives ``(n, m)``, or against one row ``B`` ``(dim,)`` gives
    ``(n,)`` (one matrix-vector product)."""
    # Rounding can take a unit dot product a hair past 1.
    return np.clip(A @ B.T, -1.0, 1.0)


def cosine_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``(len(A), len(B))`` cosine distances in [0, 2] between rows of ``A`` and ``B``."""
    return 1.0 - cosine_similarities(A, B)


def _unit_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """:func:`cosine_distances` of rows already scaled to unit length."""
    return 1.0 - unit_similarities(A, B)


def top_indices(scores: np.ndarray, k: int | None) -> np.ndarray:
    """Indices of the ``k`` highest of ``scores`` ``(n,)``, highest first and ties by index,
    exactly the first ``k`` of a stable ``argsort(-scores)`` (``k=None``: all of it).

    Partitions first, so it costs O(n + k log k) rather than a full sort of a library's
    100,000 scores for the 10 shown. ``-inf`` scores rank last.
    """
    n = len(scores)
    if k is None or k >= n:
        return np.argsort(-scores, kind="stable")
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    kth = np.partition(scores, n - k)[n - k]
    # Every score tied with the k-th is kept, so the stable sort picks among ties by index.
    top = np.flatnonzero(scores >= kth)
    return top[np.argsort(-scores[top], kind="stable")][:k]


def _nearest_distance(Xn: np.ndarray, rated: np.ndarray | None) -> np.ndarray:
    """Distance of each unit-length candidate to its nearest rated song (``inf`` when none is
    rated)."""
    if rated is None or len(rated) == 0:
        return np.full(len(Xn), np.inf)
    return _unit_distances(Xn, l2_normalise(rated)).min(axis=1)


def select_random(n_candidates: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct indices drawn uniformly from ``range(n_candidates)``."""
    return rng.choice(n_candidates, size=min(k, n_candidates), replace=False)


def select_uncertain(proba: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most uncertain candidates, most uncertain first (ties by index)."""
    return np.argsort(-uncertainty(proba), kind="stable")[:k]


def select_diverse(X: np.ndarray, k: int, rated: np.ndarray | None = None,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """k-means++ seeding: each pick drawn with probability proportional to its squared
    distance to the nearest rated or picked song.

    Parameters
    ----------
    X : ``(n, dim)`` candidate embeddings.
    rated : ``(m, dim)`` embeddings of songs already rated, or ``None``.
    rng : randomness of the draws (default: seeded 0, reproducible).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    k = min(k, len(X))
    Xn = l2_normalise(X)  # once: each pick only adds the distances to one more song
    nearest = _nearest_distance(Xn, rated)
    picked: list[int] = []
    for _ in range(k):
        if np.isinf(nearest).all():
            choice = int(rng.integers(len(X)))
        else:
            d2 = np.where(np.isinf(nearest), 0.0, nearest) ** 2
            d2[picked] = 0.0
            total = d2.sum()
            choice = int(rng.choice(len(X), p=d2 / total)) if total > 0 else int(
                rng.choice(np.setdiff1d(np.arange(len(X)), picked)))
        picked.append(choice)
        nearest = np.minimum(nearest, _unit_distances(Xn, Xn[choice:choice + 1])[:, 0])
    return np.array(picked, dtype=int)


def select_mixed(X: np.ndarray, proba: np.ndarray, k: int,
                 rated: np.ndarray | None = None) -> np.ndarray:
    """Uncertainty-weighted greedy k-center: pick ``argmax(uncertainty * distance)`` repeatedly.

    Parameters
    ----------
    X : ``(n, dim)`` candidate embeddings; ``proba`` : ``(n,)`` their P(like).
    rated : ``(m, dim)`` embeddings of songs already rated, or ``None``.
    """
    k = min(k, len(X))
    weight = uncertainty(proba) + 1e-3  # a sure song can still be picked when all others are
    Xn = l2_normalise(X)  # once: each pick only adds the distances to one more song
    nearest = _nearest_distance(Xn, rated)
    if np.isinf(nearest).all():
        nearest = np.ones(len(X))
    picked: list[int] = []
    for _ in range(k):
        score = weight * nearest
        score[picked] = -np.inf
        choice = int(np.argmax(score))
        picked.append(choice)
        nearest = np.minimum(nearest, _unit_distances(Xn, Xn[choice:choice + 1])[:, 0])
    return np.array(picked, dtype=int)


def select_batch(strategy: str, X: np.ndarray, k: int, proba: np.ndarray | None = None,
                 rated: np.ndarray | None = None, seed: int | None = 0) -> np.ndarray:
    """Indices of the next ``k`` candidates to rate.

    Parameters
    ----------
    strategy : one of :data:`STRATEGIES`.
    X : ``(n, dim)`` embeddings of the unrated candidates.
    proba : ``(n,)`` P(like) from the current taste model, or ``None`` when there is none yet
        (cold start: ``uncertain`` and ``mixed`` then fall back to ``diverse``).
    rated : ``(m, dim)`` embeddings of the songs already rated.
    seed : for the random draws of ``random`` and ``diverse``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    rng = np.random.default_rng(seed)
    if len(X) == 0 or k <= 0:
        return np.zeros(0, dtype=int)
    if strategy == "random":
        return select_random(len(X), k, rng)
    if proba is None or strategy == "diverse":
        return select_diverse(X, k, rated, rng)
    if strategy == "uncertain":
        return select_uncertain(proba, k)
    return select_mixed(X, proba, k, rated)
