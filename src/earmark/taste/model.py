"""One listener's taste: estimators on pretrained song embeddings, recency weights, validation.

The classifier predicts P(like) from a song embedding (e.g. ``MSD_musicnn``, 400 values). With
a handful of ratings a linear model on length-normalised embeddings is what the data can carry;
its raw probabilities are then calibrated with Platt scaling fitted on cross-validated scores,
so a 0.8 means about "liked 8 times out of 10" rather than whatever the regularisation gave.

The fitted model is a few hundred floats, saved next to the catalog like every trained earmark
model (:func:`earmark.models.io.save_model`: safetensors arrays plus a JSON model card, no
pickle) together with a fingerprint of the ratings, and of the rated songs' embeddings, it was
trained on. Applying it needs no scikit-learn: :mod:`earmark.taste.liking` holds its arithmetic
(which the estimators here score through), reads it back and answers
:func:`~earmark.taste.liking.current_taste`. ``recommend`` and ``review`` reuse it while the
ratings and those embeddings are unchanged and retrain otherwise: a fit takes milliseconds, but
cross-validating and recording the run in ``model_runs`` is what makes a model's quality known,
so each distinct set of ratings is trained and measured once. Every model saved also rescores
the library's liking column (:func:`score_library`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from earmark.catalog import Catalog
from earmark.catalog.embeddings import load_embeddings
from earmark.catalog.ratings import current_ratings, ratings_fingerprint
from earmark.catalog.runs import record_run
from earmark.catalog.search import store_liking
from earmark.catalog.vectors import vector_table
from earmark.models.contract import Rule, check_params, options, real, whole
from earmark.models.io import ModelCard, TrainedModel, save_model
from earmark.taste.active import l2_normalise

# The scoring half, which commands import without this module's scikit-learn; its names stay
# importable from here as well.
from earmark.taste.liking import (
    DEFAULT_EMBEDDING,
    DEFAULT_HALF_LIFE_DAYS,
    LikeScorer,
    NotEnoughRatings,
    StarScorer,
    TasteModel,
    saved_taste,
    sigmoid,
    stars_path,
    taste_model_path,
)
from earmark.taste.liking import current_taste as current_taste
from earmark.taste.liking import load_taste_model as load_taste_model
from earmark.taste.recommend import library_liking

MIN_RATINGS = 5


# --- pure functions ----------------------------------------------------------------------------


def recency_weights(ages_days: np.ndarray, half_life_days: float | None) -> np.ndarray:
    """Sample weights that halve every ``half_life_days``: ``0.5 ** (age / half_life)``.

    Parameters
    ----------
    ages_days : ``(n,)`` age of each rating in days (negative ages count as 0).
    half_life_days : days after which a rating counts half; ``None`` or ``<= 0`` gives equal
        weights (no drift).

    Returns
    -------
    ``(n,)`` float64 weights in (0, 1], 1 for a rating made now.
    """
    ages = np.maximum(np.asarray(ages_days, dtype=np.float64), 0.0)
    if half_life_days is None or half_life_days <= 0:
        return np.ones_like(ages)
    return np.power(0.5, ages / half_life_days)


def platt_fit(scores: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
              iterations: int = 100) -> tuple[float, float]:
    """Platt scaling: ``(a, b)`` so that ``sigmoid(a * score + b)`` is calibrated.

    Uses Platt's smoothed targets ``(n_pos + 1) / (n_pos + 2)`` and ``1 / (n_neg + 2)`` instead
    of 1 and 0, which keeps a handful of ratings from producing probabilities of exactly 0 or 1.
    Fitted by Newton's method on the weighted log-loss.

    Parameters
    ----------
    scores : ``(n,)`` decision values (out-of-fold, so they are honest).
    y : ``(n,)`` labels in {0, 1}.
    sample_weight : ``(n,)`` or ``None``.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    w = np.ones_like(s) if sample_weight is None else np.asarray(sample_weight, np.float64)
    n_pos, n_neg = w[y == 1].sum(), w[y == 0].sum()
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def loss(a: float, b: float) -> float:
        z = a * s + b
        return float(np.sum(w * (np.logaddexp(0, z) - t * z)))

    a, b = 0.0, float(np.log((n_pos + 1) / (n_neg + 1)))
    for _ in range(iterations):
        p = sigmoid(a * s + b)
        g = np.array([np.sum(w * (p - t) * s), np.sum(w * (p - t))])
        r = w * p * (1 - p)
        h = np.array([[np.sum(r * s * s), np.sum(r * s)], [np.sum(r * s), np.sum(r)]])
        step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        before, scale = loss(a, b), 1.0
        # Newton can overshoot far from the optimum (or overflow on a nearly flat Hessian when
        # the scores separate the classes): backtrack until the loss is finite and no worse.
        while scale > 1e-6 and not loss(a - scale * step[0], b - scale * step[1]) <= before:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        if np.abs(scale * step).max() < 1e-10:
            break
    return float(a), float(b)


