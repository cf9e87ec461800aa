"""The library's paging (issue 14 item 2): a 100,000-song catalog must page as fast as a
100-song one.

Two generated catalogs (rows only: tracks with titles, artists, albums, genres and paths; 1 % of
the songs rated, half of them scored with a predicted liking) are queried the same way through
``earmark.catalog.search.search_songs`` and through the web app (FastAPI's TestClient, all
middleware included): the first page, a page half-way down (its cursor reached by paging), a
search, and the genre, rating and liking filters. The reference is the same request on the
100-song catalog, measured in the same run; the table gives the 95th percentiles of each
request's wall time and CPU time, and their ratios.

    python bench/bench_library.py [--songs 100000] [--repeats 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient  # noqa: E402

from _util import timed  # noqa: E402
from earmark.catalog import Catalog  # noqa: E402
from earmark.catalog.search import SongQuery, search_songs, store_liking  # noqa: E402
from earmark.web import create_app  # noqa: E402

GENRES = ["Rock", "Jazz", "Classical", "Hip-Hop", "Electronic", "Folk", "Metal", "Pop", "Blues",
          "Reggae"]
WORDS = ["blue", "night", "river", "fire", "dream", "stone", "light", "echo", "golden", "rain",
         "shadow", "heart", "wild", "silver", "ocean", "road", "ghost", "summer", "velvet", "iron"]
PORT = 8124


def generate_catalog(path: Path, songs: int, seed: int = 0) -> None:
    """A catalog of ``songs`` generated rows (a few artists per album, albums of ~10 songs)."""
    rng = random.Random(seed)
    rows = []
    for i in range(songs):
        artist = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i // 40}"
        album = f"{rng.choice(WORDS).title()} {i // 10}"
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))).title()
        rows.append((f"/music/{artist}/{album}/{i % 10 + 1:02d} {title}.flac", title, artist,
                     album, rng.choice(GENRES), 180.0 + rng.random() * 120, i))
    with Catalog(path) as catalog, catalog.transaction() as conn:
        conn.executemany(
            "INSERT INTO tracks (path, title, artist, album, genre, duration, status, added_at,"
            " scanned_at) VALUES (?, ?, ?, ?, ?, ?, 'ok', ?, 0)", rows)
        rated = rng.sample(range(1, songs + 1), max(1, songs // 100))
        conn.executemany("INSERT INTO ratings (track_id, verdict, rated_at) VALUES (?, ?, ?)",
                         [(i, rng.choice(["like", "dislike"]), n) for n, i in enumerate(rated)])
    with Catalog(path) as catalog:
        store_liking(catalog, {i: rng.random() for i in range(1, songs + 1, 2)})
        catalog.execute("ANALYZE")


def _halfway_cursor(catalog: Catalog, songs: int) -> str | None:
    after, seen = None, 0
    while seen < songs // 2:
        page = search_songs(catalog, limit=min(500, songs // 2 - seen) or 1, after=after)
        seen += len(page.songs)
        after = page.next_cursor
    return after


def _p95(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """95th percentiles (ms) of the wall time and of this process's CPU time of ``fn``: on a
    loaded machine the CPU time shows the work a request costs, the wall time also the wait
    for a core."""
    times = timed(fn, repeats=repeats, warmup=1)
    return tuple(statistics.quantiles(t, n=20)[-1] * 1000
                 for t in ([t.wall for t in times], [t.cpu for t in times]))


def measure(path: Path, songs: int, repeats: int) -> dict[str, tuple[float, float]]:
    """p95 in ms (wall, CPU) of each request on the catalog at ``path``."""
    results = {}
    with Catalog(path) as catalog:
        halfway = _halfway_cursor(catalog, songs)
        queries = {
            "first page": {},
            "page half-way down": {"after": halfway},
            "search 'golden river'": {"query": SongQuery(text="golden river")},
            "genre Jazz": {"query": SongQuery(genre="Jazz")},
            "rated like": {"query": SongQuery(rating="like")},
            "liking >= 0.9": {"query": SongQuery(min_liking=0.9)},
            "sort title, descending": {"sort": "title", "descending": True},
        }
        for name, kwargs in queries.items():
            results[f"search_songs: {name}"] = _p95(
                lambda kw=kwargs: search_songs(catalog, **kw), repeats)
    app = create_app(path, port=PORT, cache_dir=path.parent / "cache")
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as client:
        pages = {"library page": "/", "library page half-way down": f"/?after={halfway}",
                 "library search": "/?q=golden+river", "/api/songs?genre=Jazz":
                 "/api/songs?genre=Jazz"}
        for name, url in pages.items():
            def get(url=url):
                assert client.get(url).status_code == 200
            results[f"web: {name}"] = _p95(get, repeats)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        small, large = Path(folder) / "small.sqlite", Path(folder) / "large.sqlite"
        generate_catalog(small, 100)
        start = time.perf_counter()
        generate_catalog(large, args.songs)
        print(f"generated {args.songs} rows in {time.perf_counter() - start:.1f} s\n")
        reference = measure(small, 100, args.repeats)
        ours = measure(large, args.songs, args.repeats)
    print(f"| request | p95 wall, 100 songs (reference) | p95 wall, {args.songs:,} songs "
          "| ratio | p95 CPU, 100 | p95 CPU, 100k | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, (wall, cpu) in ours.items():
        ref_wall, ref_cpu = reference[name]
        print(f"| {name} | {ref_wall:.1f} ms | {wall:.1f} ms | {wall / ref_wall:.2f}x "
              f"| {ref_cpu:.1f} ms | {cpu:.1f} ms | {cpu / ref_cpu:.2f}x |")

if __name__ == "__main__":
    main()
