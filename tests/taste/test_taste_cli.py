"""The taste commands end to end on real music: rate, ratings import/export, taste, review (with
an answers file, with typed answers on stdin, and as a real process), recommend, similar and
playlist."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog, ratings
from earmark.catalog.tracks import Track, get_track
from earmark.cli import app
from earmark.cli.taste import play_excerpt, player_command, stop_player
from earmark.taste.ratings_io import read_m3u
from taste_builders import rate_by_genre

runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def text(result) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_rate_adds_unknown_song_and_says_when_it_replaces_a_rating(song_files, tmp_path):
    db = tmp_path / "cli.sqlite"
    first = run("rate", song_files[0], "like", "--db", db)
    assert first.exit_code == 0, first.output
    assert "rated like" in text(first)
    again = run("rate", song_files[0], "2", "--db", db)
    assert again.exit_code == 0
    assert "replaces your earlier rating (like)" in text(again)
    with Catalog(db) as catalog:
        track = get_track(catalog, song_files[0])
        assert ratings.current_rating(catalog, track.id).stars == 2
        assert len(ratings.rating_history(catalog, track.id)) == 2


def test_rate_refuses_missing_file_non_audio_and_bad_answer(tmp_path):
    db = tmp_path / "cli.sqlite"
    missing = run("rate", tmp_path / "gone.mp3", "like", "--db", db)
    assert missing.exit_code == 3 and "file not found" in text(missing)
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"\0" * 4096)
    not_audio = run("rate", junk, "like", "--db", db)
    assert not_audio.exit_code == 3 and "not playable" in text(not_audio)
    bad = run("rate", junk, "great", "--db", db)
    assert bad.exit_code == 2 and "not a rating" in text(bad)
    assert missing.exception is None or isinstance(missing.exception, SystemExit)


def test_ratings_import_folders_then_export_csv(song_files, tmp_path):
    root = tmp_path / "mine"
    for sub, songs in (("like", song_files[:2]), ("dislike", song_files[2:3])):
        (root / sub).mkdir(parents=True)
        for song in songs:
            shutil.copyfile(song, root / sub / song.name)
    db = tmp_path / "cli.sqlite"
    result = run("ratings", "import", root, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    assert [r["action"] for r in _json_lines(result.output)] == ["rated"] * 3
    exported = run("ratings", "export", "--db", db)
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert sorted(r["verdict"] for r in rows) == ["dislike", "like", "like"]
    assert all(r["source"] == "import:folder" for r in rows)


@pytest.mark.slow
def test_review_with_answers_file_cold_start_then_trains(embedded_catalog, excerpt_embeddings,
                                                         tmp_path):
    genre_of = dict(zip(map(str, excerpt_embeddings["files"]), excerpt_embeddings["genres"],
                        strict=True))
    answers = tmp_path / "answers.csv"
    answers.write_text("path,answer\n" + "".join(
        f"{path},{'like' if genre in excerpt_embeddings['liked'] else 'dislike'}\n"
        for path, genre in genre_of.items()), encoding="utf-8")
    db = embedded_catalog.path
    result = run("review", "--db", db, "--answers", answers, "--batch", "3", "--rounds", "2",
                 "--json")
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.output)
    assert len(rows) == 6 and [r["round"] for r in rows] == [1, 1, 1, 2, 2, 2]
    assert all(r["p_like_before"] is None for r in rows[:3])  # cold start: no model yet
    for row in rows:
        expected = "like" if genre_of[row["path"]] in excerpt_embeddings["liked"] else "dislike"
        assert row["verdict"] == expected
    assert "6 song(s) rated" in text(result)
    runs = embedded_catalog.execute("SELECT metrics FROM model_runs WHERE kind = 'taste'")
    assert json.loads(runs.fetchall()[-1][0])["cv"]["n_ratings"] == 6


@pytest.mark.slow
def test_review_reads_answers_in_order_until_they_run_out(embedded_catalog, tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("like\ndislike\n3\n", encoding="utf-8")
    result = run("review", "--db", embedded_catalog.path, "--answers", answers, "--batch", "2",
                 "--strategy", "random", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "3 song(s) rated" in text(result)
    assert "no taste model yet" in text(result)
    stars = [r.stars for r in ratings.rating_history(embedded_catalog)]
    assert stars == [None, None, 3]


def test_review_refuses_a_bad_answers_file(tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("like\nmaybe\n", encoding="utf-8")
    result = run("review", "--db", tmp_path / "c.sqlite", "--answers", answers)
    assert result.exit_code == 2 and "line 2" in text(result)


@pytest.mark.slow
def test_review_interactive_typed_answers_and_quit(embedded_catalog):
    # An invalid key is asked again; q stops the review after three ratings.
    result = run("review", "--db", embedded_catalog.path, "--no-play", "--batch", "5",
                 input="l\nwhat\nd\n4\nq\n")
    assert result.exit_code == 0, result.output
    assert "type one of" in text(result)
    assert text(result).count("(q)uit:") == 5  # five prompts for five lines typed
    history = ratings.rating_history(embedded_catalog)
    assert [(r.verdict, r.stars, r.source) for r in history] == [
        ("like", None, "review"), ("dislike", None, "review"), (None, 4, "review")]
    assert "3 song(s) rated" in text(result)


@pytest.mark.slow
def test_review_as_a_real_process_on_piped_stdin(embedded_catalog, excerpt_embeddings):
    rate_by_genre(embedded_catalog, excerpt_embeddings, range(5))
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.run(
        [sys.executable, "-m", "earmark", "review", "--db", str(embedded_catalog.path),
         "--no-play", "--batch", "2"],
        input="s\n1\nn\n", capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "earmark's guess" in proc.stdout  # a model exists after 5 ratings of both kinds
    assert "another round?" in proc.stdout
    assert "retrained" in proc.stderr
    assert len(ratings.rating_history(embedded_catalog)) == 7


@pytest.mark.slow
def test_recommend_ranks_liked_genres_first_with_reasons(embedded_catalog, excerpt_embeddings):
    files, genres, liked = (excerpt_embeddings[k] for k in ("files", "genres", "liked"))
    rate_by_genre(embedded_catalog, excerpt_embeddings, [i for i in range(10) if i % 2 == 0])
    result = run("recommend", "--db", embedded_catalog.path, "--json", "--top", "5")
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.output)
    assert len(rows) == 5
    genre_of = dict(zip(map(str, files), genres, strict=True))
    assert {genre_of[r["path"]] for r in rows[:2]} <= set(liked)
    assert all(0 <= r["score"] <= 1 for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert rows[0]["reason"].startswith("close to ")
    assert "taste model: 5 ratings" in text(result)


@pytest.mark.slow
def test_recommend_from_folder_scans_embeds_and_ranks_new_songs(
        embedded_catalog, excerpt_embeddings, tmp_path):
    rate_by_genre(embedded_catalog, excerpt_embeddings, range(6))
    new = tmp_path / "new music"
    new.mkdir()
    shutil.copyfile(excerpt_embeddings["files"][7], new / "fresh.flac")  # a metal excerpt
    result = run("recommend", "--db", embedded_catalog.path, "--from", new, "--json")
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.output)
    assert [r["path"] for r in rows] == [str(new / "fresh.flac")]
    assert rows[0]["tags"]  # embedded by earmark.analysis.embed, which also stores its top tags


@pytest.mark.slow
def test_recommend_with_only_liked_songs_explains_instead_of_crashing(
        embedded_catalog, excerpt_embeddings):
    liked = [i for i, g in enumerate(excerpt_embeddings["genres"])
             if g in excerpt_embeddings["liked"]]
    rate_by_genre(embedded_catalog, excerpt_embeddings, liked)
    result = run("recommend", "--db", embedded_catalog.path)
    assert result.exit_code == 3
    assert "all 4 rated songs are liked" in text(result)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                     SystemExit)


@pytest.mark.slow
def test_similar_and_seed_playlist(embedded_catalog, excerpt_embeddings, tmp_path):
    seed = excerpt_embeddings["files"][0]
    result = run("similar", seed, "--db", embedded_catalog.path, "--top", "3", "--json")
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.output)
    assert len(rows) == 3 and str(seed) not in [r["path"] for r in rows]
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)

    out = tmp_path / "lists" / "like jazz.m3u8"
    made = run("playlist", out, "--seed", seed, "--top", "4", "--db", embedded_catalog.path)
    assert made.exit_code == 0, made.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[1] == "#EXTINF:6,jazz 0"
    assert not os.path.isabs(lines[2])
    assert read_m3u(out) == [str(seed)] + [r["path"] for r in rows]


@pytest.mark.slow
def test_recommendation_playlist(embedded_catalog, excerpt_embeddings, tmp_path):
    rate_by_genre(embedded_catalog, excerpt_embeddings, range(6))
    out = tmp_path / "top.m3u8"
    made = run("playlist", out, "--top", "3", "--db", embedded_catalog.path)
    assert made.exit_code == 0, made.output
    recommended = _json_lines(run("recommend", "--db", embedded_catalog.path, "--top", "3",
                                  "--json").output)
    assert read_m3u(out) == [r["path"] for r in recommended]


def test_player_command_uses_an_installed_player_or_none():
    command = player_command("/music/a.flac", 12.0, 20)
    if shutil.which("ffplay"):
        assert command[:3] == ["ffplay", "-nodisp", "-autoexit"]
        assert command[-5:] == ["-ss", "12.0", "-t", "20", "/music/a.flac"]
    elif not (shutil.which("mpv") or shutil.which("paplay")):
        assert command is None


@pytest.mark.slow
def test_taste_command_measures_classifier_and_star_regressor(embedded_catalog,
                                                              excerpt_embeddings):
    for i, (path, genre) in enumerate(zip(excerpt_embeddings["files"],
                                          excerpt_embeddings["genres"], strict=True)):
        stars = (5 - i % 2) if genre in excerpt_embeddings["liked"] else (1 + i % 2)
        ratings.add_rating(embedded_catalog, get_track(embedded_catalog, path).id,
                           stars=stars)
    # A rated song the catalog has no embedding for yet is embedded before training.
    extra = embedded_catalog.path.parent / "extra.flac"
    shutil.copyfile(excerpt_embeddings["files"][1], extra)  # jazz
    assert run("rate", extra, "like", "--db", embedded_catalog.path).exit_code == 0
    result = run("taste", "--db", embedded_catalog.path, "--json")
    assert result.exit_code == 0, result.output
    info = _json_lines(result.output)[0]
    assert (info["cv"]["n_liked"], info["cv"]["n_disliked"], info["cv"]["folds"]) == (5, 6, 5)
    assert info["without_embedding"] == 0
    assert info["cv"]["roc_auc_mean"] > 0.7
    assert info["stars_cv"]["n_ratings"] == 10
    shown = run("taste", "--db", embedded_catalog.path)
    assert "cross-validated ROC-AUC" in text(shown) and "mean absolute error" in text(shown)
    n_runs = embedded_catalog.execute("SELECT count(*) FROM model_runs").fetchone()[0]
    assert n_runs == 2  # every retrain is recorded


def _read_until(fd: int, marker: bytes, seen: bytearray, timeout: float = 120.0) -> None:
    """Read the pseudo-terminal until ``marker`` appears after what was ``seen`` so far."""
    start = len(seen)
    deadline = time.monotonic() + timeout
    while marker not in seen[start:]:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} in {bytes(seen).decode(errors='replace')}")
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            seen += os.read(fd, 4096)


@pytest.mark.slow
def test_review_on_a_real_terminal_takes_single_key_presses(embedded_catalog):
    """A person at a terminal (pseudo-terminal): one key per song, no Enter, q to stop."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "earmark", "review", "--db", str(embedded_catalog.path),
         "--no-play", "--batch", "4"], stdin=child, stdout=child, stderr=child,
        close_fds=True)
    os.close(child)
    seen = bytearray()
    try:
        for key in (b"l", b"x", b"d", b"5", b"q"):
            _read_until(main, b"uit:", seen)
            os.write(main, key)
        assert proc.wait(timeout=60) == 0, bytes(seen).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    history = ratings.rating_history(embedded_catalog)
    assert [(r.verdict, r.stars) for r in history] == [("like", None), ("dislike", None),
                                                      (None, 5)]


def test_excerpt_player_starts_and_stops_without_leaving_a_process(song_files):
    track = Track(id=1, path=str(song_files[0]), duration=4.0, status="ok", added_at=0.0,
                  scanned_at=0.0)
    player = play_excerpt(track, 3)
    if player_command(track.path, 0, 3) is None:
        assert player is None  # no player installed: the review just shows the song
        return
    stop_player(player)
    assert player.returncode is not None


@pytest.mark.slow
def test_review_from_a_folder_proposes_only_its_songs(embedded_catalog, excerpt_embeddings,
                                                      tmp_path):
    new = tmp_path / "incoming"
    new.mkdir()
    for i in (1, 5):
        shutil.copyfile(excerpt_embeddings["files"][i], new / f"new {i}.flac")
    answers = tmp_path / "answers.txt"
    answers.write_text("like\nlike\nlike\n", encoding="utf-8")
    result = run("review", "--db", embedded_catalog.path, "--from", new, "--answers", answers,
                 "--json")
    assert result.exit_code == 0, result.output
    assert sorted(r["path"] for r in _json_lines(result.output)) == [
        str(new / "new 1.flac"), str(new / "new 5.flac")]
