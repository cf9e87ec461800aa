"""The experiment runner as a library service: several seeds, mean ± std, the results CSV,
the saved model, cross-validation and tuning, called without the CLI on a real labelled set
(3 GTZAN genres x 6 short excerpts) whose inputs are computed once and reused."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from earmark.catalog import Catalog
from earmark.learn.runs import (
    Experiment,
    NoLabelledSongs,
    hyper_params,
    labelled_songs,
    prepare_experiment,
    run_experiment,
    run_tuning,
)
from earmark.models.io import load_model
from stages import RecordedStages


@pytest.fixture(scope="module")
def prepared(library):
    """The 3-genre tree in a catalog and its classic-descriptor inputs, computed once:
    ``(catalog path, X, data)``."""
    with Catalog(library) as catalog:
        X, data = prepare_experiment(catalog, Experiment("classic", dataset="mini"))
    return library, X, data


def _rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_two_runs_give_mean_and_std_a_csv_row_each_and_one_saved_model(prepared, tmp_path):
    db, X, data = prepared
    experiment = Experiment("classic", dataset="mini", seed=3, runs=2, out=tmp_path / "m" /
                            "genres")
    stages = RecordedStages()
    result = run_experiment(X, data, experiment, stages=stages)
    assert list(stages.seen) == ["training (seed 3)", "training (seed 4)"]
    assert len(result.per_run) == 2
    accuracies = [run["accuracy"] for run in result.per_run]
    assert result.mean["accuracy"] == pytest.approx(np.mean(accuracies))
    assert result.std["accuracy"] == pytest.approx(np.std(accuracies))
    assert "songs" not in result.mean
    rows = {name: (mean, std, chance) for name, mean, std, chance in result.score_rows()}
    assert rows["accuracy"] == (result.mean["accuracy"], result.std["accuracy"],
                                result.mean["accuracy_chance"])
    assert rows["accuracy"][2] == pytest.approx(1 / 3)
    assert not any(name.endswith("_chance") for name in rows)
    assert result.to_dict() == {"model": str(tmp_path / "m" / "genres.safetensors"),
                                "runs": 2, "split": "validation", "scored": result.scored,
                                "notes": result.notes,
                                "results": str(tmp_path / "m" / "results.csv"),
                                "mean": result.mean, "std": result.std}

    # The first run's model is saved, with the seeds and scores of both runs in its card.
    assert result.saved == tmp_path / "m" / "genres.safetensors"
    card = load_model(result.saved).card
    assert card.seed == 3 and card.metrics["runs"]["seeds"] == [3, 4]
    assert card.metrics["runs"]["mean"] == pytest.approx(result.mean)
    # The results CSV sits beside the model, a row per run.
    csv_rows = _rows(tmp_path / "m" / "results.csv")
    assert [(r["seed"], r["split"], r["model_type"], r["data"], r["songs"])
            for r in csv_rows] == [("3", "validation", "classic", "mini", "18"),
                                   ("4", "validation", "classic", "mini", "18")]


def test_one_run_reports_no_spread_and_the_same_inputs_are_reused(prepared, tmp_path):
    db, X, data = prepared
    with Catalog(db) as catalog:
        again, same = prepare_experiment(catalog, Experiment("classic", dataset="mini"))
    assert np.array_equal(again, X) and same.paths == data.paths  # read from the cache
    experiment = Experiment("classic", dataset="mini", results=tmp_path / "runs.csv")
    result = run_experiment(X, data, experiment)
    assert result.saved is None and result.model is not None  # no --out: nothing written
    assert all(std is None for _, _, std, _ in result.score_rows())
    assert result.to_dict()["std"] is None and result.to_dict()["model"] is None
    assert len(_rows(tmp_path / "runs.csv")) == 1


def test_cross_validation_runs_save_no_model(prepared, tmp_path):
    db, X, data = prepared
    experiment = Experiment("classic", dataset="mini", runs=2, cv=2,
                            results=tmp_path / "cv.csv", out=tmp_path / "never")
    stages = RecordedStages()
    result = run_experiment(X, data, experiment, stages=stages)
    assert stages.seen == {"cross-validating (seed 0)": (2, 2),
                           "cross-validating (seed 1)": (2, 2)}
    assert result.model is None and result.saved is None
    assert not (tmp_path / "never.safetensors").exists()
    assert result.to_dict()["split"] == "2-fold grouped CV"
    assert [r["split"] for r in _rows(tmp_path / "cv.csv")] == ["2-fold grouped CV"] * 2
    assert 0.0 <= result.mean["accuracy"] <= 1.0


def test_tuning_appends_each_trial_and_saves_the_best_model(prepared, tmp_path):
    db, X, data = prepared
    experiment = Experiment("classic", dataset="mini", out=tmp_path / "tuned",
                            results=tmp_path / "tune.csv")
    stages = RecordedStages()
    tuned = run_tuning(X, data, experiment, trials=2, folds=2, stages=stages)
    assert stages.seen["tuning"][1] == 2
    assert len(tuned.search.trials) == 2
    rows = _rows(tmp_path / "tune.csv")
    assert [r["model"] for r in rows] == ["tune trial 0", "tune trial 1"]
    assert all(r["split"].startswith("2-fold grouped CV") for r in rows)
    card = load_model(tuned.saved).card
    assert card.metrics["tuning"] == {"metric": tuned.search.metric,
                                      "best": tuned.search.best_score, "trials": 2}


def test_no_labelled_songs_says_how_to_get_some(tmp_path):
    with Catalog(tmp_path / "empty.sqlite") as catalog:
        with pytest.raises(NoLabelledSongs, match="run `earmark dataset import`"):
            labelled_songs(catalog, "genre", "mini")
        with pytest.raises(NoLabelledSongs, match="in dataset 'mini'"):
            prepare_experiment(catalog, Experiment(dataset="mini"))


def test_hyper_params_keep_what_applies_to_the_model_type():
    given = dict(C=2.0, pca=16, classifier="mlp", epochs=3, batch_size=8, lr=0.01,
                 device="cpu", checkpoint="ck.pt", resume=True, train_layers="all", width=32)
    assert hyper_params("head", **given) == {"C": 2.0, "pca": 16, "classifier": "mlp"}
    assert hyper_params("classic", **given) == {"C": 2.0}
    assert hyper_params("shortchunk", **given) == {
        "C": 2.0, "epochs": 3, "batch_size": 8, "lr": 0.01, "device": "cpu",
        "checkpoint": "ck.pt", "resume": True, "width": 32}
    assert hyper_params("finetune", embedding="MTT_musicnn", **given) == {
        "C": 2.0, "epochs": 3, "batch_size": 8, "lr": 0.01, "device": "cpu",
        "checkpoint": "ck.pt", "resume": True, "base": "MTT_musicnn", "train_layers": "all"}
    assert hyper_params("head") == {}
    assert Experiment().results_path.name == "results.csv"
