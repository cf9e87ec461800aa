"""``earmark scan`` and ``earmark info``: what is in the library."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.catalog import tracks
from earmark.catalog.knowledge import track_knowledge
from earmark.cli.app import (
    EXIT_SOME_FAILED,
    DbOption,
    JsonOption,
    app,
    console,
    emit_json,
    err_console,
    open_catalog,
    progress_bar,
)
from earmark.engine import LocalEngine
from earmark.ingest.scan import inspect_file, not_pruned_reason, scan


@app.command("scan")
def scan_command(
    folders: Annotated[list[Path], typer.Argument(help="Folders or files to scan.")],
    db: DbOption = None,
    min_seconds: Annotated[float | None, typer.Option(
        help="Skip files shorter than this (seconds).")] = None,
    max_seconds: Annotated[float | None, typer.Option(
        help="Skip files longer than this (seconds), e.g. podcasts and DJ mixes.")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Do not decode files to find damaged audio (faster).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Re-inspect files even if unchanged since the last scan.")] = False,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Forget catalog entries whose files are gone.")] = False,
    workers: Annotated[int | None, typer.Option(help="Processes (default: all cores).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record every audio file under FOLDERS in the catalog (incremental).

    Exit code 1 when some files could not be read; they are recorded with the reason.
    """
    with open_catalog(db) as catalog:
        with progress_bar("scanning") as advance:
            report = scan(
                catalog, folders, verify=not quick, min_seconds=min_seconds,
                max_seconds=max_seconds, force=force, prune=prune,
                engine=LocalEngine(workers) if workers else None,
                progress=advance,
            )
        dup_of: dict[str, list[str]] = {}
        for group in report.duplicates:
            for path in group["paths"]:
                dup_of.setdefault(path, []).extend(p for p in group["paths"] if p != path)
        if as_json:
            for item in report.items:
                row = {"path": item.path, "action": item.status, "reason": item.reason}
                if item.moved_from:
                    row["moved_from"] = item.moved_from
                if item.warning:
                    row["warning"] = item.warning
                if item.path in dup_of:
                    row["duplicates"] = sorted(set(dup_of[item.path]))
                emit_json(row)
            for folder, kept in report.not_pruned.items():
                emit_json({"path": folder, "action": "not pruned",
                           "reason": not_pruned_reason(folder), "tracks": len(kept)})
        else:
            _print_scan_summary(report, catalog)
    if report.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _print_scan_summary(report, catalog) -> None:
    summary = Table(title="scan", show_header=True, header_style="bold")
    summary.add_column("result")
    summary.add_column("files", justify="right")
    for status in ("added", "updated", "moved", "unchanged", "skipped", "failed"):
        n = report.count(status)
        if n:
            summary.add_row(status, str(n))
    if report.missing:
        summary.add_row("missing (in catalog, file gone)", str(len(report.missing)))
    if report.pruned:
        summary.add_row("pruned (forgotten)", str(len(report.pruned)))
    ok = [t for t in tracks.iter_tracks(catalog, "ok")]
    hours = sum(t.duration or 0 for t in ok) / 3600
    summary.add_row("catalog: playable songs", f"{len(ok)} ({hours:.1f} h)")
    console.print(summary)
    for folder, kept in report.not_pruned.items():
        console.print(f"[bold yellow]{escape(not_pruned_reason(folder))}[/] ({len(kept)} "
                      "missing track(s) kept)", highlight=False)
    if report.failed:
        failed = Table(title="files that could not be read", header_style="bold red")
        failed.add_column("file", overflow="fold")
        failed.add_column("reason", overflow="fold")
        for item in report.failed:
            failed.add_row(item.path, item.reason or "")
        console.print(failed)
    if report.warned:
        warned = Table(title="usable, with a warning", header_style="bold yellow")
        warned.add_column("file", overflow="fold")
        warned.add_column("warning", overflow="fold")
        for item in report.warned:
            warned.add_row(item.path, item.warning)
        console.print(warned)
    if report.duplicates:
        dups = Table(title="possible duplicates", header_style="bold yellow")
        dups.add_column("kind")
        dups.add_column("files", overflow="fold")
        for group in report.duplicates:
            dups.add_row(group["kind"], "\n".join(group["paths"]))
        console.print(dups)


@app.command("info")
def info_command(
    file: Annotated[Path, typer.Argument(help="An audio file.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Everything earmark knows about one file."""
    with open_catalog(db) as catalog:
        track = tracks.get_track(catalog, file)
        if track is None:
            record = inspect_file(tracks.normalise_path(file))
            record.pop("tags_json", None)
            data = {**record, "in_catalog": False}
        else:
            data = {**track.to_dict(), "in_catalog": True}
            data.update(track_knowledge(catalog, track.id))
    if as_json:
        emit_json(data)
        return
    table = Table(show_header=False, title=str(data["path"]), title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in data.items():
        if key in ("path",) or value in (None, [], {}):
            continue
        if key.endswith("_at") and isinstance(value, float):
            value = datetime.fromtimestamp(value).isoformat(sep=" ", timespec="seconds")
        elif key == "duration" and isinstance(value, float):
            value = f"{value:.2f} s"
        elif isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, indent=1, default=str)
        table.add_row(key, str(value))
    console.print(table)
    if not data["in_catalog"]:
        err_console.print("not in the catalog yet: run [bold]earmark scan[/] on its folder")
