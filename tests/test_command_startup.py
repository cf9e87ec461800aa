"""``similar``, ``recommend`` and ``playlist`` answer from stored embeddings without importing
torch or scikit-learn (issue 16 item 3: under a second at 100,000 songs, whole command), and
give what the library calls give.

The catalog is real: short GTZAN excerpts scanned, embedded by MSD_musicnn and rated, with the
taste model trained and saved. Each command runs as its own process under
``python -X importtime``, whose report on stderr lists every module the process imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog, ratings, tracks
from earmark.catalog.embeddings import load_embeddings
from earmark.catalog.vectors import cache_folder, forget_tables, vector_table
from earmark.ingest.scan import scan
from earmark.models.io import load_model
from earmark.taste.active import l2_normalise
from earmark.taste.liking import LikeScorer, StarScorer, load_taste_model, taste_model_path
from earmark.taste.model import TASTE_TYPES, current_taste
from earmark.taste.ratings_io import read_m3u
from earmark.taste.recommend import (
    library_liking,
    recommend,
    similar,
    stored_query,
    unit_table,
)
from music import gtzan_clip, transcode

MODEL = "MSD_musicnn"
#: Modules a query command must not import: the network and the taste model's training.
HEAVY = ("torch", "sklearn", "scipy")
#: (genre, clip) of the excerpts; the listener likes jazz and classical. The last of each
#: genre stays unrated, to be recommended.
EXCERPTS = [(g, n) for g in ("jazz", "classical", "metal", "disco", "hiphop") for n in (0, 4, 5)]
LIKED = ("jazz", "classical")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict:
    """15 real 4 s excerpts scanned and embedded in a catalog; 10 rated (jazz and classical
    liked), the taste model trained and saved. ``{"db", "files", "unrated"}``."""
    folder = tmp_path_factory.mktemp("startup")
    files = []
    for genre, number in EXCERPTS:
        dst = folder / "music" / genre / f"{genre} {number}.flac"
        dst.parent.mkdir(parents=True, exist_ok=True)
        files.append(transcode(gtzan_clip(genre, number), dst, "flac", seconds=4.0, start=10.0))
    db = folder / "catalog.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [folder / "music"])
        report = embed_tracks(catalog, MODEL)
        assert not report.failed, report.failed
        unrated = []
        for (genre, number), path in zip(EXCERPTS, files, strict=True):
            track = tracks.get_track(catalog, path)
            if number == 5:
                unrated.append(track.path)
            else:
                ratings.add_rating(catalog, track.id, "like" if genre in LIKED else "dislike")
        current_taste(catalog, MODEL)
    return {"db": db, "files": files, "unrated": unrated}


def run_command(*args: str | Path, cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """``earmark ARGS`` in a fresh interpreter under ``-X importtime``: the finished process
    and the top-level names of every module it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "earmark",
                           *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "numpy" in imported, "no importtime report: " + done.stderr[-2000:]
    return done, imported


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_similar_answers_from_stored_embeddings_without_torch(library, tmp_path):
    song = library["files"][0]  # jazz 0, in the catalog with its embedding
    done, imported = run_command("similar", song, "--db", library["db"], "--top", "5", "--json",
                                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not imported & set(HEAVY), imported & set(HEAVY)
    with Catalog(library["db"]) as catalog:
        query = stored_query(catalog, tracks.get_track(catalog, song), MODEL)
        expected = similar(catalog, query, 5, MODEL)
    got = _json_lines(done.stdout)
    assert [item["path"] for item in got] == [track.path for track, _ in expected]
    assert [item["similarity"] for item in got] == [round(sim, 4) for _, sim in expected]
    assert len(got) == 5 and song.as_posix() not in [item["path"] for item in got]


@pytest.mark.slow
def test_recommend_ranks_as_the_fitted_estimator_without_scikit_learn(library, tmp_path):
    done, imported = run_command("recommend", "--db", library["db"], "--top", "10", "--json",
                                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not imported & set(HEAVY), imported & set(HEAVY)
    got = _json_lines(done.stdout)
    # Before this change: the scikit-learn estimator, as saved, scoring each unrated song.
    with Catalog(library["db"]) as catalog:
        estimator = load_model(taste_model_path(catalog), TASTE_TYPES).estimator
        ids = [tracks.get_track(catalog, path).id for path in library["unrated"]]
        ids, X = load_embeddings(catalog, MODEL, ids)
        p_like = estimator.predict_proba(X)[:, 1]
        by_id = tracks.tracks_by_id(catalog, ids)
        order = np.argsort(-p_like, kind="stable")
        expected = [(by_id[ids[i]].path, round(float(p_like[i]), 4)) for i in order]
        library_call = recommend(catalog, current_taste(catalog, MODEL), 10)
    assert [(item["path"], item["score"]) for item in got] == expected
    assert [item.path for item in library_call] == [path for path, _ in expected]
    assert sorted(item["path"] for item in got) == sorted(library["unrated"])
    # The liked genres' unrated excerpts come first.
    assert {Path(path).parent.name for path, _ in expected[:2]} == set(LIKED)


@pytest.mark.slow
def test_playlists_are_written_without_torch_or_scikit_learn(library, tmp_path):
    seed = library["files"][3]  # classical 0
    by_seed = tmp_path / "like classical.m3u8"
    done, imported = run_command("playlist", by_seed, "--seed", seed, "--db", library["db"],
                                 "--top", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not imported & set(HEAVY), imported & set(HEAVY)
    top = tmp_path / "top.m3u8"
    done, imported = run_command("playlist", top, "--db", library["db"], "--min-score", "0",
                                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not imported & set(HEAVY), imported & set(HEAVY)
    with Catalog(library["db"]) as catalog:
        query = stored_query(catalog, tracks.get_track(catalog, seed), MODEL)
        like_seed = similar(catalog, query, 3, MODEL, exclude_disliked=True)
        recommended = recommend(catalog, current_taste(catalog, MODEL), 20, min_score=0.0)
    assert read_m3u(by_seed) == [seed.as_posix(), *(track.path for track, _ in like_seed)]
    assert read_m3u(top) == [item.path for item in recommended]
    assert len(read_m3u(top)) == len(library["unrated"])


@pytest.mark.slow
def test_start_up_and_help_import_no_network_model_or_web_app(library, tmp_path):
    for args in (["--version"], ["--help"], ["similar", "--help"]):
        done, imported = run_command(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert not imported & {*HEAVY, "fastapi", "starlette", "uvicorn"}, (args, imported)
    assert "Usage" in done.stdout and "SONG" in done.stdout


@pytest.mark.slow
def test_a_saved_taste_model_loads_as_numpy_scorers_with_the_same_scores(library, tmp_path):
    with Catalog(library["db"]) as catalog:
        path = taste_model_path(catalog)
        ids, X = load_embeddings(catalog, MODEL)
    fitted = load_model(path, TASTE_TYPES).estimator  # the scikit-learn classifier
    loaded = load_taste_model(path)
    assert isinstance(loaded.classifier, LikeScorer)
    assert isinstance(loaded.regressor, StarScorer | type(None))
    np.testing.assert_array_equal(loaded.like_probability(X), fitted.predict_proba(X)[:, 1])
    assert loaded.fingerprint == type(loaded)(fitted, None, {}).fingerprint
    # Reading and applying it imports no scikit-learn.
    probe = ("import sys, numpy as np\n"
             "from earmark.taste.liking import load_taste_model\n"
             f"m = load_taste_model({str(path)!r})\n"
             f"print(m.like_probability(np.ones((2, {X.shape[1]}))).round(6).tolist())\n"
             "print(sorted({'sklearn', 'scipy', 'torch'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True)
    proba, heavy = done.stdout.splitlines()
    assert heavy == "[]"
    expected = fitted.predict_proba(np.ones((2, X.shape[1])))[:, 1].round(6).tolist()
    assert json.loads(proba) == expected


@pytest.mark.slow
def test_scores_kept_beside_the_vectors_are_the_computed_ones_and_follow_the_model(library):
    with Catalog(library["db"]) as catalog:
        taste = current_taste(catalog, MODEL)
        forget_tables()
        table = vector_table(catalog, MODEL)
        computed = taste.like_probability(table.matrix)
        first = library_liking(table, taste)
        np.testing.assert_allclose(first, computed, rtol=0, atol=1e-12)
        stored = sorted(p.name.split(".")[2] for p in cache_folder(catalog).glob("*.liking-*"))
        assert stored == [f"liking-{taste.fingerprint}"]
        forget_tables()  # as a new process: the scores come from the file, the same bits
        np.testing.assert_array_equal(library_liking(vector_table(catalog, MODEL), taste), first)
        # Another model's scores replace these (one file of scores per table).
        other = type(taste)(LikeScorer(-taste.classifier.coef, 0.0, np.array([1.0, 0.0]),
                                       np.array([0, 1])), None, {})
        np.testing.assert_allclose(library_liking(vector_table(catalog, MODEL), other),
                                   other.like_probability(table.matrix), atol=1e-12)
        stored = sorted(p.name.split(".")[2] for p in cache_folder(catalog).glob("*.liking-*"))
        assert stored == [f"liking-{other.fingerprint}"]
        # The unit-length rows of similar are kept the same way.
        forget_tables()
        computed = l2_normalise(vector_table(catalog, MODEL).matrix)
        np.testing.assert_array_equal(unit_table(catalog, MODEL)[1], computed)
        assert len(list(cache_folder(catalog).glob("*.unit.npy"))) == 1
        forget_tables()
        np.testing.assert_array_equal(unit_table(catalog, MODEL)[1], computed)


@pytest.mark.slow
def test_retraining_keeps_the_scores_the_next_recommend_reads(library):
    # `earmark taste` (and the web retrain) score the library for its liking column; the same
    # scores are kept beside the vectors, so the first recommend after a retrain scores nothing.
    from earmark.catalog.predictions import load_predictions
    from earmark.catalog.search import LIKING_KIND, LIKING_MODEL
    from earmark.taste.model import score_library

    with Catalog(library["db"]) as catalog:
        taste = current_taste(catalog, MODEL)
        for old in cache_folder(catalog).glob("*.liking-*"):
            old.unlink()
        forget_tables()
        assert score_library(catalog, taste) == 15
        stored = sorted(p.name.split(".")[2] for p in cache_folder(catalog).glob("*.liking-*"))
        assert stored == [f"liking-{taste.fingerprint}"]
        table = vector_table(catalog, MODEL)
        expected = taste.like_probability(table.matrix)
        np.testing.assert_allclose(library_liking(table, taste), expected, rtol=0, atol=1e-12)
        column = [load_predictions(catalog, i, LIKING_KIND, LIKING_MODEL)
                  for i in table.track_ids.tolist()]
        np.testing.assert_allclose(column, expected, atol=6e-6)  # the column keeps 5 decimals
