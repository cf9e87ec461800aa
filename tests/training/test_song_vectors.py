"""Descriptor song vectors for the classic model: computed on worker processes, stored by
the caller, failures reported per song."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from earmark.analysis.predict import song_input
from earmark.catalog import Catalog
from earmark.catalog.embeddings import load_embeddings
from earmark.catalog.labels import load_labelled
from earmark.engine import LocalEngine
from earmark.ingest.importers import import_dataset_folders
from earmark.learn.train import cache_key, default_inputs, ensure_embeddings


@pytest.mark.slow  # librosa compiles its numba kernels in every worker
def test_descriptor_vectors_from_workers_are_stored_and_bad_songs_reported(genre_tree,
                                                                           tmp_path):
    root = tmp_path / "lib"
    for genre in ("classical", "metal"):
        (root / genre).mkdir(parents=True)
        for n in range(2):
            shutil.copy(genre_tree / genre / f"{genre}.{n:05d}.wav", root / genre)
    inputs = default_inputs("classic")
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        import_dataset_folders(catalog, root, engine=LocalEngine(1))
        data = load_labelled(catalog, "genre")
        broken = next(p for p in data.paths if p.endswith("metal.00001.wav"))
        with open(broken, "wb") as handle:  # damaged after the scan: still "ok" in the catalog
            handle.write(b"\0" * 1000)
        calls = []
        failed = ensure_embeddings(catalog, inputs, data.track_ids,
                                   progress=lambda *a: calls.append(a), engine=LocalEngine(2))
        assert [path for path, _ in failed] == [broken] and failed[0][1]
        assert [(done, total) for done, total, _ in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert [path for _, _, path in calls] == data.paths  # in track id order
        ids, matrix = load_embeddings(catalog, cache_key(inputs))
        assert ids == [t for t, p in zip(data.track_ids, data.paths, strict=True) if p != broken]
        for track_id, vector in zip(ids, matrix, strict=True):
            path = data.paths[data.track_ids.index(track_id)]
            np.testing.assert_array_equal(vector, song_input(inputs, path).astype(np.float32))
        # stored vectors are not computed again; the bad song is tried (and reported) again
        calls.clear()
        assert [p for p, _ in ensure_embeddings(catalog, inputs, data.track_ids,
                                                progress=lambda *a: calls.append(a))] == [broken]
        assert [path for _, _, path in calls] == [broken]
