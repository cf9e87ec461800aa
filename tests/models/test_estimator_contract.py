"""Every trainable estimator keeps scikit-learn's contract (issue 13 item 8): scikit-learn's
own checks, with the exceptions that cannot apply written down; parameters checked in ``fit``,
not ``__init__``; classifiers and regressors told apart."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from earmark.errors import ModelError
from earmark.learn.train import make_estimator
from earmark.models.classic import DescriptorSVM, DescriptorSVR
from earmark.models.contract import check_params
from earmark.models.heads import EmbeddingHead, EmbeddingHeadRegressor
from earmark.models.io import MODEL_TYPES, estimator_class
from earmark.models.nets.finetune import MusicnnFineTuned, MusicnnFineTunedRegressor
from earmark.models.nets.shortchunk import ShortChunkClassifier, ShortChunkRegressor
from earmark.taste.model import StarRegressor, TasteClassifier

# Small searches and tiny nets: these checks run in CI on two cores.
VECTOR_ESTIMATORS = [EmbeddingHead(Cs=(0.1, 10.0)), EmbeddingHeadRegressor(Cs=(0.1, 10.0)),
                     DescriptorSVM(Cs=(1.0, 10.0)), DescriptorSVR(Cs=(1.0, 10.0))]
NETWORKS = [ShortChunkClassifier(width=2, epochs=1), ShortChunkRegressor(width=2, epochs=1),
            MusicnnFineTuned(epochs=1), MusicnnFineTunedRegressor(epochs=1)]

#: earmark weighs classes by their frequency ("balanced") or not at all, never by hand.
CLASS_WEIGHT = {"check_class_weight_classifiers":
                "class_weight is 'balanced' or None, not a dict of weights"}
#: Checks that fit on a matrix of numbers. A network trains on song files, which it decodes
#: itself (random chunks, augmented, every epoch), so it refuses them with a ValueError that
#: says so; what it predicts from arrays (audio chunks) is checked in test_networks.py.
FITS_ON_NUMBERS = (
    "check_classifier_data_not_an_array", "check_classifiers_classes",
    "check_classifiers_train", "check_dict_unchanged", "check_dont_overwrite_parameters",
    "check_dtype_object", "check_estimators_dtypes", "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self", "check_estimators_nan_inf",
    "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_predict1d",
    "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_n_features_in", "check_n_features_in_after_fitting", "check_pipeline_consistency",
    "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
    "check_regressor_data_not_an_array", "check_regressors_int",
    "check_regressors_no_decision_function", "check_regressors_train",
    "check_supervised_y_2d",
)


def expected_failures(estimator) -> dict[str, str]:
    """The checks that cannot apply to ``estimator``, and why."""
    expected = dict(CLASS_WEIGHT) if is_classifier(estimator) else {}
    if estimator in NETWORKS:
        expected |= dict.fromkeys(FITS_ON_NUMBERS, "a network trains on song files (paths), "
                                  "not on a matrix of numbers")
        if is_regressor(estimator):
            # A classifier refuses the one-sample fit for its single class before it looks at
            # X, with the message the check wants; a regressor reaches X first.
            expected["check_fit2d_1sample"] = "a network trains on song files (paths)"
    return expected


@parametrize_with_checks(VECTOR_ESTIMATORS + NETWORKS, expected_failed_checks=expected_failures,
                         xfail_strict=True)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


ALL = VECTOR_ESTIMATORS + NETWORKS + [TasteClassifier(), StarRegressor()]


@pytest.mark.parametrize("estimator", ALL, ids=lambda e: type(e).__name__)
def test_every_parameter_has_a_rule_its_default_keeps(estimator):
    check_params(estimator)  # a parameter without a rule would raise KeyError


X = np.random.default_rng(0).normal(size=(12, 3))
LABELS = np.arange(12) % 2


@pytest.mark.parametrize(("estimator", "name"), [
    (EmbeddingHead(kind="regression"), "kind"),
    (EmbeddingHead(classifier="svm"), "classifier"),
    (EmbeddingHead(C=-1.0), "C"),
    (EmbeddingHead(Cs=()), "Cs"),
    (EmbeddingHead(pca=0), "pca"),
    (EmbeddingHead(calibrate="yes"), "calibrate"),
    (EmbeddingHeadRegressor(C="best"), "C"),
    (DescriptorSVM(kind="multi"), "kind"),
    (DescriptorSVM(gamma=-0.5), "gamma"),
    (DescriptorSVR(Cs=(1.0, 0.0)), "Cs"),
    (TasteClassifier(C=0.0), "C"),
    (StarRegressor(alpha=-1.0), "alpha"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_parameters_are_checked_in_fit_not_in_init(estimator, name):
    bad = estimator.get_params()[name]  # __init__ stored it as given
    y = X[:, 0] if is_regressor(estimator) else LABELS
    with pytest.raises(ValueError, match=rf"{type(estimator).__name__}: {name} must be .*, "
                                         rf"not {re.escape(repr(bad))}"):
        estimator.fit(X, y)


@pytest.mark.parametrize(("estimator", "name"), [
    (ShortChunkClassifier(batch_size=1), "batch_size"),  # batch norm needs two examples
    (ShortChunkClassifier(kind="regression"), "kind"),
    (ShortChunkRegressor(stretch=1.5), "stretch"),
    (ShortChunkRegressor(width=0), "width"),
    (MusicnnFineTuned(train_layers="some"), "train_layers"),
    (MusicnnFineTunedRegressor(base="MSD_vgg"), "base"),  # vgg has no dense embedding layer
    (MusicnnFineTuned(epochs=0), "epochs"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_network_parameters_are_checked_before_any_audio_is_read(estimator, name, tmp_path):
    missing = [str(tmp_path / f"{i}.wav") for i in range(4)]  # never opened
    y = np.array([0.5, 1.0, 1.5, 2.0]) if is_regressor(estimator) else np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match=f"{type(estimator).__name__}: {name} must be"):
        estimator.fit(missing, y)


@pytest.mark.parametrize("model_type", list(MODEL_TYPES))
def test_each_model_type_has_a_classifier_and_a_regressor(model_type):
    classifier, regressor = (estimator_class(model_type, kind) for kind in ("single",
                                                                            "regression"))
    assert is_classifier(classifier()) and not is_regressor(classifier())
    assert is_regressor(regressor()) and not is_classifier(regressor())
    assert "kind" in classifier().get_params() and "kind" not in regressor().get_params()
    kinds = ("single", "binary") if model_type == "classic" else ("single", "multi", "binary")
    for kind in kinds:
        assert isinstance(make_estimator(model_type, kind), classifier)
        assert make_estimator(model_type, kind).kind == kind
    assert make_estimator(model_type, "regression", seed=3).get_params()["seed"] == 3


def test_a_regressor_refuses_classifier_settings_clearly():
    with pytest.raises(ModelError, match="regression head model does not take.*classifier"):
        make_estimator("head", "regression", classifier="mlp")
