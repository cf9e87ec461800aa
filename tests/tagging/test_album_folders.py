"""A folder without album tags stands for an album only when it looks like one (issue 11
item 3): its songs name at most one artist, and it holds at most ``FOLDER_ALBUM_MAX`` songs.
A folder of singles, or a flat folder of a whole library, is decided song by song, so pooling
never drops a song's own best genre for its neighbours', and ``tag`` never holds such a folder
in one planning page (issue 16 item 3).

The songs are real GTZAN excerpts (artist tags written with mutagen, read back by ffprobe and by
a real scan) with stored genre confidences of a test classifier; the flat folder is many short
WAV files, and what planning holds is counted from the SQL the catalog runs.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mutagen.flac import FLAC
from typer.testing import CliRunner

from earmark.catalog import Catalog, tracks
from earmark.catalog.predictions import store_predictions
from earmark.cli import app
from earmark.ingest.scan import scan
from earmark.tagging.albums import FOLDER_ALBUM_MAX
from earmark.tagging.job import TaggingJob
from earmark.tagging.policy import load_policy
from music import gtzan_clip, transcode
from test_tag_streaming import PlanningReads, _write_wav

MODEL = "test-classifier"
#: lib/misc as the tester had it: on its own, "jazz 0" is Jazz 0.53, but its Classical 0.41 is
#: close enough to its best that pooling with two classical songs made it Classical.
SONGS = {
    "jazz 0.flac": (("jazz", 0), {"jazz": 0.53, "classical": 0.41, "blues": 0.05}),
    "classical 0.flac": (("classical", 0), {"classical": 0.80, "jazz": 0.10}),
    "classical 1.flac": (("classical", 1), {"classical": 0.75, "jazz": 0.05}),
}


def _folder(root: Path, artists: dict[str, str | None]) -> tuple[Path, Path]:
    """The :data:`SONGS` as 3-second FLAC excerpts in ``root/misc`` with the given artist tags
    (``None``: no artist tag; no album tags at all), scanned, with stored genres; returns the
    folder and the catalog."""
    folder = root / "misc"
    folder.mkdir()
    db = root / "catalog.sqlite"
    for name, ((genre, number), _) in SONGS.items():
        path = transcode(gtzan_clip(genre, number), folder / name, "flac", seconds=3.0)
        if artists[name] is not None:
            audio = FLAC(path)
            audio["ARTIST"] = [artists[name]]
            audio.save()
    with Catalog(db) as catalog:
        scan(catalog, [folder], verify=False)
        for name, (_, evidence) in SONGS.items():
            track = tracks.get_track(catalog, tracks.normalise_path(folder / name))
            assert track.artist == artists[name]  # the scan read the tag mutagen wrote
            store_predictions(catalog, track.id, MODEL, {"genres": evidence})
    return folder, db


def _tag(db: Path, folder: Path, *args: str) -> dict[str, dict]:
    result = CliRunner().invoke(app, ["tag", "--db", str(db), "--model", MODEL, str(folder),
                                      "--min-confidence", "0.2", "--max-genres", "1",
                                      "--json", *args])
    assert result.exit_code == 0, result.output
    return {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}


@pytest.mark.slow
def test_a_folder_of_singles_by_different_artists_is_decided_song_by_song(tmp_path, probe):
    folder, db = _folder(tmp_path, {"jazz 0.flac": "Cannonball Quintet",
                                    "classical 0.flac": "Kammerorchester Wien",
                                    "classical 1.flac": None})
    assert probe(folder / "jazz 0.flac").get("artist") == "Cannonball Quintet"
    per_track = _tag(db, folder, "--dry-run", "--per-track")
    rows = _tag(db, folder, "--yes")
    assert {name: (row["status"], row["reason"]) for name, row in rows.items()} == {
        "jazz 0.flac": ("written", "predicted Jazz 0.53"),
        "classical 0.flac": ("written", "predicted Classical 0.80"),
        "classical 1.flac": ("written", "predicted Classical 0.75"),
    }
    # The same decisions and reasons as --per-track, and what was written is what ffprobe reads.
    assert {n: (r["reason"], r["changes"][0]["new"]) for n, r in per_track.items()} == {
        n: (r["reason"], r["changes"][0]["new"]) for n, r in rows.items()}
    assert {name: probe(folder / name).get("genre") for name in SONGS} == {
        "jazz 0.flac": "Jazz", "classical 0.flac": "Classical", "classical 1.flac": "Classical"}


@pytest.mark.slow
def test_a_folder_of_one_artists_songs_without_album_tags_is_still_one_album(tmp_path):
    # The artist spelled in another case, and a song that names none, are not other artists.
    folder, db = _folder(tmp_path, {"jazz 0.flac": "The Band", "classical 0.flac": "the band ",
                                    "classical 1.flac": None})
    rows = _tag(db, folder, "--dry-run")
    assert {name: row["reason"] for name, row in rows.items()} == dict.fromkeys(
        SONGS, "album consensus: Classical (3 songs)")


#: Two folders of untagged songs that name no artist: one past the bound, one at it.
FLAT, FULL_DISC = "Flat", "Full Disc"


@pytest.fixture(scope="module")
def flat_library(tmp_path_factory) -> tuple[Path, Path]:
    """:data:`FLAT` (``FOLDER_ALBUM_MAX + 1`` songs) and :data:`FULL_DISC`
    (``FOLDER_ALBUM_MAX`` songs) of short WAV files, scanned, every song leaning to jazz;
    returns the music folder and the catalog."""
    root = tmp_path_factory.mktemp("flat")
    rng = np.random.default_rng(5)
    db = root / "catalog.sqlite"
    seed = 0
    for name, count in ((FLAT, FOLDER_ALBUM_MAX + 1), (FULL_DISC, FOLDER_ALBUM_MAX)):
        (root / "music" / name).mkdir(parents=True)
        for number in range(count):
            _write_wav(root / "music" / name / f"{number:03d}.wav", seed)
            seed += 1
    with Catalog(db) as catalog:
        scan(catalog, [root / "music"], verify=False)
        for track in tracks.iter_tracks(catalog):
            assert track.status == "ok", track.path
            store_predictions(catalog, track.id, MODEL, {"genres": {
                "jazz": round(float(rng.uniform(0.35, 0.6)), 4),
                "blues": round(float(rng.uniform(0.0, 0.3)), 4)}})
    return root / "music", db


def _prepare(db: Path, paths: list[Path] | None, page_size: int):
    with Catalog(db) as catalog:
        reads = PlanningReads(catalog)
        job = TaggingJob(catalog, load_policy(), model=MODEL, page_size=page_size)
        return job.prepare(paths, stages=reads).plans, reads


def test_a_folder_over_the_bound_is_decided_song_by_song_and_one_at_it_is_an_album(
        flat_library):
    music, db = flat_library
    plans, _ = _prepare(db, None, 500)
    causes = Counter((Path(p.path).parent.name, p.cause) for p in plans)
    assert causes == {(FLAT, "predicted"): FOLDER_ALBUM_MAX + 1,
                      (FULL_DISC, "album consensus"): FOLDER_ALBUM_MAX}
    assert {p.reason for p in plans if FULL_DISC in p.path} == {
        f"album consensus: Jazz ({FOLDER_ALBUM_MAX} songs)"}


@pytest.mark.parametrize("page_size", [1, 10])
def test_planning_a_flat_folder_holds_one_page_of_predictions(flat_library, page_size):
    music, db = flat_library
    plans, reads = _prepare(db, [music / FLAT], page_size)
    assert len(plans) == len(reads.read) == FOLDER_ALBUM_MAX + 1
    assert reads.most_held <= page_size
    # The count is real: the folder at the bound is one album, held whole in one page.
    _, disc = _prepare(db, [music / FULL_DISC], page_size)
    assert disc.most_held == FOLDER_ALBUM_MAX
