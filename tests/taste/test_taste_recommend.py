"""recommend and the review round on synthetic embeddings: what they ask of the catalog."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

import earmark.taste.model
import earmark.taste.review
from earmark.catalog import ratings
from earmark.cli import app
from earmark.taste.model import DEFAULT_EMBEDDING, TasteClassifier, TasteModel
from earmark.taste.recommend import recommend
from taste_builders import embed_randomly


@pytest.fixture
def builds(monkeypatch) -> list[int]:
    """One entry per call of taste_data (the ratings joined with their embeddings)."""
    calls: list[int] = []
    real = earmark.taste.model.taste_data

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    # The review session imports the name itself: count the calls through both modules.
    monkeypatch.setattr(earmark.taste.model, "taste_data", counted)
    monkeypatch.setattr(earmark.taste.review, "taste_data", counted)
    return calls


def test_recommend_looks_up_the_close_liked_songs_in_one_query(catalog, song_files, sql_statements):
    ids, X = embed_randomly(catalog, song_files)
    for track_id, verdict in zip(ids[:3], ("like", "like", "dislike"), strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    classifier = TasteClassifier().fit(X[:3], [1, 1, 0])
    taste = TasteModel(classifier, None, {"embedding_model": DEFAULT_EMBEDDING})
    sql_statements.clear()
    found = recommend(catalog, taste, top=None, n_closest=2)
    assert sorted(r.track.id for r in found) == ids[3:]
    for item in found:
        assert sorted(t.id for t, _ in item.closest_liked) == ids[:2]
        assert [s for _, s in item.closest_liked] == sorted(
            (s for _, s in item.closest_liked), reverse=True)
    lookups = [s for s in sql_statements if s.startswith("SELECT * FROM tracks WHERE id")]
    assert len(lookups) == 1  # not one per recommendation and liked song (6)


def test_review_taste_reads_the_ratings_once_before_a_model_can_be_trained(
        catalog, song_files, builds):
    ids, _ = embed_randomly(catalog, song_files)
    ratings.add_rating(catalog, ids[0], "like")
    ratings.add_rating(catalog, ids[1], "dislike")
    provisional = earmark.taste.model.review_taste(catalog)
    assert provisional.info == {"embedding_model": DEFAULT_EMBEDDING, "provisional": True,
                                "n_ratings": 2}
    assert len(builds) == 1  # not once for the failed training and again for the fallback
    data = earmark.taste.model.taste_data(catalog)
    builds.clear()
    assert earmark.taste.model.review_taste(catalog, data=data).info["provisional"]
    assert builds == []


def test_review_reads_the_ratings_once_per_round(catalog, music_files, tmp_path, builds):
    songs = []
    for i in range(14):
        songs.append(shutil.copyfile(music_files["flac"], tmp_path / f"song {i:02d}.flac"))
    embed_randomly(catalog, songs, seed=3)
    answers = tmp_path / "answers.txt"
    answers.write_text("like\ndislike\nskip\n3\nlike\ndislike\n2\n5\nlike\ndislike\nlike\n4\n",
                       encoding="utf-8")
    result = CliRunner().invoke(app, ["review", "--db", str(catalog.path), "--answers",
                                      str(answers), "--batch", "3", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [r["round"] for r in rows] == [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3
    assert all(r["p_like_before"] is None for r in rows[:3])  # cold start
    assert all(0 < r["p_like_before"] < 1 for r in rows[3:])  # provisional, then trained
    # Once before round 1, then once after each batch: that read serves the next round (it
    # used to be read twice more per round while there were too few ratings).
    assert len(builds) == 1 + 4
    runs = catalog.execute("SELECT count(*) FROM model_runs WHERE kind = 'taste'").fetchone()
    assert runs[0] == 2  # trained after rounds 3 and 4, never again for the same ratings
