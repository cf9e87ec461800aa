"""Fixtures of the web app's tests: a small real catalog, the app over it, a test client that
behaves like the app's own pages (Origin and CSRF token set), and a live server.

``web_songs``      (session) six short real clips in six formats, tagged, in one folder
``master_catalog`` (session) that folder scanned into a catalog (do not write to it)
``catalog_path``   a private copy of ``master_catalog`` for one test (write freely)
``embedded_catalog_path``  the same with real MSD_musicnn embeddings of every song
``app``            the app over ``catalog_path`` as bound to 127.0.0.1:``PORT``
``client``         a :class:`SiteClient` on ``app``: state-changing requests carry the Origin
                   and CSRF token the app's pages send; ``client.get`` is plain
``bare_client``    a plain TestClient on ``app`` (no Origin, no CSRF token): for refusals
``live_server``    the app over ``catalog_path`` served by uvicorn on a free 127.0.0.1 port
                   (an ``earmark.web.Address``: ``.url``), stopped after the test
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from websupport import ORIGIN, PORT, SiteClient, musicnn_embeddings

from earmark.catalog import Catalog
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.tracks import iter_tracks
from earmark.ingest.scan import scan
from earmark.web import create_app, running
from music import gtzan_clip, transcode

#: (file name, GTZAN genre, format, title, artist, album) of ``web_songs``: the AIFF is what a
#: browser cannot play (transcoded), the others are served as they are.
SONGS = [
    ("jazz.flac", "jazz", "flac", "Blue Smoke", "Ada Quartet", "Night Sessions"),
    ("classical.mp3", "classical", "mp3", "Sonata in Rain", "Béla Orchestra", "Études"),
    ("metal.ogg", "metal", "ogg", "Iron Tide", "Gravel", "Forge"),
    ("disco.aiff", "disco", "aiff", "Mirror Ball", "The Glitter", "Saturday"),
    ("hiphop.m4a", "hiphop", "m4a", "Corner Talk", "MC Loop", "Block"),
    ("blues.wav", "blues", "wav", "Muddy Road", "Ada Quartet", "Night Sessions"),
]
CLIP_SECONDS = 5.0


@pytest.fixture(scope="session")
def web_songs(tmp_path_factory) -> list[Path]:
    """Six 5 s excerpts of real GTZAN clips (``SONGS``), 44.1 kHz stereo, with title, artist,
    album and genre tags."""
    folder = tmp_path_factory.mktemp("web-music")
    files = []
    for name, genre, fmt, title, artist, album in SONGS:
        tags = ["-metadata", f"title={title}", "-metadata", f"artist={artist}",
                "-metadata", f"album={album}", "-metadata", f"genre={genre}"]
        if fmt == "aiff":
            tags += ["-write_id3v2", "1"]
        files.append(transcode(gtzan_clip(genre, 1), folder / name, fmt, seconds=CLIP_SECONDS,
                               start=10.0, rate=44100, channels=2, extra=tags))
    return files


@pytest.fixture(scope="session")
def master_catalog(web_songs, tmp_path_factory) -> Path:
    """``web_songs`` scanned (the library's scan service) into a catalog file."""
    path = tmp_path_factory.mktemp("web-catalog") / "catalog.sqlite"
    with Catalog(path) as catalog:
        scan(catalog, [web_songs[0].parent], verify=False)
    return path


@pytest.fixture
def catalog_path(master_catalog, tmp_path) -> Path:
    """A private copy of ``master_catalog`` (its songs are shared: copy a file before damaging
    or deleting it)."""
    return Path(shutil.copyfile(master_catalog, tmp_path / "catalog.sqlite"))


@pytest.fixture(scope="session")
def song_embeddings(web_songs) -> np.ndarray:
    """Real MSD_musicnn embeddings ``(6, 200)`` of ``web_songs``, in their order."""
    return musicnn_embeddings(web_songs)


@pytest.fixture
def embedded_catalog_path(catalog_path, web_songs, song_embeddings) -> Path:
    """``catalog_path`` with every song's real MSD_musicnn embedding stored."""
    with Catalog(catalog_path) as catalog:
        ids = {t.path: t for t in iter_tracks(catalog)}
        for path, vector in zip(web_songs, song_embeddings, strict=True):
            track = ids[str(path)]
            store_embedding(catalog, track.id, "MSD_musicnn", vector, track.content_hash)
    return catalog_path


@pytest.fixture
def app(catalog_path, tmp_path):
    return create_app(catalog_path, host="127.0.0.1", port=PORT,
                      cache_dir=tmp_path / "audio-cache")


@pytest.fixture
def client(app):
    with SiteClient(app, base_url=ORIGIN) as site:
        yield site


@pytest.fixture
def bare_client(app):
    with TestClient(app, base_url=ORIGIN) as plain:
        yield plain


@pytest.fixture
def live_server(catalog_path, tmp_path):
    with running(catalog_path, cache_dir=tmp_path / "live-audio-cache") as address:
        yield address
