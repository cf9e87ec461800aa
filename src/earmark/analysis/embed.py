"""Run the pretrained tagger over catalog tracks: embeddings and tag/genre predictions stored.

One pass per song gives both the embedding (for taste models and trained heads) and the
whole-song tag probabilities and genres, so nothing is decoded twice; by default MSD_musicnn
and MTT_musicnn run together on one decode and one mel spectrogram (they share the front end),
and their combined, calibrated genres are stored too (:mod:`earmark.analysis.genres`). Taste
and training read the MSD embedding (``EMBEDDING_MODEL``). Work is
incremental: a track is analysed again only if its file content changed or ``force`` is set.
A song longer than 30 s is analysed from a sample of its patches spread over it
(:data:`~earmark.analysis.sampling.DEFAULT_SAMPLING`, decoded by seeking) unless ``sampling``
is ``None`` (``--full``: every patch); each stored embedding records which, and the precision.
Songs are streamed block by block and decoded in a thread ahead of the network (PyAV and soxr
release the GIL), so memory stays flat on long mixes. On the CPU several songs are analysed at
once, one per core, on threads sharing the model (the engine's
:meth:`~earmark.engine.Engine.map_threads`); the network runs on the GPU when there is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from earmark.analysis.genres import combination_name, zero_shot_genres
from earmark.analysis.sampling import DEFAULT_SAMPLING, Sampling
from earmark.analysis.songs import (
    DecodedSong,
    SongAnalysis,
    analyse_decoded,
    analyse_song_models,
    decode_song,
    embedding_from_patches,
)
from earmark.catalog import Catalog, tracks
from earmark.catalog import predictions as catalog_predictions
from earmark.catalog.embeddings import missing_embeddings, store_embedding
from earmark.catalog.predictions import store_predictions
from earmark.engine import Engine, default_engine
from earmark.engine.device import pick_device
from earmark.engine.local import PRELOAD
from earmark.errors import AudioError
from earmark.features import MelParams
from earmark.models.musicnn import MusicnnTagger, load_musicnn
from earmark.models.registry import ZERO_SHOT_MODELS, pretrained
from earmark.settings import EMBEDDING_MODEL, settings
from earmark.types import Outcome, ProgressFn

DEFAULT_MODEL = EMBEDDING_MODEL


@dataclass(frozen=True)
class TaggerOutput:
    """One tagger's view of a song: whole-song ``tag_probabilities`` ``(n_tags,)``, the
    per-patch ``taggram`` ``(n_patches, n_tags)``, the ``embedding`` ``(2 * d,)`` (mean and
    max over patches) and this tagger's own calibrated ``genres`` (empty for silent audio)."""

    model: str
    tags: tuple[str, ...]
    tag_probabilities: np.ndarray
    taggram: np.ndarray
    embedding: np.ndarray
    genres: list[tuple[str, float]]

    def top_tags(self, n: int = 10) -> list[tuple[str, float]]:
        """The ``n`` most probable ``(tag, probability)``, most probable first."""
        order = np.argsort(-self.tag_probabilities)[:n]
        return [(self.tags[i], float(self.tag_probabilities[i])) for i in order]


@dataclass(frozen=True)
class SongResult:
    """A song through one or more taggers that share a front end: one :class:`TaggerOutput`
    per tagger in ``outputs`` (in the order given; ``tags``, ``tag_probabilities``,
    ``taggram``, ``embedding`` and :meth:`top_tags` are the first one's) and ``genres``, the
    calibrated genres of all taggers together (:func:`earmark.analysis.genres.zero_shot_genres`).

    ``silent``: the audio was silent, so ``genres`` is empty and the tag probabilities describe
    nothing (report "silent audio", never tags); ``downmix``: a note when the channels cancelled
    in the mono mix and the loudest one was analysed instead; ``analysis``: ``"full"`` or the
    sampling spec of the patches analysed (:attr:`~earmark.analysis.songs.SongInfo.sampling`).
    """

    path: str
    outputs: tuple[TaggerOutput, ...]
    genres: list[tuple[str, float]]
    padded: bool
    duration: float
    patch_seconds: float
    silent: bool
    downmix: str | None
    analysis: str

    @property
    def model(self) -> str:
        """The name the genres are stored under: the tagger, or the taggers joined by ``+``."""
        return combination_name([o.model for o in self.outputs])

    @property
    def tags(self) -> tuple[str, ...]:
        return self.outputs[0].tags

    @property
    def tag_probabilities(self) -> np.ndarray:
        return self.outputs[0].tag_probabilities

    @property
    def taggram(self) -> np.ndarray:
        return self.outputs[0].taggram

    @property
    def embedding(self) -> np.ndarray:
        return self.outputs[0].embedding

    def top_tags(self, n: int = 10) -> list[tuple[str, float]]:
        """The first tagger's ``n`` most probable tags (see :meth:`TaggerOutput.top_tags`)."""
        return self.outputs[0].top_tags(n)


