"""Optuna search over the embedding head, on a real (wine) feature table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_wine

from earmark.data import LabelledSet, cv_folds, group_keys
from earmark.learn.train import cross_validate, score_fold
from earmark.learn.tune import tune


def wine_set() -> tuple[np.ndarray, LabelledSet]:
    X, y = load_wine(return_X_y=True)
    names = ["barolo", "grignolino", "barbera"]
    data = LabelledSet(
        track_ids=list(range(len(y))), paths=[f"/wine/{names[c]}.{i:05d}.wav"
                                              for i, c in enumerate(y)],
        targets=[[names[c]] for c in y], kind="single", classes=sorted(names),
        artists=[None] * len(y), splits=["test" if i % 10 == 0 else None for i in range(len(y))],
    )
    return X, data


@pytest.mark.slow
def test_tune_is_seeded_reports_trials_and_never_sees_test_songs():
    X, data = wine_set()
    first = tune(X, data, "head", n_trials=6, n_splits=3, seed=4, fixed={"classifier": "logreg"})
    again = tune(X, data, "head", n_trials=6, n_splits=3, seed=4, fixed={"classifier": "logreg"})
    assert first.best_params == again.best_params and first.metric == "accuracy"
    values = [t["value"] for t in first.trials if t["value"] is not None]
    assert len(first.trials) == 6 and first.best_score == max(values) > 0.9
    assert first.best_params["classifier"] == "logreg"  # fixed parameters override the search
    assert set(first.best_params) >= {"C", "pca"}
    json.dumps(first.trials)  # trials are plain data for the results CSV
    keep = [i for i, split in enumerate(data.splits) if split != "test"]
    without_test = tune(X[keep], data.subset(keep), "head", n_trials=6, n_splits=3, seed=4,
                        fixed={"classifier": "logreg"})
    assert [t["value"] for t in without_test.trials] == [t["value"] for t in first.trials]


def test_score_fold_is_one_fold_of_cross_validate():
    X, data = wine_set()
    hyper = {"C": 1.0, "calibrate": False}
    result = cross_validate(X, data, "head", n_splits=3, seed=2, hyper=hyper)
    y, groups = data.y(), group_keys(data.paths, data.artists)
    train, test = cv_folds(y, groups, 3, 2, data.kind)[1]
    output, scores = score_fold(X, data, train, test, "head", y=y, groups=groups, seed=2,
                                hyper=hyper)
    np.testing.assert_array_equal(output, result.output[test])
    assert scores == result.folds[1] and scores["songs"] == len(test)
