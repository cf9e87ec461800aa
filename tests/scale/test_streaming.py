"""embed streams over the catalog: what it holds does not grow with the library when only a
few songs need work (issue 16 item 3)."""

from __future__ import annotations

import tracemalloc

import pytest
from scale_builders import embed_randomly, record_rows, write_library

from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog
from earmark.engine import LocalEngine

MODEL = "MSD_musicnn"
NEW_SONGS = 3
#: The smaller library; the larger is ten times this.
ROWS = 2_000


def _catalog_needing_a_few(root, rows: int) -> Catalog:
    """``rows`` tracks with an up-to-date embedding of :data:`MODEL` (rows only), and
    :data:`NEW_SONGS` real tiny files without one."""
    new = write_library(root / "new", NEW_SONGS)
    old = [str(root / "old" / f"{i:06d}.wav") for i in range(rows)]
    catalog = Catalog(root / "c.sqlite")
    ids = record_rows(catalog, new + old)
    embed_randomly(catalog, ids[NEW_SONGS:], MODEL)
    return catalog


def _embed_peak(catalog: Catalog) -> tuple[int, object]:
    """``(tracemalloc peak in bytes, report)`` of embedding what the catalog lacks."""
    tracemalloc.start()
    try:
        report = embed_tracks(catalog, MODEL, precision="float32", engine=LocalEngine(1))
        return tracemalloc.get_traced_memory()[1], report
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_embed_memory_does_not_grow_with_the_library(tmp_path):
    peaks = {}
    for rows in (ROWS, 10 * ROWS):
        with _catalog_needing_a_few(tmp_path / str(rows), rows) as catalog:
            peaks[rows], report = _embed_peak(catalog)
        assert len(report.done) == NEW_SONGS and report.up_to_date == rows
        assert report.items == [i for i in report.items if i.status == "embedded"]
    # Ten times the library, the same few songs: the same memory, give or take 1 MB (a Track
    # per song, as embed once read, is ~1 kB: ~20 MB more at 20,000 songs).
    assert peaks[10 * ROWS] < peaks[ROWS] + 1_000_000, peaks
