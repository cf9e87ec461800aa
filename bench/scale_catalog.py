"""The catalog half of bench/bench_scale.py (issue 16 item 3): re-scan and query times on a
generated 100,000-song library, each beside a named reference measured in the same run.

The library is real files: 100,000 tiny WAV files of distinct noise in an artist/album tree
(tests/scale/scale_builders.py), catalogued as a scan records them (rows written in one
transaction; a real first scan of 100,000 files would take hours of decoding here), with random
400-dim float32 embeddings (the size of MSD_musicnn's) and 60 ratings.

    python bench/scale_catalog.py                 # 100,000 songs
    python bench/scale_catalog.py --songs 20000   # smaller, quicker

Sections (each a function printing one markdown table): :func:`section_rescan`,
:func:`section_queries` (library calls), :func:`section_commands` (``similar``, ``recommend``
and ``playlist`` as whole commands, process start to exit, and where their time goes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "scale"))
from scale_builders import embed_randomly, record_rows, write_library  # noqa: E402

from _util import Timing, markdown_table, timed  # noqa: E402
from earmark.analysis.embed import embed_tracks  # noqa: E402
from earmark.catalog import Catalog, ratings, tracks  # noqa: E402
from earmark.catalog.embeddings import load_embeddings  # noqa: E402
from earmark.catalog.vectors import cache_folder, forget_tables, vector_table  # noqa: E402
from earmark.engine import LocalEngine  # noqa: E402
from earmark.ingest.scan import find_audio_files, scan  # noqa: E402
from earmark.taste.liking import saved_taste  # noqa: E402
from earmark.taste.model import DEFAULT_EMBEDDING, current_taste  # noqa: E402
from earmark.taste.recommend import QuerySong, recommend, similar  # noqa: E402

DIM = 400
EARMARK = [sys.executable, "-m", "earmark"]
#: The goal of issue 16 item 3 for a whole query command, in seconds of wall time.
COMMAND_GOAL = 1.0


def _best(fn, repeats: int = 3) -> Timing:
    """The least wall time and the least CPU time (this process and the commands it ran) of
    ``repeats`` calls: on a shared machine the least is the least disturbed, and CPU time
    moves much less than wall time when other processes load the cores."""
    times = timed(fn, repeats=repeats, warmup=0)
    return Timing(min(t.wall for t in times), min(t.cpu for t in times))


def _cli(*argv: str) -> Timing:
    """One ``earmark`` command, start-up included."""
    return _best(lambda: subprocess.run([*EARMARK, *argv], check=True,
                                        stdout=subprocess.DEVNULL), repeats=1)


def _table(rows: list[tuple[str, Timing]], what: str, reference: str) -> str:
    """Rows of timings beside the first row's CPU time, the reference."""
    base = rows[0][1].cpu
    return markdown_table([(name, t.wall, t.cpu, t.cpu / base) for name, t in rows],
                          [what, "wall s", "CPU s", f"x {reference} (CPU)"])


def build(folder: Path, songs: int) -> tuple[Path, Path]:
    """Write the library and its catalog under ``folder``: ``(library, catalog file)``."""
    library, db = folder / "library", folder / "catalog.sqlite"
    start = time.perf_counter()
    paths = write_library(library, songs)
    with Catalog(db) as catalog:
        ids = record_rows(catalog, paths)
        X = embed_randomly(catalog, ids, DEFAULT_EMBEDDING, dim=DIM)
        taste = np.random.default_rng(1).standard_normal(DIM)
        with catalog.transaction():
            for track_id, x in zip(ids[:60], X[:60], strict=True):
                ratings.add_rating(catalog, track_id, "like" if x @ taste > 0 else "dislike")
    print(f"built {songs} files and rows in {time.perf_counter() - start:.0f} s", flush=True)
    return library, db


