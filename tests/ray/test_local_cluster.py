"""earmark's own local cluster leaves nothing behind: stopped with the command that started
it, and killed with it when that command is killed outright (SIGKILL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from raytools import RAY_TESTS, earmark

from earmark.engine.ray import session_processes
from music import gtzan_clip, transcode

pytestmark = RAY_TESTS


@pytest.fixture
def own_tmp():
    """A temporary folder of the test's own for the command's ``TMPDIR``, where its cluster's
    folder goes, so clusters of tests running beside this one are not counted. Short: Ray's
    socket paths live under it."""
    folder = Path(tempfile.mkdtemp(prefix="er"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _cluster_folders(tmp: Path) -> set[Path]:
    return set(tmp.glob("earmark-ray-*"))


def _scan_on_a_cluster_of_its_own(folder: Path, tmp: Path) -> set[Path]:
    """Scan a short clip with ``--engine ray`` (no address); the cluster folders left."""
    folder.mkdir(parents=True, exist_ok=True)
    transcode(gtzan_clip("jazz"), folder / "jazz.flac", "flac", seconds=4)
    done = earmark("scan", folder / "jazz.flac", "--engine", "ray", "--db",
                   folder / "catalog.sqlite", env=os.environ | {"TMPDIR": str(tmp)})
    assert done.returncode == 0, done.stderr
    return _cluster_folders(tmp)


def test_a_command_stops_its_cluster_and_removes_its_folder(tmp_path, own_tmp):
    assert _scan_on_a_cluster_of_its_own(tmp_path, own_tmp) == set()


def test_a_driver_killed_outright_takes_its_cluster_with_it(tmp_path, own_tmp):
    transcode(gtzan_clip("jazz"), tmp_path / "jazz.flac", "flac", seconds=4)
    driver = subprocess.Popen([sys.executable, "-m", "earmark", "embed", tmp_path,
                               "--engine", "ray", "--db", str(tmp_path / "catalog.sqlite")],
                              env=os.environ | {"TMPDIR": str(own_tmp)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and driver.poll() is None:
            started = [f for f in _cluster_folders(own_tmp) if (f / "pid").exists()]
            if started:
                break
            time.sleep(0.2)
        assert started, "the command started no cluster"
        session = int((started[0] / "pid").read_text())
        while not session_processes(session) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session_processes(session)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 120
    while session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert session_processes(session) == []
    # The next cluster started removes the folder a killed driver could not.
    assert _scan_on_a_cluster_of_its_own(tmp_path / "next", own_tmp) == set()
    assert not started[0].exists()
