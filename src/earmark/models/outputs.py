"""What every trainable model's outputs mean, in one place: probabilities from linear scores,
their calibration, and how outputs become decisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from earmark.models.io import ModelCard


def hard_predictions(output: np.ndarray, kind: str,
                     thresholds: np.ndarray | float | None = None) -> np.ndarray:
    """Decisions from model outputs ``(n, k)``.

    - ``"single"``: class indices ``(n,)``, the most probable (``thresholds`` is ignored);
    - ``"binary"``: class indices ``(n,)``: the more probable class, or, with ``thresholds``,
      1 where the positive class's probability is at or above its first value;
    - ``"multi"``: 0/1 tags ``(n, k)``, 1 at or above each tag's threshold (a scalar or
      ``(k,)``; default 0.5);
    - ``"regression"``: the values ``(n,)``.
    """
    if kind == "regression":
        return output[:, 0]
    if kind == "multi":
        return (output >= (0.5 if thresholds is None else thresholds)).astype(int)
    if kind == "binary" and thresholds is not None:
        return (output[:, 1] >= float(np.ravel(thresholds)[0])).astype(int)
    return output.argmax(axis=1)


def card_thresholds(card: ModelCard, override: float | None = None) -> np.ndarray | None:
    """The decision thresholds ``(n_labels,)`` to use with a model: ``override`` for every
    label when given, else the thresholds tuned in training (``None`` when there are none, so
    :func:`hard_predictions` uses its defaults)."""
    if override is not None:
        return np.full(max(1, len(card.labels)), float(override))
    if card.thresholds is not None and len(card.thresholds):
        return np.asarray(card.thresholds, dtype=np.float64)
    return None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(n, k)`` logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


def softmax_weights(W: np.ndarray, b: np.ndarray, present: np.ndarray,
                    width: int) -> tuple[np.ndarray, np.ndarray]:
    """Softmax weights ``(width, d)`` and biases ``(width,)`` for all ``width`` classes from a
    scikit-learn linear classifier's ``coef_``, ``intercept_`` and ``classes_`` (``present``).

    scikit-learn keeps a single logistic row for two classes; it becomes two opposite halves,
    whose softmax is that logistic. Classes absent from training get a logit far below the
    others.
    """
    if W.shape[0] == 1 and len(present) == 2:
        W, b = np.vstack([-W / 2, W / 2]), np.array([-b[0] / 2, b[0] / 2])
    full_W = np.zeros((width, W.shape[1]))
    full_b = np.full(width, -1e3)
    full_W[present], full_b[present] = W, b
    return full_W, full_b


def fit_temperature(output: np.ndarray, y: np.ndarray, kind: str) -> float:
    """The temperature ``T`` minimising the log loss of held-out probabilities tempered as
    ``softmax(log p / T)`` (single) or ``sigmoid(logit(p) / T)`` (binary, multi); 1 for
    regression. Searched on a log grid from 0.05 to 20."""
    if kind == "regression":
        return 1.0
    p = np.clip(output, 1e-9, 1 - 1e-9)
    grid = np.logspace(np.log10(0.05), np.log10(20.0), 121)
    if kind == "single":
        logits = np.log(p)
        losses = [-np.mean(np.log(softmax(logits / t)[np.arange(len(y)), y] + 1e-12))
                  for t in grid]
    else:
        logits = np.log(p / (1 - p))
        target = np.eye(2)[y] if kind == "binary" else y
        losses = [-np.mean(target * np.log(sigmoid(logits / t) + 1e-12)
                           + (1 - target) * np.log(1 - sigmoid(logits / t) + 1e-12))
                  for t in grid]
    return float(grid[int(np.argmin(losses))])
