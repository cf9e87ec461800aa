"""Whole-song predictions of a trained model, from fixed-length chunks.

A song is cut into chunks of the model card's ``chunk_seconds``; the model scores every chunk
and the song's answer is the mean of the chunk probabilities (``aggregate="mean"``) or the
share of chunks voting for each label (``aggregate="vote"``). How a chunk becomes model input
is the card's business (:func:`chunk_inputs`): an embedding of the chunk's musicnn patches for
heads, descriptor statistics for the classic baseline, audio samples for networks. The same
functions give the per-song inputs used in training (:func:`song_input`), so training and
prediction cannot drift apart.

:func:`predict_and_store` is what ``earmark predict`` does, callable the same way from a web
request or a worker: predict songs and keep the scores of those in the catalog, where tag
writing and ``earmark info`` find them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from earmark.analysis.sampling import DEFAULT_SAMPLING, FULL, Sampling, plan_windows
from earmark.audio import decode_audio, song_chunks
from earmark.catalog import Catalog
from earmark.catalog.predictions import store_predictions
from earmark.catalog.tracks import get_track
from earmark.engine import Engine, default_engine
from earmark.errors import EarmarkError, ModelError
from earmark.features.classic import ClassicParams, classic_descriptors, song_descriptors
from earmark.models.io import TrainedModel
from earmark.models.outputs import card_thresholds, hard_predictions
from earmark.models.registry import load_pretrained
from earmark.types import ProgressFn

if TYPE_CHECKING:
    from earmark.analysis.songs import SongInfo

AGGREGATES = ("mean", "vote")


def song_input(inputs: dict, path: str) -> np.ndarray:
    """The whole-song descriptor vector ``(d,)`` the classic model is trained on.

    (Song embeddings for heads come from :func:`earmark.analysis.embed.embed_tracks`, cached in the
    catalog.)
    """
    if "descriptors" not in inputs:
        raise ModelError("only descriptor models are trained on song_input vectors")
    return song_descriptors(path, ClassicParams(**inputs["descriptors"]))


def chunk_inputs(inputs: dict, path: str, sampling: Sampling | None = None
                 ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Model inputs of the chunks of a song, and the span of the song each chunk covers.

    Returns ``(X, spans)``: ``X`` is ``(n_chunks, dim)`` for heads and the classic model, or
    ``(n_chunks, n_samples)`` audio at the front end's rate for networks; ``spans[i]`` is
    ``(start, end)`` of chunk ``i`` in seconds, never past the end of the song. A song shorter
    than a chunk gives one (shorter) chunk; for heads and the classic model a trailing part
    shorter than half a chunk joins the previous one instead of standing alone (that chunk is
    longer), networks drop it (as their training chunks do).

    ``sampling``: for heads on musicnn embeddings, analyse a song longer than 30 s from these
    patches (:func:`earmark.analysis.songs.analyse_song`, decoded by seeking, as ``embed``
    makes the embeddings heads are trained on): each chunk's input is the embedding of its
    sampled patches, and chunks without one are left out (a chunk keeps the span it has with
    every patch). ``None`` (``--full``), and every other model: every patch, every chunk.
    """
    seconds = float(inputs["chunk_seconds"])
    if "embedding_model" in inputs:
        from earmark.analysis.songs import analyse_song, embedding_from_patches

        tagger = load_pretrained(inputs["embedding_model"])
        rate = tagger.mel_params.sample_rate
        analysis = (analyse_song(decode_audio(path, rate), tagger, sr=rate) if sampling is None
                    else analyse_song(path, tagger, sampling=sampling))
        info = analysis.info
        per = max(1, round(seconds / info.patch_seconds))
        positions, n_patches = _patch_positions(info)
        bounds = _chunk_bounds(n_patches, per)
        rows = [np.flatnonzero((positions >= a) & (positions < b)) for a, b in bounds]
        numbers = [k for k, chunk in enumerate(rows) if chunk.size]
        X = np.stack([embedding_from_patches(analysis.embeddings[rows[k]]) for k in numbers])
        # A song shorter than a patch is one zero-padded patch: its chunk ends with the audio.
        return X, [(bounds[k][0] * info.patch_seconds,
                    min(bounds[k][1] * info.patch_seconds, info.duration)) for k in numbers]
    if "descriptors" in inputs:
        params = ClassicParams(**inputs["descriptors"])
        audio = decode_audio(path, params.sample_rate)
        per = int(seconds * params.sample_rate)
        bounds = _chunk_bounds(len(audio), per)
        X = np.stack([classic_descriptors(audio[a:b], params) for a, b in bounds])
        return X, [(a / params.sample_rate, b / params.sample_rate) for a, b in bounds]
    rate = int(inputs["mel"]["sample_rate"])
    audio = decode_audio(path, rate)
    per = int(round(seconds * rate))
    X = song_chunks(audio, per)
    # Whole chunks only, except a song shorter than one: zero-padded, it ends with the audio.
    return X, [(k * per / rate, min((k + 1) * per, len(audio)) / rate) for k in range(len(X))]


