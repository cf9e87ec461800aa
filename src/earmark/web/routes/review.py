"""The review page (``/review``): the active-learning loop of ``earmark review`` in a browser.

The next batch comes from :class:`earmark.taste.review.ReviewSession` (strategy ``mixed``:
uncertain and unlike what is rated), as ``earmark review`` proposes it; each answer is saved at
once through the song rating endpoint (:mod:`.songs`, source ``review``). Retrain runs
:class:`earmark.taste.retrain.Retrainer` (what ``earmark taste`` does) in the background; the
page polls its status, then shows the cross-validated quality and the new "Top picks"
(:func:`earmark.taste.recommend.recommend`, ``earmark recommend``). Songs ``earmark discover``
found wait below in its inbox (``earmark inbox``), each playable, judged from the command line.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from earmark.catalog import Catalog
from earmark.catalog.candidates import inbox
from earmark.settings import EMBEDDING_MODEL
from earmark.taste.model import MIN_RATINGS
from earmark.taste.radio import liking_model
from earmark.taste.recommend import recommend
from earmark.taste.retrain import Retrainer, quality_history
from earmark.taste.review import ReviewSession, nothing_to_review
from earmark.web.deps import Catalogs, render, shared
from earmark.web.routes.songs import song_summary

router = APIRouter(tags=["review"])

#: Songs per batch and top picks shown, at most.
MAX_BATCH = 50


def _retrainer(request: Request) -> Retrainer:
    """The app's one :class:`Retrainer` (made on first use), so two tabs share one training."""
    return shared(request, "retrainer", lambda: Retrainer(
        request.app.state.web.db_path, embedding_model=EMBEDDING_MODEL))


def _batch(catalog: Catalog, size: int) -> dict:
    proposed = ReviewSession(catalog, batch=size, embedding_model=EMBEDDING_MODEL).propose()
    songs = [{**song_summary(p.track), "p_like": None if p.p_like is None else
              round(p.p_like, 4)} for p in proposed.proposals]
    return {"songs": songs, "cold_start": proposed.cold_start, "strategy": proposed.strategy,
            "reason": None if songs else nothing_to_review(catalog, model=EMBEDDING_MODEL)}


def _picks(catalog: Catalog, top: int) -> dict:
    taste = liking_model(catalog, EMBEDDING_MODEL)
    if taste is None:
        return {"songs": [], "reason": "no taste model yet: rate a few songs you like and a "
                                       f"few you do not ({MIN_RATINGS} in all)"}
    found = recommend(catalog, taste, top)
    return {"songs": [{**song_summary(r.track), "score": round(r.score, 4),
                       "reason": r.reason} for r in found],
            "reason": None if found else "no unrated song with an embedding left"}


def _inbox(catalog: Catalog) -> list[dict]:
    """What ``earmark discover`` brought back, best first, as ``earmark inbox`` lists it."""
    return [{"candidate": c.ref, "id": c.track_id, "title": c.title, "uploader": c.uploader,
             "score": c.score, "source": c.source, "url": c.url, "reason": c.reason}
            for c in inbox(catalog)]


Size = Annotated[int, Query(ge=1, le=MAX_BATCH)]


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, catalogs: Catalogs, size: Size = 10) -> HTMLResponse:
    """The review page: the batch to rate, the keys, Retrain, the quality so far, Top picks."""
    with catalogs.read() as catalog:
        batch = _batch(catalog, size)
        picks = _picks(catalog, 10)
        history = quality_history(catalog)
        waiting = _inbox(catalog)
    return render(request, "review.html", {
        "batch": batch, "picks": picks, "quality": history[-1] if history else None,
        "inbox": waiting,
        "retrain": _retrainer(request).status(), "size": size})


@router.get("/api/review/batch")
def review_batch(catalogs: Catalogs, size: Size = 10) -> dict:
    """The next ``size`` songs to rate: ``{"songs": [{id, name, ..., p_like}], "cold_start":
    bool, "strategy": "mixed", "reason": why empty or null}``."""
    with catalogs.read() as catalog:
        return _batch(catalog, size)


@router.get("/api/review/picks")
def top_picks(catalogs: Catalogs, top: Size = 10) -> dict:
    """The ``top`` unrated songs the taste model expects you to like most: ``{"songs": [{id,
    name, ..., score, reason}], "reason": why empty or null}``."""
    with catalogs.read() as catalog:
        return _picks(catalog, top)


@router.get("/api/review/inbox")
def discovered(catalogs: Catalogs) -> dict:
    """``{"candidates": [{candidate: "c12", id: its song id, title, uploader, score, source,
    url, reason}]}``: the inbox of ``earmark discover``, best first."""
    with catalogs.read() as catalog:
        return {"candidates": _inbox(catalog)}


@router.post("/api/review/retrain", status_code=202)
def start_retrain(request: Request) -> dict:
    """Start retraining the taste model in the background (joining one already running);
    the status, as ``GET`` gives it."""
    return _retrainer(request).start().to_dict()


@router.get("/api/review/retrain")
def retrain_status(request: Request, catalogs: Catalogs) -> dict:
    """``{"state": idle|running|done|failed, "step", "started_at", "finished_at", "quality":
    {n_ratings, roc_auc_mean, ...} or null, "reason", "history": [every training's quality,
    oldest first]}``."""
    with catalogs.read() as catalog:
        history = [q.to_dict() for q in quality_history(catalog)]
    return {**_retrainer(request).status().to_dict(), "history": history}
