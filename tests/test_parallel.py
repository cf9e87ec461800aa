"""map_files: the same results as a plain map, in order, from worker processes."""

from __future__ import annotations

import os
from functools import partial

from earmark.parallel import map_files
from earmark.scan import inspect_file


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
                   workers=2, preload=("earmark.scan",)))
    facts = list(map_files(_worker_facts, range(8), workers=2))
    assert os.getpid() not in {pid for pid, _ in facts}
    assert {threads for _, threads in facts} == {1}
    assert list(map_files(_worker_facts, [0], workers=2)) == [_worker_facts(0)]