def section_rescan(library: Path, db: Path) -> None:
    """Re-scan of the unchanged library against the floor (walking the folders and stat-ing
    every file) and against the catalog read row by row (a query per file, as before)."""
    def walk_and_stat() -> None:
        for folder, _, files in os.walk(library):
            for name in files:
                os.stat(os.path.join(folder, name))

    with Catalog(db) as catalog:
        def row_by_row() -> None:
            for path, _ in find_audio_files([library]):
                tracks.get_track(catalog, path)
                os.stat(path)

        def rescan() -> None:
            report = scan(catalog, [library], engine=LocalEngine(1))
            assert report.count("unchanged") == len(report.items)

        rows = [("walk + stat every file (floor)", _best(walk_and_stat)),
                ("a catalog query per file (before)", _best(row_by_row, 1)),
                ("scan(): re-scan, library call", _best(rescan))]
    rows.append(("earmark scan (CLI, start-up included)", _cli("scan", "--db", str(db),
                                                               str(library))))
    print(_table(rows, "unchanged re-scan", "floor"), flush=True)


def section_queries(library: Path, db: Path) -> None:
    """recommend / similar / playlist as library calls, against reading every embedding row by
    row (the plain bulk read any of them needs without the matrix). The matrix files are
    mapped, so reading one costs little until its pages are used; recommend's liking of every
    song and similar's unit-length rows are timed kept in memory (a long-running process),
    read from their files (a new process: the pages are mapped again) and computed (the first
    call after new embeddings or a retrained model)."""
    with Catalog(db) as catalog:
        first = tracks.get_track(catalog, next(find_audio_files([library]))[0])
        vector = load_embeddings(catalog, DEFAULT_EMBEDDING, [first.id])[1][0]
        query = QuerySong(first.path, vector, first.id, first.audio_hash)
        taste = current_taste(catalog)

        def cold_matrix() -> None:
            forget_tables()
            for path in cache_folder(catalog).glob("*.npy"):
                path.unlink()
            vector_table(catalog, DEFAULT_EMBEDDING)

        def matrix_file() -> None:
            forget_tables()  # as a new process: read from the file
            vector_table(catalog, DEFAULT_EMBEDDING)

        def drop_kept() -> None:
            forget_tables()
            folder = cache_folder(catalog)
            for path in [*folder.glob("*.unit.npy"), *folder.glob("*.liking-*.npy")]:
                path.unlink()

        def recommended(before: Callable[[], None] | None = None) -> Callable[[], object]:
            return lambda: (before and before(), recommend(catalog, taste, 20))

        def similar_songs(before: Callable[[], None] | None = None) -> Callable[[], object]:
            return lambda: (before and before(), similar(catalog, query, 10))

        rows = [("every embedding row by row (load_embeddings, reference)",
                 _best(lambda: load_embeddings(catalog, DEFAULT_EMBEDDING))),
                ("matrix from the catalog (cache rebuilt)", _best(cold_matrix)),
                ("matrix from its cache file (mapped)", _best(matrix_file)),
                ("matrix kept in memory (same generation)",
                 _best(lambda: vector_table(catalog, DEFAULT_EMBEDDING))),
                ("recommend(top 20), liking kept in memory", _best(recommended())),
                ("recommend(top 20), liking from its file", _best(recommended(forget_tables))),
                ("recommend(top 20), liking computed", _best(recommended(drop_kept))),
                ("similar(top 10), unit rows kept in memory", _best(similar_songs())),
                ("similar(top 10), unit rows from their file",
                 _best(similar_songs(forget_tables))),
                ("similar(top 10), unit rows computed", _best(similar_songs(drop_kept))),
                ("embed, nothing to do (selection only)",
                 _best(lambda: embed_tracks(catalog, DEFAULT_EMBEDDING)))]
    print(_table(rows, "query", "reference"), flush=True)


def _command_env(pycache: Path) -> dict[str, str]:
    """The environment the commands run in: bytecode cached (in ``pycache``, outside the
    source tree), as an installed earmark has it; a shell that sets PYTHONDONTWRITEBYTECODE
    would otherwise charge every command a quarter of a second of compiling earmark."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(pycache)}


def _imports_seconds(argv: list[str], env: dict[str, str]) -> float:
    """Seconds the process ``argv`` spends importing, by ``python -X importtime``: the sum of
    the top-level imports' cumulative times (those a command makes while running count too)."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    total = 0
    for line in done.stderr.splitlines():
        fields = line.split("|")
        if line.startswith("import time:") and len(fields) == 3 and \
                fields[1].strip().isdigit() and not fields[2].startswith("  "):
            total += int(fields[1])
    return total / 1e6


