"""The library: the page (``/``) and the same search as JSON (``/api/songs``), both over
:func:`earmark.catalog.search.search_songs`, the function ``earmark list`` calls.

Query parameters (also the links other pages make into the library): ``q`` words,
``genre``, ``tag``, ``rating`` (like, dislike, rated, unrated, 1-5), ``liking`` (min P(like)
0-1), ``status`` (ok, error), ``analysed`` (yes, no), ``untagged`` (1), ``sort`` (artist, title,
album, added), ``desc`` (1), ``after`` (the cursor of the page before), ``limit``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, model_validator

from earmark.catalog.search import MAX_PAGE, SORTS, SongPage, SongQuery, search_songs
from earmark.catalog.tracks import song_name
from earmark.web.deps import Catalogs, render
from earmark.web.routes.songs import song_summary

router = APIRouter(tags=["library"])


class LibraryParams(BaseModel):
    """The library's query parameters (see the module docstring)."""

    q: str = Field("", max_length=200)
    genre: str = Field("", max_length=100)
    tag: str = Field("", max_length=100)
    rating: Literal["", "like", "dislike", "rated", "unrated", "1", "2", "3", "4", "5"] = ""
    liking: float | None = Field(None, ge=0.0, le=1.0)
    status: Literal["", "ok", "error"] = ""
    analysed: Literal["", "yes", "no"] = ""
    untagged: bool = False
    sort: Literal[tuple(SORTS)] = "artist"  # type: ignore[valid-type]
    desc: bool = False
    after: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=MAX_PAGE)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, values: object) -> object:
        """The page's form sends every field, the empty ones as ``''``: those mean "any"."""
        if isinstance(values, dict):
            return {k: v for k, v in values.items() if v != ""}
        return values

    def song_query(self) -> SongQuery:
        """The catalog query these parameters ask for."""
        return SongQuery(text=self.q, genre=self.genre or None, tag=self.tag or None,
                         rating=self.rating or None, min_liking=self.liking,
                         status=self.status or None,
                         analysed={"yes": True, "no": False}.get(self.analysed),
                         untagged=self.untagged)


Params = Annotated[LibraryParams, Query()]


def _page(catalogs: Catalogs, params: LibraryParams) -> SongPage:
    try:
        with catalogs.read() as catalog:
            return search_songs(catalog, params.song_query(), sort=params.sort,
                                descending=params.desc, limit=params.limit, after=params.after)
    except ValueError as exc:  # a damaged cursor: say so instead of a server error
        raise HTTPException(400, str(exc)) from exc


@router.get("/api/songs")
def songs(catalogs: Catalogs, params: Params) -> dict:
    """A page of songs as ``{"songs": [{id, path, name, title, artist, album, genre, duration,
    status, verdict, stars, liking}], "next": cursor or null}``."""
    page = _page(catalogs, params)
    return {"songs": [{**song_summary(row.track), "genre": row.track.genre,
                       "status": row.track.status, "error": row.track.error,
                       "verdict": row.verdict, "stars": row.stars, "liking": row.liking}
                      for row in page.songs],
            "next": page.next_cursor}


@router.get("/", response_class=HTMLResponse)
def library_page(request: Request, catalogs: Catalogs, params: Params) -> HTMLResponse:
    """The library page: search box, filters, sortable columns, next-page link."""
    page = _page(catalogs, params)
    chosen = params.model_dump(exclude={"after"}, exclude_defaults=True)
    return render(request, "library.html", {"page": page, "params": params, "chosen": chosen,
                                            "song_name": song_name, "sorts": list(SORTS)})
