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

:func:`resolve_genre_model` is the one place that turns what a user typed after ``--model``
(``genre``, ``tags``, ``tag``) into a :class:`GenreModel`, and :func:`ensure_genres` makes
sure its genres are in the catalog for the tracks asked about.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from earmark.analysis.sampling import DEFAULT_SAMPLING, Sampling
from earmark.catalog import Catalog
from earmark.catalog.embeddings import missing_embeddings
from earmark.catalog.predictions import is_silent, load_predictions, prediction_models
from earmark.catalog.tracks import Track
from earmark.errors import EarmarkError
from earmark.models.registry import (
    ALIASES,
    BOTH,
    LEARNED,
    MODEL_NAMES,
    ZERO_SHOT_MODELS,
    pretrained,
)
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


def _sampled(catalog: Catalog, taggers: Sequence[str], track_ids: list[int],
             sampling: Sampling | None) -> set[int]:
    """Of ``track_ids``, those whose stored analysis by ``taggers`` came from a sample of the
    song when ``sampling`` is ``None`` (``--full``) asks for every patch; else none."""
    if sampling is not None:
        return set()
    stale = set().union(*(missing_embeddings(catalog, t, full=True) for t in taggers))
    return stale.intersection(track_ids)


def ensure_predictions(
    catalog: Catalog, model: str, track_ids: list[int],
    progress: ProgressFn | None = None, *, sampling: Sampling | None = DEFAULT_SAMPLING,
) -> list[tuple[str, str]]:
    """Run pretrained ``model`` on the tracks that have no stored tag predictions from it
    (``sampling``: see :func:`earmark.analysis.embed.embed_tracks`; with ``None``, also on
    those whose predictions came from a sample of the song).

    Returns ``(path, reason)`` for tracks that could not be analysed (they stay without
    predictions, so planning skips them with a reason).
    """
    if model not in MODEL_NAMES:
        raise EarmarkError(f"no stored predictions from {model!r} and it is not a pretrained "
                           f"model earmark can run ({', '.join(MODEL_NAMES)})")
    from earmark.analysis.embed import embed_tracks

    redo = _sampled(catalog, [model], track_ids, sampling)
    missing = [i for i in track_ids
               if i in redo or load_prediction(catalog, i, model, "tags") is None]
    if not missing:
        return []
    report = embed_tracks(catalog, model, missing, force=True, sampling=sampling,
                          progress=progress)
    return report.failed


@dataclass(frozen=True)
class GenreModel:
    """Where genres come from, resolved from a ``--model`` value.

    ``name``: the model name its genres are stored under in the catalog (kind ``genres``);
    ``taggers``: the pretrained taggers earmark runs itself to get them (empty for stored or
    trained models); ``path``: a trained model's file (its predictions are made with
    :func:`earmark.analysis.predict.predict_and_store`), else ``None``.
    """

    name: str
    taggers: tuple[str, ...] = ()
    path: Path | None = None


def _trained_model_file(value: str) -> Path | None:
    """The model file ``value`` names (``models/genres``, ``.safetensors`` or ``.json``,
    ``~`` expanded), or ``None`` when there is none."""
    from earmark.models.io import model_files

    weights, _ = model_files(value)
    return weights if weights.is_file() else None


def resolve_genre_model(catalog: Catalog | None, value: str) -> GenreModel:
    """What ``--model value`` means, for ``genre``, ``tags`` and ``tag`` alike.

    Accepted, in this order: ``both`` (the default: MSD_musicnn and MTT_musicnn together,
    genres stored as ``MSD_musicnn+MTT_musicnn``); a pretrained model's name
    (``MTT_musicnn``) or short name (``mtt``); ``learned`` (genres learned from the library's
    own tags); a trained model's name with genres stored in ``catalog``; a trained model's file
    or stem (``models/genres``). Raises :class:`~earmark.errors.EarmarkError` listing the valid
    names for anything else.
    """
    from earmark.analysis.genres import combination_name

    key = value.strip()
    if key == BOTH:
        return GenreModel(combination_name(ZERO_SHOT_MODELS), ZERO_SHOT_MODELS)
    if key in MODEL_NAMES or key in ALIASES:
        name = pretrained(key).name
        return GenreModel(name, (name,))
    stored = prediction_models(catalog, "genres") if catalog is not None else []
    if key == LEARNED or key in stored:
        return GenreModel(key)
    path = _trained_model_file(key)
    if path is not None:
        from earmark.analysis.predict import stored_name

        return GenreModel(stored_name(path), path=path)
    names = [BOTH, *MODEL_NAMES, *ALIASES, LEARNED]
    names += [n for n in stored if n not in names]
    raise EarmarkError(f"unknown model {value!r}: not a pretrained model, a model with "
                       f"genres in the catalog, nor a model file; choose one of "
                       f"{', '.join(names)}, or give a trained model's file")


def ensure_genres(catalog: Catalog, model: GenreModel, track_ids: list[int],
                  progress: ProgressFn | None = None, *,
                  sampling: Sampling | None = DEFAULT_SAMPLING) -> list[tuple[str, str]]:
    """Make ``model``'s genres of the tracks ``track_ids`` available in the catalog: run its
    pretrained taggers (together, one decode) or its trained model on the tracks without
    stored genres of ``model.name``; stored-only models (``learned``) are read as they are.
    ``sampling``: as for :func:`ensure_predictions` (the pretrained taggers', and a trained
    model's on musicnn embeddings).

    Returns ``(path, reason)`` for tracks that could not be analysed (planning then skips
    them with a reason). Raises :class:`~earmark.errors.EarmarkError` when a model cannot be
    loaded.
    """
    redo = _sampled(catalog, model.taggers, track_ids, sampling)
    missing = [i for i in track_ids if i in redo or (
        load_prediction(catalog, i, model.name, "genres") is None and not is_silent(catalog, i))]
    if not missing or not (model.taggers or model.path):
        return []
    if model.taggers:
        from earmark.analysis.embed import embed_tracks

        report = embed_tracks(catalog, list(model.taggers), missing, force=True,
                              sampling=sampling, progress=progress)
        return report.failed
    from earmark.analysis.predict import predict_and_store
    from earmark.catalog.tracks import tracks_by_id
    from earmark.models.io import load_model

    found = tracks_by_id(catalog, missing)
    paths = [found[i].path for i in missing if i in found]
    predictions = predict_and_store(catalog, load_model(model.path), model.name, paths,
                                    progress=progress, sampling=sampling)
    return [(p.path, p.error) for p in predictions if p.error]
