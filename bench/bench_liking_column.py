"""What keeping the taste model and the library's liking column fresh costs at 100,000 songs.

Every taste model saved rescores the library's liking column
(:func:`earmark.taste.model.score_library`: P(like) of every song, then one ``executemany`` of
every score in one transaction), and every ``recommend``/``playlist``/radio asks whether the
saved model is still current (:func:`earmark.catalog.ratings.ratings_fingerprint`, one query
over the rated songs and their embeddings). Both are timed beside a named reference measured
in the same run: the retraining itself (``train_taste`` without saving: fit and
cross-validation), which the rescoring follows.

The catalog is generated rows (tests/scale/scale_builders.py: one real WAV file, the other rows
cataloged as a scan records them, random unit-length 400-dim embeddings) with ``--ratings``
songs rated.

    python bench/bench_liking_column.py                      # 100,000 songs, 60 ratings
    python bench/bench_liking_column.py --songs 20000 --ratings 2000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "scale"))
from scale_builders import embed_randomly, record_rows, write_library  # noqa: E402

from _util import Timing, markdown_table, timed  # noqa: E402
from earmark.catalog import Catalog, ratings  # noqa: E402
from earmark.catalog.search import store_liking  # noqa: E402
from earmark.catalog.vectors import cache_folder, forget_tables, vector_table  # noqa: E402
from earmark.taste.model import DEFAULT_EMBEDDING, score_library, train_taste  # noqa: E402
from earmark.taste.recommend import library_liking  # noqa: E402

DIM = 400


def build(folder: Path, songs: int, rated: int) -> Path:
    """A catalog of ``songs`` rows with embeddings, ``rated`` of them rated; its path."""
    real = write_library(folder / "library", 1)
    paths = real + [f"{folder}/library/generated/{i:06d}.wav" for i in range(songs - 1)]
    db = folder / "catalog.sqlite"
    with Catalog(db) as catalog:
        ids = record_rows(catalog, paths)
        X = embed_randomly(catalog, ids, DEFAULT_EMBEDDING, dim=DIM)
        taste = np.random.default_rng(1).standard_normal(DIM)
        with catalog.transaction():
            for track_id, x in zip(ids[:rated], X[:rated], strict=True):
                ratings.add_rating(catalog, track_id, "like" if x @ taste > 0 else "dislike")
    return db


def _least(fn, repeats: int) -> Timing:
    """The least wall and the least CPU time of ``repeats`` calls (the least disturbed)."""
    times = timed(fn, repeats=repeats, warmup=0)
    return Timing(min(t.wall for t in times), min(t.cpu for t in times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--songs", type=int, default=100_000)
    parser.add_argument("--ratings", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Catalog(build(Path(tmp), args.songs,
                                                             args.ratings)) as catalog:
        taste = train_taste(catalog)  # saved: the column holds its scores from here on
        table = vector_table(catalog, DEFAULT_EMBEDDING)
        scores = dict(zip(table.track_ids.tolist(), library_liking(table, taste).tolist(),
                          strict=True))

        def computed_scores() -> None:
            forget_tables()  # the table again from its cache file, the scores computed
            for old in cache_folder(catalog).glob("*.liking-*.npy"):
                old.unlink()
            library_liking(vector_table(catalog, DEFAULT_EMBEDDING), taste)

        rows = [("train_taste, not saved: fit + cross-validation (reference)",
                 _least(lambda: train_taste(catalog, save=False), args.repeats)),
                ("score_library: scores computed + column written",
                 _least(lambda: (computed_scores(), score_library(catalog, taste)),
                        args.repeats)),
                ("  library_liking: P(like) of every song computed",
                 _least(computed_scores, args.repeats)),
                ("  store_liking: every score written (one transaction)",
                 _least(lambda: store_liking(catalog, scores), args.repeats)),
                ("ratings_fingerprint: is the saved model current? (every recommend)",
                 _least(lambda: ratings.ratings_fingerprint(catalog, DEFAULT_EMBEDDING),
                        args.repeats))]
    base = rows[0][1].cpu
    print(f"{args.songs} songs, {args.ratings} rated, least of {args.repeats}")
    print(markdown_table([(name, t.wall, t.cpu, t.cpu / base) for name, t in rows],
                         ["step", "wall s", "CPU s", "x retraining (CPU)"]))


if __name__ == "__main__":
    main()
