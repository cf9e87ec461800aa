"""Every exception earmark raises on purpose.

Batch operations catch :class:`EarmarkError` per file, record ``str(error)`` as the reason and go
on with the next file, so each message must make sense on its own to a user.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class EarmarkError(Exception):
    """Base class of earmark's own errors."""


class AudioError(EarmarkError):
    """A file could not be read as audio. ``reason`` is short and user-facing."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        # An exception pickles as type(self)(*self.args), and args holds the reason alone: an
        # AudioError returned by a worker process would fail to unpickle and break its pool.
        return type(self), (self.path, self.reason)


class EmptyFileError(AudioError):
    """The file has zero bytes."""


class NotAudioError(AudioError):
    """The file is not a media container at all, or holds no audio stream."""


class UnsupportedCodecError(AudioError):
    """The container is readable but its audio codec is not."""


class CorruptAudioError(AudioError):
    """Decoding failed part-way or produced no samples (truncated or damaged file)."""


class UnreadableFileError(AudioError):
    """The operating system refused to open the file (permissions, loops, vanished)."""

    @classmethod
    def from_os_error(cls, path: str | Path, exc: OSError) -> UnreadableFileError:
        """Name the cause in words a user recognises."""
        reasons = {
            errno.ELOOP: "symbolic link loop",
            errno.EACCES: "permission denied",
            errno.EPERM: "permission denied",
            errno.ENOENT: "file not found (or a broken symbolic link)",
            errno.EISDIR: "is a folder, not a file",
        }
        return cls(path, reasons.get(exc.errno, f"cannot read: {exc.strerror or exc}"))


class FileNameError(EarmarkError):
    """A path the catalog cannot hold: its name is not valid UTF-8 (written in an older
    encoding, as old Latin-1 libraries are; Python holds such a name with lone surrogates).

    ``path`` is the path as Python holds it; ``reason`` (also the message) says why, like an
    :class:`AudioError`'s, to be reported beside the path (:func:`printable_path` shows it).
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(reason)


def printable_path(path: str | Path) -> str:
    """``path`` as text any terminal, log or UTF-8 file can hold: each byte of the name that
    is not UTF-8 is written ``\\xNN`` (``Caf\\xe9/song.mp3`` for a Latin-1 ``Café``)."""
    path = os.fspath(path)
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file system gave (left by a text decoder)
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


class CatalogError(EarmarkError):
    """The catalog database is missing, locked or from an incompatible version."""


class ModelError(EarmarkError):
    """A model file is missing, damaged, or its front end does not match the input."""


class TagWriteError(EarmarkError):
    """Writing tags into a file failed; the original file was left untouched."""


class InputFileError(EarmarkError, ValueError):
    """A file the user gave (a table, playlist, ratings export, config) cannot be read as text
    or as its format. Also a ``ValueError``, as the importers' format errors are."""
