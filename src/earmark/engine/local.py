"""Run a per-file function over many files on every core of this machine.

Decoding holds Python's GIL (two threads decode barely faster than one), so files are shared out
to worker processes. Workers fork from a server process that has already imported the modules
they need (torch among them, ~1.5 s and 200 MB each time it is imported), so starting a pool
costs one import, not one per worker; the server imports but runs nothing, so there are no
threads for a fork to break. A worker that has torch keeps one torch thread: the processes fill
the cores.

Work that spends its time in torch kernels (which release the GIL) needs no processes:
:func:`map_threads` runs it on threads that share one copy of the model, each with one torch
thread, and starts in no time.

:class:`LocalEngine` offers both as an :class:`~earmark.engine.base.Engine`, the seam through
which scan, embed, predict and training reach them; a Ray engine takes the same
``(function, items)``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TypeVar

from earmark.engine.setup import configure

T = TypeVar("T")
R = TypeVar("R")

#: Modules the worker server imports by default, once, before any worker starts.
PRELOAD = ("earmark.audio", "earmark.features", "torch")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _worker_init() -> None:
    # One torch thread per worker (the processes fill the cores), whether torch was preloaded
    # or gets imported by ``fn`` later: the set-up every process running earmark's work does.
    configure(threads=1)
    # Ctrl-C in a terminal signals the whole process group: the parent alone decides what
    # to do (stop the pool, say how far it got); a worker raising KeyboardInterrupt would only
    # print its own traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: :func:`map_files` holds at most this many times its window of items at once, finished or
#: not: workers may run this far ahead of the item the caller waits for (a long song), but
#: the results of a fast producer (decoded songs, ~3 MB each) never pile up for a slow
#: consumer (the network): memory stays flat whatever the number of items.
AHEAD = 4


def _top_up(executor: ProcessPoolExecutor, fn: Callable, items: list, done: int,
            pending: deque, window: int) -> None:
    """Keep ``window`` unfinished items submitted until the first pending one is finished,
    holding at most ``AHEAD * window`` items (finished results included).

    Waiting on the first item alone would leave a worker idle whenever the items after it are
    finished and the first is not (songs differ in length); here every finished future frees
    a slot for the next item at once, as :meth:`ProcessPoolExecutor.map` does, while a crash
    still leaves few items to run again.
    """
    while True:
        unfinished = [f for f in pending if not f.done()]
        while (done + len(pending) < len(items) and len(unfinished) < window
               and len(pending) < AHEAD * window):
            future = executor.submit(fn, items[done + len(pending)])
            pending.append(future)
            unfinished.append(future)
        if pending[0].done():
            return
        wait(unfinished, return_when=FIRST_COMPLETED)


def _stop_now(executor: ProcessPoolExecutor) -> None:
    """Stop ``executor`` at once: items not started are cancelled and the workers busy with
    one are ended, so an interrupted command stops now, not after each worker's current file
    (minutes for a long one). Workers only compute and return results (the caller stores
    them), so ending one mid-file loses nothing but that file's work."""
    # Python 3.14 has ProcessPoolExecutor.terminate_workers(); until then its processes are
    # only reachable through this attribute (which shutdown() clears, so read it first).
    processes = list((getattr(executor, "_processes", None) or {}).values())
    manager = getattr(executor, "_executor_manager_thread", None)
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    # Wait for the pool's manager thread to see its workers gone and close its pipes: left
    # running, it races the interpreter's exit hook, which then writes to a closed pipe and
    # prints "Exception ignored ... Bad file descriptor" after the interrupted line.
    if manager is not None:
        manager.join(timeout=30)


