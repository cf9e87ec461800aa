"""Helpers of the Ray tests (conftest.py cannot be imported by name): driving a cluster by
address from an ``earmark`` command in a process of its own, a cluster whose workers cannot
see a folder, and what a catalog holds to compare runs with."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from earmark.catalog import Catalog, tracks
from earmark.catalog.embeddings import load_embeddings

#: The marks of every Ray test (each module's ``pytestmark``): the xdist group keeps them on
#: one worker, so one cluster at a time, in file order.
RAY_TESTS = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]

#: The taggers ``earmark embed`` runs by default.
TAGGERS = ("MSD_musicnn", "MTT_musicnn")


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


# strace prints e.g. {sa_family=AF_INET, sin_port=htons(6379), sin_addr=inet_addr("127.0.0.1")}
# and {sa_family=AF_INET6, ..., inet_pton(AF_INET6, "::1", &sin6_addr), ...}.
_CONNECT = re.compile(r"connect\(\d+, \{sa_family=(?P<family>AF_\w+)(?P<rest>[^}]*)\}")
_INET = re.compile(r'inet_addr\("(?P<ip>[^"]+)"\)')
_INET6 = re.compile(r'inet_pton\(AF_INET6, "(?P<ip>[^"]+)"')
#: Families that never leave the machine: Unix sockets, the kernel's netlink, and AF_UNSPEC
#: (a connect that dissolves a UDP socket's association).
_LOCAL_FAMILIES = {"AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"}


def _loopback(family: str, rest: str) -> str | None:
    """The address of an AF_INET/AF_INET6 connect, or ``None`` when it is loopback."""
    match = (_INET if family == "AF_INET" else _INET6).search(rest)
    ip = match["ip"] if match else rest.strip()
    if family == "AF_INET" and ip.startswith("127."):
        return None
    if family == "AF_INET6" and ip in ("::1", "::ffff:127.0.0.1"):
        return None
    return ip


def outside_connects(trace: str) -> tuple[list[str], int]:
    """``(connects to a non-loopback address, loopback TCP/UDP connects)`` in ``strace -f -e
    trace=connect`` output; a socket family not known to stay on the machine counts as
    outside."""
    outside, loopback = [], 0
    for line in trace.splitlines():
        match = _CONNECT.search(line)
        if match is None or match["family"] in _LOCAL_FAMILIES:
            continue
        if match["family"] in ("AF_INET", "AF_INET6"):
            address = _loopback(match["family"], match["rest"])
            if address is None:
                loopback += 1
                continue
        outside.append(line.strip())
    return outside, loopback


def embeddings(db) -> dict[tuple[str, str], np.ndarray]:
    """``{(tagger, path): embedding}`` of every song of the catalog ``db``."""
    with Catalog(db) as catalog:
        paths = {t.id: t.path for t in tracks.iter_tracks(catalog)}
        return {(model, paths[i]): vector for model in TAGGERS
                for i, vector in zip(*load_embeddings(catalog, model), strict=True)}


def scan_rows(db) -> list[dict]:
    """Every track as its scan recorded it, less the catalog's own id and times."""
    with Catalog(db) as catalog:
        return sorted(({k: v for k, v in dataclasses.asdict(t).items()
                        if k not in ("id", "added_at", "scanned_at")}
                       for t in tracks.iter_tracks(catalog)), key=lambda row: row["path"])


# Runs inside the private mount namespace: says whether the hidden folder still shows any
# file, starts earmark's local cluster the way earmark does, says where it is and keeps it
# until its standard input closes.
_HIDDEN_HEAD = """
import os, sys
from earmark.engine.ray import start_local_cluster
print("hidden" if not os.listdir(sys.argv[1]) else "visible", flush=True)
with start_local_cluster(2, timeout=300) as cluster:
    print(cluster.address, cluster.home, flush=True)
    sys.stdin.read()
"""


@dataclasses.dataclass
class HiddenCluster:
    """A one-node cluster whose processes cannot see a folder the test process sees:
    ``address``, ``environment`` (for a driver, as a :class:`LocalCluster`'s)."""

    address: str
    environment: dict[str, str]


@contextlib.contextmanager
def cluster_without(folder: Path, prefix: list[object] = ()) -> Iterator[HiddenCluster]:
    """A local cluster started (under ``prefix``, e.g. strace) inside a private user and mount
    namespace where an empty tmpfs is mounted over ``folder``: the nodes of a cluster without
    the driver's music. Skips the test where unprivileged user namespaces are refused."""
    from earmark.engine.ray import loopback_environment

    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is needed to hide a folder from the cluster")
    namespace = [unshare, "--user", "--map-root-user", "--mount"]
    probe = subprocess.run([*namespace, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("this machine refuses unprivileged user namespaces (unshare --user: "
                    f"{probe.stderr.strip()}), so no folder can be hidden from a cluster")
    inner = (f"mount -t tmpfs earmark-hidden {shlex.quote(str(folder))} && exec "
             f"{shlex.quote(sys.executable)} -c {shlex.quote(_HIDDEN_HEAD)} "
             f"{shlex.quote(str(folder))}")
    head = subprocess.Popen([*map(str, prefix), *namespace, "sh", "-c", inner],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        seen = head.stdout.readline().strip()
        assert seen == "hidden", f"the folder is not hidden in the namespace: {seen!r}"
        address, home = head.stdout.readline().split()
        yield HiddenCluster(address, loopback_environment(Path(home)))
    finally:
        head.stdin.close()  # the head stops its cluster and exits
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            head.kill()  # its cluster dies with it (PR_SET_PDEATHSIG)
            head.wait()
