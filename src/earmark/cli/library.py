"""``earmark scan`` and ``earmark info``: what is in the library."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from earmark.catalog import Catalog, catalog_file, tracks
from earmark.catalog.knowledge import track_knowledge
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
    progress_bar,
)
from earmark.cli.engines import AddressOption, EngineOption
from earmark.engine import default_engine
from earmark.errors import CatalogError
from earmark.ingest.scan import (
    ROOT_NOT_FOUND,
    find_audio_files,
    inspect_file,
    not_pruned_reason,
    scan,
)


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
    engine: EngineOption = None,
    address: AddressOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record every audio file under FOLDERS in the catalog (incremental).

    Exit code 1 when some files could not be read; they are recorded with the reason. Exit
    code 3 when there was nothing to scan (no such folder, or no audio file in it).
    """
    if not any(os.path.lexists(os.path.expanduser(f)) for f in folders):
        # Checked before the catalog is opened, so a mistyped folder creates no catalog.
        fail(f"{escape(', '.join(map(str, folders)))}: {ROOT_NOT_FOUND}")
    nothing = f"no audio files in {escape(', '.join(map(str, folders)))}: nothing to scan"
    if not catalog_file(db).exists() and all(
            problem == ROOT_NOT_FOUND
            for _, problem in find_audio_files(os.path.expanduser(f) for f in folders)):
        # A new catalog would stay empty: create none. (With a catalog, an emptied folder may
        # still have missing tracks to report, so the scan itself decides.)
        fail(nothing)
    with open_catalog(db) as catalog:
        with progress_bar("scanning") as advance:
            report = scan(
                catalog, folders, verify=not quick, min_seconds=min_seconds,
                max_seconds=max_seconds, force=force, prune=prune,
                engine=default_engine(workers), progress=advance,
            )
        if report.found_nothing:
            fail(nothing)
        if as_json:
            _emit_scan_json(report)
        else:
            _print_scan_summary(report, catalog, folders)
    if report.failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _emit_scan_json(report) -> None:
    dup_of: dict[str, list[str]] = {}
    for group in report.duplicates:
        for path in group["paths"]:
            dup_of.setdefault(path, []).extend(p for p in group["paths"] if p != path)
    for item in report.items:
        row = {"path": json_path(item.path), "action": item.status, "reason": item.reason}
        if item.moved_from:
            row["moved_from"] = json_path(item.moved_from)
        if item.warning:
            row["warning"] = item.warning
        if item.path in dup_of:
            row["duplicates"] = sorted(set(dup_of[item.path]))
        emit_json(row)
    kept = {path for paths in report.not_pruned.values() for path in paths}
    for path in report.still_missing:
        if path not in kept:  # those kept get their folder's "not pruned" line below
            emit_json({"path": path, "action": "missing", "reason": "in the catalog, file gone"})
    for path in report.pruned:
        emit_json({"path": path, "action": "pruned", "reason": "file gone: forgotten"})
    for folder, kept in report.not_pruned.items():
        emit_json({"path": folder, "action": "not pruned",
                   "reason": not_pruned_reason(folder), "tracks": len(kept)})


def _print_scan_summary(report, catalog: Catalog, roots: list[Path]) -> None:
    def shown(path: str) -> str:
        return escape(display_path(path, roots))

    summary = Table(title="scan", show_header=True, header_style="bold")
    summary.add_column("result")
    summary.add_column("files", justify="right")
    for status in ("added", "updated", "moved", "unchanged", "skipped", "failed"):
        n = report.count(status)
        if n:
            summary.add_row(status, str(n))
    if report.still_missing:
        summary.add_row("missing (in catalog, file gone)", str(len(report.still_missing)))
    if report.pruned:
        summary.add_row("pruned (forgotten)", str(len(report.pruned)))
    # A track whose file is gone is not playable, though its last scan found it fine.
    songs, seconds = tracks.playable_totals(catalog, exclude=report.still_missing)
    summary.add_row("catalog: playable songs", f"{songs} ({seconds / 3600:.1f} h)")
    console.print(summary)
    for folder, kept in report.not_pruned.items():
        console.print(f"[bold yellow]{escape(not_pruned_reason(folder))}[/] ({len(kept)} "
                      "missing track(s) kept)", highlight=False)
    if report.failed:
        failed = Table(title="files that could not be read", header_style="bold red")
        failed.add_column("file", overflow="fold")
        failed.add_column("reason", overflow="fold")
        for item in report.failed:
            failed.add_row(shown(item.path), escape(item.reason or ""))
        console.print(failed)
    if report.warned:
        warned = Table(title="usable, with a warning", header_style="bold yellow")
        warned.add_column("file", overflow="fold")
        warned.add_column("warning", overflow="fold")
        for item in report.warned:
            warned.add_row(shown(item.path), escape(item.warning))
        console.print(warned)
    if report.duplicates:
        dups = Table(title="possible duplicates", header_style="bold yellow")
        dups.add_column("kind")
        dups.add_column("files", overflow="fold")
        for group in report.duplicates:
            dups.add_row(group["kind"], "\n".join(shown(p) for p in group["paths"]))
        console.print(dups)


