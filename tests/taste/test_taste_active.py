"""Active-learning selection on synthetic embeddings (the maths), and on real ones through the
catalog (songs_to_review)."""

from __future__ import annotations

import numpy as np
import pytest

from earmark.catalog import ratings
from earmark.catalog.tracks import get_track
from earmark.taste.active import (
    cosine_distances,
    select_batch,
    select_diverse,
    select_mixed,
    select_uncertain,
    uncertainty,
)
from earmark.taste.model import review_taste
from earmark.taste.recommend import songs_to_review


def _clusters(n_clusters: int = 5, per: int = 8, dim: int = 32, seed: int = 0):
    """Tight clusters around random directions: ``(X, cluster id per row)``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim))
    ids = np.repeat(np.arange(n_clusters), per)
    return centres[ids] + 0.05 * rng.normal(size=(len(ids), dim)), ids


def test_uncertainty_peaks_at_one_half():
    np.testing.assert_allclose(uncertainty(np.array([0.0, 0.25, 0.5, 1.0])), [0, 0.5, 1, 0])


def test_cosine_distances_range_and_zero_rows():
    X = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [0.0, 0.0]])
    D = cosine_distances(X, X)
    np.testing.assert_allclose(D[0, :3], [0.0, 1.0, 2.0])
    assert D[3, 0] == 1.0  # a zero vector is equally far from everything


def test_diverse_batch_covers_every_cluster():
    X, ids = _clusters()
    for seed in range(5):
        picks = select_diverse(X, 5, rng=np.random.default_rng(seed))
        assert sorted(ids[picks]) == [0, 1, 2, 3, 4]


def test_diverse_batch_avoids_clusters_already_rated():
    X, ids = _clusters()
    rated = np.vstack([X[ids == c][:1] for c in range(3)])  # one song of clusters 0-2 rated
    for seed in range(5):
        picks = select_diverse(X, 2, rated=rated, rng=np.random.default_rng(seed))
        assert sorted(ids[picks]) == [3, 4]


def test_uncertain_takes_the_closest_to_one_half():
    proba = np.array([0.9, 0.52, 0.1, 0.45, 0.7])
    assert list(select_uncertain(proba, 2)) == [1, 3]


def test_mixed_is_uncertain_yet_not_redundant():
    X, ids = _clusters()
    proba = np.where(ids == 0, 0.5, np.where(ids == 1, 0.6, 0.95))
    # Pure uncertainty takes four songs of cluster 0; mixed spreads over the uncertain clusters.
    assert set(ids[select_uncertain(proba, 4)]) == {0}
    picks = select_mixed(X, proba, 4)
    assert {0, 1} <= set(ids[picks])
    assert len(set(ids[picks])) >= 3


def test_diverse_and_mixed_selections_are_pinned_on_a_fixed_random_input():
    # Pinned picks: a faster implementation must choose exactly the same songs (a zero row
    # included, which is equally far from everything).
    rng = np.random.default_rng(2024)
    X = rng.normal(size=(50, 12))
    X[7] = 0.0
    proba, rated = rng.uniform(size=50), rng.normal(size=(4, 12))
    assert select_diverse(X, 8, rng=np.random.default_rng(1)).tolist() == [
        23, 47, 5, 45, 11, 18, 40, 20]
    assert select_diverse(X, 8, rated, rng=np.random.default_rng(1)).tolist() == [
        22, 47, 6, 46, 14, 20, 40, 17]
    assert select_mixed(X, proba, 8).tolist() == [12, 13, 31, 44, 29, 49, 39, 8]
    assert select_mixed(X, proba, 8, rated).tolist() == [13, 35, 31, 12, 17, 8, 9, 28]
    everything = select_diverse(X, 50, rng=np.random.default_rng(1))
    assert sorted(everything.tolist()) == list(range(50))
    assert everything[:12].tolist() == [23, 47, 5, 45, 11, 18, 40, 20, 27, 1, 37, 25]


def test_select_batch_cold_start_and_validation():
    X, ids = _clusters()
    for strategy in ("uncertain", "mixed", "diverse"):
        picks = select_batch(strategy, X, 5, proba=None, seed=3)
        assert sorted(ids[picks]) == [0, 1, 2, 3, 4], strategy
    random = select_batch("random", X, 7, seed=1)
    assert len(set(random)) == 7
    assert len(select_batch("mixed", X[:3], 10, np.full(3, 0.5))) == 3
    with pytest.raises(ValueError, match="unknown strategy"):
        select_batch("clever", X, 2)


@pytest.mark.slow
def test_songs_to_review_skips_rated_and_skipped_songs(embedded_catalog, excerpt_embeddings):
    files, genres = excerpt_embeddings["files"], excerpt_embeddings["genres"]
    assert review_taste(embedded_catalog) is None  # nothing rated: cold start
    ids = [get_track(embedded_catalog, f).id for f in files]
    ratings.add_rating(embedded_catalog, ids[0], "like")  # jazz
    ratings.add_rating(embedded_catalog, ids[4], "dislike")  # metal
    ratings.add_rating(embedded_catalog, ids[6], "skip")
    provisional = review_taste(embedded_catalog)
    assert provisional is not None and provisional.info["provisional"]
    proposals = songs_to_review(embedded_catalog, provisional, k=10)
    proposed = [t.id for t, _ in proposals]
    assert len(proposed) == 7 and not {ids[0], ids[4], ids[6]} & set(proposed)
    assert all(0 < p < 1 for _, p in proposals)
    assert genres[0] == "jazz" and genres[4] == "metal"
