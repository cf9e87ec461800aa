"""Where the values to write come from: a *source* maps a catalog track to scored labels.

A source is any callable ``source(track) -> [(label, confidence 0..1), ...] | None`` taking a
track row (:func:`earmark.catalog.tracks.get_track`); ``None`` means it knows nothing about the
track (the file is then skipped with a reason), an empty list that nothing fits. Write one for
any model; earmark ships two:

* :class:`StoredPredictions` reads the catalog's ``predictions`` table, where any model can
  leave per-track results (``kind='genres'``: a JSON list of ``[genre, confidence]`` pairs or an
  object ``{genre: confidence}``; ``kind='tags'``: an object ``{tag: probability}``);
* :class:`PretrainedTags` runs the pretrained musicnn tagger (loaded on first use) on tracks
  that have no stored predictions yet, and stores what it computed, so a second run (or the
  beets plugin) reads instead of listening again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from earmark.catalog import Catalog
from earmark.errors import EarmarkError

Scored = list[tuple[str, float]]
Source = Callable[[dict], Scored | None]

#: Names under which :class:`PretrainedTags` can compute predictions itself.
PRETRAINED_MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")


def _scored(payload: object) -> Scored:
    """Normalise a stored payload: ``[[label, c], ...]`` or ``{label: c}`` -> sorted pairs."""
    pairs = payload.items() if isinstance(payload, dict) else payload
    try:
        scored = [(str(label), float(conf)) for label, conf in pairs]
    except (TypeError, ValueError) as exc:
        raise EarmarkError(f"stored predictions are not (label, confidence) pairs: {exc}") from exc
    return sorted(scored, key=lambda item: -item[1])


def load_prediction(catalog: Catalog, track_id: int, model: str, kind: str) -> Scored | None:
    """Stored ``(label, confidence)`` pairs of one track, most confident first, or ``None``."""
    row = catalog.execute(
        "SELECT payload FROM predictions WHERE track_id = ? AND model = ? AND kind = ?",
        (track_id, model, kind),
    ).fetchone()
    return None if row is None else _scored(json.loads(row[0]))


def store_prediction(catalog: Catalog, track_id: int, model: str, kind: str,
                     scored: Scored) -> None:
    """Store (replace) one track's predictions as a JSON list of ``[label, confidence]``."""
    payload = json.dumps([[label, round(float(c), 6)] for label, c in scored])
    with catalog.transaction() as conn:
        conn.execute(
            "INSERT INTO predictions (track_id, model, kind, payload, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(track_id, model, kind) DO UPDATE SET "
            "payload = excluded.payload, created_at = excluded.created_at",
            (track_id, model, kind, payload, time.time()),
        )


class StoredPredictions:
    """Source reading ``kind`` predictions of ``model`` from the catalog."""

    def __init__(self, catalog: Catalog, model: str, kind: str = "genres"):
        self.catalog = catalog
        self.model = model
        self.kind = kind

    def __call__(self, track: dict) -> Scored | None:
        return load_prediction(self.catalog, track["id"], self.model, self.kind)


class PretrainedTags:
    """Whole-song tags and genres from a pretrained musicnn model, cached in the catalog.

    ``genres`` and ``tags`` are sources (``genres(track)``, ``tags(track)``); both read stored
    predictions first and otherwise analyse the file once, storing ``kind='tags'`` (every tag's
    probability) and ``kind='genres'`` (:func:`earmark.pretrained.genre_from_tags`).
    """

    def __init__(self, catalog: Catalog, model: str = "MSD_musicnn"):
        if model not in PRETRAINED_MODELS:
            raise EarmarkError(f"{model!r} is not a pretrained model earmark can run; "
                               f"choose one of {', '.join(PRETRAINED_MODELS)}")
        self.catalog = catalog
        self.model = model
        self._tagger = None

    def _analyse(self, track: dict) -> None:
        from earmark.models.musicnn import load_musicnn
        from earmark.pretrained import genre_from_tags, song_tags

        if self._tagger is None:
            self._tagger = load_musicnn(self.model)
        probabilities, names, _ = song_tags(track["path"], self._tagger)
        store_prediction(self.catalog, track["id"], self.model, "tags",
                         list(zip(names, probabilities.tolist(), strict=True)))
        store_prediction(self.catalog, track["id"], self.model, "genres",
                         genre_from_tags(probabilities, names))

    def _get(self, track: dict, kind: str) -> Scored:
        scored = load_prediction(self.catalog, track["id"], self.model, kind)
        if scored is None:
            self._analyse(track)
            scored = load_prediction(self.catalog, track["id"], self.model, kind)
        return scored

    def genres(self, track: dict) -> Scored:
        return self._get(track, "genres")

    def tags(self, track: dict) -> Scored:
        return self._get(track, "tags")
