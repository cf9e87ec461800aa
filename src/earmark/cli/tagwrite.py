"""``earmark tag`` and ``earmark undo``: write genres (and moods, instruments) into files."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.analysis.sampling import DEFAULT_SAMPLING
from earmark.catalog import journal
from earmark.cli.analysis import GENRE_MODEL_HELP, FullOption
from earmark.cli.app import (
    EXIT_FAILED,
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
from earmark.cli.labels import learn_before_tagging
from earmark.errors import EarmarkError
from earmark.models.registry import LEARNED
from earmark.tagging import plan as tagplan
from earmark.tagging.job import DEFAULT_TAGGER, TaggingJob, TagOutcome, TagPreview
from earmark.tagging.policy import default_config_text, load_policy


class Mode(StrEnum):
    fill = "fill"
    overwrite = "overwrite"
    merge = "merge"


def _values(values: list[str] | None) -> str:
    return "; ".join(values) if values else "—"


_STATUS_STYLE = {"planned": "green", "written": "green", "kept": "dim",
                 "below-threshold": "yellow", "skipped": "yellow", "failed": "red"}


def _change_text(changes: tuple[tagplan.FieldChange, ...] | list[tagplan.FieldChange]) -> str:
    """``genre: Metal -> Jazz; Blues``, one line per field (a WAV's second key that gets the
    same values, RIFF INFO, is not shown again)."""
    shown: dict[str, str] = {}
    for change in changes:
        old = f"{_values(change.old)} → " if change.old else ""
        shown.setdefault(change.field, f"{change.field}: {old}{_values(change.new)}")
    return "\n".join(shown.values())


def _file_table(title: str, rows: Iterable[tuple[str, str, str, str]]) -> Table:
    """One row per file: path, status, change, reason; cells fold to fit 80 columns."""
    table = Table(title=title, header_style="bold")
    table.add_column("file", overflow="fold", ratio=3)
    table.add_column("status", overflow="fold", no_wrap=False)
    table.add_column("change", overflow="fold", ratio=2)
    table.add_column("reason", overflow="fold", ratio=3)
    for path, status, change, reason in rows:
        style = _STATUS_STYLE.get(status, "")
        table.add_row(escape(path), f"[{style}]{status}[/]" if style else status,
                      escape(change), escape(reason))
    return table


def _plan_json(plan: tagplan.TrackPlan, status: str, reason: str | None,
               cause: str | None) -> dict:
    return {
        "path": json_path(plan.path), "status": status, "reason": reason, "cause": cause,
        "note": plan.note,
        "changes": [{"field": c.field, "key": c.key, "old": c.old, "new": c.new,
                     "confidence": c.confidence} for c in plan.changes],
    }


def _summary(items: list) -> str:
    """``2 planned (album consensus: 2), 1 kept (kept existing genre (mode fill): 1)``."""
    parts = []
    for status, n, causes in tagplan.summarise(items):
        detail = ", ".join(f"{cause}: {count}" for cause, count in causes.items())
        parts.append(f"{n} {status} ({detail})" if detail else f"{n} {status}")
    return "; ".join(parts)


@app.command("tag")
def tag_command(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Music files or folders (new or changed files are scanned first).")] = None,
    whole_catalog: Annotated[bool, typer.Option(
        "--catalog", help="Tag every track in the catalog instead of PATHS.")] = False,
    model: Annotated[str, typer.Option(help=GENRE_MODEL_HELP)] = DEFAULT_TAGGER,
    mood: Annotated[bool, typer.Option("--mood", help="Also write moods.")] = False,
    instrument: Annotated[bool, typer.Option(
        "--instrument", help="Also write instruments.")] = False,
    mode: Annotated[Mode | None, typer.Option(
        help="fill: only files without a genre (default); overwrite; merge: add to "
             "existing.")] = None,
    min_confidence: Annotated[float | None, typer.Option(
        help="Write only values at least this confident (0..1; default 0.3).")] = None,
    max_genres: Annotated[int | None, typer.Option(
        help="Write at most this many values per field (default 2).")] = None,
    separator: Annotated[str | None, typer.Option(
        help="Join several values into one string with this separator (for players that "
             "read only the first of several values).")] = None,
    config: Annotated[Path | None, typer.Option(
        help="Genre vocabulary, aliases and per-artist/album overrides (JSON or TOML); see "
             "--default-config.", dir_okay=False)] = None,
    default_config: Annotated[bool, typer.Option(
        "--default-config", help="Print the default vocabulary file to copy and edit, "
                                 "then stop.")] = False,
    per_track: Annotated[bool, typer.Option(
        "--per-track", help="Decide each song's genres on its own. By default the songs of "
                            "one album (album and album-artist tags, else one folder) get one "
                            "decision from their pooled evidence; a song whose own evidence "
                            "strongly disagrees keeps its own.")] = False,
    coarse: Annotated[bool, typer.Option(
        "--coarse", help="Write each genre's top-level parent from the genre tree "
                         "(Alternative Rock -> Rock, Techno -> Electronic).")] = False,
    prefer_specific: Annotated[bool, typer.Option(
        "--prefer-specific", help="Write the deepest genres of the tree: a genre is left out "
                                  "when one of its sub-genres is confident too.")] = False,
    id3v23: Annotated[bool, typer.Option(
        "--id3v23", help="Save ID3 tags as v2.3 (MP3, WAV, AIFF) for old players.")] = False,
    upgrade_id3: Annotated[bool, typer.Option(
        "--upgrade-id3", help="Save an ID3v2.3 tag that holds frames only ID3v2.4 defines (as "
                              "iTunes writes) as ID3v2.4, and an ID3v2.2 tag as ID3v2.3, "
                              "instead of skipping the file; the plan names the frames that "
                              "change. Undo puts back v2.3.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only show what would change.")] = False,
    learn: Annotated[bool, typer.Option(
        "--learn", help="First learn your library's own genres from the songs that have genre "
                        "tags (and `earmark label` labels), then write them into the songs "
                        "without one (model 'learned').")] = False,
    full: FullOption = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write predicted genres into music files, after showing what will change.

    Every file gets a status and a reason: planned / written, kept (fill mode and it has a
    genre, or it already holds the chosen ones), below-threshold, skipped (silent audio, no
    genre in the model's vocabulary), failed (damaged, read-only, changed since it was scanned,
    no predictions, a failed write, which leaves the file exactly as it was). Every change is
    journalled in the catalog; `earmark undo --last` restores what was there. Exit code 1 when
    some files failed, 3 when no file could be planned.
    """
    if default_config:
        sys.stdout.write(default_config_text())
        return
    if not paths and not whole_catalog:
        fail("give music files or folders, or --catalog", code=2)
    if coarse and prefer_specific:
        fail("--coarse and --prefer-specific contradict each other: give one", code=2)
    granularity = "coarse" if coarse else "specific" if prefer_specific else None
    try:
        policy = load_policy(config).with_(
            mode=mode.value if mode else None, min_confidence=min_confidence,
            max_values=max_genres, separator=separator, granularity=granularity)
    except EarmarkError as exc:
        fail(str(exc), code=2)
    roots = None if whole_catalog else [Path(os.path.expanduser(str(p))) for p in paths]
    fields = ["genre"] + (["mood"] if mood else []) + (["instrument"] if instrument else [])
    with open_catalog(db) as catalog:
        if learn:
            policy = learn_before_tagging(catalog, roots, policy)
            model = LEARNED
        job = TaggingJob(catalog, policy, model=model, fields=fields, id3v23=id3v23,
                         upgrade_id3=upgrade_id3, per_track=per_track,
                         sampling=None if full else DEFAULT_SAMPLING)
        preview = job.prepare(roots, stages=progress_bar)
        _print_preview(preview, as_json, dry_run, roots)
        if not preview.plans:
            fail("the catalog has no tracks; scan a folder first" if whole_catalog else
                 "no audio files in the paths given" if not preview.unreadable else
                 "none of the paths given could be read")
        if dry_run or not preview.to_write:
            raise typer.Exit(EXIT_SOME_FAILED if preview.failed else 0)
        refused = None if yes else _ask_to_write(len(preview.to_write))
        if refused is not None:
            raise typer.Exit(refused)
        outcome = job.apply(stages=progress_bar)
    _print_outcome(preview, outcome, as_json, roots)
    if preview.unreadable or outcome.counts().get("failed"):
        raise typer.Exit(EXIT_SOME_FAILED)


