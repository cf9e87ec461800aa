"""The Typer application and what every command shares: catalog option, JSON lines, progress.

Commands only parse arguments, call the library and print; they live in one module per area
(``analysis``, ``library``, ``tagwrite``, ``taste``, ``training``) and register on :data:`app`.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer.core import TyperGroup

from earmark.catalog import Catalog
from earmark.errors import EarmarkError
from earmark.types import ProgressFn


class SafetyNet(TyperGroup):
    """The one place where an error no command handled becomes a line for a person.

    An :class:`EarmarkError` or ``OSError`` escaping a command (a disk that filled up, a
    folder that vanished, a message a library raised for a person) is printed as
    ``error: ...`` and stops with exit code 3, never as a traceback: these say what went
    wrong in words already. Other exceptions are bugs and keep their traceback, for the report.
    """

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (EarmarkError, OSError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(describe_error(exc))}",
                              highlight=False)
            raise typer.Exit(EXIT_FAILED) from None


def describe_error(exc: BaseException) -> str:
    """An exception in words: an ``OSError`` as ``<file>: <reason>`` (``afile/x.sqlite: Not a
    directory``), anything else as its message."""
    if isinstance(exc, OSError) and exc.strerror:
        names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
        return ": ".join([" -> ".join(names), exc.strerror] if names else [exc.strerror])
    return str(exc) or type(exc).__name__


app = typer.Typer(
    name="earmark",
    cls=SafetyNet,
    help="Listen to a music library: scan it, tag genres, learn your taste.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

# Exit codes: 0 all good, 1 some files failed (the rest was done), 2 usage error, 3 nothing done.
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
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
    """The catalog at ``db`` (default: the settings'), for ``with open_catalog(db) as
    catalog:``, so that it is closed however the command ends (a ``fail()`` included); a
    catalog that cannot be opened fails the command with the reason (via :class:`SafetyNet`)."""
    return Catalog(db)


def fail(message: str, code: int = EXIT_FAILED) -> None:
    """Print an error for a person and stop with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def check_output_path(path: Path) -> None:
    """Stop with a usage error (exit 2) when the file ``path`` the user named for output cannot
    be created, before any work is done: ``error: cannot create afile/x.csv: Not a directory``.
    Missing parent folders are created, as the writers would."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file stands where a folder of the path should be
        reason = os.strerror(errno.ENOTDIR)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        if path.is_dir():
            reason = os.strerror(errno.EISDIR)
        elif not os.access(path if path.exists() else path.parent, os.W_OK):
            reason = os.strerror(errno.EACCES)
        else:
            return
    fail(f"cannot create {escape(str(path))}: {reason}", code=EXIT_USAGE)


def display_path(path: str | Path, roots: list[Path] | None = None) -> str:
    """How a table or message shows a file: relative to the first of the folders the user gave
    (``roots``) that holds it (``jazz/01 Song.flac``), else relative to the current folder when
    inside it, else absolute. JSON output always keeps the absolute path (see
    :func:`json_path`)."""
    absolute = Path(os.path.abspath(os.path.expanduser(str(path))))
    bases = [Path(os.path.abspath(os.path.expanduser(str(r)))) for r in roots or []]
    for base in [*(b if b.is_dir() else b.parent for b in bases), Path.cwd()]:
        try:
            relative = absolute.relative_to(base)
        except ValueError:
            continue
        if str(relative) != ".":
            return str(relative)
    return str(absolute)


def json_path(path: str | Path) -> str:
    """The path a JSON object carries: absolute, ``~`` expanded (every command the same)."""
    return os.path.abspath(os.path.expanduser(str(path)))


def emit_json(obj: dict) -> None:
    """One JSON object per line on stdout, flushed so pipes see it at once.

    The line is UTF-8 text. A file name that is not UTF-8 (Python holds its odd bytes as lone
    surrogates) keeps them as JSON escapes, ``"Caf\\udce9"``: valid JSON, and Python's
    ``os.fsencode(json.loads(line)["path"])`` gives back the name's exact bytes.
    """
    text = json.dumps(obj, ensure_ascii=False, default=str)
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# Only inside JSON strings can a surrogate appear in json.dumps' output, so escaping each one
# in place keeps the JSON valid.
_SURROGATE = re.compile("[\ud800-\udfff]")


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
