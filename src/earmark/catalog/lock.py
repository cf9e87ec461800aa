"""One writer at a time: an exclusive lock file beside the catalog (``catalog.sqlite.lock``).

SQLite's own write lock covers one transaction; a command such as ``embed`` or ``tag --yes``
decides what to do from one read and writes minutes later, so two runs at once would both do
all the work (and the second's tag writes would fail on files the first already changed). The
command line takes this lock for its whole run, so a second writer waits for the first and
then sees its work done. The operating system drops the lock when its holder dies, so a crash
or kill never leaves the catalog locked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout

from earmark.errors import CatalogError


class CatalogInUseError(CatalogError):
    """Another process held the catalog's writer lock for longer than the caller would wait;
    ``pid`` is the holder's process id (``None`` when the lock file does not name it)."""

    def __init__(self, message: str, pid: int | None):
        super().__init__(message)
        self.pid = pid


def holder_name(pid: int | None) -> str:
    """The writer lock's holder as a message names it: ``earmark (process 123)``, or
    ``another earmark command`` when its process id is unknown."""
    return f"earmark (process {pid})" if pid else "another earmark command"


def lock_path(catalog_path: Path) -> Path:
    """The lock file of the catalog at ``catalog_path``: the same name with ``.lock`` added."""
    return catalog_path.with_name(catalog_path.name + ".lock")


def holder_pid(catalog_path: Path) -> int | None:
    """The process id the current (or last) holder wrote into the lock file, if readable."""
    try:
        return int(lock_path(catalog_path).read_text().strip() or "x")
    except (OSError, ValueError):
        return None


def take_writer_lock(
    catalog_path: Path,
    timeout: float | None = None,
    on_wait: Callable[[int | None], None] | None = None,
) -> FileLock:
    """Take the catalog's writer lock, waiting for another process that holds it.

    Parameters
    ----------
    catalog_path : the catalog database file.
    timeout : seconds to wait at most; ``None`` waits as long as the holder runs.
    on_wait : called once, with the holder's process id (``None`` if unknown), when the lock
        is held by another process and this one starts waiting.

    Returns
    -------
    FileLock
        Held; ``release()`` it when done (closing the :class:`~earmark.catalog.Catalog` does).

    Raises
    ------
    CatalogInUseError
        When ``timeout`` passed and the other process still holds the lock.
    """
    lock = FileLock(lock_path(catalog_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        pid = holder_pid(catalog_path)
        if on_wait is not None:
            on_wait(pid)
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise CatalogInUseError(
                f"catalog {catalog_path} is still in use by {holder_name(pid)} after "
                f"{timeout:g} s; try again when it has finished", pid) from None
    # Written in place, not truncated by a waiter's open, so a waiter can name the holder.
    with open(lock_path(catalog_path), "r+") as f:
        f.write(f"{os.getpid()}\n")
        f.truncate()
    return lock
