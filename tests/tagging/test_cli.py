"""``earmark tag`` and ``earmark undo`` through the real CLI, on real-music files."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

import realworld
from earmark.catalog import Catalog, tracks
from earmark.cli import app
from earmark.cli.tagwrite import parse_since
from earmark.ingest.scan import add_file
from earmark.tags.read import read_tags
from earmark.tags.write import write_keys

runner = CliRunner()
MODEL = "test-classifier"


@pytest.fixture
def library(decorated, tmp_path):
    """Two songs in a folder, scanned, with stored genre predictions from ``MODEL``."""
    folder = tmp_path / "music"
    folder.mkdir()
    songs = [decorated("mp3", "music/one song.mp3"), decorated("opus", "music/two.opus")]
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        for song, genres in zip(songs, ([["jazz", 0.8], ["blues", 0.4]], [["metal", 0.7]]),
                                strict=True):
            track = add_file(catalog, song, verify=False)
            with catalog.transaction() as conn:
                conn.execute("INSERT INTO predictions VALUES (?, ?, 'genres', ?, ?)",
                             (track.id, MODEL, json.dumps(genres), time.time()))
    return folder, songs, db


def tag(db, *args, input=None):
    return runner.invoke(app, ["tag", "--db", str(db), "--model", MODEL, *args], input=input)


def test_dry_run_shows_and_writes_nothing(library):
    folder, songs, db = library
    before = [s.read_bytes() for s in songs]
    result = tag(db, str(folder), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Jazz; Blues" in result.output and "predicted Jazz 0.80" in result.output
    assert [s.read_bytes() for s in songs] == before


def test_without_a_terminal_nothing_is_written_and_it_says_so(library):
    folder, songs, db = library
    before = [s.read_bytes() for s in songs]
    result = tag(db, str(folder), input="y\n")
    assert result.exit_code == 3
    assert "not writing" in result.output and "--yes" in result.output
    assert [s.read_bytes() for s in songs] == before


def test_yes_writes_json_lines_and_undo_last_restores(library):
    folder, songs, db = library
    result = tag(db, str(folder), "--yes", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["path"]: line["status"] for line in lines} == {
        str(songs[0]): "written", str(songs[1]): "written"}
    assert read_tags(songs[0]).genres == ["Jazz", "Blues"]
    assert read_tags(songs[1]).genres == ["Metal"]

    undone = runner.invoke(app, ["undo", "--last", "--db", str(db), "--json"])
    assert undone.exit_code == 0, undone.output
    rows = [json.loads(line) for line in undone.stdout.splitlines()]
    assert {row["status"] for row in rows} == {"restored"}
    assert read_tags(songs[0]).genres == [] and read_tags(songs[1]).genres == []
    again = runner.invoke(app, ["undo", "--last", "--db", str(db)])
    assert "nothing to undo" in again.output


def test_undo_since_and_what_to_undo_is_required(library):
    folder, songs, db = library
    assert tag(db, str(folder), "--yes").exit_code == 0
    assert runner.invoke(app, ["undo", "--db", str(db)]).exit_code == 2
    assert runner.invoke(app, ["undo", "--last", "--since", "1h", "--db", str(db)]).exit_code == 2
    assert runner.invoke(app, ["undo", "--since", "1h", "--db", str(db)]).exit_code == 0
    assert read_tags(songs[0]).genres == [] and read_tags(songs[1]).genres == []


def test_undo_file_refuses_foreign_change_with_exit_1(library):
    folder, songs, db = library
    written = tag(db, str(songs[0]), "--yes")
    assert written.exit_code == 0
    said = " ".join(written.output.split())
    assert "1 written (predicted: 1); batch " in said and "earmark undo --last" in said
    write_keys(songs[0], {"TIT2": ["Changed Elsewhere"], "TCON": ["Polka"]})
    result = runner.invoke(app, ["undo", str(songs[0]), "--db", str(db)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # the table folds long reasons
    assert "changed by someone else" in output
    # TCON was absent before: no earmark command sets "nothing", so none is suggested.
    assert "TCON was empty" in output and "--mode overwrite" not in output
    assert read_tags(songs[0]).title == "Changed Elsewhere"


def test_a_run_that_wrote_nothing_does_not_offer_undo(library):
    """`undo --last` after a run that wrote nothing would undo the run before it."""
    folder, songs, db = library
    assert tag(db, str(songs[1]), "--yes").exit_code == 0
    # A frame mutagen cannot read: planned, then refused when written.
    damaged = realworld.id3v23_as_stored(
        folder / "damaged.mp3", realworld.legacy_id3v23_frames()[:3],
        [realworld.raw_id3v23_frame("TPE2", b"\x07Trio")])
    with Catalog(db) as catalog:
        track = add_file(catalog, damaged, verify=False)
        with catalog.transaction() as conn:
            conn.execute("INSERT INTO predictions VALUES (?, ?, 'genres', ?, ?)",
                         (track.id, MODEL, json.dumps([["rock", 0.9]]), time.time()))
    result = tag(db, str(damaged), "--yes", "--mode", "overwrite")
    assert result.exit_code == 1
    assert "1 failed (write failed: 1); nothing written" in " ".join(result.output.split())
    assert "undo" not in result.output


def test_separator_and_catalog_mode(library):
    folder, songs, db = library
    result = tag(db, "--catalog", "--separator", " / ", "--yes")
    assert result.exit_code == 0, result.output
    assert read_tags(songs[0]).genres == ["Jazz / Blues"]


def test_missing_predictions_fail_with_exit_1(library, decorated):
    folder, songs, db = library
    extra = decorated("flac", "music/unknown.flac")
    other = decorated("ogg", "music/another unknown.ogg")
    result = tag(db, str(folder), "--yes", "--json")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # New files are scanned (in parallel) first; the report keeps the folder's order.
    assert [line["path"] for line in lines] == sorted(map(str, [*songs, extra, other]))
    assert {line["path"]: line["status"] for line in lines}[str(extra)] == "failed"
    assert "no genre predictions" in result.output
    assert read_tags(extra).genres == []
    assert read_tags(songs[0]).genres == ["Jazz", "Blues"]
    with Catalog(db) as catalog:
        assert tracks.get_track(catalog, other).status == "ok"


def test_confirm_on_a_terminal(library):
    """A person at a terminal answering the confirmation prompt (real pseudo-terminal)."""
    folder, songs, db = library
    for answer, genres in (("n", []), ("y", ["Jazz", "Blues"])):
        main, child = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "earmark", "tag", "--db", str(db), "--model", MODEL,
             str(songs[0])], stdin=child, stdout=child, stderr=child, close_fds=True)
        os.close(child)
        output = b""
        while b"[y/N]" not in output:
            output += os.read(main, 4096)
        os.write(main, answer.encode() + b"\n")
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=120) == 0, output.decode(errors="replace")
        os.close(main)
        assert read_tags(songs[0]).genres == genres


def test_default_config_prints_the_vocabulary():
    result = runner.invoke(app, ["tag", "--default-config"])
    assert result.exit_code == 0
    assert "canonical" in json.loads(result.stdout)


def test_parse_since():
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("30m", now=10_000.0) == 10_000.0 - 1800
    assert parse_since("2026-05-01T14:30") > 0
    with pytest.raises(Exception, match="neither a time ago"):
        parse_since("yesterday-ish")


@pytest.mark.slow
def test_end_to_end_with_the_pretrained_model(music_copy, tmp_path):
    """The real thing: MSD musicnn listens to a real rock excerpt and its genre is written."""
    song = music_copy("flac", "rock excerpt.flac")
    db = tmp_path / "e2e.sqlite"
    result = runner.invoke(app, ["tag", str(song), "--db", str(db), "--yes", "--json",
                                 "--min-confidence", "0.1"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[-1])
    assert line["status"] == "written"
    genres = read_tags(song).genres
    assert genres and genres == line["changes"][0]["new"]
    assert "Rock" in genres or "Metal" in genres
    with Catalog(db) as catalog:
        track = tracks.get_track(catalog, song)
        stored = catalog.execute("SELECT count(*) FROM predictions WHERE track_id = ?",
                                 (track.id,)).fetchone()[0]
    assert stored >= 2  # tags and genres, reused by the next run and the beets plugin
