"""The library map (earmark.analysis.map) and its points (earmark.taste.explore): t-SNE of real
embeddings keeps songs of one genre together, a large library is subsampled and the rest
placed by nearest neighbour, the layout is cached beside the catalog keyed by the embedding
set, and every point carries its genre, rating and predicted liking."""

from __future__ import annotations

import numpy as np
import pytest

from earmark.analysis.map import embedding_map, layout_embeddings, map_cache_path
from earmark.catalog import ratings
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.predictions import store_predictions
from earmark.catalog.tracks import get_track
from earmark.ingest.scan import add_file
from earmark.taste.explore import PREDICTED_GENRES, map_points
from earmark.taste.model import DEFAULT_EMBEDDING
from taste_builders import embed_randomly


def _clusters(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated groups of ``n_per`` 32-dim vectors: ``(X, group of each row)``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 32)) * 4
    groups = np.repeat(np.arange(3), n_per)
    return centres[groups] + rng.normal(size=(len(groups), 32)), groups


def _group_spread(xy: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Mean distance between points of one group, and between points of different groups."""
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    same = groups[:, None] == groups[None, :]
    off_diagonal = ~np.eye(len(xy), dtype=bool)
    return float(d[same & off_diagonal].mean()), float(d[~same].mean())


@pytest.mark.slow
def test_songs_of_one_genre_sit_together_on_the_map_of_real_embeddings(excerpt_embeddings):
    X = excerpt_embeddings["X"]
    genres = np.array(excerpt_embeddings["genres"])
    xy, laid_out = layout_embeddings(X, seed=0)
    assert xy.shape == (len(X), 2) and laid_out == len(X)
    assert xy.min() >= 0 and xy.max() <= 1 and np.isclose(xy.max(axis=0).max(), 1)
    within, between = _group_spread(xy, genres)
    assert within < between
    again, _ = layout_embeddings(X, seed=0)
    assert np.array_equal(xy, again)


def test_a_large_library_is_sampled_and_the_rest_placed_beside_their_nearest_sampled_song():
    X, groups = _clusters(150)
    xy, laid_out = layout_embeddings(X, laid_out=90, seed=1)
    assert laid_out == 90 and xy.shape == (450, 2)
    within, between = _group_spread(xy, groups)
    assert within < between / 2
    # Every song, sampled or placed, is nearer its own group's centre than any other's.
    centres = np.stack([xy[groups == g].mean(axis=0) for g in range(3)])
    nearest_centre = np.argmin(np.linalg.norm(xy[:, None] - centres[None], axis=-1), axis=1)
    assert (nearest_centre == groups).all()
    # Placed songs do not sit exactly on top of one another.
    assert len({tuple(p) for p in xy.round(6)}) == len(xy)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_tiny_libraries_get_a_map_without_t_sne(n):
    xy, laid_out = layout_embeddings(np.random.default_rng(0).normal(size=(n, 8)))
    assert xy.shape == (n, 2) and laid_out == n
    assert ((xy >= 0) & (xy <= 1)).all()


def test_the_layout_is_cached_beside_the_catalog_until_the_embeddings_change(
        catalog, song_files):
    ids, _ = embed_randomly(catalog, song_files[:5])
    first = embedding_map(catalog)
    cache = map_cache_path(catalog, DEFAULT_EMBEDDING)
    assert cache.parent == catalog.path.parent and cache.is_file()
    assert first.track_ids == ids and first.laid_out == 5
    assert first.method == "t-SNE of all 5 songs' MSD_musicnn embeddings"
    stamp = cache.stat().st_mtime_ns
    again = embedding_map(catalog)
    assert cache.stat().st_mtime_ns == stamp  # read, not computed and written again
    assert np.array_equal(again.xy, first.xy) and again.key == first.key

    # A scanned song without an embedding changes nothing on the map.
    track = add_file(catalog, song_files[5], verify=False)
    assert embedding_map(catalog).key == first.key and cache.stat().st_mtime_ns == stamp
    store_embedding(catalog, track.id, DEFAULT_EMBEDDING, np.ones(16), track.content_hash)
    grown = embedding_map(catalog)
    assert grown.key != first.key and grown.track_ids == [*ids, track.id]
    # A recomputed embedding makes a new layout too.
    store_embedding(catalog, ids[0], DEFAULT_EMBEDDING, np.zeros(16) + 0.5,
                    get_track(catalog, song_files[0]).content_hash)
    assert embedding_map(catalog).key not in (first.key, grown.key)


def test_a_sampled_map_says_how_it_was_made(catalog, song_files):
    embed_randomly(catalog, song_files)
    layout = embedding_map(catalog, laid_out=4)
    assert layout.laid_out == 4
    assert layout.method == ("t-SNE of a random sample of 4 of 6 songs' MSD_musicnn "
                             "embeddings; the other songs are placed beside their nearest "
                             "sampled neighbour")


def test_points_carry_genre_rating_and_predicted_liking(catalog, song_files):
    ids, _ = embed_randomly(catalog, song_files)
    verdicts = ["like", "like", "like", "dislike", "dislike", "dislike"]
    for track_id, verdict in zip(ids, verdicts, strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    ratings.add_rating(catalog, ids[5], None, stars=2)
    store_predictions(catalog, ids[1], PREDICTED_GENRES, {"genres": [["Jazz", 0.7],
                                                                     ["Blues", 0.2]]})
    with catalog.transaction() as conn:
        conn.execute("UPDATE tracks SET genre = 'Rock; Pop' WHERE id = ?", (ids[0],))
    points = map_points(catalog)
    assert points.ids == ids and len(points.x) == len(points.y) == 6
    assert points.genre[:3] == ["Rock", "Jazz", None]
    assert points.genre_predicted[:3] == [False, True, False]
    assert points.rating == ["like"] * 3 + ["dislike"] * 2 + ["2 stars"]
    assert points.liked == [1, 1, 1, 0, 0, 0]
    assert all(0 <= p <= 1 for p in points.liking)
    data = points.to_dict()
    assert data["count"] == 6 and data["model"] == DEFAULT_EMBEDDING
    assert get_track(catalog, song_files[0]).id == data["ids"][0]


def test_liking_is_empty_until_enough_songs_are_rated(catalog, song_files):
    ids, _ = embed_randomly(catalog, song_files)
    ratings.add_rating(catalog, ids[0], "like")
    assert map_points(catalog).liking == [None] * 6
