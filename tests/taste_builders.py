"""Builders the taste tests share: songs with random (but current) embeddings, and the
ratings of conftest's excerpt listener, who likes the genres in ``excerpts["liked"]``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.tracks import get_track
from earmark.ingest.scan import add_file
from earmark.taste.model import DEFAULT_EMBEDDING


def embed_randomly(catalog: Catalog, files: list[Path], seed: int = 0
                   ) -> tuple[list[int], np.ndarray]:
    """Add ``files`` to the catalog with random (but current) embeddings ``(n, 16)``:
    ``(track ids, X)``."""
    X = np.random.default_rng(seed).normal(size=(len(files), 16))
    ids = []
    for path, vector in zip(files, X, strict=True):
        track = add_file(catalog, path, verify=False)
        store_embedding(catalog, track.id, DEFAULT_EMBEDDING, vector, track.content_hash)
        ids.append(track.id)
    return ids, X


def genre_verdict(excerpts: dict, path: str | Path) -> str:
    """``like`` for an excerpt (conftest's ``excerpt_embeddings``) of a liked genre, else
    ``dislike``."""
    genre = dict(zip(map(str, excerpts["files"]), excerpts["genres"], strict=True))[str(path)]
    return "like" if genre in excerpts["liked"] else "dislike"


def rate_by_genre(catalog: Catalog, excerpts: dict, indices) -> dict[str, str]:
    """Rate the excerpts at ``indices`` as :func:`genre_verdict` says; ``{path: verdict}``."""
    said = {}
    for i in indices:
        path = str(excerpts["files"][i])
        said[path] = genre_verdict(excerpts, path)
        ratings.add_rating(catalog, get_track(catalog, path).id, said[path])
    return said
