"""The Ray engine: the same ``(function, items)`` batches as the local engine, run as Ray tasks
on a cluster; the only module that imports ``ray``.

``RayEngine(address)`` connects to a running cluster (``"auto"``: the one started on this
machine with ``ray start``; ``"HOST:PORT"``: its head). Without an address it starts a
one-node cluster of its own with :func:`start_local_cluster`, for this process only, and
stops it when the process ends.

Workers decode and analyse; every result comes back to the driver (the process that runs the
command), which alone writes the catalog. An item that names a file (a path to a regular file
the driver sees) is read by the worker from shared storage, or from its bytes sent by the
driver with the task when the nodes do not share a file system (``files``, see
:class:`RayEngine`). Results come back in the order of the items. A
worker that dies mid-item (killed, out of memory) has its item run again by Ray
(``max_retries``); an item that kills its worker every time becomes ``on_crash(item, reason)``
as on the local engine.

A local cluster contacts nothing but 127.0.0.1 (:func:`loopback_environment` says how): a
default Ray start probes a cloud-metadata address and binds the machine's interface address.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from earmark.engine.files import SentFile, sent_files
from earmark.engine.setup import configure
from earmark.errors import EarmarkError
from earmark.settings import RAY_FILES, settings

T = TypeVar("T")
R = TypeVar("R")

LOOPBACK = "127.0.0.1"

#: Times Ray runs an item again after its worker died (killed, out of memory) before the item
#: counts as one that kills its worker (``on_crash``).
MAX_RETRIES = 3

#: A minimal autoscaler config: Ray reads ``~/ray_bootstrap_config.yaml`` to learn the cloud
#: it runs on and, when the file is missing, asks the cloud-metadata address 169.254.169.254
#: instead (even with usage statistics off).
_BOOTSTRAP_CONFIG = "cluster_name: earmark-local\nmax_workers: 0\nprovider:\n  type: local\n"


class RayEngineError(EarmarkError):
    """The Ray cluster could not be started or reached, or Ray is not installed."""


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RayEngineError("the ray engine needs Ray: pip install 'earmark[ray]'") from exc
    return ray


def loopback_environment(home: Path) -> dict[str, str]:
    """The environment variables that keep a one-node Ray cluster on 127.0.0.1, for the head,
    its workers and the driver alike (they must agree on ``RAY_AUTH_MODE``, or connections
    fail with ``InvalidAuthToken``).

    * ``HOME=home``, which holds :data:`_BOOTSTRAP_CONFIG` as ``ray_bootstrap_config.yaml``
      (see :func:`start_local_cluster`): no cloud-metadata probe;
    * ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: the node's address is 127.0.0.1 rather than
      the interface a UDP probe towards a public address finds (a second node then cannot
      join, which a local cluster never needs);
    * ``RAY_USAGE_STATS_ENABLED=0`` and ``RAY_enable_metrics_collection=0``: no usage report,
      no metrics exporter;
    * ``RAY_USAGE_STATS_REPORT_URL`` on 127.0.0.1: with usage statistics off, a cluster
      started by ``ray start`` still posts a one-off "disabled" report (from its dashboard
      process, which runs even without the dashboard) to usage-stats.ray.io; found by the
      strace test, as a DNS query;
    * token authentication with a fresh token in ``home/auth_token`` (``RAY_AUTH_MODE=token``,
      ``RAY_AUTH_TOKEN_PATH``): other users of this machine can reach 127.0.0.1 too.

    Only earmark's own local cluster gets these; a cluster given by address is the user's.
    """
    return {
        "HOME": str(home),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_enable_metrics_collection": "0",
        "RAY_USAGE_STATS_REPORT_URL": f"http://{LOOPBACK}:9/",  # the discard port: refused
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(home / "auth_token"),
    }


def use_cluster_environment(environment: dict[str, str]) -> None:
    """Make this process a driver of the local cluster whose :func:`loopback_environment` is
    ``environment`` (its ``HOME`` aside): same token, and 127.0.0.1 as this node's address.

    Must run before ``ray`` is first imported, which reads the node-address lever once: a
    driver importing Ray without it turns the address ``127.0.0.1:PORT`` into this machine's
    interface address. Raises :class:`RayEngineError` when Ray was imported already without
    the lever.
    """
    os.environ.update({k: v for k, v in environment.items() if k != "HOME"})
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and constants.ENABLE_RAY_CLUSTER:
        raise RayEngineError("Ray was imported before earmark could keep its local cluster on "
                             "127.0.0.1; start the command afresh")


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot name a Ray cluster (it must be ``auto`` or ``HOST:PORT``), or
    ``None`` when it can."""
    host, _, port = address.rpartition(":")
    if address == "auto" or (host.strip("[]") and port.isdigit() and 0 < int(port) < 65536):
        return None
    return f"the Ray address must be auto or HOST:PORT, not {address!r}"


