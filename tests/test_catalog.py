"""The storage boundary: what `earmark info` reads from every table, SQL only in the catalog,
one thread per connection, and the runs table."""

from __future__ import annotations

import ast
import importlib
import json
import re
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import earmark
from earmark.catalog import Catalog, journal, labels, ratings, runs, tracks
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.predictions import store_predictions
from earmark.cli import app
from earmark.engine import LocalEngine
from earmark.errors import CatalogError
from earmark.ingest.scan import scan

runner = CliRunner()


def test_info_json_lists_what_every_table_knows_of_a_track(tmp_path, music_files):
    db = tmp_path / "info.sqlite"
    song = music_files["flac"]
    with Catalog(db) as catalog:
        scan(catalog, [song], engine=LocalEngine(1))
        track = tracks.get_track(catalog, song)
        labels.set_labels(catalog, track.id, "mine", "genre", ["rock", "blues"],
                          split="train", artist="Someone")
        ratings.add_rating(catalog, track.id, verdict="like", rated_at=100.0)
        ratings.add_rating(catalog, track.id, stars=2, source="import", rated_at=50.0)
        store_embedding(catalog, track.id, "MSD_musicnn", np.ones(4), track.content_hash)
        store_predictions(catalog, track.id, "MSD_musicnn",
                          {"genres": [["rock", 0.9]], "audio": {"silent": False}})
        first = journal.record_write(catalog, "b1", track.id, str(song),
                                     {"GENRE": (None, ["Rock"])}, "h0", "h1")
        journal.record_write(catalog, "b2", track.id, str(song),
                             {"GENRE": (["Rock"], ["Blues", "Rock"])}, "h1", "h2")
        journal.mark_undone(catalog, first, when=200.0)
        embedded_at = catalog.execute("SELECT created_at FROM embeddings").fetchone()[0]

    result = runner.invoke(app, ["info", str(song), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["in_catalog"] is True and data["id"] == track.id
    assert data["labels"] == [
        {"dataset": "mine", "task": "genre", "label": label, "split": "train",
         "artist": "Someone"} for label in ("blues", "rock")]
    # Oldest first: the imported 2 stars were given before the like.
    assert data["ratings"] == [
        {"verdict": None, "stars": 2, "source": "import", "rated_at": 50.0},
        {"verdict": "like", "stars": None, "source": "user", "rated_at": 100.0}]
    assert data["embeddings"] == [{"model": "MSD_musicnn", "dim": 4, "created_at": embedded_at,
                                   "analysis": "full", "precision": None}]
    assert sorted(data["predictions"], key=lambda p: p["kind"]) == [
        {"model": "MSD_musicnn", "kind": "audio", "value": {"silent": False}},
        {"model": "MSD_musicnn", "kind": "genres", "value": [["rock", 0.9]]}]
    writes = data["tag_writes"]
    assert [(w["batch_id"], w["field"], w["old_value"], w["new_value"], w["undone_at"])
            for w in writes] == [("b1", "GENRE", None, '["Rock"]', 200.0),
                                 ("b2", "GENRE", '["Rock"]', '["Blues", "Rock"]', None)]
    assert set(writes[0]) == {"batch_id", "field", "old_value", "new_value", "written_at",
                              "undone_at"}

    # The human view shows the same knowledge compactly: one line per kind, no raw numbers.
    shown = runner.invoke(app, ["info", str(song), "--db", str(db)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    # (Words compared with the spaces squeezed: a narrow terminal folds a long value.)
    text = " ".join(shown.stdout.split())
    assert "labels mine: blues (train); mine: rock (train)" in text
    assert f"ratings 2 stars ({_iso(50.0)}); like ({_iso(100.0)})" in text
    assert "embeddings 1 (MSD_musicnn, 4 values, full)" in text
    assert "MSD_musicnn genres rock 0.90" in text
    assert re.search(r'tag writes 2; last \S+ \S+: GENRE \["Rock"\] -> \["Blues", "Rock"\]',
                     text)
    assert "mtime_ns" not in shown.stdout and "content_hash" not in shown.stdout
    assert len(shown.stdout.splitlines()) < 15


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).isoformat(sep=" ", timespec="seconds")


def _in_thread(fn):
    """``fn()`` run in a new thread: its result, or the exception it raised."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:  # handed back to the test's thread to assert on
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return outcome[0]


def test_a_catalog_refuses_use_from_another_thread(tmp_path, music_files):
    db = tmp_path / "threads.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [music_files["flac"]], engine=LocalEngine(1))
        for use in (lambda: tracks.counts(catalog),
                    lambda: tracks.forget_tracks(catalog, [str(music_files["flac"])]),
                    lambda: catalog.transaction().__enter__(),
                    catalog.close):
            error = _in_thread(use)
            assert isinstance(error, CatalogError), error
            assert "opened in another thread" in str(error) and str(db) in str(error)
        # Nothing was changed or closed by the refused calls; this thread goes on.
        assert not catalog.closed and tracks.counts(catalog)["ok"] == 1
        # Another thread opens its own catalog of the same file, as a web request would.
        assert _in_thread(lambda: _count_in_own_catalog(db)) == 1
    assert catalog.closed


def _count_in_own_catalog(db) -> int:
    with Catalog(db) as own:
        return tracks.counts(own)["ok"]


def test_a_catalog_that_cannot_open_leaves_no_connection(tmp_path):
    db = tmp_path / "future.sqlite"
    with Catalog(db) as catalog:
        catalog.execute("PRAGMA user_version = 999")
    with pytest.raises(CatalogError, match="newer") as refused:
        Catalog(db)
    # SQLite removes the write-ahead log when the last connection closes: none is left open,
    # though the error (kept by pytest) still refers to the half-made catalog.
    assert refused.value is not None
    assert not (tmp_path / "future.sqlite-wal").exists()


def test_a_taste_run_is_recorded_with_its_metrics(tmp_path):
    with Catalog(tmp_path / "runs.sqlite") as catalog:
        first = runs.record_run(catalog, "taste", {"cv": {"accuracy": 0.75}},
                                model_path=tmp_path / "taste.safetensors", created_at=12.5)
        second = runs.record_run(catalog, "train", {"f1": 0.5})
        rows = catalog.execute(
            "SELECT id, kind, model_path, metrics, created_at FROM model_runs ORDER BY id"
        ).fetchall()
    assert second == first + 1
    assert tuple(rows[0]) == (first, "taste", str(tmp_path / "taste.safetensors"),
                              '{"cv": {"accuracy": 0.75}}', 12.5)
    assert rows[1]["model_path"] is None and json.loads(rows[1]["metrics"]) == {"f1": 0.5}


_SQL = re.compile(r"\b(SELECT\b.+\bFROM|INSERT (OR \w+ )?INTO|UPDATE \w+ SET|DELETE FROM|"
                  r"CREATE (TABLE|INDEX)|ALTER TABLE|PRAGMA)\b")


def test_sql_is_written_only_in_the_catalog():
    # import-linter keeps sqlite3 in earmark.catalog; this keeps the SQL there too, which a
    # Catalog's execute() would otherwise let any module send.
    src = Path(earmark.__file__).parent.parent
    found = []
    for module in sorted(src.rglob("*.py")):
        if module.is_relative_to(src / "earmark" / "catalog"):
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    _SQL.search(node.value):
                found.append(f"{module.relative_to(src)}:{node.lineno}: {node.value[:40]!r}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("execute", "executemany", "executescript"):
                found.append(f"{module.relative_to(src)}:{node.lineno}: .{node.func.attr}()")
    assert found == []
    assert len(list(src.rglob("*.py"))) > 50  # the walk really saw the package


@pytest.fixture
def opened(monkeypatch) -> list[Catalog]:
    """Every catalog the CLI opens, kept so a test can see it was closed."""
    catalogs: list[Catalog] = []

    class Kept(Catalog):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            catalogs.append(self)

    monkeypatch.setattr(importlib.import_module("earmark.cli.app"), "Catalog", Kept)
    return catalogs


@pytest.mark.parametrize(("args", "code", "says"), [
    (["recommend"], 3, "no song is rated yet"),  # fail() after the catalog was opened
    (["taste"], 3, "no song is rated yet"),
    (["similar", "{tmp}/nothing.flac"], 3, "file not found"),  # an error escaping the command
    (["playlist", "{tmp}/out.m3u8"], 3, "no song is rated yet"),
    (["undo", "--last"], 3, "nothing to undo"),  # nothing could be done
])
def test_a_command_closes_its_catalog_however_it_ends(tmp_path, opened, args, code, says):
    db = tmp_path / "closed.sqlite"
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in args] + ["--db", str(db)])
    assert result.exit_code == code, result.output
    assert says in result.output
    assert len(opened) == 1 and opened[0].closed
    # SQLite removes the write-ahead log with the last connection: none is left open.
    assert not (tmp_path / "closed.sqlite-wal").exists()