def _print_preview(preview: TagPreview, as_json: bool, dry_run: bool,
                   roots: list[Path] | None) -> None:
    """Unreadable paths, then every file with its status, change and reason, and a summary
    counting each reason (or, as JSON, one object per file when nothing will be written)."""
    for path, problem in preview.unreadable:
        if as_json:
            emit_json({"path": json_path(path), "status": "failed", "reason": problem,
                       "cause": problem})
        else:
            err_console.print(f"[red]failed[/] {escape(display_path(path, roots))}: "
                              f"{escape(problem)}", highlight=False)
    if as_json:
        if dry_run or not preview.to_write:
            for plan in preview.plans:
                emit_json(_plan_json(plan, plan.status, plan.reason, plan.cause))
        return
    if preview.plans:
        print_in_pieces(_file_table(
            "tags to write" if preview.to_write else "nothing to write",
            ((display_path(plan.path, roots), plan.status, _change_text(plan.changes),
              plan.reason or "") for plan in preview.plans)))
        console.print(_summary(preview.plans), highlight=False)
    for plan in preview.plans:
        if plan.note and plan.status == "planned":
            err_console.print(f"[cyan]note[/] {escape(display_path(plan.path, roots))}: "
                              f"{escape(plan.note)}", highlight=False)


def _ask_to_write(n_files: int) -> int | None:
    """Ask before writing: ``None`` when the answer is yes, else the exit code (0 for no;
    :data:`EXIT_FAILED` when there is no terminal to ask on, saying how to go on)."""
    if not sys.stdin.isatty():
        err_console.print(
            f"not writing: {n_files} file(s) would change, but there is no terminal to "
            "confirm on; pass --yes to write, or --dry-run to only show", highlight=False)
        return EXIT_FAILED
    if not typer.confirm(f"Write tags into {n_files} file(s)?", default=False):
        err_console.print("nothing written")
        return 0
    return None


