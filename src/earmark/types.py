"""Small types every layer shares: progress callbacks and the one shape of a per-file outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import ClassVar

#: ``progress(done, total, label)`` after each item of a batch: items done so far, items in
#: the batch, and what was just done (usually a file's path).
ProgressFn = Callable[[int, int, str], None]

#: How a service with several stages reports progress: ``stages("planning")`` is a context
#: manager around one stage that yields the :data:`ProgressFn` for it, or ``None`` for none.
#: The CLI passes its progress-bar factory; a web request or a test passes :func:`no_progress`.
Stages = Callable[[str], AbstractContextManager[ProgressFn | None]]


@contextmanager
def no_progress(description: str) -> Iterator[None]:
    """The :data:`Stages` that reports nothing."""
    yield None


@dataclass(frozen=True)
class Outcome:
    """What a batch did with one file: ``path``, a ``status`` from the type's fixed set
    (:attr:`STATUSES`) and a ``reason`` a person can read (why it failed or was skipped, or
    a note; ``None`` when there is nothing to say).

    Each batch specialises it (:class:`~earmark.ingest.scan.ScanItem`,
    :class:`~earmark.taste.ratings_io.ImportItem`, :class:`~earmark.tagging.plan.TrackResult`,
    :class:`~earmark.analysis.embed.EmbedItem`) with its own statuses and extra fields, so a
    command, a web page or a worker reports every batch the same way.

    Raises :class:`ValueError` for a status outside the set: a typo would otherwise pass every
    ``status == "failed"`` check unnoticed.
    """

    path: str
    status: str
    reason: str | None = None

    #: The statuses this kind of outcome may have.
    STATUSES: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        if self.status not in self.STATUSES:
            raise ValueError(f"{type(self).__name__} status must be one of "
                             f"{', '.join(sorted(self.STATUSES))}, not {self.status!r}")
