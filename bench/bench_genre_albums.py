"""Album pooling on the shared GTZAN mini set: one genre decision per album vs per track.

Pseudo-albums of neighbouring clips: the first three and the next three clips of each genre
(neighbouring GTZAN clips often share an artist and record) are two albums, and four mixed
albums of three clips of two different genres each show that pooling does not force songs that
really differ into one genre. The pseudo-albums are given to the pooling rule directly, as the
songs of an album-tagged album or of a one-artist folder of at most
``earmark.tagging.albums.FOLDER_ALBUM_MAX`` songs reach it (the clips carry no tags, so which
folders `earmark tag` takes for albums does not change what this measures). Each song's
evidence is the genre confidences that `earmark embed` stored in the catalog: by default the
calibrated zero-shot genres of MSD and MTT musicnn together, what `earmark tag` uses (``--model
MSD_musicnn`` for one tagger alone); pooling is :func:`earmark.tagging.albums.pool_album`, the
rule `earmark tag` applies by default. Accuracy counts the 48 clips whose genre the vocabulary
covers (not disco, not reggae); "at 0.30" counts only songs whose written genre clears the
default `--min-confidence`. The catalog is cached at
``~/.cache/earmark/bench/genre_albums.sqlite`` (built on first use: scan + embed, ~1 minute).

    python bench/bench_genre_albums.py            # prints the table
    python bench/bench_genre_albums.py --append   # and appends it to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import markdown_table  # noqa: E402
from earmark.catalog import Catalog, tracks  # noqa: E402
from earmark.catalog.predictions import load_predictions  # noqa: E402
from earmark.tagging.albums import pool_album  # noqa: E402
from earmark.tagging.policy import canonical_genre, load_policy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GTZAN = Path(os.environ.get("EARMARK_SHARED", ROOT.parent / "shared")) / "data" / "gtzan-mini-dev"
CACHE = Path.home() / ".cache" / "earmark" / "bench" / "genre_albums.sqlite"
#: The taggers `earmark tag` uses by default, stored under their combination's name.
MODEL = "MSD_musicnn+MTT_musicnn"
UNCOVERED = {"disco", "reggae"}  # in neither tagger's vocabulary
MIXED = [("classical", "metal"), ("jazz", "hiphop"), ("blues", "pop"), ("country", "rock")]
THRESHOLD = 0.30
COMMAND = "python bench/bench_genre_albums.py --append"


def _evidence(db: Path, data: Path, model: str) -> dict[str, list[dict[str, float]]]:
    """GTZAN genre -> its clips' genre confidences (label -> 0..1) in clip order, from the
    catalog at ``db`` (scanned and embedded first when it lacks them)."""
    with Catalog(db) as catalog:
        rows = [t for t in tracks.iter_tracks(catalog) if Path(t.path).is_relative_to(data)]
        if len(rows) < 60 or any(load_predictions(catalog, t.id, "genres", model) is None
                                 for t in rows):
            from earmark.analysis.embed import embed_tracks
            from earmark.ingest.scan import scan

            scan(catalog, [str(data)])
            embed_tracks(catalog, model.split("+"))  # a combination: its taggers together
            rows = [t for t in tracks.iter_tracks(catalog) if Path(t.path).is_relative_to(data)]
        by_genre: dict[str, list[dict[str, float]]] = {}
        for track in sorted(rows, key=lambda t: t.path):
            payload = load_predictions(catalog, track.id, "genres", model)
            pairs = payload.items() if isinstance(payload, dict) else payload
            by_genre.setdefault(Path(track.path).parent.name, []).append(
                {label: float(c) for label, c in pairs})
    return by_genre


def _decide(album: list[dict[str, float]], pooled: bool, policy) -> list[tuple[str, float]]:
    """Per song, the written genre (canonical) and its confidence."""
    decision, agrees = pool_album(album) if pooled else (None, [False] * len(album))
    out = []
    for scores, ok in zip(album, agrees, strict=True):
        used = decision.scores if ok else scores
        label = max(used, key=lambda k: used[k])
        out.append((canonical_genre(label, policy) or label, used[label]))
    return out


def _albums(by_genre: dict[str, list[dict[str, float]]]
            ) -> Iterable[tuple[str, list[str], list[dict[str, float]]]]:
    """``(name, truths, evidence)`` per pseudo-album: two per genre, then the mixed ones."""
    for genre, clips in sorted(by_genre.items()):
        for part, (start, stop) in enumerate(((0, 3), (3, 6)), start=1):
            yield f"{genre} {part}", [genre] * 3, clips[start:stop]
    for a, b in MIXED:
        yield f"mixed {a}+{b}", [a] * 3 + [b] * 3, by_genre[a][:3] + by_genre[b][:3]


def section(db: Path = CACHE, data: Path = GTZAN, model: str = MODEL) -> str:
    """The album-pooling table and its findings as markdown (bench/bench_genre.py calls it)."""
    policy = load_policy()
    albums = list(_albums(_evidence(db, data, model)))
    rows = []
    stats = {}
    split_names: list[str] = []
    for pooled in (False, True):
        right = right_at = written = total = split_albums = 0
        for name, truths, album in albums:
            decided = _decide(album, pooled, policy)
            if not name.startswith("mixed") and len({label for label, _ in decided}) > 1:
                split_albums += 1
                if pooled:
                    split_names.append(f"{name} ({', '.join(label for label, _ in decided)})")
            for truth, (label, confidence) in zip(truths, decided, strict=True):
                if truth in UNCOVERED or name.startswith("mixed"):
                    continue
                expected = canonical_genre(truth, policy)  # GTZAN's "hiphop" is Hip-Hop
                total += 1
                right += label == expected
                if confidence >= THRESHOLD:
                    written += 1
                    right_at += label == expected
        stats[pooled] = right / total
        rows.append(["album pooling (default)" if pooled else "per track (--per-track)",
                     f"{right}/{total} ({right / total:.0%})", f"{written}/{total}",
                     f"{right_at}/{written} ({right_at / max(written, 1):.0%})",
                     f"{split_albums} of {len(albums) - len(MIXED)}"])
    mixed = []
    for name, _, album in albums:
        if name.startswith("mixed"):
            decided = [label for label, _ in _decide(album, True, policy)]
            mixed.append(f"{name}: {', '.join(decided)}")
    table = markdown_table(rows, ["decision", "top-1 right (48 covered clips)",
                                  f"written at {THRESHOLD:.2f}", "right of written",
                                  "same-genre albums given several genres"])
    verdict = "met" if stats[True] >= stats[False] else "NOT met"
    return "\n".join([
        f"### Album pooling ({model} evidence, gtzan-mini-dev pseudo-albums)", "",
        f"Command: `{COMMAND}`", "",
        "Pseudo-albums: clips 1-3 and 4-6 of each genre (20 albums); the mean of the songs' "
        "genre confidences decides, and a song whose confidence in the album's genre is below "
        "half its own best keeps its own (`earmark.tagging.albums.DISSENT_RATIO`).", "",
        table, "",
        f"- goal pooled accuracy >= per-track accuracy: {verdict} "
        f"({stats[True]:.0%} vs {stats[False]:.0%})",
        "- same-genre albums still given several genres after pooling (their songs' "
        "evidence really differs): " + "; ".join(split_names),
        "- mixed albums (3 + 3 clips of two genres; pooled decisions per song): "
        + "; ".join(mixed), ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=CACHE)
    parser.add_argument("--data", type=Path, default=GTZAN)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    text = section(args.db, args.data, args.model)
    print(text)
    if args.append:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as results:
            results.write("\n" + text)


if __name__ == "__main__":
    main()
