"""The web app at 100,000 songs (issue 14 Bench): 95th-percentile response times of the library
page, a search, the song page (and the three requests its script makes) and a radio request,
each under 100 ms.

Two catalogs are built the same way: generated rows (bench_library.generate_catalog: titles,
artists, albums, genres, 1 % rated, half with a predicted liking) with a distinct content hash
each and a random unit-norm 200-dim float32 embedding each (MSD_musicnn's size), plus five real
30 s GTZAN clips with their real MSD_musicnn embeddings: the song pages and radios start from
those. Every request goes through the real app and its middleware (FastAPI's TestClient). The
reference is the same request on the catalog of 100 generated rows, measured in the same run;
each seed song's first request is a warm-up (the song's labels are computed and stored then, the
taste model is trained and saved, the embedding matrix is cached beside the catalog).

    python bench/bench_web.py [--songs 100000] [--repeats 100]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "scale"))

from fastapi.testclient import TestClient  # noqa: E402
from scale_builders import embed_randomly  # noqa: E402

from bench_library import PORT, _p95, generate_catalog  # noqa: E402
from earmark.catalog import Catalog  # noqa: E402
from earmark.catalog.embeddings import store_embedding  # noqa: E402
from earmark.ingest.scan import add_file  # noqa: E402
from earmark.settings import EMBEDDING_MODEL  # noqa: E402
from earmark.web import create_app  # noqa: E402

GTZAN = Path("/work/shared/data/gtzan-mini-dev")
#: The real songs (GTZAN genre, clip) every song page and radio starts from.
REAL = [("jazz", 0), ("rock", 0), ("classical", 0), ("hiphop", 0), ("reggae", 0)]
GOAL_MS = 100.0


def real_songs() -> tuple[list[Path], np.ndarray]:
    """The ``REAL`` clips and their MSD_musicnn embeddings ``(5, 200)``."""
    from earmark.analysis.songs import song_embedding
    from earmark.models.musicnn import load_musicnn

    paths = [GTZAN / genre / f"{genre}.{n:05d}.flac" for genre, n in REAL]
    model = load_musicnn(EMBEDDING_MODEL)
    return paths, np.stack([song_embedding(p, model)[0] for p in paths])


def build(path: Path, songs: int, clips: list[Path], vectors: np.ndarray) -> list[int]:
    """The catalog described above at ``path``; the real songs' track ids."""
    generate_catalog(path, songs)
    with Catalog(path) as catalog:
        with catalog.transaction() as conn:  # generated rows have no file to hash
            conn.execute("UPDATE tracks SET content_hash = printf('%032x', id),"
                         " audio_hash = printf('%032x', id)")
        ids = [row[0] for row in catalog.execute("SELECT id FROM tracks ORDER BY id")]
        embed_randomly(catalog, ids, EMBEDDING_MODEL, dim=vectors.shape[1])
        real = []
        for clip, vector in zip(clips, vectors, strict=True):
            track = add_file(catalog, clip, verify=False)
            store_embedding(catalog, track.id, EMBEDDING_MODEL, vector, track.content_hash)
            real.append(track.id)
        catalog.execute("ANALYZE")
    return real


def requests(seeds: list[int]) -> dict[str, object]:
    """Name -> URL, or a function of a seed id giving one (cycled over ``seeds``)."""
    return {
        "library page": "/",
        "library search 'golden river'": "/?q=golden+river",
        "song page (HTML)": lambda i: f"/songs/{i}",
        "song page: labels": lambda i: f"/api/songs/{i}/labels",
        "song page: similar songs": lambda i: f"/api/songs/{i}/similar",
        "radio (20 songs)": lambda i: f"/api/songs/{i}/radio?count=20",
        "audio, first 64 KiB (Range)": lambda i: f"/api/songs/{i}/audio",
    }


def measure(path: Path, seeds: list[int], repeats: int) -> dict[str, tuple[float, float]]:
    """p95 in ms (wall, CPU) of each request on the catalog at ``path``."""
    app = create_app(path, port=PORT, cache_dir=path.parent / f"{path.stem}-cache")
    results = {}
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as client:
        def get(url: str) -> None:
            headers = {"Accept": "text/html", "Range": "bytes=0-65535"}
            reply = client.get(url, headers=headers)
            assert reply.status_code in (200, 206), (url, reply.status_code, reply.text[:300])

        for name, url in requests(seeds).items():
            if callable(url):
                for seed in seeds:  # warm-up: labels stored, taste model trained, matrix cached
                    get(url(seed))
                cycle = itertools.cycle(seeds)
                results[name] = _p95(lambda u=url, c=cycle: get(u(next(c))), repeats)
            else:
                results[name] = _p95(lambda u=url: get(u), repeats)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    clips, vectors = real_songs()
    with tempfile.TemporaryDirectory(prefix="earmark-bench-web-") as folder:
        small, large = Path(folder) / "small.sqlite", Path(folder) / "large.sqlite"
        small_seeds = build(small, 100, clips, vectors)
        start = time.perf_counter()
        large_seeds = build(large, args.songs, clips, vectors)
        print(f"built {args.songs:,} rows + {len(clips)} real songs in "
              f"{time.perf_counter() - start:.0f} s\n", flush=True)
        reference = measure(small, small_seeds, args.repeats)
        ours = measure(large, large_seeds, args.repeats)
    print(f"| request | p95 wall, 100 songs (reference) | p95 wall, {args.songs:,} songs "
          f"| ratio | p95 CPU, 100 | p95 CPU, {args.songs:,} | ratio | under {GOAL_MS:.0f} ms? |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (wall, cpu) in ours.items():
        ref_wall, ref_cpu = reference[name]
        print(f"| {name} | {ref_wall:.1f} ms | {wall:.1f} ms | {wall / ref_wall:.2f}x "
              f"| {ref_cpu:.1f} ms | {cpu:.1f} ms | {cpu / ref_cpu:.2f}x "
              f"| {'yes' if wall < GOAL_MS else 'no'} |")


if __name__ == "__main__":
    main()
