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
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_squared_error, roc_auc_score
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from earmark.data.splits import stratify_labels
from earmark.models.outputs import hard_predictions

#: Inverse regularisation strengths tried when ``C="auto"``.
DEFAULT_CS = (0.001, 0.01, 0.1, 1.0, 10.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(n, k)`` logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


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
    outputs for the held-out part, ``(n, width)`` in all (``width`` is also the clone's
    ``n_classes``); :func:`selection_score` compares them.

    Returns ``(best, scores, outputs)``: the index of the best ``C`` (the first on ties), the
    score of each ``C`` and its out-of-fold outputs.
    """
    kind = estimator.kind
    scores, outputs = [], []
    for c in Cs:
        candidate = clone(estimator).set_params(C=c, **params)
        out = np.zeros((len(y), width))
        for train, test in folds:
            candidate.fit(X[train], y[train], n_classes=width)
            out[test] = candidate.predict(X[test])[:, None] if kind == "regression" \
                else candidate.predict_proba(X[test])
        outputs.append(out)
        scores.append(selection_score(kind, y, out[:, 0] if kind == "regression" else out))
    return int(np.argmax(scores)), scores, outputs


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
