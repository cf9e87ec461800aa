"""The tag review page (``/tags``): the planned genre writes of the catalog, each with its status
and reason, to accept, reject or edit; then written, and undone, the way ``earmark tag`` and
``earmark undo --last`` do (:mod:`earmark.tagging.review`, :func:`earmark.tagging.plan.undo_batch`).

Planning, writing and undoing change files and the catalog, so they hold the catalog's writer
lock as commands do: while a command (``earmark embed``, ``tag``...) holds it they answer 409
with who holds it, instead of making the page wait for the command to end. One review is kept
in memory per app (the latest one planned); a page holding an older review's id is told to
reload.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from earmark.catalog import Catalog
from earmark.catalog.lock import CatalogInUseError, holder_name
from earmark.catalog.paths import display_path, library_folder
from earmark.errors import CatalogError, EarmarkError
from earmark.tagging.plan import TAG_STATUSES, TrackResult, undo_batch
from earmark.tagging.policy import MODES, load_policy
from earmark.tagging.review import ReviewItem, TagReview, start_review
from earmark.web.deps import Catalogs, Settings, render, shared

router = APIRouter(tags=["tags"])

#: Rows the page lists at once (per status filter); the counts cover every file.
PAGE_ROWS = 200


class _Reviews:
    """The app's current review, and a lock: requests run in worker threads, and a decision
    must not interleave with an apply."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: TagReview | None = None


def _reviews(request: Request) -> _Reviews:
    return shared(request, "tag_reviews", _Reviews)


@contextmanager
def _writing(path: Path) -> Iterator[Catalog]:
    """The catalog with its writer lock, as a command holds it; 409 at once, naming the
    holder, while another process holds it."""
    try:
        catalog = Catalog(path, create=False, lock=True, lock_timeout=0)
    except CatalogInUseError as exc:
        raise HTTPException(409, f"{holder_name(exc.pid)} is writing to this catalog; try "
                                 "again when it ends") from exc
    with catalog:
        yield catalog


def _review(request: Request, review_id: str) -> TagReview:
    review = _reviews(request).current
    if review is None or review.review_id != review_id:
        raise HTTPException(409, "this review was replaced by a newer one; reload the page")
    return review


def _result(result: TrackResult) -> dict:
    return {"path": result.path, "status": result.status, "reason": result.reason}


class PlanIn(BaseModel):
    """What to plan, as ``earmark tag`` options: the genre model (``--model``), the mode
    (``--mode``; default the tag config's, fill) and album pooling (``--per-track``)."""

    model: str = Field("both", max_length=200)
    mode: Literal[MODES] | None = None  # type: ignore[valid-type]
    per_track: bool = False


class DecisionIn(BaseModel):
    """A decision on one file; ``genres`` only for ``edit``."""

    action: Literal["accept", "reject", "edit"]
    genres: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list,
                                                                max_length=20)


class UndoIn(BaseModel):
    """The batch to undo (as ``apply`` answered it); none: the last batch written."""

    batch: str | None = Field(None, max_length=64)


@router.get("/tags", response_class=HTMLResponse)
def tags_page(request: Request, catalogs: Catalogs,
              status: Annotated[Literal[("all", *TAG_STATUSES)],  # type: ignore[valid-type]
                                Query()] = "planned") -> HTMLResponse:
    """The review: counts per status, the files of one status with their reasons and buttons
    (paths relative to the library's folder)."""
    reviews = _reviews(request)
    with reviews.lock:
        review = reviews.current
        matching = [] if review is None else [
            item for item in review.items.values()
            if status == "all" or item.plan.status == status]
        shown = [item.to_dict() for item in matching[:PAGE_ROWS]]
        counts = {} if review is None else review.counts()
        pending = 0 if review is None else len(review.pending())
    # Only the rows shown are formatted (display_path stats the library folder): a review of
    # a whole library can hold 100,000 files.
    bases = []
    if shown:
        with catalogs.read() as catalog:
            folder = library_folder(catalog)
        bases = [folder] if folder else []
    items = [{**item, "shown": display_path(item["path"], bases)} for item in shown]
    return render(request, "tags.html", {"pending": pending,
        "review": review, "items": items, "more": max(0, len(matching) - PAGE_ROWS),
        "counts": counts, "status": status, "statuses": TAG_STATUSES})


