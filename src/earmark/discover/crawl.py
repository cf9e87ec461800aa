"""The crawl: from seeds to scored candidates, with the frontier kept in the catalog.

Each round takes queued candidates oldest first, downloads them politely into the staging
folder (:class:`~earmark.discover.sources.Provider`), then analyses the batch with the
library's own calls: :func:`~earmark.ingest.scan.inspect_file` on the engine's workers
(:meth:`~earmark.engine.Engine.map_files`), :func:`~earmark.analysis.embed.embed_tracks`
(the same embeddings ``earmark embed`` stores) and
:func:`~earmark.taste.recommend.recommend` with the listener's current taste model (the one
``earmark recommend`` uses), whose reason names the liked songs a candidate resembles. Above
``min_score`` a candidate joins the inbox; below, its file is deleted (unless ``keep``).
A candidate scoring at least ``expand_above`` expands the frontier: the rest of its playlist
or feed, its uploader's or channel's page, and (when the crawl searches) a search for its
artist. Every step is written to the catalog as it happens, so a killed crawl resumes
without fetching anything it already has.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog
from earmark.catalog import candidates as store
from earmark.catalog.candidates import Candidate
from earmark.catalog.tracks import forget_tracks, get_track, normalise_path, tracks_by_id
from earmark.discover.sources import (
    Entry,
    Provider,
    SourceError,
    folder_files,
    is_transient,
    search_url,
)
from earmark.engine import Engine, default_engine
from earmark.ingest.scan import inspect_file, record_inspected
from earmark.models.registry import ZERO_SHOT_MODELS
from earmark.taste.model import TasteModel, current_taste
from earmark.taste.recommend import recommend
from earmark.types import Outcome, ProgressFn

#: Kinds of seed and how a crawl lists each.
SEED_KINDS = ("search", "url", "feed", "folder", "likes")
#: Downloads analysed together: the engine's workers start once per batch (a fraction of a
#: second each), and a killed run loses at most a batch's analysis, never its downloads.
BATCH = 8
#: Seconds a watched folder's new file must stay unchanged before it is taken (a download
#: written in place is still growing before that).
SETTLED = 2.0


@dataclass(frozen=True)
class Seed:
    """Where a crawl starts: ``kind`` (one of :data:`SEED_KINDS`) and ``target`` (a search
    query, an address, a folder). ``label`` is the provenance stored with what it finds."""

    kind: str
    target: str

    def __post_init__(self) -> None:
        if self.kind not in SEED_KINDS:
            raise ValueError(f"seed kind must be one of {', '.join(SEED_KINDS)}, not "
                             f"{self.kind!r}")

    @property
    def label(self) -> str:
        return f"{self.kind} {self.target}"


@dataclass(frozen=True)
class Limits:
    """The bounds of one crawl run.

    max_candidates : new addresses taken into the frontier in this run.
    max_downloads : downloads in this run (each attempt counts, failed ones too).
    max_duration : seconds; longer songs are skipped (before the download when the site
        states the length, else after it). ``None``: no limit.
    max_filesize : bytes per download (``None``: no limit).
    delay : seconds between two requests to one host.
    timeout : seconds a server may stay silent before the item fails.
    time_budget : seconds for the whole run (``None``: no limit); checked between items.
    per_source : entries taken from each listing (a feed, a playlist, a search); a
        high-scoring candidate brings in the rest of its listing.
    search_results : results per search query.
    expand_above : P(like) from which a candidate expands the frontier.
    max_depth : how many expansions away from a seed the crawl may go.
    """

    max_candidates: int = 50
    max_downloads: int = 20
    max_duration: float | None = 1200.0
    max_filesize: int | None = 100_000_000
    delay: float = 2.0
    timeout: float = 20.0
    time_budget: float | None = None
    per_source: int = 10
    search_results: int = 5
    expand_above: float = 0.8
    max_depth: int = 2


@dataclass(frozen=True)
class CandidateOutcome(Outcome):
    """What the crawl did with one candidate: ``path`` is its address; ``status`` ``inbox``,
    ``rejected`` (scored below the minimum), ``duplicate`` (the library or an earlier
    candidate has its audio), ``skipped`` (too long) or ``failed``; ``reason`` says why or, for
    a scored one, which liked songs it resembles."""

    STATUSES: ClassVar[frozenset[str]] = frozenset(
        {"inbox", "rejected", "duplicate", "skipped", "failed"})

    candidate_id: int = 0
    score: float | None = None
    title: str | None = None


@dataclass
class CrawlReport:
    """One :class:`CandidateOutcome` per candidate decided in this run, in order; the seeds
    listed (``(label, entries taken)``) and those that failed (``(label, reason)``); why the
    run stopped early (``None``: the frontier ran dry); the staging folder."""

    staging: Path
    items: list[CandidateOutcome] = field(default_factory=list)
    listed: list[tuple[str, int]] = field(default_factory=list)
    failed_seeds: list[tuple[str, str]] = field(default_factory=list)
    stopped: str | None = None
    downloads: int = 0
    added: int = 0

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def failed(self) -> list[CandidateOutcome]:
        return [item for item in self.items if item.status == "failed"]


def staging_folder(catalog: Catalog) -> Path:
    """The default staging folder: ``<catalog name>-staging`` beside the catalog file."""
    return catalog.path.with_name(f"{catalog.path.stem}-staging")


def file_url(path: str | Path) -> str:
    """A local file's address as a candidate URL (``file:///...``)."""
    return Path(os.path.abspath(path)).as_uri()


