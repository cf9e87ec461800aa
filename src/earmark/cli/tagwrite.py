"""``earmark tag`` and ``earmark undo``: write genres (and moods, instruments) into files."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from earmark.catalog import journal
from earmark.cli.app import (
    EXIT_FAILED,
    EXIT_SOME_FAILED,
    DbOption,
    JsonOption,
    app,
    console,
    emit_json,
    err_console,
    fail,
    open_catalog,
    progress_bar,
)
from earmark.errors import EarmarkError
from earmark.models.registry import MODEL_NAMES
from earmark.tagging import plan as tagplan
from earmark.tagging.job import DEFAULT_TAGGER, TaggingJob, TagOutcome, TagPreview, plan_status
from earmark.tagging.policy import default_config_text, load_policy


class Mode(StrEnum):
    fill = "fill"
    overwrite = "overwrite"
    merge = "merge"


def _values(values: list[str] | None) -> str:
    return "; ".join(values) if values else "—"


def _preview(plans: list[tagplan.TrackPlan]) -> None:
    table = Table(title="tags to write", header_style="bold")
    for column in ("file", "field", "old value", "new value", "confidence"):
        table.add_column(column, overflow="fold")
    for plan in plans:
        for change in plan.changes:
            confidence = ", ".join(f"{change.confidence[v]:.2f}" for v in change.new
                                   if v in change.confidence)
            table.add_row(plan.path, change.field, _values(change.old), _values(change.new),
                          confidence or "—")
    if table.row_count:
        console.print(table)
    for plan in plans:
        if plan.note and not plan.skipped:
            err_console.print(f"[cyan]note[/] {plan.path}: {plan.note}", highlight=False)
        if plan.skipped:
            err_console.print(f"[yellow]skipped[/] {plan.path}: {plan.skipped}", highlight=False)


def _plan_json(plan: tagplan.TrackPlan, status: str, reason: str | None = None) -> dict:
    return {
        "path": plan.path, "status": status, "reason": reason, "note": plan.note,
        "changes": [{"field": c.field, "key": c.key, "old": c.old, "new": c.new,
                     "confidence": c.confidence} for c in plan.changes],
    }


@app.command("tag")
def tag_command(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Music files or folders (new or changed files are scanned first).")] = None,
    whole_catalog: Annotated[bool, typer.Option(
        "--catalog", help="Tag every track in the catalog instead of PATHS.")] = False,
    model: Annotated[str, typer.Option(
        help="Where genres come from: predictions stored in the catalog under this model name "
             "(e.g. a trained classifier), or a pretrained tagger earmark runs itself "
             f"({', '.join(MODEL_NAMES)}).")] = DEFAULT_TAGGER,
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
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write predicted genres into music files, after showing what will change.

    Every change is journalled in the catalog; `earmark undo --last` restores what was there.
    Files changed since they were scanned, read-only files and damaged files are skipped with a
    reason; a failed write leaves the file exactly as it was. Exit code 1 when some files were
    skipped or failed.
    """
    if default_config:
        sys.stdout.write(default_config_text())
        return
    if not paths and not whole_catalog:
        fail("give music files or folders, or --catalog", code=2)
    try:
        policy = load_policy(config).with_(
            mode=mode.value if mode else None, min_confidence=min_confidence,
            max_values=max_genres, separator=separator)
    except EarmarkError as exc:
        fail(str(exc), code=2)
    fields = ["genre"] + (["mood"] if mood else []) + (["instrument"] if instrument else [])
    with open_catalog(db) as catalog:
        job = TaggingJob(catalog, policy, model=model, fields=fields, id3v23=id3v23,
                         upgrade_id3=upgrade_id3)
        preview = job.prepare(None if whole_catalog else paths, stages=progress_bar)
        _print_preview(preview, as_json, dry_run)
        if dry_run or not preview.to_write:
            raise typer.Exit(EXIT_SOME_FAILED if preview.failed else 0)
        refused = None if yes else _ask_to_write(len(preview.to_write))
        if refused is not None:
            raise typer.Exit(refused)
        outcome = job.apply(stages=progress_bar)
    _print_outcome(preview, outcome, as_json)
    if preview.failed or outcome.counts().get("failed"):
        raise typer.Exit(EXIT_SOME_FAILED)


def _print_preview(preview: TagPreview, as_json: bool, dry_run: bool) -> None:
    """Unreadable paths, then the table of changes with notes and skips (or, as JSON, one
    object per file when nothing will be written)."""
    for path, problem in preview.unreadable:
        if as_json:
            emit_json({"path": path, "status": "failed", "reason": problem})
        else:
            err_console.print(f"[red]failed[/] {path}: {problem}", highlight=False)
    if not as_json:
        _preview(preview.plans)
        if not preview.to_write:
            err_console.print("nothing to write")
    elif dry_run or not preview.to_write:
        for plan in preview.plans:
            emit_json(_plan_json(plan, plan_status(plan), plan.skipped))


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


def _print_outcome(preview: TagPreview, outcome: TagOutcome, as_json: bool) -> None:
    """One JSON object per file, or the failures and a summary naming the batch."""
    for plan, result in zip(preview.plans, outcome.results, strict=True):
        if as_json:
            emit_json({**_plan_json(plan, result.status, result.reason),
                       "batch": outcome.batch})
        elif result.status == "failed":
            err_console.print(f"[red]failed[/] {result.path}: {result.reason}", highlight=False)
    if not as_json:
        counts = outcome.counts()
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        # A batch that wrote nothing has no journal rows: `undo --last` would undo an older one.
        undo_hint = (f"; batch {outcome.batch} (undo with `earmark undo --last`)"
                     if counts.get("written") else "; nothing written")
        console.print(summary + undo_hint, highlight=False)


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
            batch = journal.last_batch(catalog)
            selected = journal.entries(catalog, batch_id=batch) if batch else []
        elif since is not None:
            selected = journal.entries(catalog, since=parse_since(since))
        else:
            selected = journal.entries(catalog, paths=[str(f) for f in files])
        if not selected:
            err_console.print("nothing to undo")
            return
        with progress_bar("restoring tags") as advance:
            results = tagplan.undo(catalog, selected, progress=advance)
    table = Table(title="undo", header_style="bold")
    for column in ("file", "result", "restored / reason"):
        table.add_column(column, overflow="fold")
    for result in results:
        if as_json:
            emit_json({"path": result.path, "status": result.status, "reason": result.reason,
                       "restored": {c.key: c.new for c in result.changes}})
        else:
            detail = "; ".join(filter(None, [
                ", ".join(f"{c.field} = {_values(c.new)}" for c in result.changes),
                result.reason]))
            table.add_row(result.path, result.status, detail)
    if not as_json:
        console.print(table)
    if any(r.status == "refused" for r in results):
        raise typer.Exit(EXIT_SOME_FAILED)
