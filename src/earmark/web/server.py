"""Running the app under uvicorn: in the foreground for ``earmark serve``, or in a thread
(:func:`running`) for tests and benches."""

from __future__ import annotations

import socket
import threading
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from earmark.web.app import create_app
from earmark.web.security import is_loopback, new_access_token


@dataclass(frozen=True)
class Address:
    """A bound server: ``url`` to open, ``token`` to give on its login page (``None`` on
    loopback, where none is asked)."""

    url: str
    token: str | None


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port); ``OSError`` when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _server(db_path: str | Path | None, host: str, port: int,
            cache_dir: str | Path | None = None
            ) -> tuple[uvicorn.Server, socket.socket, Address]:
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    token = None if is_loopback(host) else new_access_token()
    try:
        app = create_app(db_path, host=host, port=bound, token=token, cache_dir=cache_dir)
    except BaseException:
        sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config), sock, Address(f"http://{shown}:{bound}/", token)


def serve(db_path: str | Path | None, *, host: str = "127.0.0.1", port: int = 0,
          open_browser: bool = False, announce: Callable[[Address], None] | None = None) -> None:
    """Serve the catalog at ``db_path`` until interrupted (Ctrl-C).

    ``port`` 0 takes a free port. Binding a non-loopback ``host`` makes an access token, given
    once to ``announce`` with the URL (before the first request is served). ``OSError`` when
    the address cannot be bound.
    """
    server, sock, address = _server(db_path, host, port)
    if announce is not None:
        announce(address)
    if open_browser:
        webbrowser.open(address.url)
    with sock:
        server.run(sockets=[sock])


@contextmanager
def running(db_path: str | Path | None, *, host: str = "127.0.0.1", port: int = 0,
            cache_dir: str | Path | None = None) -> Iterator[Address]:
    """The app serving ``db_path`` in a background thread for the block, then stopped;
    ``cache_dir`` as for :func:`~earmark.web.app.create_app`."""
    server, sock, address = _server(db_path, host, port, cache_dir)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="earmark-web")
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.01)
        yield address
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
