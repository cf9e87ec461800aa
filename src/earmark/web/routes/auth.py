"""The login page: where a visitor gives the access token of a non-loopback server."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from earmark.web.deps import Settings, render
from earmark.web.security import ACCESS_COOKIE

router = APIRouter(tags=["auth"])


@router.get("/login")
def login_page(request: Request, settings: Settings) -> Response:
    """The form asking for the access token (on loopback, where none is needed, the library)."""
    if settings.binding.token is None:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html")


@router.post("/login")
def login(request: Request, settings: Settings, token: Annotated[str, Form(max_length=200)]
          ) -> Response:
    """Check the token; when right, keep it in an HttpOnly, SameSite=Strict cookie and go to the
    library, else show the form again with 401."""
    expected = settings.binding.token
    if expected is None:
        return RedirectResponse("/", status_code=303)
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return render(request, "login.html", {"error": "That is not the access token "
                      "earmark serve printed."}, status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(ACCESS_COOKIE, expected, httponly=True, samesite="strict")
    return response
