"""Genres and tags of files, for the ``genre`` and ``tags`` commands: the catalog is reused, never
grown.

A file the catalog holds, unchanged since it was scanned (same size and modification time),
is answered from its stored predictions; a catalog song without them is analysed once and they
are stored (:func:`~earmark.tagging.sources.ensure_genres`,
:func:`~earmark.tagging.sources.ensure_predictions`), so neither command nor ``tag`` listens to
it twice. Any other file (not in the catalog, changed since its scan, or asked about an excerpt
with ``start``/``duration``) is analysed now and nothing about it is stored: looking a song up
does not add it to the library (``earmark scan`` does).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from earmark.analysis.embed import SongResult, analyse_files, load_taggers
from earmark.analysis.sampling import DEFAULT_SAMPLING, Sampling
from earmark.catalog import Catalog
from earmark.catalog.predictions import is_silent, load_predictions
from earmark.catalog.tracks import Track, get_track
from earmark.errors import AudioError, EarmarkError
from earmark.models.registry import ALIASES, MODEL_NAMES, pretrained
from earmark.tagging.sources import (
    GenreModel,
    Scored,
    ensure_genres,
    ensure_predictions,
    load_prediction,
)
from earmark.types import Outcome, ProgressFn


@dataclass(frozen=True)
class SongLabels(Outcome):
    """One file's genres (or tags), most confident first, in ``labels``.

    ``status``: ``stored`` (read from the catalog), ``analysed`` (the models listened to it
    now) or ``failed`` (``reason`` says why, ``labels`` empty). ``silent``: the audio was silent,
    so ``labels`` is empty. ``padded`` (shorter than one patch) and ``downmix`` (a note when the
    channels cancelled) come from this run's analysis; ``padded`` is ``None`` for a stored
    answer. ``result``: the analysis (with its taggram) of an ``analysed`` file.
    """

    STATUSES: ClassVar[frozenset[str]] = frozenset({"stored", "analysed", "failed"})

    labels: Scored = field(default_factory=list)
    silent: bool = False
    padded: bool | None = None
    downmix: str | None = None
    result: SongResult | None = None


def catalog_tracks(catalog: Catalog | None, paths: Sequence[str]) -> dict[str, Track]:
    """``{path: track}`` for the files of ``paths`` the catalog holds as playable and that are
    unchanged since their scan (size and modification time), so their stored predictions still
    describe them."""
    found = {}
    for path in paths if catalog is not None else ():
        try:
            track, stat = get_track(catalog, path), os.stat(path)
        except (EarmarkError, OSError):
            continue
        if track is not None and track.status == "ok" and track.unchanged(stat):
            found[path] = track
    return found


def _analysed(path: str, result: SongResult | AudioError,
              labels: Callable[[SongResult], Scored]) -> SongLabels:
    if isinstance(result, AudioError):
        return SongLabels(path, "failed", result.reason)
    return SongLabels(path, "analysed", None, [] if result.silent else labels(result),
                      result.silent, result.padded, result.downmix, result)


def _stored(catalog: Catalog, path: str, track: Track, model: str, kind: str,
            failures: dict[str, str]) -> SongLabels:
    if is_silent(catalog, track.id):
        return SongLabels(path, "stored", None, [], True,
                          downmix=_stored_downmix(catalog, track.id, model))
    labels = load_prediction(catalog, track.id, model, kind)
    if labels is None:
        return SongLabels(path, "failed", failures.get(track.path) or
                          f"no {kind} from {model!r} stored for this song")
    return SongLabels(path, "stored", None, labels,
                      downmix=_stored_downmix(catalog, track.id, model))


def _stored_downmix(catalog: Catalog, track_id: int, model: str) -> str | None:
    audio = load_predictions(catalog, track_id, "audio", model)
    return audio.get("downmix") if isinstance(audio, dict) else None


def _counted(progress: ProgressFn | None, items: Iterator, total: int) -> Iterator:
    for done, item in enumerate(items, start=1):
        if progress is not None:
            progress(done, total, item[0])
        yield item


def _listened(paths: list[str], taggers: Sequence[str], labels: Callable[[SongResult], Scored],
              start: float | None, duration: float | None, precision: str | None,
              progress: ProgressFn | None, sampling: Sampling | None) -> Iterator[SongLabels]:
    """``paths`` analysed now by the pretrained ``taggers`` (loaded before this returns), each
    answer's labels picked from its analysis by ``labels``."""
    songs = analyse_files(paths, load_taggers(taggers, precision=precision), start=start,
                          duration=duration, sampling=sampling)
    return (_analysed(path, result, labels)
            for path, result in _counted(progress, songs, len(paths)))


