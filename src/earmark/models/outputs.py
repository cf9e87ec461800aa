"""What every trainable model's outputs mean, in one place: how outputs become decisions."""

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
