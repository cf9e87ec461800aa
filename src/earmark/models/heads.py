"""Heads on pretrained song embeddings: the default earmark model, trained in seconds.

:class:`EmbeddingHead` is a scikit-learn estimator (``fit`` / ``predict_proba`` / ``predict``,
``get_params`` / ``set_params``): standardise, optionally project with PCA, then a logistic
regression (or a one-hidden-layer MLP). scikit-learn does the fitting; the fitted model is then
kept as plain arrays (:meth:`EmbeddingHead.state`) and predictions are computed from them, so a
model loaded from safetensors behaves exactly like the one just trained.

Targets by ``kind``: ``"single"`` class indices ``(n,)``; ``"multi"`` 0/1 ``(n, n_tags)``;
``"binary"`` 0/1 ``(n,)``; ``"regression"`` floats ``(n,)`` (a ridge regression).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from earmark.models.outputs import (
    fit_temperature,
    hard_predictions,
    sigmoid,
    softmax,
    softmax_weights,
)
from earmark.models.selection import inner_folds, search_C

#: Inverse regularisation strengths tried when ``C="auto"``.
DEFAULT_CS = (0.001, 0.01, 0.1, 1.0, 10.0)


class EmbeddingHead(ClassifierMixin, BaseEstimator):
    """A linear (or small MLP) head on song embeddings.

    Parameters
    ----------
    kind : ``"single"``, ``"multi"``, ``"binary"`` or ``"regression"``.
    classifier : ``"logreg"`` or ``"mlp"`` (one hidden ReLU layer of ``hidden`` units).
    C : inverse regularisation strength, or ``"auto"``: pick it from ``Cs`` by an inner
        (grouped, stratified) cross-validation on the training data only.
    Cs : candidates for ``C="auto"``.
    pca : keep this many principal components after standardising (``None``: no PCA).
    hidden : hidden units of the MLP.
    class_weight : ``"balanced"`` weighs classes inversely to their frequency (logreg only).
    calibrate : divide the logits by a temperature fitted (minimum log loss) on the inner
        cross-validation's held-out outputs, so probabilities match accuracy: strong
        regularisation, good for accuracy on few songs, otherwise leaves them far too flat.
    seed : seeds every random choice (inner folds, MLP initialisation).
    """

    def __init__(self, kind: str = "single", classifier: str = "logreg",
                 C: float | str = "auto", Cs: tuple[float, ...] = DEFAULT_CS,
                 pca: int | None = None, hidden: int = 256,
                 class_weight: str | None = "balanced", calibrate: bool = True,
                 seed: int = 0):
        self.kind = kind
        self.classifier = classifier
        self.C = C
        self.Cs = Cs
        self.pca = pca
        self.hidden = hidden
        self.class_weight = class_weight
        self.calibrate = calibrate
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            n_classes: int | None = None) -> EmbeddingHead:
        """Fit on embeddings ``X`` ``(n, dim)``; ``groups`` ``(n,)`` keeps related songs
        together when ``C="auto"`` is chosen; ``n_classes`` fixes the output width when a
        class is absent from ``y``."""
        # Problems this small fit in milliseconds on one thread; BLAS threads only contend.
        with threadpool_limits(limits=1):
            return self._fit(X, y, groups, n_classes)

    def _fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
             n_classes: int | None) -> EmbeddingHead:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        width = self._width(y, n_classes)
        candidates = self.Cs if self.C == "auto" else (float(self.C),)
        held_out = None
        if len(candidates) > 1 or self.calibrate:
            folds = inner_folds(y, groups, self.kind, 3, self.seed)
            best, scores, outputs = search_C(self, X, y, folds, candidates, width,
                                             calibrate=False)
            held_out = outputs[best]
            if len(candidates) > 1:
                self.selection_ = {"Cs": list(self.Cs), "scores": scores}
            self.C_ = float(candidates[best])
        else:
            self.C_ = float(candidates[0])
        self.state_ = self._fit_arrays(X, y, width)
        self.temperature_ = fit_temperature(held_out, y, self.kind) \
            if self.calibrate and held_out is not None else 1.0
        self.state_["temperature"] = np.array([self.temperature_])
        self.classes_ = np.arange(self.state_["out_b"].shape[0]) if self.kind != "binary" \
            else np.arange(2)
        return self

    def _width(self, y: np.ndarray, n_classes: int | None) -> int:
        if self.kind == "single":
            return n_classes or int(y.max()) + 1
        if self.kind == "multi":
            return y.shape[1]
        return 2 if self.kind == "binary" else 1

    def _fit_arrays(self, X: np.ndarray, y: np.ndarray, width: int) -> dict[str, np.ndarray]:
        scaler = StandardScaler().fit(X)
        state = {"mean": scaler.mean_, "scale": scaler.scale_}
        z = scaler.transform(X)
        if self.pca:
            pca = PCA(n_components=min(self.pca, *z.shape), random_state=self.seed).fit(z)
            state["pca_mean"], state["pca_components"] = pca.mean_, pca.components_
            z = pca.transform(z)
        if self.kind == "regression":
            ridge = Ridge(alpha=1.0 / self.C_).fit(z, y)
            state["out_W"], state["out_b"] = ridge.coef_[None, :], np.atleast_1d(ridge.intercept_)
            return state
        if self.classifier == "mlp":
            mlp = MLPClassifier((self.hidden,), alpha=1.0 / self.C_, max_iter=500,
                                random_state=self.seed).fit(z, y)
            state["hidden_W"], state["hidden_b"] = mlp.coefs_[0].T, mlp.intercepts_[0]
            W, b, present = mlp.coefs_[1].T, mlp.intercepts_[1], mlp.classes_
        elif self.kind == "single":
            model = LogisticRegression(C=self.C_, class_weight=self.class_weight, max_iter=5000)
            model.fit(z, y)
            W, b, present = model.coef_, model.intercept_, model.classes_
        else:
            W, b = self._fit_binary_columns(z, y if self.kind == "multi" else y[:, None])
        if self.kind == "single":
            W, b = softmax_weights(W, b, present, width)
        state["out_W"], state["out_b"] = W, b
        return state

    def _fit_binary_columns(self, z: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One logistic regression per column of 0/1 targets ``Y`` ``(n, k)``."""
        Ws, bs = [], []
        for col in Y.T.astype(int):
            if col.min() == col.max():  # a tag never (or always) present: predict its prior
                Ws.append(np.zeros(z.shape[1]))
                bs.append(10.0 if col[0] else -10.0)
                continue
            model = LogisticRegression(C=self.C_, class_weight=self.class_weight, max_iter=5000)
            model.fit(z, col)
            Ws.append(model.coef_[0])
            bs.append(model.intercept_[0])
        return np.vstack(Ws), np.array(bs)

    def _output(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, k)`` (binary: ``(n, 2)``), or predictions ``(n, 1)`` for
        regression, computed from :attr:`state_` only."""
        s = self.state_
        z = (np.asarray(X, dtype=np.float64) - s["mean"]) / s["scale"]
        if "pca_components" in s:
            z = (z - s["pca_mean"]) @ s["pca_components"].T
        if "hidden_W" in s:
            z = np.maximum(z @ s["hidden_W"].T + s["hidden_b"], 0.0)
        logits = z @ s["out_W"].T + s["out_b"]
        if self.kind == "regression":
            return logits
        logits = logits / float(s["temperature"][0]) if "temperature" in s else logits
        if self.kind == "single":
            return softmax(logits)
        p = sigmoid(logits)
        return np.hstack([1.0 - p, p]) if self.kind == "binary" else p

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class (single, binary) or per-tag (multi) probabilities for embeddings ``(n, dim)``."""
        if self.kind == "regression":
            raise ValueError("a regression head predicts values: use predict()")
        return self._output(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class indices ``(n,)``, 0/1 tags ``(n, k)`` at 0.5, or values ``(n,)``."""
        return hard_predictions(self._output(X), self.kind)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays (for safetensors)."""
        return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in self.state_.items()}

    def load_state(self, state: dict[str, np.ndarray], fitted: dict) -> EmbeddingHead:
        """Restore a fitted head from :meth:`state` and :meth:`fitted_info`."""
        self.state_ = dict(state)
        self.C_ = fitted["C"]
        self.temperature_ = fitted.get("temperature", 1.0)
        self.classes_ = np.arange(2 if self.kind == "binary" else state["out_b"].shape[0])
        return self

    def fitted_info(self) -> dict:
        """Choices made while fitting (for the model card)."""
        info = {"C": self.C_, "temperature": self.temperature_}
        if hasattr(self, "selection_"):
            info["selection"] = self.selection_
        return info
