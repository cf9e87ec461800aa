"""The Ray engine keeps the engine contract on a real cluster: results in the items' order, a
bad item is a result, an exception of ``fn`` is the same exception as on the local engine, a
worker killed mid-item has its item run again, and an item that kills its worker every time
becomes ``on_crash``'s result while the rest of the batch goes on."""

from __future__ import annotations

import os
import signal
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from raytools import RAY_TESTS

from earmark.engine import LocalEngine

pytestmark = RAY_TESTS


@pytest.fixture(scope="module")
def engine(ray_driver):
    # Ray sends functions by reference (module and name); this test module is not importable
    # on the workers, so its functions travel by value.
    from ray import cloudpickle
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray_driver
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _reciprocal(x: float) -> tuple[float | None, str | None]:
    return (None, "zero has no reciprocal") if x == 0 else (1 / x, None)


def _raise_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def _die_once_on(marker: str, x: int) -> tuple[int, int]:
    """``(x, pid)``; the first call for ``x == 2`` kills its own worker instead."""
    if x == 2 and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x, os.getpid()


def _always_die_on_two(x: int) -> str:
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return f"ok {x}"


def _cache_dir(_item: object) -> str:
    from earmark.settings import settings
    return str(settings().cache_dir)


def _scaled(weights: np.ndarray, x: int) -> float:
    return float(weights.sum() * x)


def test_results_come_back_in_order_with_failures_as_results(engine):
    items = [4, 0, 2, 0.5, 8, 1, 0, 5]
    assert list(engine.map_files(_reciprocal, items)) == list(map(_reciprocal, items))


def test_an_exception_of_fn_is_raised_as_on_the_local_engine(engine):
    with pytest.raises(ValueError, match="three is not allowed"):
        list(engine.map_files(_raise_on_three, [1, 2, 3, 4]))
    with pytest.raises(ValueError, match="three is not allowed"):
        list(LocalEngine(1).map_files(_raise_on_three, [1, 2, 3, 4]))


def test_a_worker_killed_mid_item_has_the_item_run_again(engine, tmp_path):
    marker = tmp_path / "died"
    results = list(engine.map_files(partial(_die_once_on, str(marker)), [1, 2, 3, 4]))
    assert marker.exists()  # the worker did die on item 2
    assert [x for x, _ in results] == [1, 2, 3, 4]


def test_an_item_that_kills_every_worker_becomes_on_crash_and_the_rest_goes_on(engine):
    results = list(engine.map_files(_always_die_on_two, [1, 2, 3],
                                    on_crash=lambda item, reason: f"crashed {item}: {reason}"))
    assert results[0] == "ok 1" and results[2] == "ok 3"
    assert results[1].startswith("crashed 2: the Ray worker analysing it died 4 times")


def test_map_threads_sends_a_function_with_its_model_and_caps_the_items_in_flight(engine):
    weights = np.arange(100_000, dtype=np.float32)  # a stand-in for a model's weights
    fn = partial(_scaled, weights)
    assert list(engine.map_threads(fn, range(6), workers=1)) == [fn(x) for x in range(6)]
    assert engine.workers == 2  # the cluster's CPUs


def test_workers_of_the_local_cluster_find_the_drivers_model_cache(engine):
    # Their HOME is the cluster's temporary one: the converted models must not be looked for
    # (and converted again) under it.
    from earmark.settings import settings
    assert list(engine.map_files(_cache_dir, [1, 2])) == [str(settings().cache_dir)] * 2