def _lookup(paths: Sequence[str], catalog: Catalog | None, excerpt: bool, model: str, kind: str,
            ensure: Callable[[list[int]], list[tuple[str, str]]],
            outside: Callable[[list[str]], Iterator[SongLabels]]) -> Iterator[SongLabels]:
    """The answer for each file of ``paths``, in order: ``kind`` predictions of ``model``
    read from the catalog for its unchanged songs (none for an ``excerpt``), once ``ensure``
    (called with their track ids, returning ``(path, reason)`` of those that failed) has
    computed what was missing; ``outside`` answers the other files."""
    known = {} if excerpt else catalog_tracks(catalog, paths)
    failures = dict(ensure([t.id for t in known.values()])) if known else {}
    rest = [p for p in paths if p not in known]
    answers = outside(rest) if rest else iter(())
    for path in paths:
        if path in known:
            yield _stored(catalog, path, known[path], model, kind, failures)
        else:
            yield next(answers)


def song_genres(
    paths: Sequence[str],
    model: GenreModel,
    catalog: Catalog | None = None,
    *,
    start: float | None = None,
    duration: float | None = None,
    precision: str | None = None,
    sampling: Sampling | None = DEFAULT_SAMPLING,
    progress: ProgressFn | None = None,
) -> Iterator[SongLabels]:
    """The genres of each file of ``paths``, in order, as ``model`` hears them
    (:func:`~earmark.tagging.sources.resolve_genre_model`): the combined, calibrated genres of
    both taggers by default, one tagger's, a trained model's, or genres only stored in the
    catalog (``learned``). See the module for what the catalog is used for.

    ``start``/``duration`` (seconds) analyse an excerpt: the pretrained taggers only, never
    from or into the catalog. ``precision``: see :func:`earmark.models.musicnn.load_musicnn`.
    ``sampling``: the pretrained taggers' (:func:`earmark.analysis.embed.embed_tracks`;
    ``None``: every patch, and stored answers made from a sample are made again).
    A file that cannot be decoded gives a ``failed`` :class:`SongLabels`; the rest go on.
    Raises :class:`~earmark.errors.EarmarkError` for an excerpt of a model that does not
    listen itself, or a trained model that cannot be loaded.
    """
    excerpt = start is not None or duration is not None
    if excerpt and not model.taggers:
        raise EarmarkError(f"--start/--duration choose the excerpt the pretrained taggers hear; "
                           f"{model.name!r} gives whole songs' genres")
    yield from _lookup(
        paths, catalog, excerpt, model.name, "genres",
        lambda ids: ensure_genres(catalog, model, ids, progress=progress, sampling=sampling),
        lambda rest: _outside_genres(rest, model, start, duration, precision, progress,
                                     sampling))


def _outside_genres(paths: list[str], model: GenreModel, start: float | None,
                    duration: float | None, precision: str | None,
                    progress: ProgressFn | None, sampling: Sampling | None
                    ) -> Iterator[SongLabels]:
    if model.taggers:
        yield from _listened(paths, model.taggers, lambda result: result.genres, start,
                             duration, precision, progress, sampling)
    elif model.path is not None:
        from earmark.analysis.predict import predict_songs
        from earmark.models.io import load_model

        for prediction in predict_songs(load_model(model.path), paths, progress=progress,
                                        sampling=sampling):
            if prediction.error:
                yield SongLabels(prediction.path, "failed", prediction.error)
            else:
                labels = sorted(prediction.scores.items(), key=lambda item: -item[1])
                yield SongLabels(prediction.path, "analysed", None, labels)
    else:
        for path in paths:
            yield SongLabels(path, "failed", f"not in the catalog: genres of {model.name!r} "
                                             "exist only for catalog songs (earmark scan it)")


def tagger_name(value: str) -> str:
    """The pretrained tagger ``value`` names (``mtt`` -> ``MTT_musicnn``): tags come from one
    tagger's own vocabulary. Raises :class:`~earmark.errors.EarmarkError` listing the taggers
    for anything else (``both``, ``learned``, a trained model: they give genres, not tags)."""
    try:
        return pretrained(value.strip()).name
    except EarmarkError:
        raise EarmarkError(f"no tags from {value!r}: tags come from one pretrained tagger; "
                           f"choose one of {', '.join(MODEL_NAMES)} (or "
                           f"{', '.join(ALIASES)})") from None


def song_tags(
    paths: Sequence[str],
    model: str,
    catalog: Catalog | None = None,
    *,
    start: float | None = None,
    duration: float | None = None,
    precision: str | None = None,
    sampling: Sampling | None = DEFAULT_SAMPLING,
    progress: ProgressFn | None = None,
) -> Iterator[SongLabels]:
    """Every tag of pretrained tagger ``model`` (a name of :data:`MODEL_NAMES`) for each file
    of ``paths``, most probable first, in order; the catalog is used as :func:`song_genres`
    uses it (``sampling`` too). An ``analysed`` answer carries its
    :class:`~earmark.analysis.embed.SongResult` (the taggram: of the sampled patches only,
    unless ``sampling`` is ``None``)."""
    yield from _lookup(
        paths, catalog, start is not None or duration is not None, model, "tags",
        lambda ids: ensure_predictions(catalog, model, ids, progress=progress,
                                       sampling=sampling),
        lambda rest: _listened(rest, [model], lambda result: result.top_tags(len(result.tags)),
                               start, duration, precision, progress, sampling))
