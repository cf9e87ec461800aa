"""earmark's commands on a real Ray cluster, driven by address from a process of their own:
the same catalog as the local engine (scan rows; float32 embeddings bit for bit), a Ray
worker killed mid-run (the run still finishes with every song) and a killed driver (the rerun
does only the rest)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from raytools import RAY_TESTS, TAGGERS, driver_environment, earmark, embeddings, scan_rows

from earmark.engine.ray import session_processes
from music import gtzan_clip, transcode

pytestmark = RAY_TESTS


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Four 8-second excerpts of real songs of four genres, as FLAC and MP3."""
    folder = tmp_path_factory.mktemp("music")
    for genre, fmt in [("blues", "flac"), ("jazz", "mp3"), ("metal", "flac"), ("pop", "mp3")]:
        transcode(gtzan_clip(genre), folder / f"{genre}.{fmt}", fmt, seconds=8)
    return folder


@pytest.fixture(scope="module")
def on_ray(ray_cluster):
    """The options and environment of a command run on the session's cluster."""
    return ["--address", ray_cluster.address], driver_environment(ray_cluster)


def test_scan_on_ray_records_the_same_rows_as_local(songs, on_ray, tmp_path):
    options, env = on_ray
    local = earmark("scan", songs, "--db", tmp_path / "local.sqlite", "--engine", "local")
    assert local.returncode == 0, local.stderr
    ray = earmark("scan", songs, "--db", tmp_path / "ray.sqlite", *options, env=env)
    assert ray.returncode == 0, ray.stderr
    rows = scan_rows(tmp_path / "ray.sqlite")
    assert len(rows) == 4 and all(row["status"] == "ok" for row in rows)
    assert rows == scan_rows(tmp_path / "local.sqlite")


def test_embed_on_ray_stores_the_same_float32_embeddings_bit_for_bit(songs, on_ray, tmp_path):
    options, env = on_ray
    for name, engine in [("local", ["--engine", "local"]), ("ray", options)]:
        done = earmark("embed", songs, "--db", tmp_path / f"{name}.sqlite", "--precision",
                       "float32", *engine, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("4 embedded, 0 already up to date, 0 failed")
    local, ray = embeddings(tmp_path / "local.sqlite"), embeddings(tmp_path / "ray.sqlite")
    assert sorted(ray) == sorted(local) and len(ray) == 2 * 4
    for key, vector in ray.items():
        assert vector.dtype == np.float32
        assert vector.tobytes() == local[key].tobytes(), key


def _busy_workers(cluster) -> list[int]:
    """Pids of the cluster's workers running a task now (Ray titles them ``ray::_run``); only
    this cluster's, found by the session its ``ray start`` began."""
    busy = []
    for pid in session_processes(cluster.process.pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_run"):
                busy.append(pid)
    return busy


def _run_until(command: list, env: dict, stop_when, timeout: float = 600):
    """Start an earmark ``command``; call ``stop_when(process)`` every 50 ms until it returns
    true or the command ends. Returns ``(process, stdout, stderr, stopped)``."""
    process = subprocess.Popen([sys.executable, "-m", "earmark", *map(str, command)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stopped = False
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline and not stopped:
        stopped = stop_when(process)
        time.sleep(0.05)
    out, err = process.communicate(timeout=timeout)
    return process, out, err, stopped


def test_a_ray_worker_killed_mid_run_still_embeds_every_song(songs, on_ray, ray_cluster,
                                                             tmp_path):
    options, env = on_ray
    db = tmp_path / "catalog.sqlite"

    def kill_a_busy_worker(_process) -> bool:
        busy = _busy_workers(ray_cluster)
        if busy:
            os.kill(busy[0], signal.SIGKILL)
        return bool(busy)

    process, out, err, killed = _run_until(["embed", songs, "--db", db, *options], env,
                                           kill_a_busy_worker)
    assert killed, "no Ray worker was seen at work"
    assert process.returncode == 0, err
    assert out.startswith("4 embedded, 0 already up to date, 0 failed")
    assert len(embeddings(db)) == 2 * 4


def test_a_killed_driver_loses_only_unfinished_songs_and_the_rerun_does_the_rest(
        songs, on_ray, tmp_path):
    options, env = on_ray
    db = tmp_path / "catalog.sqlite"
    # Three copies of the four songs under other names: twelve songs take long enough that
    # the 50 ms watcher, on a loaded machine, still finds songs unfinished to kill.
    library = tmp_path / "library"
    for copy in range(3):
        shutil.copytree(songs, library / f"copy {copy}")
    total = 3 * 4
    assert earmark("scan", library, "--db", db, *options, env=env).returncode == 0

    def kill_after_first_song(process) -> bool:
        if len(embeddings(db)) >= len(TAGGERS):  # one song stored, both taggers
            process.send_signal(signal.SIGKILL)
            return True
        return False

    # One song a network call, so there is a first song to kill after: by default the short
    # clips share one call and are stored together (tests/analysis covers that batching).
    process, _, _, killed = _run_until(["embed", "--db", db, "--batch-patches", "0", *options],
                                       env, kill_after_first_song)
    assert killed and process.returncode == -signal.SIGKILL
    kept = len(embeddings(db)) // len(TAGGERS)
    assert 1 <= kept < total
    rerun = earmark("embed", "--db", db, *options, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith(
        f"{total - kept} embedded, {kept} already up to date, 0 failed")
    assert len(embeddings(db)) == 2 * total
