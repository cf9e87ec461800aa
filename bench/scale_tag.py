"""``earmark tag --dry-run`` over a generated catalog of 100,000 songs with stored genres (issue
16 item 3: ``tag`` streams over the catalog): peak memory and time of the command.

The library is real files (tiny WAV files of noise in an artist/album tree of 12 songs a folder,
tests/scale/scale_builders.py), catalogued with their real content hashes (so every file is
planned, as after a scan) and stored genres of the default model for every song: the songs of
one album lean to one genre, so album pooling decides most of them. Nothing is listened to; the
run reads the catalog, checks and opens every file, plans it and prints the preview.

    python bench/scale_tag.py                   # 100,000 songs
    python bench/scale_tag.py --songs 20000     # smaller, quicker
    python bench/scale_tag.py --keep DIR        # build once into DIR and reuse it

Memory is the peak anonymous resident memory of the command's process (``RssAnon`` sampled
every 20 ms: the mapped pages of torch's libraries are not counted), beside the same peak of
``earmark --version`` (the start-up reference: imports and nothing else).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "scale"))
from scale_builders import SONGS_PER_ALBUM, write_library  # noqa: E402

from _util import markdown_table  # noqa: E402
from earmark.analysis.genres import GENRES, combination_name  # noqa: E402
from earmark.audio import content_hash  # noqa: E402
from earmark.catalog import Catalog, tracks  # noqa: E402
from earmark.catalog.predictions import store_predictions  # noqa: E402
from earmark.ingest.scan import inspect_file  # noqa: E402
from earmark.models.registry import ZERO_SHOT_MODELS  # noqa: E402

EARMARK = [sys.executable, "-m", "earmark"]


def store_genres(catalog: Catalog, track_ids: list[int], seed: int = 0) -> None:
    """Store genres of the default model (both taggers) for every track, in one transaction:
    each album (:data:`SONGS_PER_ALBUM` consecutive ids) leans to one genre, its songs' own
    evidence scattered around it, every genre scored as the real model scores them."""
    rng = np.random.default_rng(seed)
    name = combination_name(ZERO_SHOT_MODELS)
    with catalog.transaction():
        for index, track_id in enumerate(track_ids):
            if index % SONGS_PER_ALBUM == 0:
                lean = rng.integers(len(GENRES))
            scores = rng.uniform(0.0, 0.25, len(GENRES))
            scores[lean] += rng.uniform(0.1, 0.5)
            store_predictions(catalog, track_id, name, {
                "genres": {g: round(float(s), 4) for g, s in zip(GENRES, scores, strict=True)},
                "audio": {"silent": False}})


def build(folder: Path, songs: int) -> Path:
    """Write the library and its catalog under ``folder`` (kept when both exist); the
    catalog file."""
    db = folder / "catalog.sqlite"
    if db.exists():
        return db
    start = time.perf_counter()
    paths = write_library(folder / "library", songs)
    template = inspect_file(paths[0], verify=False)
    with Catalog(db) as catalog:
        with catalog.transaction():
            ids = []
            for path in paths:
                st = Path(path).stat()
                ids.append(tracks.record_track(catalog, dict(
                    template, path=path, content_hash=content_hash(path),
                    audio_hash=content_hash(path), size=st.st_size, mtime_ns=st.st_mtime_ns)))
        store_genres(catalog, ids)
    print(f"built {songs} files and rows in {time.perf_counter() - start:.0f} s", flush=True)
    return db


def _status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_run(argv: list[str]) -> tuple[float, float, float, int]:
    """Run ``earmark ARGV`` (output discarded): ``(wall s, CPU s, peak RssAnon MiB, exit
    code)``; CPU is user + system time, which moves much less than wall time on a loaded
    machine."""
    start = time.perf_counter()
    child = subprocess.Popen([*EARMARK, *argv], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    peak = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _status_kib(child.pid, "RssAnon") or 0)
        time.sleep(0.02)
    return (time.perf_counter() - start, usage.ru_utime + usage.ru_stime, peak / 1024,
            os.waitstatus_to_exitcode(status))


def section_tag(db: Path, songs: int) -> None:
    """One markdown table: start-up, then ``tag --catalog --dry-run`` as text and as JSON."""
    rows = []
    for name, argv in [("earmark --version (start-up reference)", ["--version"]),
                       ("earmark tag --catalog --dry-run", ["tag", "--catalog", "--dry-run",
                                                            "--db", str(db)]),
                       ("earmark tag --catalog --dry-run --json",
                        ["tag", "--catalog", "--dry-run", "--json", "--db", str(db)])]:
        wall, cpu, peak, code = peak_run(argv)
        rows.append((name, songs, wall, cpu, peak, code))
        print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RssAnon {peak:.0f} MiB, "
              f"exit {code}", flush=True)
    print(markdown_table(rows, ["command", "songs", "wall s", "CPU s", "peak RssAnon MiB",
                                "exit"]), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build into this folder, or reuse it")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        section_tag(build(args.keep, args.songs), args.songs)
    else:
        with tempfile.TemporaryDirectory(prefix="earmark-scale-tag-") as folder:
            section_tag(build(Path(folder), args.songs), args.songs)
