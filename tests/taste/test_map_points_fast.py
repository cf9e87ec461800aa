"""What keeps /api/map quick at 100,000 songs without ever serving a stale map: the cached layout
is trusted without hashing the embeddings while the catalog's vector_generation stands (and
checked by hash once it moves); the predicted liking is kept per embedding table and taste
model, and follows a retrain at once; the page's columns are numbers that decode to the
points."""

from __future__ import annotations

import numpy as np

from earmark.analysis import map as map_module
from earmark.analysis.map import embedding_map, map_cache_path
from earmark.catalog import ratings
from earmark.catalog.tracks import get_track
from earmark.catalog.vectors import vector_table
from earmark.taste.explore import map_points
from earmark.taste.model import DEFAULT_EMBEDDING, current_taste
from taste_builders import embed_randomly


def _count_calls(monkeypatch, name: str) -> list[int]:
    """Count the calls of ``earmark.analysis.map.<name>``, which still runs as it is."""
    calls: list[int] = []
    real = getattr(map_module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(map_module, name, counted)
    return calls


def test_a_layout_checked_at_this_generation_is_used_without_hashing_the_embeddings(
        catalog, song_files, monkeypatch):
    ids, _ = embed_randomly(catalog, song_files)
    first = embedding_map(catalog)
    hashes = _count_calls(monkeypatch, "_embeddings_key")
    layouts = _count_calls(monkeypatch, "layout_embeddings")
    again = embedding_map(catalog)
    assert (hashes, layouts) == ([], [])
    assert again.key == first.key and np.array_equal(again.xy, first.xy)
    # A change that moves the generation but leaves every embedding as it was (a song whose
    # file changed and changed back) is hashed once, and the layout kept.
    track = get_track(catalog, song_files[0])
    for content in ("other content", track.content_hash):
        with catalog.transaction() as conn:
            conn.execute("UPDATE tracks SET content_hash = ? WHERE id = ?", (content, track.id))
    kept = embedding_map(catalog)
    assert (len(hashes), layouts) == (1, []) and kept.key == first.key
    embedding_map(catalog)
    assert len(hashes) == 1  # the file now records the new generation


def test_a_layout_cached_by_older_code_is_checked_by_hash_and_kept(catalog, song_files,
                                                                    monkeypatch):
    """A cache file without the generation (made before it was recorded) is not laid out
    again when the embeddings are the same: a 100,000-song layout takes minutes."""
    embed_randomly(catalog, song_files)
    first = embedding_map(catalog)
    path = map_cache_path(catalog, DEFAULT_EMBEDDING)
    with np.load(path) as data:
        old = {"key": data["key"], "xy": data["xy"], "laid_out": data["laid_out"]}
    with path.open("wb") as f:
        np.savez(f, **old)
    layouts = _count_calls(monkeypatch, "layout_embeddings")
    assert embedding_map(catalog).key == first.key and layouts == []
    with np.load(path) as data:
        assert int(data["generation"]) == vector_table(catalog, DEFAULT_EMBEDDING).generation


def test_a_layout_made_with_other_settings_is_made_again(catalog, song_files):
    embed_randomly(catalog, song_files)
    whole = embedding_map(catalog)
    sampled = embedding_map(catalog, laid_out=4)
    assert (whole.laid_out, sampled.laid_out) == (6, 4) and sampled.key != whole.key


def test_predicted_liking_follows_each_retrain_at_once(catalog, song_files):
    ids, X = embed_randomly(catalog, song_files)
    for track_id, verdict in zip(ids, ["like"] * 3 + ["dislike"] * 3, strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    before = map_points(catalog).liking
    assert map_points(catalog).liking == before  # kept: the same model and embeddings
    ratings.add_rating(catalog, ids[0], "dislike")  # a retrain on the next request
    ratings.add_rating(catalog, ids[5], "like")
    after = map_points(catalog).liking
    expected = current_taste(catalog, DEFAULT_EMBEDDING).like_probability(X)
    np.testing.assert_allclose(after, expected, atol=5e-5)
    assert after != before


def test_the_pages_columns_decode_to_the_points(catalog, song_files):
    ids, _ = embed_randomly(catalog, song_files)
    for track_id, verdict in zip(ids, ["like"] * 3 + ["dislike"] * 3, strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    ratings.add_rating(catalog, ids[5], None, stars=2)
    with catalog.transaction() as conn:
        conn.execute("UPDATE tracks SET genre = 'Rock; Pop' WHERE id = ?", (ids[0],))
        conn.execute("UPDATE tracks SET genre = NULL WHERE id = ?", (ids[1],))
    points = map_points(catalog)
    columns = points.to_columns()
    assert columns["ids"] == points.ids and columns["count"] == 6
    np.testing.assert_allclose(columns["x"], points.x, atol=5e-5)
    np.testing.assert_allclose(columns["y"], points.y, atol=5e-5)
    assert [None if k < 0 else columns["genres"][k] for k in columns["genre"]] == points.genre
    assert [None if k < 0 else columns["ratings"][k] for k in columns["rating"]] == \
        points.rating
    assert len(columns["genres"]) == len(set(points.genre) - {None})
    assert columns["genre_predicted"] == [int(g) for g in points.genre_predicted]
    assert columns["liking"] == [round(100 * p) for p in points.liking]
