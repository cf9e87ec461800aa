"""What routes take as parameters (``Annotated`` aliases), so each route says what it needs.

A :class:`~earmark.catalog.Catalog` belongs to the thread that opened it, and FastAPI may run
a dependency and its route in different worker threads, so a route gets :data:`Catalogs` and
opens the catalog itself, in its own thread, for as long as it needs it::

    @router.get("/api/songs/{song_id}")
    def song(song_id: int, catalogs: Catalogs) -> dict:
        with catalogs.read() as catalog:           # never waits (write-ahead logging)
            ...
    @router.post("/api/songs/{song_id}/rating")
    def rate(song_id: int, catalogs: Catalogs) -> dict:
        with catalogs.write() as catalog:          # one short transaction, no command lock
            add_rating(catalog, song_id, "like")
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from earmark.catalog import Catalog
from earmark.catalog.access import brief_write, reading
from earmark.catalog.tracks import Track, get_track_by_id
from earmark.web.security import Binding


@dataclass(frozen=True)
class WebSettings:
    """The app's settings (``app.state.web``).

    ``db_path`` the catalog served; ``binding`` the bound address and access token;
    ``cache_dir`` where transcoded audio is kept (keyed by content hash).
    """

    db_path: Path
    binding: Binding
    cache_dir: Path


@dataclass(frozen=True)
class CatalogAccess:
    """Opens the served catalog in the calling thread: :meth:`read` for reads, :meth:`write`
    for one short write transaction (it never takes the whole-run writer lock commands hold, so
    a rating does not wait for a running ``embed``; a catalog kept busy too long raises
    :class:`~earmark.catalog.access.CatalogBusyError`, which the app answers with 503)."""

    path: Path

    def read(self) -> AbstractContextManager[Catalog]:
        """``with catalogs.read() as catalog:`` the catalog for reads, closed after."""
        return reading(self.path)

    def write(self) -> AbstractContextManager[Catalog]:
        """``with catalogs.write() as catalog:`` one transaction, committed at the end."""
        return brief_write(self.path)


def web_settings(request: Request) -> WebSettings:
    """The app's :class:`WebSettings`."""
    return request.app.state.web


def catalog_access(request: Request) -> CatalogAccess:
    """A :class:`CatalogAccess` to the app's catalog."""
    return CatalogAccess(request.app.state.web.db_path)


Settings = Annotated[WebSettings, Depends(web_settings)]
Catalogs = Annotated[CatalogAccess, Depends(catalog_access)]

#: A song id in a route's path: ``song_id: int = SongId``.
SongId = PathParam(ge=1, le=2**63 - 1, description="the song's catalog id")


def song_track(catalog: Catalog, song_id: int) -> Track:
    """The catalog's track of ``song_id``; 404 when the catalog has none."""
    track = get_track_by_id(catalog, song_id)
    if track is None:
        raise HTTPException(404, f"no song with id {song_id} in the catalog")
    return track


T = TypeVar("T")
_SHARED = threading.Lock()


def shared(request: Request, name: str, make: Callable[[], T]) -> T:
    """The app's one object ``name`` (on ``app.state``), made by ``make()`` on first use:
    state that every request of the app shares, such as the running retraining. Requests run
    in worker threads, so two first uses at once still make one."""
    state = request.app.state
    with _SHARED:
        if getattr(state, name, None) is None:
            setattr(state, name, make())
        return getattr(state, name)


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    """The page ``template`` (in ``earmark/web/templates``) rendered with ``context``; every
    page also gets ``csrf_token`` (for forms and ``fetch``) and ``path`` (the nav's current
    page)."""
    values = {"csrf_token": request.state.csrf_token, "path": request.url.path,
              **(context or {})}
    return request.app.state.templates.TemplateResponse(request, template, values,
                                                        status_code=status_code)
