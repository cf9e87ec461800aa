"""Training on labelled songs in the catalog, and honest cross-validation.

The pipeline: :func:`earmark.catalog.labels.load_labelled` gives the songs and targets;
:func:`song_matrix` turns songs into model inputs (cached per song in the catalog, so repeated
runs and cross-validation folds never recompute an embedding); :func:`make_estimator` builds
the chosen model type; :func:`train_model` fits it on a grouped training split, scores it on a
grouped validation split (tuning multi-label thresholds there) and returns a
:class:`~earmark.models.io.TrainedModel` ready for :func:`~earmark.models.io.save_model`;
:func:`cross_validate` repeats the fit over stratified group k-fold splits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from earmark.analysis.embed import embed_tracks
from earmark.analysis.predict import estimator_output, song_input
from earmark.catalog import Catalog
from earmark.catalog.embeddings import load_embeddings, missing_embeddings, store_embedding
from earmark.catalog.tracks import tracks_by_id
from earmark.data import LabelledSet, cv_folds, group_keys, holdout_split, missing_classes
from earmark.engine import Engine, default_engine
from earmark.errors import EarmarkError, ModelError
from earmark.features.classic import ClassicParams, compile_kernels
from earmark.learn.evaluate import evaluate, tune_thresholds
from earmark.models.io import ModelCard, TrainedModel, estimator_class
from earmark.models.outputs import card_thresholds
from earmark.settings import EMBEDDING_MODEL
from earmark.types import ProgressFn

DEFAULT_EMBEDDING = EMBEDDING_MODEL
#: Model types trained on whole-song vectors (the others read audio).
VECTOR_MODELS = ("head", "classic")


def default_inputs(model_type: str, embedding_model: str = DEFAULT_EMBEDDING) -> dict:
    """How songs become inputs for a model type (stored in its card): the embedding model
    (heads), the descriptor settings (classic) or the network's own front end, ``MelParams``
    and chunk length (networks, which read them back from the card when loaded)."""
    if model_type == "head":
        return {"embedding_model": embedding_model, "chunk_seconds": 30.0}
    if model_type == "classic":
        return {"descriptors": ClassicParams().to_dict(), "chunk_seconds": 30.0}
    inputs = estimator_class(model_type).front_end_inputs()
    return inputs | {"base_model": embedding_model} if model_type == "finetune" else inputs


def cache_key(inputs: dict) -> str:
    """The catalog ``embeddings.model`` name under which a model's song vectors are cached:
    the embedding model's own name, or a hash of the descriptor settings."""
    if inputs.get("embedding_model"):
        return inputs["embedding_model"]
    digest = hashlib.blake2b(json.dumps(inputs["descriptors"], sort_keys=True).encode(),
                             digest_size=4).hexdigest()
    return f"descriptors-{digest}"


def ensure_embeddings(
    catalog: Catalog, inputs: dict, track_ids: list[int] | None = None,
    progress: ProgressFn | None = None, engine: Engine | None = None,
) -> list[tuple[str, str]]:
    """Compute and store missing song vectors for ``track_ids`` (default: every track).

    Pretrained embeddings come from :func:`earmark.analysis.embed.embed_tracks` (which also
    stores the tagger's predictions); descriptor vectors are computed here, on the ``engine``'s
    processes (default :func:`~earmark.engine.default_engine`: one per core), and cached the
    same way by this process. Returns ``(path, reason)`` for songs that failed.
    """
    if inputs.get("embedding_model"):
        return embed_tracks(catalog, inputs["embedding_model"], track_ids, engine=engine,
                            progress=progress).failed
    key = cache_key(inputs)
    todo = missing_embeddings(catalog, key)
    if track_ids is not None:
        wanted = set(track_ids)
        todo = [t for t in todo if t in wanted]
    found = tracks_by_id(catalog, todo)
    tracks = [(i, found[i].path, found[i].content_hash) for i in sorted(found)]
    if tracks and "descriptors" in inputs:  # once here, so the workers only read the cache
        compile_kernels(ClassicParams(**inputs["descriptors"]))
    vectors = (engine or default_engine()).map_files(
        partial(_song_vector, inputs), [path for _, path, _ in tracks],
        preload=("earmark.learn.train",), on_crash=_crashed)
    failed = []
    for done, ((track_id, path, content), (vector, error)) in enumerate(
            zip(tracks, vectors, strict=True), start=1):
        if error is None:
            store_embedding(catalog, track_id, key, vector, content)
        else:
            failed.append((path, error))
        if progress is not None:
            progress(done, len(tracks), path)
    return failed


