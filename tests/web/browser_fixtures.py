"""Fixtures of the end-to-end browser tests (tests/web/test_browser.py), imported there (each
function is named ``<fixture>_fixture`` so the import does not shadow the test parameters).

Debian's chromium driven by Playwright for Python with ``executable_path`` (browser downloads
do not work here: never ``playwright install``), headless, with autoplay allowed so a page's
``play()`` runs without a user gesture. The app runs under uvicorn on a free 127.0.0.1 port
(:func:`earmark.web.running`) over a real catalog: the six web songs plus twelve more real
clips, all with real MSD_musicnn embeddings, five ratings and a taste model trained on them.

``browser``        (session) the launched chromium; skips with the reason when it cannot run
``page``           a fresh page (own cookies) whose uncaught script errors are in ``page.errors``
``shots``          ``shots(page, name)`` saves a full-page PNG into the artifacts folder:
                   ``$EARMARK_ARTIFACTS`` if set, else pytest's tmp dir (``screenshots*``)
``taste_master``   (session) the catalog described above (do not write to it)
``taste_site``     a private copy of ``taste_master`` served live: ``.url``, ``.db``
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from websupport import musicnn_embeddings

from earmark.catalog import Catalog
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.ratings import add_rating
from earmark.catalog.tracks import iter_tracks
from earmark.ingest.scan import add_file
from earmark.settings import EMBEDDING_MODEL
from earmark.taste.retrain import Retrainer
from earmark.web import running
from music import gtzan_clip, transcode

#: Debian's chromium binary (``/usr/bin/chromium`` is a wrapper script).
CHROMIUM = Path("/usr/lib/chromium/chromium")

#: (GTZAN genre, clip number) of the twelve songs added to the six web songs: six quiet
#: (jazz, classical, blues, country) and six loud (metal, rock, hip-hop, disco, pop).
MORE = [("jazz", 4), ("classical", 4), ("blues", 4), ("country", 4), ("jazz", 5),
        ("classical", 5), ("metal", 4), ("rock", 4), ("hiphop", 4), ("disco", 4),
        ("metal", 5), ("pop", 4)]
QUIET = frozenset({"jazz", "classical", "blues", "country"})

#: The ratings ``taste_master`` starts with, by file stem: the listener likes quiet music.
START_RATINGS = {"jazz": "like", "classical": "like", "metal": "dislike",
                 "hiphop": "dislike", "disco": "dislike"}


def genre_of(path: str | Path) -> str:
    """The GTZAN genre a test file was cut from, by its name (``jazz.flac``, ``jazz4.ogg``)."""
    return Path(path).stem.rstrip("0123456789")


@pytest.fixture(scope="session", name="browser")
def browser_fixture():
    """Debian's chromium, headless, launched once for the session."""
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}): apt-get install chromium")
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True,
                args=["--autoplay-policy=no-user-gesture-required"])
        except Error as exc:
            pytest.skip(f"chromium does not start here: {exc.message.splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture(name="page")
def page_fixture(browser):
    """A fresh page in its own context (cookies, storage); ``page.errors`` collects uncaught
    script errors so a test can assert the page's JavaScript ran cleanly."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    opened.errors = []
    opened.on("pageerror", lambda error: opened.errors.append(str(error)))
    yield opened
    context.close()


@pytest.fixture(scope="session", name="artifacts")
def artifacts_fixture(tmp_path_factory) -> Path:
    """Where the screenshots go: ``$EARMARK_ARTIFACTS`` (made if missing) or a pytest tmp dir."""
    chosen = os.environ.get("EARMARK_ARTIFACTS")
    if chosen:
        folder = Path(chosen).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(name="shots")
def shots_fixture(artifacts) -> Callable[[object, str], Path]:
    """``shots(page, name)``: a full-page screenshot saved as ``<artifacts>/<name>.png``."""

    def shoot(page, name: str) -> Path:
        path = artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot


@pytest.fixture(scope="session", name="more_clips")
def more_clips_fixture(tmp_path_factory) -> tuple[list[Path], np.ndarray]:
    """The twelve ``MORE`` clips, 5 s each (title and artist tags), and their MSD_musicnn
    embeddings ``(12, 200)``."""
    folder = tmp_path_factory.mktemp("browser-music")
    files = [transcode(gtzan_clip(genre, n), folder / f"{genre}{n}.mp3", "mp3", seconds=5.0,
                       start=10.0, extra=["-metadata", f"title={genre.title()} No. {n}",
                                          "-metadata", f"artist={genre.title()} Band {n}"])
             for genre, n in MORE]
    return files, musicnn_embeddings(files, EMBEDDING_MODEL)


@pytest.fixture(scope="session", name="taste_master")
def taste_master_fixture(master_catalog, web_songs, song_embeddings, more_clips,
                 tmp_path_factory) -> Path:
    """Eighteen real songs with embeddings, ``START_RATINGS`` and a taste model trained on
    them (by :class:`~earmark.taste.retrain.Retrainer`, as the page's Retrain button does)."""
    path = Path(shutil.copyfile(master_catalog,
                                tmp_path_factory.mktemp("browser-catalog") / "catalog.sqlite"))
    files, vectors = more_clips
    with Catalog(path) as catalog:
        by_path = {t.path: t for t in iter_tracks(catalog)}
        web = [(by_path[str(p)], v) for p, v in zip(web_songs, song_embeddings, strict=True)]
        more = [(add_file(catalog, p, verify=False), v)
                for p, v in zip(files, vectors, strict=True)]
        for track, vector in web + more:
            store_embedding(catalog, track.id, EMBEDDING_MODEL, vector, track.content_hash)
        for track, _ in web:
            if genre_of(track.path) in START_RATINGS:
                add_rating(catalog, track.id, START_RATINGS[genre_of(track.path)])
    retrainer = Retrainer(path, embedding_model=EMBEDDING_MODEL)
    retrainer.start()
    trained = retrainer.wait(timeout=300)
    assert trained.state == "done", trained
    return path


@dataclass(frozen=True)
class Site:
    """A live app over a private catalog: open ``url``; inspect ``db`` and ``cache`` (audio
    transcoded for the browser)."""

    url: str
    db: Path
    cache: Path


@pytest.fixture(name="taste_site")
def taste_site_fixture(taste_master, tmp_path) -> Iterator[Site]:
    """A private copy of ``taste_master`` served by uvicorn on a free 127.0.0.1 port."""
    db = Path(shutil.copyfile(taste_master, tmp_path / "catalog.sqlite"))
    with running(db, cache_dir=tmp_path / "audio-cache") as address:
        yield Site(address.url, db, tmp_path / "audio-cache")
