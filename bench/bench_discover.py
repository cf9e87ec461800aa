"""Throughput of ``earmark discover``: candidates per minute from a local feed of real clips
(download with yt-dlp, decode, embed, score), against the same songs analysed from a local
folder (scan + embed + score: the work without the crawl), and the peak memory of each.

The clips are 6 s excerpts of the shared GTZAN mini clips (several per clip, at different
starts, so every one is distinct audio), served as MP3 from a feed on 127.0.0.1 with no
politeness delay (a real crawl is bound by ``--delay`` per site instead). The listener has
rated 20 other excerpts (likes jazz, classical and blues). Each pipeline runs in a process of
its own so its peak resident memory (``getrusage``) is its own.

    python bench/bench_discover.py            # 200 clips; --n to change
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "discover"))
from _util import markdown_table  # noqa: E402
from earmark.catalog import Catalog, ratings, tracks  # noqa: E402
from earmark.settings import settings  # noqa: E402

# torch and the analysis are imported inside the phases: the engine's worker processes import
# this script again as their main module before each batch, and must find it light.

GTZAN = ROOT.parent / "shared" / "data" / "gtzan-mini-dev"
CACHE = settings().cache_dir / "bench" / "discover"
LIKED = ("jazz", "classical", "blues")
SECONDS = 6.0
STARTS = (0.0, 6.0, 12.0, 18.0)  # candidates; the library's excerpts start at 24 s


def _excerpt(src: Path, dst: Path, start: float, codec: list[str]) -> Path:
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", str(start), "-i",
                        str(src), "-t", str(SECONDS), *codec, str(dst)], check=True)
    return dst


def make_clips(n: int) -> tuple[list[Path], list[Path]]:
    """``(candidates, library)``: ``n`` MP3 candidate excerpts and 20 FLAC library ones."""
    clips = sorted(GTZAN.glob("*/*.flac"))
    if not clips:
        sys.exit(f"no GTZAN clips in {GTZAN}")
    wanted = [(clip, start) for start in STARTS for clip in clips][:n]
    candidates = [_excerpt(c, CACHE / "candidates" / f"{c.stem}@{s:g}.mp3", s,
                           ["-c:a", "libmp3lame", "-b:a", "128k"]) for c, s in wanted]
    by_genre: dict[str, list[Path]] = {}
    for clip in clips:
        by_genre.setdefault(clip.parent.name, []).append(clip)
    library = [_excerpt(c, CACHE / "library" / c.parent.name / f"{c.stem}@24.flac", 24.0,
                        ["-c:a", "flac"]) for g in sorted(by_genre) for c in by_genre[g][:2]]
    return candidates, library


def make_library(songs: list[Path], db: Path) -> None:
    from earmark.analysis.embed import embed_tracks
    from earmark.ingest.scan import scan
    from earmark.taste.model import current_taste

    with Catalog(db) as catalog:
        scan(catalog, [songs[0].parents[1]])
        embed_tracks(catalog)
        for song in songs:
            verdict = "like" if song.parent.name in LIKED else "dislike"
            ratings.add_rating(catalog, tracks.get_track(catalog, song).id, verdict)
        current_taste(catalog)  # trained and saved once, outside the timings


def crawl_phase(db: Path, clips: list[Path]) -> dict:
    from discover_site import Site

    from earmark.discover.crawl import Crawl, Limits, Seed

    site = Site()
    try:
        feed = site.add_feed("/feed.xml", "bench", [
            (clip.stem, site.add_file(f"/audio/{clip.name}", clip)) for clip in clips])
        limits = Limits(max_candidates=len(clips), max_downloads=len(clips),
                        per_source=len(clips), delay=0.0, expand_above=1.1)
        start = time.perf_counter()
        with Catalog(db) as catalog:
            report = Crawl(catalog, limits, min_score=0.5).run([Seed("feed", feed)])
        wall = time.perf_counter() - start
    finally:
        site.stop()
    return {"songs": len(report.items), "wall": wall,
            "inbox": report.count("inbox"), "failed": report.count("failed")}


def local_phase(db: Path, clips: list[Path]) -> dict:
    from earmark.analysis.embed import embed_tracks
    from earmark.engine import default_engine
    from earmark.ingest.scan import scan
    from earmark.models.registry import ZERO_SHOT_MODELS
    from earmark.taste.model import current_taste
    from earmark.taste.recommend import recommend

    start = time.perf_counter()
    with Catalog(db) as catalog:
        folder = clips[0].parent
        scan(catalog, [folder], engine=default_engine())
        ids = [t.id for t in tracks.iter_tracks(catalog, "ok", folder)]
        embed_tracks(catalog, ZERO_SHOT_MODELS, ids)
        found = recommend(catalog, current_taste(catalog), top=None, under=folder)
    wall = time.perf_counter() - start
    return {"songs": len(found), "wall": wall,
            "inbox": sum(1 for r in found if r.score >= 0.5), "failed": 0}


def run_phase(phase: str, db: Path, clips_list: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--phase", phase, "--db", str(db),
                          "--clips", str(clips_list)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="candidates in the feed")
    parser.add_argument("--phase", choices=("crawl", "local"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--clips", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        clips = [Path(p) for p in args.clips.read_text().splitlines()]
        result = (crawl_phase if args.phase == "crawl" else local_phase)(args.db, clips)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    candidates, library = make_clips(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "library.sqlite"
        make_library(library, base)
        listing = Path(tmp) / "clips.txt"
        listing.write_text("\n".join(map(str, candidates)))
        results = {}
        for phase in ("crawl", "local"):
            db = Path(tmp) / phase / "catalog.sqlite"
            db.parent.mkdir()
            shutil.copyfile(base, db)
            results[phase] = run_phase(phase, db, listing)
    reference = results["local"]["songs"] / results["local"]["wall"]
    rows = []
    for phase, name in (("crawl", "discover: local feed, yt-dlp download, delay 0"),
                        ("local", "reference: scan + embed + score the same files")):
        r = results[phase]
        per_minute = 60 * r["songs"] / r["wall"]
        rows.append([name, r["songs"], r["inbox"], r["failed"], f"{r['wall']:.1f}",
                     f"{per_minute:.0f}", f"{r['songs'] / r['wall'] / reference:.2f}x",
                     f"{r['peak_mb']:.0f}"])
    print(markdown_table(rows, ["pipeline", "songs", "inbox", "failed", "wall s", "songs/min",
                                "vs reference", "peak RSS MB"]))


if __name__ == "__main__":
    main()
