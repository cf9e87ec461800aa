"""Re-scanning a big unchanged library compares file metadata (size, modification time) with
one bulk read of the catalog and never opens a file (issue 16 item 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from scale_builders import write_library

from earmark.catalog import Catalog, tracks
from earmark.engine import LocalEngine
from earmark.ingest.scan import scan
from test_scan import without_root_file_access

N_FILES = 300


@pytest.fixture
def scanned(tmp_path):
    """A library of :data:`N_FILES` tiny distinct WAV files, really scanned once; returns
    ``(catalog file, library folder, paths)``."""
    paths = write_library(tmp_path / "lib", N_FILES)
    db = tmp_path / "c.sqlite"
    with Catalog(db) as catalog:
        report = scan(catalog, [tmp_path / "lib"], engine=LocalEngine(1))
    assert report.count("added") == N_FILES
    return db, tmp_path / "lib", paths


def _rescan(db, root) -> dict[str, tuple[str, str | None]]:
    """``earmark scan --json`` of ``root`` by a process without root's right to read files of
    mode 000: ``{path: (action, reason)}``."""
    out = subprocess.run(
        without_root_file_access([sys.executable, "-m", "earmark", "scan", "--json", "--db",
                                  str(db), str(root)]),
        capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return {row["path"]: (row["action"], row["reason"])
            for row in map(json.loads, out.stdout.splitlines())}


def test_rescan_of_an_unchanged_library_reads_no_file_content(scanned):
    db, root, paths = scanned
    for path in paths:
        os.chmod(path, 0o000)  # any attempt to hash or decode would now fail
    result = _rescan(db, root)
    assert result == {path: ("unchanged", None) for path in paths}


def test_rescan_rechecks_a_touched_file_and_a_file_whose_size_changed(scanned):
    db, root, paths = scanned
    touched, grown, kept = paths[10], paths[20], paths[30]
    st = os.stat(touched)
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    st = os.stat(grown)
    with open(grown, "ab") as f:
        f.write(b"\0\0")  # two bytes more, with the same modification time
    os.utime(grown, ns=(st.st_atime_ns, st.st_mtime_ns))
    for path in paths:
        if path != touched:
            os.chmod(path, 0o000)
    result = _rescan(db, root)
    assert result[touched] == ("updated", None)
    # Re-checked: reading it fails now, where an unchanged file is never read.
    assert result[grown] == ("failed", "permission denied")
    assert result[kept] == ("unchanged", None)
    assert sum(action == "unchanged" for action, _ in result.values()) == N_FILES - 2
    with Catalog(db) as catalog:
        assert tracks.get_track(catalog, touched).mtime_ns == os.stat(touched).st_mtime_ns


def test_a_file_given_as_root_is_unchanged_on_rescan(scanned):
    db, _, paths = scanned
    with Catalog(db) as catalog:
        report = scan(catalog, [paths[0]], engine=LocalEngine(1))
    assert [(i.path, i.status) for i in report.items] == [(paths[0], "unchanged")]


def test_file_states_is_the_recorded_size_and_time_of_each_track_under_a_folder(scanned):
    db, root, paths = scanned
    with Catalog(db) as catalog:
        states = tracks.file_states(catalog, root / "Artist 0000")
        everything = tracks.file_states(catalog)
    under = [p for p in paths if p.startswith(str(root / "Artist 0000") + os.sep)]
    assert sorted(states) == under and len(everything) == N_FILES
    for path in under:
        st = os.stat(path)
        assert states[path] == (st.st_size, st.st_mtime_ns)
