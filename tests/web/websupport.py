"""Helpers of the web tests, importable as ``websupport`` (conftest.py cannot be imported by
name: every conftest is registered as ``conftest``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from earmark.web.security import CSRF_COOKIE, SAFE_METHODS


def musicnn_embeddings(files: Sequence[Path], model: str = "MSD_musicnn") -> np.ndarray:
    """Real ``model`` song embeddings ``(len(files), 200)`` of ``files``, in their order,
    computed on one thread (helpers share the machine); skips the test without the weights."""
    if importlib.util.find_spec("musicnn") is None:
        pytest.skip("musicnn weights not installed: pip install --no-deps musicnn==0.1.0")
    import torch

    from earmark.analysis.songs import song_embedding
    from earmark.models.musicnn import load_musicnn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        network = load_musicnn(model)
        return np.stack([song_embedding(f, network)[0] for f in files])
    finally:
        torch.set_num_threads(threads)


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
