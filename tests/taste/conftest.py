"""Fixtures of the taste tests: a fresh catalog, short real-music files, and real MSD_musicnn
embeddings of short GTZAN excerpts (computed once per session)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

from earmark.catalog import Catalog
from earmark.catalog.embeddings import store_embedding
from earmark.ingest.scan import add_file
from music import gtzan_clip, transcode

#: (genre, clip number) of the excerpts with embeddings; the listener of the end-to-end tests
#: likes jazz and classical.
EXCERPTS = [(g, n) for g in ("jazz", "classical", "metal", "disco", "hiphop") for n in (0, 4)]
LIKED_GENRES = ("jazz", "classical")
EXCERPT_SECONDS = 6.0




@pytest.fixture
def catalog(tmp_path) -> Catalog:
    with Catalog(tmp_path / "catalog.sqlite") as cat:
        yield cat


@pytest.fixture
def sql_statements(catalog) -> list[str]:
    """Every SQL statement run on ``catalog`` from now on, in order (clear it to start a count)."""
    statements: list[str] = []
    catalog.conn.set_trace_callback(statements.append)
    yield statements
    catalog.conn.set_trace_callback(None)


@pytest.fixture
def song_files(music_files, tmp_path) -> list[Path]:
    """Six private copies of a 4 s real-music excerpt (flac), each a distinct catalog entry."""
    songs = []
    for i in range(6):
        dst = tmp_path / "music" / f"song {i}.flac"
        dst.parent.mkdir(exist_ok=True)
        shutil.copyfile(music_files["flac"], dst)
        songs.append(dst)
    return songs


@pytest.fixture(scope="session")
def excerpt_embeddings(tmp_path_factory) -> dict[str, object]:
    """Short excerpts of real GTZAN clips and their real MSD_musicnn embeddings.

    Returns ``{"files": [Path], "genres": [str], "X": (n, 400), "liked": LIKED_GENRES}``.
    """
    if importlib.util.find_spec("musicnn") is None:
        pytest.skip("musicnn weights not installed: pip install --no-deps musicnn==0.1.0")
    import torch

    from earmark.analysis.songs import song_embedding
    from earmark.models.musicnn import load_musicnn

    folder = tmp_path_factory.mktemp("excerpts")
    files, genres = [], []
    for genre, number in EXCERPTS:
        dst = folder / genre / f"{genre} {number}.flac"
        dst.parent.mkdir(exist_ok=True)
        transcode(gtzan_clip(genre, number), dst, "flac",
                         seconds=EXCERPT_SECONDS, start=10.0)
        files.append(dst)
        genres.append(genre)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = load_musicnn("MSD_musicnn")
        X = np.stack([song_embedding(f, model)[0] for f in files])
    finally:
        torch.set_num_threads(threads)
    return {"files": files, "genres": genres, "X": X, "liked": LIKED_GENRES}


@pytest.fixture
def embedded_catalog(catalog, excerpt_embeddings) -> Catalog:
    """A catalog holding the excerpts with their embeddings (model ``MSD_musicnn``)."""
    for path, vector in zip(excerpt_embeddings["files"], excerpt_embeddings["X"], strict=True):
        track = add_file(catalog, path, verify=False)
        store_embedding(catalog, track.id, "MSD_musicnn", vector, track.content_hash)
    return catalog
