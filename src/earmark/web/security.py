"""What keeps a local server over someone's files safe, applied to every route in one place.

:class:`Guard` (ASGI middleware, so no router can forget it) refuses, before any route runs:

* a ``Host`` header other than the bound address (DNS rebinding) -> 400;
* a state-changing request whose ``Origin`` (or, without one, ``Referer``) is not this server
  -> 403;
* a body larger than the limit, declared or streamed -> 413;
* without the access token's cookie, when a token is required (a non-loopback bind): pages
  redirect to ``/login``, the rest -> 401.

It also hands every visitor a CSRF token (cookie ``earmark_csrf``, ``SameSite=Strict``) that
templates put into the page; :func:`check_csrf_token`, an app-wide dependency, requires it back
in the ``X-CSRF-Token`` header or a ``csrf_token`` form field on every state-changing request.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "earmark_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
ACCESS_COOKIE = "earmark_access"
#: Paths reachable without the access token: the page that asks for it, and its style sheet.
PUBLIC_PATHS = ("/login", "/static/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Largest request body accepted, bytes (ratings and tag edits are a few hundred bytes).
MAX_BODY_BYTES = 1 << 20


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def new_access_token() -> str:
    """A fresh random access token (printed once when binding a non-loopback address)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Binding:
    """Where the server listens and what a request must show to be served.

    ``host`` and ``port`` are the bound address (the real port, never 0); ``token`` is the
    access token (``None``: none required, only allowed on loopback).
    """

    host: str
    port: int
    token: str | None = None
    max_body: int = MAX_BODY_BYTES

    def host_allowed(self, header: str) -> bool:
        """Whether a request's ``Host`` header names this server.

        On loopback only ``127.0.0.1``/``localhost``/``[::1]`` with the bound port pass, which
        defeats DNS rebinding. A wildcard bind (``0.0.0.0``) is reached under names the server
        cannot know, so any name with the bound port passes and the access token protects it.
        """
        name, _, port = header.lower().rpartition(":")
        if not name or port != str(self.port):
            return False
        if _is_wildcard(self.host):
            return True
        if is_loopback(self.host):
            return name in ("127.0.0.1", "localhost", "[::1]")
        return name == self.host.lower() or name == f"[{self.host.lower()}]"


class Guard:
    """ASGI middleware enforcing a :class:`Binding` on every HTTP request (see the module
    docstring); other scope types (lifespan) pass through."""

    def __init__(self, app: ASGIApp, binding: Binding):
        self.app = app
        self.binding = binding

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # no route uses them; never accept one
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        cookies = _cookies(headers)
        csrf = cookies.get(CSRF_COOKIE) or ""
        fresh = not _looks_like_token(csrf)
        if fresh:
            csrf = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf_token"] = csrf
        await self.app(scope, _limited(receive, self.binding.max_body),
                       _with_cookie(send, csrf) if fresh else send)

    def _refusal(self, scope: Scope, headers: Headers) -> ASGIApp | None:
        host = headers.get("host", "")
        if not self.binding.host_allowed(host):
            return PlainTextResponse(f"unknown Host header {host!r}: use the address earmark "
                                     "serve printed", status_code=400)
        if scope["method"] not in SAFE_METHODS and not _same_origin(headers, host):
            return PlainTextResponse("cross-origin request refused", status_code=403)
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.binding.max_body):
            return _too_large(self.binding.max_body)
        path = scope["path"]
        if self.binding.token is not None and not path.startswith(PUBLIC_PATHS):
            shown = _cookies(headers).get(ACCESS_COOKIE, "")
            if not hmac.compare_digest(shown.encode(), self.binding.token.encode()):
                if scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
                    return RedirectResponse("/login", status_code=303)
                return PlainTextResponse("access token required: open /login", status_code=401)
        return None


def _cookies(headers: Headers) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:  # a malformed Cookie header counts as none
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _looks_like_token(value: str) -> bool:
    return 32 <= len(value) <= 64 and all(c.isalnum() or c in "-_" for c in value)


def _same_origin(headers: Headers, host: str) -> bool:
    """Whether a state-changing request comes from a page of this server: its ``Origin`` (or,
    when a browser sends none, its ``Referer``) is ``http://<Host>``. Neither: refused."""
    origin = headers.get("origin")
    if origin is None:
        referer = headers.get("referer")
        if referer is None:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower() == f"http://{host.lower()}"


def _too_large(limit: int) -> PlainTextResponse:
    return PlainTextResponse(f"request body larger than {limit} bytes", status_code=413)


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises once more than ``limit`` body bytes arrived (a body sent in
    chunks declares no length)."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"request body larger than {limit} bytes")
        return message

    return limited


def _with_cookie(send: Send, csrf: str) -> Send:
    """``send`` that sets the new CSRF cookie on the response."""
    cookie = (f"{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; HttpOnly").encode()

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []),
                                               (b"set-cookie", cookie)]}
        await send(message)

    return sending


async def check_csrf_token(request: Request) -> None:
    """App-wide dependency: a state-changing request must carry the visitor's CSRF token (the
    ``earmark_csrf`` cookie's value) in the ``X-CSRF-Token`` header or a ``csrf_token`` form
    field; 403 otherwise. Safe methods pass."""
    if request.method in SAFE_METHODS:
        return
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER) or None
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        field = (await request.form()).get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
