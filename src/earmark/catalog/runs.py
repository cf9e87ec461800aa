"""Model runs: one row per trained model (a taste model, a trained head...), with its metrics,
so a library keeps a history of how well its models did."""

from __future__ import annotations

import json
import time
from pathlib import Path

from earmark.catalog.db import Catalog


def record_run(
    catalog: Catalog,
    kind: str,
    metrics: dict,
    model_path: str | Path | None = None,
    created_at: float | None = None,
) -> int:
    """Record a trained model and return the run's id.

    Parameters
    ----------
    kind : what was trained: ``"taste"``, ``"train"``, ...
    metrics : JSON-serialisable scores and settings of the run.
    model_path : where the model was saved; ``None`` when it was not saved.
    created_at : Unix time in seconds (default: now).
    """
    when = time.time() if created_at is None else float(created_at)
    with catalog.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO model_runs (kind, model_path, metrics, created_at) VALUES (?, ?, ?, ?)",
            (kind, str(model_path) if model_path is not None else None, json.dumps(metrics),
             when),
        )
    return cursor.lastrowid


def load_runs(catalog: Catalog, kind: str) -> list[tuple[int, float, dict]]:
    """Every recorded run of ``kind``, oldest first: ``[(run id, created_at (Unix seconds),
    metrics)]``, the metrics as :func:`record_run` was given them."""
    rows = catalog.execute(
        "SELECT id, created_at, metrics FROM model_runs WHERE kind = ? ORDER BY created_at, id",
        (kind,)).fetchall()
    return [(run_id, created_at, json.loads(metrics)) for run_id, created_at, metrics in rows]
