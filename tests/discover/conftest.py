"""Fixtures of the discover tests: a web site on 127.0.0.1 serving short excerpts of real
music in several formats (made once per session), and a library catalog whose songs have
real embeddings and ratings (a listener who likes jazz and classical), copied per test."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from discover_site import Site

from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog
from earmark.engine import LocalEngine
from earmark.ingest.scan import scan
from music import gtzan_clip, transcode
from taste_builders import rate_by_genre

#: The library: (genre, clip) excerpts the listener rated; jazz and classical are liked.
LIBRARY = [(g, n) for g in ("jazz", "classical", "metal", "disco", "hiphop") for n in (0, 4)]
LIKED = ("jazz", "classical")
#: Candidates the site serves: (genre, clip, format), none of them in the library.
CANDIDATES = [("jazz", 1, "mp3"), ("classical", 1, "m4a"), ("jazz", 2, "ogg"),
              ("classical", 2, "opus"), ("metal", 1, "mp3"), ("hiphop", 1, "ogg"),
              ("metal", 2, "flac"), ("hiphop", 2, "mp3")]
SECONDS = 5.0


def needs_weights() -> None:
    if importlib.util.find_spec("musicnn") is None:
        pytest.skip("musicnn weights not installed: pip install --no-deps musicnn==0.1.0")


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Path]:
    """``{"jazz-1": file, ...}``: the candidates' audio, 5 s excerpts in several formats."""
    folder = tmp_path_factory.mktemp("clips")
    return {f"{g}-{n}": transcode(gtzan_clip(g, n), folder / f"{g}-{n}.{fmt}", fmt,
                                  seconds=SECONDS, start=10.0)
            for g, n, fmt in CANDIDATES}


@pytest.fixture(scope="session")
def library_db(tmp_path_factory) -> dict:
    """A catalog of the rated library excerpts with their real embeddings (built once):
    ``{"db": Path, "files": [Path], "genres": [str]}``."""
    needs_weights()
    folder = tmp_path_factory.mktemp("library")
    files, genres = [], []
    for genre, number in LIBRARY:
        dst = folder / "music" / f"{genre} {number}.flac"
        dst.parent.mkdir(exist_ok=True)
        files.append(transcode(gtzan_clip(genre, number), dst, "flac", seconds=SECONDS,
                               start=10.0))
        genres.append(genre)
    db = folder / "library.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [folder / "music"], engine=LocalEngine(1))
        embed_tracks(catalog, engine=LocalEngine(1))
        rate_by_genre(catalog, {"files": files, "genres": genres, "liked": LIKED},
                      range(len(files)))
    return {"db": db, "files": files, "genres": genres}


@pytest.fixture
def library(library_db, tmp_path) -> Path:
    """A private copy of the rated library catalog (the music files are shared: read only)."""
    db = tmp_path / "catalog.sqlite"
    shutil.copyfile(library_db["db"], db)
    return db


@pytest.fixture
def site() -> Site:
    served = Site()
    yield served
    served.stop()
