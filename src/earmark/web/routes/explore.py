"""The explore page (``/explore``): a map of the library drawn on a canvas from ``/api/map``
(:func:`earmark.taste.explore.map_points`, the points ``earmark map`` draws). Songs are coloured
by genre, rating or predicted liking; hovering shows the song, a click plays it."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from earmark.analysis.map import LAID_OUT
from earmark.taste.explore import COLOUR_BY, map_points
from earmark.web.deps import Catalogs, render

router = APIRouter(tags=["explore"])


@router.get("/explore", response_class=HTMLResponse)
def explore_page(request: Request) -> HTMLResponse:
    """The page; its script fetches the points."""
    return render(request, "explore.html", {"colours": COLOUR_BY, "laid_out": LAID_OUT})


@router.get("/api/map")
def map_data(catalogs: Catalogs) -> Response:
    """The map's points as columns of numbers: ``{count, method, model, ids, x, y, genres,
    genre, genre_predicted, ratings, rating, liking}`` (see
    :meth:`~earmark.taste.explore.MapPoints.to_columns`; a song's name comes from
    ``/api/songs/ID``). The layout is computed once per set of embeddings and cached beside
    the catalog."""
    with catalogs.read() as catalog:
        points = map_points(catalog).to_columns()
    # Plain lists of numbers and names: json.dumps takes a fraction of the time FastAPI's
    # generic encoder needs for 100,000 songs' columns.
    return Response(json.dumps(points, separators=(",", ":")), media_type="application/json")
