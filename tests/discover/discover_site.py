"""A small web site on 127.0.0.1 for the discover tests: real audio files, pages that embed or
link them, RSS feeds, and the ways downloads fail (a 404, a slow endpoint, a huge file, a file
that is not audio). Every request is logged (path, headers, time) so tests can count fetches,
check the user agent and cookies, and measure the delay between requests.

Importable as ``discover_site`` from the discover tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: Content types of the audio formats the site serves.
AUDIO_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg", "m4a": "audio/mp4",
               "flac": "audio/flac", "wav": "audio/wav"}


@dataclass(frozen=True)
class Request:
    """One request the site answered: ``path`` (with its query), ``headers`` (a plain dict,
    names as sent) and ``at`` (``time.monotonic()`` seconds when it arrived)."""

    method: str
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class Route:
    """What the site answers at one path: ``body`` bytes with ``content_type``; ``status``;
    ``delay`` seconds before the answer (the slow endpoint); ``stream`` bytes: a body of that
    declared size sent as zeros until the client hangs up (the huge file); ``declared``:
    whether a streamed body states its size (``Content-Length``) or just flows until the
    connection closes."""

    body: bytes = b""
    content_type: str = "application/octet-stream"
    status: int = 200
    delay: float = 0.0
    stream: int | None = None
    declared: bool = True


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up on purpose (a timeout, a size limit) is no error here


class Site:
    """A threaded HTTP server on 127.0.0.1 with a free port; :meth:`stop` shuts it down.

    Every response sets a cookie (``Set-Cookie: visit=...``) so a test can tell that a client
    never sends one back. Files support ``Range: bytes=N-`` as a real server does.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                site._answer(self, head=True)

            def do_GET(self) -> None:
                site._answer(self, head=False)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Route) -> str:
        """Serve ``route`` at ``path``; returns its full URL."""
        self.routes[path] = route
        return self.url(path)

    def add_file(self, path: str, file: Path) -> str:
        """Serve a real audio file at ``path`` with its format's content type."""
        kind = AUDIO_TYPES.get(file.suffix.lstrip("."), "application/octet-stream")
        return self.add(path, Route(file.read_bytes(), kind))

    def add_feed(self, path: str, title: str, items: list[tuple[str, str]]) -> str:
        """An RSS 2.0 feed at ``path`` whose items are ``(title, enclosure URL)``."""
        entries = "".join(
            f"<item><title>{escape(name)}</title><guid>{escape(link)}</guid>"
            f"<pubDate>{formatdate(1700000000 + i * 86400, usegmt=True)}</pubDate>"
            f"<enclosure url=\"{escape(link)}\" type=\"audio/mpeg\" length=\"1000\"/></item>"
            for i, (name, link) in enumerate(items))
        xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>"
               f"<title>{escape(title)}</title><link>{self.base}/</link>"
               f"<description>test feed</description>{entries}</channel></rss>")
        return self.add(path, Route(xml.encode(), "application/rss+xml"))

    def add_page(self, path: str, embedded: list[str], linked: list[str] = ()) -> str:
        """An HTML page that embeds ``embedded`` (``<audio><source>``) and links ``linked``."""
        audio = "".join(f"<audio controls><source src=\"{escape(u)}\"></audio>"
                        for u in embedded)
        links = "".join(f"<p><a href=\"{escape(u)}\">a song</a></p>" for u in linked)
        html = f"<!DOCTYPE html><html><head><title>Songs</title></head><body>{audio}{links}" \
               "</body></html>"
        return self.add(path, Route(html.encode(), "text/html; charset=utf-8"))

    def fetched(self, path: str, method: str = "GET") -> int:
        """How many ``method`` requests asked for ``path`` (query string ignored)."""
        return sum(1 for r in self.requests
                   if r.method == method and r.path.split("?")[0] == path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        with self._lock:
            self.requests.append(Request(handler.command, handler.path,
                                         dict(handler.headers.items()), time.monotonic()))
        route = self.routes.get(handler.path.split("?")[0])
        if route is None:
            route = Route(b"<html><body>not found</body></html>", "text/html", 404)
        if route.delay:
            time.sleep(route.delay)
        try:
            self._send(handler, route, head)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout, a size limit): what the tests provoke

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, route: Route, head: bool) -> None:
        size = route.stream if route.stream is not None else len(route.body)
        start = 0
        ranged = handler.headers.get("Range", "")
        status = route.status
        if status == 200 and ranged.startswith("bytes=") and route.stream is None:
            start = min(int(ranged[6:].split("-")[0] or 0), size)
            status = 206
        handler.send_response(status)
        handler.send_header("Content-Type", route.content_type)
        if route.declared:
            handler.send_header("Content-Length", str(size - start))
        else:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        handler.send_header("Accept-Ranges", "bytes")
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        handler.send_header("Set-Cookie", f"visit={time.monotonic_ns()}; Path=/")
        handler.end_headers()
        if head:
            return
        if route.stream is None:
            handler.wfile.write(route.body[start:])
            return
        block = bytes(1 << 16)
        for _ in range(size // len(block)):
            handler.wfile.write(block)


def request_gaps(requests: list[Request], keep: Callable[[Request], bool]) -> list[float]:
    """Seconds between consecutive requests that ``keep`` accepts, in arrival order."""
    times = [r.at for r in requests if keep(r)]
    return [b - a for a, b in zip(times, times[1:], strict=False)]
