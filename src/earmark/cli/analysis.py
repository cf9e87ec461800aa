"""``earmark tags``, ``earmark genre`` and ``earmark embed``: the pretrained models, no training."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from earmark.cli.app import (
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    DbOption,
    JsonOption,
    app,
    check_output_path,
    console,
    emit_json,
    err_console,
    fail,
    open_catalog,
    progress_bar,
)
from earmark.errors import AudioError
from earmark.ingest.scan import FOLDER_LOOP, find_audio_files
from earmark.models.registry import ALIASES
from earmark.settings import PRECISIONS, settings

TaggerChoice = StrEnum("TaggerChoice", {alias.replace("-", "_"): alias for alias in ALIASES})
PrecisionChoice = StrEnum("PrecisionChoice", {p: p for p in PRECISIONS})
#: ``$EARMARK_PRECISION`` or ``auto`` (see :mod:`earmark.settings`).
DEFAULT_PRECISION = PrecisionChoice(settings().precision)


PrecisionOption = Annotated[PrecisionChoice, typer.Option(
    help="auto: bfloat16 where the CPU/GPU has it natively (about 1.4x faster a song, "
         "probabilities within ~0.01), else float32; float32: the original musicnn's numbers "
         "to 1e-6.")]

PathsArgument = Annotated[list[Path], typer.Argument(help="Audio files or folders.")]

#: What ``tags`` and ``genre`` say instead of labels for a song with nothing to hear.
SILENT_AUDIO = "silent audio (no sample above -60 dBFS): no tags or genres"


def _audio_paths(paths: list[Path]) -> tuple[list[str], list[tuple[str, str]]]:
    files, problems = [], []
    for path, problem in find_audio_files(paths):
        if problem == FOLDER_LOOP:
            continue
        (problems.append((path, problem)) if problem else files.append(path))
    return files, problems


def _load(model: str, precision: str):
    from earmark.engine.device import pick_device
    from earmark.models.musicnn import load_musicnn

    return load_musicnn(model, device=pick_device(), precision=precision)


def _report_failure(path: str, reason: str, as_json: bool) -> None:
    if as_json:
        emit_json({"path": path, "error": reason})
    else:
        err_console.print(f"[red]skipped[/] {path}: {reason}", highlight=False)


def _run(paths: list[Path], model_name: str, precision: str, start: float | None,
         duration: float | None, as_json: bool, failed: list[str]):
    """Yield each song's result; report unreadable files on the way (as JSON lines with
    ``as_json``, else on stderr) and append their paths to ``failed``, so the command can print
    what it has before it stops with exit code 1."""
    from earmark.analysis.embed import analyse_files

    files, problems = _audio_paths(paths)
    for path, problem in problems:
        _report_failure(path, problem, as_json)
    if not files:
        fail("no audio files found", code=EXIT_SOME_FAILED if problems else 3)
    failed += [path for path, _ in problems]
    tagger = _load(model_name, precision)
    with progress_bar("listening") as advance:
        for done, (path, result) in enumerate(
            analyse_files(files, tagger, start=start, duration=duration), start=1
        ):
            advance(done, len(files), path)
            if isinstance(result, AudioError):
                failed.append(path)
                _report_failure(path, result.reason, as_json)
                continue
            if result.padded:
                err_console.print(
                    f"[yellow]note[/] {path}: shorter than one 3 s patch "
                    f"({result.duration:.1f} s), padded with silence", highlight=False)
            if result.downmix:
                err_console.print(f"[yellow]note[/] {path}: {result.downmix}", highlight=False)
            yield result


@app.command("tags")
def tags_command(
    paths: PathsArgument,
    model: Annotated[TaggerChoice, typer.Option(
        help="msd: Last.fm genres, eras, moods; mtt: instruments, voice, genres.")
    ] = TaggerChoice.msd,
    top: Annotated[int, typer.Option(help="How many tags per song.")] = 5,
    start: Annotated[float | None, typer.Option(help="Start at this second.")] = None,
    duration: Annotated[float | None, typer.Option(help="Analyse this many seconds.")] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV rows: path,rank,tag,probability.")
                      ] = False,
    plot: Annotated[Path | None, typer.Option(
        help="Write the taggram (tags x time) of the song to this PNG (one song only).")
    ] = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
) -> None:
    """Top tags of each song, from a pretrained musicnn model (no training needed)."""
    name = ALIASES[model.value]
    if plot is not None:
        if len(_audio_paths(paths)[0]) != 1:
            fail("--plot draws one song's taggram: give exactly one file", code=EXIT_USAGE)
        check_output_path(plot)
    writer = csv.writer(sys.stdout) if as_csv else None
    if writer:
        writer.writerow(["path", "rank", "tag", "probability"])
    results, failed = [], []
    # CSV rows stay CSV: in that mode a file that failed is told on stderr
    for result in _run(paths, name, precision.value, start, duration, as_json, failed):
        results.append(result)
        top_tags = [] if result.silent else result.top_tags(top)
        if as_json:
            emit_json({"path": result.path, "model": name, "padded": result.padded,
                       "silent": result.silent, "downmix": result.downmix,
                       "tags": [{"tag": t, "probability": round(p, 4)} for t, p in top_tags]})
        elif writer:
            if result.silent:
                err_console.print(f"[yellow]note[/] {result.path}: {SILENT_AUDIO}",
                                  highlight=False)
            for rank, (tag, p) in enumerate(top_tags, start=1):
                writer.writerow([result.path, rank, tag, f"{p:.4f}"])
        else:
            line = (f"[dim]{SILENT_AUDIO}[/]" if result.silent
                    else ", ".join(f"{t} [dim]{p:.2f}[/]" for t, p in top_tags))
            console.print(f"[bold]{Path(result.path).name}[/]  {line}", highlight=False,
                          soft_wrap=True)
    if plot is not None and results:
        from earmark.analysis.figures import plot_taggram

        plot_taggram(results[0].taggram, results[0].tags, plot,
                     title=Path(results[0].path).name, start=start or 0.0,
                     patch_seconds=results[0].patch_seconds)
        err_console.print(f"taggram written to {plot}")
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


@app.command("genre")
def genre_command(
    paths: PathsArgument,
    top: Annotated[int, typer.Option(help="How many genres per song.")] = 3,
    min_confidence: Annotated[float, typer.Option(
        help="Leave out genres below this confidence (0-1).")] = 0.1,
    start: Annotated[float | None, typer.Option(help="Start at this second.")] = None,
    duration: Annotated[float | None, typer.Option(help="Analyse this many seconds.")] = None,
    as_json: JsonOption = False,
    precision: PrecisionOption = DEFAULT_PRECISION,
) -> None:
    """Genres of each song without training: MSD musicnn tags mapped to a genre vocabulary."""
    table = None if as_json else Table("song", "genres", header_style="bold")
    failed: list[str] = []
    for result in _run(paths, "MSD_musicnn", precision.value, start, duration, as_json, failed):
        genres = [(g, c) for g, c in result.genres[:top] if c >= min_confidence]
        if as_json:
            emit_json({"path": result.path, "silent": result.silent, "downmix": result.downmix,
                       "genres": [{"genre": g, "confidence": round(c, 4)} for g, c in genres]})
        elif result.silent:
            table.add_row(Path(result.path).name, f"[dim]{SILENT_AUDIO}[/]")
        else:
            text = ", ".join(f"{g} [dim]{c:.2f}[/]" for g, c in genres) or "[dim]unsure[/]"
            table.add_row(Path(result.path).name, text)
    if table is not None:
        console.print(table)
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


@app.command("embed")
def embed_command(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scan these folders first (default: every track already in the catalog).")
    ] = None,
    db: DbOption = None,
    model: Annotated[TaggerChoice, typer.Option(help="Which pretrained model.")
                     ] = TaggerChoice.msd,
    force: Annotated[bool, typer.Option("--force", help="Recompute existing embeddings.")
                     ] = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, mps (default: best).")] = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
    as_json: JsonOption = False,
) -> None:
    """Compute per-song embeddings (and tag/genre predictions) for catalog tracks."""
    from earmark.analysis.embed import embed_tracks
    from earmark.catalog import tracks
    from earmark.ingest.scan import scan

    with open_catalog(db) as catalog:
        track_ids = None
        if paths:
            with progress_bar("scanning") as advance:
                scan(catalog, paths, progress=advance)
            track_ids = [t.id for t in tracks.select_tracks(catalog, paths)]
        name = ALIASES[model.value]
        try:
            with progress_bar(f"embedding ({name})") as advance:
                report = embed_tracks(catalog, name, track_ids, force=force, device=device,
                                      precision=precision.value, progress=advance)
        except ValueError as exc:
            fail(str(exc))
        notes: dict[str, list[str]] = {}
        for path, note in report.notes:
            notes.setdefault(path, []).append(note)
        if as_json:
            for track_id in report.done:
                path = tracks.get_track_by_id(catalog, track_id).path
                emit_json({"path": path, "model": name, "embedded": True,
                           "notes": notes.get(path, [])})
            for path, reason in report.failed:
                emit_json({"path": path, "model": name, "embedded": False, "error": reason})
        else:
            console.print(f"{len(report.done)} embedded, {report.up_to_date} already up to date, "
                          f"{len(report.failed)} failed ({name})")
            for path, note in report.notes:
                err_console.print(f"[yellow]note[/] {path}: {note}", highlight=False)
            for path, reason in report.failed:
                err_console.print(f"[red]failed[/] {path}: {reason}", highlight=False)
    if report.failed:
        raise typer.Exit(EXIT_SOME_FAILED)
