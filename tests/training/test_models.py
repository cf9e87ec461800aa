"""Embedding heads, the descriptor SVM baseline, classic descriptors and model files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from earmark.errors import ModelError
from earmark.features.classic import ClassicParams, descriptor_names, song_descriptors
from earmark.learn.evaluate import expected_calibration_error
from earmark.learn.train import make_estimator
from earmark.models.classic import DescriptorSVM, DescriptorSVR, pairwise_decisions, rbf_kernel
from earmark.models.heads import EmbeddingHead, EmbeddingHeadRegressor
from earmark.models.io import CARD_FORMAT, ModelCard, TrainedModel, load_model, save_model
from earmark.models.outputs import softmax, softmax_weights
from earmark.models.selection import inner_folds, search_C, selection_score


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return X, y


def test_logreg_head_equals_scikit_learn_pipeline(wine):
    X, y = wine
    head = EmbeddingHead(C=0.5, class_weight=None, calibrate=False).fit(X, y)
    z = StandardScaler().fit_transform(X)
    reference = LogisticRegression(C=0.5, max_iter=5000).fit(z, y).predict_proba(z)
    np.testing.assert_allclose(head.predict_proba(X), reference, atol=1e-6)


def test_temperature_calibration_fixes_flat_probabilities_of_strong_regularisation(wine):
    X, y = wine
    train, test = np.arange(0, len(y), 2), np.arange(1, len(y), 2)
    errors = {}
    for calibrate in (False, True):
        head = EmbeddingHead(C=1e-3, calibrate=calibrate).fit(X[train], y[train])
        proba = head.predict_proba(X[test])
        errors[calibrate] = expected_calibration_error(proba.argmax(axis=1) == y[test],
                                                       proba.max(axis=1))
    assert head.temperature_ < 1.0  # sharpened
    assert errors[True] < errors[False] / 2


def test_head_is_a_scikit_learn_estimator(wine):
    X, y = wine
    head = EmbeddingHead(C="auto", Cs=(0.01, 1.0), pca=5, seed=3)
    assert clone(head).get_params()["pca"] == 5
    scores = cross_val_score(head, X, y, cv=3)
    assert scores.mean() > 0.9


def test_auto_c_is_chosen_inside_the_training_data(wine):
    X, y = wine
    head = EmbeddingHead(C="auto", Cs=(1e-4, 1.0)).fit(X, y)
    assert head.C_ == 1.0  # 1e-4 shrinks every coefficient to nothing
    assert len(head.fitted_info()["selection"]["scores"]) == 2


def test_head_binary_multi_regression_shapes(wine):
    X, y = wine
    binary = EmbeddingHead(kind="binary", C=1.0).fit(X, (y == 0).astype(int))
    proba = binary.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)
    assert np.mean(binary.predict(X) == (y == 0)) > 0.95
    tags = np.stack([y == 0, y == 1, X[:, 0] > 13, np.zeros(len(y), bool)], axis=1).astype(int)
    multi = EmbeddingHead(kind="multi", C=1.0).fit(X, tags)
    p = multi.predict_proba(X)
    assert p.shape == (len(X), 4) and p[:, 3].max() < 1e-3  # a tag never seen stays off
    ridge = EmbeddingHeadRegressor(C=1.0).fit(X, X[:, 0])
    assert np.corrcoef(ridge.predict(X), X[:, 0])[0, 1] > 0.99
    assert not hasattr(ridge, "predict_proba")  # a regressor predicts values only
    with pytest.raises(ValueError, match="values: EmbeddingHeadRegressor"):
        EmbeddingHead(kind="regression", C=1.0).fit(X, X[:, 0])


def test_single_label_head_keeps_columns_for_classes_absent_in_training(wine):
    X, y = wine
    keep = y != 1
    head = EmbeddingHead(C=1.0).fit(X[keep], y[keep], n_classes=3)
    proba = head.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba[:, 1].max() < 1e-6


def test_mlp_head_learns(wine):
    X, y = wine
    mlp = EmbeddingHead(classifier="mlp", C=1.0, hidden=16).fit(X, y)
    assert np.mean(mlp.predict(X) == y) > 0.95


def test_search_c_scores_each_candidate_on_held_out_folds(wine):
    X, y = wine
    folds = inner_folds(y, None, "single", 3, seed=0)
    best, scores, outputs = search_C(EmbeddingHead(calibrate=False), X, y, folds,
                                     (1e-4, 1.0), 3)
    assert best == 1 and len(scores) == len(outputs) == 2
    assert outputs[1].shape == (len(y), 3) and np.allclose(outputs[1].sum(axis=1), 1)
    assert scores[1] == selection_score("single", y, outputs[1])
    train, test = folds[0]
    alone = EmbeddingHead(C=1.0, calibrate=False).fit(X[train], y[train], n_classes=3)
    np.testing.assert_array_equal(outputs[1][test], alone.predict_proba(X[test]))
    _, _, values = search_C(DescriptorSVR(), X, X[:, 0], folds, (1.0,), 1)
    assert values[0].shape == (len(y), 1)


def test_softmax_weights_from_a_two_class_logistic_and_absent_classes():
    X, y = load_iris(return_X_y=True)
    keep = y > 0
    logistic = LogisticRegression(max_iter=5000).fit(X[keep], y[keep])
    W, b = softmax_weights(logistic.coef_, logistic.intercept_, logistic.classes_, 3)
    proba = softmax(X @ W.T + b)
    assert W.shape == (3, 4) and proba[:, 0].max() < 1e-300
    np.testing.assert_allclose(proba[:, 1:], logistic.predict_proba(X), atol=1e-12)
    three = LogisticRegression(max_iter=5000).fit(X, y)
    W, b = softmax_weights(three.coef_, three.intercept_, three.classes_, 3)
    np.testing.assert_allclose(softmax(X @ W.T + b), three.predict_proba(X), atol=1e-12)


@pytest.mark.parametrize("classes", [2, 3])
def test_pairwise_decisions_match_libsvm(classes):
    X, y = load_iris(return_X_y=True)
    keep = y < classes
    X, y = X[keep], y[keep]
    svc = SVC(gamma=0.4, decision_function_shape="ovo").fit(X, y)
    arrays = DescriptorSVM._svc_arrays(svc)
    ours = pairwise_decisions(rbf_kernel(X, arrays["support"], 0.4),
                              arrays["n_support"].astype(int), arrays["dual_coef"],
                              arrays["intercept"])
    reference = svc.decision_function(X)
    # scikit-learn reports two-class decisions as "positive = second class"
    reference = -reference[:, None] if classes == 2 else reference
    np.testing.assert_allclose(ours, reference, atol=1e-9)


def test_descriptor_svm_probabilities_are_calibrated_and_agree_with_decisions(wine):
    X, y = wine
    svm = DescriptorSVM(C="auto").fit(X, y)
    proba = svm.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1) and np.mean(svm.predict(X) == y) > 0.95
    rest = np.delete(np.arange(len(y)), np.arange(0, len(y), 3))
    held = np.arange(0, len(y), 3)
    assert np.mean(DescriptorSVM(C=1.0).fit(X[rest], y[rest]).predict(X[held]) == y[held]) > 0.9
    with pytest.raises(ValueError):
        DescriptorSVM(kind="multi").fit(X, np.eye(3, dtype=int)[y])


@pytest.mark.parametrize(("model_type", "kind"), [
    ("head", "single"), ("head", "multi"), ("head", "binary"), ("head", "regression"),
    ("classic", "single"), ("classic", "binary"), ("classic", "regression"),
])
def test_save_and_load_reproduce_outputs(wine, tmp_path, model_type, kind):
    X, y = wine
    target = {"single": y, "binary": (y == 2).astype(int), "regression": X[:, 0],
              "multi": np.stack([y == 0, y == 2], axis=1).astype(int)}[kind]
    estimator = make_estimator(model_type, kind, C=1.0).fit(X, target)
    card = ModelCard(model_type=model_type, task="genre", kind=kind, labels=["a", "b", "c"],
                     inputs={"embedding_model": "MSD_musicnn", "chunk_seconds": 30.0},
                     hyperparameters=estimator.get_params(), fitted=estimator.fitted_info(),
                     seed=4)
    path = save_model(TrainedModel(estimator, card), tmp_path / "model")
    assert path.name == "model.safetensors"
    assert json.loads((tmp_path / "model.json").read_text())["seed"] == 4
    loaded = load_model(tmp_path / "model.json")
    method = "predict" if kind == "regression" else "predict_proba"
    np.testing.assert_allclose(getattr(loaded.estimator, method)(X),
                               getattr(estimator, method)(X), atol=1e-12)
    assert loaded.card.labels == ["a", "b", "c"] and loaded.card.hyperparameters["C"] == 1.0
    (tmp_path / "model.json").unlink()  # the card inside the weights file is enough
    assert load_model(path).card.model_type == model_type


def test_load_model_reports_damage(tmp_path):
    with pytest.raises(ModelError, match="no model weights"):
        load_model(tmp_path / "nothing.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelError):
        load_model(tmp_path / "bad.safetensors")


@pytest.mark.slow  # librosa compiles its numba kernels on first use
def test_classic_descriptors_of_real_music(genre_tree):
    params = ClassicParams()
    metal = song_descriptors(str(genre_tree / "metal" / "metal.00000.wav"), params)
    classical = song_descriptors(str(genre_tree / "classical" / "classical.00000.wav"), params)
    assert metal.shape == (params.size,) == (len(descriptor_names(params)),)
    assert np.isfinite(metal).all()
    names = descriptor_names(params)
    zcr = names.index("zero_crossings_mean")
    assert metal[zcr] > classical[zcr]  # distorted guitars cross zero far more than strings


@pytest.mark.parametrize(("model_type", "classifier_era"), [
    ("head", {"kind": "regression", "classifier": "mlp", "hidden": 256,
              "class_weight": "balanced", "calibrate": True}),
    ("classic", {"kind": "regression", "class_weight": "balanced"}),
])
def test_a_format_1_regression_card_loads_as_the_regressor(wine, tmp_path, model_type,
                                                           classifier_era):
    """Before classifiers and regressors were split, a regression model was saved under its
    classifier with parameters a regression ignores; it loads as the regressor, unchanged."""
    X, _ = wine
    estimator = make_estimator(model_type, "regression", C=1.0).fit(X, X[:, 0])
    card = ModelCard(model_type=model_type, task="stars", kind="regression", labels=["value"],
                     inputs={"embedding_model": "MSD_musicnn", "chunk_seconds": 30.0},
                     hyperparameters=estimator.get_params() | classifier_era,
                     fitted=estimator.fitted_info() | {"temperature": 1.0}, format=1)
    save_model(TrainedModel(estimator, card), tmp_path / "old")
    loaded = load_model(tmp_path / "old").estimator
    assert type(loaded) is type(estimator) and "kind" not in loaded.get_params()
    np.testing.assert_allclose(loaded.predict(X), estimator.predict(X), atol=1e-12)
    # The same parameters in a format-2 card are an error, not silently dropped.
    card_path = tmp_path / "old.json"
    card_path.write_text(json.dumps(json.loads(card_path.read_text()) | {"format": 2}))
    with pytest.raises(ModelError, match="hyper-parameters .* does not take"):
        load_model(tmp_path / "old")


def test_a_card_from_a_newer_earmark_is_refused(wine, tmp_path):
    X, y = wine
    estimator = EmbeddingHead(C=1.0).fit(X, y)
    card = ModelCard(model_type="head", task="genre", kind="single", labels=["a", "b", "c"],
                     inputs={"embedding_model": "MSD_musicnn", "chunk_seconds": 30.0},
                     hyperparameters=estimator.get_params(), fitted=estimator.fitted_info(),
                     format=CARD_FORMAT + 1)
    save_model(TrainedModel(estimator, card), tmp_path / "new")
    with pytest.raises(ModelError, match="newer than this earmark"):
        load_model(tmp_path / "new")


def test_classifiers_take_any_labels_and_give_them_back(wine):
    X, y = wine
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    for estimator in (EmbeddingHead(C=1.0), DescriptorSVM(C=1.0)):
        estimator.fit(X, names)
        assert list(estimator.classes_) == ["barbera", "barolo", "grignolino"]
        assert np.mean(estimator.predict(X) == names) > 0.95
    with pytest.raises(ValueError, match="class indices 0 .. 2"):
        EmbeddingHead(C=1.0).fit(X, names, n_classes=3)
