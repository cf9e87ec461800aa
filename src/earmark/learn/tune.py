"""Hyper-parameter search with Optuna: grouped cross-validation as the objective.

Optuna because it runs in-process with no server or cluster (a study can still be kept in an
SQLite file and resumed with ``storage``), its TPE sampler is seeded for reproducible searches,
and its pruners stop poor trials after the first folds, which matters for the networks. Each
trial samples hyper-parameters from :func:`search_space`, runs a stratified group k-fold over
the training songs (songs in a ``test`` split are never seen), reports the running mean after
every fold so the median pruner can stop it early, and returns the mean score.

The best trial's score is the score that *selected* it, so it is optimistic; evaluate the
chosen model on held-out songs (``earmark evaluate``) for an honest number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from earmark.data import LabelledSet, cv_folds, group_keys
from earmark.learn.train import score_fold
from earmark.types import ProgressFn

#: The score each kind of task is tuned for, and whether higher is better.
OBJECTIVES = {"single": ("accuracy", True), "binary": ("accuracy", True),
              "multi": ("roc_auc_macro", True), "regression": ("rmse", False)}


def search_space(model_type: str, trial, kind: str = "single") -> dict:
    """Hyper-parameters of ``model_type`` for a task of ``kind`` sampled for an Optuna
    ``trial``."""
    if model_type == "head":
        space = {"C": trial.suggest_float("C", 1e-4, 10.0, log=True),
                 "pca": trial.suggest_categorical("pca", [0, 16, 32, 64]) or None}
        if kind != "regression":  # a regression head is always a ridge regression
            space["classifier"] = trial.suggest_categorical("classifier", ["logreg", "mlp"])
        return space
    if model_type == "classic":
        return {"C": trial.suggest_float("C", 1e-2, 1e3, log=True),
                "gamma": trial.suggest_float("gamma", 1e-4, 1e-1, log=True)}
    network = {"lr": trial.suggest_float("lr", 1e-5, 3e-3, log=True),
               "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
               "mixup_alpha": trial.suggest_categorical("mixup_alpha", [0.0, 0.2, 0.4])}
    if model_type == "shortchunk":
        network["width"] = trial.suggest_categorical("width", [16, 32, 64, 128])
    elif model_type == "finetune":
        network["train_layers"] = trial.suggest_categorical("train_layers", ["last", "all"])
    return network


@dataclass
class TuneResult:
    """The best hyper-parameters, their cross-validated score, and every trial."""

    metric: str
    best_params: dict
    best_score: float
    trials: list[dict]


def tune(
    X: np.ndarray, data: LabelledSet, model_type: str = "head", *, n_trials: int = 20,
    n_splits: int = 3, seed: int = 0, fixed: dict | None = None, timeout: float | None = None,
    storage: str | None = None, study_name: str | None = None,
    progress: ProgressFn | None = None,
) -> TuneResult:
    """Search hyper-parameters of ``model_type`` on ``X`` (from
    :func:`earmark.learn.train.song_matrix`) by grouped cross-validation.

    Parameters
    ----------
    n_trials, timeout : stop after this many trials or seconds, whichever first.
    n_splits : folds of the stratified group k-fold.
    seed : seeds the sampler, the folds and every model.
    fixed : hyper-parameters that are not searched (e.g. ``{"epochs": 3}``).
    storage, study_name : an Optuna storage URL (``sqlite:///tune.db``) to keep and resume
        a study.
    """
    import optuna  # here, not at the top: with SQLAlchemy it takes a second to import

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, data = X[~data.in_split("test")], data.without_split("test")
    metric, higher = OBJECTIVES[data.kind]
    y = data.y()
    groups = group_keys(data.paths, data.artists)
    folds = cv_folds(y, groups, n_splits, seed, data.kind)

    def objective(trial) -> float:
        hyper = {**search_space(model_type, trial, data.kind), **(fixed or {})}
        scores = []
        for step, (train, test) in enumerate(folds):
            _, fold_scores = score_fold(X, data, train, test, model_type, y=y, groups=groups,
                                        seed=seed, hyper=hyper)
            scores.append(fold_scores[metric])
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study = optuna.create_study(
        direction="maximize" if higher else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        storage=storage, study_name=study_name, load_if_exists=storage is not None,
    )
    done = [0]

    def callback(study, trial) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], n_trials, f"trial {trial.number}: {trial.state.name.lower()}")

    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[callback])
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        raise ValueError("no trial finished; raise n_trials or timeout")
    trials = [{"number": t.number, "state": t.state.name.lower(), "params": t.params,
               "value": t.value} for t in study.trials]
    best = {**search_space(model_type, optuna.trial.FixedTrial(study.best_params), data.kind),
            **(fixed or {})}
    return TuneResult(metric, best, float(study.best_value), trials)
