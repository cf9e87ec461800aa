"""Timing, memory and table helpers shared by the bench scripts."""

from __future__ import annotations

import multiprocessing
import resource
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, NamedTuple


class Timing(NamedTuple):
    """One timed call: ``wall`` seconds, and ``cpu`` seconds (user + system) of this process and
    of the child processes it waited for. On a shared machine ``cpu`` moves much less than
    ``wall`` when others load the cores."""

    wall: float
    cpu: float


def _cpu_seconds() -> float:
    # getrusage, not os.times(): the latter counts in clock ticks (10 ms), too coarse here.
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> list[Timing]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times; the timing of each."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        cpu, wall = _cpu_seconds(), time.perf_counter()
        fn()
        times.append(Timing(time.perf_counter() - wall, _cpu_seconds() - cpu))
    return times


def markdown_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub markdown table; floats print with 3 significant digits, ``None`` as a dash."""

    def cell(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _peak_rss() -> int:
    """This process's RSS high-water mark in bytes.

    VmHWM belongs to the process's own address space; ru_maxrss would not do, because Linux
    carries it over from the parent through fork and exec, so a child would report at least
    the parent's size.
    """
    return _status_kib("VmHWM") * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def _call_and_measure(fn: Callable[..., Any], args: tuple) -> tuple[Any, int]:
    result = fn(*args)
    return result, _peak_rss()


def _call_and_watch(fn: Callable[..., Any], args: tuple) -> tuple[Any, int, int]:
    """``fn(*args)`` while a thread samples RssAnon every 10 ms: (result, VmHWM, peak RssAnon)
    in bytes."""
    peak, done = [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _status_kib("RssAnon"))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = fn(*args)
    finally:
        done.set()
        watcher.join()
    return result, _peak_rss(), max(peak[0], _status_kib("RssAnon")) * 1024


def peak_rss_of(fn: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """Run ``fn(*args)`` in a fresh child process; return its result and the child's peak RSS.

    The child is spawned, not forked, so its high-water mark holds only the interpreter, what
    ``fn`` imports and what it allocates, not the parent's memory. ``fn`` must be importable
    (module level) and its result picklable. Peak RSS is in bytes (Linux only: read from /proc).
    """
    return _in_spawned_child(_call_and_measure, fn, args)


def peak_memory_of(fn: Callable[..., Any], *args: Any) -> tuple[Any, int, int]:
    """:func:`peak_rss_of` with the child's peak anonymous memory too: ``(result, peak RSS,
    peak RssAnon)`` in bytes. RssAnon (sampled every 10 ms) is the memory the process itself
    allocated; the RSS high-water mark also counts the resident pages of mapped libraries
    (torch's are ~400 MB), which depend on the page cache rather than on the code measured.
    """
    return _in_spawned_child(_call_and_watch, fn, args)


def _in_spawned_child(measure: Callable[..., Any], fn: Callable[..., Any], args: tuple) -> Any:
    """``measure(fn, args)`` in a fresh spawned child process, its result returned."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(measure, fn, args).result()
