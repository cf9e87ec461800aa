"""The embedding matrix a process keeps in memory between requests (catalog.vectors) and the
ranking over it (taste.active.top_indices, taste.recommend.unit_table): kept while the catalog's
vector_generation stands, dropped the moment it moves, never written to by a caller."""

from __future__ import annotations

import numpy as np
import pytest
from scale_builders import embed_randomly, record_rows, write_library

from earmark.catalog import Catalog, tracks
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.vectors import forget_tables, vector_table
from earmark.taste.active import cosine_similarities, l2_normalise, top_indices
from earmark.taste.recommend import QuerySong, similar, unit_table

MODEL = "MSD_musicnn"


@pytest.fixture
def catalog(tmp_path):
    """30 tracks (one real file, the rest rows only) with a random 200-d embedding each."""
    first = write_library(tmp_path / "lib", 1)[0]
    paths = [first] + [str(tmp_path / "lib" / f"song {i:02d}.wav") for i in range(1, 30)]
    with Catalog(tmp_path / "c.sqlite") as cat:
        embed_randomly(cat, record_rows(cat, paths), MODEL, seed=3)
        yield cat


def test_the_table_is_kept_while_the_generation_stands_and_its_arrays_are_read_only(catalog):
    table = vector_table(catalog, MODEL)
    assert vector_table(catalog, MODEL) is table
    assert not table.matrix.flags.writeable and not table.track_ids.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        table.matrix[0, 0] = 1.0
    forget_tables()
    again = vector_table(catalog, MODEL)  # read from its file, as a new process would
    assert again is not table
    np.testing.assert_array_equal(again.matrix, table.matrix)


def test_a_stored_embedding_replaces_the_kept_table_and_its_unit_rows_on_the_next_call(
        catalog):
    table, unit = unit_table(catalog, MODEL)
    assert unit_table(catalog, MODEL)[1] is unit  # normalised once per table
    track = next(tracks.iter_tracks(catalog))
    store_embedding(catalog, track.id, MODEL, np.full(200, -2.0, np.float32),
                    track.content_hash)
    new_table, new_unit = unit_table(catalog, MODEL)
    assert new_table is not table and new_table.generation != table.generation
    row = int(np.flatnonzero(new_table.track_ids == track.id)[0])
    np.testing.assert_allclose(new_unit[row], np.full(200, -1 / np.sqrt(200)), rtol=1e-6)


def test_similar_answers_from_the_new_embedding_as_soon_as_it_is_stored(catalog):
    """The kept matrix is never stale: a song made the query's twin is its nearest next call."""
    table = vector_table(catalog, MODEL)
    seed = tracks.get_track_by_id(catalog, int(table.track_ids[0]))
    query_vector = table.matrix[0].copy()
    query = QuerySong(seed.path, query_vector, seed.id, seed.audio_hash)
    before = similar(catalog, query, top=1)[0][0].id
    twin = next(s for s in tracks.iter_tracks(catalog) if s.id not in (seed.id, before))
    store_embedding(catalog, twin.id, MODEL, 3 * query_vector, twin.content_hash)
    [(nearest, sim)] = similar(catalog, query, top=1)
    assert nearest.id == twin.id and sim == pytest.approx(1.0, abs=1e-6)


def test_l2_normalise_keeps_float32_and_makes_other_input_float64():
    X32 = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    unit = l2_normalise(X32)
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert l2_normalise([[1, 0]]).dtype == np.float64  # ints
    assert l2_normalise(X32.astype(np.float16)).dtype == np.float64
    assert cosine_similarities(X32, X32).dtype == np.float32


@pytest.mark.parametrize("k", [None, 0, 1, 3, 5, 8, 12, 20])
def test_top_indices_is_the_head_of_a_stable_descending_sort(k):
    # Ties at every level, the k-th among them, and left-out rows at -inf.
    scores = np.array([0.5, 0.9, 0.5, -np.inf, 0.9, 0.1, 0.5, 0.7, -np.inf, 0.5, 0.9, 0.2],
                      np.float32)
    expected = np.argsort(-scores, kind="stable")
    assert top_indices(scores, k).tolist() == (
        expected.tolist() if k is None else expected[:k].tolist())


def test_top_indices_of_a_large_random_vector_matches_the_full_sort():
    scores = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    np.testing.assert_array_equal(top_indices(scores, 50),
                                  np.argsort(-scores, kind="stable")[:50])
