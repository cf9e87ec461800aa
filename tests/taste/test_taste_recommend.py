"""recommend and the review round on synthetic embeddings: what they ask of the catalog."""

from __future__ import annotations

import numpy as np

from earmark.catalog import ratings
from earmark.catalog.embeddings import store_embedding
from earmark.recommend import recommend
from earmark.scan import add_file
from earmark.taste import DEFAULT_EMBEDDING, TasteClassifier, TasteModel


def _embedded_songs(catalog, song_files, seed: int = 0) -> tuple[list[int], np.ndarray]:
    """The songs in the catalog with random embeddings ``(n, 16)``: ``(track ids, X)``."""
    X = np.random.default_rng(seed).normal(size=(len(song_files), 16))
    ids = []
    for path, vector in zip(song_files, X, strict=True):
        track = add_file(catalog, path, verify=False)
        store_embedding(catalog, track["id"], DEFAULT_EMBEDDING, vector, track["content_hash"])
        ids.append(track["id"])
    return ids, X


def test_recommend_looks_up_each_close_liked_song_once(catalog, song_files, sql_statements):
    ids, X = _embedded_songs(catalog, song_files)
    for track_id, verdict in zip(ids[:3], ("like", "like", "dislike"), strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    classifier = TasteClassifier().fit(X[:3], [1, 1, 0])
    taste = TasteModel(classifier, None, {"embedding_model": DEFAULT_EMBEDDING})
    sql_statements.clear()
    found = recommend(catalog, taste, top=None, n_closest=2)
    assert sorted(r.track["id"] for r in found) == ids[3:]
    for item in found:
        assert sorted(t["id"] for t, _ in item.closest_liked) == ids[:2]
        assert [s for _, s in item.closest_liked] == sorted(
            (s for _, s in item.closest_liked), reverse=True)
    lookups = [s for s in sql_statements if s.startswith("SELECT * FROM tracks WHERE id")]
    assert len(lookups) == 2  # not one per recommendation and liked song (6)
