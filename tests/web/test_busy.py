"""The web app beside a command writing to the same catalog (issue 14 item 8): reads never
wait, a web write skips the command's whole-run lock, and a catalog kept locked gives a clear
503, never SQLite's "database is locked"."""

from __future__ import annotations

import sqlite3
import time

import pytest

from earmark.catalog import access as catalog_access
from earmark.catalog import ratings
from earmark.catalog.access import CatalogBusyError, brief_write, reading
from earmark.catalog.lock import take_writer_lock
from earmark.errors import CatalogError


@pytest.fixture
def writing_command(catalog_path):
    """What a running ``earmark embed`` holds: the catalog's writer lock, and an open write
    transaction (SQLite's write lock) with a song not yet committed."""
    lock = take_writer_lock(catalog_path, 1.0, None)
    conn = sqlite3.connect(catalog_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO tracks (path, title, status, added_at, scanned_at) "
                 "VALUES ('/music/new.mp3', 'Not Yet Committed', 'ok', 0, 0)")
    yield conn
    conn.execute("ROLLBACK")
    conn.close()
    lock.release()


def test_pages_answer_at_once_while_a_command_writes(client, writing_command):
    started = time.monotonic()
    for url in ("/", "/api/songs", "/api/songs?q=smoke"):
        assert client.get(url).status_code == 200
    assert time.monotonic() - started < 2.0
    assert "Not Yet Committed" not in client.get("/api/songs").text  # its work shows on commit
    writing_command.execute("COMMIT")
    writing_command.execute("BEGIN")  # for the fixture's rollback
    assert "Not Yet Committed" in client.get("/api/songs").text


def test_a_web_write_does_not_wait_for_the_commands_lock(catalog_path):
    lock = take_writer_lock(catalog_path, 1.0, None)
    try:
        started = time.monotonic()
        with brief_write(catalog_path) as catalog:
            ratings.add_rating(catalog, 1, "like")
        assert time.monotonic() - started < 1.0
    finally:
        lock.release()
    with reading(catalog_path) as catalog:
        assert ratings.current_rating(catalog, 1).verdict == "like"


def test_a_web_write_waits_for_a_commands_transaction_then_goes_through(catalog_path):
    conn = sqlite3.connect(catalog_path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(CatalogBusyError, match="is busy: another earmark command is writing"):
        with brief_write(catalog_path, timeout=0.2) as catalog:
            ratings.add_rating(catalog, 1, "like")
    conn.execute("COMMIT")
    conn.close()
    with brief_write(catalog_path, timeout=0.2) as catalog:
        ratings.add_rating(catalog, 1, "like")


def test_a_catalog_locked_too_long_is_503_with_a_reason(client, catalog_path, monkeypatch):
    monkeypatch.setattr(catalog_access, "BRIEF_TIMEOUT", 0.2)
    hog = sqlite3.connect(catalog_path, isolation_level=None)
    hog.execute("PRAGMA locking_mode = EXCLUSIVE")  # shuts readers out, as WAL never does
    hog.execute("BEGIN EXCLUSIVE")
    try:
        reply = client.get("/api/songs")
        page = client.get("/", headers={"Accept": "text/html"})
    finally:
        hog.execute("COMMIT")
        hog.close()
    assert (reply.status_code, reply.headers["retry-after"]) == (503, "2")
    assert "is busy: another earmark command is writing to it; try again" in (
        reply.json()["detail"])
    assert page.status_code == 503 and "try again in a moment" in page.text
    for text in (reply.text, page.text):
        assert "database is locked" not in text
    assert client.get("/api/songs").status_code == 200


def test_a_missing_catalog_is_a_clear_error_and_is_not_created(tmp_path):
    for opening in (reading, brief_write):
        with pytest.raises(CatalogError, match="no catalog at"), opening(tmp_path / "no.sqlite"):
            pass
    assert not (tmp_path / "no.sqlite").exists()
