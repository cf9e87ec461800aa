"""``similar``, ``recommend``, ``playlist`` and ``radio`` read the catalog without its writer
lock, so they answer while another process writes for hours (``earmark embed --full``); they
take the lock only for what they must store, and only for that (issue 16, item 3).

The writer here is this test process, holding the lock as a running ``earmark embed`` does;
the queries run as real ``earmark`` processes on a real catalog of real (short) music files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from earmark.catalog import Catalog, ratings, tracks
from earmark.catalog.runs import load_runs
from earmark.taste.liking import saved_taste, taste_model_path
from earmark.taste.model import current_taste
from earmark.taste.recommend import recommend, similar, stored_query
from music import gtzan_clip, transcode
from taste_builders import embed_randomly

GENRES = ("jazz", "classical", "metal", "disco", "hiphop")
#: Seconds a query may take here (a command starts in about a second); one that waited for
#: the lock would never end while the test holds it.
ANSWER_SECONDS = 60


def _earmark(*args: str, db: Path) -> subprocess.Popen:
    """``earmark *args --db db`` as its own process."""
    env = {**os.environ, "EARMARK_WORKERS": "1"}
    return subprocess.Popen([sys.executable, "-m", "earmark", *args, "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _answer(*args: str, db: Path) -> tuple[str, str]:
    """``(stdout, stderr)`` of an ``earmark`` query that must end by itself, exit 0, and never
    wait for the writer lock."""
    proc = _earmark(*args, db=db)
    try:
        out, err = proc.communicate(timeout=ANSWER_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"earmark {' '.join(args)} did not answer (waiting?): {err}")
    assert proc.returncode == 0, err
    assert "waiting" not in err
    return out, err


def _paths(out: str) -> list[str]:
    return [json.loads(line)["path"] for line in out.splitlines()]


def _entries(playlist: Path) -> list[str]:
    """The songs of an M3U8 playlist, as absolute paths (it names them relative to itself)."""
    return [str(playlist.parent / line) for line in playlist.read_text().splitlines()
            if line and not line.startswith("#")]


@pytest.fixture
def library(tmp_path) -> dict:
    """A catalog of ten 2 s real-music songs with (random, current) embeddings, six of them
    rated (the jazz and classical ones liked) and the taste model trained on them and saved:
    the common case, where a query has nothing to write.

    Returns ``{"db": Path, "songs": [Path], "liked": [Path], "disliked": [Path]}``."""
    songs = []
    for genre in GENRES:
        for number in (0, 1):
            dst = tmp_path / "lib" / f"{genre} {number}.flac"
            dst.parent.mkdir(exist_ok=True)
            songs.append(transcode(gtzan_clip(genre, number), dst, "flac", seconds=2.0))
    db = tmp_path / "c.sqlite"
    with Catalog(db) as catalog:
        ids, _ = embed_randomly(catalog, songs)
        rated = {0: "like", 1: "like", 2: "like", 4: "dislike", 5: "dislike", 6: "dislike"}
        for index, verdict in rated.items():
            ratings.add_rating(catalog, ids[index], verdict)
        current_taste(catalog)
    return {"db": db, "songs": songs,
            "liked": [songs[i] for i, v in rated.items() if v == "like"],
            "disliked": [songs[i] for i, v in rated.items() if v == "dislike"]}


def _model_state(db: Path) -> tuple[float, int]:
    """The saved taste model's modification time and the number of taste runs recorded."""
    with Catalog(db) as catalog:
        return (taste_model_path(catalog).stat().st_mtime_ns,
                len(load_runs(catalog, "taste")))


