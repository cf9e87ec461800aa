"""Radio from a seed song (issue 14, song page): real MSD_musicnn embeddings of GTZAN excerpts,
each genre's two excerpts tagged with one artist, so the nearest songs often share an artist."""

from __future__ import annotations

import json
import shutil
import subprocess
from itertools import pairwise

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import load_embeddings, store_embedding
from earmark.catalog.tracks import get_track
from earmark.cli import app
from earmark.ingest.scan import add_file
from earmark.taste.model import DEFAULT_EMBEDDING, train_taste
from earmark.taste.radio import radio, same_artist
from earmark.taste.ratings_io import read_m3u
from earmark.taste.recommend import query_song, similar
from music import require_ffmpeg

pytestmark = pytest.mark.slow


@pytest.fixture
def artist_catalog(catalog, excerpt_embeddings, tmp_path) -> Catalog:
    """The excerpts copied with an ARTIST tag (``<Genre> Band``, one per genre), in a catalog
    with their real embeddings."""
    ffmpeg = require_ffmpeg()
    for src, genre, vector in zip(excerpt_embeddings["files"], excerpt_embeddings["genres"],
                                  excerpt_embeddings["X"], strict=True):
        dst = tmp_path / "library" / genre / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-i", str(src), "-c", "copy",
                        "-metadata", f"artist={genre.title()} Band", str(dst)], check=True)
        track = add_file(catalog, dst, verify=False)
        assert track.artist == f"{genre.title()} Band"  # read back from the file by the scan
        store_embedding(catalog, track.id, DEFAULT_EMBEDDING, vector, track.content_hash)
    return catalog


def _song(catalog: Catalog, genre: str, number: int):
    return get_track(catalog, next(p for p in _paths(catalog) if f"/{genre}/{genre} {number}."
                                   in p))


def _paths(catalog: Catalog) -> list[str]:
    return [row[0] for row in catalog.execute("SELECT path FROM tracks")]


def _rate(catalog: Catalog, answers: dict[tuple[str, int], str]) -> None:
    for (genre, number), answer in answers.items():
        ratings.add_rating(catalog, _song(catalog, genre, number).id,
                           *ratings.parse_rating(answer))


def test_radio_never_plays_one_artist_twice_in_a_row_counting_the_seed(artist_catalog):
    seed = query_song(artist_catalog, _song(artist_catalog, "metal", 0).path)
    plain = [track for track, _ in similar(artist_catalog, seed, None)]
    # The test means something: by similarity alone, the seed's band comes next or a band
    # repeats somewhere.
    assert any(same_artist(a, b) for a, b in pairwise([seed, *plain]))
    queue = radio(artist_catalog, seed, 9)
    assert len(queue) == 9  # every other song, none left out to keep the rule
    played = [seed, *(item.track for item in queue)]
    assert not any(same_artist(a, b) for a, b in pairwise(played))
    assert seed.track_id not in [item.track.id for item in queue]


def test_radio_leaves_out_disliked_songs_the_seed_and_copies_of_the_seed(artist_catalog,
                                                                            tmp_path):
    seed_track = _song(artist_catalog, "jazz", 0)
    copy = tmp_path / "library" / "copy of jazz 0.flac"
    shutil.copyfile(seed_track.path, copy)
    duplicate = add_file(artist_catalog, copy, verify=False)
    _, X = load_embeddings(artist_catalog, DEFAULT_EMBEDDING, [seed_track.id])
    store_embedding(artist_catalog, duplicate.id, DEFAULT_EMBEDDING, X[0],
                    duplicate.content_hash)
    _rate(artist_catalog, {("jazz", 4): "dislike", ("classical", 0): "2",
                           ("classical", 4): "like"})
    seed = query_song(artist_catalog, seed_track.path)
    queue = radio(artist_catalog, seed, 20)
    queued = {item.track.id for item in queue}
    disliked = {_song(artist_catalog, "jazz", 4).id, _song(artist_catalog, "classical", 0).id}
    assert not queued & disliked
    assert not queued & {seed_track.id, duplicate.id}
    assert _song(artist_catalog, "classical", 4).id in queued  # a liked song plays
    assert len(queue) == 7  # the 11 songs less the seed, its copy and the 2 disliked


