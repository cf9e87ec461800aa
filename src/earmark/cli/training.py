"""Your own models: ``dataset import``, ``train``, ``evaluate``, ``predict`` and ``tune``."""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from earmark.cli.analysis import FullOption
from earmark.cli.app import (
    EXIT_SOME_FAILED,
    DbOption,
    JsonOption,
    app,
    console,
    display_path,
    emit_json,
    err_console,
    fail,
    json_path,
    open_catalog,
    print_in_pieces,
    progress_bar,
)
from earmark.cli.engines import AddressOption, EngineOption
from earmark.engine import LocalEngine
from earmark.errors import EarmarkError
from earmark.ingest.scan import find_audio_files
from earmark.settings import EMBEDDING_MODEL as DEFAULT_EMBEDDING

# torch and scikit-learn are imported inside the commands that use them, so that every
# command (and --help) starts in half a second rather than three.
if TYPE_CHECKING:
    from earmark.analysis.predict import SongPrediction
    from earmark.data import LabelledSet
    from earmark.ingest.importers import DatasetImportReport
    from earmark.learn.runs import Experiment
    from earmark.learn.tune import TuneResult

dataset_app = typer.Typer(help="Labelled datasets in the catalog.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")


class SourceFormat(StrEnum):
    folders = "folders"
    csv = "csv"
    gtzan = "gtzan"
    mtt = "mtt"
    fma = "fma"
    jamendo = "jamendo"


class ModelType(StrEnum):
    head = "head"
    classic = "classic"
    shortchunk = "shortchunk"
    finetune = "finetune"


class Aggregate(StrEnum):
    mean = "mean"
    vote = "vote"


