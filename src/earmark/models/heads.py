"""Heads on pretrained song embeddings: the default earmark model, trained in seconds.

:class:`EmbeddingHead` (classification) and :class:`EmbeddingHeadRegressor` are scikit-learn
estimators (``fit`` / ``predict_proba`` / ``predict``, ``get_params`` / ``set_params``):
standardise, optionally project with PCA, then a logistic regression (or a one-hidden-layer
MLP, or single-label nearest class centroids by cosine), or a ridge regression. scikit-learn
does the fitting; the fitted model is then kept as plain arrays (:meth:`state`) and
predictions are computed from them, so a model loaded from safetensors behaves exactly like
the one just trained.

Targets by ``kind``: ``"single"`` class labels ``(n,)``; ``"multi"`` 0/1 ``(n, n_tags)``;
``"binary"`` two classes ``(n,)``; the regressor takes floats ``(n,)``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import NearestCentroid
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.utils.validation import validate_data

from earmark.models.contract import (
    NONE,
    ArrayModel,
    check_input,
    encode_classes,
    flag,
    options,
    store_params,
    whole,
)
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
#: The centroid head's temperature: cosines lie on one scale whatever the classes, and one
#: fitted by an inner CV on the 2-3 songs a class it is used for was often far too flat (in the
#: library-genre CV at 3 songs a genre: log loss 1.17 and recall at 0.30 of 0.56, against 0.63
#: and 0.79, all of the right top genres, at 0.1). Chosen by held-out log loss on
#: ``bench/bench_genre_learn.py``'s seeds 10-29 (0.08-0.12 within 0.03 of each other).
CENTROID_TEMPERATURE = 0.1


class _Head(ArrayModel, BaseEstimator):
    """What both heads share: standardising and PCA, choosing ``C`` (checks, fitting on one
    thread and the saved arrays: :class:`~earmark.models.contract.ArrayModel`).

    Subclasses set :attr:`kind` and provide :meth:`_targets` (checked targets),
    :meth:`_width` and :meth:`_fit_output` (the output layer's arrays).
    """

    parameter_rules = {"pca": whole(1) | NONE}

    def _search_C(self) -> bool:
        """Whether inner cross-validation is needed (to choose ``C``, or to calibrate)."""
        return self.C == "auto"

    def _candidate_Cs(self) -> tuple[float, ...]:
        """The values of ``C`` to fit (the inner cross-validation picks one of several)."""
        return tuple(self.Cs) if self.C == "auto" else (float(self.C),)

    def _fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> _Head:
        candidates = self._candidate_Cs()
        held_out = None
        if self._search_C():
            folds = inner_folds(y, groups, self.kind, 3, self.seed)
            best, scores, outputs = search_C(self, X, y, folds, candidates, self._width(),
                                             **self._inner_params())
            held_out = outputs[best]
            if len(candidates) > 1:
                self.selection_ = {"Cs": list(self.Cs), "scores": scores}
            self.C_ = float(candidates[best])
        else:
            self.C_ = float(candidates[0])
        scaler = StandardScaler().fit(X)
        state = {"mean": scaler.mean_, "scale": scaler.scale_}
        z = scaler.transform(X)
        if self.pca:
            pca = PCA(n_components=min(self.pca, *z.shape), random_state=self.seed).fit(z)
            state["pca_mean"], state["pca_components"] = pca.mean_, pca.components_
            z = pca.transform(z)
        self.state_ = state | self._fit_output(z, y)
        self._calibrate(held_out, y)
        return self

    def _inner_params(self) -> dict:
        """Parameters of the clones fitted by the inner cross-validation."""
        return {}

    def _fit_output(self, z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _calibrate(self, held_out: np.ndarray | None, y: np.ndarray) -> None:
        """Fit output calibration on the inner folds' held-out outputs (none by default)."""

    def _logits(self, X: np.ndarray) -> np.ndarray:
        """Output-layer values ``(n, k)`` for embeddings ``(n, dim)``, from :attr:`state_`."""
        X = check_input(self, X)
        s = self.state_
        z = (X - s["mean"]) / s["scale"]
        if "pca_components" in s:
            z = (z - s["pca_mean"]) @ s["pca_components"].T
        if "unit_norm" in s:  # centroid heads: logits are cosine similarities
            z = normalize(z)
        if "hidden_W" in s:
            z = np.maximum(z @ s["hidden_W"].T + s["hidden_b"], 0.0)
        return z @ s["out_W"].T + s["out_b"]


class EmbeddingHead(ClassifierMixin, _Head):
    """A linear (or small MLP) classification head on song embeddings.

    Parameters
    ----------
    kind : ``"single"``, ``"multi"`` or ``"binary"`` (values: :class:`EmbeddingHeadRegressor`).
    classifier : ``"logreg"``, ``"mlp"`` (one hidden ReLU layer of ``hidden`` units) or
        ``"centroid"`` (single-label only): a prototype classifier. Standardised embeddings
        are L2-normalised, each class is the normalised mean of its songs
        (:class:`sklearn.neighbors.NearestCentroid`), and the class probabilities are a
        softmax over the cosine similarities ``(n, k)`` divided by the fixed
        :data:`CENTROID_TEMPERATURE` (the nearest-class-mean / prototypical-network rule:
        Mensink et al. 2013, Snell et al. 2017, "Prototypical networks for few-shot
        learning"). It needs no ``C`` (ignored) and no inner cross-validation, and holds up
        with a handful of songs per class, where a logistic regression overfits.
    C : inverse regularisation strength, or ``"auto"``: pick it from ``Cs`` by an inner
        (grouped, stratified) cross-validation on the training data only.
    Cs : candidates for ``C="auto"``.
    pca : keep this many principal components after standardising (``None``: no PCA).
    hidden : hidden units of the MLP.
    class_weight : ``"balanced"`` weighs classes inversely to their frequency (logreg only).
    calibrate : divide the logits by a temperature fitted (minimum log loss) on the inner
        cross-validation's held-out outputs, so probabilities match accuracy: strong
        regularisation, good for accuracy on few songs, otherwise leaves them far too flat.
        The centroid head divides by :data:`CENTROID_TEMPERATURE` instead (``False``: 1).
    seed : seeds every random choice (inner folds, MLP initialisation).

    Attributes
    ----------
    classes_ : the labels, in the order of :meth:`predict_proba`'s columns (multi: the tag
        columns ``0 .. k - 1``).
    C_, temperature_ : the ``C`` used and the fitted temperature (1 without calibration).
    state_ : the fitted arrays.
    """

    parameter_rules = {"kind": options("single", "multi", "binary",
                                       hint="values: EmbeddingHeadRegressor"),
                       "classifier": options("logreg", "mlp", "centroid"),
                       "hidden": whole(1),
                       "class_weight": options("balanced", None), "calibrate": flag()}

    def __init__(self, kind: str = "single", classifier: str = "logreg",
                 C: float | str = "auto", Cs: tuple[float, ...] = DEFAULT_CS,
                 pca: int | None = None, hidden: int = 256,
                 class_weight: str | None = "balanced", calibrate: bool = True,
                 seed: int = 0):
        store_params(self, locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = tags.target_tags.multi_output = self.kind == "multi"
        return tags

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
            n_classes: int | None = None) -> EmbeddingHead:
        """Fit on embeddings ``X`` ``(n, dim)`` and labels ``y`` ``(n,)`` (multi: 0/1
        ``(n, k)``); ``groups`` ``(n,)`` keeps related songs together when ``C="auto"`` is
        chosen; ``n_classes`` says ``y`` holds class indices and fixes the output width when
        a class is absent from ``y``. Raises ``ValueError`` for bad parameters or targets."""
        return super().fit(X, y, groups, n_classes=n_classes)

    def _targets(self, X: np.ndarray, y: np.ndarray, n_classes: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
        multi = self.kind == "multi"
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=multi)
        if multi:
            if y.ndim != 2 or not np.isin(y, (0, 1)).all():
                raise ValueError("a multi-label head needs 0/1 targets of shape (n, n_tags)")
            self.classes_ = np.arange(y.shape[1])
            return X, y.astype(int)
        return X, encode_classes(self, y, n_classes, binary=self.kind == "binary")

    def _width(self) -> int:
        return len(self.classes_)

    def _candidate_Cs(self) -> tuple[float, ...]:
        return (1.0,) if self.classifier == "centroid" else super()._candidate_Cs()

    def _search_C(self) -> bool:
        if self.classifier == "centroid":  # no C, and a fixed temperature
            return False
        return super()._search_C() or self.calibrate

    def _inner_params(self) -> dict:
        return {"calibrate": False}

    def _fit_output(self, z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        width = self._width()
        state = {}
        if self.classifier == "centroid":
            if self.kind != "single":
                raise ValueError("classifier='centroid' is single-label only (kind='single')")
            z = normalize(z)
            model = NearestCentroid().fit(z, y)
            # Unit centroids, so z @ W.T is the cosine; an absent class gets -1e3 below.
            W, b, present = normalize(model.centroids_), np.zeros(len(model.classes_)), \
                model.classes_
            state["unit_norm"] = np.ones(1)
        elif self.classifier == "mlp":
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

    def _calibrate(self, held_out: np.ndarray | None, y: np.ndarray) -> None:
        if not self.calibrate:
            self.temperature_ = 1.0
        elif self.classifier == "centroid":
            self.temperature_ = CENTROID_TEMPERATURE
        else:
            self.temperature_ = fit_temperature(held_out, y, self.kind) \
                if held_out is not None else 1.0
        self.state_["temperature"] = np.array([self.temperature_])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class (single, binary: ``(n, 2)``) or per-tag (multi) probabilities ``(n, k)`` for
        embeddings ``(n, dim)``."""
        logits = self._logits(X)
        if "temperature" in self.state_:
            logits = logits / float(self.state_["temperature"][0])
        if self.kind == "single":
            return softmax(logits)
        p = sigmoid(logits)
        return np.hstack([1.0 - p, p]) if self.kind == "binary" else p

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels ``(n,)`` (from :attr:`classes_`), or 0/1 tags ``(n, k)`` at 0.5 (multi)."""
        decisions = hard_predictions(self.predict_proba(X), self.kind)
        return decisions if self.kind == "multi" else self.classes_[decisions]

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict
                   ) -> EmbeddingHead:
        """Restore a fitted head (``classes_`` become the column indices; the model card's
        ``labels`` name them)."""
        super().load_state(state, fitted, inputs)
        self.temperature_ = fitted.get("temperature", 1.0)
        self.classes_ = np.arange(2 if self.kind == "binary" else state["out_b"].shape[0])
        return self

    def fitted_info(self) -> dict:
        return super().fitted_info() | {"temperature": self.temperature_}


class EmbeddingHeadRegressor(RegressorMixin, _Head):
    """A ridge regression on standardised (optionally PCA-projected) song embeddings.

    Parameters
    ----------
    C : inverse regularisation strength (``alpha = 1 / C``), or ``"auto"``: pick it from
        ``Cs`` by an inner (grouped) cross-validation on the training data only.
    Cs : candidates for ``C="auto"``.
    pca : keep this many principal components after standardising (``None``: no PCA).
    seed : seeds the inner folds and the PCA.
    """

    kind = "regression"

    def __init__(self, C: float | str = "auto", Cs: tuple[float, ...] = DEFAULT_CS,
                 pca: int | None = None, seed: int = 0):
        store_params(self, locals())

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> EmbeddingHeadRegressor:
        """Fit on embeddings ``X`` ``(n, dim)`` and values ``y`` ``(n,)``; ``groups`` ``(n,)``
        keeps related songs together when ``C="auto"`` is chosen."""
        return super().fit(X, y, groups)

    def _targets(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return validate_data(self, X, y, dtype=np.float64, y_numeric=True)

    def _width(self) -> int:
        return 1

    def _fit_output(self, z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        ridge = Ridge(alpha=1.0 / self.C_).fit(z, y)
        return {"out_W": ridge.coef_[None, :], "out_b": np.atleast_1d(ridge.intercept_)}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Values ``(n,)`` for embeddings ``(n, dim)``."""
        return self._logits(X)[:, 0]
