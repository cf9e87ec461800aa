"""What every engine offers: the seam between earmark's batches and where their work runs.

A batch (scan, embed, predict, training's song vectors) hands an engine a function and its
items and reads the results back in order; it never starts processes or threads itself. The
local engine (:class:`~earmark.engine.local.LocalEngine`) runs them on this machine; another
engine (Ray) can run the same ``(function, items)`` on a cluster, which is why the contract
asks for what a cluster needs:

* ``fn`` and the items are picklable: ``fn`` is a module-level function or a
  :func:`functools.partial` of one, items are paths or other plain values;
* ``fn`` reads the file an item names (a path to a regular file) through
  :mod:`earmark.engine.files` (``open_file``, ``file_source``, ``file_stat``), never by
  ``open(path)`` alone: an engine whose workers do not see the driver's files sends the
  file's bytes with the item instead;
* results come back in the order of ``items``;
* a failure of one item is a result, not an exception: ``fn`` returns the error (as an
  :class:`~earmark.errors.AudioError`, a ``(None, reason)`` pair...), so one bad file never
  ends a batch; an item whose worker dies is handed to ``on_crash``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Engine(Protocol):
    """Spreads independent per-item work; see the module docstring for the contract.

    ``workers`` is how many items it works on at once.
    """

    workers: int

    def map_files(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        preload: tuple[str, ...] = ...,
        on_crash: Callable[[T, str], R] | None = None,
        chunksize: int = 1,
    ) -> Iterator[R]:
        """``map(fn, items)`` for per-file work that holds Python's GIL (decoding, descriptor
        extraction): run where it has a whole core, results in order.

        ``preload`` names the modules ``fn`` needs (imported once where the work runs).
        ``on_crash(item, reason)`` gives the result of an item whose worker died (a decoder
        crash, the out-of-memory killer); without it such a death raises. ``chunksize`` items
        go to a worker at a time.
        """
        ...

    def map_threads(
        self, fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None,
    ) -> Iterator[R]:
        """``map(fn, items)`` for work that spends its time in torch kernels and other code
        that releases the GIL, sharing one copy of a model: results in order.

        ``workers`` caps how many items run at once (1 for a model on a GPU, which runs one
        song at a time); default the engine's :attr:`workers`.
        """
        ...


@runtime_checkable
class TrialRunner(Protocol):
    """An engine that runs a hyper-parameter search's trials itself, spread over its workers
    (the Ray engine, with Ray Tune). A search on an engine without it runs its trials here."""

    def run_trials(
        self, objective: Callable[[dict], dict], space: Callable[[object], None], *,
        n_trials: int, mode: str, seed: int, timeout: float | None = None,
        on_trial: Callable[[int, str], None] | None = None,
    ) -> list[dict]:
        """Run up to ``n_trials`` trials (fewer when ``timeout`` seconds pass first) of
        ``objective(params) -> {"value": float | None, "reason": str | None, "note": ...}``,
        a failed trial being a result with ``value`` ``None`` and its ``reason``; ``params``
        are sampled by Optuna's TPE sampler (seeded with ``seed``) through the define-by-run
        ``space(trial)``; ``mode`` ``"max"`` or ``"min"`` says which way is better.
        ``on_trial(done, state)`` is called as each trial ends.

        Returns each trial as ``number``, ``state`` (``complete`` or ``fail``), ``params``,
        ``value``, ``reason``, ``note``, in the order they were started.
        """
        ...
