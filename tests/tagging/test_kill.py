"""A tagging batch killed with SIGKILL at random moments never leaves a half-written file."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from earmark.catalog import Catalog, journal
from earmark.ingest.scan import find_audio_files
from earmark.tagging import undo
from earmark.tags import write

FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff", "mp3", "flac", "m4a")
KILLS = 20

# The batch as a separate process: scan the files, plan, say "ready", write.
_BATCH = """
import sys
from earmark.catalog import Catalog, tracks
from earmark.ingest.scan import add_file
from earmark.tagging import apply_plans, load_policy, plan_track

db, *paths = sys.argv[1:]
catalog = Catalog(db)
policy = load_policy().with_(mode="overwrite")
genres = {"genre": lambda track: [("rock", 0.9), ("jazz", 0.6)]}
plans = [plan_track(catalog, add_file(catalog, p, verify=False), genres, policy) for p in paths]
print("ready", flush=True)
batch, results = apply_plans(catalog, plans)
print(" ".join(r.status for r in results), flush=True)
"""


def _start(db: Path, paths: list[Path]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _BATCH, str(db), *map(str, paths)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _leftovers(folder: Path) -> list[str]:
    return [name for name in os.listdir(folder) if write.is_leftover(name)]


@pytest.mark.slow
def test_sigkill_leaves_every_file_old_or_new(music_files, tmp_path):
    originals = {}
    for i, fmt in enumerate(FORMATS):
        originals[f"{i:02d} song.{fmt}"] = music_files[fmt].read_bytes()
    # What each file looks like fully tagged: one uninterrupted run on a copy.
    reference = tmp_path / "reference"
    reference.mkdir()
    for name, data in originals.items():
        (reference / name).write_bytes(data)
    ref_paths = sorted(reference.iterdir())
    done = _start(tmp_path / "reference.sqlite", ref_paths)
    assert done.stdout.readline().strip() == "ready"
    started = time.monotonic()
    out, err = done.communicate(timeout=300)
    batch_seconds = time.monotonic() - started
    assert done.returncode == 0, err
    assert out.split() == ["written"] * len(FORMATS)
    tagged = {p.name: p.read_bytes() for p in ref_paths}
    assert all(tagged[n] != originals[n] for n in originals)

    rng = random.Random(5)
    outcomes = {"old": 0, "new": 0, "mixed runs": 0, "leftovers": 0}
    for attempt in range(KILLS):
        folder = tmp_path / f"run{attempt}"
        folder.mkdir()
        for name, data in originals.items():
            (folder / name).write_bytes(data)
        paths = sorted(folder.iterdir())
        db = tmp_path / f"run{attempt}.sqlite"
        proc = _start(db, paths)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        # Kill anywhere in the time an uninterrupted batch took (a little past its end too).
        proc.stdout.close()
        try:
            proc.wait(timeout=rng.uniform(0.0, 1.1 * batch_seconds))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()

        states = set()
        for path in paths:
            data = path.read_bytes()
            assert data in (originals[path.name], tagged[path.name]), path.name
            states.add("old" if data == originals[path.name] else "new")
        for state in states:
            outcomes[state] += 1
        outcomes["mixed runs"] += len(states) == 2
        outcomes["leftovers"] += bool(_leftovers(folder))
        # A leftover copy is never taken for music...
        found = sorted(Path(p) for p, problem in find_audio_files([folder]) if not problem)
        assert found == paths
        # ...and the next run removes it and finishes the job.
        rerun = _start(db, paths)
        _, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err
        assert _leftovers(folder) == []
        assert {p.name: p.read_bytes() for p in paths} == tagged
        if attempt < KILLS - 1:
            shutil.rmtree(folder)

    print(outcomes)
    # Some kills landed in the middle of the batch (some files new, others still old).
    assert outcomes["mixed runs"] >= 1

    # The journal of an interrupted-then-finished batch still undoes every file cleanly.
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    for name, data in originals.items():
        (pristine / name).write_bytes(data)
    with Catalog(db) as catalog:
        results = undo(catalog, journal.entries(catalog))
    assert len(results) == len(FORMATS)
    assert {r.status for r in results} == {"restored"}
    for path in paths:
        assert (write.tag_snapshot(write.open_tags(path))
                == write.tag_snapshot(write.open_tags(pristine / path.name)))
