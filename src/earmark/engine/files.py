"""Files a task's driver sent as bytes: how a worker reads a file it cannot see at its path.

An engine whose workers may not share the driver's file system (the Ray engine, on nodes
without the music mounted) sends a file's bytes with its task and runs the task inside
:func:`sent_files`. Code that reads a file in a worker (decoding, hashing, tag reading) opens
it through :func:`open_file`, :func:`file_source` and :func:`file_stat`, which give the sent
bytes and the driver's ``os.stat`` of the file where there are some, and the file itself
otherwise (the local engine, shared storage), so the same code serves both.

Sent files are keyed by their normalised path (:func:`os.path.normpath`), so ``Path(p)`` and
``str(p)`` name the same one. They are held per context (a :class:`~contextvars.ContextVar`):
threads running other tasks at once never see each other's files.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class SentFile:
    """One file as the driver read it: its ``data`` (the whole file) and ``stat``, the
    driver's ``os.stat`` of it (size, modification time, mode), which stands for the file's
    own where the worker asks (a scan records the driver's size and time, not a copy's)."""

    data: bytes
    stat: os.stat_result


_sent: ContextVar[Mapping[str, SentFile] | None] = ContextVar("earmark_sent_files",
                                                               default=None)


def _key(path: str | os.PathLike) -> str:
    return os.path.normpath(os.fspath(path))


@contextmanager
def sent_files(files: Mapping[str | os.PathLike, SentFile]) -> Iterator[None]:
    """Within the block, :func:`open_file`, :func:`file_source` and :func:`file_stat` answer
    ``files`` (``{path: SentFile}``) from memory instead of the file system."""
    token = _sent.set({**(_sent.get() or {}), **{_key(p): f for p, f in files.items()}})
    try:
        yield
    finally:
        _sent.reset(token)


def sent_file(path: str | os.PathLike) -> SentFile | None:
    """The :class:`SentFile` sent for ``path`` to the running task, or ``None``."""
    sent = _sent.get()
    return sent.get(_key(path)) if sent else None


class _NamedBytes(io.BytesIO):
    """Bytes in memory that carry the file's ``name``: FFmpeg and mutagen use a file object's
    name to guess its format from the extension, as they do for a path, so a sent file is
    read exactly as the file itself."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)  # shares ``data``'s buffer until written: no copy
        self.name = name


def open_file(path: str | os.PathLike) -> BinaryIO:
    """``open(path, "rb")``, or the bytes sent for ``path`` as a file object (seekable, read
    only in effect, named ``path``).

    Raises
    ------
    OSError
        As ``open`` does, when nothing was sent for ``path`` and it cannot be opened.
    """
    sent = sent_file(path)
    if sent is None:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it, as open()'s
    return _NamedBytes(sent.data, os.fspath(path))


def file_source(path: str | os.PathLike) -> str | BinaryIO:
    """What to hand a library that takes a file name or a file object (PyAV, mutagen): the
    bytes sent for ``path`` as a file object (:func:`open_file`), else ``path`` as a string
    (the library then opens the file itself, as it always did)."""
    sent = sent_file(path)
    return os.fspath(path) if sent is None else _NamedBytes(sent.data, os.fspath(path))


def file_stat(path: str | os.PathLike) -> os.stat_result:
    """``os.stat(path)``, or the driver's stat of the file sent for ``path``.

    Raises
    ------
    OSError
        As ``os.stat`` does, when nothing was sent for ``path``.
    """
    sent = sent_file(path)
    return os.stat(path) if sent is None else sent.stat
