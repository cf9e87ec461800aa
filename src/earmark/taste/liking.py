"""The taste model as it scores songs: its fitted arrays and their arithmetic, numpy only.

Fitting the model (:mod:`earmark.taste.model`) needs scikit-learn, whose import costs a command
about a second. Applying a fitted one does not: P(like) is a logistic regression's weights on
the unit-length embedding, Platt-calibrated, and the stars a ridge regression's, a few hundred
floats. :class:`LikeScorer` and :class:`StarScorer` are that arithmetic, and the estimators
that fit the model score through them too, so a model read from its files here
(:func:`load_taste_model`) gives exactly what the fitted one gave. :func:`current_taste`
imports the training side only when the saved model no longer matches the ratings: so
``recommend``, ``playlist`` and the radio answer from a saved model without scikit-learn.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from earmark.catalog import Catalog
from earmark.catalog.ratings import ratings_fingerprint
from earmark.errors import EarmarkError, ModelError
from earmark.models.io import read_model
from earmark.settings import EMBEDDING_MODEL, TASTE_HALF_LIFE_DAYS
from earmark.taste.active import l2_normalise

if TYPE_CHECKING:
    from earmark.taste.model import StarRegressor, TasteClassifier

DEFAULT_EMBEDDING = EMBEDDING_MODEL
DEFAULT_HALF_LIFE_DAYS = TASTE_HALF_LIFE_DAYS


class NotEnoughRatings(EarmarkError):
    """The ratings cannot support a taste model yet (too few, or only one class)."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` elementwise, with ``z`` clipped to +-500 (no overflow)."""
    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


def _features(X: np.ndarray, dim: int, name: str) -> np.ndarray:
    """``X`` as a 2-D float64 array of ``dim`` columns; ``ValueError`` otherwise."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D array of embeddings, got shape {X.shape}")
    if X.shape[1] != dim:
        raise ValueError(f"X has {X.shape[1]} features, but {name} is expecting {dim} "
                         "features as input (embeddings of another model?)")
    return X


@dataclass(frozen=True)
class LikeScorer:
    """Calibrated P(like) from song embeddings: the fitted state of a
    :class:`~earmark.taste.model.TasteClassifier`.

    Attributes
    ----------
    coef : ``(dim,)`` float64 weights on the unit-length embedding; intercept : float.
    calibration : ``(2,)`` Platt ``(a, b)``: logit ``a * (x . coef + intercept) + b``.
    classes : ``(2,)`` int, ``[disliked, liked]``.
    """

    coef: np.ndarray
    intercept: float
    calibration: np.ndarray
    classes: np.ndarray

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> LikeScorer:
        """From the arrays :meth:`state` gives (a saved model's); ``KeyError``/``IndexError``
        when one is missing or empty."""
        return cls(state["coef"].astype(np.float64), float(state["intercept"][0]),
                   state["calibration"].astype(np.float64), state["classes"].astype(int))

    def state(self) -> dict[str, np.ndarray]:
        """The arrays as saved (safetensors): ``coef``, ``intercept`` ``(1,)``,
        ``calibration``, ``classes`` (float64)."""
        return {"coef": self.coef, "intercept": np.array([self.intercept]),
                "calibration": self.calibration, "classes": self.classes.astype(np.float64)}

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Calibrated logit ``(n,)`` of liking for embeddings ``X`` ``(n, dim)``: positive
        means more likely liked than not. ``ValueError`` for another width."""
        X = _features(X, len(self.coef), "the taste model")
        a, b = self.calibration
        return a * (l2_normalise(X) @ self.coef + self.intercept) + b

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """``(n, 2)`` calibrated probabilities of ``classes`` (``[disliked, liked]``)."""
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1 - p, p])


