"""Decisions from model outputs: the one rule set every caller uses."""

from __future__ import annotations

import numpy as np
import pytest

from earmark.models.io import ModelCard
from earmark.models.outputs import card_thresholds, hard_predictions


def card(kind: str, labels: list[str], thresholds: list[float] | None = None) -> ModelCard:
    return ModelCard(model_type="head", task="tags", kind=kind, labels=labels, inputs={},
                     hyperparameters={}, thresholds=thresholds)


def test_single_label_is_the_most_probable_class_whatever_the_thresholds():
    output = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    assert hard_predictions(output, "single").tolist() == [1, 0]  # a tie goes to the first
    assert hard_predictions(output, "single", np.array([0.1, 0.9, 0.1])).tolist() == [1, 0]


def test_binary_is_the_top_class_or_the_positive_class_at_its_threshold():
    output = np.array([[0.7, 0.3], [0.5, 0.5], [0.2, 0.8]])
    assert hard_predictions(output, "binary").tolist() == [0, 0, 1]
    assert hard_predictions(output, "binary", 0.5).tolist() == [0, 1, 1]
    assert hard_predictions(output, "binary", np.array([0.25, 0.9])).tolist() == [1, 1, 1]


def test_multi_label_tags_at_per_tag_thresholds_default_half():
    output = np.array([[0.9, 0.5, 0.1], [0.4, 0.3, 0.6]])
    assert hard_predictions(output, "multi").tolist() == [[1, 1, 0], [0, 0, 1]]
    assert hard_predictions(output, "multi", np.array([0.95, 0.3, 0.05])).tolist() == [
        [0, 1, 1], [0, 1, 1]]
    assert hard_predictions(output, "multi", 0.35).tolist() == [[1, 1, 0], [1, 0, 1]]


def test_regression_gives_the_values():
    assert hard_predictions(np.array([[3.5], [1.0]]), "regression").tolist() == [3.5, 1.0]


def test_card_thresholds_override_then_tuned_then_none():
    tuned = card("multi", ["a", "b"], [0.3, 0.7])
    np.testing.assert_array_equal(card_thresholds(tuned), [0.3, 0.7])
    assert card_thresholds(tuned).dtype == np.float64
    np.testing.assert_array_equal(card_thresholds(tuned, 0.4), [0.4, 0.4])
    assert card_thresholds(card("single", ["x", "y", "z"])) is None
    assert card_thresholds(card("multi", ["a"], [])) is None
    np.testing.assert_array_equal(card_thresholds(card("regression", []), 2.0), [2.0])


@pytest.mark.parametrize("kind", ["single", "binary", "multi"])
def test_evaluate_and_predict_decide_as_hard_predictions(kind):
    from earmark.analysis.predict import decide
    from earmark.learn.evaluate import evaluate

    rng = np.random.default_rng(3)
    output = rng.random((40, 2 if kind == "binary" else 3))
    if kind != "multi":
        output /= output.sum(axis=1, keepdims=True)
    labels = ["a", "b"] if kind == "binary" else ["a", "b", "c"]
    cuts = np.array([0.6, 0.4, 0.5])[:len(labels)]
    pred = hard_predictions(output, kind, cuts)
    decided = [decide(row, kind, labels, cuts) for row in output]
    if kind == "multi":
        assert decided == [[c for c, on in zip(labels, row, strict=True) if on] for row in pred]
        y = pred.copy()
        assert evaluate(y, output, kind, labels, cuts)["f1_micro"] == 1.0
    else:
        assert decided == [[labels[i]] for i in pred]
        assert evaluate(pred, output, kind, labels, cuts)["accuracy"] == 1.0
