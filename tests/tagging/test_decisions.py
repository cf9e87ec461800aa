"""Every file `earmark tag` sees gets a status and a reason (issue 11 item 4), its paths read
well on 80 columns (issue 12 item 12), and nothing to do is exit 3 (issue 12 item 9).

Real-music files in a real catalog with stored genre predictions; the written values are read
back with ffprobe.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog
from earmark.catalog.predictions import store_predictions
from earmark.cli import app
from earmark.ingest.scan import add_file
from earmark.tags.write import write_keys

runner = CliRunner()
MODEL = "test-classifier"

#: file name -> stored genre predictions (None: none stored) and what `tag` decides for it.
CASES = {
    "has jazz.mp3": ([["rock", 0.9]], "kept", "kept existing genre 'Jazz' (mode fill)"),
    "quiet guess.flac": ([["jazz", 0.21], ["blues", 0.1]], "below-threshold",
                         "below --min-confidence 0.30 (best: Jazz 0.21)"),
    "odd style.opus": ([["polka-core", 0.9]], "skipped",
                       "no genre in this model's vocabulary"),
    "silence.ogg": ([["rock", 0.5]], "skipped", "silent audio: no genre or tag is written"),
    "sure rock.flac": ([["rock", 0.8]], "planned", "predicted Rock 0.80"),
}


@pytest.fixture
def library(music_copy, tmp_path) -> tuple[Path, Path]:
    """A folder of the CASES, scanned into a catalog with their stored predictions; the
    first already has genre Jazz, the silent one is marked silent as an analysis marks it."""
    folder = tmp_path / "music" / "inbox"
    folder.mkdir(parents=True)
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        for name, (genres, _, _) in CASES.items():
            path = music_copy(Path(name).suffix[1:], f"music/inbox/{name}")
            if name == "has jazz.mp3":
                write_keys(path, {"TCON": ["Jazz"]})
            track = add_file(catalog, path, verify=False)
            store_predictions(catalog, track.id, MODEL, {"genres": genres})
            if name == "silence.ogg":
                store_predictions(catalog, track.id, "MSD_musicnn",
                                  {"audio": {"silent": True, "downmix": None}})
    return folder, db


def tag(db: Path, *args: str, columns: int = 80):
    return runner.invoke(app, ["tag", "--db", str(db), "--model", MODEL, "--per-track", *args],
                         env={"COLUMNS": str(columns)})


def test_dry_run_json_gives_every_file_a_status_and_reason_and_policy_skips_exit_0(library):
    folder, db = library
    result = tag(db, str(folder), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    rows = {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}
    assert {name: (row["status"], row["reason"]) for name, row in rows.items()} == {
        name: (status, reason) for name, (_, status, reason) in CASES.items()}
    # JSON paths are absolute, whatever folder was given.
    assert all(os.path.isabs(row["path"]) for row in rows.values())
    assert rows["has jazz.mp3"]["cause"] == "kept existing genre (mode fill)"
    assert rows["quiet guess.flac"]["cause"] == "below --min-confidence 0.30"


def test_preview_table_lists_every_file_relative_to_the_folder_and_counts_each_reason(library):
    folder, db = library
    result = tag(db, str(folder.parent), "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    assert str(folder) not in result.stdout  # no long absolute paths
    said = " ".join(result.stdout.split())
    for status in ("planned", "kept", "below-threshold", "skipped"):
        assert f"│ {status}" in said
    assert "inbox/sure rock.flac" in said or "inbox/sure rock.fla c" in said
    summary = " ".join(result.stdout.split("└")[-1].split())
    assert summary.split("─┘ ")[-1] == (
        "1 planned (predicted: 1); 1 kept (kept existing genre (mode fill): 1); "
        "1 below-threshold (below --min-confidence 0.30: 1); 2 skipped (no genre in this "
        "model's vocabulary: 1, silent audio: no genre or tag is written: 1)")


def test_writing_reports_every_file_and_writes_only_the_planned_one(library, probe):
    folder, db = library
    result = tag(db, str(folder), "--yes", "--json")
    assert result.exit_code == 0, result.output
    rows = {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}
    assert {name: row["status"] for name, row in rows.items()} == {
        name: "written" if status == "planned" else status
        for name, (_, status, _) in CASES.items()}
    assert rows["sure rock.flac"]["reason"] == "predicted Rock 0.80"
    assert probe(folder / "sure rock.flac")["genre"] == "Rock"
    assert probe(folder / "has jazz.mp3")["genre"] == "Jazz"
    assert "genre" not in probe(folder / "quiet guess.flac")

    again = tag(db, str(folder), "--yes", "--mode", "overwrite")
    assert again.exit_code == 0, again.output
    said = " ".join(again.stdout.split())
    assert "already holds the chosen genres: 1" in said  # sure rock.flac, not written twice


def test_a_failure_among_policy_skips_exits_1(library, music_copy):
    folder, db = library
    music_copy("mp3", "music/inbox/never predicted.mp3")
    result = tag(db, str(folder), "--dry-run", "--json")
    assert result.exit_code == 1, result.output
    rows = {Path(row["path"]).name: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["never predicted.mp3"]["status"] == "failed"
    assert rows["never predicted.mp3"]["reason"] == "no genre predictions for this track"


def test_nothing_to_tag_exits_3_with_one_error_line(tmp_path):
    db = tmp_path / "catalog.sqlite"
    empty = tmp_path / "no audio here"
    empty.mkdir()
    (empty / "notes.txt").write_text("not music")
    for args, says in (([str(empty)], "no audio files in the paths given"),
                       ([str(tmp_path / "missing.mp3")], "none of the paths given could be read"),
                       (["--catalog"], "the catalog has no tracks")):
        result = runner.invoke(app, ["tag", "--db", str(db), *args, "--dry-run"],
                               env={"COLUMNS": "200"})
        assert result.exit_code == 3, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and says in errors[0], result.output


def test_tag_prints_no_blank_lines_on_stderr(library):
    """Without a terminal the progress display must not leave empty lines behind."""
    folder, db = library
    proc = subprocess.run(
        [sys.executable, "-m", "earmark", "tag", "--db", str(db), "--model", MODEL,
         str(folder), "--dry-run"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert "" not in proc.stderr.splitlines(), repr(proc.stderr)
    assert "1 planned" in proc.stdout