@app.command("info")
def info_command(
    file: Annotated[Path, typer.Argument(help="An audio file.")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """What earmark knows about one file: tags, audio, labels, ratings, predictions, tag
    writes. The full record (every tag, every score) with --json.

    Exit code 3 when the file does not exist. Only reads: a catalog that does not exist yet
    is not created.
    """
    path = tracks.normalise_path(file)
    if not os.path.lexists(path):
        fail(f"{escape(str(file))}: file not found")
    if os.path.isdir(path):
        fail(f"{escape(str(file))}: is a folder; info takes one file")
    try:
        catalog = Catalog(db, create=False)
    except CatalogError:
        catalog = None  # no catalog yet: the file is simply not in it
    if catalog is not None:
        with catalog:
            track = tracks.get_track(catalog, path)
            knowledge = track_knowledge(catalog, track.id) if track else None
    if catalog is None or track is None:
        record = inspect_file(path)
        record.pop("tags_json", None)
        data = {**record, "in_catalog": False}
    else:
        data = {**track.to_dict(), "in_catalog": True, **knowledge}
    if as_json:
        emit_json({**data, "path": json_path(data["path"])})
        return
    _print_info(data)
    if not data["in_catalog"]:
        err_console.print("not in the catalog yet: run [bold]earmark scan[/] on its folder")


#: How many of a prediction's labels the human view of ``info`` shows (all under --json).
INFO_TOP = 5


def _print_info(data: dict) -> None:
    """The compact view of one file's record: a line per kind of knowledge."""
    table = Table(show_header=False, title=escape(display_path(data["path"])),
                  title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")

    def row(name: str, value: object) -> None:
        if value not in (None, "", [], {}):
            table.add_row(name, escape(str(value)))

    for key in ("title", "artist", "album", "genre"):
        row(key, data.get(key))
    if data.get("rating") is not None:
        row("rating (file)", f"{data['rating']:.2f}")
    row("audio", _audio_line(data))
    row("status", data["status"] if not data.get("error") else f"error: {data['error']}")
    row("warning", data.get("warning"))
    if data.get("size") is not None:
        row("file", f"{_size(data['size'])}, modified {_when(data.get('mtime_ns'), 1e-9)}")
    if data.get("scanned_at"):
        row("scanned", f"{_when(data['scanned_at'])} (added {_when(data['added_at'])})")
    row("labels", "; ".join(
        f"{x['dataset']}: {x['label']}" + (f" ({x['split']})" if x.get("split") else "")
        for x in data.get("labels", [])))
    row("ratings", "; ".join(
        f"{r['verdict'] or ''}{' ' if r['verdict'] and r['stars'] else ''}"
        f"{str(r['stars']) + ' stars' if r['stars'] else ''} ({_when(r['rated_at'])})"
        for r in data.get("ratings", [])))
    embeddings = data.get("embeddings", [])
    if embeddings:
        # How each vector was made (every patch or a sample, precision): comparable or not.
        row("embeddings", f"{len(embeddings)} (" + "; ".join(
            ", ".join([f"{e['model']}, {e['dim']} values", e.get("analysis") or "full"]
                      + ([e["precision"]] if e.get("precision") else []))
            for e in embeddings) + ")")
    for prediction in data.get("predictions", []):
        row(f"{prediction['model']} {prediction['kind']}", _top_scores(prediction["value"]))
    writes = data.get("tag_writes", [])
    if writes:
        last = writes[-1]
        undone = f", undone {_when(last['undone_at'])}" if last.get("undone_at") else ""
        row("tag writes", f"{len(writes)}; last {_when(last['written_at'])}: {last['field']} "
                          f"{last['old_value'] or '(none)'} -> {last['new_value']}{undone}")
    console.print(table, highlight=False)


def _audio_line(data: dict) -> str | None:
    """``3:25, mp3, 44.1 kHz, 2 ch, 320 kb/s`` from a record's audio fields."""
    parts = []
    if data.get("duration") is not None:
        minutes, seconds = divmod(round(data["duration"]), 60)
        parts.append(f"{minutes}:{seconds:02d}")
    if data.get("codec"):
        parts.append(str(data["codec"]))
    if data.get("sample_rate"):
        parts.append(f"{data['sample_rate'] / 1000:g} kHz")
    if data.get("channels"):
        parts.append(f"{data['channels']} ch")
    if data.get("bit_rate"):
        parts.append(f"{round(data['bit_rate'] / 1000)} kb/s")
    return ", ".join(parts) or None


def _top_scores(value: object) -> str:
    """A stored prediction in one line: its :data:`INFO_TOP` best labels with their scores
    (``rock 0.81, metal 0.42, ...``), or its fields for a payload that is not scores."""
    if isinstance(value, dict) and all(isinstance(v, int | float) for v in value.values()):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        pairs = [tuple(p) for p in value]
    elif isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items() if v is not None)
    else:
        return str(value)
    best = sorted(pairs, key=lambda p: -float(p[1]))
    shown = ", ".join(f"{label} {float(score):.2f}" for label, score in best[:INFO_TOP])
    return shown + (f" (+{len(best) - INFO_TOP} more)" if len(best) > INFO_TOP else "")


def _when(seconds: float | None, scale: float = 1.0) -> str:
    """A Unix time (``seconds * scale``) as local ISO 8601 to the second."""
    if seconds is None:
        return "?"
    return datetime.fromtimestamp(seconds * scale).isoformat(sep=" ", timespec="seconds")


def _size(size: int) -> str:
    """``4.1 MB``: decimal units, as file managers show them."""
    if size < 1000:
        return f"{size} bytes"
    exponent = min(3, len(str(size)) // 3 - (len(str(size)) % 3 == 0))
    return f"{size / 1000 ** exponent:.1f} {('kB', 'MB', 'GB')[exponent - 1]}"