def local_path(url: str) -> str | None:
    """The file a ``file:`` candidate URL names (a downloads-folder song), else ``None``."""
    return unquote(urlsplit(url).path) if url.startswith("file:") else None


def retriable(catalog: Catalog) -> list[Candidate]:
    """Failed candidates whose failure may pass (a timeout, a server error: see
    :func:`~earmark.discover.sources.is_transient`), oldest first: the next run tries them
    again. A 404 or a file that is not audio is never fetched again."""
    return [c for c in store.candidates_with(catalog, "failed") if is_transient(c.reason)]


def unfinished(catalog: Catalog) -> bool:
    """Whether a run without seeds has work: candidates queued or downloaded by an
    interrupted run, or failed ones worth trying again (:func:`retriable`)."""
    return bool(store.candidates_with(catalog, "queued", "downloaded", limit=1)
                or retriable(catalog))


class Crawl:
    """One crawl run over a catalog; :meth:`run` does it. See the module docstring.

    Parameters
    ----------
    catalog : the library (ratings, taste, tracks) and the frontier.
    limits : :class:`Limits`.
    min_score : P(like) from which a candidate joins the inbox.
    keep : keep the files (and catalog rows) of rejected candidates.
    staging : where downloads go (default :func:`staging_folder`).
    provider : the yt-dlp provider (default one built from ``limits``).
    taste : the taste model (default :func:`~earmark.taste.model.current_taste`, which
        raises :class:`~earmark.taste.model.NotEnoughRatings` before anything is fetched).
    engine : where files are inspected and songs analysed.
    progress : ``progress(downloads, max_downloads, address)`` after each download.
    """

    def __init__(self, catalog: Catalog, limits: Limits = Limits(), *, min_score: float = 0.5,
                 keep: bool = False, staging: str | Path | None = None,
                 provider: Provider | None = None, taste: TasteModel | None = None,
                 engine: Engine | None = None, progress: ProgressFn | None = None):
        self.catalog = catalog
        self.limits = limits
        self.min_score = min_score
        self.keep = keep
        self.taste = taste if taste is not None else current_taste(catalog)
        self.staging = Path(normalise_path(staging if staging is not None
                                           else staging_folder(catalog)))
        self.provider = provider or Provider(timeout=limits.timeout,
                                             max_filesize=limits.max_filesize,
                                             delay=limits.delay)
        self.engine = engine or default_engine()
        self.progress = progress
        self.report = CrawlReport(self.staging)
        self._searching = False
        self._listings: dict[str, list[Entry]] = {}
        self._deadline = (None if limits.time_budget is None
                          else time.monotonic() + limits.time_budget)

    # --- the run --------------------------------------------------------------------------------

    def run(self, seeds: Iterable[Seed] = (), *, watch: float | None = None) -> CrawlReport:
        """List ``seeds`` into the frontier, then download, analyse and score queued
        candidates until the frontier is empty or a limit is reached. Candidates left
        ``downloaded`` by a killed run are analysed first, without fetching them again.

        ``watch``: seconds between looks at the ``folder`` seeds for new files once the
        frontier is empty, until the time budget ends (or Ctrl-C); a file is taken once it has
        not changed for :data:`SETTLED` seconds. ``None``: look once, taking every file.
        """
        self.staging.mkdir(parents=True, exist_ok=True)
        for candidate in retriable(self.catalog):
            store.update_candidate(self.catalog, candidate.id, status="queued", reason=None,
                                   decided_at=None)
        self._analyse(store.candidates_with(self.catalog, "downloaded"))
        seeds = list(seeds)
        self._searching = any(s.kind in ("search", "likes") for s in seeds)
        settled = 0.0 if watch is None else SETTLED
        for seed in seeds:
            if self._stop_reason():
                break
            self._list_seed(seed, settled)
        self._work()
        folders = [s for s in seeds if s.kind == "folder"]
        while watch is not None and folders and not self._stop_reason():
            time.sleep(watch)
            for seed in folders:
                self._list_seed(seed, settled)
            self._work()
        self.report.stopped = self._stop_reason()
        return self.report

    def _work(self) -> None:
        """Download and analyse queued candidates until none is left or a limit is reached."""
        while not self._stop_reason():
            room = self.limits.max_downloads - self.report.downloads
            batch = store.candidates_with(self.catalog, "queued",
                                          limit=min(room, max(BATCH, self.engine.workers)))
            if not batch:
                break
            staged = []
            for candidate in batch:
                if self._stop_reason():
                    break
                fetched = self._fetch(candidate)
                if fetched is not None:
                    staged.append(fetched)
            self._analyse(staged)

    def _stop_reason(self) -> str | None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return f"time budget of {self.limits.time_budget:g} s used"
        if self.report.downloads >= self.limits.max_downloads and \
                store.candidates_with(self.catalog, "queued", limit=1):
            return f"{self.limits.max_downloads} downloads (--max-downloads)"
        return None

    # --- the frontier ---------------------------------------------------------------------------

    def _list_seed(self, seed: Seed, settled: float = 0.0) -> None:
        if seed.kind == "folder":
            # All of a folder is taken at once: there is no "rest" to expand into.
            entries = [Entry(file_url(p), title=p.stem)
                       for p in folder_files(seed.target, settled)]
            added = self._queue(entries, seed.label, limit=None)
        elif seed.kind in ("url", "feed") and "://" not in seed.target:
            # yt-dlp would try https:// on "host:port/feed.xml" and fail with a TLS error,
            # or call a file path "not a valid URL"; say what is wrong instead.
            self.report.failed_seeds.append(
                (seed.label, "not an address: give it as http://... or https://..."))
            return
        elif seed.kind in ("url", "feed") and store.known_urls(self.catalog, [seed.target]):
            # A track given again (a --urls file run twice): it is a candidate already, so
            # asking its site for it again would only fetch what the catalog has.
            added = 0
        else:
            address = (search_url(seed.target, self.limits.search_results)
                       if seed.kind in ("search", "likes") else seed.target)
            entries = self._listing(address, seed.label)
            if entries is None:
                return
            added = self._queue(entries, seed.label)
        self.report.listed.append((seed.label, added))

    def _listing(self, address: str, label: str | None = None) -> list[Entry] | None:
        """The entries at ``address`` (listed once per run); a failure is reported."""
        if address not in self._listings:
            try:
                self._listings[address] = self.provider.list(address)
            except SourceError as exc:
                self.report.failed_seeds.append((label or address, exc.reason))
                self._listings[address] = []
                return None
        return self._listings[address]

    def _queue(self, entries: list[Entry], source: str, *, parent: Candidate | None = None,
               limit: int | None = -1) -> int:
        """Add the first ``per_source`` (``limit``; ``None``: all) new entries, within
        ``max_candidates``; returns how many were added."""
        limit = self.limits.per_source if limit == -1 else limit
        known = store.known_urls(self.catalog, [e.url for e in entries])
        fresh = [e for e in entries if e.url not in known]
        room = self.limits.max_candidates - self.report.added
        take = fresh[:max(0, min(room, limit if limit is not None else len(fresh)))]
        depth = 0 if parent is None else parent.depth + 1
        added = store.add_candidates(self.catalog, [
            {"url": e.url, "page": e.page, "source": source, "playlist": e.playlist,
             "title": e.title, "uploader": e.uploader, "duration": e.duration,
             "parent_id": None if parent is None else parent.id, "depth": depth}
            for e in take])
        self.report.added += len(added)
        return len(added)

    def _expand(self, candidate: Candidate, artist: str | None) -> None:
        """A high scorer brings in the rest of its listing, its uploader's page and, when this
        crawl searches, a search for its artist."""
        if candidate.depth >= self.limits.max_depth:
            return
        source = f"like c{candidate.id}"
        if candidate.playlist:
            entries = self._listing(candidate.playlist)
            if entries:
                self._queue(entries, f"{source}: same listing", parent=candidate)
        info = candidate.info
        page = info.get("channel_url") or info.get("uploader_url")
        if page:
            entries = self._listing(page)
            if entries:
                self._queue(entries, f"{source}: same uploader", parent=candidate)
        if self._searching and artist:
            entries = self._listing(search_url(artist, self.limits.search_results))
            if entries:
                self._queue(entries, f"{source}: search {artist}", parent=candidate)

    # --- one candidate --------------------------------------------------------------------------

    def _fetch(self, candidate: Candidate) -> Candidate | None:
        """Stage a queued candidate's audio; ``None`` when it was decided without (failed,
        skipped, a duplicate)."""
        max_duration = self.limits.max_duration
        if candidate.duration and max_duration and candidate.duration > max_duration:
            self._decide(candidate, "skipped", _too_long(candidate.duration, max_duration))
            return None
        stem = self.staging / f"c{candidate.id}"
        self.report.downloads += 1
        try:
            if candidate.url.startswith("file:"):
                path, info = self._copy_local(candidate, stem), {}
            else:
                download = self.provider.download(candidate.url, stem)
                path, info = download.path, download.info
        except SourceError as exc:
            self._decide(candidate, "failed", exc.reason)
            return None
        finally:
            if self.progress is not None:
                self.progress(self.report.downloads, self.limits.max_downloads, candidate.url)
        if path is None:
            return None
        duration = info.get("duration")
        store.update_candidate(
            self.catalog, candidate.id, status="downloaded", file=str(path),
            fetched_at=time.time(), info=info, title=candidate.title or info.get("title"),
            uploader=candidate.uploader or info.get("uploader") or info.get("channel"),
            duration=candidate.duration or (float(duration) if duration else None))
        return store.get_candidate(self.catalog, candidate.id)

    def _copy_local(self, candidate: Candidate, stem: Path) -> Path | None:
        """A downloads-folder file, copied into the staging folder (the folder itself is
        never changed); a song already in the library is a duplicate without copying."""
        source = local_path(candidate.url)
        if get_track(self.catalog, source) is not None:
            self._decide(candidate, "duplicate", f"already in the library: {source}")
            return None
        target = stem.with_suffix(Path(source).suffix)
        try:
            shutil.copyfile(source, target)
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise SourceError(candidate.url, exc.strerror or str(exc)) from None
        return target

    def _analyse(self, staged: list[Candidate]) -> None:
        """Inspect, deduplicate, embed and score staged candidates."""
        if not staged:
            return
        records = self.engine.map_files(
            inspect_file, [c.file for c in staged], preload=("earmark.ingest.scan",),
            on_crash=_crashed)
        recorded: dict[int, Candidate] = {}
        for candidate, record in zip(staged, records, strict=True):
            track_id = self._record(candidate, record)
            if track_id is not None:
                recorded[track_id] = candidate
        if not recorded:
            return
        report = embed_tracks(self.catalog, ZERO_SHOT_MODELS, list(recorded),
                              engine=self.engine)
        for item in report.items:
            if item.status == "failed":
                self._decide(recorded.pop(item.track_id), "failed", item.reason, forget=True)
        scored = {r.track.id: r for r in recommend(self.catalog, self.taste, top=None,
                                                   under=self.staging)}
        songs = tracks_by_id(self.catalog, recorded)
        for track_id, candidate in recorded.items():
            found = scored.get(track_id)
            if found is None:  # rated meanwhile by hand: nothing to propose
                continue
            if found.score >= self.min_score:
                self._decide(candidate, "inbox", found.reason, score=found.score)
            else:
                self._decide(candidate, "rejected",
                             f"score {found.score:.2f} below {self.min_score:g}: {found.reason}",
                             score=found.score, forget=not self.keep)
            if found.score >= self.limits.expand_above:
                self._expand(store.get_candidate(self.catalog, candidate.id),
                             songs[track_id].artist if track_id in songs else None)

    def _record(self, candidate: Candidate, record: dict) -> int | None:
        """Put a staged file into the catalog; ``None`` when it was decided instead (not
        playable, too long, or its audio is known)."""
        if record.get("status") != "ok":
            self._decide(candidate, "failed", record.get("error") or "unreadable")
            return None
        max_duration = self.limits.max_duration
        if max_duration and (record.get("duration") or 0) > max_duration:
            self._decide(candidate, "skipped", _too_long(record["duration"], max_duration))
            return None
        same = store.same_audio(self.catalog, record["audio_hash"], candidate)
        if same is not None:
            self._decide(candidate, "duplicate", f"same audio as {same}")
            return None
        item = record_inspected(self.catalog, record)
        if item.track_id is None or item.status == "failed":
            self._decide(candidate, "failed", item.reason or "could not be recorded")
            return None
        # A plain audio link states no length: the decoded file's is the one to show.
        store.update_candidate(self.catalog, candidate.id, track_id=item.track_id,
                               audio_hash=record["audio_hash"],
                               duration=candidate.duration or record.get("duration"))
        return item.track_id

    def _decide(self, candidate: Candidate, status: str, reason: str | None, *,
                score: float | None = None, forget: bool = False) -> None:
        """Record a candidate's outcome; its staged file is deleted unless it waits in the
        inbox or is kept (and with ``forget`` its catalog row goes too)."""
        current = store.get_candidate(self.catalog, candidate.id) or candidate
        keep_file = status == "inbox" or (status == "rejected" and not forget)
        if not keep_file and current.file:
            if forget and current.track_id is not None:
                forget_tracks(self.catalog, [t.path for t in tracks_by_id(
                    self.catalog, [current.track_id]).values()])
            _remove_staged(self.staging / f"c{candidate.id}", current.file)
        store.update_candidate(
            self.catalog, candidate.id, status=status, reason=reason, score=score,
            decided_at=time.time(), **({} if keep_file else {"file": None}))
        self.report.items.append(CandidateOutcome(
            candidate.url, status, reason, candidate.id, score, current.title))


def _too_long(seconds: float, limit: float) -> str:
    return f"longer than {limit:g} s ({seconds:.0f} s; --max-duration)"


def _remove_staged(stem: Path, file: str) -> None:
    Path(file).unlink(missing_ok=True)
    for leftover in stem.parent.glob(stem.name + ".*"):
        leftover.unlink(missing_ok=True)


def _crashed(path: str, reason: str) -> dict:
    """The record of a file whose inspecting worker died (a decoder crash)."""
    return {"path": path, "status": "error", "error": reason}
