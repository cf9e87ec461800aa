"""Choosing a model's hyper-parameters inside its training data, never its test data.

:func:`inner_folds` splits one training set; :func:`search_C` compares values of ``C`` on those
folds with :func:`selection_score`. Shared by the embedding head, the descriptor SVM and (for
picking the epoch to keep) the networks.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.metrics import mean_squared_error, roc_auc_score
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from earmark.data.splits import stratify_labels
from earmark.models.outputs import hard_predictions


def inner_folds(y: np.ndarray, groups: np.ndarray | None, kind: str, n_splits: int, seed: int):
    """Folds for choosing hyper-parameters inside one training set.

    Grouped when every class spans at least ``n_splits`` groups; otherwise (a small training
    fold, e.g. one GTZAN block per genre) a grouped split would hide whole classes from
    training, so the folds are only stratified. This can only make the choice of a
    hyper-parameter less sharp: the outer test fold is never touched either way.
    """
    strata = stratify_labels(y, kind)
    smallest = len(y)
    if kind != "regression":
        smallest = min(int((strata == s).sum()) for s in np.unique(strata))
    n_splits = max(2, min(n_splits, smallest))
    if groups is not None and kind != "regression":
        spans = min(len(set(groups[strata == s])) for s in np.unique(strata))
        if spans >= n_splits:
            cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
            return list(cv.split(np.zeros(len(y)), strata, groups))
    if groups is not None and kind == "regression" and len(set(groups)) >= n_splits:
        return list(GroupKFold(n_splits).split(y, y, groups))
    if kind == "regression":
        return list(KFold(n_splits, shuffle=True, random_state=seed).split(y))
    return list(StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(y, strata))


def selection_score(kind: str, y: np.ndarray, output: np.ndarray) -> float:
    """Higher is better: accuracy (single; binary at 0.5), macro ROC-AUC (multi), -MSE
    (regression)."""
    if kind in ("single", "binary"):
        return float(np.mean(hard_predictions(output, kind, 0.5) == y))
    if kind == "multi":
        usable = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
        return float(np.mean([roc_auc_score(y[:, j], output[:, j]) for j in usable])) \
            if usable else 0.0
    return -float(mean_squared_error(y, output))


def search_C(estimator, X: np.ndarray, y: np.ndarray, folds: list, Cs, width: int,
             **params) -> tuple[int, list[float], list[np.ndarray]]:
    """Compare values of ``C`` for ``estimator`` by cross-validation inside its training data.

    For each ``C`` in ``Cs``, a clone of ``estimator`` with that ``C`` (and ``params``) is
    fitted on the training part of each of ``folds`` (from :func:`inner_folds`) and gives
    outputs for the held-out part, ``(n, width)`` in all (``width`` is also a classifier
    clone's ``n_classes``); :func:`selection_score` compares them.

    Returns ``(best, scores, outputs)``: the index of the best ``C`` (the first on ties), the
    score of each ``C`` and its out-of-fold outputs.
    """
    kind = estimator.kind
    # Classifiers get the class count, so a fold missing a class keeps its column.
    fit_params = {} if kind == "regression" else {"n_classes": width}
    scores, outputs = [], []
    for c in Cs:
        candidate = clone(estimator).set_params(C=c, **params)
        out = np.zeros((len(y), width))
        for train, test in folds:
            candidate.fit(X[train], y[train], **fit_params)
            out[test] = candidate.predict(X[test])[:, None] if kind == "regression" \
                else candidate.predict_proba(X[test])
        outputs.append(out)
        scores.append(selection_score(kind, y, out[:, 0] if kind == "regression" else out))
    return int(np.argmax(scores)), scores, outputs