def _patch_positions(info: SongInfo) -> tuple[np.ndarray, int]:
    """Where each analysed patch lies on the song's grid of patches, and the grid's length:
    every patch in order, or the sampled ones (:func:`~earmark.analysis.sampling.plan_windows`
    places them again from the stated length, as the analysis did)."""
    if info.sampling == FULL:
        return np.arange(info.n_patches), info.n_patches
    windows = plan_windows(info.duration, info.patch_seconds, Sampling.from_spec(info.sampling))
    positions = np.array([first + i for first, count in windows for i in range(count)])
    return positions, int(info.duration / info.patch_seconds)


def _chunk_bounds(n: int, per: int) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of chunks of ``per`` items over ``n`` items."""
    if n <= per:
        return [(0, n)]
    starts = list(range(0, n, per))
    if n - starts[-1] < per / 2:
        starts.pop()
    return [(s, starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)]


def model_output(model: TrainedModel, X: np.ndarray) -> np.ndarray:
    """Probabilities ``(n, n_labels)`` (binary: ``(n, 2)``) or values ``(n, 1)``."""
    return estimator_output(model.estimator, model.card.kind, X)


def estimator_output(estimator, kind: str, X: np.ndarray) -> np.ndarray:
    """:func:`model_output` of a fitted estimator for a task of ``kind``, without a card."""
    if kind == "regression":
        return np.asarray(estimator.predict(X), dtype=np.float64)[:, None]
    return np.asarray(estimator.predict_proba(X), dtype=np.float64)


def aggregate(chunk_output: np.ndarray, kind: str, method: str = "mean",
              thresholds: np.ndarray | None = None) -> np.ndarray:
    """One song's output from its chunks' ``(n_chunks, k)`` outputs.

    ``"mean"`` averages probabilities (or values); ``"vote"`` gives each label the share of
    chunks that chose it: the top class (single, binary) or the label above its threshold
    (multi). Regression always averages.
    """
    if method not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, not {method!r}")
    if method == "mean" or kind == "regression":
        return chunk_output.mean(axis=0)
    if kind == "multi":
        return hard_predictions(chunk_output, kind, thresholds).mean(axis=0)
    votes = np.bincount(hard_predictions(chunk_output, kind), minlength=chunk_output.shape[1])
    return votes / votes.sum()


def decide(output: np.ndarray, kind: str, labels: list[str],
           thresholds: np.ndarray | float | None = None) -> list[str] | float:
    """The labels a song gets from its output ``(k,)``: the top class (single, binary; binary
    uses ``thresholds`` on the positive class when given), every label at or above its
    threshold (multi, default 0.5), or the value (regression); see
    :func:`~earmark.models.outputs.hard_predictions`."""
    decision = hard_predictions(np.asarray(output)[None], kind, thresholds)[0]
    if kind == "regression":
        return float(decision)
    if kind == "multi":
        return [label for label, chosen in zip(labels, decision, strict=True) if chosen]
    return [labels[int(decision)]]


@dataclass
class SongPrediction:
    """A model's answer for one song; ``error`` is set (and the rest empty) when it failed."""

    path: str
    labels: list[str] | float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    chunks: list[dict] | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        out: dict = {"path": self.path}
        if self.error:
            out["error"] = self.error
            return out
        key = "value" if isinstance(self.labels, float) else "labels"
        out[key] = self.labels
        out["scores"] = self.scores
        if self.chunks is not None:
            out["chunks"] = self.chunks
        return out


