"""The default model on real data: grouped cross-validation on the 60 shared GTZAN clips."""

from __future__ import annotations

import numpy as np
import pytest

from earmark.catalog import Catalog
from earmark.catalog.labels import load_labelled
from earmark.engine import LocalEngine
from earmark.ingest.importers import import_dataset_folders
from earmark.learn.train import cross_validate, default_inputs, song_matrix


@pytest.mark.slow
def test_head_on_msd_embeddings_beats_75_percent_and_the_mfcc_svm(gtzan_root, tmp_path):
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        import_dataset_folders(catalog, gtzan_root, "gtzan", engine=LocalEngine(1))
        data = load_labelled(catalog, "genre", "gtzan")
        assert len(data) == 60
        scores = {}
        for model_type in ("head", "classic"):
            X, songs = song_matrix(catalog, data, default_inputs(model_type))
            scores[model_type] = np.mean([
                cross_validate(X, songs, model_type, n_splits=3, seed=seed).mean["accuracy"]
                for seed in (0, 1, 2)])
    assert scores["head"] >= 0.75, scores
    assert scores["head"] > scores["classic"], scores
