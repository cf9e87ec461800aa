"""earmark's own local cluster leaves nothing behind: stopped with the command that started
it, and killed with it when that command is killed outright (SIGKILL)."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from raytools import RAY_TESTS, earmark

from earmark.engine.ray import session_processes
from music import gtzan_clip, transcode

pytestmark = RAY_TESTS


def _cluster_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("earmark-ray-*"))


def _scan_on_a_cluster_of_its_own(folder: Path) -> set[Path]:
    """Scan a short clip with ``--engine ray`` (no address); the cluster folders it left."""
    folder.mkdir(parents=True, exist_ok=True)
    transcode(gtzan_clip("jazz"), folder / "jazz.flac", "flac", seconds=4)
    before = _cluster_folders()
    done = earmark("scan", folder / "jazz.flac", "--engine", "ray", "--db",
                   folder / "catalog.sqlite")
    assert done.returncode == 0, done.stderr
    return _cluster_folders() - before


def test_a_command_stops_its_cluster_and_removes_its_folder(tmp_path):
    assert _scan_on_a_cluster_of_its_own(tmp_path) == set()


def test_a_driver_killed_outright_takes_its_cluster_with_it(tmp_path):
    transcode(gtzan_clip("jazz"), tmp_path / "jazz.flac", "flac", seconds=4)
    before = _cluster_folders()
    driver = subprocess.Popen([sys.executable, "-m", "earmark", "embed", tmp_path,
                               "--engine", "ray", "--db", str(tmp_path / "catalog.sqlite")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and driver.poll() is None:
            started = [f for f in _cluster_folders() - before if (f / "pid").exists()]
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
    assert _scan_on_a_cluster_of_its_own(tmp_path / "next") == set()
    assert not started[0].exists()
