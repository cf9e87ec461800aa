"""A 2-D map of the library: the songs' embeddings laid out with scikit-learn's t-SNE.

t-SNE keeps neighbours together, so songs that sound alike sit close on the map. It costs
O(n log n) per iteration with a large constant: a few thousand songs take seconds, 100,000
would take many minutes. So at most :data:`LAID_OUT` songs (a random sample, the same for the
same seed) are laid out by t-SNE, and every other song is *placed* beside its nearest laid-out
neighbour (in the same PCA space t-SNE saw), with a little jitter so that songs placed at one
neighbour stay apart under the mouse. The layout is then cached in a file beside the catalog,
keyed by a hash of the embeddings themselves (track ids and vectors, from
:func:`~earmark.catalog.vectors.vector_table`), so a page load or a second ``earmark map``
reads it instead of computing again; any embedding added, recomputed or removed makes a new
layout, while a scan that changed no embedding does not. The file also records the catalog's
``vector_generation`` it was checked at: while that number stands the embeddings cannot have
changed, so the hash (a tenth of a second or more at 100,000 songs) is only computed after it
moved.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from earmark.catalog import Catalog
from earmark.catalog.vectors import VectorTable, vector_table
from earmark.settings import EMBEDDING_MODEL

#: At most this many songs are laid out by t-SNE; the others are placed by nearest neighbour.
LAID_OUT = 2000

#: PCA components t-SNE works on (scikit-learn's advice: reduce to ~50 dimensions first).
PCA_COMPONENTS = 50

#: Bump when the layout computation changes, so caches made by older code are not reused.
_LAYOUT_VERSION = 1


@dataclass(frozen=True)
class EmbeddingMap:
    """Where each song sits on the map.

    ``track_ids`` ``(n,)`` in track id order; ``xy`` ``(n, 2)`` float32 coordinates scaled into
    [0, 1] on both axes; ``laid_out``: how many songs t-SNE laid out (the rest were placed by
    nearest neighbour); ``model``: the embedding model; ``key``: the cache key (the embedding
    set and the layout settings); ``vectors``: the embeddings laid out, row ``i`` that of
    ``track_ids[i]``.
    """

    track_ids: list[int]
    xy: np.ndarray
    laid_out: int
    model: str
    key: str
    vectors: VectorTable

    @property
    def method(self) -> str:
        """How the map was made, in words for a person."""
        n = len(self.track_ids)
        if self.laid_out == n:
            return f"t-SNE of all {n:,} songs' {self.model} embeddings"
        return (f"t-SNE of a random sample of {self.laid_out:,} of {n:,} songs' {self.model} "
                "embeddings; the other songs are placed beside their nearest sampled neighbour")


def _scaled(xy: np.ndarray) -> np.ndarray:
    """``xy`` shifted and scaled (one factor for both axes, so distances keep their meaning)
    into [0, 1]."""
    if not len(xy):
        return xy.astype(np.float32)
    low = xy.min(axis=0)
    span = float((xy.max(axis=0) - low).max()) or 1.0
    return ((xy - low) / span).astype(np.float32)


def layout_embeddings(X: np.ndarray, *, laid_out: int = LAID_OUT, seed: int = 0
                      ) -> tuple[np.ndarray, int]:
    """2-D positions of the rows of ``X`` ``(n, dim)``.

    Rows are compared by direction (L2-normalised, as similarity search compares them),
    reduced to :data:`PCA_COMPONENTS` with PCA, and laid out with t-SNE (perplexity 30, or
    less for a small library; fewer than 4 songs just get their first two PCA components).
    Beyond ``laid_out`` rows, a random sample of ``laid_out`` is laid out and each other row
    is placed at its nearest sampled neighbour plus jitter of 0.5 % of the map's size.

    Returns ``(xy (n, 2) float32 in [0, 1], rows laid out by t-SNE)``. Reproducible for one
    ``seed``.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    n = len(X)
    if n == 0:
        return np.zeros((0, 2), np.float32), 0
    X = np.asarray(X, dtype=np.float32)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    components = min(PCA_COMPONENTS, X.shape[1], n)
    Z = PCA(components, random_state=seed).fit_transform(X) if n > 1 else X[:, :components]
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, laid_out, replace=False)) if n > laid_out else np.arange(n)
    if len(sample) < 4:
        xy_sample = np.zeros((len(sample), 2))
        xy_sample[:, : min(2, Z.shape[1])] = Z[sample, :2]
    else:
        perplexity = min(30.0, (len(sample) - 1) / 3)
        xy_sample = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto",
                         random_state=seed).fit_transform(Z[sample])
    xy = np.zeros((n, 2))
    xy[sample] = xy_sample
    rest = np.setdiff1d(np.arange(n), sample)
    if len(rest):
        nearest = _nearest(Z[rest], Z[sample])
        span = float(np.ptp(xy_sample, axis=0).max()) or 1.0
        xy[rest] = xy_sample[nearest] + rng.normal(scale=0.005 * span, size=(len(rest), 2))
    return _scaled(xy), len(sample)


