"""A real local Ray cluster for the tests in this folder: one node on 127.0.0.1, started once
per session the way earmark starts its own (:func:`earmark.engine.ray.start_local_cluster`),
and stopped (every process of it) at the end, whatever happened.

Every test module here sets ``pytestmark = RAY_TESTS`` (from ``raytools``): marked ``ray`` and
``slow`` and in one xdist group, so ``pytest -n 2 --dist loadgroup`` runs them on one worker, in
file order, ``test_00_loopback`` first. (pytest 9.2 with pytest-xdist 3.8 does not honour the
group: xdist renames ``item._nodeid``, which pytest 9.2 no longer reads. The tests are safe
beside each other anyway: each xdist worker gets its own cluster, and the tests that count
clusters look in a temporary folder of their own.)
"""

from __future__ import annotations

import importlib.util
import sys

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """A running one-node cluster with two CPUs (``.address``, ``.environment``)."""
    if importlib.util.find_spec("ray") is None:  # not imported here: see use_cluster_environment
        pytest.skip("Ray is not installed (pip install 'earmark[ray]')")
    from earmark.engine.ray import start_local_cluster
    # Ray's start is slow on a busy machine: a generous limit.
    cluster = start_local_cluster(2, timeout=300)
    try:
        yield cluster
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        cluster.stop()


@pytest.fixture(scope="session")
def ray_driver(ray_cluster):
    """This test process as a driver of :func:`ray_cluster`: a connected ``RayEngine``."""
    from earmark.engine.ray import RayEngine, use_cluster_environment
    use_cluster_environment(ray_cluster.environment)
    engine = RayEngine(ray_cluster.address)
    engine.connect()
    return engine
