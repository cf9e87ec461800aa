"""``earmark undo`` after the tagged file moved: the journal follows a move that ``earmark scan``
recognised, and a file gone without one is explained, not reported as a raw OS error."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog
from earmark.cli import app
from earmark.ingest.scan import add_file
from earmark.tags.read import read_tags

runner = CliRunner()
MODEL = "test-classifier"


@pytest.fixture(params=["wav", "mp3", "flac"])
def tagged(request, decorated, tmp_path):
    """A folder ``mv`` with one real-music file, scanned with a stored prediction, then tagged by
    ``earmark tag --yes``; returns (folder, file, catalog path, the file's bytes before tag)."""
    fmt = request.param
    folder = tmp_path / "mv"
    folder.mkdir()
    song = decorated(fmt, f"mv/a.{fmt}")
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        track = add_file(catalog, song, verify=False)
        with catalog.transaction() as conn:
            conn.execute("INSERT INTO predictions VALUES (?, ?, 'genres', ?, ?)",
                         (track.id, MODEL, json.dumps([["jazz", 0.8], ["blues", 0.4]]),
                          time.time()))
    before = song.read_bytes()
    written = runner.invoke(app, ["tag", "--db", str(db), "--model", MODEL, str(folder),
                                  "--yes"])
    assert written.exit_code == 0, written.output
    assert read_tags(song).genres == ["Jazz", "Blues"]
    return folder, song, db, before


def test_undo_follows_a_move_that_scan_recognised(tagged):
    folder, song, db, before = tagged
    moved = song.with_name("b" + song.suffix)
    song.rename(moved)
    scanned = runner.invoke(app, ["scan", "--db", str(db), "--json", str(folder)])
    assert scanned.exit_code == 0, scanned.output
    rows = [json.loads(line) for line in scanned.stdout.splitlines() if line.startswith("{")]
    item = next(row for row in rows if row.get("path") == str(moved))
    assert item["action"] == "moved" and item["moved_from"] == str(song)

    undone = runner.invoke(app, ["undo", "--last", "--db", str(db), "--json"])
    assert undone.exit_code == 0, undone.output
    results = [json.loads(line) for line in undone.stdout.splitlines()]
    assert [(r["path"], r["status"]) for r in results] == [(str(moved), "restored")]
    assert read_tags(moved).genres == []
    # Restored means what was there: the file earmark was given, byte for byte.
    assert moved.read_bytes() == before
    assert not song.exists()
    again = runner.invoke(app, ["undo", "--last", "--db", str(db)])
    assert "nothing to undo" in again.output


def test_undo_of_a_file_gone_without_a_scan_says_what_to_do(tagged):
    folder, song, db, _ = tagged
    moved = song.with_name("b" + song.suffix)
    song.rename(moved)
    after_tag = moved.read_bytes()
    undone = runner.invoke(app, ["undo", "--last", "--db", str(db), "--json"])
    assert undone.exit_code == 1, undone.output
    [result] = [json.loads(line) for line in undone.stdout.splitlines()]
    assert result["path"] == str(song) and result["status"] == "refused"
    assert result["reason"] == (
        "file moved or deleted since earmark wrote it; run `earmark scan` on its folder so "
        "earmark can find it")
    assert "No such file" not in undone.output
    assert moved.read_bytes() == after_tag  # nothing touched the moved file

    # Following the advice works: scan finds the move, and the same undo now restores.
    assert runner.invoke(app, ["scan", "--db", str(db), str(folder)]).exit_code == 0
    undone = runner.invoke(app, ["undo", "--last", "--db", str(db), "--json"])
    assert undone.exit_code == 0, undone.output
    assert read_tags(moved).genres == []