@dataclass(frozen=True)
class StarScorer:
    """Stars from song embeddings: the fitted state of a
    :class:`~earmark.taste.model.StarRegressor`.

    Attributes
    ----------
    coef : ``(dim,)`` float64 weights on the unit-length embedding; intercept : float.
    range : ``(2,)`` lowest and highest training target; predictions stay inside.
    """

    coef: np.ndarray
    intercept: float
    range: np.ndarray

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> StarScorer:
        """From the arrays :meth:`state` gives; ``KeyError``/``IndexError`` when one is
        missing or empty."""
        return cls(state["coef"].astype(np.float64), float(state["intercept"][0]),
                   state["range"].astype(np.float64))

    def state(self) -> dict[str, np.ndarray]:
        """The arrays as saved: ``coef``, ``intercept`` ``(1,)``, ``range``."""
        return {"coef": self.coef, "intercept": np.array([self.intercept]),
                "range": self.range}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted stars ``(n,)`` for embeddings ``X`` ``(n, dim)``, clipped to
        :attr:`range`. ``ValueError`` for another width."""
        X = _features(X, len(self.coef), "the star regressor")
        return np.clip(l2_normalise(X) @ self.coef + self.intercept, *self.range)


@dataclass
class TasteModel:
    """A trained taste: P(like), optionally stars, and what it was trained on (``info``).

    ``classifier`` is the fitted :class:`~earmark.taste.model.TasteClassifier` after training
    and its :class:`LikeScorer` when read from file (the same scores); likewise
    ``regressor``."""

    classifier: TasteClassifier | LikeScorer
    regressor: StarRegressor | StarScorer | None
    info: dict

    def like_probability(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` calibrated P(like) of embeddings ``X`` ``(n, dim)``."""
        return self.classifier.predict_proba(X)[:, 1]

    @cached_property
    def fingerprint(self) -> str:
        """24 hex digits naming this classifier's fitted arrays: equal for the same P(like)
        (a trained model and the same model read back), different after any retraining; what
        scores kept for later are filed under."""
        state = self.classifier.state()
        digest = hashlib.blake2b(digest_size=12)
        for name in sorted(state):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(state[name], dtype="<f8").tobytes())
        return digest.hexdigest()


def taste_model_path(catalog: Catalog) -> Path:
    """Where the catalog's current taste model lives: beside the catalog file."""
    return catalog.path.with_name(catalog.path.stem + ".taste.safetensors")


def stars_path(path: Path) -> Path:
    """Where the star regressor of the taste model at ``path`` lives."""
    return path.with_name(path.name.removesuffix(".safetensors") + "-stars.safetensors")


def load_taste_model(path: str | Path) -> TasteModel:
    """Read a model written by :func:`earmark.taste.model.save_taste_model`, as scorers.

    Raises :class:`ModelError` ("cannot read taste model") for a missing, damaged or
    mismatched file, and for files written before the taste model had a model card (today's
    code retrains then, as for a damaged file).
    """
    path = Path(path)
    try:
        state, card = read_model(path)
        if (card.model_type, card.kind) != ("taste", "binary"):
            raise ModelError("it holds another kind of model")
        info = card.training | card.metrics
        liked, regressor = LikeScorer.from_state(state), None
        if "stars_cv" in info:
            state, stars = read_model(stars_path(path))
            if stars.training.get("trained_at") != info.get("trained_at"):
                raise ModelError("its star regressor belongs to another training")
            if (stars.model_type, stars.kind) != ("taste", "regression"):
                raise ModelError("it holds another kind of model")
            regressor = StarScorer.from_state(state)
    except (KeyError, IndexError) as exc:
        raise ModelError(f"cannot read taste model {path}: missing or misshapen {exc}") from exc
    except ModelError as exc:
        raise ModelError(f"cannot read taste model {path}: {exc}") from exc
    return TasteModel(liked, regressor, info)


def stored_taste(catalog: Catalog, embedding_model: str = DEFAULT_EMBEDDING,
                 half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS) -> TasteModel | None:
    """The saved taste model trained with these settings, whatever ratings it was trained on
    (:func:`saved_taste` asks for the current ones too); ``None`` when there is none, or it
    is unreadable."""
    path = taste_model_path(catalog)
    if not path.exists():
        return None
    try:
        model = load_taste_model(path)
    except ModelError:
        return None
    same = (model.info.get("embedding_model"), model.info.get("half_life_days")) == (
        embedding_model, half_life_days)
    return model if same else None


def saved_taste(catalog: Catalog, embedding_model: str = DEFAULT_EMBEDDING,
                half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS) -> TasteModel | None:
    """The saved taste model if it was trained on exactly the current ratings, and the rated
    songs' current embeddings, with the same settings; else ``None`` (none saved, damaged,
    trained on other ratings, or a rated song re-embedded since:
    :func:`~earmark.catalog.ratings.ratings_fingerprint`)."""
    model = stored_taste(catalog, embedding_model, half_life_days)
    if model is not None and model.info.get("ratings_fingerprint") == ratings_fingerprint(
            catalog, embedding_model):
        return model
    return None


def current_taste(
    catalog: Catalog,
    embedding_model: str = DEFAULT_EMBEDDING,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
) -> TasteModel:
    """The saved taste model if it is current (:func:`saved_taste`), otherwise a freshly
    trained one (:func:`earmark.taste.model.train_taste`, which raises
    :class:`NotEnoughRatings`): saved, and the library's liking column rescored with it."""
    model = saved_taste(catalog, embedding_model, half_life_days)
    if model is not None:
        return model
    # Training imports scikit-learn (about a second): only changed ratings (or a rated song's
    # new embedding) pay it.
    from earmark.taste.model import train_taste
    return train_taste(catalog, embedding_model, half_life_days)
