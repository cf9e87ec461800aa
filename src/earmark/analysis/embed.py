"""Run the pretrained tagger over catalog tracks: embeddings and tag/genre predictions stored.

One pass per song gives both the embedding (for taste models and trained heads) and the
whole-song tag probabilities (and, for MSD models, genres), so nothing is decoded twice. Work is
incremental: a track is analysed again only if its file content changed or ``force`` is set.
Songs are streamed block by block and decoded in a thread ahead of the network (PyAV and soxr
release the GIL), so memory stays flat on long mixes. On the CPU several songs are analysed at
once, one per core, on threads sharing the model (the engine's
:meth:`~earmark.engine.Engine.map_threads`); the network runs on the GPU when there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from earmark.analysis.songs import analyse_song, embedding_from_patches, genre_from_tags
from earmark.catalog import Catalog, tracks
from earmark.catalog import predictions as catalog_predictions
from earmark.catalog.embeddings import missing_embeddings, store_embedding
from earmark.catalog.predictions import store_predictions
from earmark.engine import Engine, default_engine
from earmark.engine.device import pick_device
from earmark.errors import AudioError
from earmark.models.musicnn import MusicnnTagger, load_musicnn
from earmark.models.registry import pretrained
from earmark.settings import EMBEDDING_MODEL, settings
from earmark.types import Outcome, ProgressFn

DEFAULT_MODEL = EMBEDDING_MODEL


@dataclass(frozen=True)
class SongResult:
    """A song through a tagger: whole-song ``tag_probabilities`` ``(n_tags,)``, ``embedding``
    ``(2 * d,)`` (mean and max over patches), the per-patch ``taggram`` and ``genres``.

    ``silent``: the audio was silent, so ``genres`` is empty and the tag probabilities describe
    nothing (report "silent audio", never tags); ``downmix``: a note when the channels cancelled
    in the mono mix and the loudest one was analysed instead.
    """

    path: str
    tags: tuple[str, ...]
    tag_probabilities: np.ndarray
    taggram: np.ndarray
    embedding: np.ndarray
    genres: list[tuple[str, float]]
    padded: bool
    duration: float
    patch_seconds: float
    silent: bool
    downmix: str | None

    def top_tags(self, n: int = 10) -> list[tuple[str, float]]:
        order = np.argsort(-self.tag_probabilities)[:n]
        return [(self.tags[i], float(self.tag_probabilities[i])) for i in order]


@dataclass(frozen=True)
class EmbedItem(Outcome):
    """What embedding did with one track: ``status`` is ``embedded``, ``unchanged`` (its
    embedding is up to date) or ``failed`` (``reason`` says why); ``notes`` on a song embedded
    (silent audio, cancelling channels)."""

    STATUSES: ClassVar[frozenset[str]] = frozenset({"embedded", "unchanged", "failed"})

    track_id: int | None = None
    notes: tuple[str, ...] = ()


@dataclass
class EmbedReport:
    """One :class:`EmbedItem` per track asked for, in order, and views of them."""

    items: list[EmbedItem] = field(default_factory=list)

    @property
    def done(self) -> list[int]:
        """Ids of the tracks embedded."""
        return [item.track_id for item in self.items if item.status == "embedded"]

    @property
    def failed(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of the tracks that failed."""
        return [(item.path, item.reason) for item in self.items if item.status == "failed"]

    @property
    def up_to_date(self) -> int:
        """How many tracks had an up-to-date embedding already."""
        return sum(1 for item in self.items if item.status == "unchanged")

    @property
    def notes(self) -> list[tuple[str, str]]:
        """``(path, note)`` for the notes on songs embedded."""
        return [(item.path, note) for item in self.items for note in item.notes]


def analyse_file(
    path: str | Path,
    model: MusicnnTagger,
    start: float | None = None,
    duration: float | None = None,
) -> SongResult | AudioError:
    """One song through ``model``: its :class:`SongResult`, or the :class:`AudioError` that
    says why it could not be decoded (returned, not raised, so a batch goes on)."""
    path = str(path)
    try:
        analysis = analyse_song(path, model, start, duration)
    except AudioError as exc:
        return exc
    probs = analysis.taggram.mean(axis=0)
    has_genres = pretrained(model.name).has_genres and not analysis.info.silent
    genres = genre_from_tags(probs, analysis.tags) if has_genres else []
    return SongResult(
        path=path, tags=analysis.tags, tag_probabilities=probs,
        taggram=analysis.taggram, embedding=embedding_from_patches(analysis.embeddings),
        genres=genres, padded=analysis.info.padded, duration=analysis.info.duration,
        patch_seconds=analysis.info.patch_seconds, silent=analysis.info.silent,
        downmix=analysis.info.downmix,
    )


