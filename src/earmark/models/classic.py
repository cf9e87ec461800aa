"""The classic baseline: an RBF support-vector machine on descriptor statistics.

:class:`DescriptorSVM` (classification) and :class:`DescriptorSVR` (regression) are
scikit-learn estimators over :func:`earmark.features.classic.classic_descriptors` vectors.
Probabilities come from a multinomial logistic regression on the SVM's pairwise decision
values, fitted on out-of-fold decisions (Platt's idea; scikit-learn's own
``SVC(probability=True)`` is deprecated). As with the embedding heads, the fitted model is
kept as plain arrays and predictions are computed from them, so a saved model reloads exactly.

Kinds: ``"single"`` and ``"binary"`` (the SVM) and regression (the SVR); multi-label tagging is
left to :class:`earmark.models.heads.EmbeddingHead`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.utils.validation import validate_data

from earmark.models.contract import (
    ArrayModel,
    check_input,
    encode_classes,
    options,
    real,
    store_params,
)
from earmark.models.outputs import hard_predictions, softmax, softmax_weights
from earmark.models.selection import inner_folds, search_C


def rbf_kernel(X: np.ndarray, Y: np.ndarray, gamma: float) -> np.ndarray:
    """``exp(-gamma * |x - y|^2)`` for every row pair: ``(n, d), (m, d) -> (n, m)``."""
    d2 = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * X @ Y.T
    return np.exp(-gamma * np.maximum(d2, 0.0))


def pairwise_decisions(K: np.ndarray, n_support: np.ndarray, dual_coef: np.ndarray,
                       intercept: np.ndarray) -> np.ndarray:
    """One-vs-one decision values ``(n, k (k - 1) / 2)`` of a libsvm classifier.

    ``K`` ``(n, n_sv)`` is the kernel against the support vectors, grouped by class as
    ``n_support`` counts them; ``dual_coef`` ``(k - 1, n_sv)`` and ``intercept`` as in
    scikit-learn's multi-class ``SVC``. Column ``p`` is the pair ``(i, j)``, ``i < j``, in
    lexicographic order; positive means class ``i``.
    """
    starts = np.concatenate([[0], np.cumsum(n_support)])
    columns = []
    for i in range(len(n_support)):
        for j in range(i + 1, len(n_support)):
            si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            columns.append(K[:, si] @ dual_coef[j - 1, si] + K[:, sj] @ dual_coef[i, sj]
                           + intercept[len(columns)])
    return np.stack(columns, axis=1)


class _DescriptorSVMBase(ArrayModel, BaseEstimator):
    """What the SVM and the SVR share: standardising, choosing ``C`` (checks, fitting on one
    thread and the saved arrays: :class:`~earmark.models.contract.ArrayModel`).

    Subclasses set :attr:`kind` and provide :meth:`_targets`, :meth:`_width` and
    :meth:`_fit_svm` (the fitted libsvm arrays).
    """

    parameter_rules = {"gamma": real(above=0) | options("scale")}

    def _fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None
             ) -> _DescriptorSVMBase:
        folds = inner_folds(y, groups, self.kind, 3, self.seed)
        if self.C == "auto":
            best, scores, _ = search_C(self, X, y, folds, self.Cs, self._width())
            self.C_ = float(self.Cs[best])
            self.selection_ = {"Cs": list(self.Cs), "scores": scores}
        else:
            self.C_ = float(self.C)
        scaler = StandardScaler().fit(X)
        gamma = 1.0 / X.shape[1] if self.gamma == "scale" else float(self.gamma)
        self.state_ = {"mean": scaler.mean_, "scale": scaler.scale_, "gamma": np.array([gamma])}
        self.state_.update(self._fit_svm(scaler.transform(X), y, gamma, folds))
        return self

    def _fit_svm(self, z: np.ndarray, y: np.ndarray, gamma: float, folds: list
                 ) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _standardised(self, X: np.ndarray) -> np.ndarray:
        return (check_input(self, X) - self.state_["mean"]) / self.state_["scale"]


class DescriptorSVM(ClassifierMixin, _DescriptorSVMBase):
    """Standardised descriptors -> RBF SVM -> calibrated probabilities.

    Parameters
    ----------
    kind : ``"single"`` or ``"binary"`` (values: :class:`DescriptorSVR`; tags: an embedding
        head).
    C : SVM penalty, or ``"auto"``: chosen from ``Cs`` by inner cross-validation (grouped when
        ``groups`` are given to :meth:`fit`) on the training data only.
    Cs : candidates for ``C="auto"``.
    gamma : RBF width; ``"scale"`` is ``1 / n_features`` on standardised data.
    class_weight : ``"balanced"`` or ``None``.
    seed : seeds the inner folds.
    """

    parameter_rules = {"kind": options("single", "binary",
                                       hint="values: DescriptorSVR; tags: EmbeddingHead"),
                       "class_weight": options("balanced", None)}

    def __init__(self, kind: str = "single", C: float | str = "auto",
                 Cs: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0), gamma: float | str = "scale",
                 class_weight: str | None = "balanced", seed: int = 0):
        store_params(self, locals())

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            n_classes: int | None = None) -> DescriptorSVM:
        """Fit on descriptors ``X`` ``(n, d)`` and labels ``y`` ``(n,)``; ``n_classes`` says
        ``y`` holds class indices and fixes the output width when a class is absent.
        Raises ``ValueError`` for bad parameters or targets (a ``kind`` of ``"multi"``)."""
        return super().fit(X, y, groups, n_classes=n_classes)

    def _targets(self, X: np.ndarray, y: np.ndarray, n_classes: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, dtype=np.float64)
        return X, encode_classes(self, y, n_classes, binary=self.kind == "binary")

    def _width(self) -> int:
        return len(self.classes_)

    def _fit_svm(self, z: np.ndarray, y: np.ndarray, gamma: float, folds: list
                 ) -> dict[str, np.ndarray]:
        svc = self._svc(gamma).fit(z, y)
        arrays = self._svc_arrays(svc)
        # Calibrate on decisions the SVM made for songs it did not see.
        held_out = np.zeros((len(y), arrays["intercept"].size))
        for train, test in folds:
            part = self._svc(gamma).fit(z[train], y[train])
            # A fold missing a class cannot give comparable pairs: use the full model there.
            fold = self._svc_arrays(part) if len(part.classes_) == len(svc.classes_) \
                else arrays
            held_out[test] = self._decisions(fold, z[test], gamma)
        calibrator = LogisticRegression(C=1.0, max_iter=5000).fit(held_out, y)
        W, b = softmax_weights(calibrator.coef_, calibrator.intercept_, calibrator.classes_,
                               self._width())
        return arrays | {"calib_W": W, "calib_b": b}

    def _svc(self, gamma: float) -> SVC:
        return SVC(C=self.C_, gamma=gamma, class_weight=self.class_weight)

    @staticmethod
    def _svc_arrays(svc: SVC) -> dict[str, np.ndarray]:
        dual, intercept = svc.dual_coef_, svc.intercept_
        if len(svc.classes_) == 2:
            # scikit-learn flips the signs of two-class models so positive means classes_[1];
            # flip back to libsvm's "positive means the first class" used for every pair.
            dual, intercept = -dual, -intercept
        return {"support": svc.support_vectors_, "n_support": svc.n_support_.astype(np.float64),
                "dual_coef": dual, "intercept": intercept}

    @staticmethod
    def _decisions(arrays: dict[str, np.ndarray], z: np.ndarray, gamma: float) -> np.ndarray:
        K = rbf_kernel(z, arrays["support"], gamma)
        return pairwise_decisions(K, arrays["n_support"].astype(int), arrays["dual_coef"],
                                  arrays["intercept"])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities ``(n, n_classes)`` for descriptors ``(n, d)``."""
        z = self._standardised(X)
        s = self.state_
        decisions = self._decisions(s, z, float(s["gamma"][0]))
        return softmax(decisions @ s["calib_W"].T + s["calib_b"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels ``(n,)`` (from :attr:`classes_`)."""
        decisions = hard_predictions(self.predict_proba(X), self.kind)
        return self.classes_[decisions]

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict
                   ) -> DescriptorSVM:
        """Restore a fitted SVM (``classes_`` become the column indices; the model card's
        ``labels`` name them)."""
        super().load_state(state, fitted, inputs)
        self.classes_ = np.arange(state["calib_b"].shape[0])
        return self


class DescriptorSVR(RegressorMixin, _DescriptorSVMBase):
    """Standardised descriptors -> RBF support-vector regression.

    Parameters
    ----------
    C : SVR penalty, or ``"auto"``: chosen from ``Cs`` by inner (grouped) cross-validation
        on the training data only.
    Cs : candidates for ``C="auto"``.
    gamma : RBF width; ``"scale"`` is ``1 / n_features`` on standardised data.
    seed : seeds the inner folds.
    """

    kind = "regression"

    def __init__(self, C: float | str = "auto", Cs: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0),
                 gamma: float | str = "scale", seed: int = 0):
        store_params(self, locals())

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> DescriptorSVR:
        """Fit on descriptors ``X`` ``(n, d)`` and values ``y`` ``(n,)``."""
        return super().fit(X, y, groups)

    def _targets(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return validate_data(self, X, y, dtype=np.float64, y_numeric=True)

    def _width(self) -> int:
        return 1

    def _fit_svm(self, z: np.ndarray, y: np.ndarray, gamma: float, folds: list
                 ) -> dict[str, np.ndarray]:
        svr = SVR(C=self.C_, gamma=gamma).fit(z, y)
        return {"support": svr.support_vectors_, "dual_coef": svr.dual_coef_,
                "intercept": svr.intercept_}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Values ``(n,)`` for descriptors ``(n, d)``."""
        z = self._standardised(X)
        s = self.state_
        K = rbf_kernel(z, s["support"], float(s["gamma"][0]))
        return K @ s["dual_coef"][0] + s["intercept"][0]
