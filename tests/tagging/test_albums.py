"""One genre decision per album (issue 11 item 3): the songs of an album pool their evidence,
a song that really differs keeps its own, `--per-track` turns pooling off.

The evidence numbers are the MSD musicnn genre confidences of shared GTZAN clips (rock.00001,
rock.00000, rock.00003, whose own top genre is jazz; metal.00004), stored as a classifier's
predictions for real-music files; ffprobe reads back what was written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog, tracks
from earmark.catalog.predictions import store_predictions
from earmark.cli import app
from earmark.ingest.scan import add_file
from earmark.tagging.albums import album_key, pool_album
from earmark.tags.write import write_keys

runner = CliRunner()
MODEL = "test-classifier"
ROCK_1 = {"rock": 0.34, "alternative/indie": 0.24, "jazz": 0.05}
ROCK_0 = {"rock": 0.29, "alternative/indie": 0.11, "country": 0.10}
ROCK_3 = {"jazz": 0.25, "rock": 0.23, "blues": 0.12}  # on its own: jazz
METAL_4 = {"metal": 0.62, "punk": 0.09, "rock": 0.06}


def test_a_song_that_leans_elsewhere_follows_its_album():
    decision, agrees = pool_album([ROCK_1, ROCK_0, ROCK_3])
    assert decision.genre == "rock" and agrees == [True, True, True]
    assert decision.pooled == 3 and decision.scores["rock"] == pytest.approx(0.86 / 3)


def test_a_song_that_really_differs_keeps_its_own():
    decision, agrees = pool_album([ROCK_1, ROCK_0, ROCK_3, METAL_4])
    assert decision.genre == "rock" and agrees == [True, True, True, False]
    assert (decision.pooled, decision.size) == (3, 4)


def test_songs_that_all_differ_are_not_pooled():
    jazz, hiphop = {"jazz": 0.8, "blues": 0.1}, {"hip-hop": 0.9, "funk": 0.1}
    assert pool_album([jazz, hiphop]) == (None, [False, False])
    assert pool_album([jazz]) == (None, [False])


@pytest.fixture
def album(music_copy, tmp_path) -> tuple[Path, Path, dict[str, Path]]:
    """Four songs of one album (album + album-artist tags, different track artists) and a
    fifth song of another album in the same folder, scanned, with stored predictions."""
    (tmp_path / "music").mkdir()
    db = tmp_path / "catalog.sqlite"
    songs = {}
    with Catalog(db) as catalog:
        for name, evidence, album_name, artist in (
                ("01.mp3", ROCK_1, "Loud Songs", "A"), ("02.flac", ROCK_0, "Loud Songs", "B"),
                ("03.mp3", ROCK_3, "Loud Songs", "C"), ("04.flac", METAL_4, "Loud Songs", "D"),
                ("05.mp3", ROCK_3, "Other Album", "A")):
            path = music_copy(name.split(".")[1], f"music/{name}")
            keys = ({"TALB": [album_name], "TPE2": ["Various"], "TPE1": [artist]}
                    if name.endswith("mp3") else
                    {"ALBUM": [album_name], "ALBUMARTIST": ["Various"], "ARTIST": [artist]})
            write_keys(path, keys)
            track = add_file(catalog, path, verify=False)
            store_predictions(catalog, track.id, MODEL, {"genres": evidence})
            songs[name] = path
    return tmp_path / "music", db, songs


def _tag(db: Path, folder: Path, *args: str) -> dict[str, dict]:
    result = runner.invoke(app, ["tag", "--db", str(db), "--model", MODEL, str(folder),
                                 "--min-confidence", "0.2", "--max-genres", "1", "--json",
                                 *args])
    assert result.exit_code == 0, result.output
    return {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}


def test_album_songs_get_one_decision_with_its_reason_and_it_is_written(album, probe):
    folder, db, songs = album
    rows = _tag(db, folder, "--yes")
    assert {name: (row["status"], row["reason"]) for name, row in rows.items()} == {
        "01.mp3": ("written", "album consensus: Rock (3 songs)"),
        "02.flac": ("written", "album consensus: Rock (3 songs)"),
        "03.mp3": ("written", "album consensus: Rock (3 songs)"),
        "04.flac": ("written", "its own genre, unlike the rest of its album (3 of 4 songs "
                               "sound like Rock)"),
        "05.mp3": ("written", "predicted Jazz 0.25"),  # alone on its album
    }
    seen = {name: probe(path).get("genre") for name, path in songs.items()}
    assert seen == {"01.mp3": "Rock", "02.flac": "Rock", "03.mp3": "Rock", "04.flac": "Metal",
                    "05.mp3": "Jazz"}


def test_per_track_decides_each_song_alone(album):
    folder, db, _ = album
    rows = _tag(db, folder, "--dry-run", "--per-track")
    assert rows["03.mp3"]["changes"][0]["new"] == ["Jazz"]
    assert rows["03.mp3"]["reason"] == "predicted Jazz 0.25"


def test_album_key_uses_album_artist_then_folder(album):
    folder, db, songs = album
    with Catalog(db) as catalog:
        rows = {name: tracks.get_track(catalog, path) for name, path in songs.items()}
    keys = {name: album_key(track) for name, track in rows.items()}
    assert keys["01.mp3"] == keys["02.flac"] == ("album", "various", "loud songs")
    assert keys["05.mp3"] == ("album", "various", "other album")
    untagged = rows["01.mp3"].__class__(**{**rows["01.mp3"].to_dict(), "album": None})
    assert album_key(untagged) == ("folder", str(folder))
