"""The explore map at 100,000 songs (issue 14 item 6): how long the layout takes, how the
sample-and-place layout keeps neighbours together, and how fast the page gets its points once
the layout is cached, each beside a named reference measured in the same run.

The catalog is generated rows (as bench/scale_catalog.py records them; one real file) with
400-dim float32 embeddings drawn around 20 "genre" centres, so that a map has something to
keep together, and 60 ratings so the points carry a predicted liking.

    python bench/bench_map.py                  # 100,000 songs
    python bench/bench_map.py --songs 20000    # smaller, quicker
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "scale"))
sys.path.insert(0, str(ROOT / "tests"))
from scale_builders import record_rows, write_library  # noqa: E402

from _util import markdown_table, timed  # noqa: E402
from earmark.analysis.map import LAID_OUT, embedding_map, layout_embeddings  # noqa: E402
from earmark.catalog import Catalog, ratings  # noqa: E402
from earmark.catalog.embeddings import store_embedding  # noqa: E402
from earmark.taste.model import DEFAULT_EMBEDDING  # noqa: E402

DIM = 400
CLUSTERS = 20


def build(folder: Path, songs: int) -> tuple[Path, np.ndarray]:
    """A catalog of ``songs`` rows with clustered embeddings: ``(catalog file, cluster of each
    song in track id order)``."""
    real = write_library(folder / "library", 1)
    paths = real + [str(folder / "library" / f"song {i:06d}.wav") for i in range(1, songs)]
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32)
    clusters = rng.integers(0, CLUSTERS, songs)
    X = centres[clusters] + 0.6 * rng.standard_normal((songs, DIM)).astype(np.float32)
    db = folder / "catalog.sqlite"
    with Catalog(db) as catalog:
        ids = record_rows(catalog, paths)
        hashes = dict(catalog.execute("SELECT id, content_hash FROM tracks").fetchall())
        with catalog.transaction():
            for track_id, vector in zip(ids, X, strict=True):
                store_embedding(catalog, track_id, DEFAULT_EMBEDDING, vector, hashes[track_id])
            for track_id, cluster in zip(ids[:60], clusters[:60], strict=True):
                ratings.add_rating(catalog, track_id, "like" if cluster < 10 else "dislike")
    order = np.argsort(ids)
    return db, clusters[order]


def neighbour_agreement(xy: np.ndarray, clusters: np.ndarray, rows: np.ndarray,
                        k: int = 10) -> float:
    """Of the ``k`` nearest map neighbours of each song in ``rows``, the share in its own
    cluster (1.0: the map keeps every cluster together; 1/CLUSTERS: a random map)."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k + 1).fit(xy)
    _, near = index.kneighbors(xy[rows])
    return float((clusters[near[:, 1:]] == clusters[rows, None]).mean())


def section_layout(db: Path, clusters: np.ndarray) -> None:
    """Seconds to lay out the whole library (sample of LAID_OUT + placing the rest), beside
    t-SNE of the same sample alone; and how well each part keeps clusters together."""
    with Catalog(db) as catalog:
        start = time.perf_counter()
        layout = embedding_map(catalog, refresh=True)
        ours = time.perf_counter() - start
        X = layout.vectors.matrix
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(X), min(LAID_OUT, len(X)), replace=False))
    start = time.perf_counter()
    layout_embeddings(X[sample], laid_out=len(sample))
    reference = time.perf_counter() - start
    placed = np.setdiff1d(np.arange(len(X)), sample)
    rows = [["t-SNE of the sample alone (reference)", f"{len(sample):,}", f"{reference:.1f}",
             "1.00"],
            [f"ours: sample + place the rest (laid_out={LAID_OUT})", f"{len(X):,}",
             f"{ours:.1f}", f"{ours / reference:.2f}"]]
    agreement = [["sampled songs (t-SNE)",
                  f"{neighbour_agreement(layout.xy, clusters, sample):.3f}"]]
    if len(placed):
        agreement.append(["placed songs (nearest sampled neighbour)",
                          f"{neighbour_agreement(layout.xy, clusters, placed[:20000]):.3f}"])
    agreement.append(["a random map would give", f"{1 / CLUSTERS:.3f}"])
    print(f"\n### Layout of {len(X):,} songs\n")
    print(markdown_table(rows, ["what", "songs", "seconds", "x reference"]))
    print(f"\nShare of each song's 10 nearest map neighbours in its own cluster "
          f"({CLUSTERS} clusters):\n")
    print(markdown_table(agreement, ["songs", "share"]))


def _p95(fn, repeats: int) -> tuple[float, float, float, float]:
    """``(median wall, p95 wall, median CPU, p95 CPU)`` seconds of ``repeats`` calls of
    ``fn``: on a loaded machine the CPU time is the work, the wall time adds the wait for a
    core."""
    times = timed(fn, repeats=repeats, warmup=0)
    walls, cpus = [t.wall for t in times], [t.cpu for t in times]
    return (float(np.median(walls)), float(np.percentile(walls, 95)),
            float(np.median(cpus)), float(np.percentile(cpus, 95)))


def section_page(db: Path) -> None:
    """Response times of the explore page's points (``/api/map``, layout cached) beside the
    library page's first page of songs (``/api/songs``), through the app."""
    from fastapi.testclient import TestClient

    from earmark.web import create_app

    port = 8123
    app = create_app(db, host="127.0.0.1", port=port)
    with TestClient(app, base_url=f"http://127.0.0.1:{port}") as client:
        client.get("/api/map")  # trains the taste model once, reads the cached layout
        size = len(client.get("/api/map").content)
        songs = _p95(lambda: client.get("/api/songs"), 10)
        points = _p95(lambda: client.get("/api/map"), 10)
    print("\n### The explore page's points, layout cached\n")
    print(markdown_table([
        ["/api/songs, first library page (reference)", *(f"{v:.3f}" for v in songs),
         "1.0", ""],
        ["/api/map, every song's point", *(f"{v:.3f}" for v in points),
         f"{points[3] / songs[3]:.1f}", f"{size / 1e6:.1f} MB"]],
        ["request", "median wall s", "p95 wall s", "median CPU s", "p95 CPU s",
         "p95 CPU x reference", "body"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        db, clusters = build(Path(tmp), args.songs)
        print(f"built {args.songs:,} rows in {time.perf_counter() - start:.0f} s", flush=True)
        section_layout(db, clusters)
        section_page(db)


if __name__ == "__main__":
    main()