# --- estimators --------------------------------------------------------------------------------


def _check_features(estimator: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """``X`` validated as a finite 2-D float array with the fitted number of columns."""
    check_is_fitted(estimator)
    X = check_array(X, dtype=np.float64)
    if X.shape[1] != estimator.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is "
                         f"expecting {estimator.n_features_in_} features as input (embeddings "
                         "of another model?)")
    return X


class TasteClassifier(ClassifierMixin, BaseEstimator):
    """P(like) from song embeddings: logistic regression on unit-length embeddings, calibrated.

    Binary: ``y`` has two classes, the second of ``classes_`` in sorted order being "liked"
    (1 with 0/1 labels, ``"like"`` with ``"dislike"``/``"like"``).

    Parameters
    ----------
    C : inverse L2 regularisation strength of the logistic regression.
    class_weight : ``"balanced"`` (default: liked and disliked songs count equally however
        lopsided the ratings are) or ``None``.
    calibration_folds : folds of the internal cross-validation whose out-of-fold scores fit the
        Platt calibration; with fewer than 2 ratings of each class the logistic probabilities
        are used uncalibrated.

    Attributes
    ----------
    classes_ : ``(2,)`` the labels, ``[disliked, liked]``.
    coef_ : ``(dim,)`` weights on the unit-length embedding; ``intercept_`` : float.
    calibration_ : ``(2,)`` Platt ``(a, b)``; ``(1, 0)`` when not calibrated.
    """

    parameter_rules = {"C": real(above=0),
                       "class_weight": options("balanced", None) | Rule(
                           lambda v: isinstance(v, dict), "a dict of class weights"),
                       "calibration_folds": whole(0)}

    def __init__(self, C: float = 10.0, class_weight: str | None = "balanced",
                 calibration_folds: int = 5):
        self.C = C
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _logistic(self) -> LogisticRegression:
        # newton-cg: on a few dozen 400-dim rows it is ~10x faster than lbfgs (which spends its
        # time in scipy's line-search overhead), with the same optimum.
        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=1000,
                                  solver="newton-cg")

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
            ) -> TasteClassifier:
        """Fit on ``X`` ``(n, dim)`` embeddings and ``y`` ``(n,)`` labels (e.g. 1 liked, 0 not).

        ``sample_weight`` ``(n,)``: e.g. :func:`recency_weights`. Raises ``ValueError`` for
        bad parameters or input.
        """
        check_params(self)
        X, y = check_X_y(X, y, dtype=np.float64)
        check_classification_targets(y)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w is not None:
            if w.shape != y.shape:
                raise ValueError(f"sample_weight has shape {w.shape}, expected {y.shape}")
            if (w < 0).any() or not (w > 0).any():
                raise ValueError("sample weights must be >= 0 and not all zero")
            # Weightless rows teach nothing, and in a calibration fold they could leave a class
            # with zero total weight (an undefined logistic fit): drop them up front.
            X, y, w = X[w > 0], y[w > 0], w[w > 0]
        classes, y = np.unique(y, return_inverse=True)
        if len(classes) != 2:
            raise ValueError(f"a taste classifier needs both liked and disliked songs. Only "
                             f"binary classification is supported; got {len(classes)} "
                             "class(es)")
        Xn = l2_normalise(X)
        logistic = self._logistic().fit(Xn, y, sample_weight=w)
        self.classes_ = classes
        self.coef_ = logistic.coef_[0].copy()
        self.intercept_ = float(logistic.intercept_[0])
        self.n_features_in_ = Xn.shape[1]
        self.calibration_ = np.array([1.0, 0.0])
        folds = min(self.calibration_folds, int(np.bincount(y).min()))
        if folds >= 2:
            scores = np.empty(len(y))
            split = StratifiedKFold(folds, shuffle=True, random_state=0)
            for train, test in split.split(Xn, y):
                part = self._logistic().fit(Xn[train], y[train],
                                            sample_weight=None if w is None else w[train])
                scores[test] = part.decision_function(Xn[test])
            a, b = platt_fit(scores, y, w)
            # Fold models that rank worse than chance (likely with few ratings) would make the
            # slope negative and invert the full model's ranking; a tiny positive slope instead
            # says "about the base rate" while keeping the full model's order.
            self.calibration_ = np.array([max(a, 1e-3), b])
        return self

    def scorer(self) -> LikeScorer:
        """The fitted arrays as the :class:`~earmark.taste.liking.LikeScorer` that scores
        with them (and is what a saved model loads as)."""
        check_is_fitted(self)
        return LikeScorer(self.coef_, self.intercept_, self.calibration_, self.classes_)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Calibrated logit ``(n,)`` of liking: positive means more likely liked than not."""
        return self.scorer().decision_function(_check_features(self, X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n, 2)`` calibrated probabilities of ``classes_`` (``[disliked, liked]``)."""
        return self.scorer().predict_proba(_check_features(self, X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` the more probable class of each row."""
        liked = self.decision_function(X) > 0
        return self.classes_[liked.astype(int)]

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays (for safetensors); ``ValueError`` for word labels, which
        safetensors cannot hold (the taste model is trained on 1/0)."""
        check_is_fitted(self)
        if not np.issubdtype(self.classes_.dtype, np.number):
            raise ValueError("only a classifier fitted on numeric labels can be saved")
        return self.scorer().state()

    def fitted_info(self) -> dict:
        """Choices made while fitting: none beyond :meth:`state`."""
        return {}

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict
                   ) -> TasteClassifier:
        """Restore a fitted classifier from :meth:`state` (``fitted``, ``inputs``: the
        card's, not needed)."""
        scorer = LikeScorer.from_state(state)
        self.classes_, self.coef_ = scorer.classes, scorer.coef
        self.intercept_, self.calibration_ = scorer.intercept, scorer.calibration
        self.n_features_in_ = self.coef_.shape[0]
        return self


class StarRegressor(RegressorMixin, BaseEstimator):
    """Stars from song embeddings: ridge regression on unit-length embeddings.

    Parameters
    ----------
    alpha : L2 regularisation strength of the ridge regression.

    Attributes
    ----------
    coef_ : ``(dim,)``; ``intercept_`` : float.
    range_ : ``(2,)`` lowest and highest training target; predictions stay inside (1-5 for
        real star ratings).
    """

    parameter_rules = {"alpha": real(0)}

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
            ) -> StarRegressor:
        """Fit on ``X`` ``(n, dim)`` and ``y`` ``(n,)`` stars; ``ValueError`` for bad
        parameters or input."""
        check_params(self)
        X, y = check_X_y(X, y, dtype=np.float64, y_numeric=True)
        ridge = Ridge(alpha=self.alpha).fit(l2_normalise(X), y, sample_weight=sample_weight)
        self.coef_ = ridge.coef_.copy()
        self.intercept_ = float(ridge.intercept_)
        self.range_ = np.array([y.min(), y.max()])
        self.n_features_in_ = self.coef_.shape[0]
        return self

    def scorer(self) -> StarScorer:
        """The fitted arrays as the :class:`~earmark.taste.liking.StarScorer` that predicts
        with them (and is what a saved model loads as)."""
        check_is_fitted(self)
        return StarScorer(self.coef_, self.intercept_, self.range_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted stars ``(n,)``, clipped to the range seen in training."""
        return self.scorer().predict(_check_features(self, X))

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays (for safetensors)."""
        return self.scorer().state()

    def fitted_info(self) -> dict:
        """Choices made while fitting: none beyond :meth:`state`."""
        return {}

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict
                   ) -> StarRegressor:
        """Restore a fitted regressor from :meth:`state` (``fitted``, ``inputs``: the
        card's, not needed)."""
        scorer = StarScorer.from_state(state)
        self.coef_, self.intercept_, self.range_ = scorer.coef, scorer.intercept, scorer.range
        self.n_features_in_ = self.coef_.shape[0]
        return self


# --- validation --------------------------------------------------------------------------------


def cross_validate_taste(
    estimator: BaseEstimator,
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    n_splits: int = 5,
    seed: int = 0,
) -> dict:
    """Stratified k-fold cross-validation of a taste classifier on the ratings themselves.

    Folds are ``min(n_splits, smallest class count)``; training folds use ``sample_weight``
    (recency), test folds are scored unweighted.

    Returns
    -------
    dict
        ``n_ratings``, ``n_liked``, ``n_disliked``, ``folds`` and ``roc_auc_mean``,
        ``roc_auc_std``, ``accuracy_mean``, ``accuracy_std`` (``None`` with a ``note`` when
        each class has fewer than 2 ratings).
    """
    y = np.asarray(y).astype(int)
    counts = np.bincount(y, minlength=2)
    folds = int(min(n_splits, counts.min()))
    result = {"n_ratings": int(len(y)), "n_liked": int(counts[1]), "n_disliked": int(counts[0]),
              "folds": folds, "roc_auc_mean": None, "roc_auc_std": None,
              "accuracy_mean": None, "accuracy_std": None}
    if folds < 2:
        result["note"] = "cross-validation needs at least 2 liked and 2 disliked songs"
        return result
    aucs, accs = [], []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        w = None if sample_weight is None else np.asarray(sample_weight)[train]
        model = clone(estimator).fit(X[train], y[train], sample_weight=w)
        proba = model.predict_proba(X[test])[:, 1]
        aucs.append(roc_auc_score(y[test], proba))
        accs.append(accuracy_score(y[test], proba >= 0.5))
    result.update(roc_auc_mean=float(np.mean(aucs)), roc_auc_std=float(np.std(aucs)),
                  accuracy_mean=float(np.mean(accs)), accuracy_std=float(np.std(accs)))
    return result


def cross_validate_stars(
    estimator: BaseEstimator, X: np.ndarray, stars: np.ndarray,
    sample_weight: np.ndarray | None = None, n_splits: int = 5, seed: int = 0,
) -> dict:
    """K-fold cross-validation of a star regressor: ``n_ratings``, ``folds``, ``mae_mean``,
    ``mae_std`` (stars) and ``baseline_mae`` (always predicting the training mean)."""
    stars = np.asarray(stars, np.float64)
    folds = int(min(n_splits, len(stars)))
    maes, base = [], []
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(X):
        w = None if sample_weight is None else np.asarray(sample_weight)[train]
        model = clone(estimator).fit(X[train], stars[train], sample_weight=w)
        maes.append(mean_absolute_error(stars[test], model.predict(X[test])))
        base.append(mean_absolute_error(stars[test], np.full(len(test), stars[train].mean())))
    return {"n_ratings": int(len(stars)), "folds": folds, "mae_mean": float(np.mean(maes)),
            "mae_std": float(np.std(maes)), "baseline_mae": float(np.mean(base))}


# --- ratings in the catalog -> a trained, saved model -------------------------------------------


@dataclass
class TasteData:
    """Rated songs that have an embedding.

    Attributes
    ----------
    track_ids : ``n`` track ids; ``X`` : ``(n, dim)`` embeddings.
    labels : ``(n,)`` 1 liked, 0 disliked, -1 neither (3 stars).
    stars : ``(n,)`` stars, NaN where only a verdict was given.
    weights : ``(n,)`` recency weights.
    without_embedding : rated track ids with no up-to-date embedding (left out).
    fingerprint : :func:`~earmark.catalog.ratings.ratings_fingerprint` of the ratings and
        embeddings read (compare it with the catalog's to tell whether they are still
        current).
    """

    track_ids: list[int]
    X: np.ndarray
    labels: np.ndarray
    stars: np.ndarray
    weights: np.ndarray
    without_embedding: list[int] = field(default_factory=list)
    fingerprint: str = ""

    @property
    def labelled(self) -> np.ndarray:
        return self.labels >= 0


def taste_data(catalog: Catalog, embedding_model: str = DEFAULT_EMBEDDING,
               half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
               now: float | None = None) -> TasteData:
    """Current ratings joined with the embeddings of ``embedding_model``."""
    # Taken before the ratings are read: a rating added meanwhile makes the data look stale,
    # never a stale read look current.
    fingerprint = ratings_fingerprint(catalog, embedding_model)
    current = current_ratings(catalog)
    ids, matrix = load_embeddings(catalog, embedding_model, current)
    now = time.time() if now is None else now
    rows = [current[i] for i in ids]
    labels = np.array([-1 if r.label is None else r.label for r in rows], dtype=int)
    stars = np.array([np.nan if r.stars is None else r.stars for r in rows], dtype=np.float64)
    ages = np.array([(now - r.rated_at) / 86400 for r in rows], dtype=np.float64)
    return TasteData(ids, matrix.astype(np.float64) if ids else np.zeros((0, 0)), labels, stars,
                     recency_weights(ages, half_life_days),
                     sorted(set(current) - set(ids)), fingerprint)


def check_ratings(labels: np.ndarray, minimum: int = MIN_RATINGS) -> None:
    """Raise :class:`NotEnoughRatings` with what to do when ``labels`` (1/0) cannot train."""
    n_like, n_dislike = int(np.sum(labels == 1)), int(np.sum(labels == 0))
    if n_like + n_dislike == 0:
        raise NotEnoughRatings(
            "no song is rated yet: rate some with earmark review, earmark rate or earmark "
            f"ratings import (a taste model needs at least {minimum}, liked and disliked)")
    if n_dislike == 0 or n_like == 0:
        have, need = ("liked", "dislike") if n_dislike == 0 else ("disliked", "like")
        raise NotEnoughRatings(
            f"all {n_like + n_dislike} rated songs are {have}, so nothing tells earmark what "
            f"you {need}: rate a few songs you {need} (earmark review proposes varied ones); "
            f"a taste model needs at least {minimum} ratings with both kinds")
    if n_like + n_dislike < minimum:
        raise NotEnoughRatings(
            f"a taste model needs at least {minimum} liked/disliked songs with embeddings; "
            f"there are {n_like + n_dislike} ({n_like} liked, {n_dislike} disliked): "
            "rate a few more (earmark review)")


def check_taste_data(data: TasteData, embedding_model: str) -> None:
    """Raise :class:`NotEnoughRatings` (:func:`check_ratings`) when ``data`` cannot train a
    taste model, saying how many rated songs lack an ``embedding_model`` embedding."""
    try:
        check_ratings(data.labels[data.labelled])
    except NotEnoughRatings as exc:
        if not data.without_embedding:
            raise
        raise NotEnoughRatings(f"{exc}; {len(data.without_embedding)} rated songs have no "
                               f"{embedding_model} embedding yet (earmark embed)") from None


#: The taste model's estimators, for :func:`~earmark.models.io.load_model`: the card's kind
#: picks the classifier (``"binary"``, P(like)) or the star regressor (``"regression"``).
TASTE_TYPES = {"taste": ("earmark.taste.model:TasteClassifier",
                         "earmark.taste.model:StarRegressor")}
#: Info keys that are measurements (the card's ``metrics``); the rest describe the training.
_METRICS = ("cv", "stars_cv")


def _card(model: TasteModel, kind: str, estimator: BaseEstimator) -> ModelCard:
    info = model.info
    return ModelCard(
        model_type="taste", task="like" if kind == "binary" else "stars", kind=kind,
        labels=["dislike", "like"] if kind == "binary" else ["stars"],
        inputs={"embedding_model": info.get("embedding_model")},
        hyperparameters=estimator.get_params(), fitted=estimator.fitted_info(),
        training={k: v for k, v in info.items() if k not in _METRICS},
        metrics={k: info[k] for k in _METRICS if k in info})


def save_taste_model(model: TasteModel, path: str | Path) -> Path:
    """Write ``model`` as :func:`~earmark.models.io.save_model` writes every trained model:
    the classifier at ``path`` (``<stem>.safetensors`` + ``<stem>.json``), the star regressor,
    when there is one, beside it (``<stem>-stars.*``). The classifier is written last and
    names the training it belongs to, so a crash in between leaves a pair that
    :func:`load_taste_model` refuses (and the caller retrains), never a mixed model."""
    path = Path(path)
    stars = stars_path(path)
    if model.regressor is not None:
        save_model(TrainedModel(model.regressor, _card(model, "regression", model.regressor)),
                   stars)
    else:
        for leftover in (stars, stars.with_suffix(".json")):
            leftover.unlink(missing_ok=True)
    return save_model(TrainedModel(model.classifier, _card(model, "binary", model.classifier)),
                      path)


def train_taste(
    catalog: Catalog,
    embedding_model: str = DEFAULT_EMBEDDING,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    classifier: TasteClassifier | None = None,
    regressor: StarRegressor | None = None,
    save: bool = True,
    data: TasteData | None = None,
) -> TasteModel:
    """Train the taste model on the catalog's current ratings, measure it, record the run.

    Cross-validation on the ratings (see :func:`cross_validate_taste`, and
    :func:`cross_validate_stars` when at least ``MIN_RATINGS`` songs have stars) goes into
    ``info["cv"]`` / ``info["stars_cv"]`` and into a ``model_runs`` row of kind ``"taste"``.
    When ``save`` is true the model is saved to :func:`taste_model_path` and becomes the
    catalog's taste: the library's liking column is rescored with it (:func:`score_library`),
    so whoever trains (``earmark taste``, ``recommend`` after new ratings, a review session,
    the web's Retrain) never leaves the column on an older model. ``data``: the ratings as
    :func:`taste_data` just read them with the same ``embedding_model`` and
    ``half_life_days`` (read now when ``None``).

    Raises
    ------
    NotEnoughRatings : fewer than ``MIN_RATINGS`` labelled songs, or only one class.
    """
    if data is None:
        data = taste_data(catalog, embedding_model, half_life_days)
    check_taste_data(data, embedding_model)
    labelled = data.labelled
    X, y, w = data.X[labelled], data.labels[labelled], data.weights[labelled]
    classifier = clone(classifier) if classifier is not None else TasteClassifier()
    classifier.fit(X, y, sample_weight=w)
    info = {"embedding_model": embedding_model, "half_life_days": half_life_days,
            "ratings_fingerprint": data.fingerprint, "trained_at": time.time(),
            "dim": int(X.shape[1]), "without_embedding": len(data.without_embedding),
            "cv": cross_validate_taste(classifier, X, y, w)}
    has_stars = ~np.isnan(data.stars)
    fitted_regressor = None
    if has_stars.sum() >= MIN_RATINGS and len(np.unique(data.stars[has_stars])) > 1:
        regressor = clone(regressor) if regressor is not None else StarRegressor()
        Xs, s, ws = data.X[has_stars], data.stars[has_stars], data.weights[has_stars]
        fitted_regressor = regressor.fit(Xs, s, sample_weight=ws)
        info["stars_cv"] = cross_validate_stars(regressor, Xs, s, ws)
    model = TasteModel(classifier, fitted_regressor, info)
    path = None
    if save:
        try:
            path = save_taste_model(model, taste_model_path(catalog))
        except OSError:
            pass  # a read-only folder only costs a refit (milliseconds) next time
    record_run(catalog, "taste", info, model_path=path, created_at=info["trained_at"])
    if save:
        score_library(catalog, model)
    return model


def score_library(catalog: Catalog, taste: TasteModel) -> int:
    """Store ``taste``'s P(like) of every song with an embedding of its model, for the
    library's liking column and filter (:func:`earmark.catalog.search.store_liking`); returns
    how many songs were scored. :func:`train_taste` calls it for every model it saves. The
    scores are computed as ``recommend`` computes them
    (:func:`~earmark.taste.recommend.library_liking`) and kept beside the vector cache too, so
    the first ``recommend`` after a retrain reads them instead of scoring the library again.
    Writing the column costs about 0.6 s at 100,000 songs (bench/bench_liking_column.py)."""
    table = vector_table(catalog, taste.info["embedding_model"])
    if len(table):
        store_liking(catalog, dict(zip(table.track_ids.tolist(),
                                       library_liking(table, taste).tolist(), strict=True)))
    return len(table)


def review_taste(
    catalog: Catalog,
    embedding_model: str = DEFAULT_EMBEDDING,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    data: TasteData | None = None,
) -> TasteModel | None:
    """The model that guides the choice of songs to rate next.

    The current taste model when the ratings support one; with both classes rated but fewer
    than ``MIN_RATINGS`` songs, a provisional classifier (not saved, not recorded: too few
    ratings to measure it) whose uncertainty is still worth following; ``None`` at cold start
    (nothing rated, or one class only). ``data``: the current ratings as :func:`taste_data`
    read them with the same settings (read here when needed and ``None``).
    """
    model = saved_taste(catalog, embedding_model, half_life_days)
    if model is not None:
        return model
    if data is None:
        data = taste_data(catalog, embedding_model, half_life_days)
    try:
        return train_taste(catalog, embedding_model, half_life_days, data=data)
    except NotEnoughRatings:
        y = data.labels[data.labelled]
        if len(np.unique(y)) < 2:
            return None
        classifier = TasteClassifier().fit(data.X[data.labelled], y,
                                           sample_weight=data.weights[data.labelled])
        return TasteModel(classifier, None, {"embedding_model": embedding_model,
                                             "provisional": True, "n_ratings": int(len(y))})
