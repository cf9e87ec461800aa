"""Live progress (issue 14 item 8): while another process writes to the catalog (a command
holding the writer lock inside a write transaction, or a real `earmark scan`), the dashboard's
counts endpoint and the pages answer at once with the counts committed so far, never "database
is locked"."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

#: A stand-in for a long command: it takes the writer lock, then adds one song per line read
#: on stdin ("add": inside an open transaction, "commit": commits and opens the next one).
WRITER = """
import sys, time
from earmark.catalog import Catalog
catalog = Catalog(sys.argv[1], lock=True)
catalog.execute("BEGIN IMMEDIATE")
print("ready", flush=True)
n = 0
for line in sys.stdin:
    if line.strip() == "add":
        n += 1
        catalog.execute("INSERT INTO tracks (path, status, error, added_at, scanned_at) "
                        "VALUES (?, 'error', 'not an audio file', 0, 0)", (f"/new/{n}.mp3",))
    elif line.strip() == "commit":
        catalog.execute("COMMIT")
        catalog.execute("BEGIN IMMEDIATE")
    print("done", flush=True)
"""


def _say(writer: subprocess.Popen, line: str) -> None:
    writer.stdin.write(line + "\n")
    writer.stdin.flush()
    assert writer.stdout.readline().strip() == "done"


def _all_answer_at_once(client) -> dict:
    started = time.monotonic()
    for url in ("/dashboard", "/", "/explore", "/tags", "/api/map", "/api/songs"):
        reply = client.get(url)
        assert reply.status_code == 200, (url, reply.text)
        assert "database is locked" not in reply.text
    stats = client.get("/api/stats")
    assert stats.status_code == 200
    assert time.monotonic() - started < 10.0
    return stats.json()


def test_counts_move_while_a_command_holds_the_catalog(client, catalog_path):
    before = client.get("/api/stats").json()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(catalog_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        _say(writer, "add")
        during = _all_answer_at_once(client)
        assert (during["songs"], during["failed"]) == (before["songs"], before["failed"])
        _say(writer, "commit")
        _say(writer, "add")  # the command goes on, holding the lock and a new transaction
        after = _all_answer_at_once(client)
        assert (after["songs"], after["failed"]) == (before["songs"] + 1,
                                                     before["failed"] + 1)
        page = client.get("/dashboard").text
        assert f'data-count="failed">{before["failed"] + 1}<' in page
    finally:
        writer.stdin.close()
        writer.kill()
        writer.wait()


@pytest.mark.slow
def test_the_dashboard_follows_a_real_scan_from_the_command_line(client, catalog_path,
                                                                   web_songs, tmp_path):
    folder = tmp_path / "new music"
    folder.mkdir()
    for i in range(24):
        shutil.copyfile(web_songs[i % len(web_songs)],
                        folder / f"{i:02d} {web_songs[i % len(web_songs)].name}")
    before = client.get("/api/stats").json()["songs"]
    scan = subprocess.Popen([sys.executable, "-m", "earmark", "scan", str(folder), "--db",
                             str(catalog_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        while scan.poll() is None:
            reply = client.get("/api/stats")
            assert reply.status_code == 200, reply.text
            seen.append(reply.json()["songs"])
            assert client.get("/dashboard").status_code == 200
            time.sleep(0.1)
    finally:
        scan.wait(timeout=300)
    assert scan.returncode == 0, scan.stderr.read()
    seen.append(client.get("/api/stats").json()["songs"])
    assert seen == sorted(seen) and seen[0] >= before and seen[-1] == before + 24