def _song_vector(inputs: dict, path: str) -> tuple[np.ndarray | None, str | None]:
    """``(song_input(inputs, path), None)``, or ``(None, reason)`` for a song that cannot be
    read: worker processes return errors, so one bad file never ends a batch."""
    try:
        return song_input(inputs, path), None
    except EarmarkError as exc:
        return None, str(exc)


def _crashed(path: str, reason: str) -> tuple[None, str]:
    """:func:`_song_vector`'s answer for a song whose worker process died."""
    return None, reason


def song_matrix(catalog: Catalog, data: LabelledSet, inputs: dict,
                progress: ProgressFn | None = None, engine: Engine | None = None,
                ) -> tuple[np.ndarray, LabelledSet]:
    """Model inputs for the songs of ``data``: ``(X, data)`` where ``X`` is ``(n, dim)`` song
    vectors (cached in the catalog; missing ones computed on ``engine``, see
    :func:`ensure_embeddings`), or the ``(n,)`` file paths for models that read audio.

    Songs whose vector could not be computed are dropped from the returned ``data``.
    """
    if "descriptors" not in inputs and not inputs.get("embedding_model"):
        return np.array(data.paths, dtype=object), data
    ensure_embeddings(catalog, inputs, data.track_ids, progress, engine)
    ids, matrix = load_embeddings(catalog, cache_key(inputs), data.track_ids)
    row = {t: i for i, t in enumerate(ids)}
    keep = [i for i, t in enumerate(data.track_ids) if t in row]
    data = data.subset(keep)
    return matrix[[row[t] for t in data.track_ids]], data


def make_estimator(model_type: str, kind: str, seed: int = 0, **hyper):
    """A fresh estimator of ``model_type`` for targets of ``kind``: the model type's
    regressor for ``"regression"``, else its classifier with that ``kind``. Raises
    :class:`~earmark.errors.ModelError` for hyper-parameters the estimator does not take."""
    cls = estimator_class(model_type, kind)
    params = dict(hyper, seed=seed) if kind == "regression" else dict(hyper, kind=kind, seed=seed)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ModelError(f"a {kind} {model_type} model does not take these settings: "
                         f"{exc}") from exc


def fit_estimator(estimator, X: np.ndarray, y: np.ndarray, groups: np.ndarray,
                  n_classes: int, **network):
    """``estimator.fit`` with what it takes: the class count for classifiers (a training
    fold may miss a class), and ``network`` (validation songs, progress) for networks."""
    params = dict(network)
    if estimator.kind != "regression":
        params["n_classes"] = n_classes
    return estimator.fit(X, y, groups=groups, **params)


@dataclass
class CVResult:
    """Cross-validation: per-fold scores, their mean and std, and out-of-fold outputs."""

    folds: list[dict]
    mean: dict[str, float]
    std: dict[str, float]
    output: np.ndarray
    test_folds: list[np.ndarray]


