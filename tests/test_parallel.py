"""map_files and map_threads: the same results as a plain map, in order, in parallel."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path

import pytest

from earmark.engine.local import map_files, map_threads, usable_cores
from earmark.ingest.scan import inspect_file


def _worker_facts(_: object) -> tuple[int, int]:
    import torch

    return os.getpid(), torch.get_num_threads()


def test_results_in_order_and_equal_to_a_plain_map(music_files, tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    paths = [str(p) for p in music_files.values()] + [str(bad)]
    inspect = partial(inspect_file, verify=False)
    parallel = list(map_files(inspect, paths, workers=2))
    serial = [inspect(p) for p in paths]
    assert [r["path"] for r in parallel] == paths
    assert parallel == serial
    assert parallel[-1]["status"] == "error"


def test_workers_are_other_processes_with_one_torch_thread():
    # The first pool of a process fixes what its fork server preloads: here, no torch; the
    # workers must still use one torch thread when they import it themselves.
    list(map_files(partial(inspect_file, verify=False), ["/nowhere/a.mp3", "/nowhere/b.mp3"],
                   workers=2, preload=("earmark.ingest.scan",)))
    facts = list(map_files(_worker_facts, range(8), workers=2))
    assert os.getpid() not in {pid for pid, _ in facts}
    assert {threads for _, threads in facts} == {1}
    assert list(map_files(_worker_facts, [0], workers=2)) == [_worker_facts(0)]


def _thread_facts(item: int) -> tuple[int, int, int]:
    import torch

    time.sleep(0.01 * (item % 3))  # finish out of order
    return item, threading.get_ident(), torch.get_num_threads()


def test_map_threads_keeps_order_uses_one_torch_thread_each_and_restores():
    import torch

    before = torch.get_num_threads()
    results = list(map_threads(_thread_facts, range(12), workers=2))
    assert [item for item, _, _ in results] == list(range(12))
    assert len({ident for _, ident, _ in results}) == 2
    assert threading.get_ident() not in {ident for _, ident, _ in results}
    assert {threads for _, _, threads in results} == {1}
    assert torch.get_num_threads() == before
    # One worker: a plain map in this thread, torch left alone.
    assert list(map_threads(_thread_facts, [5], workers=1)) == [
        (5, threading.get_ident(), before)]


def test_map_threads_stops_early_and_passes_errors_on():
    import torch

    before = torch.get_num_threads()
    started = []

    def slow(item: int) -> int:
        started.append(item)
        time.sleep(0.01)
        if item == 3:
            raise ValueError("three")
        return item

    results = map_threads(slow, range(1000), workers=2)
    assert [next(results) for _ in range(2)] == [0, 1]
    results.close()
    time.sleep(0.05)
    assert len(started) <= 8  # at most 2 x workers in flight, the rest never started
    with pytest.raises(ValueError, match="three"):
        list(map_threads(slow, range(6), workers=2))
    assert torch.get_num_threads() == before


def test_overlapping_map_threads_keep_each_callers_torch_threads():
    """Two callers at once (say, two requests of a web server): each one's workers run torch on
    one thread, and each caller gets its own setting back, whichever finishes first."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        inside, release = threading.Event(), threading.Event()
        seen: list[int] = []
        after_first: list[int] = []

        def held(item: int) -> int:
            inside.set()
            release.wait(5)
            return torch.get_num_threads()

        def first_caller() -> None:
            torch.set_num_threads(2)
            seen.extend(map_threads(held, [0, 1], workers=2))
            after_first.append(torch.get_num_threads())

        first = threading.Thread(target=first_caller)
        first.start()
        assert inside.wait(5)
        assert list(map_threads(lambda i: torch.get_num_threads(), [0, 1, 2], 2)) == [1, 1, 1]
        assert torch.get_num_threads() == 2  # while the first caller still works
        release.set()
        first.join(5)
        assert seen == [1, 1] and after_first == [2]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_usable_cores_follow_the_cpu_affinity():
    assert usable_cores() == len(os.sched_getaffinity(0))
    script = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
              "from earmark.engine import usable_cores; print(usable_cores())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "1"


def _dies_on_poison(item: str) -> str:
    if item == "poison":
        os._exit(1)  # what a segfault in a decoder does to a worker: no exception, no result
    return item.upper()


def test_a_worker_that_dies_costs_only_its_own_item():
    items = ["a", "b", "poison", "c", "d", "e", "f"]
    got = list(map_files(_dies_on_poison, items, workers=2, preload=(),
                         on_crash=lambda item, reason: f"{item}: {reason}"))
    assert got[:2] + got[3:] == ["A", "B", "C", "D", "E", "F"]
    assert got[2].startswith("poison: the worker process analysing it died")
    with pytest.raises(BrokenProcessPool):
        list(map_files(_dies_on_poison, items, workers=2, preload=()))



def _touch(path: str) -> str:
    """A worker's item: mark it started (the file appears) and return it."""
    Path(path).touch()
    return path


def test_workers_never_run_far_ahead_of_a_slow_consumer(tmp_path):
    # Decoded songs are ~3 MB each and the network takes them slower than two workers decode:
    # the results not yet taken must stay bounded (AHEAD windows), or memory grows with the
    # library (it did: 334 MiB for 6 songs, 652 MiB for 129).
    from earmark.engine.local import AHEAD

    started = tmp_path / "started"
    started.mkdir()
    items = [str(started / f"{i:02d}") for i in range(60)]
    ahead = []
    for taken, result in enumerate(map_files(_touch, items, workers=2, preload=()), start=1):
        assert result == items[taken - 1]  # in order
        time.sleep(0.05)  # the slow consumer
        ahead.append(len(list(started.iterdir())) - taken)
    window = 2 * 2  # two unfinished items per worker
    assert max(ahead) <= AHEAD * window
    assert max(ahead) >= window  # the workers did run ahead, within the bound
