"""One contiguous float32 matrix of a model's current embeddings (catalog.vectors), cached
beside the catalog and rebuilt whenever an embedding or a track changes (issue 16 item 3)."""

from __future__ import annotations

import numpy as np
import pytest
from scale_builders import embed_randomly, record_rows, write_library

from earmark.catalog import Catalog, tracks
from earmark.catalog.embeddings import load_embeddings, store_embedding
from earmark.catalog.vectors import cache_folder, forget_tables, vector_table

MODEL = "MSD_musicnn"


@pytest.fixture
def catalog(tmp_path):
    """40 tracks (one real file, the rest rows only), each with a random 200-d embedding of
    :data:`MODEL`, 30 of them also of another model."""
    first = write_library(tmp_path / "lib", 1)[0]
    paths = [first] + [str(tmp_path / "lib" / f"song {i:02d}.wav") for i in range(1, 40)]
    with Catalog(tmp_path / "c.sqlite") as cat:
        ids = record_rows(cat, paths)
        embed_randomly(cat, ids, MODEL, seed=1)
        embed_randomly(cat, ids[:30], "other", dim=16, seed=2)
        yield cat


def _assert_same_as_rows(catalog: Catalog, model: str) -> None:
    """vector_table gives exactly what load_embeddings reads row by row."""
    table = vector_table(catalog, model)
    ids, X = load_embeddings(catalog, model)
    assert table.track_ids.tolist() == ids
    assert table.matrix.dtype == np.float32 and table.matrix.flags.c_contiguous
    np.testing.assert_array_equal(table.matrix, X)


def test_matrix_is_every_current_embedding_by_track_id_and_is_cached(catalog):
    _assert_same_as_rows(catalog, MODEL)
    _assert_same_as_rows(catalog, "other")
    files = sorted(p.name for p in cache_folder(catalog).iterdir())
    assert len(files) == 4  # ids and matrix, per model
    before = {p: p.stat().st_mtime_ns for p in cache_folder(catalog).iterdir()}
    forget_tables()
    _assert_same_as_rows(catalog, MODEL)  # read from the files, not rewritten
    assert {p: p.stat().st_mtime_ns for p in cache_folder(catalog).iterdir()} == before


def test_matrix_of_a_model_without_embeddings_is_empty(catalog):
    table = vector_table(catalog, "no such model")
    assert len(table) == 0 and table.matrix.shape == (0, 0)


def _first(catalog: Catalog) -> tracks.Track:
    return next(tracks.iter_tracks(catalog))


@pytest.mark.parametrize("change", ["new vector", "content changed", "unplayable",
                                    "forgotten"])
def test_cache_is_rebuilt_when_an_embedding_or_its_track_changes(catalog, change):
    vector_table(catalog, MODEL)  # cached now
    track = _first(catalog)
    if change == "new vector":
        store_embedding(catalog, track.id, MODEL, np.full(200, 0.5, np.float32),
                        track.content_hash)
    elif change == "content changed":
        tracks.record_track(catalog, {**track.to_dict(), "content_hash": "other content"})
    elif change == "unplayable":
        tracks.record_track(catalog, {**track.to_dict(), "status": "error", "error": "gone bad"})
    else:
        tracks.forget_tracks(catalog, [track.path])
    table = vector_table(catalog, MODEL)
    _assert_same_as_rows(catalog, MODEL)
    if change == "new vector":
        np.testing.assert_array_equal(table.matrix[table.track_ids == track.id][0],
                                      np.full(200, 0.5, np.float32))
    else:
        assert track.id not in table.track_ids
    # The files of the old generation are gone: two per model cached.
    assert len(list(cache_folder(catalog).glob("*.npy"))) == 2


def test_a_rescan_of_unchanged_tracks_keeps_the_cache(catalog):
    vector_table(catalog, MODEL)
    before = sorted(p.name for p in cache_folder(catalog).iterdir())
    track = _first(catalog)
    tracks.record_track(catalog, track.to_dict())  # same content: a re-scan's update
    vector_table(catalog, MODEL)
    assert sorted(p.name for p in cache_folder(catalog).iterdir()) == before


def test_damaged_or_unwritable_cache_still_gives_the_catalog_embeddings(catalog):
    vector_table(catalog, MODEL)
    for path in cache_folder(catalog).glob("*.npy"):
        path.write_bytes(b"not an array")
    forget_tables()  # as a new process: the files are read
    _assert_same_as_rows(catalog, MODEL)
    for path in cache_folder(catalog).iterdir():
        path.unlink()
    cache_folder(catalog).rmdir()
    cache_folder(catalog).write_text("a file where the cache folder would be")
    store_embedding(catalog, _first(catalog).id, MODEL, np.ones(200, np.float32),
                    _first(catalog).content_hash)
    _assert_same_as_rows(catalog, MODEL)


def test_a_new_catalog_at_the_same_path_never_takes_the_old_ones_cache(tmp_path):
    """A catalog deleted and made again where it was (its cache folder left behind) starts at
    another generation, so the old matrix files are not mistaken for its own."""
    first = write_library(tmp_path / "lib", 1)[0]
    db = tmp_path / "c.sqlite"
    with Catalog(db) as catalog:
        embed_randomly(catalog, record_rows(catalog, [first]), MODEL, seed=1)
        old = vector_table(catalog, MODEL)
    for path in tmp_path.glob("c.sqlite*"):
        if path.is_file():
            path.unlink()
    with Catalog(db) as catalog:
        embed_randomly(catalog, record_rows(catalog, [first]), MODEL, seed=2)
        new = vector_table(catalog, MODEL)
        _assert_same_as_rows(catalog, MODEL)
    assert not np.array_equal(old.matrix, new.matrix)


def test_a_catalog_restored_from_a_backup_never_takes_the_cache_of_its_other_future(tmp_path):
    """A catalog copied back from a backup, then changed as much as the original was after
    the copy, reaches no generation whose matrix files the original left behind: else the
    restored catalog would answer with the other future's embeddings."""
    first = write_library(tmp_path / "lib", 1)[0]
    db, backup = tmp_path / "c.sqlite", tmp_path / "backup.sqlite"
    with Catalog(db) as catalog:
        ids = record_rows(catalog, [first])
        embed_randomly(catalog, ids, MODEL, seed=1)
    backup.write_bytes(db.read_bytes())
    with Catalog(db) as catalog:
        embed_randomly(catalog, ids, MODEL, seed=2)  # one vector replaced
        vector_table(catalog, MODEL)  # its files written beside the catalog
    db.write_bytes(backup.read_bytes())
    forget_tables()  # a new process
    with Catalog(db) as catalog:
        embed_randomly(catalog, ids, MODEL, seed=3)  # as many changes, other values
        forget_tables()
        _assert_same_as_rows(catalog, MODEL)
