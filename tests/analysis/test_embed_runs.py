"""Long embed runs (issue 16): memory stays flat whatever the number of songs, and a run killed
with SIGKILL loses nothing it stored: running it again computes only the rest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from earmark.catalog import Catalog
from earmark.catalog.embeddings import load_embeddings
from music import asc_songs, gtzan_clip

ROOT = Path(__file__).resolve().parents[2]

# Embeds the catalog given in argv[1] with both taggers (sampled, the default), then prints
# this process's peak anonymous memory (RssAnon, sampled every 10 ms by a thread), in KiB.
# Not VmHWM: it counts the mapped pages of torch's 400 MB libraries, and how many of those are
# resident depends on the page cache (a freshly installed torch read 56 MB "bigger" on import
# than the same files installed hours before), not on earmark. Not getrusage's ru_maxrss either:
# Linux keeps it across fork and exec, so a child reports at least the test process's size.
_EMBED_AND_MEASURE = """
import sys, threading, time
from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog

peak, done = 0, threading.Event()

def watch():
    global peak
    while not done.is_set():
        with open("/proc/self/status") as status:
            kib = next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))
        peak = max(peak, kib)
        time.sleep(0.01)

watcher = threading.Thread(target=watch)
watcher.start()
with Catalog(sys.argv[1]) as catalog:
    report = embed_tracks(catalog)
done.set()
watcher.join()
assert len(report.done) == int(sys.argv[2]), report.failed
print(peak)
"""


def _library(folder: Path, songs: list[Path], copies: int) -> Path:
    """``copies`` of each song under names of their own, scanned into a catalog there."""
    folder.mkdir()
    for k in range(copies):
        for song in songs:
            shutil.copyfile(song, folder / f"{k}-{song.name}")
    db = folder / "catalog.sqlite"
    subprocess.run([sys.executable, "-m", "earmark", "scan", str(folder), "--db", str(db)],
                   check=True, capture_output=True)
    return db


def _peak_kib(db: Path, songs: int) -> int:
    done = subprocess.run([sys.executable, "-c", _EMBED_AND_MEASURE, str(db), str(songs)],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    return int(done.stdout.split()[-1])


@pytest.mark.slow
def test_peak_memory_of_embed_does_not_grow_with_the_number_of_songs(tmp_path):
    songs = asc_songs()  # full-length songs, four to seven minutes
    small = _peak_kib(_library(tmp_path / "n", songs, 1), len(songs))
    large = _peak_kib(_library(tmp_path / "2n", songs, 2), 2 * len(songs))
    assert large < 500 * 1024, f"peak {large / 1024:.0f} MiB"
    assert large - small < 40 * 1024, f"{small / 1024:.0f} MiB -> {large / 1024:.0f} MiB"


def _stored(db: Path) -> int:
    with Catalog(db) as catalog:
        return len(load_embeddings(catalog, "MSD_musicnn")[0])


@pytest.mark.slow
def test_an_embed_killed_mid_run_keeps_what_it_stored_and_the_rerun_does_only_the_rest(
        tmp_path):
    clips = [gtzan_clip(genre, n) for genre in ("blues", "rock", "pop") for n in range(4)]
    db = _library(tmp_path / "lib", clips, 1)
    embed = [sys.executable, "-m", "earmark", "embed", "--db", str(db), "--model", "msd",
             "--json"]
    run = subprocess.Popen(embed, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while _stored(db) < 2:
            assert run.poll() is None, "embed ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        seen = _stored(db)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
    kept = _stored(db)
    assert seen <= kept < len(clips), "every song stored before the kill is kept"
    again = subprocess.run(embed, check=True, capture_output=True, text=True)
    redone = [json.loads(line)["path"] for line in again.stdout.splitlines()]
    assert len(redone) == len(clips) - kept, "only the songs without an embedding are redone"
    assert _stored(db) == len(clips)
