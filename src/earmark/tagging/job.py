"""A tagging job: prepare -> preview -> apply, the same for the CLI, a web request or a test.

:meth:`TaggingJob.prepare` chooses what to analyse and plans every file (nothing is written):
it scans new or changed files, runs the pretrained tagger where predictions are missing, and
plans each track through :func:`earmark.tagging.plan.plan_track`, a page of whole albums at a
time, so a library of any size is planned without holding every song's predictions. The
:class:`TagPreview` it returns is what a face shows and asks about; :meth:`TaggingJob.apply`
then writes the planned changes through :func:`earmark.tagging.plan.apply_plans` (journalled,
undoable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from earmark.analysis.sampling import DEFAULT_SAMPLING, Sampling
from earmark.catalog import Catalog, tracks
from earmark.catalog.tracks import Track
from earmark.ingest.scan import FOLDER_LOOP, find_audio_files, scan
from earmark.models.registry import BOTH
from earmark.settings import EMBEDDING_MODEL
from earmark.tagging.albums import AlbumKeys, AlbumPooling, album_pages
from earmark.tagging.plan import TrackPlan, TrackResult, apply_plans, plan_track
from earmark.tagging.policy import TagPolicy, load_policy
from earmark.tagging.sources import (
    Source,
    StoredPredictions,
    ensure_genres,
    ensure_predictions,
    resolve_genre_model,
)
from earmark.types import Stages, no_progress

#: The fields a job can write, in the order they are planned.
TAG_FIELDS = ("genre", "mood", "instrument")

#: Songs a job reads and plans together (:meth:`TaggingJob.prepare`): a page's tracks and
#: their predictions are what planning holds at once, plus at most one album.
PAGE_SONGS = 500

#: Where genres come from by default: both pretrained taggers together
#: (:func:`~earmark.tagging.sources.resolve_genre_model` says what else ``model`` can be).
DEFAULT_TAGGER = BOTH


@dataclass(frozen=True)
class TagPreview:
    """What a job would do: a plan per track, and the given paths that could not be read at
    all (``(path, problem)``: missing, a name the catalog cannot store, a folder that cannot
    be listed)."""

    plans: list[TrackPlan]
    unreadable: list[tuple[str, str]]

    @property
    def to_write(self) -> list[TrackPlan]:
        """The plans with changes to write."""
        return [p for p in self.plans if p.status == "planned"]

    @property
    def failed(self) -> int:
        """Files that could not be planned: unreadable paths and ``failed`` plans (files kept
        or skipped by the policy are not failures)."""
        return len(self.unreadable) + sum(1 for p in self.plans if p.status == "failed")


@dataclass(frozen=True)
class TagOutcome:
    """What :meth:`TaggingJob.apply` did: the journal batch (``earmark undo --last`` undoes
    it) and one result per plan, in plan order."""

    batch: str
    results: list[TrackResult]

    def counts(self) -> dict[str, int]:
        """How many files ended in each status, e.g. ``{"written": 2, "skipped": 1}``."""
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts


class TaggingJob:
    """Write predicted genres (and moods, instruments) into music files, in two steps.

    ``model`` names where genres come from: predictions stored in the catalog under that name
    (e.g. a trained classifier's), or one of the pretrained taggers earmark runs itself
    (:data:`~earmark.models.registry.MODEL_NAMES`). ``fields`` is a subset of
    :data:`TAG_FIELDS` and must hold ``"genre"``; ``policy`` (default
    :func:`~earmark.tagging.policy.load_policy`) decides which values to write and how;
    ``id3v23`` and ``upgrade_id3`` go to :func:`~earmark.tagging.plan.plan_track`. The songs
    of one album get one genre decision (:class:`~earmark.tagging.albums.AlbumPooling`)
    unless ``per_track``. ``sampling``: how the pretrained taggers analyse songs
    (:func:`earmark.analysis.embed.embed_tracks`; ``None``: every patch, ``--full``).
    ``page_size``: songs read and planned together (:data:`PAGE_SONGS`).

    Raises ``ValueError`` for an unknown field, fields without ``"genre"``, or a
    ``page_size`` below 1.
    """

    def __init__(
        self,
        catalog: Catalog,
        policy: TagPolicy | None = None,
        *,
        model: str = DEFAULT_TAGGER,
        fields: Sequence[str] = ("genre",),
        id3v23: bool = False,
        upgrade_id3: bool = False,
        per_track: bool = False,
        sampling: Sampling | None = DEFAULT_SAMPLING,
        page_size: int = PAGE_SONGS,
    ):
        unknown = set(fields) - set(TAG_FIELDS)
        if unknown or "genre" not in fields:
            raise ValueError(f"fields must include 'genre' and be among {TAG_FIELDS}, "
                             f"not {list(fields)}")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        self.catalog = catalog
        self.policy = policy or load_policy()
        self.model = model
        self.genre_model = resolve_genre_model(catalog, model)
        self.fields = [f for f in TAG_FIELDS if f in fields]
        self.id3v23 = id3v23
        self.upgrade_id3 = upgrade_id3
        self.per_track = per_track
        self.sampling = sampling
        self.page_size = page_size
        self.preview: TagPreview | None = None

    @property
    def tagger(self) -> str:
        """The pretrained model whose tag predictions give moods and instruments."""
        taggers = self.genre_model.taggers
        return taggers[0] if taggers else EMBEDDING_MODEL

    def sources(self) -> dict[str, Source]:
        """Field -> source of its values (see :mod:`earmark.tagging.sources`)."""
        sources: dict[str, Source] = {"genre": StoredPredictions(
            self.catalog, self.genre_model.name, "genres")}
        for name in self.fields[1:]:
            sources[name] = StoredPredictions(self.catalog, self.tagger, "tags")
        return sources

    def models_to_run(self) -> list[str]:
        """The pretrained taggers :meth:`prepare` runs for moods and instruments on tracks
        that lack their predictions (genres: :func:`~earmark.tagging.sources.ensure_genres`)."""
        if self.fields == ["genre"] or self.tagger in self.genre_model.taggers:
            return []
        return [self.tagger]

    def needs_listening(self, track: Track) -> bool:
        """Whether a track must be analysed: in fill mode a file that already has a genre
        gets nothing new when only genres are written, so it is not listened to."""
        return track.status == "ok" and (self.fields != ["genre"]
                                         or self.policy.mode != "fill"
                                         or not track.genre)

    def collect(self, paths: Sequence[str | Path] | None, stages: Stages = no_progress
                ) -> tuple[list[int], list[tuple[str, str]]]:
        """Ids of the catalog tracks to tag, in the order the preview lists them, and the
        paths that could not be read at all.

        ``paths``: music files or folders (new or changed files are scanned first, on every
        core; tracks in the order the files were found); ``None``: every track in the
        catalog, by path.
        """
        if paths is None:
            return tracks.track_column(self.catalog, "id"), []
        found = list(find_audio_files(paths))
        unreadable = [(path, problem) for path, problem in found
                      if problem and problem != FOLDER_LOOP]
        files = [tracks.normalise_path(path) for path, problem in found if not problem]
        with stages("reading files") as progress:
            scan(self.catalog, files, verify=False, progress=progress)
        return [tracks.get_track(self.catalog, path).id for path in files], unreadable

    def _survey(self, ids: list[int]) -> tuple[list[tuple[str, ...] | None], list[int]]:
        """Each track's album key (:class:`~earmark.tagging.albums.AlbumKeys`; ``None`` for a
        song decided alone, every song with ``per_track``) and the ids of the tracks to listen
        to, read :attr:`page_size` tracks at a time."""
        albums = AlbumKeys()
        listen = []
        for start in range(0, len(ids), self.page_size):
            page = ids[start:start + self.page_size]
            found = tracks.tracks_by_id(self.catalog, page)
            for track in (found[i] for i in page):
                albums.add(track)
                if self.needs_listening(track):
                    listen.append(track.id)
        return ([None] * len(ids) if self.per_track else albums.keys()), listen

    def _plan_page(self, ids: list[int], keys: list[tuple[str, ...] | None]
                   ) -> list[TrackPlan]:
        """Plan the tracks ``ids`` (whole albums, with their album ``keys``) together: only
        their predictions are read."""
        found = tracks.tracks_by_id(self.catalog, ids)
        page = [found[i] for i in ids]
        sources = self.sources()
        if not self.per_track:
            sources["genre"] = AlbumPooling(sources["genre"], page, keys, self.policy)
        return [plan_track(self.catalog, track, sources, self.policy, id3v23=self.id3v23,
                           upgrade_id3=self.upgrade_id3) for track in page]

    def prepare(self, paths: Sequence[str | Path] | None = None, *,
                stages: Stages = no_progress) -> TagPreview:
        """Collect the tracks (see :meth:`collect`), analyse those without predictions and
        plan every one; nothing is written. Stages: ``reading files``, ``listening (MODEL)``
        per pretrained tagger run, ``planning``.

        Tracks are read and planned :attr:`page_size` at a time, whole albums together
        (:func:`~earmark.tagging.albums.album_pages`): what is held for the whole run is
        each track's album key and its plan, never every song's predictions.

        Raises :class:`~earmark.errors.EarmarkError` when a pretrained tagger cannot run
        (e.g. its weights are not installed).
        """
        ids, unreadable = self.collect(paths, stages)
        keys, listen = self._survey(ids)
        if self.genre_model.taggers or self.genre_model.path:  # stored-only: nothing to run
            with stages(f"listening ({self.genre_model.name})") as progress:
                ensure_genres(self.catalog, self.genre_model, listen, progress,
                              sampling=self.sampling)
        for name in self.models_to_run():
            with stages(f"listening ({name})") as progress:
                # Tracks that cannot be analysed stay without predictions: planning skips
                # them with a reason.
                ensure_predictions(self.catalog, name, listen, progress,
                                   sampling=self.sampling)
        plans: list[TrackPlan | None] = [None] * len(ids)
        with stages("planning") as progress:
            done = 0
            for page in album_pages(keys, self.page_size):
                planned = self._plan_page([ids[p] for p in page], [keys[p] for p in page])
                for position, plan in zip(page, planned, strict=True):
                    plans[position] = plan
                    done += 1
                    if progress is not None:
                        progress(done, len(ids), plan.path)
        self.preview = TagPreview(plans, unreadable)
        return self.preview

    def apply(self, *, stages: Stages = no_progress) -> TagOutcome:
        """Write the prepared plans (stage ``writing tags``); each file on its own, journalled
        so that ``earmark undo`` restores it. Raises ``RuntimeError`` before :meth:`prepare`.
        """
        if self.preview is None:
            raise RuntimeError("prepare() the job before applying it")
        with stages("writing tags") as progress:
            batch, results = apply_plans(self.catalog, self.preview.plans, progress=progress)
        return TagOutcome(batch, results)
