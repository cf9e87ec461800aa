"""Fixtures for training tests: tiny labelled libraries cut from real GTZAN clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from earmark.catalog import Catalog
from earmark.engine import LocalEngine
from earmark.ingest.importers import import_dataset_folders
from music import GTZAN, gtzan_clip, transcode

GENRES3 = ("classical", "metal", "reggae")


def make_excerpt(genre: str, number: int, dst: Path, fmt: str = "wav",
                 seconds: float = 3.0) -> Path:
    """A short mono 16 kHz excerpt of a GTZAN clip, from its middle."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    return transcode(gtzan_clip(genre, number), dst, fmt, seconds=seconds, start=10.0,
                     rate=16000, channels=1)


@pytest.fixture
def excerpt():
    """:func:`make_excerpt`, for tests that build their own tiny datasets."""
    return make_excerpt


@pytest.fixture(scope="session")
def genre_tree(tmp_path_factory) -> Path:
    """``root/<genre>/<genre>.0000N.wav``: 3 genres x 6 clips of 3 s (GTZAN numbering)."""
    root = tmp_path_factory.mktemp("genres") / "mini"
    for genre in GENRES3:
        for n in range(6):
            make_excerpt(genre, n, root / genre / f"{genre}.{n:05d}.wav")
    return root


@pytest.fixture(scope="module")
def library(genre_tree, tmp_path_factory) -> Path:
    """The path of a catalog holding :func:`genre_tree` imported as dataset ``mini``, one per
    test module (a module may add labels or models of its own to it)."""
    db = tmp_path_factory.mktemp("catalog") / "catalog.sqlite"
    with Catalog(db) as catalog:
        import_dataset_folders(catalog, genre_tree, engine=LocalEngine(1))
    return db


@pytest.fixture(scope="session")
def gtzan_root() -> Path:
    """The shared GTZAN mini set (60 clips); skips when it is missing."""
    if not (GTZAN / "blues").is_dir():
        pytest.skip(f"shared GTZAN clips missing: {GTZAN}")
    return GTZAN
