"""Everything the catalog knows about one track, gathered from each table's own module.

What ``earmark info`` shows, and what a web page about a song would show, without either
face reading the tables itself.
"""

from __future__ import annotations

from earmark.catalog.db import Catalog
from earmark.catalog.embeddings import track_embeddings
from earmark.catalog.journal import track_writes
from earmark.catalog.labels import track_labels
from earmark.catalog.predictions import track_predictions
from earmark.catalog.ratings import rating_history


def track_knowledge(catalog: Catalog, track_id: int) -> dict[str, list[dict]]:
    """Labels, ratings, embeddings, predictions and tag writes recorded for a track.

    Returns
    -------
    ``{"labels", "ratings", "embeddings", "predictions", "tag_writes"}``, each a list of plain
    dicts (JSON-ready; times are Unix seconds): see :func:`~.labels.track_labels`,
    :func:`~.embeddings.track_embeddings`, :func:`~.predictions.track_predictions` and
    :func:`~.journal.track_writes`; ratings are ``{verdict, stars, source, rated_at}``, oldest
    first. Lists are empty for a track id the catalog does not hold.
    """
    return {
        "labels": track_labels(catalog, track_id),
        "ratings": [r.to_dict() for r in rating_history(catalog, track_id)],
        "embeddings": track_embeddings(catalog, track_id),
        "predictions": track_predictions(catalog, track_id),
        "tag_writes": track_writes(catalog, track_id),
    }
