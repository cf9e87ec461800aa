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
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
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
from rich.segment import Segments
from rich.table import Table
from typer.core import TyperGroup

import earmark
from earmark.catalog import Catalog, catalog_file, paths
from earmark.catalog.lock import holder_name
from earmark.catalog.tracks import normalise_path
from earmark.errors import EarmarkError
from earmark.types import ProgressFn


class SafetyNet(TyperGroup):
    """The one place where an error no command handled becomes a line for a person.

    An :class:`EarmarkError` or ``OSError`` escaping a command (a disk that filled up, a
    folder that vanished, a message a library raised for a person) is printed as
    ``error: ...`` and stops with exit code 3, never as a traceback: these say what went
    wrong in words already. Other exceptions are bugs and keep their traceback, for the report.
    Ctrl-C stops with one line saying how far the command got (:func:`interrupted_message`)
    and exit code 130, the shell's code for an interrupted program; a reader of the output
    that went away (``| head``) ends it quietly with 141, as SIGPIPE would.
    """

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The program reading our output stopped (``| head``): end as a program stopped
            # by SIGPIPE does, quietly. Output still buffered would fail again at exit, so
            # what is left of stdout goes nowhere.
            with suppress(OSError, ValueError):  # a stdout without a file (in-process runs)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except (EarmarkError, OSError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(describe_error(exc))}",
                              highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
        except KeyboardInterrupt:
            err_console.print(interrupted_message(), highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None


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
    # Click's own help layout: paragraphs re-wrapped to the terminal (Rich's kept the source
    # line breaks, cutting sentences mid-line) and no "<bool>" type column on flags.
    rich_markup_mode=None,
)

console = Console()
err_console = Console(stderr=True)


def print_in_pieces(table: Table, lines: int = 1000) -> None:
    """Print ``table`` as ``console.print`` would, written ``lines`` lines at a time: printing
    a table of 100,000 files in one call holds all of its rendered lines at once (hundreds of
    MB), while rows are rendered one after another anyway."""
    pending, newlines = [], 0
    for segment in console.render(table, console.options):
        pending.append(segment)
        if segment.text == "\n":
            newlines += 1
            if newlines >= lines:
                console.print(Segments(pending), end="")
                pending, newlines = [], 0
    console.print(Segments(pending), end="")


# Exit codes: 0 all good, 1 some files failed (the rest was done), 2 usage error, 3 nothing done.
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a program stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of the output went away (| head)


def _show_version(value: bool) -> None:
    if value:
        console.print(f"earmark {earmark.__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option(
        "--version", help="Print earmark's version and exit.", callback=_show_version,
        is_eager=True)] = False,
) -> None:
    """Listen to a music library: scan it, tag genres, learn your taste."""

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Catalog database (default: $EARMARK_DB or the user data dir).",
                 dir_okay=False),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per song (with its path).")
]


def open_catalog(db: Path | None, *, write: bool = True, wait: bool = True) -> Catalog:
    """The catalog at ``db`` (default: the settings'), for ``with open_catalog(db) as
    catalog:``, so that it is closed however the command ends (a ``fail()`` included); a
    catalog that cannot be opened fails the command with the reason (via :class:`SafetyNet`).

    With ``write`` (commands that change the catalog or files) the command holds the catalog's
    writer lock for its whole run: a second such command waits for the first, saying once on
    stderr which process it waits for, and then sees the first one's work done. Commands that
    only read pass ``write=False`` and never wait. With ``wait=False`` a writer held by another
    process raises :class:`~earmark.catalog.lock.CatalogInUseError` at once instead: for a query
    that would rather answer from what is stored than wait (``functools.partial(open_catalog,
    db)`` is the :class:`~earmark.taste.recommend.CatalogWriter` the taste queries take).
    """
    def waiting(pid: int | None) -> None:
        err_console.print(f"waiting: {holder_name(pid)} is writing to this catalog; this "
                          "command starts when it has finished (Ctrl-C to stop)",
                          highlight=False, soft_wrap=True)

    return Catalog(db, lock=write, lock_timeout=None if wait else 0,
                   on_wait=waiting if wait else None)


def require_catalog(db: Path | None) -> None:
    """Fail the command (exit 3) when there is no catalog at ``db`` (default: the settings'):
    for commands that only read one, which must not create an empty one by opening it."""
    path = catalog_file(db)
    if not path.is_file():
        fail(f"no catalog at {escape(str(path))}: earmark scan FOLDER makes one")


def fail(message: str, code: int = EXIT_FAILED) -> None:
    """Print an error for a person and stop with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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
    return paths.display_path(path, [*(roots or []), Path.cwd()])


def json_path(path: str | Path) -> str:
    """The path a JSON object carries: absolute, ``~`` expanded (every command the same): the
    catalog's form of it (:func:`~earmark.catalog.tracks.normalise_path`)."""
    return normalise_path(path)


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


@dataclass
class _Done:
    """How far the latest progress bar got, for the line Ctrl-C prints."""

    done: int = 0
    total: int | None = None


_latest = _Done()

#: Without a terminal, a progress line at most this often (seconds) or per tenth of the work.
PLAIN_PROGRESS_SECONDS = 10.0


def interrupted_message() -> str:
    """The line printed when Ctrl-C stops a command: ``interrupted: 2 of 6 songs done; run it
    again to continue`` (work already done is kept in the catalog, so a rerun goes on)."""
    if _latest.total:
        return (f"interrupted: {_latest.done} of {_latest.total} songs done; run it again to "
                "continue")
    return "interrupted; run it again to continue"


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressFn]:
    """Progress on stderr; yields ``advance(done, total, label)``.

    On a terminal, a Rich bar with ETA (the total shows as soon as the work knows it: services
    call ``advance(0, total)`` before the first item). Without one (a log, a pipe, cron), a
    plain line ``scanning: 30 of 120 (25%)`` every :data:`PLAIN_PROGRESS_SECONDS` seconds or
    each tenth of the work, so a long run shows it is alive without flooding the log.
    """
    _latest.done, _latest.total = 0, total
    if not err_console.is_terminal:
        yield _plain_progress(description)
        return
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
        _latest.done, _latest.total = done, total_
        name = Path(label).name if label else ""
        progress.update(task, completed=done, total=total_, label=name[:40])

    with progress:
        yield advance


def _plain_progress(description: str) -> ProgressFn:
    last = {"at": time.monotonic(), "tenth": 0}

    def advance(done: int, total: int, label: str = "") -> None:
        _latest.done, _latest.total = done, total
        if not total or done in (0, total):
            return
        tenth = done * 10 // total
        now = time.monotonic()
        if tenth > last["tenth"] or now - last["at"] >= PLAIN_PROGRESS_SECONDS:
            last.update(at=now, tenth=tenth)
            err_console.print(f"{description}: {done} of {total} ({100 * done // total}%)",
                              highlight=False, soft_wrap=True)

    return advance