def analyse_files(
    paths: Iterable[str | Path],
    model: MusicnnTagger,
    *,
    start: float | None = None,
    duration: float | None = None,
    engine: Engine | None = None,
) -> Iterator[tuple[str, SongResult | AudioError]]:
    """Analyse songs, yielding ``(path, result)`` or ``(path, error)`` per file, in order.

    A file that cannot be decoded yields its :class:`~earmark.errors.AudioError`; the rest go
    on. On the CPU, the ``engine``'s workers (default :func:`~earmark.engine.default_engine`:
    one per core) analyse songs at once on threads sharing the model, each with one torch
    thread. A single song, or a model on a GPU, runs one at a time
    (:func:`~earmark.analysis.songs.analyse_song` then spreads a song's patches over torch's
    threads itself).
    """
    paths = [str(p) for p in paths]
    at_once = len(paths) if model.device.type == "cpu" else 1
    analyse = partial(analyse_file, model=model, start=start, duration=duration)
    results = (engine or default_engine()).map_threads(analyse, paths, workers=at_once)
    yield from zip(paths, results, strict=True)


def store_song_predictions(catalog: Catalog, track_id: int, model: str,
                          result: SongResult) -> None:
    """Record a song's tag probabilities (and genres) in the catalog's predictions table, and
    what the analysis heard (kind ``audio``: ``{"silent": bool, "downmix": note or null}``).

    A silent song gets no tags and no genres: the model's outputs for silence mean nothing, and
    tag writing reads the ``audio`` record to say "silent audio" instead.
    """
    probabilities = dict(zip(result.tags, result.tag_probabilities.tolist(), strict=True))
    payloads: dict[str, object] = {
        "tags": {} if result.silent else {t: round(p, 5) for t, p in probabilities.items()},
        "audio": {"silent": result.silent, "downmix": result.downmix},
    }
    if result.genres:
        payloads["genres"] = [[g, round(c, 5)] for g, c in result.genres]
    store_predictions(catalog, track_id, model, payloads)


def load_predictions(catalog: Catalog, track_id: int, kind: str,
                     model: str = DEFAULT_MODEL) -> object | None:
    """A stored prediction payload of a pretrained model (decoded JSON) or ``None``."""
    return catalog_predictions.load_predictions(catalog, track_id, kind, model)


def embed_tracks(
    catalog: Catalog,
    model: str = DEFAULT_MODEL,
    track_ids: Iterable[int] | None = None,
    *,
    force: bool = False,
    device: str | None = None,
    precision: str | None = None,
    engine: Engine | None = None,
    progress: ProgressFn | None = None,
) -> EmbedReport:
    """Compute and store embeddings and predictions for catalog tracks that lack them.

    Parameters
    ----------
    model : musicnn model name (see :func:`earmark.models.musicnn.load_musicnn`).
    track_ids : restrict to these tracks (default: every playable track).
    force : recompute even when an up-to-date embedding exists.
    device : torch device; default the settings' (``EARMARK_DEVICE``), else the best available.
    precision : see :func:`earmark.models.musicnn.load_musicnn`; default the settings'
        (``EARMARK_PRECISION``, else ``auto``).
    engine : where songs are analysed (:func:`analyse_files`).
    progress : called as ``progress(done, total, path)``.
    """
    report = EmbedReport()
    stale = set(missing_embeddings(catalog, model))
    if track_ids is None:
        wanted = [(t.id, t) for t in tracks.iter_tracks(catalog)]
    else:
        track_ids = list(track_ids)
        found = tracks.tracks_by_id(catalog, track_ids)
        wanted = [(i, found.get(i)) for i in track_ids]
    todo = []
    for track_id, track in wanted:
        if track is None or track.status != "ok":
            reason = "not in the catalog" if track is None else f"unreadable: {track.error}"
            report.items.append(EmbedItem(track.path if track else str(track_id), "failed",
                                          reason, track_id))
        elif force or track_id in stale:
            todo.append(track)
        else:
            report.items.append(EmbedItem(track.path, "unchanged", None, track_id))
    if not todo:
        return report
    if progress is not None:
        progress(0, len(todo), "")  # the total shows while the model loads and the first song
    tagger = load_musicnn(model, device=pick_device(device),
                          precision=precision or settings().precision)
    by_path = {t.path: t for t in todo}
    songs = analyse_files(list(by_path), tagger, engine=engine)
    for done, (path, result) in enumerate(songs, start=1):
        track = by_path[path]
        if isinstance(result, AudioError):
            report.items.append(EmbedItem(path, "failed", result.reason, track.id))
        else:
            store_embedding(catalog, track.id, model, result.embedding, track.content_hash)
            store_song_predictions(catalog, track.id, model, result)
            notes = (("silent audio: no tags or genres stored",) if result.silent else ()) + (
                (result.downmix,) if result.downmix else ())
            report.items.append(EmbedItem(path, "embedded", None, track.id, notes))
        if progress is not None:
            progress(done, len(todo), path)
    return report
