"""Where the values to write come from: a *source* maps a catalog track to scored labels.

A source is any callable ``source(track) -> [(label, confidence 0..1), ...] | None`` taking a
catalog :class:`~earmark.catalog.tracks.Track`; ``None`` means it knows nothing about the
track (the file is then skipped with a reason), an empty list that nothing fits; an
:class:`~earmark.errors.EarmarkError` skips the file with its message as the reason. Write one
for any model; earmark ships two:

* :class:`StoredPredictions` reads the catalog's ``predictions`` table, where any model can
  leave per-track results (``kind='genres'``: a JSON list of ``[genre, confidence]`` pairs or an
  object ``{genre: confidence}``; ``kind='tags'``: an object ``{tag: probability}``);
* :func:`ensure_predictions` first runs a pretrained musicnn tagger
  (:func:`earmark.analysis.embed.embed_tracks`) on tracks that have no stored predictions from
  it, so a second run (or the beets plugin) reads instead of listening again.
"""

from __future__ import annotations

from collections.abc import Callable

from earmark.catalog import Catalog
from earmark.catalog.predictions import is_silent, load_predictions
from earmark.catalog.tracks import Track
from earmark.errors import EarmarkError
from earmark.models.registry import MODEL_NAMES
from earmark.types import ProgressFn

Scored = list[tuple[str, float]]
Source = Callable[[Track], Scored | None]

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
    payload = load_predictions(catalog, track_id, kind, model)
    return None if payload is None else _scored(payload)


#: The reason a track whose audio an analysis found silent gets no labels.
SILENT = "silent audio: no genre or tag is written"


class StoredPredictions:
    """Source reading ``kind`` predictions of ``model`` from the catalog.

    Raises :class:`~earmark.errors.EarmarkError` (:data:`SILENT`) for a track whose audio an
    analysis found silent: whatever a model said about silence describes nothing.
    """

    def __init__(self, catalog: Catalog, model: str, kind: str = "genres"):
        self.catalog = catalog
        self.model = model
        self.kind = kind

    def __call__(self, track: Track) -> Scored | None:
        if is_silent(self.catalog, track.id):
            raise EarmarkError(SILENT)
        return load_prediction(self.catalog, track.id, self.model, self.kind)


def ensure_predictions(
    catalog: Catalog, model: str, track_ids: list[int],
    progress: ProgressFn | None = None,
) -> list[tuple[str, str]]:
    """Run pretrained ``model`` on the tracks that have no stored tag predictions from it.

    Returns ``(path, reason)`` for tracks that could not be analysed (they stay without
    predictions, so planning skips them with a reason).
    """
    if model not in MODEL_NAMES:
        raise EarmarkError(f"no stored predictions from {model!r} and it is not a pretrained "
                           f"model earmark can run ({', '.join(MODEL_NAMES)})")
    from earmark.analysis.embed import embed_tracks

    missing = [i for i in track_ids if load_prediction(catalog, i, model, "tags") is None]
    if not missing:
        return []
    report = embed_tracks(catalog, model, missing, force=True, progress=progress)
    return report.failed
