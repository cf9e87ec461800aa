"""Metric functions against scikit-learn and hand-computed cases; report files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
    top_k_accuracy_score,
)

from earmark.learn.evaluate import (
    append_results,
    chance_f1,
    evaluate,
    expected_calibration_error,
    headline,
    tune_thresholds,
    write_report,
)


@pytest.fixture(scope="module")
def single():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 200)
    logits = rng.normal(size=(200, 5)) + 2.0 * np.eye(5)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def test_single_label_scores_match_scikit_learn(single):
    y, proba = single
    labels = list("abcde")
    scores = evaluate(y, proba, "single", labels)
    pred = proba.argmax(axis=1)
    assert scores["accuracy"] == pytest.approx(np.mean(pred == y))
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert scores["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert scores["top3_accuracy"] == pytest.approx(top_k_accuracy_score(y, proba, k=3))
    assert scores["confusion"] == confusion_matrix(y, pred).tolist()
    p, r, f, s = precision_recall_fscore_support(y, pred)
    assert scores["per_class"]["c"] == pytest.approx(
        {"precision": p[2], "recall": r[2], "f1": f[2], "support": s[2]})
    assert scores["accuracy_chance"] == 0.2 and scores["top3_accuracy_chance"] == 0.6
    names = [row[0] for row in headline(scores)]
    assert names[:3] == ["accuracy", "balanced_accuracy", "macro_f1"]
    assert dict((n, c) for n, _, c in headline(scores))["accuracy"] == 0.2


def test_chance_f1_of_balanced_classes_is_one_over_k():
    assert chance_f1(np.full(10, 0.1)) == pytest.approx(0.1)


def test_expected_calibration_error_by_hand():
    # two bins used: 0.9-confidence predictions right 1 of 2 times, 0.3 ones right 1 of 2
    correct = np.array([1, 0, 1, 0])
    confidence = np.array([0.9, 0.9, 0.3, 0.3])
    assert expected_calibration_error(correct, confidence) == pytest.approx(
        0.5 * 0.4 + 0.5 * 0.2)
    assert expected_calibration_error(np.ones(5), np.full(5, 0.999)) < 0.01


def test_multi_label_scores_and_thresholds():
    rng = np.random.default_rng(1)
    y = (rng.random((120, 4)) < [0.5, 0.2, 0.1, 0.0]).astype(int)
    proba = np.clip(0.6 * y + 0.5 * rng.random((120, 4)), 0, 1)
    scores = evaluate(y, proba, "multi", ["w", "x", "y", "z"])
    assert scores["per_tag"]["x"]["roc_auc"] == pytest.approx(roc_auc_score(y[:, 1], proba[:, 1]))
    assert scores["per_tag"]["z"]["roc_auc"] is None  # never present: undefined, not 0.5
    assert scores["roc_auc_macro_chance"] == 0.5
    assert scores["pr_auc_macro_chance"] == pytest.approx(y[:, :3].mean())
    cuts = tune_thresholds(y, proba)
    assert cuts[3] == 0.5
    tuned = evaluate(y, proba, "multi", list("wxyz"), thresholds=cuts)
    assert tuned["f1_macro"] >= scores["f1_macro"]


def test_binary_and_regression_scores():
    y = np.array([0, 0, 1, 1, 1])
    proba = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.1, 0.9], [0.6, 0.4]])
    scores = evaluate(y, proba, "binary", ["dislike", "like"])
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["roc_auc"] == pytest.approx(roc_auc_score(y, proba[:, 1]))
    assert evaluate(y, proba, "binary", ["dislike", "like"], thresholds=np.array([0.3])
                    )["accuracy"] == pytest.approx(0.8)
    stars = np.array([1.0, 2, 3, 4, 5])
    reg = evaluate(stars, (stars + 0.5)[:, None], "regression", ["value"])
    assert reg["mae"] == pytest.approx(0.5) and reg["mae_chance"] == pytest.approx(1.2)
    assert reg["r2"] == pytest.approx(1 - 1.25 / 10)


def test_report_files_and_results_csv(single, tmp_path, genre_tree):
    y, proba = single
    y, proba = y[:6], proba[:6]
    song = str(genre_tree / "metal" / "metal.00000.wav")
    proba = proba.copy()
    proba[0] = np.eye(5)[(y[0] + 1) % 5]  # make sure one song is wrong
    scores = evaluate(y, proba, "single", list("abcde"))
    report = write_report(tmp_path / "rep", scores, list("abcde"), meta={"model": "m"},
                          paths=[song] * 6, y=y, output=proba, kind="single", spectrograms=1)
    data = json.loads(report.read_text())
    assert data["misclassified"][0]["path"] == song
    assert (tmp_path / "rep" / "confusion.png").stat().st_size > 1000
    assert len(list((tmp_path / "rep" / "misclassified").glob("*.png"))) == 1
    rows = list(csv.reader(open(tmp_path / "rep" / "confusion.csv")))
    assert rows[0][1:] == list("abcde") and len(rows) == 6
    results = tmp_path / "results.csv"
    for seed in (0, 1):
        append_results(results, {"model": "m", "data": "d", "split": "test", "seed": seed,
                                 "songs": 6, "metrics": scores})
    lines = list(csv.DictReader(open(results)))
    assert [r["seed"] for r in lines] == ["0", "1"]
    assert json.loads(lines[0]["metrics"])["accuracy"] == pytest.approx(scores["accuracy"])