def _nearest(A: np.ndarray, B: np.ndarray, block: int = 4096) -> np.ndarray:
    """For each row of ``A`` ``(m, d)`` the index of its nearest row of ``B`` ``(k, d)``
    (Euclidean), in blocks so the ``(block, k)`` distance matrix stays small."""
    b2 = (B * B).sum(axis=1)
    out = np.empty(len(A), dtype=np.int64)
    for start in range(0, len(A), block):
        chunk = A[start:start + block]
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2; |a|^2 is the same for every b.
        out[start:start + block] = np.argmin(b2[np.newaxis, :] - 2 * chunk @ B.T, axis=1)
    return out


def map_cache_path(catalog: Catalog, model: str) -> Path:
    """The file beside the catalog holding its cached map of ``model``'s embeddings."""
    safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in model)
    return catalog.path.with_name(f"{catalog.path.stem}.map-{safe}.npz")


@dataclass(frozen=True)
class _Cached:
    """A cached layout: ``key`` (:func:`_embeddings_key`), ``xy``, ``laid_out``, the layout
    settings ``made_with``, and the catalog ``generation`` its key was last checked at
    (``None`` for both in files of older code)."""

    key: str
    xy: np.ndarray
    laid_out: int
    made_with: str | None
    generation: int | None


def _embeddings_key(table: VectorTable, made_with: str) -> str:
    """A hash of the layout settings ``made_with`` and the table's track ids and vectors."""
    digest = hashlib.blake2b(made_with.encode(), digest_size=12)
    digest.update(np.ascontiguousarray(table.track_ids, dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(table.matrix, dtype="<f4").tobytes())
    return digest.hexdigest()


def _read_cache(path: Path) -> _Cached | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            checked = "generation" in data and "made_with" in data
            return _Cached(str(data["key"]), data["xy"], int(data["laid_out"]),
                           str(data["made_with"]) if checked else None,
                           int(data["generation"]) if checked else None)
    except (OSError, ValueError, KeyError):
        return None  # missing, unreadable or from other code: computed again


def _write_cache(path: Path, cached: _Cached) -> None:
    """Write the cache atomically (a reader never sees half a file); a folder that cannot be
    written only costs computing the map again next time."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.array(cached.key), xy=cached.xy,
                     laid_out=np.array(cached.laid_out), made_with=np.array(cached.made_with),
                     generation=np.array(cached.generation))
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


def embedding_map(catalog: Catalog, model: str = EMBEDDING_MODEL, *, laid_out: int = LAID_OUT,
                  seed: int = 0, refresh: bool = False) -> EmbeddingMap:
    """The map of the catalog's current ``model`` embeddings (see :func:`layout_embeddings`),
    from the cache beside the catalog when the embeddings have not changed since it was made
    (unless ``refresh``), else computed and cached. Songs without an up-to-date embedding are
    not on the map (``earmark embed`` computes them)."""
    table = vector_table(catalog, model)
    made_with = f"v{_LAYOUT_VERSION}:{laid_out}:{seed}"
    path = map_cache_path(catalog, model)
    cached = None if refresh else _read_cache(path)
    if cached is None or (cached.made_with, cached.generation) != (made_with, table.generation):
        key = _embeddings_key(table, made_with)
        if cached is not None and cached.key == key:  # only the generation moved
            cached = replace(cached, made_with=made_with, generation=table.generation)
        else:
            xy, n_laid_out = layout_embeddings(table.matrix, laid_out=laid_out, seed=seed)
            cached = _Cached(key, xy, n_laid_out, made_with, table.generation)
        _write_cache(path, cached)
    return EmbeddingMap(table.track_ids.tolist(), cached.xy, cached.laid_out, model,
                        cached.key, table)
