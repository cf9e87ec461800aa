"""The taste model: recency weights, calibration, the estimator contract, saving, training from
the catalog (with real MSD_musicnn embeddings of real music) and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn
from safetensors.numpy import save_file
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator

from earmark.catalog import ratings
from earmark.catalog.tracks import get_track
from earmark.errors import ModelError
from earmark.models.io import ModelCard, TrainedModel, load_model, save_model
from earmark.taste.model import (
    TASTE_TYPES,
    NotEnoughRatings,
    StarRegressor,
    TasteClassifier,
    TasteModel,
    cross_validate_taste,
    current_taste,
    load_taste_model,
    platt_fit,
    recency_weights,
    save_taste_model,
    taste_model_path,
    train_taste,
)

LIKED_GENRES = ("jazz", "classical")  # the genres conftest's excerpt listener likes


def _two_blobs(n: int, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic embeddings: liked songs around one direction, disliked around another."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    centres = rng.normal(size=(2, dim)) * 3
    return centres[y] + rng.normal(size=(n, dim)), y


def test_recency_weights_halve_every_half_life():
    w = recency_weights(np.array([0.0, 30.0, 60.0, -5.0]), 30.0)
    np.testing.assert_allclose(w, [1.0, 0.5, 0.25, 1.0])
    np.testing.assert_array_equal(recency_weights(np.array([0.0, 1e4]), None), [1.0, 1.0])


def test_platt_fit_recovers_a_known_sigmoid():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=4000) * 2
    y = (rng.random(4000) < 1 / (1 + np.exp(-(1.5 * scores - 0.5)))).astype(int)
    a, b = platt_fit(scores, y)
    assert a == pytest.approx(1.5, abs=0.15)
    assert b == pytest.approx(-0.5, abs=0.15)


def test_classifier_follows_the_estimator_contract():
    X, y = _two_blobs(12)
    model = TasteClassifier(C=3.0)
    assert model.get_params() == {"C": 3.0, "class_weight": "balanced", "calibration_folds": 5}
    assert model.set_params(C=2.0) is model and model.C == 2.0
    assert model.fit(X, y) is model
    proba = model.predict_proba(X)
    assert proba.shape == (12, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.score(X, y) == 1.0
    assert not hasattr(clone(model), "coef_")
    search = GridSearchCV(TasteClassifier(), {"C": [0.1, 10.0]}, cv=3, scoring="roc_auc")
    assert search.fit(X, y).best_score_ > 0.9


def test_estimators_pass_scikit_learns_own_checks():
    if not hasattr(sklearn.utils, "Tags"):  # expected_failed_checks needs scikit-learn 1.6
        pytest.skip("scikit-learn >= 1.6 needed")
    check_estimator(StarRegressor())
    check_estimator(TasteClassifier(), expected_failed_checks={
        "check_sample_weight_equivalence_on_dense_data":
            "repeated rows fall in different internal calibration folds; weights do not",
        "check_class_weight_classifiers":
            "Platt calibration maps scores back to the observed class frequencies",
    })


def test_classifier_with_word_labels_and_unfitted_errors():
    X, y = _two_blobs(10)
    words = np.where(y == 1, "like", "dislike")
    model = TasteClassifier().fit(X, words)
    assert list(model.classes_) == ["dislike", "like"]
    assert list(model.predict(X)) == list(words)
    with pytest.raises(NotFittedError):
        TasteClassifier().predict_proba(X)
    with pytest.raises(ValueError, match="expecting 16 features"):
        model.predict_proba(X[:, :8])


def test_classifier_from_five_ratings_is_calibrated_not_overconfident():
    X, y = _two_blobs(5)
    p = TasteClassifier().fit(X, y).predict_proba(X)[:, 1]
    assert roc_auc_score(y, p) == 1.0
    # Platt's smoothed targets: with 2-3 ratings per class, never 0 or 1.
    assert 0.05 < p.min() and p.max() < 0.95


def test_classifier_refuses_one_class():
    X, _ = _two_blobs(6)
    with pytest.raises(ValueError, match="both liked"):
        TasteClassifier().fit(X, np.ones(6, int))


def test_recent_ratings_weigh_more_when_taste_drifts():
    X, _ = _two_blobs(20)
    # The same songs, rated first liked (long ago) then disliked (now).
    Xd = np.vstack([X, X])
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    y[0], y[20] = 0, 1  # both classes in both halves
    weights = recency_weights(np.r_[np.full(20, 400.0), np.zeros(20)], 90.0)
    p = TasteClassifier().fit(Xd, y, sample_weight=weights).predict_proba(X[1:])[:, 1]
    assert p.mean() < 0.5


def test_star_regressor_predicts_in_range():
    X, y = _two_blobs(10)
    stars = np.where(y == 1, 5.0, 1.0)
    model = StarRegressor().fit(X, stars)
    pred = model.predict(X)
    assert pred.min() >= 1 and pred.max() <= 5
    assert np.abs(pred - stars).mean() < 1.0


def test_cross_validation_reports_mean_std_and_counts():
    X, y = _two_blobs(20)
    cv = cross_validate_taste(TasteClassifier(), X, y)
    assert (cv["n_ratings"], cv["n_liked"], cv["n_disliked"], cv["folds"]) == (20, 10, 10, 5)
    assert cv["roc_auc_mean"] > 0.9 and cv["roc_auc_std"] >= 0
    few = cross_validate_taste(TasteClassifier(), X[:3], np.array([1, 0, 1]))
    assert few["roc_auc_mean"] is None and "at least 2" in few["note"]


def _fitted_taste(with_stars: bool, trained_at: float = 1.0) -> TasteModel:
    X, y = _two_blobs(12)
    info = {"embedding_model": "MSD_musicnn", "half_life_days": 90.0, "trained_at": trained_at,
            "ratings_fingerprint": "abc", "cv": cross_validate_taste(TasteClassifier(), X, y)}
    regressor = None
    if with_stars:
        regressor = StarRegressor().fit(X, np.where(y == 1, 5.0, 2.0))
        info["stars_cv"] = {"mae_mean": 0.5}
    return TasteModel(TasteClassifier().fit(X, y), regressor, info)


def test_taste_model_is_saved_like_every_trained_model(tmp_path):
    X, _ = _two_blobs(12)
    model = _fitted_taste(with_stars=True)
    path = save_taste_model(model, tmp_path / "lib.taste.safetensors")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["lib.taste-stars.json", "lib.taste-stars.safetensors", "lib.taste.json",
                     "lib.taste.safetensors"]
    liked, stars = load_model(path, TASTE_TYPES), load_model(
        tmp_path / "lib.taste-stars", TASTE_TYPES)
    assert (liked.card.model_type, liked.card.kind, liked.card.task) == ("taste", "binary",
                                                                         "like")
    assert isinstance(stars.estimator, StarRegressor) and stars.card.task == "stars"
    assert liked.card.hyperparameters == TasteClassifier().get_params()
    assert liked.card.inputs == {"embedding_model": "MSD_musicnn"}
    loaded = load_taste_model(path)
    assert loaded.info == model.info
    np.testing.assert_allclose(loaded.like_probability(X), model.like_probability(X))
    np.testing.assert_allclose(loaded.regressor.predict(X), model.regressor.predict(X))
    # Retrained without stars: the old star regressor goes, it is not paired with the new one.
    save_taste_model(_fitted_taste(with_stars=False), path)
    assert not (tmp_path / "lib.taste-stars.safetensors").exists()
    assert load_taste_model(path).regressor is None


def test_a_taste_model_from_before_model_cards_or_half_written_is_refused(tmp_path):
    path = tmp_path / "lib.taste.safetensors"
    model = _fitted_taste(with_stars=True)
    # An earmark-taste-2 file: the arrays of both estimators, their settings in its metadata.
    arrays = {f"classifier.{k}": np.ascontiguousarray(v, np.float64)
              for k, v in model.classifier.state().items()}
    save_file(arrays, str(path), metadata={"format": "earmark-taste-2", "info": "{}"})
    with pytest.raises(ModelError, match="cannot read taste model .* has no model card"):
        load_taste_model(path)
    # The star regressor of one training beside the classifier of another (a crash between
    # the two writes) is not a model.
    save_taste_model(model, path)
    save_model(TrainedModel(model.regressor, ModelCard(
        model_type="taste", task="stars", kind="regression", labels=["stars"], inputs={},
        hyperparameters=StarRegressor().get_params(), training={"trained_at": 2.0})),
        tmp_path / "lib.taste-stars")
    with pytest.raises(ModelError, match="cannot read taste model .* another training"):
        load_taste_model(path)


# --- from the catalog, on real embeddings of real music -----------------------------------------


def _rate(catalog, files, genres, which, liked=LIKED_GENRES, rated_at=None):
    for i in which:
        track = get_track(catalog, files[i])
        verdict = "like" if genres[i] in liked else "dislike"
        ratings.add_rating(catalog, track.id, verdict, rated_at=rated_at)


@pytest.mark.slow
def test_train_taste_on_real_embeddings_ranks_unrated_liked_songs_first(
        embedded_catalog, excerpt_embeddings):
    files, genres, X = (excerpt_embeddings[k] for k in ("files", "genres", "X"))
    train = [i for i in range(len(files)) if i % 2 == 0]  # clip 0 of each genre
    _rate(embedded_catalog, files, genres, train)
    model = train_taste(embedded_catalog)
    held_out = [i for i in range(len(files)) if i % 2 == 1]
    truth = [int(genres[i] in LIKED_GENRES) for i in held_out]
    assert roc_auc_score(truth, model.like_probability(X[held_out])) >= 0.8
    run = embedded_catalog.execute(
        "SELECT kind, model_path, metrics FROM model_runs").fetchall()
    assert len(run) == 1 and run[0]["kind"] == "taste"
    metrics = json.loads(run[0]["metrics"])
    assert metrics["cv"]["n_ratings"] == 5 and metrics["embedding_model"] == "MSD_musicnn"
    saved = load_taste_model(run[0]["model_path"])
    np.testing.assert_allclose(saved.like_probability(X), model.like_probability(X))


@pytest.mark.slow
def test_current_taste_reuses_the_saved_model_until_ratings_change(
        embedded_catalog, excerpt_embeddings):
    files, genres = excerpt_embeddings["files"], excerpt_embeddings["genres"]
    _rate(embedded_catalog, files, genres, range(6))
    first = current_taste(embedded_catalog)
    assert current_taste(embedded_catalog).info["trained_at"] == first.info["trained_at"]
    _rate(embedded_catalog, files, genres, [6])
    assert current_taste(embedded_catalog).info["cv"]["n_ratings"] == 7
    assert taste_model_path(embedded_catalog).exists()


@pytest.mark.slow
def test_a_damaged_saved_model_is_retrained_not_a_crash(embedded_catalog, excerpt_embeddings):
    files, genres = excerpt_embeddings["files"], excerpt_embeddings["genres"]
    _rate(embedded_catalog, files, genres, range(6))
    first = current_taste(embedded_catalog)
    path = taste_model_path(embedded_catalog)
    good = path.read_bytes()
    damages = {
        "truncated": good[: len(good) // 2],
        "header lies about its size": (8).to_bytes(8, "little") + b'{"a": 1}' + good[16:],
        "not safetensors": b"just some text",
        "empty": b"",
    }
    for damage, content in damages.items():
        path.write_bytes(content)
        with pytest.raises(ModelError, match="cannot read taste model"):
            load_taste_model(path)
        again = current_taste(embedded_catalog)
        assert again.info["trained_at"] >= first.info["trained_at"], damage
        assert load_taste_model(path).info["cv"]["n_ratings"] == 6, damage


@pytest.mark.slow
def test_too_few_ratings_give_a_clear_message(embedded_catalog, excerpt_embeddings):
    files, genres = excerpt_embeddings["files"], excerpt_embeddings["genres"]
    _rate(embedded_catalog, files, genres, [0, 4, 6])  # jazz, metal, disco
    with pytest.raises(NotEnoughRatings, match=r"at least 5 .* there are 3 \(1 liked, 2 dis"):
        train_taste(embedded_catalog)


@pytest.mark.slow
def test_all_liked_ratings_give_a_clear_message_and_no_model(
        embedded_catalog, excerpt_embeddings):
    files, genres = excerpt_embeddings["files"], excerpt_embeddings["genres"]
    _rate(embedded_catalog, files, genres, [i for i, g in enumerate(genres)
                                            if g in LIKED_GENRES])
    with pytest.raises(NotEnoughRatings, match="all 4 rated songs are liked.*you dislike"):
        train_taste(embedded_catalog)
    assert embedded_catalog.execute("SELECT count(*) FROM model_runs").fetchone()[0] == 0
    assert not taste_model_path(embedded_catalog).exists()
