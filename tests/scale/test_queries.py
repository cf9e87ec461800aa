"""recommend and similar over the one-matrix candidates (catalog.vectors) give what a plain
computation over every stored embedding gives, on a 2,000-song generated catalog."""

from __future__ import annotations

import numpy as np
import pytest
from scale_builders import embed_randomly, record_rows, write_library

from earmark.catalog import Catalog, ratings, tracks
from earmark.catalog.embeddings import load_embeddings
from earmark.taste.model import DEFAULT_EMBEDDING, TasteClassifier, TasteModel
from earmark.taste.recommend import QuerySong, cosine_similarities, recommend, similar

N_SONGS = 2000


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """``(catalog, ids, X)``: :data:`N_SONGS` rows (one real file, then rows only, in two
    folders), random 200-d embeddings, the first 40 songs rated by a hidden linear taste."""
    root = tmp_path_factory.mktemp("scale")
    first = write_library(root / "lib", 1)[0]
    paths = [first] + [str(root / "lib" / ("a" if i % 2 else "b") / f"{i:05d}.wav")
                       for i in range(1, N_SONGS)]
    with Catalog(root / "c.sqlite") as catalog:
        ids = record_rows(catalog, paths)
        X = embed_randomly(catalog, ids, DEFAULT_EMBEDDING)
        w = np.random.default_rng(7).standard_normal(X.shape[1])
        for track_id, x in zip(ids[:40], X[:40], strict=True):
            ratings.add_rating(catalog, track_id, "like" if x @ w > 0 else "dislike")
        yield catalog, ids, X


def test_recommend_ranks_every_unrated_song_as_the_taste_model_scores_it(library):
    catalog, ids, X = library
    labels = [r.label for r in ratings.current_ratings(catalog).values()]
    taste = TasteModel(TasteClassifier().fit(X[:40], labels), None,
                       {"embedding_model": DEFAULT_EMBEDDING})
    found = recommend(catalog, taste, top=25)
    expected = taste.like_probability(X[40:])
    order = np.argsort(-expected, kind="stable")[:25]
    assert [r.track.id for r in found] == [ids[40 + i] for i in order]
    np.testing.assert_allclose([r.score for r in found], expected[order])
    assert all(r.closest_liked or r.closest_disliked for r in found)


@pytest.mark.parametrize("under", [None, "a"])
def test_similar_is_the_nearest_songs_by_cosine_without_the_query_and_its_copies(
        library, under):
    catalog, ids, X = library
    query_track = tracks.get_track_by_id(catalog, ids[5])
    copy = tracks.get_track_by_id(catalog, ids[7])
    # Another file with the very same audio as the query: never its own neighbour.
    tracks.record_track(catalog, {**copy.to_dict(), "audio_hash": query_track.audio_hash})
    query = QuerySong(query_track.path, X[5], query_track.id, query_track.audio_hash)
    folder = None if under is None else tracks.normalise_path(
        tracks.get_track_by_id(catalog, ids[1]).path.rsplit("/", 1)[0])
    found = similar(catalog, query, top=12, under=folder)

    pool = [t.id for t in tracks.iter_tracks(catalog, "ok", folder)
            if t.id not in (query_track.id, copy.id)]
    pool_ids, Y = load_embeddings(catalog, DEFAULT_EMBEDDING, pool)
    sims = cosine_similarities(X[5][np.newaxis, :], Y)[0]
    order = np.argsort(-sims, kind="stable")[:12]
    assert [(t.id, s) for t, s in found] == [(pool_ids[i], float(sims[i])) for i in order]
    if folder is not None:
        assert all(t.path.startswith(folder + "/") for t, _ in found)
