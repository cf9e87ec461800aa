"""Scores of a model's outputs against the truth, mir_eval style.

Small pure metric functions over numpy arrays, and :func:`evaluate` which returns an ordered
dict of named scores for one kind of task, each classification score followed by its chance
level (``<name>_chance``: what guessing uniformly at random would score on average; for
PR-AUC, the tags' prevalence). :func:`write_report` and :func:`append_results` put a result on
disk (JSON report, confusion matrix CSV and PNG, spectrograms of misclassified songs, a row in
a results CSV).

Encodings (as :meth:`earmark.data.LabelledSet.y`): single-label ``y`` ``(n,)`` class indices
with ``proba`` ``(n, k)``; multi-label ``y`` and ``proba`` ``(n, k)``; binary ``y`` ``(n,)``
with ``proba`` ``(n, 2)``; regression ``y`` ``(n,)`` with ``output`` ``(n, 1)``.
"""

from __future__ import annotations

import csv
import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from earmark.analysis.figures import plot_confusion, plot_spectrogram
from earmark.models.outputs import hard_predictions


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of songs whose predicted class is right."""
    return float(np.mean(np.asarray(y) == np.asarray(pred))) if len(y) else float("nan")


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` counts; row = true class, column = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y), np.asarray(pred)), 1)
    return matrix


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class ``(k,)`` from a confusion matrix
    (0 where undefined, as scikit-learn's ``zero_division=0``)."""
    return counted_scores(np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1))


