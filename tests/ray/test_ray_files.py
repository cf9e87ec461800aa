"""Files as bytes when the nodes do not share a file system (issue 16 item 4): with
``files="bytes"`` workers read the driver's bytes, not the path, and scan and embed give the
local engine's catalog (float32 embeddings bit for bit); with ``"auto"`` a cluster that cannot
see the music (started in a private mount namespace where the folder is an empty tmpfs) gets
the bytes and gives the same catalog, still connecting to nothing but 127.0.0.1."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from raytools import (
    RAY_TESTS,
    TAGGERS,
    cluster_without,
    driver_environment,
    earmark,
    embeddings,
    outside_connects,
    scan_rows,
)

from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog
from earmark.engine import LocalEngine
from earmark.engine.files import file_stat, sent_file
from earmark.ingest.scan import scan
from earmark.settings import override_settings
from music import gtzan_clip, transcode

pytestmark = RAY_TESTS


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Three 8-second excerpts of real songs, as FLAC, MP3 and Ogg Vorbis."""
    folder = tmp_path_factory.mktemp("music")
    for genre, fmt in [("blues", "flac"), ("jazz", "mp3"), ("metal", "ogg")]:
        transcode(gtzan_clip(genre), folder / f"{genre}.{fmt}", fmt, seconds=8)
    return folder


@pytest.fixture(scope="module")
def engines(ray_driver):
    """``{files mode: RayEngine}`` on the session's cluster (one connection for all)."""
    from earmark.engine.ray import RayEngine
    from ray import cloudpickle
    # This module is not importable on the workers: its functions travel by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield {mode: RayEngine(ray_driver.address, files=mode)
           for mode in ("auto", "shared", "bytes")}
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _read_from(path: str) -> tuple[str, int]:
    """Where the worker read ``path`` from (``bytes`` sent by the driver, or the ``file``
    system) and the size it saw."""
    return ("bytes" if sent_file(path) else "file"), file_stat(path).st_size


def test_bytes_mode_has_workers_read_the_drivers_bytes_and_the_others_the_path(engines, songs):
    paths = sorted(str(p) for p in songs.iterdir())
    sizes = [(songs / p).stat().st_size for p in paths]
    for mode, source in [("bytes", "bytes"), ("auto", "file"), ("shared", "file")]:
        assert list(engines[mode].map_files(_read_from, paths)) == [
            (source, size) for size in sizes], mode


def test_bytes_are_read_for_a_bounded_number_of_files_at_a_time(engines, tmp_path):
    # The driver reads a file's bytes when it takes the item from the iterable: items taken
    # but not yet answered are the files whose bytes may be in the object store.
    paths = []
    for number in range(12):
        paths.append(tmp_path / f"{number}.wav")
        paths[-1].write_bytes(bytes(1000 + number))
    taken: list[Path] = []

    def items():
        for path in paths:
            taken.append(path)
            yield path

    engine = engines["bytes"]
    in_flight = []
    for done, answer in enumerate(engine.map_files(_read_from, items()), start=1):
        assert answer == ("bytes", 999 + done)
        in_flight.append(len(taken) - done + 1)  # the one just answered included
    assert max(in_flight) <= 2 * engine.workers
    assert len(taken) == 12


def test_items_that_name_no_file_travel_as_they_are(engines, tmp_path):
    items = [str(tmp_path / "no such file.mp3"), str(tmp_path), 7, ("a", "b")]
    assert list(engines["bytes"].map_files(repr, items)) == list(map(repr, items))


def test_a_scan_from_bytes_records_the_same_rows_as_local(engines, songs, tmp_path):
    for name, engine in [("local", LocalEngine(1)), ("bytes", engines["bytes"])]:
        with Catalog(tmp_path / f"{name}.sqlite") as catalog:
            report = scan(catalog, [songs], engine=engine)
        assert [item.status for item in report.items] == ["added"] * 3, name
    assert scan_rows(tmp_path / "bytes.sqlite") == scan_rows(tmp_path / "local.sqlite")


@pytest.mark.parametrize("batch_patches", [None, 0], ids=["batched", "one-song-a-call"])
def test_embeddings_from_bytes_equal_local_bit_for_bit(engines, songs, tmp_path, batch_patches):
    # Batched: songs decoded by map_files, the network on map_threads over groups; one song a
    # call: map_threads over the paths (as predict does).
    for name, engine in [("local", LocalEngine(2)), ("bytes", engines["bytes"])]:
        with override_settings(precision="float32"), \
                Catalog(tmp_path / f"{name}.sqlite") as catalog:
            scan(catalog, [songs], engine=LocalEngine(1))
            report = embed_tracks(catalog, engine=engine, batch_patches=batch_patches)
        assert [item.status for item in report.items] == ["embedded"] * 3, name
    local, sent = embeddings(tmp_path / "local.sqlite"), embeddings(tmp_path / "bytes.sqlite")
    assert sorted(sent) == sorted(local) and len(sent) == len(TAGGERS) * 3
    for key, vector in sent.items():
        assert vector.dtype == np.float32
        assert vector.tobytes() == local[key].tobytes(), key


def test_auto_sends_the_bytes_to_a_cluster_that_cannot_see_the_music(songs, tmp_path):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace (Debian package) is needed to watch the cluster's connects")
    music = tmp_path / "music"  # a folder of this test's own, hidden from the cluster
    shutil.copytree(songs, music)
    local = earmark("embed", music, "--db", tmp_path / "local.sqlite", "--precision",
                    "float32", "--engine", "local")
    assert local.returncode == 0, local.stderr
    cluster_trace, driver_trace = tmp_path / "cluster.trace", tmp_path / "driver.trace"
    watch = [strace, "-f", "-qq", "-e", "trace=connect", "-o"]
    with cluster_without(music, prefix=[*watch, cluster_trace]) as cluster:
        env = driver_environment(cluster)
        # The workers really cannot see the files: read at their paths, every one is missing.
        shared = earmark("scan", music, "--db", tmp_path / "shared.sqlite", "--json",
                         "--address", cluster.address, env=env | {"EARMARK_RAY_FILES": "shared"})
        assert shared.returncode == 1
        assert shared.stdout.count("file not found") == 3, shared.stdout
        done = earmark("embed", music, "--db", tmp_path / "auto.sqlite", "--precision",
                       "float32", "--address", cluster.address, env=env,
                       prefix=[*watch, driver_trace])
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("3 embedded, 0 already up to date, 0 failed")
    assert scan_rows(tmp_path / "auto.sqlite") == scan_rows(tmp_path / "local.sqlite")
    auto, local = embeddings(tmp_path / "auto.sqlite"), embeddings(tmp_path / "local.sqlite")
    assert sorted(auto) == sorted(local) and len(auto) == len(TAGGERS) * 3
    for key, vector in auto.items():
        assert vector.tobytes() == local[key].tobytes(), key
    for trace in (cluster_trace, driver_trace):
        outside, loopback = outside_connects(trace.read_text(errors="replace"))
        assert outside == [], trace.name
        assert loopback > 0, trace.name  # the trace did follow the processes
