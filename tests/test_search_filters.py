"""The library's filters count what the dashboard counts (catalog.search against catalog.stats
and catalog.ratings.rating_label): a song is liked when its current opinion is a like or 4-5
stars, analysed when it has an embedding of the default model made from its present content.
Files are tiny real WAVs scanned by the real scan."""

from __future__ import annotations

import sys
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from earmark.catalog import Catalog, ratings, tracks
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.search import SongQuery, search_songs
from earmark.catalog.stats import library_stats
from earmark.ingest.scan import scan
from earmark.settings import EMBEDDING_MODEL

sys.path.insert(0, str(Path(__file__).parent / "scale"))
from scale_builders import write_library  # noqa: E402

#: Every opinion a song can hold: (verdict, stars), at least one of them given.
OPINIONS = [(v, s) for v, s in product(("like", "dislike", None), (None, 1, 2, 3, 4, 5))
            if (v, s) != (None, None)]


@pytest.fixture
def catalog(tmp_path):
    """One scanned song per opinion of :data:`OPINIONS` plus four unrated ones."""
    write_library(tmp_path / "music", len(OPINIONS) + 4)
    with Catalog(tmp_path / "c.sqlite") as cat:
        scan(cat, [tmp_path / "music"], verify=False)
        yield cat


def _ids(catalog: Catalog, query: SongQuery) -> set[int]:
    return {row.track.id for row in search_songs(catalog, query, limit=500).songs}


def test_like_and_dislike_filters_follow_rating_label_for_every_opinion(catalog):
    songs = sorted(tracks.track_column(catalog, "id", "ok"))
    expected: dict[int | None, set[int]] = {1: set(), 0: set(), None: set()}
    for track_id, (verdict, stars) in zip(songs, OPINIONS, strict=False):
        ratings.add_rating(catalog, track_id, verdict, stars)
        expected[ratings.rating_label(verdict, stars)].add(track_id)
    assert _ids(catalog, SongQuery(rating="like")) == expected[1]
    assert _ids(catalog, SongQuery(rating="dislike")) == expected[0]
    stats = library_stats(catalog)
    assert (stats.liked, stats.disliked) == (len(expected[1]), len(expected[0]))


def test_a_later_opinion_replaces_an_earlier_one_in_the_like_filter(catalog):
    first, second = sorted(tracks.track_column(catalog, "id", "ok"))[:2]
    ratings.add_rating(catalog, first, stars=5, rated_at=1.0)
    ratings.add_rating(catalog, first, stars=2, rated_at=2.0)   # now disliked
    ratings.add_rating(catalog, second, "dislike", rated_at=1.0)
    ratings.add_rating(catalog, second, stars=4, rated_at=2.0)  # now liked
    ratings.add_rating(catalog, second, "skip", rated_at=3.0)   # a skip changes nothing
    assert _ids(catalog, SongQuery(rating="like")) == {second}
    assert _ids(catalog, SongQuery(rating="dislike")) == {first}


def test_analysed_means_an_embedding_of_the_default_model_from_the_present_content(catalog):
    current, stale, other_model, both = sorted(tracks.track_column(catalog, "id", "ok"))[:4]
    hashes = dict(catalog.execute("SELECT id, content_hash FROM tracks").fetchall())
    vector = np.ones(8, np.float32)
    store_embedding(catalog, current, EMBEDDING_MODEL, vector, hashes[current])
    store_embedding(catalog, stale, EMBEDDING_MODEL, vector, "content it had before")
    store_embedding(catalog, other_model, "MTT_musicnn", vector, hashes[other_model])
    store_embedding(catalog, both, "MTT_musicnn", vector, hashes[both])
    store_embedding(catalog, both, EMBEDDING_MODEL, vector, hashes[both])
    analysed = _ids(catalog, SongQuery(analysed=True))
    assert analysed == {current, both}
    not_analysed = _ids(catalog, SongQuery(analysed=False, status="ok"))
    assert {stale, other_model} <= not_analysed and not analysed & not_analysed
    stats = library_stats(catalog)
    assert (stats.analysed, stats.not_analysed) == (len(analysed), len(not_analysed))
