"""The web app, built in one place: :func:`create_app`.

One router per resource in :mod:`earmark.web.routes` (listed in :data:`ROUTERS`); security
(:mod:`.security`) wraps every route; settings live on ``app.state.web``.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from earmark.catalog import Catalog
from earmark.catalog.access import CatalogBusyError
from earmark.errors import CatalogError
from earmark.settings import settings
from earmark.web.deps import WebSettings, render
from earmark.web.security import Binding, Guard, check_csrf_token, is_loopback

HERE = Path(__file__).parent

#: Route modules of :mod:`earmark.web.routes`, each with a ``router``; add yours here.
ROUTERS = ("auth", "library", "audio", "songs", "review", "tagreview", "explore", "dashboard")


def create_app(db_path: str | Path | None, *, host: str = "127.0.0.1", port: int,
               token: str | None = None, cache_dir: str | Path | None = None) -> FastAPI:
    """The web app over the catalog at ``db_path`` (``None``: the default catalog), migrated
    here if older; :class:`~earmark.errors.CatalogError` when there is none (``earmark scan``
    makes it).

    ``host`` and ``port`` are the address the server is bound to (the real port, not 0):
    requests naming another ``Host`` are refused. ``token`` is the access token visitors must
    give on ``/login``; required (``ValueError``) when ``host`` is not a loopback address.
    ``cache_dir`` keeps audio transcoded for the browser (default: ``audio/`` in the settings'
    cache directory).
    """
    if token is None and not is_loopback(host):
        raise ValueError(f"binding {host} (not loopback) needs an access token")
    with Catalog(db_path, create=False) as catalog:  # migrate once, before requests read
        path = catalog.path
    app = FastAPI(title="earmark", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(check_csrf_token)])
    app.state.web = WebSettings(db_path=path, binding=Binding(host, port, token),
                                cache_dir=Path(cache_dir) if cache_dir is not None
                                else settings().cache_dir / "audio")
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for name in ROUTERS:
        app.include_router(import_module(f"earmark.web.routes.{name}").router)
    app.add_exception_handler(CatalogError, _catalog_unavailable)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(Guard, binding=app.state.web.binding)
    return app


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Errors as a page for a browser, as ``{"detail": ...}`` for scripts."""
    if _wants_html(request):
        return render(request, "error.html", {"status": exc.status_code, "message": exc.detail},
                      status_code=exc.status_code)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                        headers=exc.headers)


async def _catalog_unavailable(request: Request, exc: CatalogError) -> Response:
    """A busy or missing catalog is 503 with its reason (never SQLite's own words)."""
    retry = {"Retry-After": "2"} if isinstance(exc, CatalogBusyError) else None
    return await _http_error(request, HTTPException(503, str(exc), headers=retry))


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """A parameter that fails validation: for a browser a 422 page naming each bad field
    (``liking: Input should be less than or equal to 1``), for scripts FastAPI's JSON."""
    if not _wants_html(request):
        return await request_validation_exception_handler(request, exc)
    problems = "; ".join(f"{'.'.join(str(p) for p in error['loc'][1:]) or 'request'}: "
                         f"{error['msg']}" for error in exc.errors())
    return render(request, "error.html", {"status": 422, "message": problems}, status_code=422)
