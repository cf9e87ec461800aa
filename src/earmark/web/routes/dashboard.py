"""The dashboard (``/dashboard``): the library in numbers, each count linking to the library
page filtered to those songs, the genre distribution and the taste model's quality after every
retrain, as server-drawn SVG charts. ``/api/stats`` gives the same numbers (what
``earmark stats --json`` prints); the page polls it every few seconds, so the counts move while
an ``earmark scan`` or ``embed`` runs on the same catalog (reads never wait for it)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from earmark.catalog.stats import LibraryStats, library_stats
from earmark.taste.retrain import quality_history, stats_report
from earmark.web.charts import bar_chart, line_chart
from earmark.web.deps import Catalogs, render

router = APIRouter(tags=["dashboard"])

#: Genres the distribution chart shows (the most common).
TOP_GENRES = 15

#: Seconds between the page's refreshes of its counts.
POLL_SECONDS = 3

#: Each count of the page: (key in /api/stats, label, library page filter it links to).
COUNTS = (
    ("songs", "songs", "/"),
    ("analysed", "analysed", "/?status=ok&analysed=yes"),
    ("not_analysed", "not analysed yet", "/?status=ok&analysed=no"),
    ("failed", "failed", "/?status=error"),
    ("untagged", "without a genre tag", "/?status=ok&untagged=true"),
    ("liked", "liked", "/?rating=like"),
    ("disliked", "disliked", "/?rating=dislike"),
)


def _stats(catalogs: Catalogs) -> tuple[LibraryStats, list]:
    with catalogs.read() as catalog:
        return library_stats(catalog), quality_history(catalog)


@router.get("/api/stats")
def stats(catalogs: Catalogs) -> dict:
    """``{songs, failed, analysed, not_analysed, untagged, rated, liked, disliked,
    embedding_model, genres: [[genre, songs]], taste_quality: [{trained_at, n_ratings,
    roc_auc_mean, accuracy_mean, ...}]}``, as of now."""
    return stats_report(*_stats(catalogs))


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, catalogs: Catalogs) -> HTMLResponse:
    """Counts with links, the genre chart and the taste model's quality curve."""
    library, history = _stats(catalogs)
    counts = library.to_dict()
    tips = [f"{datetime.fromtimestamp(q.trained_at):%Y-%m-%d %H:%M}, {q.n_ratings} ratings"
            for q in history]
    curve = line_chart({"ROC AUC": [q.roc_auc_mean for q in history],
                        "accuracy": [q.accuracy_mean for q in history]}, tips) \
        if history else None
    genres = bar_chart(counts["genres"][:TOP_GENRES], link="genre") if counts["genres"] else None
    return render(request, "dashboard.html", {
        "stats": counts, "tiles": COUNTS, "genres": genres, "more_genres":
        max(0, len(counts["genres"]) - TOP_GENRES), "curve": curve, "history": history,
        "poll_seconds": POLL_SECONDS})
