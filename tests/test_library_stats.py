"""The library's numbers (earmark.catalog.stats), behind the dashboard and `earmark stats`:
counts of analysed, failed and untagged songs from a real scan of real music, ratings so far,
the genre distribution of the files' tags, and the taste model's quality after each retrain."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from mutagen.flac import FLAC

from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.stats import embeddings_fingerprint, genre_counts, library_stats
from earmark.catalog.tracks import get_track
from earmark.ingest.scan import scan
from earmark.taste.model import DEFAULT_EMBEDDING, train_taste


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
    assert stats.taste_runs == []
    assert stats.to_dict()["genres"] == [("Rock", 3), ("Jazz", 2), ("Blues", 1)]

    # An embedding of a file that changed since does not count as analysed.
    with catalog.transaction() as conn:
        conn.execute("UPDATE tracks SET content_hash = 'changed' WHERE id = ?", (ids[0],))
    assert library_stats(catalog).analysed == 5


def test_every_retrain_of_the_taste_model_adds_a_point_to_the_quality_curve(
        catalog, music_files, tmp_path):
    folder, files = _library(music_files, tmp_path, [None] * 8)
    scan(catalog, [folder], verify=False)
    rng = np.random.default_rng(1)
    for i, path in enumerate(files):
        track = get_track(catalog, path)
        store_embedding(catalog, track.id, DEFAULT_EMBEDDING,
                        rng.normal(size=8) + (3 if i % 2 else -3), track.content_hash)
        if i < 6:
            ratings.add_rating(catalog, track.id, "like" if i % 2 else "dislike")
    first = train_taste(catalog, save=False)
    for i in (6, 7):
        ratings.add_rating(catalog, get_track(catalog, files[i]).id,
                           "like" if i % 2 else "dislike")
    second = train_taste(catalog, save=False)
    runs = library_stats(catalog).taste_runs
    assert [r.n_ratings for r in runs] == [6, 8]
    assert [r.roc_auc for r in runs] == [first.info["cv"]["roc_auc_mean"],
                                        second.info["cv"]["roc_auc_mean"]]
    assert [r.accuracy for r in runs] == [first.info["cv"]["accuracy_mean"],
                                         second.info["cv"]["accuracy_mean"]]
    assert runs[0].trained_at <= runs[1].trained_at


def test_genre_names_differing_in_case_count_once_spelled_as_most_files_spell_them(
        catalog, music_files, tmp_path):
    folder, _ = _library(music_files, tmp_path, ["hip-hop", "Hip-Hop", "Hip-Hop|hip-hop"])
    scan(catalog, [folder], verify=False)
    assert genre_counts(catalog) == [("Hip-Hop", 3)]


def test_the_embedding_fingerprint_changes_when_an_embedding_is_added_or_recomputed(
        catalog, music_files, tmp_path):
    folder, files = _library(music_files, tmp_path, [None, None])
    scan(catalog, [folder], verify=False)
    empty = embeddings_fingerprint(catalog, DEFAULT_EMBEDDING)
    track = get_track(catalog, files[0])
    store_embedding(catalog, track.id, DEFAULT_EMBEDDING, np.ones(4), track.content_hash)
    one = embeddings_fingerprint(catalog, DEFAULT_EMBEDDING)
    assert one != empty and embeddings_fingerprint(catalog, DEFAULT_EMBEDDING) == one
    store_embedding(catalog, track.id, DEFAULT_EMBEDDING, np.zeros(4), track.content_hash)
    assert embeddings_fingerprint(catalog, DEFAULT_EMBEDDING) != one