def test_queries_answer_while_another_process_holds_the_writer_lock(library, tmp_path):
    """With the model current and every song embedded, ``similar``, ``recommend``,
    ``playlist`` (recommendations and ``--seed``) and ``radio`` answer at once while another
    process holds the writer lock, say nothing about waiting, and give what the library gives
    on the same catalog."""
    db, songs = library["db"], library["songs"]
    seed = songs[3]
    with Catalog(db) as catalog:
        query = stored_query(catalog, tracks.get_track(catalog, str(seed)))
        near = [str(t.path) for t, _ in similar(catalog, query, 5)]
        recommended = [r.path for r in recommend(catalog, saved_taste(catalog), 20)]
        seeded = [str(t.path) for t, _ in similar(catalog, query, 3, exclude_disliked=True)]
    assert len(near) == 5 and len(recommended) == 4  # the four unrated songs
    before = _model_state(db)
    with Catalog(db, lock=True):
        out, _ = _answer("similar", str(seed), "--top", "5", "--json", db=db)
        assert _paths(out) == near
        out, err = _answer("recommend", "--json", db=db)
        assert _paths(out) == recommended
        assert "note:" not in err
        _answer("playlist", str(tmp_path / "mix.m3u8"), "--min-score", "0", db=db)
        _answer("playlist", str(tmp_path / "like.m3u8"), "--seed", str(seed), "--top", "4",
                db=db)
        out, _ = _answer("radio", str(seed), "--json", db=db)
        queue = _paths(out)
    assert _model_state(db) == before  # nothing retrained or recorded
    assert _entries(tmp_path / "mix.m3u8") == recommended
    assert _entries(tmp_path / "like.m3u8") == [str(seed), *seeded]
    # The radio plays every other song but the disliked ones, each once.
    assert sorted(queue) == sorted(set(map(str, songs)) - {str(seed)}
                                   - set(map(str, library["disliked"])))


def test_a_stale_taste_model_answers_while_another_writes_and_says_so(library):
    """A new rating makes the saved model older than the ratings. While another process holds
    the writer lock, ``recommend`` and ``radio`` answer from the saved model at once, saying
    it is older than the newest ratings and who is writing; nothing is retrained or recorded.
    Once the writer is done, the next ``recommend`` retrains on the new rating."""
    db, songs = library["db"], library["songs"]
    with Catalog(db) as catalog:
        ratings.add_rating(catalog, tracks.get_track(catalog, str(songs[7])).id, "dislike")
        assert saved_taste(catalog) is None
    before = _model_state(db)
    said = (f"note: the taste model is older than your newest ratings: earmark (process "
            f"{os.getpid()}) is writing to the catalog")
    with Catalog(db, lock=True):
        out, err = _answer("recommend", "--json", db=db)
        assert said in " ".join(err.split())
        assert str(songs[7]) not in _paths(out) and len(_paths(out)) == 3
        _, err = _answer("radio", str(songs[0]), "--json", db=db)
        assert said in " ".join(err.split())
    assert _model_state(db) == before
    _, err = _answer("recommend", db=db)
    assert "note:" not in err
    with Catalog(db) as catalog:
        model = saved_taste(catalog)
        assert model is not None and model.info["cv"]["n_ratings"] == 7
        assert len(load_runs(catalog, "taste")) == before[1] + 1


def test_without_a_saved_model_recommend_waits_for_the_writer_and_says_so(library):
    """With no saved taste model there is nothing stored to answer from: ``recommend`` must
    train and save one, so it waits for the writer, saying once which process it waits for,
    and answers when the writer is done, the model then saved."""
    db = library["db"]
    with Catalog(db) as catalog:
        taste_model_path(catalog).unlink()
    with Catalog(db, lock=True):
        proc = _earmark("recommend", "--json", db=db)
        first = proc.stderr.readline()
        assert first.startswith(f"waiting: earmark (process {os.getpid()}) is writing")
        assert proc.poll() is None  # still waiting while the lock is held
        with Catalog(db) as catalog:
            assert not taste_model_path(catalog).exists()
    out, err = proc.communicate(timeout=ANSWER_SECONDS)
    assert proc.returncode == 0, err
    assert len(_paths(out)) == 4
    with Catalog(db) as catalog:
        assert saved_taste(catalog) is not None


def test_too_few_ratings_never_wait_for_the_writer(library):
    """When the ratings cannot support a model (here every rated song is liked) there is
    nothing to write: the radio plays by similarity at once and ``recommend`` says what is
    missing at once, while another process holds the writer lock."""
    db, songs = library["db"], library["songs"]
    with Catalog(db) as catalog:
        taste_model_path(catalog).unlink()
        for song in library["disliked"]:
            ratings.add_rating(catalog, tracks.get_track(catalog, str(song)).id, "like")
    with Catalog(db, lock=True):
        _, err = _answer("radio", str(songs[0]), "--json", db=db)
        assert "no taste model yet (rate a few songs): ordered by similarity alone" in err
        proc = _earmark("recommend", db=db)
        _, err = proc.communicate(timeout=ANSWER_SECONDS)
        assert proc.returncode == 3
        assert "waiting" not in err and "all 6 rated songs are liked" in " ".join(err.split())


