"""Per-song embedding vectors (float32), one per track and model."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import numpy as np

from earmark.catalog.db import Catalog


def store_embedding(
    catalog: Catalog, track_id: int, model: str, vector: np.ndarray, content_hash: str | None,
    *, analysis: str = "full", precision: str | None = None,
) -> None:
    """Save ``vector`` ``(dim,)`` for a track, replacing an older one of the same model, with
    how it was made: ``analysis`` ``"full"`` (every patch) or a sampling spec
    (``"sampled:8x2"``, :mod:`earmark.analysis.sampling`), and the network's ``precision``."""
    vector = np.ascontiguousarray(vector, dtype="<f4").ravel()
    with catalog.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO embeddings (track_id, model, content_hash, dim, vector, "
            "created_at, analysis, precision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (track_id, model, content_hash, vector.size, vector.tobytes(), time.time(),
             analysis, precision),
        )


def load_embeddings(
    catalog: Catalog, model: str, track_ids: Iterable[int] | None = None
) -> tuple[list[int], np.ndarray]:
    """Embeddings of ``model`` as ``(track_ids, matrix (n, dim))``, ordered by track id.

    Only embeddings computed from the file's current content are returned; tracks without one
    are left out (see :func:`earmark.analysis.embed.embed_tracks` to compute them).
    """
    sql = (
        "SELECT e.track_id, e.vector FROM embeddings e JOIN tracks t ON t.id = e.track_id "
        "WHERE e.model = ? AND t.status = 'ok' "
        "AND (e.content_hash IS t.content_hash)"
    )
    args: tuple = (model,)
    if track_ids is not None:
        # Filtered in SQL: callers often want a few songs out of a whole library.
        sql += " AND e.track_id IN (SELECT value FROM json_each(?))"
        args += (json.dumps(sorted({int(i) for i in track_ids})),)
    rows = catalog.execute(sql + " ORDER BY e.track_id", args).fetchall()
    ids, vectors = [], []
    for track_id, blob in rows:
        ids.append(track_id)
        vectors.append(np.frombuffer(blob, dtype="<f4"))
    matrix = np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)
    return ids, matrix


def missing_embeddings(catalog: Catalog, model: str, *, full: bool = False) -> list[int]:
    """Ids of playable tracks with no up-to-date embedding of ``model``; with ``full``, also
    those whose embedding was made from a sample of the song rather than every patch."""
    rows = catalog.execute(
        "SELECT t.id FROM tracks t LEFT JOIN embeddings e ON e.track_id = t.id AND e.model = ? "
        "WHERE t.status = 'ok' AND (e.track_id IS NULL OR e.content_hash IS NOT t.content_hash "
        "OR (? AND e.analysis IS NOT 'full')) ORDER BY t.id",
        (model, full),
    )
    return [r[0] for r in rows]


def track_embeddings(catalog: Catalog, track_id: int) -> list[dict]:
    """Which models have a vector for a track: ``{model, dim, created_at, analysis,
    precision}`` each (Unix time; see :func:`store_embedding`)."""
    rows = catalog.execute(
        "SELECT model, dim, created_at, analysis, precision FROM embeddings WHERE track_id = ? "
        "ORDER BY model", (track_id,)).fetchall()
    return [dict(r) for r in rows]
