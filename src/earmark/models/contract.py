"""The scikit-learn estimator contract, shared by every trainable earmark model.

``__init__`` only stores keyword parameters (:func:`store_params` can do it); ``fit`` checks
them (:func:`check_params`, against the :class:`Rule` each class declares in
``parameter_rules``) and its input, then returns ``self``; predict methods first check that the
estimator is fitted (:func:`check_input`, which raises
:class:`sklearn.exceptions.NotFittedError`). :func:`encode_classes` gives classifiers
scikit-learn's label handling (any labels in, the same labels out of ``predict``).

Saving and loading go through one protocol, :class:`Trainable`, used by
:func:`earmark.models.io.save_model` and :func:`~earmark.models.io.load_model`;
:class:`ArrayModel` is what the models on precomputed features share to keep it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits


class Trainable(Protocol):
    """What a trainable estimator gives :func:`~earmark.models.io.save_model` and takes back
    from :func:`~earmark.models.io.load_model`.

    ``state()`` is the fitted model as named arrays (safetensors holds them), ``fitted_info()``
    the choices made while fitting (JSON, the model card's ``fitted``), and
    ``load_state(state, fitted, inputs)`` makes an unfitted estimator (built from the card's
    hyper-parameters) the fitted one again; ``inputs`` is the card's ``inputs``, which a model
    that reads audio itself restores its front end from.
    """

    def state(self) -> dict[str, np.ndarray]: ...

    def fitted_info(self) -> dict: ...

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict) -> Self: ...


@dataclass(frozen=True)
class Rule:
    """The values a hyper-parameter accepts: ``accepts(value)``, and ``expected`` in words
    for the error message."""

    accepts: Callable[[object], bool]
    expected: str

    def __or__(self, other: Rule) -> Rule:
        return Rule(lambda v: self.accepts(v) or other.accepts(v),
                    f"{self.expected} or {other.expected}")


def options(*values: Hashable, hint: str = "") -> Rule:
    """One of ``values`` (compared by equality; ``None`` allowed when listed); ``hint`` is
    added to the error message (e.g. where else to go)."""
    return Rule(lambda v: isinstance(v, Hashable) and not isinstance(v, bool) and v in values,
                "one of " + ", ".join(map(repr, values)) + (f" ({hint})" if hint else ""))


def whole(minimum: int) -> Rule:
    """An integer ``>= minimum`` (``bool`` is not one)."""
    return Rule(lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)
                and v >= minimum, f"an integer >= {minimum}")


def real(minimum: float = -math.inf, *, above: float | None = None,
         below: float | None = None) -> Rule:
    """A finite number ``>= minimum`` (or ``> above``, ``< below``)."""

    def accepts(v: object) -> bool:
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v):
            return False
        return v >= minimum and (above is None or v > above) and (below is None or v < below)

    bounds = [f">= {minimum:g}"] if minimum > -math.inf else []
    bounds += [f"> {above:g}"] if above is not None else []
    bounds += [f"< {below:g}"] if below is not None else []
    return Rule(accepts, "a finite number" + (" " + " and ".join(bounds) if bounds else ""))


def flag() -> Rule:
    """``True`` or ``False``."""
    return Rule(lambda v: isinstance(v, bool | np.bool_), "True or False")


def positives() -> Rule:
    """A non-empty sequence of finite numbers > 0 (e.g. the ``Cs`` to search)."""
    one = real(above=0)
    return Rule(lambda v: isinstance(v, Sequence) and not isinstance(v, str) and len(v) > 0
                and all(one.accepts(c) for c in v), "a non-empty sequence of numbers > 0")


def text() -> Rule:
    """Any string."""
    return Rule(lambda v: isinstance(v, str), "a string")


#: ``None``, for rules such as ``whole(1) | NONE``.
NONE = options(None)


def store_params(estimator: BaseEstimator, arguments: dict[str, object]) -> None:
    """Store an ``__init__``'s arguments as attributes of the same names, all that such an
    ``__init__`` may do (``get_params`` reads them back by the signature's names).

    ``arguments`` is the ``__init__``'s ``locals()``, taken first thing; ``self`` (and
    ``__class__``, there when the method uses ``super()``) are left out.
    """
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


def check_params(estimator: BaseEstimator) -> None:
    """Raise ``ValueError`` naming the first hyper-parameter of ``estimator`` that breaks its
    rule. Rules come from the ``parameter_rules`` dicts of the estimator's classes (a subclass
    may override a base's rule); a parameter without a rule is a programming error
    (``KeyError``)."""
    rules: dict[str, Rule] = {}
    for cls in reversed(type(estimator).__mro__):
        rules.update(vars(cls).get("parameter_rules", {}))
    for name, value in estimator.get_params(deep=False).items():
        rule = rules[name]
        if not rule.accepts(value):
            raise ValueError(f"{type(estimator).__name__}: {name} must be {rule.expected}, "
                             f"not {value!r}")


def encode_classes(estimator: BaseEstimator, y: np.ndarray, n_classes: int | None,
                   binary: bool = False) -> np.ndarray:
    """Class indices ``(n,)`` of targets ``y`` ``(n,)``, setting ``estimator.classes_``.

    With ``n_classes`` (training, whose label set may have classes absent from ``y``), ``y``
    already holds indices ``0 .. n_classes - 1`` and ``classes_`` is ``arange(n_classes)``.
    Without it any labels go (strings, negative numbers), as in scikit-learn: ``classes_`` is
    their sorted set and ``predict`` gives them back. ``binary`` (or ``n_classes``) limits
    them to two. Raises ``ValueError`` for continuous targets, a single class (without
    ``n_classes``), or indices out of range.
    """
    check_classification_targets(y)
    if n_classes is not None:
        if not np.issubdtype(y.dtype, np.number) or (y.size and (
                y.min() < 0 or y.max() >= n_classes or np.any(y != np.round(y)))):
            raise ValueError(f"with n_classes={n_classes}, y must hold class indices "
                             f"0 .. {n_classes - 1}")
        estimator.classes_ = np.arange(2 if binary else n_classes)
        return y.astype(int)
    classes, indices = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"{type(estimator).__name__} needs at least two classes in y; got "
                         f"{len(classes)} class")
    if binary and len(classes) > 2:
        raise ValueError(f"a binary {type(estimator).__name__} needs two classes in y; got "
                         f"{len(classes)}")
    estimator.classes_ = classes
    return indices


def check_input(estimator: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """``X`` ``(n, n_features_in_)`` as a finite float64 array, once ``estimator`` is fitted.

    Raises :class:`sklearn.exceptions.NotFittedError` before ``fit`` (or ``load_state``), and
    ``ValueError`` for NaN/inf, a 1-D array or the wrong number of columns.
    """
    check_is_fitted(estimator)
    return validate_data(estimator, X, reset=False, dtype=np.float64)


class ArrayModel:
    """What the models on precomputed feature rows share (the embedding heads, the descriptor
    SVMs): checks and one-thread fitting, and the :class:`Trainable` protocol.

    ``fit`` checks the hyper-parameters (the ``C``, ``Cs`` and ``seed`` rules are here) and the
    targets, then fits. The fitted model is plain arrays in ``state_`` (``"mean"`` holds one
    value per input column), the ``C_`` used and, when ``C="auto"`` searched, ``selection_``
    (``{"Cs", "scores"}``); :meth:`state`, :meth:`fitted_info` and :meth:`load_state` save
    and restore them. Subclasses (scikit-learn estimators) set ``kind`` and provide
    :meth:`_targets` (checked ``X, y``), :meth:`_width` and ``_fit(X, y, groups)``.
    """

    kind: str
    parameter_rules = {"C": real(above=0) | options("auto"), "Cs": positives(),
                       "seed": whole(0)}

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            **targets) -> Self:
        """Fit on feature rows ``X`` ``(n, d)`` and targets ``y`` (``targets``: what the
        subclass's ``_targets`` also takes); ``groups`` ``(n,)`` keeps related songs together
        when ``C="auto"`` is chosen. Raises ``ValueError`` for bad parameters or targets."""
        check_params(self)
        X, y = self._targets(X, y, **targets)
        # Problems this small fit in milliseconds on one thread; BLAS threads only contend.
        with threadpool_limits(limits=1):
            return self._fit(X, y, groups)

    def _targets(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _width(self) -> int:
        """Columns of the output layer."""
        raise NotImplementedError

    def _fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> Self:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays (for safetensors)."""
        return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in self.state_.items()}

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict) -> Self:
        """Restore a fitted model from :meth:`state` and :meth:`fitted_info` (``inputs``: the
        card's; the features are computed outside the model, so they are not needed here)."""
        self.state_ = dict(state)
        self.C_ = fitted["C"]
        self.n_features_in_ = int(state["mean"].shape[0])
        return self

    def fitted_info(self) -> dict:
        """Choices made while fitting (for the model card)."""
        info = {"C": self.C_}
        if hasattr(self, "selection_"):
            info["selection"] = self.selection_
        return info
