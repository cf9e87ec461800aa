"""Short-lived catalog access for a long-running face (the web app) beside running commands.

A command holds the catalog's writer lock (:mod:`.lock`) for its whole run; a web request that
rates a song must not wait minutes for an ``embed`` to finish, so it skips that lock and writes
in one short SQLite transaction instead, waiting only for SQLite's own write lock (held for the
length of one of the command's transactions). Readers never wait (write-ahead logging). When
SQLite still answers "database is locked" after ``timeout`` seconds, the error becomes
:class:`CatalogBusyError`, whose message a person can act on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from earmark.catalog.db import Catalog
from earmark.errors import CatalogError

#: Seconds a web request waits for another process's write transaction before giving up.
BRIEF_TIMEOUT = 10.0


class CatalogBusyError(CatalogError):
    """Another process kept the catalog's write lock longer than a short request may wait."""


def _is_busy(exc: BaseException) -> bool:
    for error in (exc, exc.__cause__):
        if isinstance(error, sqlite3.OperationalError) and (
                "locked" in str(error) or "busy" in str(error)):
            return True
    return False


def _seconds(timeout: float | None) -> float:
    return BRIEF_TIMEOUT if timeout is None else timeout


def _busy(path: Path) -> CatalogBusyError:
    return CatalogBusyError(
        f"the catalog {path} is busy: another earmark command is writing to it; "
        "try again in a moment")


@contextmanager
def reading(path: str | Path, *, timeout: float | None = None) -> Iterator[Catalog]:
    """The catalog at ``path`` opened for this thread's reads, closed after the block.

    Raises :class:`~earmark.errors.CatalogError` when there is no catalog (it is never created
    here) and :class:`CatalogBusyError` when SQLite stays locked for ``timeout`` seconds
    (default :data:`BRIEF_TIMEOUT`).
    """
    try:
        with Catalog(path, timeout=_seconds(timeout), create=False) as catalog:
            yield catalog
    except (sqlite3.OperationalError, CatalogError) as exc:
        if _is_busy(exc):
            raise _busy(Path(path)) from exc
        raise


@contextmanager
def brief_write(path: str | Path, *, timeout: float | None = None) -> Iterator[Catalog]:
    """The catalog at ``path`` for one short write transaction (the whole block), without the
    whole-run writer lock that commands hold, so a rating never waits for a running ``embed``.

    The block's statements commit together when it ends (roll back if it raises). Raises
    :class:`CatalogBusyError` when another process holds SQLite's write lock for ``timeout``
    seconds (default :data:`BRIEF_TIMEOUT`), and :class:`~earmark.errors.CatalogError` when
    there is no catalog.
    """
    try:
        with (Catalog(path, timeout=_seconds(timeout), create=False) as catalog,
              catalog.transaction()):
            yield catalog
    except (sqlite3.OperationalError, CatalogError) as exc:
        if _is_busy(exc):
            raise _busy(Path(path)) from exc
        raise
