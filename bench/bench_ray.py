"""Songs per minute, local engine vs Ray, on the same files (issue 16, the Ray engine).

Each run embeds the same songs into a fresh catalog, as ``earmark embed`` does (both taggers,
the default sampling), in this process: once on the local engine (threads sharing the
models), then twice on a one-node Ray cluster of earmark's own
(:class:`earmark.engine.ray.RayEngine` without an address: tasks of one CPU, as many CPUs as
this machine's cores): workers reading the files at their paths
(``EARMARK_RAY_FILES=shared``), then sent every file's bytes by the driver (``bytes``, as for
nodes without the music). Start-up (loading the taggers, the first song; for Ray also the
cluster's start and its workers' first import) is timed apart and left out of the rate. A
section of ``bench/bench_scale.py``; alone:

    python bench/bench_ray.py [SONG ...]     # default: the asc-music songs
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import markdown_table  # noqa: E402

ASC_MUSIC = Path("/usr/share/games/asc/music")


def _embed_rate(paths: list[str], engine) -> tuple[float, float]:
    """``(seconds a song after the first, start-up seconds)`` of embedding ``paths`` on
    ``engine`` into a fresh catalog."""
    from earmark.analysis.embed import embed_tracks
    from earmark.catalog import Catalog
    from earmark.engine import LocalEngine
    from earmark.ingest.scan import scan

    with tempfile.TemporaryDirectory() as tmp, Catalog(Path(tmp) / "c.sqlite") as catalog:
        scan(catalog, paths, engine=LocalEngine())
        stamps: list[float] = []
        start = time.perf_counter()
        embed_tracks(catalog, engine=engine,
                     progress=lambda done, total, path: stamps.append(time.perf_counter()))
    # stamps[0]: before loading the taggers; stamps[1]: the first song done.
    return (stamps[-1] - stamps[1]) / max(1, len(stamps) - 2), stamps[1] - start


def section_ray(songs: list[Path]) -> str:
    """One markdown table: s/song, songs/minute and start-up, local vs Ray (files shared, files
    as bytes), same songs."""
    from earmark.engine import LocalEngine, usable_cores
    from earmark.engine.ray import RayEngine
    from earmark.settings import override_settings

    paths = [str(p) for p in songs]
    cores = usable_cores()
    local_per_song, local_start = _embed_rate(paths, LocalEngine(cores))
    ray = RayEngine(workers=cores)
    started = time.perf_counter()
    ray.connect()
    cluster_start = time.perf_counter() - started
    try:
        with override_settings(ray_files="shared"):
            ray_per_song, ray_start = _embed_rate(paths, ray)
        with override_settings(ray_files="bytes"):
            bytes_per_song, bytes_start = _embed_rate(paths, ray)
    finally:
        ray.close()
    rows = [
        ["local (threads)", len(paths), local_per_song, 60 / local_per_song, local_start, 1.0],
        ["ray (one-node cluster, tasks), files shared", len(paths), ray_per_song,
         60 / ray_per_song, cluster_start + ray_start, local_per_song / ray_per_song],
        ["ray, files sent as bytes", len(paths), bytes_per_song, 60 / bytes_per_song,
         bytes_start, local_per_song / bytes_per_song],
    ]
    return (f"### Local vs Ray engine, {len(paths)} songs, {cores} cores\n\n"
            + markdown_table(rows, ["engine", "songs", "s/song", "songs/minute",
                                    "start-up s (cluster + first song)", "x local"]))


if __name__ == "__main__":
    chosen = [Path(p) for p in sys.argv[1:]] or sorted(ASC_MUSIC.glob("*.mp3"))
    print(section_ray(chosen))