def _median_run(argv: list[str], env: dict[str, str], before: Callable[[], None] | None = None,
                repeats: int = 3) -> Timing:
    """Median wall and CPU time (the child's) of ``repeats`` runs of the process ``argv``
    after one untimed run; ``before`` is called before each run, untimed."""
    def once() -> None:
        if before is not None:
            before()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    once()
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        times.append(timed(lambda: subprocess.run(argv, env=env, check=True,
                                                  stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL),
                           repeats=1, warmup=0)[0])
    return Timing(statistics.median(t.wall for t in times),
                  statistics.median(t.cpu for t in times))


def section_commands(library: Path, db: Path) -> None:
    """``similar``, ``recommend`` and ``playlist`` as whole commands (process start to exit,
    median of 3 after a warm-up run) beside two references measured in the same run: a bare
    interpreter (``python -c pass``) and the CLI's start-up (``earmark --version``). Where the
    time goes: the interpreter, imports (``-X importtime``), and the rest (typer parsing the
    command line, opening the catalog, the query, printing). "Scores computed" rows delete the
    files the commands keep beside the vector table (unit-length rows, each taste model's
    P(like) of every song) before each run: the first command after new embeddings or a
    retrained model."""
    with Catalog(db) as catalog:
        first = tracks.get_track(catalog, next(find_audio_files([library]))[0])
        current_taste(catalog)  # trained and saved if need be, so the commands find it current
        assert saved_taste(catalog) is not None, "the taste model could not be saved"
        kept = cache_folder(catalog)

    def drop_kept() -> None:
        for path in [*kept.glob("*.unit.npy"), *kept.glob("*.liking-*.npy")]:
            path.unlink()

    out = library.parent / "mix.m3u8"  # in the bench's temporary folder
    commands = [
        ("earmark similar SONG --top 10", ["similar", "--db", str(db), first.path], None),
        ("earmark similar SONG, scores computed", ["similar", "--db", str(db), first.path],
         drop_kept),
        ("earmark recommend --top 20", ["recommend", "--db", str(db), "--top", "20"], None),
        ("earmark recommend, scores computed", ["recommend", "--db", str(db), "--top", "20"],
         drop_kept),
        ("earmark playlist OUT --seed SONG",
         ["playlist", "--db", str(db), str(out), "--seed", first.path], None),
        ("earmark playlist OUT (recommendations)", ["playlist", "--db", str(db), str(out)],
         None),
    ]
    with tempfile.TemporaryDirectory(prefix="earmark-pycache-") as pycache:
        env = _command_env(Path(pycache))
        bare = _median_run([sys.executable, "-c", "pass"], env)
        version = _median_run([*EARMARK, "--version"], env)
        rows = [("python -c pass (reference)", bare, 0.0),
                ("earmark --version (reference: CLI start-up)", version,
                 _imports_seconds(["-m", "earmark", "--version"], env))]
        for name, argv, before in commands:
            timing = _median_run([*EARMARK, *argv], env, before)
            if before is not None:
                before()
            rows.append((name, timing, _imports_seconds(["-m", "earmark", *argv], env)))
    table = [(name, t.wall, t.cpu, imports, max(t.wall - bare.wall - imports, 0.0),
              t.wall / version.wall, "yes" if t.wall < COMMAND_GOAL else "no")
             for name, t, imports in rows]
    print(markdown_table(table, ["command", "wall s (median of 3)", "CPU s", "imports s",
                                 "rest s", "x --version (wall)", f"< {COMMAND_GOAL:g} s"]),
          flush=True)


def section_catalog(songs: int = 100_000) -> None:
    """The three sections on one generated library of ``songs`` files (in a temporary
    folder)."""
    with tempfile.TemporaryDirectory(prefix="earmark-scale-") as folder:
        library, db = build(Path(folder), songs)
        section_rescan(library, db)
        section_queries(library, db)
        section_commands(library, db)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=100_000)
    section_catalog(parser.parse_args().songs)
