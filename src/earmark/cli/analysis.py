"""``earmark tags``, ``earmark genre`` and ``earmark embed``: the pretrained models, no training."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from earmark.catalog import Catalog, catalog_file
from earmark.cli.app import (
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    DbOption,
    JsonOption,
    app,
    check_output_path,
    console,
    display_path,
    emit_json,
    err_console,
    fail,
    json_path,
    open_catalog,
    progress_bar,
)
from earmark.cli.engines import AddressOption, EngineOption
from earmark.ingest.scan import FOLDER_LOOP, find_audio_files
from earmark.models.registry import ALIASES, BOTH, MODEL_NAMES, ZERO_SHOT_MODELS
from earmark.settings import PRECISIONS, settings

if TYPE_CHECKING:
    from earmark.tagging.lookup import SongLabels

PrecisionChoice = StrEnum("PrecisionChoice", {p: p for p in PRECISIONS})
#: ``$EARMARK_PRECISION`` or ``auto`` (see :mod:`earmark.settings`).
DEFAULT_PRECISION = PrecisionChoice(settings().precision)


PrecisionOption = Annotated[PrecisionChoice, typer.Option(
    help="auto: bfloat16 where the CPU/GPU has it natively (about 1.4x faster a song, "
         "probabilities within ~0.01), else float32; float32: the original musicnn's numbers "
         "to 1e-6.")]

PathsArgument = Annotated[list[Path], typer.Argument(help="Audio files or folders.")]

#: ``--full`` of the commands that analyse songs (:mod:`earmark.analysis.sampling`).
FullOption = Annotated[bool, typer.Option(
    "--full", help="Analyse every 3-second patch of songs over 30 s, not a sample spread "
                   "over the song (slower; the default's results are within the bench's "
                   "tolerances, bench/RESULTS.md).")]

#: What ``tags`` and ``genre`` say instead of labels for a song with nothing to hear.
SILENT_AUDIO = "silent audio (no sample above -60 dBFS): no tags or genres"


def _audio_paths(paths: list[Path]) -> tuple[list[str], list[tuple[str, str]]]:
    files, problems = [], []
    for path, problem in find_audio_files(paths):
        if problem == FOLDER_LOOP:
            continue
        (problems.append((path, problem)) if problem else files.append(path))
    return files, problems


def _report_failure(path: str, reason: str, as_json: bool, roots: list[Path]) -> None:
    if as_json:
        emit_json({"path": json_path(path), "error": reason})
    else:
        err_console.print(f"[red]skipped[/] {display_path(path, roots)}: {reason}",
                          highlight=False, soft_wrap=True)


def _files(paths: list[Path], as_json: bool, failed: list[str]) -> list[str]:
    """The audio files under ``paths``; paths that cannot be read are reported and appended to
    ``failed``. None at all stops the command with exit code 3 and one ``error:`` line (the
    problem itself when there is one: ``error: song.mp3: file or folder not found``)."""
    files, problems = _audio_paths(paths)
    if not files:
        if len(problems) == 1:
            path, problem = problems[0]
            fail(f"{display_path(path, paths)}: {problem}")
        for path, problem in problems:
            _report_failure(path, problem, as_json, paths)
        fail("none of the paths given could be read" if problems else "no audio files found")
    for path, problem in problems:
        _report_failure(path, problem, as_json, paths)
    failed += [path for path, _ in problems]
    return files


@contextmanager
def _existing_catalog(db: Path | None, wanted: bool = True) -> Iterator[Catalog | None]:
    """The catalog (``--db``, else the default) when it exists and is ``wanted``, else
    ``None``: ``genre`` and ``tags`` reuse and complete a catalog's predictions but never
    create one."""
    if not wanted or not catalog_file(db).is_file():
        yield None
        return
    with open_catalog(db) as catalog:
        yield catalog


def _answers(lookup: Callable[..., Iterator[SongLabels]], roots: list[Path], as_json: bool,
             failed: list[str]) -> Iterator[SongLabels]:
    """Yield each answer of ``lookup(progress=...)`` (:mod:`earmark.tagging.lookup`) that has
    labels (or silence) to show, under a progress bar; report failures on the
    way (JSON lines with ``as_json``, else on stderr) and append their paths to ``failed``, so
    the command prints what it has before it stops with exit code 1; notes on stderr."""
    with progress_bar("listening") as advance:
        for answer in lookup(progress=advance):
            if answer.status == "failed":
                failed.append(answer.path)
                _report_failure(answer.path, answer.reason, as_json, roots)
                continue
            shown = display_path(answer.path, roots)
            if answer.padded:
                err_console.print(
                    f"[yellow]note[/] {shown}: shorter than one 3 s patch "
                    f"({answer.result.duration:.1f} s), padded with silence", highlight=False,
                    soft_wrap=True)
            if answer.downmix:
                err_console.print(f"[yellow]note[/] {shown}: {answer.downmix}", highlight=False,
                                  soft_wrap=True)
            yield answer


#: ``--model`` of ``tags``: one pretrained tagger, by name or short name.
TAGGER_HELP = (f"Which pretrained tagger: msd (Last.fm genres, eras, moods), mtt (instruments, "
               f"voice, genres), msd-vgg, mtt-vgg, or a full name ({', '.join(MODEL_NAMES)}).")

#: What ``--db`` means to ``genre`` and ``tags``.
LOOKUP_DB_HELP = ("Catalog to reuse (default: $EARMARK_DB or the user data dir; never created): "
                  "its unchanged songs are answered from their stored predictions, computed and "
                  "stored once if missing; other files are analysed without joining the "
                  "library (earmark scan adds them).")


@app.command("tags")
def tags_command(
    paths: PathsArgument,
    model: Annotated[str, typer.Option(help=TAGGER_HELP)] = "msd",
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
    full: FullOption = False,
    db: Annotated[Path | None, typer.Option("--db", help=LOOKUP_DB_HELP, dir_okay=False)
                  ] = None,
) -> None:
    """Top tags of each song, from a pretrained musicnn model (no training needed)."""
    from earmark.analysis.sampling import DEFAULT_SAMPLING
    from earmark.tagging.lookup import song_tags, tagger_name

    name = tagger_name(model)
    if plot is not None:
        if len(_audio_paths(paths)[0]) != 1:
            fail("--plot draws one song's taggram: give exactly one file", code=EXIT_USAGE)
        check_output_path(plot)
    failed: list[str] = []
    files = _files(paths, as_json, failed)
    writer = csv.writer(sys.stdout) if as_csv else None
    if writer:
        writer.writerow(["path", "rank", "tag", "probability"])
    plotted = None
    # CSV rows stay CSV: in that mode a file that failed is told on stderr
    # a taggram needs this run's analysis, so --plot never reads stored tags
    with _existing_catalog(db, wanted=plot is None) as catalog:
        # A taggram shows the whole song: every patch.
        lookup = partial(song_tags, files, name, catalog, start=start, duration=duration,
                         precision=precision.value,
                         sampling=None if full or plot is not None else DEFAULT_SAMPLING)
        for answer in _answers(lookup, paths, as_json, failed):
            plotted = plotted or answer.result
            top_tags = answer.labels[:top]
            if as_json:
                emit_json({"path": json_path(answer.path), "model": name,
                           "padded": answer.padded, "silent": answer.silent,
                           "downmix": answer.downmix, "from_catalog": answer.status == "stored",
                           "tags": [{"tag": t, "probability": round(p, 4)} for t, p in top_tags]})
            elif writer:
                if answer.silent:
                    err_console.print(f"[yellow]note[/] {display_path(answer.path, paths)}: "
                                      f"{SILENT_AUDIO}", highlight=False, soft_wrap=True)
                for rank, (tag, p) in enumerate(top_tags, start=1):
                    writer.writerow([json_path(answer.path), rank, tag, f"{p:.4f}"])
            else:
                line = (f"[dim]{SILENT_AUDIO}[/]" if answer.silent
                        else ", ".join(f"{t} [dim]{p:.2f}[/]" for t, p in top_tags))
                console.print(f"[bold]{display_path(answer.path, paths)}[/]  {line}",
                              highlight=False, soft_wrap=True)
    if plot is not None and plotted is not None:
        from earmark.analysis.figures import plot_taggram

        plot_taggram(plotted.taggram, plotted.tags, plot,
                     title=Path(plotted.path).name, start=start or 0.0,
                     patch_seconds=plotted.patch_seconds)
        err_console.print(f"taggram written to {plot}")
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


#: ``--model`` of ``genre`` and ``tag``: what :func:`earmark.tagging.sources.resolve_genre_model`
#: accepts.
GENRE_MODEL_HELP = (
    f"Where genres come from: {BOTH} (default: MSD and MTT musicnn together, calibrated); one "
    f"pretrained tagger by name or short name ({', '.join(MODEL_NAMES)}; "
    f"{', '.join(ALIASES)}); learned (genres learned from your own tags); a trained model's "
    "name with genres stored in the catalog, or its file (models/genres). An unknown name is "
    "an error listing the valid ones.")


@app.command("genre")
def genre_command(
    paths: PathsArgument,
    model: Annotated[str, typer.Option(help=GENRE_MODEL_HELP)] = BOTH,
    top: Annotated[int, typer.Option(help="How many genres per song.")] = 3,
    min_confidence: Annotated[float, typer.Option(
        help="Leave out genres below this confidence (0-1).")] = 0.1,
    start: Annotated[float | None, typer.Option(help="Start at this second.")] = None,
    duration: Annotated[float | None, typer.Option(help="Analyse this many seconds.")] = None,
    as_json: JsonOption = False,
    precision: PrecisionOption = DEFAULT_PRECISION,
    full: FullOption = False,
    learn: Annotated[bool, typer.Option(
        "--learn", help="Learn your library's own genres from the catalog's songs with genre "
                        "tags (and `earmark label` labels) and show those instead.")] = False,
    db: DbOption = None,
) -> None:
    """Genres of each song without training: by default MSD and MTT musicnn together, their tags
    mapped to one genre vocabulary and calibrated (the genres `earmark tag` writes).

    With --db (or the default catalog, when it exists) the catalog's unchanged songs are
    answered from their stored genres, computed and stored once if missing; other files are
    analysed without joining the library (earmark scan adds them).
    """
    if learn:
        from earmark.cli.labels import show_learned_genres

        show_learned_genres(paths, db, top, min_confidence, as_json)
        return
    from earmark.analysis.sampling import DEFAULT_SAMPLING
    from earmark.tagging.lookup import song_genres
    from earmark.tagging.sources import resolve_genre_model

    table = None if as_json else Table("song", "genres", header_style="bold")
    failed: list[str] = []
    files = _files(paths, as_json, failed)
    with _existing_catalog(db) as catalog:
        chosen = resolve_genre_model(catalog, model)
        lookup = partial(song_genres, files, chosen, catalog, start=start, duration=duration,
                         precision=precision.value,
                         sampling=None if full else DEFAULT_SAMPLING)
        for answer in _answers(lookup, paths, as_json, failed):
            genres = [(g, c) for g, c in answer.labels[:top] if c >= min_confidence]
            if as_json:
                emit_json({"path": json_path(answer.path), "model": chosen.name,
                           "silent": answer.silent, "downmix": answer.downmix,
                           "from_catalog": answer.status == "stored",
                           "genres": [{"genre": g, "confidence": round(c, 4)}
                                      for g, c in genres]})
            elif answer.silent:
                table.add_row(display_path(answer.path, paths), f"[dim]{SILENT_AUDIO}[/]")
            else:
                text = ", ".join(f"{g} [dim]{c:.2f}[/]" for g, c in genres) or "[dim]unsure[/]"
                table.add_row(display_path(answer.path, paths), text)
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
    model: Annotated[str, typer.Option(help=(
        f"{BOTH} (default: MSD and MTT musicnn on one decode, both taggers' tags and their "
        f"combined genres stored), or one pretrained tagger ({', '.join(ALIASES)} or "
        "its full name)."))] = BOTH,
    force: Annotated[bool, typer.Option("--force", help="Recompute existing embeddings.")
                     ] = False,
    full: FullOption = False,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, mps (default: best).")] = None,
    precision: PrecisionOption = DEFAULT_PRECISION,
    engine: EngineOption = None,
    address: AddressOption = None,
    batch_patches: Annotated[int | None, typer.Option(
        min=0, help="Patches of several songs per network call (default: 16 on a CPU, 128 on "
        "a GPU); 0: one song a call. Songs are stored as their call finishes.",
        show_default=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Compute per-song embeddings (and tag/genre predictions) for catalog tracks.

    Songs over 30 s are analysed from a sample of patches spread over them unless --full;
    with --full, embeddings made from a sample are computed again from every patch.
    """
    from earmark.analysis.embed import embed_tracks
    from earmark.analysis.genres import combination_name
    from earmark.analysis.sampling import DEFAULT_SAMPLING
    from earmark.catalog import tracks
    from earmark.ingest.scan import scan
    from earmark.tagging.lookup import tagger_name

    if paths and not _audio_paths(paths)[0]:
        _files(paths, as_json, [])  # no audio at all: exit 3 with the reason, no catalog made
    with open_catalog(db) as catalog:
        track_ids = None
        if paths:
            with progress_bar("scanning") as advance:
                scan(catalog, paths, progress=advance)
            track_ids = [t.id for t in tracks.select_tracks(catalog, paths)]
        taggers = (list(ZERO_SHOT_MODELS) if model.strip() == BOTH
                   else [tagger_name(model)])
        name = combination_name(taggers)
        try:
            with progress_bar(f"embedding ({name})") as advance:
                report = embed_tracks(catalog, taggers, track_ids, force=force,
                                      sampling=None if full else DEFAULT_SAMPLING,
                                      device=device, precision=precision.value,
                                      batch_patches=batch_patches, progress=advance)
        except ValueError as exc:
            fail(str(exc))
        if as_json:
            for item in report.items:
                if item.status == "embedded":
                    emit_json({"path": item.path, "model": name, "embedded": True,
                               "notes": list(item.notes)})
            for path, reason in report.failed:
                emit_json({"path": path, "model": name, "embedded": False, "error": reason})
        else:
            console.print(f"{len(report.done)} embedded, {report.up_to_date} already up to date, "
                          f"{len(report.failed)} failed ({name})")
            for path, note in report.notes:
                err_console.print(f"[yellow]note[/] {display_path(path, paths)}: {note}",
                                  highlight=False, soft_wrap=True)
            for path, reason in report.failed:
                err_console.print(f"[red]failed[/] {display_path(path, paths)}: {reason}",
                                  highlight=False, soft_wrap=True)
    if report.failed:
        raise typer.Exit(EXIT_SOME_FAILED)