def predict_song(model: TrainedModel, path: str, *, method: str = "mean",
                 per_chunk: bool = False, threshold: float | None = None,
                 sampling: Sampling | None = DEFAULT_SAMPLING) -> SongPrediction:
    """Predict one song; see :func:`predict_songs`."""
    card = model.card
    X, spans = chunk_inputs(card.inputs, path, sampling)
    out = model_output(model, X)
    thresholds = card_thresholds(card, threshold)
    song = aggregate(out, card.kind, method, thresholds)
    names = card.labels if card.kind != "regression" else ["value"]
    result = SongPrediction(path, decide(song, card.kind, card.labels, thresholds),
                            {n: round(float(v), 6) for n, v in zip(names, song, strict=True)})
    if per_chunk:
        result.chunks = [
            {"start": round(start, 3), "end": round(end, 3),
             "labels": decide(row, card.kind, card.labels, thresholds),
             "scores": {n: round(float(v), 6) for n, v in zip(names, row, strict=True)}}
            for (start, end), row in zip(spans, out, strict=True)
        ]
    return result


def _predict_or_error(model: TrainedModel, path: str, **options) -> SongPrediction:
    """:func:`predict_song`, or a prediction with ``error`` set: one bad file never ends a
    batch."""
    try:
        return predict_song(model, path, **options)
    except EarmarkError as exc:
        return SongPrediction(path, error=str(exc))


def predict_songs(model: TrainedModel, paths: Iterable[str], *, method: str = "mean",
                  per_chunk: bool = False, threshold: float | None = None,
                  progress: ProgressFn | None = None, engine: Engine | None = None,
                  sampling: Sampling | None = DEFAULT_SAMPLING) -> Iterator[SongPrediction]:
    """Predict every song, in order; a file that cannot be read gives a prediction with
    ``error`` set.

    Parameters
    ----------
    method : chunk aggregation, ``"mean"`` probability or majority ``"vote"``.
    per_chunk : also report every chunk's start/end (seconds), labels and scores.
    threshold : one cut-off for every label (multi-label tags; the positive class of a binary
        model), instead of the thresholds tuned in training.
    engine : where songs are predicted, several at once on threads sharing the model
        (:meth:`~earmark.engine.Engine.map_threads`); default
        :func:`~earmark.engine.default_engine`.
    sampling : the patches a song over 30 s is analysed from, for heads on musicnn
        embeddings (:func:`chunk_inputs`; default
        :data:`~earmark.analysis.sampling.DEFAULT_SAMPLING`, as ``embed``); ``None``: every
        patch (``--full``).
    """
    paths = list(paths)
    if paths and "embedding_model" in model.card.inputs:
        load_pretrained(model.card.inputs["embedding_model"])  # once, before threads want it
    predict = partial(_predict_or_error, model, method=method, per_chunk=per_chunk,
                      threshold=threshold, sampling=sampling)
    results = (engine or default_engine()).map_threads(predict, paths)
    for done, (path, result) in enumerate(zip(paths, results, strict=True), start=1):
        yield result
        if progress is not None:
            progress(done, len(paths), path)


def stored_name(model_path: str | Path) -> str:
    """``models/genres.safetensors`` -> ``genres``: the name a saved model's predictions are
    stored under in the catalog (what ``earmark tag --model NAME`` reads)."""
    return Path(model_path).name.removesuffix(".safetensors").removesuffix(".json")


def store_prediction(catalog: Catalog, name: str, model: TrainedModel,
                     prediction: SongPrediction) -> bool:
    """Keep a song's scores in the catalog under model ``name`` (kind: the model's task,
    ``genres`` for genre models, as the pretrained taggers store them). Returns whether they
    were stored: not for a song the catalog does not hold, nor for a failed prediction."""
    track = get_track(catalog, prediction.path)
    if track is None or prediction.error:
        return False
    kind = "genres" if model.card.task == "genre" else model.card.task
    store_predictions(catalog, track.id, name, {kind: prediction.scores})
    return True


def predict_and_store(catalog: Catalog, model: TrainedModel, name: str, paths: Iterable[str],
                      *, method: str = "mean", per_chunk: bool = False,
                      threshold: float | None = None, progress: ProgressFn | None = None,
                      engine: Engine | None = None,
                      sampling: Sampling | None = DEFAULT_SAMPLING) -> Iterator[SongPrediction]:
    """Predict every song (:func:`predict_songs`, same options) and store the scores of the
    songs in ``catalog`` under model ``name`` (:func:`store_prediction`; see
    :func:`stored_name`). Yields each prediction, in the order of ``paths``, once it is
    stored (nothing is predicted until the caller iterates); a file that cannot be read gives
    one with ``error`` set and stores nothing. A run stopped part way keeps what it did, and
    holds no song's prediction after the caller is done with it."""
    for prediction in predict_songs(model, paths, method=method, per_chunk=per_chunk,
                                    threshold=threshold, progress=progress, engine=engine,
                                    sampling=sampling):
        store_prediction(catalog, name, model, prediction)
        yield prediction