@dataclass(frozen=True)
class EmbedItem(Outcome):
    """What embedding did with one track: ``status`` is ``embedded`` or ``failed`` (``reason``
    says why); ``notes`` on a song embedded (silent audio, cancelling channels). Tracks whose
    embedding was up to date are counted in :attr:`EmbedReport.up_to_date`."""

    STATUSES: ClassVar[frozenset[str]] = frozenset({"embedded", "failed"})

    track_id: int | None = None
    notes: tuple[str, ...] = ()


@dataclass
class EmbedReport:
    """One :class:`EmbedItem` per track embedded or failed, and views of them.

    ``up_to_date`` counts the tracks whose embedding was up to date already: a count, not an
    item each, so a run over a 100,000-song library with a few new songs holds a few items.
    """

    items: list[EmbedItem] = field(default_factory=list)
    up_to_date: int = 0

    @property
    def done(self) -> list[int]:
        """Ids of the tracks embedded."""
        return [item.track_id for item in self.items if item.status == "embedded"]

    @property
    def failed(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of the tracks that failed."""
        return [(item.path, item.reason) for item in self.items if item.status == "failed"]

    @property
    def notes(self) -> list[tuple[str, str]]:
        """``(path, note)`` for the notes on songs embedded."""
        return [(item.path, note) for item in self.items for note in item.notes]


def load_taggers(names: Sequence[str], *, device: str | None = None,
                 precision: str | None = None) -> list[MusicnnTagger]:
    """The pretrained taggers ``names`` (:func:`earmark.models.musicnn.load_musicnn`), in order,
    on ``device`` (default: the settings' ``EARMARK_DEVICE``, else the best available; see
    :func:`earmark.engine.device.pick_device`) at ``precision`` (default: the settings'
    ``EARMARK_PRECISION``, else ``auto``).

    Raises :class:`~earmark.errors.ModelError` for an unknown name, precision or unreadable
    weights, ``ValueError`` for a device that is not available.
    """
    return [load_musicnn(name, device=pick_device(device),
                         precision=precision or settings().precision) for name in names]


def analyse_file(
    path: str | Path,
    model: MusicnnTagger | Sequence[MusicnnTagger],
    start: float | None = None,
    duration: float | None = None,
    sampling: Sampling | None = DEFAULT_SAMPLING,
) -> SongResult | AudioError:
    """One song through ``model`` (or several taggers sharing one decode and one mel
    spectrogram, :func:`~earmark.analysis.songs.analyse_song_models`): its
    :class:`SongResult`, or the :class:`AudioError` that says why it could not be decoded
    (returned, not raised, so a batch goes on). ``sampling``: the patches a song longer than
    30 s is analysed from (default :data:`~earmark.analysis.sampling.DEFAULT_SAMPLING`;
    ``None``: every patch); a ``start``/``duration`` excerpt is analysed whole."""
    path = str(path)
    models = [model] if isinstance(model, MusicnnTagger) else list(model)
    try:
        analyses = analyse_song_models(path, models, start, duration, sampling=sampling)
    except AudioError as exc:
        return exc
    return _song_result(path, models, analyses)


def _song_result(path: str, models: Sequence[MusicnnTagger],
                 analyses: Sequence[SongAnalysis]) -> SongResult:
    """A song's :class:`SongResult` from its analysis by each of ``models``."""
    info = analyses[0].info
    outputs = []
    for tagger, analysis in zip(models, analyses, strict=True):
        probs = analysis.taggram.mean(axis=0)
        own = [] if info.silent or not pretrained(tagger.name).has_genres else (
            zero_shot_genres({tagger.name: (probs, analysis.tags)}))
        outputs.append(TaggerOutput(tagger.name, analysis.tags, probs, analysis.taggram,
                                    embedding_from_patches(analysis.embeddings), own))
    genres = outputs[0].genres if len(outputs) == 1 else [] if info.silent else (
        zero_shot_genres({o.model: (o.tag_probabilities, o.tags) for o in outputs}))
    return SongResult(
        path=path, outputs=tuple(outputs), genres=genres, padded=info.padded,
        duration=info.duration, patch_seconds=info.patch_seconds, silent=info.silent,
        downmix=info.downmix, analysis=info.sampling,
    )


def analyse_files(
    paths: Iterable[str | Path],
    model: MusicnnTagger | Sequence[MusicnnTagger],
    *,
    start: float | None = None,
    duration: float | None = None,
    sampling: Sampling | None = DEFAULT_SAMPLING,
    engine: Engine | None = None,
    batch_patches: int = 0,
) -> Iterator[tuple[str, SongResult | AudioError]]:
    """Analyse songs, yielding ``(path, result)`` or ``(path, error)`` per file, in order.

    ``model``: one tagger, or several that share a front end (each song is then decoded once
    and its mel spectrogram computed once for all of them). ``sampling``: as for
    :func:`analyse_file` (``None``: every patch). A file that cannot be decoded
    yields its :class:`~earmark.errors.AudioError`; the rest go on. On the CPU, the
    ``engine``'s workers (default :func:`~earmark.engine.default_engine`: one per core)
    analyse songs at once on threads sharing the models, each with one torch thread. A single
    song, or models on a GPU, run one at a time
    (:func:`~earmark.analysis.songs.analyse_song_models` then spreads a song's patches over
    torch's threads itself).

    ``batch_patches``: with a ``sampling``, the patches of consecutive songs are gathered until
    a network call holds this many (a song is never split): the songs are decoded in the
    ``engine``'s worker processes (:meth:`~earmark.engine.Engine.map_files`) while the network
    works on earlier groups on its threads (one on a GPU, which then gets full batches). Each
    song's results are the one-song path's (every call holds at least
    :data:`~earmark.analysis.songs.MIN_CALL_PATCHES` patches, so the same kernels run: the same
    bits in float32). ``0`` (default), an excerpt (``start``/``duration``) or a single path:
    one song at a time as above. A song analysed whole and long (over
    :data:`~earmark.analysis.songs.HANDED_PATCHES` patches) is streamed, not handed over.
    """
    paths = [str(p) for p in paths]
    models = [model] if isinstance(model, MusicnnTagger) else list(model)
    engine = engine or default_engine()
    on_cpu = models[0].device.type == "cpu"
    if batch_patches > 0 and sampling is not None and start is None and (
            duration is None) and len(paths) > 1:
        groups = _groups(paths, engine.map_files(
            partial(_decode, params=models[0].mel_params, frames=models[0].patch_frames,
                    sampling=sampling),
            paths, preload=(*PRELOAD, "earmark.analysis.songs"), on_crash=AudioError),
            batch_patches)
        analysed = engine.map_threads(partial(_analyse_group, models=models, sampling=sampling),
                                      groups, workers=None if on_cpu else 1)
        for group in analysed:
            yield from group
        return
    analyse = partial(analyse_file, model=models, start=start, duration=duration,
                      sampling=sampling)
    results = engine.map_threads(analyse, paths, workers=len(paths) if on_cpu else 1)
    yield from zip(paths, results, strict=True)


#: Patches per network call when :func:`embed_tracks` batches songs (:func:`analyse_files`'
#: ``batch_patches``), by device. On the CPU a call's cost is about linear in its patches, so
#: what batching gains there is decoding in worker processes while the network runs: measured
#: with ``bench/bench_scale.py`` (bench/RESULTS.md), 16 (a sampled song a call) was 0.225 s a
#: song against 0.248 s one song at a time and 0.238 s for 32. On a GPU, full batches.
BATCH_PATCHES = {"cpu": 16, "gpu": 128}


def default_batch_patches(model: MusicnnTagger) -> int:
    """:data:`BATCH_PATCHES` for the device ``model`` runs on."""
    return BATCH_PATCHES["cpu" if model.device.type == "cpu" else "gpu"]


Decoded = DecodedSong | AudioError | None


def _decode(path: str, params: MelParams, frames: int, sampling: Sampling) -> Decoded:
    """:func:`~earmark.analysis.songs.decode_song` in an engine's worker, its error returned
    (one bad file never ends a batch)."""
    try:
        return decode_song(path, params, frames, sampling)
    except AudioError as exc:
        return exc


def _groups(paths: list[str], decoded: Iterable[Decoded], batch_patches: int
            ) -> Iterator[list[tuple[str, Decoded]]]:
    """Consecutive songs gathered until they hold ``batch_patches`` decoded patches (a song is
    never split, so a group may hold a few more), in order; the last group may hold fewer."""
    group: list[tuple[str, Decoded]] = []
    patches = 0
    for path, song in zip(paths, decoded, strict=True):
        group.append((path, song))
        patches += song.n_patches if isinstance(song, DecodedSong) else 0
        if patches >= batch_patches:
            yield group
            group, patches = [], 0
    if group:
        yield group


def _analyse_group(group: list[tuple[str, Decoded]], models: list[MusicnnTagger],
                   sampling: Sampling) -> list[tuple[str, SongResult | AudioError]]:
    """The network on a group of decoded songs at once
    (:func:`~earmark.analysis.songs.analyse_decoded`): ``(path, result)`` per song, in order.
    A song handed over undecoded (``None``: analysed whole and long) is streamed here."""
    decoded = [song for _, song in group if isinstance(song, DecodedSong)]
    analysed = iter(analyse_decoded(decoded, models) if decoded else [])
    results: list[tuple[str, SongResult | AudioError]] = []
    for path, song in group:
        if isinstance(song, DecodedSong):
            results.append((path, _song_result(path, models, next(analysed))))
        elif song is None:
            results.append((path, analyse_file(path, models, sampling=sampling)))
        else:
            results.append((path, song))
    return results


def store_song_predictions(catalog: Catalog, track_id: int, result: SongResult) -> None:
    """Record a song's predictions in the catalog's predictions table: per tagger its tag
    probabilities (kind ``tags``) and its own genres (kind ``genres``), and for several taggers
    their combined genres under :attr:`SongResult.model` (``MSD_musicnn+MTT_musicnn``); with
    each, what the analysis heard (kind ``audio``: ``{"silent": bool, "downmix": note or
    null}``).

    A silent song gets no tags and no genres: the models' outputs for silence mean nothing, and
    tag writing reads the ``audio`` record to say "silent audio" instead.
    """
    audio = {"silent": result.silent, "downmix": result.downmix}
    for output in result.outputs:
        payloads: dict[str, object] = {
            "tags": {} if result.silent else {t: round(p, 5) for t, p in zip(
                output.tags, output.tag_probabilities.tolist(), strict=True)},
            "audio": audio,
        }
        if output.genres:
            payloads["genres"] = [[g, round(c, 5)] for g, c in output.genres]
        store_predictions(catalog, track_id, output.model, payloads)
    if len(result.outputs) > 1:
        combined: dict[str, object] = {"audio": audio}
        if result.genres:
            combined["genres"] = [[g, round(c, 5)] for g, c in result.genres]
        store_predictions(catalog, track_id, result.model, combined)


def load_predictions(catalog: Catalog, track_id: int, kind: str,
                     model: str = DEFAULT_MODEL) -> object | None:
    """A stored prediction payload of a pretrained model (decoded JSON) or ``None``."""
    return catalog_predictions.load_predictions(catalog, track_id, kind, model)


#: Tracks read from the catalog and analysed at a time: a library is streamed in pages, so
#: only the ids of the songs to analyse are ever held for all of them.
PAGE_SIZE = 500


def _pages(ids: list[int]) -> Iterator[list[int]]:
    """``ids`` in consecutive pages of at most :data:`PAGE_SIZE`."""
    for start in range(0, len(ids), PAGE_SIZE):
        yield ids[start:start + PAGE_SIZE]


def _analysed(catalog: Catalog, track_ids: list[int], taggers: list[MusicnnTagger],
              **options) -> Iterator[tuple[tracks.Track, SongResult | AudioError]]:
    """:func:`analyse_files` (``options`` passed on) over the catalog tracks ``track_ids``,
    in order, reading them :data:`PAGE_SIZE` at a time: ``(track, result)`` per track."""
    for page in _pages(track_ids):
        found = tracks.tracks_by_id(catalog, page)
        by_path = {found[i].path: found[i] for i in page if i in found}
        for path, result in analyse_files(list(by_path), taggers, **options):
            yield by_path[path], result


def embed_tracks(
    catalog: Catalog,
    model: str | Sequence[str] = ZERO_SHOT_MODELS,
    track_ids: Iterable[int] | None = None,
    *,
    force: bool = False,
    sampling: Sampling | None = DEFAULT_SAMPLING,
    device: str | None = None,
    precision: str | None = None,
    engine: Engine | None = None,
    batch_patches: int | None = None,
    progress: ProgressFn | None = None,
) -> EmbedReport:
    """Compute and store embeddings and predictions for catalog tracks that lack them.

    Parameters
    ----------
    model : musicnn model name (see :func:`earmark.models.musicnn.load_musicnn`), or several
        that share a front end (default: MSD_musicnn and MTT_musicnn): each song is decoded
        once, every model's embedding and predictions are stored, and their combined genres
        too (:func:`store_song_predictions`). A track is analysed when any of them lacks an
        up-to-date embedding.
    track_ids : restrict to these tracks (default: every playable track). Tracks are read
        and analysed :data:`PAGE_SIZE` at a time, so memory does not grow with the library.
    force : recompute even when an up-to-date embedding exists.
    sampling : the patches a song longer than 30 s is analysed from (default
        :data:`~earmark.analysis.sampling.DEFAULT_SAMPLING`); ``None`` (``--full``): every
        patch, and an embedding made from a sample is then out of date too.
    device : torch device; default the settings' (``EARMARK_DEVICE``), else the best available.
    precision : see :func:`earmark.models.musicnn.load_musicnn`; default the settings'
        (``EARMARK_PRECISION``, else ``auto``).
    engine : where songs are analysed (:func:`analyse_files`).
    batch_patches : patches of several songs per network call (:func:`analyse_files`);
        default :func:`default_batch_patches` for the taggers' device, ``0``: one song at a
        time. Songs are stored as their group finishes, so an interrupted run loses at most
        the groups in flight.
    progress : called as ``progress(done, total, path)``.
    """
    report = EmbedReport()
    models = [model] if isinstance(model, str) else list(model)
    stale = set().union(*(missing_embeddings(catalog, m, full=sampling is None)
                          for m in models))
    todo: list[int] = []  # ids only, in path order: never a Track per library song
    if track_ids is None:
        todo = tracks.track_column(catalog, "id", "ok", ids=None if force else stale)
        report.up_to_date = tracks.playable_totals(catalog)[0] - len(todo)
    else:
        for page in _pages(list(track_ids)):
            found = tracks.tracks_by_id(catalog, page)
            for track_id in page:
                track = found.get(track_id)
                if track is None or track.status != "ok":
                    reason = ("not in the catalog" if track is None
                              else f"unreadable: {track.error}")
                    report.items.append(EmbedItem(track.path if track else str(track_id),
                                                  "failed", reason, track_id))
                elif force or track_id in stale:
                    todo.append(track_id)
                else:
                    report.up_to_date += 1
    if not todo:
        return report
    if progress is not None:
        progress(0, len(todo), "")  # the total shows while the model loads and the first song
    taggers = load_taggers(models, device=device, precision=precision)
    songs = _analysed(catalog, todo, taggers, sampling=sampling, engine=engine,
                      batch_patches=default_batch_patches(taggers[0]) if batch_patches is None
                      else batch_patches)
    for done, (track, result) in enumerate(songs, start=1):
        path = track.path
        if isinstance(result, AudioError):
            report.items.append(EmbedItem(path, "failed", result.reason, track.id))
        else:
            for output, tagger in zip(result.outputs, taggers, strict=True):
                store_embedding(catalog, track.id, output.model, output.embedding,
                                track.content_hash, analysis=result.analysis,
                                precision=tagger.precision)
            store_song_predictions(catalog, track.id, result)
            notes = (("silent audio: no tags or genres stored",) if result.silent else ()) + (
                (result.downmix,) if result.downmix else ())
            report.items.append(EmbedItem(path, "embedded", None, track.id, notes))
        if progress is not None:
            progress(done, len(todo), path)
    return report
