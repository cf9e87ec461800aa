"""The classic baseline: an RBF support-vector machine on descriptor statistics.

:class:`DescriptorSVM` is a scikit-learn estimator over :func:`earmark.features.classic
.classic_descriptors` vectors. Probabilities come from a multinomial logistic regression on the
SVM's pairwise decision values, fitted on out-of-fold decisions (Platt's idea; scikit-learn's
own ``SVC(probability=True)`` is deprecated). As with the embedding heads, the fitted model is
kept as plain arrays and predictions are computed from them, so a saved model reloads exactly.

Kinds: ``"single"``, ``"binary"`` (classification) and ``"regression"`` (an RBF SVR);
multi-label tagging is left to :class:`earmark.models.heads.EmbeddingHead`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from threadpoolctl import threadpool_limits

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


class DescriptorSVM(ClassifierMixin, BaseEstimator):
    """Standardised descriptors -> RBF SVM (-> calibrated probabilities).

    Parameters
    ----------
    kind : ``"single"``, ``"binary"`` or ``"regression"``.
    C : SVM penalty, or ``"auto"``: chosen from ``Cs`` by inner cross-validation (grouped when
        ``groups`` are given to :meth:`fit`) on the training data only.
    Cs : candidates for ``C="auto"``.
    gamma : RBF width; ``"scale"`` is ``1 / n_features`` on standardised data.
    class_weight : ``"balanced"`` or ``None``.
    seed : seeds the inner folds.
    """

    def __init__(self, kind: str = "single", C: float | str = "auto",
                 Cs: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0), gamma: float | str = "scale",
                 class_weight: str | None = "balanced", seed: int = 0):
        self.kind = kind
        self.C = C
        self.Cs = Cs
        self.gamma = gamma
        self.class_weight = class_weight
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            n_classes: int | None = None) -> DescriptorSVM:
        """Fit on descriptors ``X`` ``(n, d)``: class indices, 0/1 or values ``y`` ``(n,)``."""
        # Problems this small fit in milliseconds on one thread; BLAS threads only contend.
        with threadpool_limits(limits=1):
            return self._fit(X, y, groups, n_classes)

    def _fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
             n_classes: int | None) -> DescriptorSVM:
        if self.kind not in ("single", "binary", "regression"):
            raise ValueError(f"DescriptorSVM does not do {self.kind!r}; use an embedding head")
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        width = (n_classes or int(y.max()) + 1) if self.kind == "single" else 2
        folds = inner_folds(y, groups, self.kind, 3, self.seed)
        if self.C == "auto":
            best, scores, _ = search_C(self, X, y, folds, self.Cs,
                                       1 if self.kind == "regression" else width)
            self.C_ = float(self.Cs[best])
            self.selection_ = {"Cs": list(self.Cs), "scores": scores}
        else:
            self.C_ = float(self.C)
        scaler = StandardScaler().fit(X)
        z = scaler.transform(X)
        gamma = 1.0 / X.shape[1] if self.gamma == "scale" else float(self.gamma)
        self.state_ = {"mean": scaler.mean_, "scale": scaler.scale_,
                       "gamma": np.array([gamma])}
        if self.kind == "regression":
            svr = SVR(C=self.C_, gamma=gamma).fit(z, y)
            self.state_.update(support=svr.support_vectors_, dual_coef=svr.dual_coef_,
                               intercept=svr.intercept_)
            return self
        svc = self._svc(gamma).fit(z, y)
        self.state_.update(self._svc_arrays(svc))
        # Calibrate on decisions the SVM made for songs it did not see.
        held_out = np.zeros((len(y), self.state_["intercept"].size))
        for train, test in folds:
            part = self._svc(gamma).fit(z[train], y[train])
            # A fold missing a class cannot give comparable pairs: use the full model there.
            arrays = self._svc_arrays(part) if len(part.classes_) == len(svc.classes_) \
                else self.state_
            held_out[test] = self._decisions(arrays, z[test], gamma)
        calibrator = LogisticRegression(C=1.0, max_iter=5000).fit(held_out, y)
        W, b = softmax_weights(calibrator.coef_, calibrator.intercept_, calibrator.classes_,
                               width)
        self.state_.update(calib_W=W, calib_b=b)
        self.classes_ = np.arange(width)
        return self

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

    def _output(self, X: np.ndarray) -> np.ndarray:
        s = self.state_
        z = (np.asarray(X, dtype=np.float64) - s["mean"]) / s["scale"]
        if self.kind == "regression":
            K = rbf_kernel(z, s["support"], float(s["gamma"][0]))
            return (K @ s["dual_coef"][0] + s["intercept"][0])[:, None]
        decisions = self._decisions(s, z, float(s["gamma"][0]))
        return softmax(decisions @ s["calib_W"].T + s["calib_b"])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities ``(n, n_classes)`` for descriptors ``(n, d)``."""
        if self.kind == "regression":
            raise ValueError("a regression model predicts values: use predict()")
        return self._output(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class indices ``(n,)`` or values ``(n,)`` (regression)."""
        return hard_predictions(self._output(X), self.kind)

    def state(self) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in self.state_.items()}

    def load_state(self, state: dict[str, np.ndarray], fitted: dict) -> DescriptorSVM:
        self.state_ = dict(state)
        self.C_ = fitted["C"]
        if "calib_b" in state:
            self.classes_ = np.arange(state["calib_b"].shape[0])
        return self

    def fitted_info(self) -> dict:
        info = {"C": self.C_}
        if hasattr(self, "selection_"):
            info["selection"] = self.selection_
        return info
