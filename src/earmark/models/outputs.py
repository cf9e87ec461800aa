"""What every trainable model's outputs mean, in one place."""

from __future__ import annotations

import numpy as np


def hard_predictions(output: np.ndarray, kind: str) -> np.ndarray:
    """Decisions from model outputs ``(n, k)``.

    ``kind`` is ``"single"`` or ``"binary"`` (class indices ``(n,)``, the most probable),
    ``"multi"`` (0/1 tags ``(n, k)`` at 0.5) or ``"regression"`` (values ``(n,)``).
    """
    if kind == "regression":
        return output[:, 0]
    if kind == "multi":
        return (output >= 0.5).astype(int)
    return output.argmax(axis=1)