def _check_head(address: str, timeout: float = 10.0) -> None:
    """Fail fast, with :class:`RayEngineError`, when ``HOST:PORT`` is malformed or nothing
    answers there (``ray.init`` would retry for minutes). A head on a loopback address is a
    one-node cluster on this machine: this process then keeps to loopback as its driver (Ray
    would otherwise turn 127.0.0.1 into this machine's interface address)."""
    problem = address_problem(address)
    if problem:
        raise RayEngineError(problem)
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayEngineError(f"cannot reach the Ray cluster at {address}: "
                             f"{exc.strerror or exc}") from exc
    if _is_loopback(host):
        use_cluster_environment({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # A driver killed outright (SIGKILL) cannot stop its cluster: the kernel does it instead.
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalCluster:
    """A one-node Ray cluster on 127.0.0.1 started by :func:`start_local_cluster`.

    ``address`` (``127.0.0.1:PORT``) is what a driver connects to, with :attr:`environment`
    (the :func:`loopback_environment`) in its own environment. :meth:`stop` ends every process
    of the cluster (the session of ``ray start``) and removes its folder; a context manager.
    """

    def __init__(self, process: subprocess.Popen, address: str, home: Path):
        self.process = process
        self.address = address
        self.home = home
        self.environment = loopback_environment(home)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """End every process of the cluster and remove its folder. Calling it again does
        nothing."""
        # SIGKILL: the cluster holds nothing worth saving (results went to the driver), and a
        # SIGTERM makes `ray start` drain the node for 30 s first. Workers run in process
        # groups of their own, but all stay in the session `ray start` began.
        for pid in [self.process.pid, *session_processes(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


def session_processes(session: int) -> list[int]:
    """Pids of the live processes in ``session`` (a session leader's pid), found in /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getsid(int(entry)) == session:
                    pids.append(int(entry))
    return pids


_FOLDER_PREFIX = "earmark-ray-"


def _remove_dead_clusters_folders() -> None:
    """Remove the folders of this user's local clusters whose ``ray start`` is gone: a driver
    killed outright takes its cluster with it (see :func:`_die_with_parent`) but cannot remove
    the folder (logs, the token)."""
    for folder in Path(tempfile.gettempdir()).glob(_FOLDER_PREFIX + "*"):
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            os.kill(int((folder / "pid").read_text()), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):  # starting right now, or not ours to judge
            continue


def start_local_cluster(cpus: int | None = None, *, timeout: float = 180.0) -> LocalCluster:
    """Start a one-node Ray cluster on this machine that contacts only 127.0.0.1: ``ray start
    --head --block`` in a session of its own, with :func:`loopback_environment`, no
    dashboard and ``cpus`` CPUs (default: all), in a fresh folder under the system's temporary
    folder (short, as Ray's socket paths must be).

    The cluster dies with this process, even when it is killed outright. Returns once the head
    accepts connections; raises :class:`RayEngineError` (with the end of Ray's output) when it
    has not within ``timeout`` seconds.
    """
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        _import_ray()  # says how to install it
        raise RayEngineError(f"no `ray` command beside {sys.executable}")
    _remove_dead_clusters_folders()
    home = Path(tempfile.mkdtemp(prefix=_FOLDER_PREFIX))
    (home / "ray_bootstrap_config.yaml").write_text(_BOOTSTRAP_CONFIG)
    (home / "auth_token").write_text(secrets.token_hex(32))
    (home / "auth_token").chmod(0o600)
    port = _free_port()
    command = [str(ray_cli), "start", "--head", "--block", f"--node-ip-address={LOOPBACK}",
               f"--port={port}", "--include-dashboard=false", "--disable-usage-stats",
               f"--temp-dir={home / 'ray'}"]
    if cpus is not None:
        command.append(f"--num-cpus={cpus}")
    log = open(home / "start.log", "wb")  # noqa: SIM115 - the cluster outlives this call
    with log:
        # The workers' HOME is the temporary one: give them this process's cache folder
        # (converted models), which would otherwise be looked for under it.
        env = os.environ | loopback_environment(home) | {
            "EARMARK_CACHE_DIR": str(settings().cache_dir)}
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent)
    (home / "pid").write_text(str(process.pid))
    cluster = LocalCluster(process, f"{LOOPBACK}:{port}", home)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if "Ray runtime started" in (home / "start.log").read_text(errors="replace"):
            return cluster
        time.sleep(0.2)
    output = (home / "start.log").read_text(errors="replace")[-2000:]
    cluster.stop()
    raise RayEngineError(f"the local Ray cluster did not start within {timeout:.0f} s:\n"
                         f"{output}")


def _cluster_messages_to_stderr() -> None:
    """Print the cluster's messages to the driver ("a worker died ... the task will be
    retried") on stderr, where earmark says how work went, not on stdout, which carries a
    command's results (``--json`` lines).

    Ray prints them from a thread of its own on ``sys.stdout`` and has no option for it, so
    this wraps its printing function (a private one: without it the messages only land on
    stdout again).
    """
    from ray._private import worker

    printer = worker.print_to_stdstream
    if getattr(printer, "earmark_stderr", False):
        return

    def to_stderr(data: dict, ignore_prefix: bool) -> None:
        printer({**data, "is_err": True}, ignore_prefix)

    to_stderr.earmark_stderr = True
    worker.print_to_stdstream = to_stderr


class _NeedBytes:
    """A worker's answer for a file it cannot see as the driver does: send its bytes."""


def _run(fn: Callable[[T], R], item: T, driver_stat: os.stat_result | None = None,
         data: bytes | None = None) -> R | _NeedBytes:
    """One item on a worker, set up as every process running earmark's work is.

    ``item`` is a file the driver found (:func:`_file_stat`) when ``driver_stat`` is given:
    with ``data`` (its bytes) ``fn`` reads them instead of the file system
    (:func:`earmark.engine.files.sent_files`); without, the worker must see the same file at
    the item's path (same size and modification time), else it answers :class:`_NeedBytes`.
    """
    # Ray already gives a task's process OMP_NUM_THREADS=1; configure sets torch to match, as
    # the local engine's workers, so results are the same arithmetic as there.
    configure(threads=1)
    if driver_stat is None:
        return fn(item)
    if data is not None:
        with sent_files({item: SentFile(data, driver_stat)}):
            return fn(item)
    return fn(item) if _sees_as_driver(item, driver_stat) else _NeedBytes()


def _sees_as_driver(path: str | os.PathLike, driver_stat: os.stat_result) -> bool:
    """Whether this node has the driver's file at ``path``: one there, of the same size and
    modification time."""
    try:
        here = os.stat(path)
    except OSError:
        return False
    return (here.st_size, here.st_mtime_ns) == (driver_stat.st_size, driver_stat.st_mtime_ns)


def _file_stat(item: object) -> os.stat_result | None:
    """The driver's stat of ``item`` when it names a regular file (a ``str`` or path-like
    that exists here), else ``None``: an item that is no file travels as it is."""
    if not isinstance(item, str | os.PathLike):
        return None
    try:
        found = os.stat(item)
    except (OSError, ValueError):  # ValueError: a NUL in a string that names no file
        return None
    return found if stat.S_ISREG(found.st_mode) else None


class _Task:
    """One item in flight: its current Ray task ``ref``; ``unanswered`` while it is a first
    try that may still answer :class:`_NeedBytes`; ``answer`` once fetched (else
    :data:`_UNSET`)."""

    __slots__ = ("answer", "item", "ref", "stat", "unanswered")

    def __init__(self, item: object, stat: os.stat_result | None):
        self.item, self.stat = item, stat
        self.ref = None
        self.unanswered = False
        self.answer: object = _UNSET


_UNSET = object()


class RayEngine:
    """The :class:`~earmark.engine.base.Engine` of a Ray cluster: every item is a Ray task of
    one CPU; at most ``2 * workers`` are in flight.

    Parameters
    ----------
    address : ``"auto"`` (the cluster ``ray start`` started on this machine), ``"HOST:PORT"``
        (a head node), or ``None``: a one-node cluster of this process's own
        (:func:`start_local_cluster`, ``workers`` CPUs), stopped when the process ends.
    workers : items in flight at once; default the cluster's CPUs.
    files : how workers get the file an item names (:data:`~earmark.settings.RAY_FILES`;
        default the settings' ``ray_files``, ``EARMARK_RAY_FILES``, else ``"auto"``):

        * ``"shared"``: at its path; every node sees the music at the same path;
        * ``"bytes"``: the driver reads the file and sends its bytes with the task (through
          Ray's object store); the worker reads them from memory
          (:mod:`earmark.engine.files`) and the file's stat is the driver's;
        * ``"auto"``: a task first runs without the bytes; a worker that does not see the
          file at its path with the driver's size and modification time answers so at once,
          and the driver sends it again with the bytes. Shared storage costs one ``stat``
          a file.

        Bytes go a bounded number of files at a time: those of the items in flight.

    Connecting happens on first use (or :meth:`connect`) and raises :class:`RayEngineError`
    when Ray is missing or the cluster cannot be reached.
    """

    def __init__(self, address: str | None = None, workers: int | None = None,
                 files: str | None = None):
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if files is not None and files not in RAY_FILES:
            raise ValueError(f"files must be one of {', '.join(RAY_FILES)}, not {files!r}")
        self.address = address
        self._workers = workers
        self._files = files
        self._cluster: LocalCluster | None = None

    def __repr__(self) -> str:
        return f"RayEngine(address={self.address!r}, workers={self._workers}, files={self.files!r})"

    @property
    def files(self) -> str:
        """How workers get the files of items that name one (:data:`~earmark.settings.RAY_FILES`):
        the ``files`` given, else the settings' ``ray_files`` (``EARMARK_RAY_FILES``)."""
        return self._files or settings().ray_files

    @property
    def workers(self) -> int:
        """Items in flight at once: the ``workers`` given, else the cluster's CPUs."""
        if self._workers is not None:
            return self._workers
        ray = self.connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def connect(self):
        """Connect this process to the cluster (once; starting the local one if there is no
        address) and return the ``ray`` module."""
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            return sys.modules["ray"]
        address = self.address
        if address is None:
            self._cluster = start_local_cluster(self._workers)
            atexit.register(self.close)
            use_cluster_environment(self._cluster.environment)
            address = self._cluster.address
        elif address != "auto":
            _check_head(address)
        ray = _import_ray()
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            self.close()
            raise RayEngineError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
        _cluster_messages_to_stderr()
        return ray

    def close(self) -> None:
        """Disconnect, and stop the local cluster this engine started (if any)."""
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None

    def map_files(self, fn: Callable[[T], R], items: Iterable[T], *,
                  preload: tuple[str, ...] = (),
                  on_crash: Callable[[T, str], R] | None = None,
                  chunksize: int = 1) -> Iterator[R]:
        """``map(fn, items)`` as Ray tasks, results in order (see the engine contract).

        ``preload`` and ``chunksize`` change nothing here: a Ray worker imports what ``fn``
        needs once and keeps it, and each item is a task of its own.
        """
        return self._map(fn, items, on_crash, self.workers)

    def map_threads(self, fn: Callable[[T], R], items: Iterable[T], *,
                    workers: int | None = None) -> Iterator[R]:
        """``map(fn, items)`` as Ray tasks, at most ``workers`` at once (default the engine's);
        ``fn`` (with its model) is sent to the cluster once, not per item."""
        return self._map(fn, items, None, min(workers or self.workers, self.workers))

    def _map(self, fn: Callable[[T], R], items: Iterable[T],
             on_crash: Callable[[T, str], R] | None, at_once: int) -> Iterator[R]:
        ray = self.connect()
        from ray.exceptions import RayTaskError

        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_run)
        shared_fn = ray.put(fn)  # one copy in the object store, whatever the items
        files = self.files

        def start(task: _Task, send_bytes: bool) -> None:
            data = None
            if send_bytes:
                try:
                    with open(task.item, "rb") as handle:
                        # The stat of what was read, should the file have changed since.
                        task.stat = os.fstat(handle.fileno())
                        data = ray.put(handle.read())
                except OSError:  # gone or unreadable now: fn says so where it runs
                    task.stat = None
            task.unanswered = data is None and task.stat is not None and files == "auto"
            task.ref = remote.remote(shared_fn, task.item, task.stat, data)
            task.answer = _UNSET

        # At most 2 * at_once items in flight: that bounds the files whose bytes are in the
        # object store at once too (an item's are freed when its result is taken).
        pending: deque[_Task] = deque()
        try:
            for item in items:
                # Shared storage: workers open the path as it is, with no stat to compare.
                task = _Task(item, None if files == "shared" else _file_stat(item))
                start(task, task.stat is not None and files == "bytes")
                pending.append(task)
                if len(pending) >= 2 * at_once:
                    yield self._next(ray, pending, start, on_crash)
            while pending:
                yield self._next(ray, pending, start, on_crash)
        except RayTaskError as exc:  # fn raised: the same exception as on the local engine
            raise exc.as_instanceof_cause() from None
        finally:
            for task in pending:
                ray.cancel(task.ref, force=True)

    @staticmethod
    def _next(ray, pending: deque[_Task], start: Callable[[_Task, bool], None],
              on_crash) -> object:
        """The result of the first item in ``pending`` (taken out), once it is there.

        Meanwhile every first try that answers :class:`_NeedBytes` (a worker that lacks its
        file) is started again with the file's bytes as soon as it answers, not when its
        turn comes, so the workers keep busy.
        """
        head = pending[0]
        while any(task.unanswered for task in pending):
            watched = [task for task in pending if task.unanswered or task is head]
            refs = [task.ref for task in watched]
            ray.wait(refs, num_returns=1)
            ready = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0])
            for task in watched:
                if task.unanswered and task.ref in ready:
                    task.unanswered = False
                    with contextlib.suppress(Exception):  # raised again in its turn
                        task.answer = ray.get(task.ref)
                    if isinstance(task.answer, _NeedBytes):
                        start(task, True)
            if not head.unanswered and head.ref in ready:
                break
        pending.popleft()
        if head.answer is not _UNSET:
            return head.answer
        from ray.exceptions import WorkerCrashedError
        try:
            return ray.get(head.ref)
        except WorkerCrashedError:
            if on_crash is None:
                raise
            return on_crash(head.item, f"the Ray worker analysing it died {MAX_RETRIES + 1} "
                                       "times (the decoder crashed or ran out of memory)")

    def run_trials(
        self, objective: Callable[[dict], dict], space: Callable[[object], None], *,
        n_trials: int, mode: str, seed: int, timeout: float | None = None,
        on_trial: Callable[[int, str], None] | None = None,
    ) -> list[dict]:
        """A hyper-parameter search with Ray Tune: each trial is a Ray task of one CPU, at
        most :attr:`workers` at once, parameters from Optuna's seeded TPE sampler
        (``OptunaSearch`` over the define-by-run ``space``). The contract is
        :class:`~earmark.engine.base.TrialRunner`'s.

        Trials run to their end (no pruning: trials run side by side, so a median of finished
        ones is rarely there to prune against), and with several at once the sampler sees
        results in the order they finish, so a search is seeded but not repeatable trial for
        trial. Tune keeps its files in a temporary folder, removed afterwards, writes no log
        files (``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS``) and leaves Ctrl-C to earmark.

        Raises :class:`RayEngineError` when Ray Tune is not installed or the cluster cannot be
        reached.
        """
        self.connect()
        with _tune_environment():
            try:
                from ray.tune.search.optuna import OptunaSearch

                from ray import tune
            except ImportError as exc:
                raise RayEngineError("earmark tune --engine ray needs Ray Tune: "
                                     "pip install 'earmark[ray]'") from exc
            trainable = tune.with_resources(
                tune.with_parameters(_run_trial, objective=objective), {"cpu": 1})
            search = OptunaSearch(space, metric="value", mode=mode, seed=seed)
            callbacks = [_trial_ended_callback(on_trial)] if on_trial is not None else []
            with tempfile.TemporaryDirectory(prefix="earmark-tune-") as folder:
                tuner = tune.Tuner(
                    trainable,
                    tune_config=tune.TuneConfig(
                        search_alg=search, num_samples=n_trials, time_budget_s=timeout,
                        max_concurrent_trials=self.workers),
                    run_config=tune.RunConfig(storage_path=folder, name="search", verbose=0,
                                              callbacks=callbacks))
                grid = tuner.fit()
                return [_trial_outcome(number, result) for number, result in enumerate(grid)]


class _TrialFailed(Exception):
    """A trial's objective gave no value; the message is its ``reason``."""


def _run_trial(params: dict, objective: Callable[[dict], dict]) -> None:
    """One trial on a worker: the objective's outcome reported to Tune, a failed one raised
    (so the sampler records the trial as failed) with its reason."""
    from ray import tune

    configure(threads=1)  # as _run: the same arithmetic as the local engine's workers
    outcome = objective(params)
    if outcome.get("value") is None:
        raise _TrialFailed(outcome.get("reason") or "no value")
    tune.report({"value": float(outcome["value"]), "note": outcome.get("note") or ""})


def _trial_outcome(number: int, result) -> dict:
    """One trial of a Tune ``ResultGrid`` in the :class:`TrialRunner` shape."""
    if result.error is not None:
        cause = getattr(result.error, "cause", None) or result.error
        reason = str(cause).strip().splitlines()[-1] if str(cause).strip() else \
            type(cause).__name__
        return {"number": number, "state": "fail", "params": dict(result.config),
                "value": None, "reason": reason, "note": None}
    return {"number": number, "state": "complete", "params": dict(result.config),
            "value": float(result.metrics["value"]), "reason": None,
            "note": result.metrics.get("note") or None}


@contextlib.contextmanager
def _tune_environment() -> Iterator[None]:
    """Tune's settings for earmark's search, for its duration: no CSV/JSON/TensorBoard logs
    (nothing reads them: the trials come back as results), no progress tables (the older
    reporter, which ``verbose=0`` silences; the newer one prints its table anyway), no
    tracebacks of failed trials (their reasons come back as results), and Ctrl-C raised as
    usual instead of Tune's own two-step stop."""
    levers = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_DISABLE_SIGINT_HANDLER": "1",
              "RAY_AIR_NEW_OUTPUT": "0"}
    before = {name: os.environ.get(name) for name in levers}
    os.environ.update(levers)
    tune_log = logging.getLogger("ray.tune")
    level = tune_log.level
    tune_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        tune_log.setLevel(level)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _trial_ended_callback(on_trial: Callable[[int, str], None]):
    """A Tune callback that calls ``on_trial(done, state)`` in the driver as each trial
    ends."""
    from ray.tune import Callback

    class TrialEnded(Callback):
        def __init__(self, on_trial: Callable[[int, str], None]) -> None:
            self.on_trial = on_trial
            self.done = 0

        def __getstate__(self) -> dict:
            # Tune pickles its callbacks with the search's state (to restore a search, which
            # earmark never does); on_trial may hold what cannot be pickled (a progress bar).
            return {"on_trial": None, "done": self.done}

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self._ended("complete")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self._ended("fail")

        def _ended(self, state: str) -> None:
            self.done += 1
            if self.on_trial is not None:
                self.on_trial(self.done, state)

    return TrialEnded(on_trial)


_shared: RayEngine | None = None


def shared_engine(address: str | None = None, workers: int | None = None) -> RayEngine:
    """This process's one :class:`RayEngine` (a process is the driver of one cluster): made on
    first call, then returned again, with ``workers`` updated where given.

    Raises :class:`RayEngineError` when asked for another ``address`` than the first call's.
    """
    global _shared
    if _shared is None:
        _shared = RayEngine(address, workers)
    elif _shared.address != address:
        raise RayEngineError(f"this process already runs on the Ray cluster at "
                             f"{_shared.address or 'its own local cluster'}, not {address}")
    elif workers is not None:
        _shared._workers = workers
    return _shared
