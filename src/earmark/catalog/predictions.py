"""Model outputs per track (tags, genres, taste scores...), stored as JSON payloads.

Torch-free on purpose: tag writing, undo and the beets plugin read predictions without loading
a model.
"""

from __future__ import annotations

import json
import time

from earmark.catalog.db import Catalog


def store_predictions(catalog: Catalog, track_id: int, model: str,
                      payloads: dict[str, object]) -> None:
    """Save ``{kind: payload}`` for a track and model, replacing older ones of those kinds."""
    now = time.time()
    with catalog.transaction() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO predictions (track_id, model, kind, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(track_id, model, kind, json.dumps(payload), now)
             for kind, payload in payloads.items()],
        )


def load_predictions(catalog: Catalog, track_id: int, kind: str, model: str) -> object | None:
    """A stored payload (decoded JSON), or ``None`` when there is none."""
    row = catalog.execute(
        "SELECT payload FROM predictions WHERE track_id = ? AND model = ? AND kind = ?",
        (track_id, model, kind)).fetchone()
    return None if row is None else json.loads(row[0])


def track_predictions(catalog: Catalog, track_id: int) -> list[dict]:
    """Every stored payload of a track: ``{model, kind, value}`` each, ``value`` decoded."""
    rows = catalog.execute(
        "SELECT model, kind, payload FROM predictions WHERE track_id = ? ORDER BY model, kind",
        (track_id,)).fetchall()
    return [{"model": model, "kind": kind, "value": json.loads(payload)}
            for model, kind, payload in rows]


def is_silent(catalog: Catalog, track_id: int) -> bool:
    """Whether an analysis of the track (any model, kind ``audio``) found its audio silent."""
    rows = catalog.execute(
        "SELECT payload FROM predictions WHERE track_id = ? AND kind = 'audio'", (track_id,))
    return any(json.loads(payload).get("silent") for (payload,) in rows)


def prediction_models(catalog: Catalog, kind: str) -> list[str]:
    """The model names that have stored ``kind`` predictions for some track, sorted."""
    rows = catalog.execute("SELECT DISTINCT model FROM predictions WHERE kind = ? ORDER BY model",
                           (kind,))
    return [model for (model,) in rows]