@dataset_app.command("import")
def dataset_import(
    source: Annotated[Path, typer.Argument(
        help="A folder per label (optionally under train/ and test/), a CSV manifest "
             "(path,label[,split][,artist]), GTZAN's genre folders, MagnaTagATune's "
             "annotations_final.csv, FMA's tracks.csv or an MTG-Jamendo TSV.")],
    fmt: Annotated[SourceFormat | None, typer.Option(
        "--format", help="Source format (default: folders for a folder, csv for a file).")] = None,
    audio: Annotated[Path | None, typer.Option(
        help="Audio folder of an MTT, FMA or Jamendo table; for a CSV manifest, the folder "
             "its relative paths start from (default: the manifest's).")] = None,
    name: Annotated[str | None, typer.Option(
        help="Dataset name in the catalog (default: from the source).")] = None,
    task: Annotated[str | None, typer.Option(
        help="What the labels are: genre (default), tags (MTT), mood, ...")] = None,
    splits: Annotated[Path | None, typer.Option(
        help="GTZAN, Jamendo: folder of split lists (train_filtered.txt, valid_filtered.txt, "
             "test_filtered.txt; or Jamendo's split-N/<name>-train.tsv ...).")] = None,
    split_list: Annotated[list[str] | None, typer.Option(
        "--split-list", metavar="SPLIT=FILE",
        help="GTZAN, Jamendo: one split list, e.g. train=train_filtered.txt (repeat for "
             "valid and test; wins over --splits).")] = None,
    category: Annotated[str | None, typer.Option(
        help="Jamendo: genre, instrument or mood/theme (default: the file's one category, "
             "or every tag as task 'tags').")] = None,
    clip_info: Annotated[Path | None, typer.Option(
        help="MTT: clip_info_final.csv, for artists (default: the one beside the "
             "annotations, else the file names).")] = None,
    subset: Annotated[str | None, typer.Option(
        help="FMA subset: small (default), medium, large, full.")] = None,
    top: Annotated[int | None, typer.Option(
        help="MTT: keep the N most frequent tags (default 50; 0 = all).")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add labelled music to the catalog; malformed rows, missing or unreadable files are
    reported, not fatal. Exit code 1 when some failed, 3 when nothing could be imported."""
    import csv

    from earmark.ingest import importers
    request = importers.DatasetSource(
        source, fmt.value if fmt else None, audio, name, task, splits,
        _split_lists(split_list or []), category, clip_info, subset, top)
    problems = request.problems(spell=lambda option: "--" + option.replace("_", "-"))
    if problems:
        fail(problems[0], 2)
    with open_catalog(db) as catalog:
        try:
            with progress_bar("importing") as advance:
                report = importers.import_dataset(
                    catalog, request, engine=LocalEngine(workers) if workers else None,
                    progress=advance)
        except (OSError, ValueError, csv.Error) as exc:
            fail(escape(f"cannot import: {exc}"))  # every reason names the file at fault
    _print_import(report, as_json)
    if not report.labelled:
        fail("nothing was imported")
    if report.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _split_lists(items: list[str]) -> dict[str, Path]:
    """``--split-list SPLIT=FILE`` options -> ``{split: file}``; stops on another shape."""
    from earmark.ingest.importers import SPLIT_FOLDERS
    lists: dict[str, Path] = {}
    for item in items:
        split, sep, file = item.partition("=")
        if not sep or split.strip().lower() not in SPLIT_FOLDERS:
            fail(f"--split-list takes SPLIT=FILE with SPLIT train, valid or test, not {item!r}",
                 2)
        lists[split] = Path(file)
    return lists


def _print_import(report: DatasetImportReport, as_json: bool) -> None:
    """Warnings on stderr; then one JSON object per file, or a summary with the failed and
    the left-out files (20 of each)."""
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if as_json:
        for path, labels in report.labelled.items():
            emit_json({"path": path, "action": "labelled", "labels": labels,
                       "dataset": report.dataset})
        for action, items in (("failed", report.failed), ("skipped", report.skipped)):
            for path, reason in items:
                emit_json({"path": path, "action": action, "reason": reason})
        return
    console.print(f"[bold]{escape(report.dataset)}[/] ({escape(report.task)}): "
                  f"{len(report.labelled)} songs labelled, {len(report.failed)} failed, "
                  f"{len(report.skipped)} left out", highlight=False)
    for action, style, items in (("failed", "red", report.failed),
                                 ("left out", "dim", report.skipped)):
        for path, reason in items[:20]:
            err_console.print(f"  [{style}]{action}[/] {escape(path)}: {escape(reason)}",
                              highlight=False)
        if len(items) > 20:
            err_console.print(f"  ... and {len(items) - 20} more {action} (see --json)")


@dataset_app.command("list")
def dataset_list(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Labelled datasets in the catalog, with their tasks and sizes. Exit code 3 when the
    catalog has none."""
    from earmark.catalog.labels import datasets
    with open_catalog(db, write=False) as catalog:
        rows = datasets(catalog)
    if not rows:
        fail("no labelled datasets in the catalog; add one with `earmark dataset import PATH`")
    if as_json:
        for row in rows:
            emit_json(row)
        return
    table = Table("dataset", "task", "songs", "labels", header_style="bold")
    for row in rows:
        table.add_row(row["dataset"], row["task"], str(row["songs"]), str(row["labels"]))
    console.print(table)


def _print_scores(title: str, rows: list[tuple[str, float, float | None, float | None]]) -> None:
    table = Table(title=title, header_style="bold")
    table.add_column("score")
    table.add_column("value", justify="right")
    table.add_column("chance", justify="right", style="dim")
    for name, value, spread, chance in rows:
        shown = f"{value:.3f}" + (f" ± {spread:.3f}" if spread is not None else "")
        table.add_row(name, shown, "" if chance is None else f"{chance:.3f}")
    console.print(table)


@app.command("train")
def train_command(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the model here (<stem>.safetensors + <stem>.json).")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="Train on this dataset's labels (default: every dataset with the task).")] = None,
    task: Annotated[str, typer.Option(
        help="genre, tags, mood, ...; 'like' and 'stars' train on your ratings.")] = "genre",
    model: Annotated[ModelType, typer.Option(
        help="head (on pretrained embeddings; default, seconds), classic (MFCC+SVM), "
             "shortchunk (CNN from scratch), finetune (musicnn).")] = ModelType.head,
    embedding: Annotated[str, typer.Option(
        help="Pretrained model whose embeddings a head uses / finetune starts from.")
    ] = DEFAULT_EMBEDDING,
    seed: Annotated[int, typer.Option(help="Seed of the split and the model.")] = 0,
    runs: Annotated[int, typer.Option(
        help="Repeat with seeds seed, seed+1, ... and report mean ± std.")] = 1,
    cv: Annotated[int, typer.Option(
        help="Grouped k-fold cross-validation instead of one validation split (0 = off).")] = 0,
    valid: Annotated[float, typer.Option(help="Validation share when the data has none.")] = 0.2,
    c: Annotated[float | None, typer.Option(
        "--C", help="Regularisation (head, classic); default: chosen by inner CV.")] = None,
    pca: Annotated[int | None, typer.Option(help="Head: PCA components.")] = None,
    classifier: Annotated[str | None, typer.Option(help="Head: logreg or mlp.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Networks: maximum epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Networks: batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Networks: learning rate.")] = None,
    device: Annotated[str | None, typer.Option(
        help="Networks: cpu, cuda, mps (default: best available).")] = None,
    train_layers: Annotated[str | None, typer.Option(
        help="finetune: 'last' (embedding layer + output; default) or 'all'.")] = None,
    width: Annotated[int | None, typer.Option(
        help="shortchunk: channels of the first blocks (128 in the paper).")] = None,
    checkpoint: Annotated[Path | None, typer.Option(
        help="Networks: checkpoint file written every epoch.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Networks: continue from --checkpoint.")] = False,
    results: Annotated[Path | None, typer.Option(
        help="Append a row per run to this CSV (default: next to --out).")] = None,
    engine: EngineOption = None,
    address: AddressOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model on labelled songs in the catalog (embeddings computed first if missing)."""
    from earmark.learn.runs import Experiment, hyper_params, run_experiment
    if resume and checkpoint is None:
        fail("--resume needs --checkpoint", 2)
    experiment = Experiment(
        model.value, task, dataset, embedding, seed, runs, cv, valid,
        hyper_params(model.value, embedding=embedding, C=c, pca=pca, classifier=classifier,
                     epochs=epochs, batch_size=batch_size, lr=lr, device=device,
                     checkpoint=checkpoint, resume=resume, train_layers=train_layers,
                     width=width), out, results)
    X, data = _prepare(db, experiment)
    err_console.print(f"{len(data)} songs, {len(data.classes)} labels ({data.kind})")
    try:
        result = run_experiment(X, data, experiment, stages=progress_bar)
    except EarmarkError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"cannot train: {exc}")
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if result.saved is not None:
        err_console.print(f"model written to {escape(display_path(result.saved))}",
                          highlight=False)
    else:
        err_console.print(f"[yellow]note:[/] {escape(result.not_saved_reason)}",
                          highlight=False)
    if as_json:
        emit_json(result.to_dict())
        return
    _print_scores(f"{model.value} on {dataset or task}: {result.scored}, "
                  f"{runs} run{'s' if runs > 1 else ''}", result.score_rows())


def _prepare(db: Path | None, experiment: Experiment) -> tuple[np.ndarray, LabelledSet]:
    """The experiment's songs and inputs, with a progress bar; stops when there are none."""
    from earmark.learn.runs import prepare_experiment
    with open_catalog(db) as catalog, progress_bar("preparing songs") as advance:
        return prepare_experiment(catalog, experiment, advance)


@app.command("evaluate")
def evaluate_command(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A trained model.")],
    dataset: Annotated[str, typer.Argument(help="A labelled dataset in the catalog.")],
    split: Annotated[str, typer.Option(
        help="Songs to score: test (default when the dataset has one), valid, train or all.")
    ] = "auto",
    report: Annotated[Path | None, typer.Option(
        help="Report folder (default: <model stem>-eval-<dataset>).")] = None,
    results: Annotated[Path | None, typer.Option(
        help="Results CSV to append to (default: results.csv next to the model).")] = None,
    top_k: Annotated[int, typer.Option(help="k of top-k accuracy.")] = 3,
    spectrograms: Annotated[int, typer.Option(
        help="Spectrogram images of at most this many misclassified songs.")] = 20,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a model on a labelled dataset: a JSON report, confusion matrix, mistakes."""
    from earmark.learn.runs import plan_evaluation, run_evaluation
    from earmark.models.io import load_model
    model = load_model(model_path)
    with open_catalog(db) as catalog:
        plan = plan_evaluation(catalog, model, model_path, dataset, split)
        if plan.left_out:
            err_console.print(f"[yellow]note:[/] {plan.left_out} songs have labels the model "
                              "does not know and are left out")
        if plan.may_include_training:
            err_console.print("[yellow]warning:[/] the dataset has no test split; scores "
                              "include songs the model may have been trained on")
        if plan.trained_on and plan.split != "train":
            err_console.print(f"[yellow]warning:[/] {plan.trained_on} of the "
                              f"{len(plan.data)} songs scored were used to train this model, "
                              "so these scores are optimistic (--split valid scores the songs "
                              "it never saw, where it has some)")
        with progress_bar("preparing songs") as advance:
            evaluation = run_evaluation(catalog, plan, report=report, results=results,
                                        top_k=top_k, spectrograms=spectrograms, progress=advance)
    if as_json:
        emit_json(evaluation.to_dict())
        return
    _print_scores(f"{model_path.name} on {dataset} ({plan.split}, {evaluation.songs} songs)",
                  evaluation.score_rows())
    console.print(f"report: {escape(display_path(evaluation.report))}", highlight=False)


@app.command("predict")
def predict_command(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A trained model.")],
    paths: Annotated[list[Path], typer.Argument(help="Audio files or folders.")],
    method: Annotated[Aggregate, typer.Option(
        "--aggregate", help="Combine chunks by mean probability or majority vote.")
    ] = Aggregate.mean,
    chunks: Annotated[bool, typer.Option("--chunks", help="Also show every chunk.")] = False,
    threshold: Annotated[float | None, typer.Option(
        help="Cut-off for tags (and a binary model's positive class) instead of the tuned "
             "ones.")] = None,
    full: FullOption = False,
    engine: EngineOption = None,
    address: AddressOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Predict whole songs with a trained model (chunk by chunk, then aggregated).

    Files not yet in the catalog are added to it (scanned), and every song's predictions are
    stored there under the model's name, for `earmark tag --model NAME`. Exit code 1 when
    some files could not be read.
    """
    from earmark.analysis.predict import stored_name
    from earmark.analysis.sampling import DEFAULT_SAMPLING
    from earmark.learn.runs import run_prediction
    from earmark.models.io import load_model
    model = load_model(model_path)
    files = []
    for path, problem in find_audio_files(paths):
        if problem is None:
            files.append(path)
        else:
            err_console.print(f"[red]skipped[/] {escape(display_path(path, paths))}: {problem}",
                              highlight=False)
    if not files:
        fail("no audio files found")
    # A JSON line per song as it is stored; the table keeps three strings a song, not its
    # prediction (with --chunks, every chunk's scores).
    table = Table("song", "prediction", "score", header_style="bold")
    with open_catalog(db) as catalog:
        run = run_prediction(catalog, model, stored_name(model_path), files,
                             method=method.value, per_chunk=chunks, threshold=threshold,
                             sampling=None if full else DEFAULT_SAMPLING, stages=progress_bar,
                             each=partial(_emit_prediction, as_json=as_json, table=table,
                                          roots=paths))
    if run.added:
        err_console.print(f"{len(run.added)} new song(s) added to the catalog")
    if not as_json:
        print_in_pieces(table)
    if run.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _emit_prediction(prediction: SongPrediction, *, as_json: bool, table: Table,
                     roots: list[Path]) -> None:
    """A JSON line (absolute path), or a row of ``table``: the song (relative to the folder
    given), its labels (or value) and its top score."""
    if as_json:
        emit_json(prediction.to_dict() | {"path": json_path(prediction.path)})
        return
    song = escape(display_path(prediction.path, roots))
    if prediction.error:
        table.add_row(song, f"[red]{escape(prediction.error)}[/]", "")
    else:
        top = max(prediction.scores.items(), key=lambda kv: kv[1])
        shown = prediction.labels if isinstance(prediction.labels, float) else \
            ", ".join(prediction.labels) or "-"
        table.add_row(song, escape(str(shown)), f"{top[0]} {top[1]:.2f}")


@app.command("tune")
def tune_command(
    dataset: Annotated[str | None, typer.Option(
        help="Tune on this dataset's labels (default: every dataset with the task).")] = None,
    task: Annotated[str, typer.Option(help="genre, tags, ...; like / stars for ratings.")
    ] = "genre",
    model: Annotated[ModelType, typer.Option(help="Model type to tune.")] = ModelType.head,
    embedding: Annotated[str, typer.Option(
        help="Pretrained model for head embeddings / the finetune base.")] = DEFAULT_EMBEDDING,
    trials: Annotated[int, typer.Option(help="Number of trials.")] = 20,
    folds: Annotated[int, typer.Option(help="Grouped cross-validation folds per trial.")] = 3,
    seed: Annotated[int, typer.Option(help="Seeds the sampler, folds and models.")] = 0,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Networks: epochs per fold.")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage to keep/resume the study, e.g. sqlite:///tune.db.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Train a model with the best parameters and write it here.")] = None,
    results: Annotated[Path | None, typer.Option(
        help="Append one row per scored trial to this CSV (default: results.csv beside "
             "--out, else in the current folder, as train).")] = None,
    engine: EngineOption = None,
    address: AddressOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search hyper-parameters with Optuna (seeded TPE, median pruning), or with Ray Tune
    on --engine ray (trials on the cluster, no pruning)."""
    from earmark.learn.runs import Experiment, run_tuning
    experiment = Experiment(model.value, task, dataset, embedding, seed, out=out,
                            results=results)
    X, data = _prepare(db, experiment)
    try:
        tuned = run_tuning(X, data, experiment, trials=trials, folds=folds, timeout=timeout,
                           storage=storage, epochs=epochs, stages=progress_bar)
    except (ValueError, EarmarkError) as exc:
        fail(f"cannot tune: {exc}")
    result = tuned.search
    if tuned.saved is not None:
        err_console.print(f"model written to {escape(display_path(tuned.saved))}",
                          highlight=False)
    err_console.print(f"trials appended to {escape(display_path(experiment.results_path))}",
                      highlight=False)
    if as_json:
        emit_json({"metric": result.metric, "best_score": result.best_score,
                   "best_params": result.best_params, "trials": result.trials,
                   "model": str(tuned.saved) if tuned.saved else None,
                   "results": str(experiment.results_path)})
    else:
        _print_trials(result, model.value)


def _print_trials(result: TuneResult, model_type: str) -> None:
    """The ten best scored trials, best first, under the best score; then every failed trial
    with its reason. A trial's warnings (e.g. a fit that did not converge) are one note."""
    table = Table("trial", "state", result.metric, "parameters", "note", header_style="bold",
                  title=f"{model_type}: best {result.metric} {result.best_score:.3f} "
                        "(selection score, optimistic)")
    scored = [t for t in result.trials if t["value"] is not None]
    failed = [t for t in result.trials if t["value"] is None]
    # nearest the best first: right whether the metric is maximised or minimised (rmse)
    best = sorted(scored, key=lambda t: abs(t["value"] - result.best_score))[:10]
    for trial in [*best, *failed]:
        state = "failed" if trial["state"] == "fail" else trial["state"]
        table.add_row(str(trial["number"]), state,
                      "" if trial["value"] is None else f"{trial['value']:.3f}",
                      ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in trial["params"].items()),
                      escape(trial.get("reason") or trial.get("note") or ""))
    console.print(table)
