"""Helpers of the web tests, importable as ``websupport`` (conftest.py cannot be imported by
name: every conftest is registered as ``conftest``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from earmark.web.security import CSRF_COOKIE, SAFE_METHODS

#: The port the TestClient's app believes it is bound to (nothing listens there).
PORT = 8123
ORIGIN = f"http://127.0.0.1:{PORT}"


class SiteClient(TestClient):
    """A TestClient that sends what the app's own pages send: on POST, PUT, PATCH and DELETE
    the server's ``Origin`` and the visitor's CSRF token (``X-CSRF-Token``), unless the test
    gives its own headers of those names."""

    def request(self, method: str, url, **kwargs):
        if method.upper() not in SAFE_METHODS:
            kwargs["headers"] = {"Origin": ORIGIN, "X-CSRF-Token": self.csrf_token(),
                                 **(kwargs.get("headers") or {})}
        return super().request(method, url, **kwargs)

    def csrf_token(self) -> str:
        """The visitor's CSRF token (any response sets its cookie; a static file is cheapest)."""
        if CSRF_COOKIE not in self.cookies:
            super().request("GET", "/static/app.css")
        return self.cookies[CSRF_COOKIE]