def counted_scores(tp: np.ndarray, predicted: np.ndarray, support: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class ``(k,)`` from its counts of true
    positives, songs predicted and songs truly of it (0 where undefined, as scikit-learn's
    ``zero_division=0``): what :func:`per_class_scores` reads off a confusion matrix, and
    what a multi-label decision ``(n, k)`` gives column by column."""
    tp = np.asarray(tp).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def balanced_accuracy(matrix: np.ndarray) -> float:
    """Mean recall over the classes present in the truth."""
    scores = per_class_scores(matrix)
    present = scores["support"] > 0
    return float(scores["recall"][present].mean())


def macro_f1(matrix: np.ndarray) -> float:
    """Unweighted mean F1 over the classes present in the truth or the predictions."""
    scores = per_class_scores(matrix)
    present = (scores["support"] > 0) | (matrix.sum(axis=0) > 0)
    return float(scores["f1"][present].mean())


def top_k_accuracy(y: np.ndarray, proba: np.ndarray, k: int) -> float:
    """Share of songs whose true class is among the ``k`` most probable."""
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == np.asarray(y)[:, None]).any(axis=1)))


def expected_calibration_error(correct: np.ndarray, confidence: np.ndarray,
                               n_bins: int = 10) -> float:
    """ECE: the mean |accuracy - confidence| over equal-width confidence bins, weighted by
    the share of predictions in each bin (Guo et al. 2017)."""
    correct = np.asarray(correct, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)


def chance_f1(priors: np.ndarray) -> float:
    """Expected macro-F1 of uniform random guessing given class priors ``(k,)``."""
    k = len(priors)
    present = priors > 0
    f1 = 2 * priors * (1 / k) / (priors + 1 / k)
    return float(f1[present].mean())


def per_tag_auc(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and PR-AUC (average precision) per tag ``(k,)``; NaN for a tag that is always
    or never present (undefined)."""
    roc = np.full(y.shape[1], np.nan)
    pr = np.full(y.shape[1], np.nan)
    for j in range(y.shape[1]):
        if 0 < y[:, j].sum() < len(y):
            roc[j] = roc_auc_score(y[:, j], proba[:, j])
            pr[j] = average_precision_score(y[:, j], proba[:, j])
    return roc, pr


def tune_thresholds(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Per-tag thresholds ``(k,)`` maximising each tag's F1 on validation outputs (0.5 for a
    tag without positives). Candidates are the observed probabilities."""
    thresholds = np.full(y.shape[1], 0.5)
    for j in range(y.shape[1]):
        positives = y[:, j].sum()
        if positives == 0:
            continue
        best = -1.0
        for cut in np.unique(proba[:, j]):
            predicted = proba[:, j] >= cut
            tp = float((predicted & (y[:, j] == 1)).sum())
            f1 = 2 * tp / (predicted.sum() + positives)
            if f1 > best:
                best, thresholds[j] = f1, float(cut)
    return thresholds


def evaluate(y: np.ndarray, output: np.ndarray, kind: str, labels: list[str],
             thresholds: np.ndarray | None = None, k: int = 3) -> OrderedDict:
    """Named scores of ``output`` against ``y`` (see the module docstring for shapes).

    Single-label and binary: accuracy, balanced accuracy, macro-F1, top-``k`` accuracy (single,
    more than ``k`` classes), ECE, per-class precision/recall/F1 and the confusion matrix.
    Multi-label: per-tag and macro ROC-AUC and PR-AUC, micro/macro F1 at ``thresholds``
    (default 0.5). Regression: MAE, RMSE, R²; chance is always predicting the mean.
    """
    y = np.asarray(y)
    output = np.asarray(output, dtype=np.float64)
    scores: OrderedDict = OrderedDict(songs=int(len(y)))
    if kind == "regression":
        pred = output.reshape(len(y), -1)[:, 0]
        err = pred - y
        spread = y - y.mean()
        scores.update(
            mae=float(np.abs(err).mean()), mae_chance=float(np.abs(spread).mean()),
            rmse=float(np.sqrt((err ** 2).mean())),
            rmse_chance=float(np.sqrt((spread ** 2).mean())),
            r2=float(1 - (err ** 2).sum() / max((spread ** 2).sum(), 1e-12)), r2_chance=0.0,
        )
        return scores
    if kind == "multi":
        roc, pr = per_tag_auc(y, output)
        predicted = hard_predictions(output, kind, thresholds).astype(bool)
        tp = (predicted & (y == 1)).sum(axis=0)
        f1 = np.divide(2 * tp, predicted.sum(axis=0) + y.sum(axis=0),
                       out=np.zeros(len(labels)), where=(predicted.sum(axis=0) + y.sum(axis=0)) > 0)
        scores.update(
            roc_auc_macro=float(np.nanmean(roc)) if np.isfinite(roc).any() else float("nan"),
            roc_auc_macro_chance=0.5,
            pr_auc_macro=float(np.nanmean(pr)) if np.isfinite(pr).any() else float("nan"),
            pr_auc_macro_chance=float(y.mean(axis=0)[np.isfinite(pr)].mean())
            if np.isfinite(pr).any() else float("nan"),
            f1_macro=float(f1.mean()),
            f1_micro=float(2 * tp.sum() / max(predicted.sum() + y.sum(), 1)),
            per_tag=OrderedDict(
                (label, {"roc_auc": _num(roc[j]), "pr_auc": _num(pr[j]),
                         "f1": float(f1[j]), "positives": int(y[:, j].sum())})
                for j, label in enumerate(labels)),
        )
        return scores
    n_classes = output.shape[1]
    pred = hard_predictions(output, kind, thresholds)
    matrix = confusion(y, pred, n_classes)
    priors = np.bincount(y, minlength=n_classes) / max(len(y), 1)
    per_class = per_class_scores(matrix)
    scores.update(
        accuracy=accuracy(y, pred), accuracy_chance=1.0 / n_classes,
        balanced_accuracy=balanced_accuracy(matrix), balanced_accuracy_chance=1.0 / n_classes,
        macro_f1=macro_f1(matrix), macro_f1_chance=chance_f1(priors),
    )
    if kind == "single" and n_classes > k:
        scores[f"top{k}_accuracy"] = top_k_accuracy(y, output, k)
        scores[f"top{k}_accuracy_chance"] = k / n_classes
    if kind == "binary":
        if 0 < y.sum() < len(y):
            scores["roc_auc"] = float(roc_auc_score(y, output[:, 1]))
            scores["roc_auc_chance"] = 0.5
    scores["ece"] = expected_calibration_error(pred == y, output.max(axis=1))
    scores["per_class"] = OrderedDict(
        (label, {"precision": float(per_class["precision"][i]),
                 "recall": float(per_class["recall"][i]), "f1": float(per_class["f1"][i]),
                 "support": int(per_class["support"][i])})
        for i, label in enumerate(labels))
    scores["confusion"] = matrix.tolist()
    return scores


def _num(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def headline(scores: dict) -> list[tuple[str, float, float | None]]:
    """``(name, score, chance)`` for every scalar score, chance beside it (for printing)."""
    rows = []
    for name, value in scores.items():
        if name.endswith("_chance") or not isinstance(value, float) or name == "songs":
            continue
        chance = scores.get(f"{name}_chance")
        rows.append((name, value, chance if isinstance(chance, float) else None))
    return rows


def write_report(folder: str | Path, scores: dict, labels: list[str], *, meta: dict,
                 paths: list[str], y: np.ndarray, output: np.ndarray, kind: str,
                 spectrograms: int = 20) -> Path:
    """Write ``report.json``, ``confusion.csv``/``.png`` (classification) and, for up to
    ``spectrograms`` misclassified songs, a mel-spectrogram PNG each under
    ``misclassified/``. Returns the report path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wrong = misclassified(paths, y, output, kind, labels)
    if "confusion" in scores:
        matrix = np.asarray(scores["confusion"])
        with open(folder / "confusion.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["true \\ predicted", *labels])
            for label, row in zip(labels, matrix, strict=True):
                writer.writerow([label, *row.tolist()])
        plot_confusion(matrix, labels, folder / "confusion.png", confusion_title(meta, len(y)))
    images = folder / "misclassified"
    for item in wrong[:spectrograms]:
        images.mkdir(exist_ok=True)
        name = f"{len(os.listdir(images)):03d}_{Path(item['path']).stem[:60]}.png"
        try:
            plot_spectrogram(item["path"], images / name,
                             f"true {item['true']} / predicted {item['predicted']}")
            item["spectrogram"] = str(images / name)
        except Exception as exc:  # a missing or broken file must not lose the report
            item["spectrogram_error"] = str(exc)
    report = {"meta": meta, "scores": scores, "misclassified": wrong}
    path = folder / "report.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def confusion_title(meta: dict, songs: int) -> str:
    """What a confusion matrix shows, from a report's ``meta``: ``genres.safetensors on
    gtzan (split valid, 14 songs)``."""
    model = Path(str(meta.get("model", "model"))).name
    return f"{model} on {meta.get('dataset', '?')} (split {meta.get('split', '?')}, {songs} songs)"


def misclassified(paths: list[str], y: np.ndarray, output: np.ndarray, kind: str,
                  labels: list[str]) -> list[dict]:
    """Songs whose top prediction is wrong (single, binary), most confident mistakes first."""
    if kind not in ("single", "binary"):
        return []
    pred = hard_predictions(output, kind)
    rows = [{"path": p, "true": labels[t], "predicted": labels[q],
             "confidence": round(float(output[i, q]), 4)}
            for i, (p, t, q) in enumerate(zip(paths, y, pred, strict=True)) if t != q]
    return sorted(rows, key=lambda r: -r["confidence"])


RESULT_FIELDS = ("time", "model", "model_type", "data", "split", "seed", "songs", "params",
                 "metrics")


def append_results(csv_path: str | Path, row: dict) -> None:
    """Append one run to a results CSV (header written when the file is new); ``metrics`` is
    stored as JSON of the scalar scores and ``params`` (hyper-parameters) as JSON."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    new = not csv_path.exists() or csv_path.stat().st_size == 0
    values = dict(row)
    metrics = values.get("metrics", {})
    values["metrics"] = json.dumps({k: round(v, 6) for k, v in metrics.items()
                                    if isinstance(v, float)}, sort_keys=True)
    values["params"] = json.dumps(values.get("params") or {}, sort_keys=True, default=str)
    with open(csv_path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(values)
