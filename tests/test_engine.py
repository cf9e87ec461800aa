"""The engine seam: batches run on the engine they are given, configure() sets a process up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog, tracks
from earmark.engine import Engine, LocalEngine, default_engine
from earmark.ingest.scan import scan
from earmark.settings import override_settings
from music import gtzan_clip, transcode


class CountingEngine(LocalEngine):
    """The local engine, noting each batch it is handed: ``(method, items)``."""

    def __init__(self, workers: int | None = None):
        super().__init__(workers)
        self.calls: list[tuple[str, list]] = []

    def map_files(self, fn, items, **options):
        items = list(items)
        self.calls.append(("map_files", items))
        return super().map_files(fn, items, **options)

    def map_threads(self, fn, items, **options):
        items = list(items)
        self.calls.append(("map_threads", items))
        return super().map_threads(fn, items, **options)


@pytest.fixture(scope="module")
def two_songs(tmp_path_factory):
    """3 s of real jazz and metal, and a damaged file beside them."""
    folder = tmp_path_factory.mktemp("two")
    jazz = transcode(gtzan_clip("jazz", 1), folder / "jazz.mp3", "mp3", seconds=3, start=9)
    metal = transcode(gtzan_clip("metal", 4), folder / "metal.ogg", "ogg", seconds=3, start=3)
    (folder / "broken.flac").write_bytes(b"fLaC" + bytes(300))
    return {"jazz": str(jazz), "metal": str(metal), "broken": str(folder / "broken.flac"),
            "folder": folder}


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_runs_on_the_engine_it_is_given(two_songs, tmp_path, workers):
    engine = CountingEngine(workers)
    with Catalog(tmp_path / "c.sqlite") as catalog:
        report = scan(catalog, [two_songs["folder"]], engine=engine)
        assert [(method, sorted(items)) for method, items in engine.calls] == [
            ("map_files", sorted([two_songs["jazz"], two_songs["metal"], two_songs["broken"]]))]
        status = {item.path: item.status for item in report.items}
        assert status == {two_songs["jazz"]: "added", two_songs["metal"]: "added",
                          two_songs["broken"]: "failed"}
        # unchanged files are not inspected again: the engine gets nothing to do
        engine.calls.clear()
        again = scan(catalog, [two_songs["folder"]], engine=engine)
        assert engine.calls == [("map_files", [])]
        assert {item.status for item in again.items} == {"unchanged"}


def test_embed_runs_on_the_engine_it_is_given(two_songs, tmp_path):
    engine = CountingEngine(2)
    with Catalog(tmp_path / "c.sqlite") as catalog:
        scan(catalog, [two_songs["folder"]], engine=LocalEngine(1))
        ids = [tracks.get_track(catalog, two_songs[name]).id
               for name in ("jazz", "broken", "metal")]
        report = embed_tracks(catalog, "MTT_musicnn", ids, precision="float32", engine=engine)
        # Songs are decoded in the engine's processes, then their patches go to the network
        # together: one group, one map_threads call (analysis.embed's batch_patches).
        playable = sorted([two_songs["jazz"], two_songs["metal"]])
        assert [(method, len(items)) for method, items in engine.calls] == [
            ("map_files", 2), ("map_threads", 1)]
        assert engine.calls[0][1] == playable
        [group] = engine.calls[1][1]
        assert [path for path, _decoded in group] == playable
        assert len(report.done) == 2 and report.up_to_date == 0
        [(path, reason)] = report.failed
        assert path == two_songs["broken"] and reason.startswith("unreadable: ")
        # up to date now: nothing for the engine
        engine.calls.clear()
        again = embed_tracks(catalog, "MTT_musicnn", ids, precision="float32", engine=engine)
        assert engine.calls == [] and again.up_to_date == 2 and again.done == []
        # the up-to-date songs are counted, not listed
        assert {item.path: item.status for item in again.items} == {
            two_songs["broken"]: "failed"}


def test_default_engine_is_the_local_one_with_the_settings_workers():
    with override_settings(workers=3):
        engine = default_engine()
        assert isinstance(engine, LocalEngine) and engine.workers == 3
    assert isinstance(engine, Engine)  # the local engine meets the protocol
    assert default_engine().workers == LocalEngine().workers  # default: one per usable core
    with pytest.raises(ValueError, match="at least 1"):
        LocalEngine(0)


def test_local_engine_caps_threads_and_keeps_order():
    engine = LocalEngine(2)
    threads = list(engine.map_threads(lambda i: i * i, range(7), workers=1))
    assert threads == [i * i for i in range(7)]
    assert list(engine.map_threads(abs, [-3, 2, -1])) == [3, 2, 1]


_CONFIGURE = """
import json, os, sys
from earmark.engine import configure
first = configure()
second = configure()
before_torch = "torch" in sys.modules
one = configure(threads=1)
omp = os.environ.get("OMP_NUM_THREADS")
import torch
two = configure(threads=2)
kept = configure()
from earmark.engine.device import pick_device
print(json.dumps({
    "same": first == second, "first": list(first.__dict__.values()),
    "policy": os.environ["OMP_WAIT_POLICY"], "torch_before": before_torch,
    "omp_threads": omp, "one": one.threads, "torch_threads": torch.get_num_threads(),
    "two": two.threads, "kept": kept.threads, "device": str(pick_device()),
}))
"""


def _configure_in_a_fresh_process(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS") and not k.startswith("EARMARK_")}
    out = subprocess.run([sys.executable, "-c", _CONFIGURE], capture_output=True, text=True,
                         check=True, env={**clean, **env})
    return json.loads(out.stdout)


def test_configure_is_idempotent_and_sets_what_it_promises():
    got = _configure_in_a_fresh_process()
    assert got["same"] and got["first"] == ["PASSIVE", None, None, "local"]
    assert got["policy"] == "PASSIVE" and not got["torch_before"]
    assert got["omp_threads"] == "1" and got["one"] == 1
    assert got["torch_threads"] == 2 and got["two"] == 2 and got["kept"] == 2
    assert got["device"] in ("cpu", "cuda", "mps")


def test_configure_keeps_the_users_wait_policy_and_takes_the_device_setting():
    got = _configure_in_a_fresh_process(OMP_WAIT_POLICY="ACTIVE", EARMARK_DEVICE="cpu")
    assert got["policy"] == "ACTIVE" and got["first"] == ["ACTIVE", None, "cpu", "local"]
    assert got["device"] == "cpu"


def test_the_command_line_configures_the_process_and_refuses_bad_settings():
    clean = {k: v for k, v in os.environ.items()
             if k != "OMP_WAIT_POLICY" and not k.startswith("EARMARK_")}
    code = "import os, earmark.cli; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=clean)
    assert out.stdout.strip() == "PASSIVE"
    bad = subprocess.run([sys.executable, "-m", "earmark", "--help"], capture_output=True,
                         text=True, env={**clean, "EARMARK_WORKERS": "0"})
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: $EARMARK_WORKERS: workers must be at least 1, not 0"


# A pool of two workers busy with long items; the parent is interrupted after the first result.
_INTERRUPTED_POOL = """
import os, signal, sys, threading, time
from earmark.engine.local import map_files
if __name__ == "__main__":
    start = time.monotonic()
    results = map_files(time.sleep, [0.1, 60, 60, 60], workers=2, preload=())
    next(results)
    if sys.argv[1] == "close":
        results.close()  # the consumer stops early
    else:
        print("busy", flush=True)
        try:
            next(results)
        except KeyboardInterrupt:
            pass
    print(f"{time.monotonic() - start:.1f}", flush=True)
"""


@pytest.mark.parametrize("how", ["ctrl-c", "close"])
def test_a_stopped_pool_ends_its_workers_at_once_without_tracebacks(how):
    """Ctrl-C in a terminal signals the whole process group: the workers ignore it (no
    traceback from each), the parent cancels what is pending and ends the busy workers, so
    the process exits in seconds, not after the 60 s items; a consumer that stops early
    (``close()``) ends them the same way."""
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_POOL, how], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # its own process group, as a terminal's
    if how == "ctrl-c":
        assert proc.stdout.readline() == "busy\n"
        time.sleep(1)  # both workers are well into their 60 s items
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err == ""
    assert float(out.split()[-1]) < 15
