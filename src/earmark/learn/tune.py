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

import warnings
from dataclasses import dataclass

import numpy as np

from earmark.data import LabelledSet, cv_folds, group_keys
from earmark.errors import EarmarkError
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
    """The best hyper-parameters, their cross-validated score, and every trial: ``number``,
    ``state`` (``complete``, ``pruned``, ``fail``), ``params``, ``value`` (``None`` unless
    scored), ``reason`` (why a failed trial failed) and ``note`` (its warnings, one line)."""

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

    # earmark reports each trial itself (state, reason, one note); Optuna's own log lines
    # would repeat them with tracebacks.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    X, data = X[~data.in_split("test")], data.without_split("test")
    metric, higher = OBJECTIVES[data.kind]
    y = data.y()
    groups = group_keys(data.paths, data.artists)
    folds = cv_folds(y, groups, n_splits, seed, data.kind)

    def objective(trial) -> float:
        hyper = {**search_space(model_type, trial, data.kind), **(fixed or {})}
        scores, notes = [], {}
        try:
            for step, (train, test) in enumerate(folds):
                output, fold_scores = _fit_fold(X, data, train, test, model_type, y, groups,
                                                seed, hyper, notes)
                if not np.isfinite(output).all() or not np.isfinite(fold_scores[metric]):
                    raise FitFailed(f"fold {step + 1}: the model's outputs are not finite "
                                    "(the fit diverged)")
                scores.append(fold_scores[metric])
                trial.report(float(np.mean(scores)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        except FitFailed as exc:
            trial.set_user_attr("reason", str(exc))
            raise
        finally:
            trial.set_user_attr("note", _summarise(notes))
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

    # A failed fit marks its trial failed (with its reason) and the search goes on.
    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[callback],
                   catch=(FitFailed,))
    trials = [{"number": t.number, "state": t.state.name.lower(), "params": t.params,
               "value": t.value, "reason": t.user_attrs.get("reason"),
               "note": t.user_attrs.get("note")} for t in study.trials]
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        reasons = "; ".join(f"trial {t['number']}: {t['reason']}" for t in trials
                            if t["reason"])
        raise ValueError("no trial finished" + (f" ({reasons})" if reasons else
                                                "; raise n_trials or timeout"))
    best = {**search_space(model_type, optuna.trial.FixedTrial(study.best_params), data.kind),
            **(fixed or {})}
    return TuneResult(metric, best, float(study.best_value), trials)


class FitFailed(Exception):
    """A trial's model could not be fitted or gave no usable output; the message says why."""


def _fit_fold(X: np.ndarray, data: LabelledSet, train: np.ndarray, test: np.ndarray,
              model_type: str, y: np.ndarray, groups: np.ndarray, seed: int, hyper: dict,
              notes: dict[str, int]) -> tuple[np.ndarray, dict]:
    """:func:`~earmark.learn.train.score_fold`, with the library warnings of the fit (e.g.
    scikit-learn's ConvergenceWarning) counted in ``notes`` by their first line instead of
    printed, and a fit that raises turned into :class:`FitFailed` with its reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return score_fold(X, data, train, test, model_type, y=y, groups=groups,
                              seed=seed, hyper=hyper)
        except (ValueError, ArithmeticError, EarmarkError, np.linalg.LinAlgError) as exc:
            raise FitFailed(str(exc) or type(exc).__name__) from exc
        finally:
            for warning in caught:
                line = str(warning.message).strip().splitlines()[0] if str(warning.message) \
                    else warning.category.__name__
                notes[line] = notes.get(line, 0) + 1


def _summarise(notes: dict[str, int]) -> str | None:
    """One line for a trial's warnings: the most frequent, with counts."""
    if not notes:
        return None
    first, count = max(notes.items(), key=lambda kv: kv[1])
    more = f" (+{len(notes) - 1} other warning(s))" if len(notes) > 1 else ""
    return f"{first} (x{count}){more}"