def map_files(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int | None = None,
    chunksize: int = 1,
    preload: tuple[str, ...] = PRELOAD,
    on_crash: Callable[[T, str], R] | None = None,
) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` processes (default: one per core), results in order.

    ``fn`` must be importable (a module-level function or a partial of one) and should not
    raise for a bad file: return the error as a result instead, so one file never ends a batch.
    ``preload`` names the modules ``fn`` needs (the first pool of a process fixes them). With
    one worker (or one item) everything runs in this process. About ``2 * chunksize`` unfinished
    items per worker are in flight at a time, and at most :data:`AHEAD` times that many are
    held, finished or not, so results the caller has not taken yet do not pile up.

    A worker process can still die on a file (a crash inside FFmpeg, the out-of-memory killer).
    With ``on_crash``, the items that were in flight are then run again one at a time, each in
    a pool of its own, so the one that kills its worker is found; its result is
    ``on_crash(item, reason)`` and the batch goes on in a new pool. Without ``on_crash`` the
    :class:`~concurrent.futures.process.BrokenProcessPool` is raised.
    """
    items = list(items)
    workers = min(workers or usable_cores(), len(items))
    if workers <= 1:
        yield from map(fn, items)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))

    def pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(n, mp_context=context, initializer=_worker_init)

    window = max(1, chunksize) * workers * 2  # unfinished items in flight: a crash is cheap
    done = 0
    while done < len(items):
        with pool(workers) as executor:
            pending: deque = deque()  # futures of items[done:], in order
            try:
                while done < len(items):
                    _top_up(executor, fn, items, done, pending, window)
                    result = pending.popleft().result()
                    done += 1
                    yield result
            except BrokenProcessPool:
                if on_crash is None:
                    raise
                suspects = items[done:done + len(pending) + 1]
            except BaseException:  # Ctrl-C, or the consumer stopped early (GeneratorExit)
                _stop_now(executor)
                raise
            else:
                return
        for item in suspects:  # one item per pool: a crash now names its file
            try:
                with pool(1) as alone:
                    result = alone.submit(fn, item).result()
            except BrokenProcessPool:
                result = on_crash(item, "the worker process analysing it died (the decoder "
                                        "crashed or ran out of memory)")
            done += 1
            yield result


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with torch's intra-op pool at ``count`` threads in this thread, restored
    afterwards.

    torch's setting lives with each thread (OpenMP keeps it per thread; a thread's first torch
    call takes the value last set anywhere), so callers on other threads, such as concurrent
    requests of a web server, keep their own.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _one_torch_thread() -> None:
    import torch

    # A thread's first torch call (re)sets its count from the value last set in any thread;
    # make that call now, so the 1 below sticks whatever other threads set later.
    torch.get_num_threads()
    torch.set_num_threads(1)


def map_threads(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None,
                ) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads (default: one per core), results in order.

    For functions that spend their time in code that releases the GIL (torch kernels, PyAV,
    soxr): one model in memory is shared, nothing is pickled and nothing has to start. Each
    thread runs torch on one intra-op thread meanwhile, so the threads fill the cores without
    oversubscribing them. At most ``2 * workers`` items are in flight, so a consumer that stops
    early leaves little work behind. ``fn`` should return errors rather than raise them.
    """
    items = iter(items)
    workers = max(1, workers or usable_cores())
    if workers == 1:
        yield from map(fn, items)
        return
    with torch_threads(1), ThreadPoolExecutor(workers, initializer=_one_torch_thread) as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class LocalEngine:
    """The :class:`~earmark.engine.base.Engine` of this machine: :func:`map_files` on
    ``workers`` processes and :func:`map_threads` on ``workers`` threads.

    Parameters
    ----------
    workers : processes or threads at once; ``None`` is one per usable core
        (:func:`usable_cores`). With 1, everything runs in the calling thread.
    """

    def __init__(self, workers: int | None = None):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers or usable_cores()

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers})"

    def map_files(self, fn: Callable[[T], R], items: Iterable[T], *,
                  preload: tuple[str, ...] = PRELOAD,
                  on_crash: Callable[[T, str], R] | None = None,
                  chunksize: int = 1) -> Iterator[R]:
        """:func:`map_files` on this engine's processes."""
        return map_files(fn, items, self.workers, chunksize, preload, on_crash)

    def map_threads(self, fn: Callable[[T], R], items: Iterable[T], *,
                    workers: int | None = None) -> Iterator[R]:
        """:func:`map_threads` on this engine's threads, or fewer (``workers``)."""
        return map_threads(fn, items, min(workers or self.workers, self.workers))
