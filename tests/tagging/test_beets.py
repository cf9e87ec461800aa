"""The beets plugin, run through beets' own CLI on a real beets library in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from earmark.catalog import Catalog
from earmark.ingest.scan import add_file
from earmark.tags.read import read_tags

pytest.importorskip("beets")
pytestmark = pytest.mark.slow  # each test starts beets several times (seconds each)
MODEL = "test-classifier"


@pytest.fixture
def beets_env(decorated, tmp_path):
    """A beets config dir, a folder of two real-music songs, and earmark predictions for them."""
    music = tmp_path / "music"
    music.mkdir()
    songs = [decorated("mp3", "music/first.mp3"), decorated("flac", "music/second.flac")]
    catalog_db = tmp_path / "catalog.sqlite"
    with Catalog(catalog_db) as catalog:
        for song, genres in zip(songs, ([["hip-hop", 0.9], ["soul/r&b", 0.5]], [["rock", 0.2]]),
                                strict=True):
            track = add_file(catalog, song, verify=False)
            with catalog.transaction() as conn:
                conn.execute("INSERT INTO predictions VALUES (?, ?, 'genres', ?, ?)",
                             (track.id, MODEL, json.dumps(genres), time.time()))
    beetsdir = tmp_path / "beetsdir"
    beetsdir.mkdir()
    (beetsdir / "config.yaml").write_text(
        f"directory: {tmp_path / 'library'}\n"
        f"library: {tmp_path / 'beets.db'}\n"
        "plugins: earmark\n"
        "import:\n  copy: no\n  write: yes\n  quiet: yes\n"
        f"earmark:\n  db: {catalog_db}\n  model: {MODEL}\n  min_confidence: 0.3\n",
        encoding="utf-8")
    env = {**os.environ, "BEETSDIR": str(beetsdir), "HOME": str(tmp_path)}
    beet = [str(Path(sys.executable).with_name("beet"))]

    def run(*args: str) -> str:
        out = subprocess.run(beet + list(args), env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout + out.stderr

    run("import", "-A", str(music))
    return run, songs


def _beets_genres(run) -> dict[str, str]:
    lines = run("ls", "-f", "$path|$genres").splitlines()
    return dict(line.split("|", 1) for line in lines if "|" in line)


def test_beet_earmark_fills_genres_in_library_and_files(beets_env):
    run, songs = beets_env
    assert set(_beets_genres(run).values()) == {""}
    output = run("earmark")
    assert "Hip-Hop" in output
    genres = _beets_genres(run)
    assert genres[str(songs[0])] in ("Hip-Hop; Soul", "Hip-Hop, Soul")
    # Confidence 0.2 is under the configured minimum: no genre rather than a wrong one.
    assert genres[str(songs[1])] == ""
    assert read_tags(songs[0]).genres == ["Hip-Hop", "Soul"]
    assert read_tags(songs[0]).has_cover  # beets kept the cover art


def test_beet_earmark_pretend_changes_nothing(beets_env):
    run, songs = beets_env
    before = songs[0].read_bytes()
    assert "Hip-Hop" in run("earmark", "--pretend")
    assert set(_beets_genres(run).values()) == {""}
    assert songs[0].read_bytes() == before


def test_beet_earmark_fill_keeps_existing_and_overwrite_replaces(beets_env):
    run, songs = beets_env
    run("modify", "-y", "-W", f"path:{songs[0]}", "genres=Jazz")
    run("earmark")
    assert _beets_genres(run)[str(songs[0])] == "Jazz"
    run("earmark", "--mode", "merge")
    assert _beets_genres(run)[str(songs[0])].replace(",", ";") == "Jazz; Hip-Hop; Soul"


def test_beet_earmark_writes_no_genre_for_silent_audio(beets_env, tmp_path):
    """A song an analysis found silent keeps its empty genre, whatever a model stored for it
    (issue 10 case 6), and the log says why."""
    run, songs = beets_env
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        track = add_file(catalog, songs[0], verify=False)
        with catalog.transaction() as conn:
            conn.execute("INSERT INTO predictions VALUES (?, 'MSD_musicnn', 'audio', ?, ?)",
                         (track.id, json.dumps({"silent": True, "downmix": None}),
                          time.time()))
    output = run("-v", "earmark")
    assert "silent audio" in output
    assert _beets_genres(run)[str(songs[0])] == ""
    assert read_tags(songs[0]).genres == []