@router.get("/api/tag-review")
def current_review(request: Request) -> dict:
    """The current review: ``{review_id, model, counts, batches, items: [...]}`` (items as
    :meth:`~earmark.tagging.review.ReviewItem.to_dict`); 404 before one is planned."""
    reviews = _reviews(request)
    with reviews.lock:
        review = reviews.current
        if review is None:
            raise HTTPException(404, "no tag review planned yet")
        return {"review_id": review.review_id, "model": review.model,
                "counts": review.counts(), "batches": review.batches,
                "items": [item.to_dict() for item in review.items.values()]}


@router.post("/api/tag-review")
def plan_review(request: Request, body: PlanIn, settings: Settings) -> dict:
    """Plan genre writes for the whole catalog (songs without stored genres are analysed
    first, as ``earmark tag --catalog --dry-run`` does); it replaces the current review.
    409 while a command writes to the catalog, 422 for an unknown model."""
    reviews = _reviews(request)
    try:
        with _writing(settings.db_path) as catalog:
            review = start_review(catalog, model=body.model, per_track=body.per_track,
                                  policy=load_policy().with_(mode=body.mode))
    except CatalogError:
        raise
    except EarmarkError as exc:
        raise HTTPException(422, str(exc)) from exc
    with reviews.lock:
        reviews.current = review
    return {"review_id": review.review_id, "counts": review.counts()}


@router.post("/api/tag-review/{review_id}/items/{track_id}")
def decide(request: Request, review_id: str, track_id: int, body: DecisionIn,
           catalogs: Catalogs) -> dict:
    """Accept, reject or edit one file; answers the file's item. 404 for a file not in the
    review, 422 when it cannot be done (nothing planned to accept, a genre the vocabulary
    lacks)."""
    reviews = _reviews(request)
    with reviews.lock:
        review = _review(request, review_id)
        if track_id not in review.items:
            raise HTTPException(404, f"song {track_id} is not in this review")
        try:
            item: ReviewItem
            if body.action == "accept":
                item = review.accept(track_id)
            elif body.action == "reject":
                item = review.reject(track_id)
            else:
                with catalogs.read() as catalog:
                    item = review.edit(catalog, track_id, body.genres)
        except CatalogError:
            raise
        except EarmarkError as exc:
            raise HTTPException(422, str(exc)) from exc
        return item.to_dict()


@router.post("/api/tag-review/{review_id}/accept-pending")
def accept_pending(request: Request, review_id: str) -> dict:
    """Accept every pending file whose change is planned; answers ``{"accepted": n}``."""
    reviews = _reviews(request)
    with reviews.lock:
        return {"accepted": len(_review(request, review_id).accept_pending())}


@router.post("/api/tag-review/{review_id}/apply")
def apply(request: Request, review_id: str, settings: Settings) -> dict:
    """Write the accepted and edited files (journalled: ``earmark undo --last`` and the Undo
    button restore them); answers ``{batch, counts, results: [{path, status, reason}]}``.
    409 while a command writes to the catalog, 422 when nothing was accepted."""
    reviews = _reviews(request)
    with reviews.lock:
        review = _review(request, review_id)
        with _writing(settings.db_path) as catalog:
            try:
                outcome = review.apply(catalog)
            except CatalogError:
                raise
            except EarmarkError as exc:
                raise HTTPException(422, str(exc)) from exc
    return {"batch": outcome.batch, "counts": outcome.counts(),
            "results": [_result(r) for r in outcome.results]}


@router.post("/api/tag-review/undo")
def undo(request: Request, body: UndoIn, settings: Settings) -> dict:
    """Undo one batch of tag writes (default: the last one, as ``earmark undo --last``);
    answers ``{results: [{path, status, reason}]}``; the current review's files that are
    restored say ``undone`` (:meth:`~earmark.tagging.review.TagReview.undo`). 404 when there
    is nothing to undo, 409 while a command writes to the catalog."""
    reviews = _reviews(request)
    with reviews.lock, _writing(settings.db_path) as catalog:
        review = reviews.current
        results = (undo_batch(catalog, body.batch) if review is None
                   else review.undo(catalog, body.batch))
    if not results:
        raise HTTPException(404, "nothing to undo")
    return {"results": [_result(r) for r in results]}