def _print_outcome(preview: TagPreview, outcome: TagOutcome, as_json: bool,
                   roots: list[Path] | None) -> None:
    """One JSON object per file, or the files that were not written as planned and a summary
    naming the batch."""
    if as_json:
        for plan, result in zip(preview.plans, outcome.results, strict=True):
            emit_json({**_plan_json(plan, result.status, result.reason, result.cause),
                       "batch": outcome.batch})
        return
    surprises = [r for r, p in zip(outcome.results, preview.plans, strict=True)
                 if p.status == "planned" and r.status != "written"]
    if surprises:
        console.print(_file_table("not written as planned", [
            (display_path(r.path, roots), r.status, "", r.reason or "") for r in surprises]))
    counts = outcome.counts()
    # A batch that wrote nothing has no journal rows: `undo --last` would undo an older one.
    undo_hint = (f"; batch {outcome.batch} (undo with `earmark undo --last`)"
                 if counts.get("written") else "; nothing written")
    console.print(_summary(outcome.results) + undo_hint, highlight=False)


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """``"2h"``, ``"30m"``, ``"1d"`` (ago) or an ISO date/time (local) -> Unix time."""
    match = _RELATIVE.match(text)
    if match:
        return (now or time.time()) - float(match[1]) * _UNIT_SECONDS[match[2]]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a time ago (30m, 2h, 1d) nor a date/time (2026-05-01 14:30)"
        ) from None


@app.command("undo")
def undo_command(
    files: Annotated[list[Path] | None, typer.Argument(
        help="Undo every earmark tag write to these files.")] = None,
    last: Annotated[bool, typer.Option("--last", help="Undo the last `earmark tag` run.")] = False,
    since: Annotated[str | None, typer.Option(
        help="Undo every tag write since this time: 2h, 1d, or 2026-05-01T14:30.")] = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore the tags earmark replaced, in the form the file had them (an absent tag becomes
    absent again, a tag block earmark created is removed).

    A file that someone else changed since earmark wrote it gets back just the fields earmark
    wrote, if they still hold earmark's values (the other changes stay); if they do not, it is
    refused with a reason and left alone. Exit code 1 when some files were refused.
    """
    if sum([bool(files), last, since is not None]) != 1:
        fail("say what to undo: --last, --since TIME, or FILES", code=2)
    with open_catalog(db) as catalog:
        if last:
            with progress_bar("restoring tags") as advance:
                results = tagplan.undo_batch(catalog, progress=advance)
            if not results:
                fail("nothing to undo")
        else:
            selected = (journal.entries(catalog, since=parse_since(since)) if since is not None
                        else journal.entries(catalog, paths=[str(f) for f in files]))
            if not selected:
                fail("nothing to undo" + (f": earmark wrote no tags into {_named(files)}"
                                          if files else ""))
            with progress_bar("restoring tags") as advance:
                results = tagplan.undo(catalog, selected, progress=advance)
    if as_json:
        for result in results:
            emit_json({"path": json_path(result.path), "status": result.status,
                       "reason": result.reason,
                       "restored": {c.key: c.new for c in result.changes}})
    else:
        _print_undo(results, files)
    if any(r.status == "refused" for r in results):
        raise typer.Exit(EXIT_SOME_FAILED)


def _named(files: list[Path]) -> str:
    return ", ".join(escape(display_path(f, files)) for f in files[:3]) + (
        f" and {len(files) - 3} more" if len(files) > 3 else "")


def _print_undo(results: list[tagplan.TrackResult], files: list[Path] | None) -> None:
    """A table of files, results and restored values; then each reason on its own lines, as a
    table column would fold a long reason into an unreadable strip on 80 columns."""
    table = Table(title="undo", header_style="bold")
    table.add_column("file", overflow="fold", ratio=3)
    table.add_column("result", overflow="fold")
    table.add_column("restored", overflow="fold", ratio=2)
    for result in results:
        restored = "\n".join(f"{c.field} = {_values(c.new)}" for c in result.changes)
        table.add_row(escape(display_path(result.path, files)), result.status, escape(restored))
    console.print(table)
    for result in results:
        if result.reason:
            style = "red" if result.status == "refused" else "cyan"
            console.print(f"[{style}]{result.status}[/] "
                          f"{escape(display_path(result.path, files))}: {escape(result.reason)}",
                          highlight=False)
