"""Review planned genre writes before they are made: accept, reject or edit each file.

A :class:`TagReview` holds the preview of one :class:`~earmark.tagging.job.TaggingJob` (every
file of the catalog with its status and reason: planned, kept, below threshold, album
consensus...) and a decision per file. :meth:`TagReview.apply` writes only the accepted and
edited files, through the same journalled writer as ``earmark tag``
(:func:`~earmark.tagging.plan.apply_plans`), so ``earmark undo --last`` (or
:func:`~earmark.tagging.plan.undo_batch` with the batch it returns) puts them back. The web
app's tag review page is one face of it; nothing here knows about HTTP.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from earmark.catalog import Catalog, tracks
from earmark.catalog.tracks import Track
from earmark.errors import EarmarkError
from earmark.tagging.job import DEFAULT_TAGGER, PAGE_SONGS, TaggingJob, TagOutcome
from earmark.tagging.plan import TrackPlan, TrackResult, apply_plans, plan_track, undo_batch
from earmark.tagging.policy import TagPolicy, canonical_genre, load_policy, split_values
from earmark.types import Stages, no_progress

#: A file's decision in a review: not decided yet, to write as planned, not to write, to write
#: genres the reviewer chose, already written by :meth:`TagReview.apply`, or written and then
#: restored by :meth:`TagReview.undo`.
DECISIONS = ("pending", "accepted", "rejected", "edited", "applied", "undone")

#: The note of a file :meth:`TagReview.undo` restored.
UNDONE = "undone: its tags are back as they were before the write; plan again to write it"

#: The reason an edited file's plan gives (``earmark tag`` gives "predicted ..." and the like).
EDITED = "genres chosen in the tag review"


@dataclass
class ReviewItem:
    """One file of a review: its plan (status, reason, changes), what its genre tag holds now
    (``current``, values as the last scan read them) and the reviewer's decision (one of
    :data:`DECISIONS`)."""

    plan: TrackPlan
    current: list[str]
    decision: str = "pending"
    #: The plan :meth:`TagReview.apply` wrote, and what the genre tag held before: what
    #: :meth:`TagReview.undo` shows again once the file is restored.
    written: tuple[TrackPlan, list[str]] | None = None

    @property
    def genres(self) -> tuple[list[str] | None, list[str] | None, dict[str, float]]:
        """``(old, new, confidence)`` of the plan's first genre change (a WAV's second key,
        RIFF INFO, gets the same values), or ``(None, None, {})`` when nothing is planned."""
        change = next((c for c in self.plan.changes if c.field == "genre"), None)
        if change is None:
            return None, None, {}
        return change.old, change.new, dict(change.confidence)

    def to_dict(self) -> dict:
        """The item as JSON-ready values: ``track_id``, ``path``, ``status``, ``reason``,
        ``cause``, ``note``, ``decision``, ``current``, ``old``, ``new``, ``confidence``."""
        old, new, confidence = self.genres
        plan = self.plan
        return {"track_id": plan.track_id, "path": plan.path, "status": plan.status,
                "reason": plan.reason, "cause": plan.cause, "note": plan.note,
                "decision": self.decision, "current": self.current, "old": old, "new": new,
                "confidence": confidence}


class _ChosenGenres:
    """A source (see :mod:`earmark.tagging.sources`) that answers the reviewer's genres for one
    track, with confidence 1, and explains them as chosen in the review."""

    def __init__(self, track_id: int, genres: list[str]):
        self.track_id = track_id
        self.genres = genres

    def __call__(self, track: Track) -> list[tuple[str, float]] | None:
        return [(genre, 1.0) for genre in self.genres] if track.id == self.track_id else None

    def explain(self, track: Track, chosen: list[str]) -> tuple[str, str]:
        return EDITED, EDITED


class TagReview:
    """The planned genre writes of a catalog, each waiting for a decision.

    Build one with :func:`start_review`. ``review_id`` names it (a face that keeps several
    asks for one by it); ``batches`` lists the journal batches :meth:`apply` wrote, newest last.
    """

    def __init__(self, items: list[ReviewItem], policy: TagPolicy, model: str):
        self.review_id = uuid.uuid4().hex[:12]
        self.items = {item.plan.track_id: item for item in items}
        self.policy = policy
        self.model = model
        self.batches: list[str] = []

    def item(self, track_id: int) -> ReviewItem:
        """The item of a track; ``KeyError`` when the track is not in this review."""
        return self.items[track_id]

    def accept(self, track_id: int) -> ReviewItem:
        """Mark the file's planned change to be written. Raises :class:`EarmarkError` when
        nothing is planned for it (it is kept, below the threshold, skipped or failed: edit
        its genres to write some) and ``KeyError`` for a track not in the review."""
        item = self.item(track_id)
        if item.plan.status != "planned":
            raise EarmarkError(f"nothing is planned for {item.plan.path} ({item.plan.status}: "
                               f"{item.plan.reason}); edit its genres to write some")
        item.decision = "accepted"
        return item

    def pending(self) -> list[ReviewItem]:
        """The files still ``pending`` whose change is planned: what :meth:`accept_pending`
        accepts."""
        return [item for item in self.items.values()
                if item.decision == "pending" and item.plan.status == "planned"]

    def accept_pending(self) -> list[ReviewItem]:
        """Accept every file still ``pending`` whose change is planned (a library's worth of
        clicks in one); files already decided keep their decision. Returns those accepted."""
        pending = self.pending()
        for item in pending:
            item.decision = "accepted"
        return pending

    def reject(self, track_id: int) -> ReviewItem:
        """Mark the file not to be written (it is left exactly as it is)."""
        item = self.item(track_id)
        item.decision = "rejected"
        return item

    def edit(self, catalog: Catalog, track_id: int, genres: list[str]) -> ReviewItem:
        """Plan the file again to hold exactly ``genres`` (names or aliases, spelled as the
        vocabulary spells them: ``hip hop`` -> ``Hip-Hop``), replacing what it holds, and mark
        it to be written.

        The new plan checks the file as :func:`~earmark.tagging.plan.plan_track` always does
        (it may fail: read-only, changed since its scan). Raises :class:`EarmarkError` for no
        genres or a name the vocabulary does not know, ``KeyError`` for a track not in the
        review.
        """
        item = self.item(track_id)
        chosen = canonical_genres(genres, self.policy)
        track = tracks.get_track_by_id(catalog, track_id)
        if track is None:
            raise EarmarkError(f"{item.plan.path} is no longer in the catalog")
        # Exactly these genres: no overrides, limits, tree shaping or threshold in between.
        policy = replace(self.policy, mode="overwrite", min_confidence=0.0,
                         max_values=len(chosen), granularity="as-predicted",
                         artists={}, albums={})
        item.plan = plan_track(catalog, track, {"genre": _ChosenGenres(track_id, chosen)},
                               policy)
        item.decision = "edited"
        return item

    def to_write(self) -> list[TrackPlan]:
        """The plans :meth:`apply` would write: accepted or edited, with changes planned."""
        return [item.plan for item in self.items.values()
                if item.decision in ("accepted", "edited") and item.plan.status == "planned"]

    def apply(self, catalog: Catalog) -> TagOutcome:
        """Write the accepted and edited files, each on its own and journalled (see
        :func:`~earmark.tagging.plan.apply_plans`); their decision becomes ``applied``.

        The caller holds the catalog's writer lock, as every command that writes files does.
        Raises :class:`EarmarkError` when nothing is accepted or edited.
        """
        plans = self.to_write()
        if not plans:
            raise EarmarkError("nothing to write: accept or edit some files first")
        batch, results = apply_plans(catalog, plans)
        for plan, result in zip(plans, results, strict=True):
            item = self.items[plan.track_id]
            item.decision = "applied"
            item.written = (plan, item.current)
            item.plan = replace(plan, status=result.status, reason=result.reason,
                                cause=result.cause)
            if result.status == "written":
                item.current = split_values(item.genres[1])
            else:
                item.plan.changes = []
        if any(r.status == "written" for r in results):
            self.batches.append(batch)
        return TagOutcome(batch, results)

    def undo(self, catalog: Catalog, batch: str | None = None) -> list[TrackResult]:
        """Undo one batch of tag writes (default: the last one, whoever wrote it) with
        :func:`~earmark.tagging.plan.undo_batch`; ``[]`` when there is nothing to undo.

        Each file of this review that is ``restored`` shows again the plan it was written
        from, with what its genre tag holds now (as before the write) and the decision
        ``undone`` (not written again unless planned again). The caller holds the catalog's
        writer lock.
        """
        results = undo_batch(catalog, batch)
        by_path = {item.plan.path: item for item in self.items.values()}
        for result in results:
            item = by_path.get(result.path)
            if result.status != "restored" or item is None or item.written is None:
                continue
            plan, before = item.written
            item.plan = replace(plan, note=UNDONE)
            item.current, item.decision, item.written = before, "undone", None
        return results

    def counts(self) -> dict[str, int]:
        """How many files have each plan status, e.g. ``{"planned": 3, "kept": 2}``."""
        counts: dict[str, int] = {}
        for item in self.items.values():
            counts[item.plan.status] = counts.get(item.plan.status, 0) + 1
        return counts


def canonical_genres(genres: list[str], policy: TagPolicy) -> list[str]:
    """The names (a ``;`` inside one splits it) in the vocabulary's spelling, without
    repeats. Raises :class:`EarmarkError` for none, or naming those the vocabulary lacks."""
    names = split_values(genres)
    if not names:
        raise EarmarkError("give at least one genre")
    spelled = {name: canonical_genre(name, policy) for name in names}
    unknown = [name for name, canonical in spelled.items() if canonical is None]
    if unknown:
        raise EarmarkError(f"not in the genre vocabulary: {', '.join(unknown)} (add them to "
                           "'canonical' in a tag config, see `earmark tag --default-config`)")
    return list(dict.fromkeys(spelled.values()))


def start_review(
    catalog: Catalog,
    *,
    model: str = DEFAULT_TAGGER,
    policy: TagPolicy | None = None,
    per_track: bool = False,
    stages: Stages = no_progress,
) -> TagReview:
    """Plan genre writes for every track of the catalog, as ``earmark tag --catalog --dry-run``
    does (same model, policy and album pooling; songs without stored genres are analysed
    first, which writes their predictions into the catalog), and return them for review.

    Raises :class:`EarmarkError` for an unknown ``model`` or one that cannot run.
    """
    policy = policy or load_policy()
    job = TaggingJob(catalog, policy, model=model, per_track=per_track)
    preview = job.prepare(None, stages=stages)
    items = []
    # Each file's genre tag as the catalog holds it, a page of tracks at a time as the job
    # reads them: 100,000 Tracks at once would hold every song's parsed tags.
    for start in range(0, len(preview.plans), PAGE_SONGS):
        page = preview.plans[start:start + PAGE_SONGS]
        found = tracks.tracks_by_id(catalog, [p.track_id for p in page])
        items += [ReviewItem(plan, split_values([found[plan.track_id].genre or ""])
                             if plan.track_id in found else [])
                  for plan in page]
    return TagReview(items, policy, model)
