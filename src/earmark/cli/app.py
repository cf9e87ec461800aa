"""The Typer application and what every command shares: catalog option, JSON lines, progress.

Commands only parse arguments, call the library and print; they live in one module per area
(``analysis``, ``library``, ``tagwrite``, ``taste``, ``training``) and register on :data:`app`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from earmark.catalog import Catalog
from earmark.errors import EarmarkError
from earmark.types import ProgressFn

app = typer.Typer(
    name="earmark",
    help="Listen to a music library: scan it, tag genres, learn your taste.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

# Exit codes: 0 all good, 1 some files failed (the rest was done), 2 usage error, 3 nothing done.
EXIT_SOME_FAILED = 1
EXIT_FAILED = 3

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Catalog database (default: $EARMARK_DB or the user data dir).",
                 dir_okay=False),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per song (with its path).")
]


def open_catalog(db: Path | None) -> Catalog:
    try:
        return Catalog(db)
    except EarmarkError as exc:
        fail(str(exc))


def fail(message: str, code: int = EXIT_FAILED) -> None:
    """Print an error for a person and stop with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def emit_json(obj: dict) -> None:
    """One JSON object per line on stdout, flushed so pipes see it at once."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressFn]:
    """A Rich progress bar with ETA on stderr; yields ``advance(done, total, label)``."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}", style="dim"),
        console=err_console,
        transient=True,
    )
    task = progress.add_task(description, total=total, label="")

    def advance(done: int, total_: int, label: str = "") -> None:
        name = Path(label).name if label else ""
        progress.update(task, completed=done, total=total_, label=name[:40])

    with progress:
        yield advance