def test_recommend_from_a_folder_while_another_writes_uses_the_songs_already_scanned(
        library, tmp_path):
    """``recommend --from FOLDER`` would scan FOLDER: while another process holds the writer
    lock it does not, says so, and recommends from the folder's songs the catalog holds."""
    db, songs = library["db"], library["songs"]
    new = transcode(gtzan_clip("rock", 0), tmp_path / "lib" / "rock 0.flac", "flac", seconds=2.0)
    with Catalog(db, lock=True):
        out, err = _answer("recommend", "--from", str(tmp_path / "lib"), "--json", db=db)
        assert f"{tmp_path / 'lib'} was not scanned for new songs" in " ".join(err.split())
        assert str(new) not in _paths(out) and len(_paths(out)) == 4
    with Catalog(db) as catalog:
        assert tracks.get_track(catalog, str(new)) is None
    assert all(s.exists() for s in songs)


@pytest.mark.slow
def test_similar_on_a_changed_song_while_another_writes_analyses_it_without_storing(tmp_path):
    """A catalog song whose file changed since it was embedded needs analysing again. While
    another process holds the writer lock, ``similar`` analyses the file in memory, at once,
    and stores nothing (the catalog row keeps its old state); with the lock free it takes it
    for the short write, re-scanning and storing the song's new embedding. The answer is the
    same either way."""
    from earmark.analysis.embed import embed_tracks
    from earmark.ingest.scan import scan
    from earmark.settings import EMBEDDING_MODEL

    (tmp_path / "lib").mkdir()
    songs = [transcode(gtzan_clip(genre, 0), tmp_path / "lib" / f"{genre}.flac", "flac",
                       seconds=3.0) for genre in GENRES]
    db = tmp_path / "c.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [tmp_path / "lib"])
        assert not embed_tracks(catalog, EMBEDDING_MODEL).failed
    changed = songs[0]
    transcode(gtzan_clip("blues", 0), changed, "flac", seconds=3.0)  # new content, same name
    with Catalog(db) as catalog:
        old = tracks.get_track(catalog, str(changed))
    with Catalog(db, lock=True):
        out, _ = _answer("similar", str(changed), "--json", db=db)
        in_memory = json.loads("[" + ",".join(out.splitlines()) + "]")
    with Catalog(db) as catalog:
        assert tracks.get_track(catalog, str(changed)) == old  # nothing stored meanwhile
    out, _ = _answer("similar", str(changed), "--json", db=db)
    stored = json.loads("[" + ",".join(out.splitlines()) + "]")
    assert [s["path"] for s in stored] == [s["path"] for s in in_memory]
    assert sorted(s["path"] for s in stored) == sorted(map(str, songs[1:]))
    assert np.allclose([s["similarity"] for s in stored],
                       [s["similarity"] for s in in_memory], atol=1e-3)
    with Catalog(db) as catalog:
        now = tracks.get_track(catalog, str(changed))
        assert now.content_hash != old.content_hash
        assert stored_query(catalog, now, EMBEDDING_MODEL) is not None


def test_a_rated_song_without_embedding_is_left_out_while_another_writes(library, tmp_path):
    """A newly rated song has no embedding yet: ``recommend`` would embed it under the lock.
    While another process holds the lock it answers at once without it, saying how many
    songs were left out and why; nothing is stored for the song."""
    from earmark.ingest.scan import add_file

    db = library["db"]
    new = transcode(gtzan_clip("rock", 0), tmp_path / "lib" / "rock 0.flac", "flac", seconds=2.0)
    with Catalog(db) as catalog:
        track = add_file(catalog, new)
        ratings.add_rating(catalog, track.id, "like")
    with Catalog(db, lock=True):
        out, err = _answer("recommend", "--json", db=db)
    said = " ".join(err.split())
    assert (f"note: 1 song(s) without an embedding are left out: earmark (process "
            f"{os.getpid()}) is writing to the catalog") in said
    assert "the taste model is older than your newest ratings" in said
    assert len(_paths(out)) == 4 and str(new) not in _paths(out)
    with Catalog(db) as catalog:
        assert stored_query(catalog, tracks.get_track(catalog, str(new))) is None
