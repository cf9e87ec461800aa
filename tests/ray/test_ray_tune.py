"""``earmark tune --engine ray`` runs its trials with Ray Tune on the cluster's workers: the
same trials as the local Optuna search (the seeded sampler draws the same parameters, the
grouped cross-validation gives the same scores), the same results CSV, failed fits as failed
trials with their reasons, and nothing but 127.0.0.1 contacted."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys

import pytest
from raytools import RAY_TESTS, driver_environment, earmark
from test_00_loopback import outside_connects

from music import gtzan_clip, transcode

pytestmark = RAY_TESTS

GENRES = ("classical", "metal", "reggae")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A catalog holding dataset ``mini``: 3 genres x 4 real 3-second clips."""
    root = tmp_path_factory.mktemp("genres") / "mini"
    for genre in GENRES:
        (root / genre).mkdir(parents=True)
        for n in range(4):
            transcode(gtzan_clip(genre, n), root / genre / f"{genre}.{n:05d}.wav", "wav",
                      seconds=3, start=10.0, rate=16000, channels=1)
    db = root.parent / "catalog.sqlite"
    done = earmark("dataset", "import", root, "--db", db)
    assert done.returncode == 0, done.stderr
    return db


def _tune(db, results, *engine, env=None, prefix=()):
    """``earmark tune`` of classic models on ``mini``: four trials of 2-fold CV, as JSON."""
    done = earmark("tune", "--db", db, "--dataset", "mini", "--model", "classic", "--trials",
                   "4", "--folds", "2", "--results", results, "--json", *engine, env=env,
                   prefix=prefix)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


def _rows(results) -> list[dict]:
    with open(results, newline="") as f:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(f)]


def test_tune_on_ray_runs_the_same_trials_as_local_and_writes_the_same_results(
        labelled, ray_cluster, tmp_path):
    local = _tune(labelled, tmp_path / "local.csv", "--engine", "local")
    ray = _tune(labelled, tmp_path / "ray.csv", "--address", ray_cluster.address,
                env=driver_environment(ray_cluster))
    assert [t["state"] for t in ray["trials"]] == ["complete"] * 4
    assert [t["params"] for t in ray["trials"]] == [t["params"] for t in local["trials"]]
    assert [t["value"] for t in ray["trials"]] == [t["value"] for t in local["trials"]]
    assert ray["best_score"] == max(t["value"] for t in ray["trials"]) == local["best_score"]
    assert ray["best_params"] == local["best_params"] and ray["metric"] == "accuracy"
    assert _rows(tmp_path / "ray.csv") == _rows(tmp_path / "local.csv")
    assert [row["model"] for row in _rows(tmp_path / "ray.csv")] == [
        f"tune trial {n}" for n in range(4)]


def test_tune_on_its_own_ray_cluster_connects_only_to_loopback(labelled, tmp_path):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace (Debian package) is needed to watch the cluster's connects")
    trace = tmp_path / "connect.trace"
    tuned = _tune(labelled, tmp_path / "results.csv", "--engine", "ray",
                  prefix=[strace, "-f", "-qq", "-e", "trace=connect", "-o", trace])
    assert [t["state"] for t in tuned["trials"]] == ["complete"] * 4
    outside, loopback = outside_connects(trace.read_text(errors="replace"))
    assert outside == []
    assert loopback > 10  # the trace followed the cluster's processes


@pytest.fixture(scope="module")
def engine(ray_driver):
    # This module's functions are not importable on the workers: they travel by value.
    from ray import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray_driver
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _space(trial) -> None:
    trial.suggest_int("x", -10, 10)


def _objective(params: dict) -> dict:
    """Fails on odd ``x``; else scores ``-x**2``, noting the worker's pid."""
    if params["x"] % 2:
        return {"value": None, "reason": f"{params['x']} is odd", "note": None}
    return {"value": -params["x"] ** 2, "reason": None, "note": str(os.getpid())}


def test_run_trials_runs_on_workers_and_returns_failed_trials_with_their_reasons(engine):
    ended = []
    trials = engine.run_trials(_objective, _space, n_trials=8, mode="max", seed=3,
                               on_trial=lambda done, state: ended.append((done, state)))
    assert [t["number"] for t in trials] == list(range(8))
    assert [done for done, _ in ended] == list(range(1, 9))
    for trial in trials:
        x = trial["params"]["x"]
        if x % 2:
            assert trial["state"] == "fail" and trial["value"] is None
            assert trial["reason"] == f"{x} is odd"
        else:
            assert trial["state"] == "complete" and trial["value"] == -x * x
            assert int(trial["note"]) != os.getpid()  # scored on a worker, not here
    assert sorted(state for _, state in ended) == sorted(t["state"] for t in trials)
    assert {t["state"] for t in trials} == {"complete", "fail"}  # seed 3 draws both


def test_a_study_kept_in_storage_is_refused_on_ray_before_any_trial(ray_cluster, tmp_path):
    from sklearn.datasets import load_wine

    from earmark.data import LabelledSet
    from earmark.errors import EarmarkError
    from earmark.learn.tune import tune
    from earmark.settings import override_settings

    X, y = load_wine(return_X_y=True)
    data = LabelledSet(track_ids=list(range(len(y))), paths=[f"/{i}.wav" for i in range(len(y))],
                       targets=[[str(c)] for c in y], kind="single", classes=["0", "1", "2"],
                       artists=[None] * len(y), splits=[None] * len(y))
    storage = tmp_path / "tune.db"
    with override_settings(engine="ray", ray_address=ray_cluster.address), \
            pytest.raises(EarmarkError, match="resumed by the local engine only"):
        tune(X, data, "head", n_trials=2, storage=f"sqlite:///{storage}")
    assert not storage.exists()  # refused before a study was made
