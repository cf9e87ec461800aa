"""Helpers of the Ray tests (conftest.py cannot be imported by name): driving a cluster by
address from an ``earmark`` command in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: The marks of every Ray test (each module's ``pytestmark``): the xdist group keeps them on
#: one worker, so one cluster at a time, in file order.
RAY_TESTS = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]


def driver_environment(cluster) -> dict[str, str]:
    """The environment of an ``earmark`` command that drives ``cluster`` by its address: the
    cluster's token and node-address lever, the rest of this process's environment."""
    return os.environ | {k: v for k, v in cluster.environment.items() if k != "HOME"}


def earmark(*args: object, env: dict[str, str] | None = None, timeout: float = 900,
            prefix: list[object] = ()) -> subprocess.CompletedProcess:
    """Run the ``earmark`` command line in a process of its own (under ``prefix``, e.g.
    strace); generous ``timeout``: Ray starts slowly on a busy machine."""
    command = [*prefix, sys.executable, "-m", "earmark", *args]
    return subprocess.run(list(map(str, command)), env=env, capture_output=True, text=True,
                          timeout=timeout)
