"""The library's numbers (earmark.catalog.stats), behind the dashboard and `earmark stats`:
counts of analysed, failed and untagged songs from a real scan of real music, ratings so far,
and the genre distribution of the files' tags."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from mutagen.flac import FLAC

from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.stats import genre_counts, library_stats
from earmark.catalog.tracks import get_track
from earmark.ingest.scan import scan
from earmark.taste.model import DEFAULT_EMBEDDING


@pytest.fixture
def catalog(tmp_path):
    with Catalog(tmp_path / "catalog.sqlite") as cat:
        yield cat


def _library(music_files, tmp_path, genres: list[str | None]):
    """Real FLAC copies, one per entry of ``genres`` (its GENRE tag, several values split on
    '|'; ``None``: no genre), and one empty file that cannot be used."""
    folder = tmp_path / "music"
    folder.mkdir()
    files = []
    for i, genre in enumerate(genres):
        dst = folder / f"song {i}.flac"
        shutil.copyfile(music_files["flac"], dst)
        if genre is not None:
            audio = FLAC(dst)
            audio["GENRE"] = genre.split("|")
            audio.save()
        files.append(dst)
    (folder / "broken.mp3").write_bytes(b"")
    return folder, files


def test_counts_analysed_failed_untagged_and_ratings(catalog, music_files, tmp_path):
    folder, files = _library(music_files, tmp_path,
                             ["Rock", "rock|Jazz", "Jazz", None, "Rock", None, "Blues"])
    scan(catalog, [folder], verify=False)
    rng = np.random.default_rng(0)
    ids = [get_track(catalog, f).id for f in files]
    for track_id, path in zip(ids[:6], files, strict=False):
        store_embedding(catalog, track_id, DEFAULT_EMBEDDING, rng.normal(size=8),
                        get_track(catalog, path).content_hash)
    for track_id, verdict in zip(ids, ["like", "dislike", "like", "skip"], strict=False):
        ratings.add_rating(catalog, track_id, verdict)
    ratings.add_rating(catalog, ids[4], None, stars=3)
    ratings.add_rating(catalog, ids[5], None, stars=5)

    stats = library_stats(catalog)
    assert (stats.songs, stats.failed, stats.analysed, stats.not_analysed) == (8, 1, 6, 1)
    assert stats.untagged == 2
    assert (stats.rated, stats.liked, stats.disliked) == (5, 3, 1)
    assert stats.genres == [("Rock", 3), ("Jazz", 2), ("Blues", 1)]
    assert stats.to_dict()["genres"] == [("Rock", 3), ("Jazz", 2), ("Blues", 1)]

    # An embedding of a file that changed since does not count as analysed.
    with catalog.transaction() as conn:
        conn.execute("UPDATE tracks SET content_hash = 'changed' WHERE id = ?", (ids[0],))
    assert library_stats(catalog).analysed == 5


def test_genre_names_differing_in_case_count_once_spelled_as_most_files_spell_them(
        catalog, music_files, tmp_path):
    folder, _ = _library(music_files, tmp_path,
                         ["hip-hop", "Hip-Hop", "Hip-Hop|hip-hop", "Hip-Hop"])
    scan(catalog, [folder], verify=False)
    assert genre_counts(catalog) == [("Hip-Hop", 4)]