def score_fold(
    X: np.ndarray, data: LabelledSet, train: np.ndarray, test: np.ndarray,
    model_type: str = "head", *, y: np.ndarray, groups: np.ndarray, seed: int = 0,
    hyper: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """One cross-validation fold: a fresh ``model_type`` fitted on rows ``train`` of ``X``
    and scored on rows ``test``.

    ``y`` and ``groups`` are ``data.y()`` and its group keys, computed once by the caller.
    Returns ``(output, scores)``: the model's outputs for the test rows (as
    :func:`~earmark.analysis.predict.model_output`) and
    :func:`~earmark.learn.evaluate.evaluate` of them.
    """
    estimator = make_estimator(model_type, data.kind, seed, **(hyper or {}))
    fit_estimator(estimator, X[train], y[train], groups[train], len(data.classes))
    output = estimator_output(estimator, data.kind, X[test])
    return output, evaluate(y[test], output, data.kind, data.classes)


def cross_validate(
    X: np.ndarray, data: LabelledSet, model_type: str = "head", *, n_splits: int = 5,
    seed: int = 0, hyper: dict | None = None, progress: ProgressFn | None = None,
) -> CVResult:
    """Stratified group k-fold cross-validation of a model type on ``X`` (from
    :func:`song_matrix`). Hyper-parameters set to ``"auto"`` are chosen inside each training
    fold only, so test folds never influence them."""
    y = data.y()
    groups = group_keys(data.paths, data.artists)
    folds = cv_folds(y, groups, n_splits, seed, data.kind)
    width = 1 if data.kind == "regression" else max(2, len(data.classes))
    output = np.zeros((len(y), width))
    scores = []
    for number, (train, test) in enumerate(folds, start=1):
        output[test], fold_scores = score_fold(X, data, train, test, model_type, y=y,
                                               groups=groups, seed=seed, hyper=hyper)
        scores.append(fold_scores)
        if progress is not None:
            progress(number, len(folds), f"fold {number}")
    mean, std = mean_and_std(scores)
    return CVResult(folds=scores, mean=mean, std=std, output=output,
                    test_folds=[te for _, te in folds])


def mean_and_std(runs: list[dict]) -> tuple[dict[str, float], dict[str, float]]:
    """``(mean, std)`` over ``runs`` (score dicts of the same shape: folds, seeds) of every
    float score of the first, the song count left out."""
    names = [n for n, v in runs[0].items() if isinstance(v, float) and n != "songs"]
    return ({n: float(np.mean([s[n] for s in runs])) for n in names},
            {n: float(np.std([s[n] for s in runs])) for n in names})


def make_card(model_type: str, data: LabelledSet, inputs: dict, estimator, seed: int,
              **extra) -> ModelCard:
    """The model card of a fitted estimator trained on ``data``."""
    return ModelCard(
        model_type=model_type, task=data.task, kind=data.kind,
        labels=list(data.classes) if data.kind != "regression" else ["value"],
        inputs=inputs, hyperparameters=estimator.get_params(),
        fitted=estimator.fitted_info() if hasattr(estimator, "fitted_info") else {},
        seed=seed, **extra,
    )


@dataclass(frozen=True)
class TrainingSplit:
    """Which songs (row indices of a :class:`~earmark.data.LabelledSet`) train, validate and
    are held out for testing, and how the split was made.

    ``missing``: classes the hold-out could not put on both sides (each class needs songs of
    two groups); :func:`train_model` then validates by grouped cross-validation instead, or,
    for a network (which needs validation songs for early stopping), says so in the card.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    how: str
    missing: list[str] = field(default_factory=list)


def split_for_training(data: LabelledSet, valid_fraction: float = 0.2,
                       seed: int = 0) -> TrainingSplit:
    """The songs that train, validate and stay unseen (:class:`TrainingSplit`).

    The source's own splits win: songs marked ``test`` are kept out entirely, songs marked
    ``valid`` validate. Otherwise validation is a stratified grouped hold-out of about
    ``valid_fraction`` of the rest with every class on both sides where one exists
    (:func:`~earmark.data.holdout_split`), reproducible from ``seed``.
    """
    in_test = data.in_split("test")
    test, pool = np.flatnonzero(in_test), np.flatnonzero(~in_test)
    given_valid = np.flatnonzero(data.in_split("valid"))
    if len(given_valid):
        return TrainingSplit(np.setdiff1d(pool, given_valid), given_valid, test,
                             "the source's train/valid/test splits")
    rest = data.without_split("test")  # the songs of ``pool``, in its order
    groups = group_keys(rest.paths, rest.artists)
    y = rest.y()
    train, valid = holdout_split(y, groups, valid_fraction, seed, data.kind)
    missing = np.union1d(missing_classes(y, valid, data.kind),
                         missing_classes(y, train, data.kind))
    return TrainingSplit(pool[train], pool[valid], test,
                         f"stratified group hold-out, {len(valid)} of {len(rest)} songs "
                         "validate", [data.classes[int(i)] for i in missing])


def _validate_by_cv(X: np.ndarray, data: LabelledSet, split: TrainingSplit, model_type: str,
                    seed: int, valid_fraction: float, hyper: dict | None
                    ) -> tuple[np.ndarray, np.ndarray, str]:
    """Grouped k-fold cross-validation (``k = round(1 / valid_fraction)``, at most one fold
    per group) over the songs of ``split.train`` and ``split.valid``, for when no hold-out
    holds every class: ``(songs, out_of_fold_output, how)``, every song validated once by a
    model that did not see it."""
    songs = np.sort(np.concatenate([split.train, split.valid]))
    pool = data.subset(songs)
    k = max(2, min(round(1.0 / valid_fraction), len(set(group_keys(pool.paths, pool.artists)))))
    result = cross_validate(X[songs], pool, model_type, n_splits=k, seed=seed, hyper=hyper)
    how = (f"grouped {k}-fold cross-validation over all {len(songs)} songs (no "
           f"{valid_fraction:.0%} hold-out held every label on both sides; the best lacked "
           f"{', '.join(split.missing)}); the model is then trained on all of them")
    return songs, result.output, how


def train_model(
    X: np.ndarray, data: LabelledSet, model_type: str = "head", inputs: dict | None = None, *,
    seed: int = 0, valid_fraction: float = 0.2, hyper: dict | None = None,
    progress: ProgressFn | None = None,
) -> TrainedModel:
    """Train a model on ``X`` (from :func:`song_matrix`) and the targets of ``data``.

    The model is fitted on the training songs of :func:`split_for_training` and scored on its
    validation songs (the card's ``metrics["validation"]``; multi-label thresholds are tuned
    there), which the saved model has never seen: ``earmark evaluate MODEL DATASET --split
    valid`` scores exactly them. When no hold-out holds every class on both sides, a vector
    model is validated by grouped cross-validation instead (out-of-fold scores of every song)
    and then trained on all songs; a network keeps the hold-out (it stops early on it) and
    its card notes the classes validation lacks. The card's ``training`` records the split:
    ``split`` (how, in words), ``songs`` (``train``/``valid`` paths) and ``notes``.
    ``progress`` follows a network's batches. Raises :class:`~earmark.errors.ModelError` for
    fewer than 4 songs.
    """
    inputs = inputs or default_inputs(model_type)
    if len(data) < 4:
        raise ModelError(f"only {len(data)} labelled songs: too few to train")
    y = data.y()
    groups = group_keys(data.paths, data.artists)
    split = split_for_training(data, valid_fraction, seed)
    n_classes = len(data.classes)
    estimator = make_estimator(model_type, data.kind, seed, **(hyper or {}))
    if model_type not in VECTOR_MODELS and any(
            inputs.get(k) != v for k, v in estimator.front_end_inputs().items()):
        # The card must name the front end the network really reads, or loading honours a lie.
        raise ModelError(f"a {model_type} network trains on its own front end "
                         f"({estimator.front_end_inputs()}); the inputs given differ")
    notes = []
    if split.missing and model_type in VECTOR_MODELS:
        train, valid_out, how = _validate_by_cv(X, data, split, model_type, seed,
                                                valid_fraction, hyper)
        valid = np.array([], dtype=np.int64)
        scored = train  # out of fold: each song scored by a model that did not see it
        notes.append(f"validated by {how}")
        fit_estimator(estimator, X[train], y[train], groups[train], n_classes)
    else:
        train, valid, how = split.train, split.valid, split.how
        if split.missing:
            notes.append(f"validation lacks {', '.join(split.missing)}: too few groups of "
                         "them for a hold-out; its scores say nothing about them")
        network = {} if model_type in VECTOR_MODELS else {
            "X_valid": X[valid], "y_valid": y[valid], "progress": progress}
        fit_estimator(estimator, X[train], y[train], groups[train], n_classes, **network)
        valid_out = getattr(estimator, "valid_output_", None)  # networks scored it in training
        if valid_out is None:
            valid_out = estimator_output(estimator, data.kind, X[valid])
        scored = valid
    card = make_card(model_type, data, inputs, estimator, seed)
    if data.kind == "multi":
        card.thresholds = tune_thresholds(y[scored], valid_out).tolist()
    card.metrics = {"validation": evaluate(y[scored], valid_out, data.kind, data.classes,
                                           card_thresholds(card))}
    card.training = {
        **data.summary(), "seed": seed, "train_songs": int(len(train)),
        "valid_songs": int(len(valid)), "validation_scored_songs": int(len(scored)),
        "test_songs_held_out": int(len(split.test)), "split": how,
        "songs": {"train": [data.paths[i] for i in train],
                  "valid": [data.paths[i] for i in valid]},
        "notes": notes,
    }
    return TrainedModel(estimator, card)