def test_liking_reorders_the_radio_by_the_formula(artist_catalog):
    # The listener likes jazz and classical and dislikes the rest; the disliked songs rated
    # are out of the radio, the unrated ones stay and sink.
    _rate(artist_catalog, {("jazz", 0): "like", ("classical", 0): "like",
                           ("hiphop", 0): "dislike", ("disco", 0): "dislike",
                           ("metal", 0): "dislike"})
    taste = train_taste(artist_catalog, save=False)
    seed = query_song(artist_catalog, _song(artist_catalog, "hiphop", 4).path)
    plain = radio(artist_catalog, seed, 10)
    liked = radio(artist_catalog, seed, 10, taste=taste)
    assert [item.p_like for item in plain] == [None] * len(plain)
    assert [i.score for i in plain] == [pytest.approx((1 + i.similarity) / 2) for i in plain]
    assert [i.track.id for i in liked] != [i.track.id for i in plain]
    for item in liked:  # score = closeness * (1 + 0.5 * (2 P(like) - 1))
        _, X = load_embeddings(artist_catalog, DEFAULT_EMBEDDING, [item.track.id])
        p_like = float(taste.like_probability(X)[0])
        assert item.p_like == pytest.approx(p_like)
        assert item.score == pytest.approx((1 + item.similarity) / 2 * (0.5 + p_like))

    # By similarity alone the disco song (nearest to the hip-hop seed) comes first; once
    # liking counts, every jazz and classical song comes before every other one.
    assert plain[0].track.artist == "Disco Band"
    kinds = [item.track.artist in ("Jazz Band", "Classical Band") for item in liked]
    assert kinds == sorted(kinds, reverse=True) and kinds[0] and not kinds[-1]
    # ...and a weight of 0 gives the order of similarity alone.
    unweighted = radio(artist_catalog, seed, 10, taste=taste, liking_weight=0.0)
    assert [i.track.id for i in unweighted] == [i.track.id for i in plain]


def test_radio_pages_continue_one_queue(artist_catalog):
    _rate(artist_catalog, {("jazz", 0): "like", ("classical", 0): "like",
                           ("hiphop", 0): "dislike", ("disco", 0): "dislike",
                           ("metal", 0): "dislike"})
    taste = train_taste(artist_catalog, save=False)
    seed = query_song(artist_catalog, _song(artist_catalog, "classical", 4).path)
    whole = radio(artist_catalog, seed, 20, taste=taste)
    assert len(whole) == 6  # 10 songs less the seed and the 3 disliked
    first = radio(artist_catalog, seed, 2, taste=taste)
    second = radio(artist_catalog, seed, 20, [i.track.id for i in first], taste=taste)
    assert [i.track.id for i in first + second] == [i.track.id for i in whole]
    assert radio(artist_catalog, seed, 20, [i.track.id for i in whole], taste=taste) == []


def test_radio_plays_from_the_seeds_nearest_songs(artist_catalog):
    seed = query_song(artist_catalog, _song(artist_catalog, "jazz", 0).path)
    nearest = {track.id for track, _ in similar(artist_catalog, seed, 4)}
    queue = {item.track.id for item in radio(artist_catalog, seed, 20, neighbourhood=4)}
    assert queue and queue <= nearest


def test_radio_ends_rather_than_repeat_an_artist(artist_catalog):
    seed = query_song(artist_catalog, _song(artist_catalog, "disco", 0).path)
    hiphop_0, hiphop_4 = (_song(artist_catalog, "hiphop", n).id for n in (0, 4))
    played = [i for i in _ids(artist_catalog) if i not in (seed.track_id, hiphop_0, hiphop_4)]
    # Only hiphop 4 is left: after another band it plays, after its own band the radio ends.
    assert [i.track.id for i in radio(artist_catalog, seed, 3, [hiphop_0, *played])] == [
        hiphop_4]
    assert radio(artist_catalog, seed, 3, [*played, hiphop_0]) == []


def _ids(catalog: Catalog) -> list[int]:
    return [row[0] for row in catalog.execute("SELECT id FROM tracks ORDER BY id")]


def test_radio_command_prints_the_queue_and_writes_the_seed_first_in_m3u8(artist_catalog,
                                                                          tmp_path):
    seed = _song(artist_catalog, "jazz", 4)
    out = tmp_path / "lists" / "radio.m3u8"
    result = CliRunner().invoke(app, ["radio", seed.path, "--top", "4", "--m3u8", str(out),
                                      "--json", "--db", str(artist_catalog.path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4
    assert set(lines[0]) >= {"id", "path", "artist", "title", "similarity", "p_like", "score"}
    assert seed.path not in [line["path"] for line in lines]
    assert "no taste model yet" in result.stderr
    assert read_m3u(out) == [seed.path, *(line["path"] for line in lines)]
    played = [seed.artist, *(line["artist"] for line in lines)]
    assert all(a != b for a, b in pairwise(played))
    table = CliRunner().invoke(app, ["radio", seed.path, "--top", "2", "--db",
                                     str(artist_catalog.path)])
    assert table.exit_code == 0, table.output
    assert "radio from Jazz Band - jazz 4" in table.stdout
    assert lines[0]["title"] is None and lines[0]["artist"] in table.stdout


def test_radio_command_of_an_unreadable_seed_is_one_error(tmp_path):
    bad = tmp_path / "noise.mp3"
    bad.write_bytes(np.random.default_rng(0).bytes(4000))
    result = CliRunner().invoke(app, ["radio", str(bad), "--db", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 3
    assert result.stderr.startswith("error:") and "Traceback" not in result.output
