"""Hyper-parameter search with Optuna: grouped cross-validation as the objective.

Optuna because it runs in-process with no server or cluster (a study can still be kept in an
SQLite file and resumed with ``storage``), its TPE sampler is seeded for reproducible searches,
and its pruners stop poor trials after the first folds, which matters for the networks. Each
trial samples hyper-parameters from :func:`search_space`, runs a stratified group k-fold over
the training songs (songs in a ``test`` split are never seen), reports the running mean after
every fold so the median pruner can stop it early, and returns the mean score.

On an engine that runs trials itself (:class:`~earmark.engine.TrialRunner`: the Ray engine,
with Ray Tune) the same seeded sampler draws from the same space and each trial is the same
cross-validation, run on the cluster's workers, without pruning.

The best trial's score is the score that *selected* it, so it is optimistic; evaluate the
chosen model on held-out songs (``earmark evaluate``) for an honest number.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from earmark.data import LabelledSet, cv_folds, group_keys
from earmark.engine import TrialRunner, default_engine
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
        a study (local engine only).

    The trials run where :func:`earmark.engine.default_engine` says. Raises ``ValueError``
    when no trial finished (with each failed trial's reason) and
    :class:`~earmark.errors.EarmarkError` for ``storage`` on an engine that runs the trials
    itself.
    """
    import optuna  # here, not at the top: with SQLAlchemy it takes a second to import

    # earmark reports each trial itself (state, reason, one note); Optuna's own log lines
    # would repeat them with tracebacks.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    X, data = X[~data.in_split("test")], data.without_split("test")
    metric, higher = OBJECTIVES[data.kind]
    y = data.y()
    groups = group_keys(data.paths, data.artists)
    search = _Search(X, data, model_type, metric, y, groups,
                     cv_folds(y, groups, n_splits, seed, data.kind), seed, fixed or {})
    engine = default_engine()
    if isinstance(engine, TrialRunner):
        if storage is not None:
            raise EarmarkError("a study kept in --storage is resumed by the local engine "
                               "only; leave out --storage or --engine ray")
        trials = engine.run_trials(
            search.score, search.suggest, n_trials=n_trials, mode="max" if higher else "min",
            seed=seed, timeout=timeout,
            on_trial=None if progress is None else
            lambda done, state: progress(done, n_trials, f"a trial ended: {state}"))
    else:
        trials = _optuna_trials(search, higher, n_trials=n_trials, seed=seed,
                                timeout=timeout, storage=storage, study_name=study_name,
                                progress=progress)
    finished = [t for t in trials if t["state"] == "complete"]
    if not finished:
        reasons = "; ".join(f"trial {t['number']}: {t['reason']}" for t in trials
                            if t["reason"])
        raise ValueError("no trial finished" + (f" ({reasons})" if reasons else
                                                "; raise n_trials or timeout"))
    best = (max if higher else min)(finished, key=lambda t: t["value"])
    return TuneResult(metric, search.hyper(best["params"]), float(best["value"]), trials)


@dataclass
class _Search:
    """What every trial of one search shares, and the trial itself: :meth:`suggest` draws a
    trial's parameters, :meth:`hyper` turns them into the model's hyper-parameters and
    :meth:`score` cross-validates them. Picklable, so a trial can run on a Ray worker."""

    X: np.ndarray
    data: LabelledSet
    model_type: str
    metric: str
    y: np.ndarray
    groups: np.ndarray
    folds: list
    seed: int
    fixed: dict

    def suggest(self, trial) -> None:
        """Draw a trial's parameters, which the Optuna ``trial`` keeps (the define-by-run
        space)."""
        search_space(self.model_type, trial, self.data.kind)

    def hyper(self, params: dict) -> dict:
        """The model's hyper-parameters for a trial's drawn ``params``."""
        import optuna
        trial = optuna.trial.FixedTrial(params)
        return {**search_space(self.model_type, trial, self.data.kind), **self.fixed}

    def cross_validate(self, hyper: dict, notes: dict[str, int],
                       after_fold: Callable[[int, float], None] | None = None) -> float:
        """The mean ``metric`` of ``hyper`` over the folds; ``after_fold(step, running
        mean)`` after each (where Optuna may prune). Raises :class:`FitFailed`."""
        scores = []
        for step, (train, test) in enumerate(self.folds):
            output, fold_scores = _fit_fold(self.X, self.data, train, test, self.model_type,
                                            self.y, self.groups, self.seed, hyper, notes)
            if not np.isfinite(output).all() or not np.isfinite(fold_scores[self.metric]):
                raise FitFailed(f"fold {step + 1}: the model's outputs are not finite "
                                "(the fit diverged)")
            scores.append(fold_scores[self.metric])
            if after_fold is not None:
                after_fold(step, float(np.mean(scores)))
        return float(np.mean(scores))

    def score(self, params: dict) -> dict:
        """One trial of a :class:`~earmark.engine.TrialRunner`: ``value`` (``None`` when
        the fit failed), ``reason`` and ``note`` (its warnings, one line)."""
        notes: dict[str, int] = {}
        try:
            value, reason = self.cross_validate(self.hyper(params), notes), None
        except FitFailed as exc:
            value, reason = None, str(exc)
        return {"value": value, "reason": reason, "note": _summarise(notes)}


def _optuna_trials(search: _Search, higher: bool, *, n_trials: int, seed: int,
                   timeout: float | None, storage: str | None, study_name: str | None,
                   progress: ProgressFn | None) -> list[dict]:
    """The search run here with Optuna (seeded TPE, median pruning after the first folds):
    every trial as :class:`TuneResult` lists them."""
    import optuna

    def objective(trial) -> float:
        notes: dict[str, int] = {}

        def prune(step: int, running: float) -> None:
            trial.report(running, step)
            if trial.should_prune():
                raise optuna.TrialPruned()

        search.suggest(trial)
        try:
            return search.cross_validate(search.hyper(trial.params), notes, prune)
        except FitFailed as exc:
            trial.set_user_attr("reason", str(exc))
            raise
        finally:
            trial.set_user_attr("note", _summarise(notes))

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
    return [{"number": t.number, "state": t.state.name.lower(), "params": t.params,
             "value": t.value, "reason": t.user_attrs.get("reason"),
             "note": t.user_attrs.get("note")} for t in study.trials]


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
