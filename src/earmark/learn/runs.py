"""Experiment runs: train (or cross-validate) a model type over several seeds, aggregate the
scores as mean ± std, append a row per run to a results CSV and save the model; the same for
a hyper-parameter search; and the scoring of a saved model on a labelled dataset. What
``earmark train``, ``earmark tune`` and ``earmark evaluate`` do, callable from a web request,
a worker or a test.

An :class:`Experiment` says what to run. :func:`prepare_experiment` reads the labelled songs
and turns them into model inputs (the slow part, cached per song in the catalog);
:func:`run_experiment` then runs it and returns an :class:`ExperimentResult`;
:func:`run_tuning` searches hyper-parameters with Optuna instead. :func:`plan_evaluation`
chooses the songs a saved model is scored on and :func:`run_evaluation` scores them, writes
the report and returns an :class:`Evaluation`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from earmark.analysis.predict import SongPrediction, model_output, predict_and_store
from earmark.analysis.sampling import DEFAULT_SAMPLING, Sampling
from earmark.catalog import Catalog
from earmark.catalog.labels import load_labelled
from earmark.data import LabelledSet
from earmark.errors import EarmarkError
from earmark.ingest.scan import scan
from earmark.learn.evaluate import append_results, evaluate, headline, write_report
from earmark.learn.train import (
    DEFAULT_EMBEDDING,
    cross_validate,
    default_inputs,
    mean_and_std,
    song_matrix,
    train_model,
)
from earmark.models.io import TrainedModel, save_model
from earmark.models.outputs import card_thresholds
from earmark.types import ProgressFn, Stages, no_progress

if TYPE_CHECKING:
    from earmark.learn.tune import TuneResult

#: Model types that train a network (epochs, batches, checkpoints, a device).
NETWORK_MODELS = ("shortchunk", "finetune")


class NoLabelledSongs(EarmarkError):
    """The catalog has no labelled songs for the task (and dataset) asked for."""


def labelled_songs(catalog: Catalog, task: str, dataset: str | None = None) -> LabelledSet:
    """The catalog's songs labelled for ``task`` (in ``dataset``, else in every dataset with
    the task; ``like``/``stars`` come from ratings). Raises :class:`NoLabelledSongs` saying
    how to get some."""
    data = load_labelled(catalog, task, dataset)
    if len(data) == 0:
        where = f" in dataset {dataset!r}" if dataset else ""
        raise NoLabelledSongs(f"no labelled songs for task {task!r}{where}; run `earmark "
                              "dataset import` (or rate songs for the like/stars tasks)")
    return data


def hyper_params(
    model_type: str, *, embedding: str = DEFAULT_EMBEDDING, C: float | None = None,
    pca: int | None = None, classifier: str | None = None, epochs: int | None = None,
    batch_size: int | None = None, lr: float | None = None, device: str | None = None,
    checkpoint: str | Path | None = None, resume: bool = False,
    train_layers: str | None = None, width: int | None = None,
) -> dict:
    """The hyper-parameters given (``None``: the model's default) that apply to
    ``model_type``; the others are left out. ``C`` applies to every type; ``pca`` and
    ``classifier`` to heads; ``epochs``, ``batch_size``, ``lr``, ``device`` and
    ``checkpoint``/``resume`` to networks; ``width`` to the short-chunk CNN; ``embedding``
    (as ``base``) and ``train_layers`` to fine-tuning."""
    hyper: dict = {}
    if C is not None:
        hyper["C"] = C
    if model_type == "head":
        hyper.update({k: v for k, v in (("pca", pca), ("classifier", classifier)) if v})
    if model_type in NETWORK_MODELS:
        hyper.update({k: v for k, v in (("epochs", epochs), ("batch_size", batch_size),
                                        ("lr", lr), ("device", device)) if v is not None})
        if checkpoint is not None:
            hyper["checkpoint"] = str(checkpoint)
            hyper["resume"] = resume
    if model_type == "finetune":
        hyper["base"] = embedding
        if train_layers:
            hyper["train_layers"] = train_layers
    if model_type == "shortchunk" and width:
        hyper["width"] = width
    return hyper


@dataclass(frozen=True)
class Experiment:
    """What to run: train ``model_type`` on the songs labelled for ``task`` (in ``dataset``,
    else every dataset with the task), with seeds ``seed`` .. ``seed + runs - 1``.

    ``cv``: grouped k-fold cross-validation with this many folds instead of one validation
    split of share ``valid`` (then the source's test songs are left out, as training and
    tuning leave them out). ``hyper``: see :func:`hyper_params`. ``out``: where the first
    run's model is saved (``None``: not saved; a cross-validation saves none). ``results``:
    the CSV that gets a row per run (default: ``results.csv`` beside ``out``, else in the
    working folder).
    """

    model_type: str = "head"
    task: str = "genre"
    dataset: str | None = None
    embedding: str = DEFAULT_EMBEDDING
    seed: int = 0
    runs: int = 1
    cv: int = 0
    valid: float = 0.2
    hyper: dict = field(default_factory=dict)
    out: Path | None = None
    results: Path | None = None

    @property
    def seeds(self) -> list[int]:
        """The seed of each run."""
        return list(range(self.seed, self.seed + self.runs))

    @property
    def split(self) -> str:
        """How runs are scored: ``validation`` or ``K-fold grouped CV``."""
        return f"{self.cv}-fold grouped CV" if self.cv else "validation"

    @property
    def inputs(self) -> dict:
        """How songs become model inputs (:func:`earmark.learn.train.default_inputs`)."""
        return default_inputs(self.model_type, self.embedding)

    @property
    def results_path(self) -> Path:
        """The results CSV the runs are appended to."""
        if self.results is not None:
            return Path(self.results)
        return Path(self.out).parent / "results.csv" if self.out else Path("results.csv")


@dataclass(frozen=True)
class ExperimentResult:
    """Scores of every run (``per_run``, in seed order) and their ``mean`` and ``std`` per
    score; the first run's model (``None`` after cross-validation) and where it was saved."""

    experiment: Experiment
    per_run: list[dict]
    mean: dict[str, float]
    std: dict[str, float]
    model: TrainedModel | None = None
    saved: Path | None = None

    @property
    def scored(self) -> str:
        """How the scores were made and on how many songs, for a report's title:
        ``validation: 14 held-out songs``, ``out-of-fold validation: 60 songs``, ``3-fold
        grouped CV: 60 songs``."""
        songs = self.per_run[0].get("songs", 0)
        if self.model is None:
            return f"{self.experiment.split}: {songs} songs"
        if self.model.card.training.get("valid_songs"):
            return f"validation: {songs} held-out songs"
        return f"out-of-fold validation: {songs} songs"

    @property
    def notes(self) -> list[str]:
        """What a person should know about how the model was validated (each note once):
        the model cards' ``training["notes"]``."""
        notes = self.model.card.training.get("notes", []) if self.model else []
        return list(dict.fromkeys(notes))

    @property
    def not_saved_reason(self) -> str:
        """Why no model was saved and how to save one (empty when one was)."""
        if self.saved is not None:
            return ""
        if self.experiment.cv:
            return ("cross-validation only scores the model type; no model was saved (train "
                    "without --cv, with --out PATH, to save one)")
        return "the model was not saved; give --out PATH to save it (e.g. --out models/genres)"

    def score_rows(self) -> list[tuple[str, float, float | None, float | None]]:
        """``(score, mean, std or None for one run, chance level or None)`` per score, the
        chance levels (``<score>_chance``) folded into their score's row."""
        spread = self.experiment.runs > 1
        return [(n, v, self.std[n] if spread else None, self.mean.get(f"{n}_chance"))
                for n, v in self.mean.items() if not n.endswith("_chance")]

    def to_dict(self) -> dict:
        """The JSON fields ``earmark train --json`` prints (``model``: the saved model's
        path, ``None`` when none was saved)."""
        return {"model": str(self.saved) if self.saved else None,
                "runs": self.experiment.runs, "split": self.experiment.split,
                "scored": self.scored, "notes": self.notes,
                "results": str(self.experiment.results_path), "mean": self.mean,
                "std": self.std if self.experiment.runs > 1 else None}


def prepare_experiment(catalog: Catalog, experiment: Experiment,
                       progress: ProgressFn | None = None) -> tuple[np.ndarray, LabelledSet]:
    """The songs an experiment uses and their inputs ``X`` (one row or array per song, from
    :func:`earmark.learn.train.song_matrix`; songs that cannot be read are left out of both).
    Raises :class:`NoLabelledSongs`."""
    data = labelled_songs(catalog, experiment.task, experiment.dataset)
    if experiment.cv:
        # the source's test songs stay unseen, as in train_model and tune
        data = data.without_split("test")
    return song_matrix(catalog, data, experiment.inputs, progress)


def run_experiment(X: np.ndarray, data: LabelledSet, experiment: Experiment, *,
                   stages: Stages = no_progress) -> ExperimentResult:
    """Run every seed of ``experiment`` on ``X`` and ``data`` (from
    :func:`prepare_experiment`), append a row per run to its results CSV as each finishes,
    and save the first run's model to ``experiment.out`` (with the seeds, mean and std of
    all runs in its card when there are several). Stages: ``training (seed N)`` or
    ``cross-validating (seed N)`` per run.

    Raises :class:`~earmark.errors.EarmarkError` or ``ValueError`` when the data cannot
    train the model (the rows of the runs done so far stay in the CSV).
    """
    per_run: list[dict] = []
    first: TrainedModel | None = None
    for run_seed in experiment.seeds:
        if experiment.cv:
            with stages(f"cross-validating (seed {run_seed})") as progress:
                scores = {"songs": len(data), **cross_validate(
                    X, data, experiment.model_type, n_splits=experiment.cv, seed=run_seed,
                    hyper=experiment.hyper, progress=progress).mean}
        else:
            with stages(f"training (seed {run_seed})") as progress:
                fitted = train_model(X, data, experiment.model_type, experiment.inputs,
                                     seed=run_seed, valid_fraction=experiment.valid,
                                     hyper=experiment.hyper, progress=progress)
            scores = fitted.card.metrics["validation"]
            first = first or fitted
        per_run.append(scores)
        append_results(experiment.results_path, {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": str(experiment.out or "-"),
            "model_type": experiment.model_type, "data": experiment.dataset or "*",
            "split": experiment.split, "seed": run_seed, "songs": len(data),
            "metrics": scores})
    mean, std = mean_and_std(per_run)
    saved = None
    if first is not None and experiment.out is not None:
        if experiment.runs > 1:
            first.card.metrics["runs"] = {"seeds": experiment.seeds, "mean": mean, "std": std}
        saved = save_model(first, experiment.out)
    return ExperimentResult(experiment, per_run, mean, std, first, saved)


@dataclass(frozen=True)
class TuningResult:
    """A hyper-parameter search (:class:`earmark.learn.tune.TuneResult`: ``metric``,
    ``best_params``, ``best_score``, ``trials``) and where the model trained with the best
    parameters was saved (``None``: not asked for)."""

    search: TuneResult
    saved: Path | None = None


def run_tuning(
    X: np.ndarray, data: LabelledSet, experiment: Experiment, *, trials: int = 20,
    folds: int = 3, timeout: float | None = None, storage: str | None = None,
    epochs: int | None = None, stages: Stages = no_progress,
) -> TuningResult:
    """Search the hyper-parameters of ``experiment.model_type`` with Optuna (seeded TPE,
    median pruning; :func:`earmark.learn.tune.tune`): ``trials`` trials of ``folds``-fold
    grouped CV, stopping after ``timeout`` seconds; ``storage`` keeps the study to resume it
    (named ``<model type>-<dataset or task>``); ``epochs`` caps a network's epochs per fold.
    Appends a row per scored trial to ``experiment.results_path`` and, when
    ``experiment.out`` is set, trains a model with the best parameters and saves it there.
    Stage: ``tuning``. Raises ``ValueError`` or :class:`~earmark.errors.EarmarkError` when
    the data cannot be tuned on.
    """
    from earmark.learn.tune import tune  # imports Optuna, which only tuning needs

    model_type = experiment.model_type
    fixed: dict = {}
    if model_type == "finetune":
        fixed["base"] = experiment.embedding
    if epochs and model_type in NETWORK_MODELS:
        fixed["epochs"] = epochs
    with stages("tuning") as progress:
        search = tune(X, data, model_type, n_trials=trials, n_splits=folds,
                      seed=experiment.seed, fixed=fixed, timeout=timeout, storage=storage,
                      study_name=(f"{model_type}-{experiment.dataset or experiment.task}"
                                  if storage else None), progress=progress)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for trial in search.trials:
        if trial["value"] is not None:
            append_results(experiment.results_path, {
                "time": stamp, "model": f"tune trial {trial['number']}",
                "model_type": model_type, "data": experiment.dataset or "*",
                "split": f"{folds}-fold grouped CV ({trial['state']})", "seed": experiment.seed,
                "songs": len(data), "params": trial["params"],
                "metrics": {search.metric: float(trial["value"])}})
    saved = None
    if experiment.out is not None:
        fitted = train_model(X, data, model_type, experiment.inputs, seed=experiment.seed,
                             hyper=search.best_params)
        fitted.card.metrics["tuning"] = {"metric": search.metric, "best": search.best_score,
                                         "trials": len(search.trials)}
        saved = save_model(fitted, experiment.out)
    return TuningResult(search, saved)


@dataclass(frozen=True)
class PredictionRun:
    """What :func:`run_prediction` did: how many songs could not be predicted (their
    predictions carry the ``error``) and the songs it added to the catalog (files it had not
    seen)."""

    failed: int
    added: list[str]


def run_prediction(
    catalog: Catalog, model: TrainedModel, name: str, files: list[str], *,
    method: str = "mean", per_chunk: bool = False, threshold: float | None = None,
    sampling: Sampling | None = DEFAULT_SAMPLING, stages: Stages = no_progress,
    each: Callable[[SongPrediction], None] = lambda prediction: None,
) -> PredictionRun:
    """Predict ``files`` with ``model`` and keep every song's scores in the catalog under
    model ``name`` (kind ``genres`` for a genre model), so ``earmark tag --model NAME`` finds
    them.

    Files the catalog does not hold yet (or changed since) are scanned into it first, as
    ``tag`` and ``rate`` do: a folder never scanned gets stored predictions too. Options
    (``sampling`` too) as :func:`earmark.analysis.predict.predict_songs`. Stages: ``reading
    files``, ``predicting``.
    A file that cannot be read gives a prediction with ``error`` set and stores nothing.
    ``each(prediction)`` is called with every song's prediction, in the order of ``files``,
    as it is stored: the run keeps none of them, so a library of any size streams through.
    """
    with stages("reading files") as progress:
        # No full decode here: predicting decodes every song anyway and reports a bad one.
        report = scan(catalog, files, verify=False, progress=progress)
    failed = 0
    with stages("predicting") as progress:
        for prediction in predict_and_store(catalog, model, name, files, method=method,
                                            per_chunk=per_chunk, threshold=threshold,
                                            progress=progress, sampling=sampling):
            failed += prediction.error is not None
            each(prediction)
    return PredictionRun(failed, [i.path for i in report.items if i.status == "added"])


class EmptySplit(EarmarkError):
    """The dataset has no songs in the split a model was asked to be scored on."""


@dataclass(frozen=True)
class EvaluationPlan:
    """The songs a saved model is scored on (:func:`plan_evaluation`).

    ``data``: the dataset's songs in ``split``, labelled in the model's label order;
    ``left_out``: songs dropped because the model does not know their labels;
    ``trained_on``: how many of the planned songs the model's card records as songs it was
    trained on (their scores are optimistic); ``may_include_training``: the card records no
    songs (a model from before split records), the split was chosen as ``all`` because the
    dataset has no test split, and the card names this dataset or none, so the model may
    have been trained on these songs.
    """

    model: TrainedModel
    model_path: Path
    dataset: str
    split: str
    data: LabelledSet
    left_out: int = 0
    trained_on: int = 0
    may_include_training: bool = False


@dataclass(frozen=True)
class Evaluation:
    """A saved model's ``scores`` (:func:`earmark.learn.evaluate.evaluate`) on ``songs``
    songs, the ``meta`` fields of its report (model, model_type, dataset, split, seed, task)
    and where the report was written (``report``: its ``report.json``)."""

    meta: dict
    songs: int
    scores: dict
    report: Path

    def score_rows(self) -> list[tuple[str, float, float | None, float | None]]:
        """``(score, value, None, chance level or None)`` per scalar score, the shape of
        :meth:`ExperimentResult.score_rows` (one model: no spread)."""
        return [(name, value, None, chance) for name, value, chance in headline(self.scores)]

    def to_dict(self) -> dict:
        """The JSON fields ``earmark evaluate --json`` prints: the report path, the meta
        fields and every scalar score."""
        return {"report": str(self.report), **self.meta,
                **{k: v for k, v in self.scores.items() if not isinstance(v, dict | list)}}


def _known_labels_only(data: LabelledSet, model: TrainedModel) -> tuple[LabelledSet, int]:
    """``data`` in the model's label order, without the songs whose labels the model does not
    know (single: any unknown label; multi: no known label), and how many were dropped."""
    if model.card.kind not in ("single", "multi"):
        return data, 0
    known = set(model.card.labels)
    keep = [i for i, t in enumerate(data.targets) if set(t) <= known] \
        if model.card.kind == "single" else \
        [i for i, t in enumerate(data.targets) if set(t) & known]
    dropped = len(data) - len(keep)
    data = data.subset(keep)
    data.targets = [[t for t in labels if t in known] for labels in data.targets]
    data.classes = list(model.card.labels)
    return data, dropped


def plan_evaluation(catalog: Catalog, model: TrainedModel, model_path: str | Path,
                    dataset: str, split: str = "auto") -> EvaluationPlan:
    """Choose the songs of ``dataset`` that ``model`` (saved at ``model_path``) is scored on.

    ``split``: ``test``, ``valid``, ``train``, ``all``, or ``auto``: ``test`` when the
    dataset has one, else ``valid`` when the model's held-out validation songs are in the
    dataset, else ``all``. ``valid`` and ``train`` are the songs the model's card records
    (:func:`~earmark.learn.train.train_model`) when ``dataset`` is the one it was trained
    on, so ``valid`` is exactly the songs it was validated on and never trained on; else
    (another dataset, or a card without them) the dataset's own splits.
    Reads labels only; no audio is touched. Raises :class:`NoLabelledSongs` when the dataset
    has no songs for the model's task and :class:`EmptySplit` when the chosen split has none
    (saying why: e.g. a model validated by cross-validation holds no songs out).
    """
    data, left_out = _known_labels_only(labelled_songs(catalog, model.card.task, dataset),
                                        model)
    trained_on_dataset = model.card.training.get("dataset") in (dataset, None)
    songs = model.card.training.get("songs")
    # The card's train/valid songs name the split of the data it was trained on; another
    # dataset's "valid" is that dataset's own split.
    recorded = songs if trained_on_dataset else None
    may_include_training = False
    if split == "auto":
        held_out = set(recorded["valid"]) if recorded else set()
        split = "test" if "test" in data.splits else \
            "valid" if any(p in held_out for p in data.paths) else "all"
        may_include_training = split == "all" and not songs and trained_on_dataset
    if split in ("train", "valid") and recorded is not None:
        wanted = set(recorded[split])
        data = data.subset(i for i, p in enumerate(data.paths) if p in wanted)
        if not wanted:
            raise EmptySplit(f"{Path(model_path).name} has no held-out validation songs: it "
                             f"was validated by {model.card.training.get('split', '?')}")
        if not len(data):
            raise EmptySplit(f"none of the model's {len(wanted)} {split} songs are in "
                             f"dataset {dataset!r}")
    elif split != "all":
        data = data.subset(i for i, s in enumerate(data.splits) if s == split)
        if not len(data):
            raise EmptySplit(f"dataset {dataset!r} has no songs in split {split!r}")
    trained = set(songs["train"]) if songs else set()
    return EvaluationPlan(model, Path(model_path), dataset, split, data, left_out,
                          sum(p in trained for p in data.paths), may_include_training)


def run_evaluation(catalog: Catalog, plan: EvaluationPlan, *,
                   report: str | Path | None = None, results: str | Path | None = None,
                   top_k: int = 3, spectrograms: int = 20,
                   progress: ProgressFn | None = None) -> Evaluation:
    """Score ``plan.model`` on the planned songs and put the result on disk.

    Computes the songs' inputs (cached in the catalog; songs that cannot be read are left
    out), scores the model's outputs (``top_k`` for top-k accuracy), writes the report
    folder (:func:`~earmark.learn.evaluate.write_report`, default ``<model stem>-eval-
    <dataset>`` beside the model, with spectrograms of at most ``spectrograms``
    misclassified songs) and appends a row to ``results`` (default ``results.csv`` beside
    the model). ``progress`` follows the songs' inputs.
    """
    card = plan.model.card
    X, data = song_matrix(catalog, plan.data, card.inputs, progress)
    output = model_output(plan.model, X)
    y = data.y()
    scores = evaluate(y, output, card.kind, card.labels, card_thresholds(card), k=top_k)
    stem = plan.model_path.with_suffix("")
    meta = {"model": str(plan.model_path), "model_type": card.model_type,
            "dataset": plan.dataset, "split": plan.split, "seed": card.seed, "task": card.task}
    report_path = write_report(report or stem.with_name(f"{stem.name}-eval-{plan.dataset}"),
                               scores, card.labels, meta=meta, paths=data.paths, y=y,
                               output=output, kind=card.kind, spectrograms=spectrograms)
    append_results(results or plan.model_path.parent / "results.csv", {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": str(plan.model_path),
        "model_type": card.model_type, "data": plan.dataset, "split": plan.split,
        "seed": card.seed, "songs": len(data), "metrics": scores})
    return Evaluation(meta, len(data), scores, report_path)
