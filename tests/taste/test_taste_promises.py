"""The taste commands keep their promises (issue 12 items 5-9 and 12): playlists leave out
disliked songs and low scores, reasons agree with the score, `similar` on an outside file adds
nothing to the library, `review --answers` says which answers it could not use, every command
with nothing to work on exits 3 with one line, and tables fit 80 columns with short paths.

The fast tests store random 16-value embeddings for real (short, identical) audio files, so no
network runs; the slow ones use real MSD_musicnn embeddings of real GTZAN excerpts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.catalog import ratings
from earmark.catalog.tracks import get_track, iter_tracks
from earmark.cli import app
from earmark.ingest.scan import add_file
from earmark.taste.active import LIKELY
from earmark.taste.model import DEFAULT_EMBEDDING
from earmark.taste.ratings_io import read_m3u
from taste_builders import embed_randomly, rate_by_genre

runner = CliRunner()


def run(*args: object, columns: int = 200):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


def text(result) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


def json_rows(result) -> list[dict]:
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def error_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


@pytest.fixture
def library(music_files, tmp_path) -> list[Path]:
    """Ten private copies of a 4 s real-music excerpt in a folder ``library/``."""
    folder = tmp_path / "library"
    folder.mkdir()
    return [Path(shutil.copyfile(music_files["flac"], folder / f"song {i}.flac"))
            for i in range(10)]


# --- item 5: playlists ---------------------------------------------------------------------------


@pytest.mark.slow
def test_seed_playlist_leaves_out_disliked_songs_unless_asked(embedded_catalog,
                                                             excerpt_embeddings, tmp_path):
    files = [str(f) for f in excerpt_embeddings["files"]]
    seed = files[0]  # jazz 0
    disliked = {files[4]: "dislike", files[5]: "dislike", files[6]: 1, files[8]: 2}
    for path, said in disliked.items():  # metal 0 and 4 disliked, disco 0 one star, hiphop 0 two
        verdict, stars = (said, None) if isinstance(said, str) else (None, said)
        ratings.add_rating(embedded_catalog, get_track(embedded_catalog, path).id, verdict,
                           stars)
    ratings.add_rating(embedded_catalog, get_track(embedded_catalog, files[9]).id, stars=3)
    db = embedded_catalog.path
    out = tmp_path / "like jazz.m3u8"
    made = run("playlist", out, "--seed", seed, "--top", "10", "--db", db)
    assert made.exit_code == 0, made.output
    entries = read_m3u(out)
    assert entries[0] == seed
    assert sorted(entries[1:]) == sorted(set(files) - {seed} - set(disliked))  # 3 stars stays
    asked = run("playlist", out, "--seed", seed, "--top", "10", "--include-disliked",
                "--db", db)
    assert asked.exit_code == 0, asked.output
    assert sorted(read_m3u(out)) == sorted(files)


def test_include_disliked_without_seed_is_a_usage_error(tmp_path):
    result = run("playlist", tmp_path / "p.m3u8", "--include-disliked", "--db",
                 tmp_path / "c.sqlite")
    assert result.exit_code == 2 and "--include-disliked goes with --seed" in text(result)
    assert not (tmp_path / "p.m3u8").exists()


@pytest.mark.slow
def test_recommendation_playlist_keeps_only_songs_likely_liked(embedded_catalog,
                                                               excerpt_embeddings, tmp_path):
    rated = rate_by_genre(embedded_catalog, excerpt_embeddings, range(0, 10, 2))
    db = embedded_catalog.path
    everything = json_rows(run("recommend", "--db", db, "--top", "20", "--json"))
    assert len(everything) == 5 and not set(rated) & {r["path"] for r in everything}
    likely = [r["path"] for r in everything if r["score"] >= LIKELY]
    assert 0 < len(likely) < 5  # the real embeddings give songs on both sides of 0.5

    out = tmp_path / "top.m3u8"
    made = run("playlist", out, "--db", db)
    assert made.exit_code == 0, made.output
    assert read_m3u(out) == likely
    assert run("playlist", out, "--min-score", "0", "--db", db).exit_code == 0
    assert read_m3u(out) == [r["path"] for r in everything]  # every unrated song, best first
    best = max(r["score"] for r in everything)
    too_high = run("playlist", out, "--min-score", "1", "--db", db)
    assert too_high.exit_code == 3
    assert error_lines(too_high) == [
        f"error: no unrated song reaches --min-score 1 (the best scores {best:.2f}): lower it, "
        "or rate more songs (earmark review)"]


# --- item 6: reasons agree with the score ------------------------------------------------------


@pytest.mark.slow
def test_reasons_name_liked_songs_for_high_scores_and_disliked_for_low(embedded_catalog,
                                                                     excerpt_embeddings):
    rated = rate_by_genre(embedded_catalog, excerpt_embeddings, range(0, 10, 2))
    rows = json_rows(run("recommend", "--db", embedded_catalog.path, "--top", "20", "--json"))
    high = [r for r in rows if r["score"] >= LIKELY]
    low = [r for r in rows if r["score"] < LIKELY]
    assert high and low  # both directions are tested
    for row in high:
        named = [n["path"] for n in row["closest_liked"]]
        assert row["reason"].startswith("close to liked ")
        assert named and all(rated[p] == "like" for p in named)
        assert all(Path(p).stem in row["reason"] for p in named)
    for row in low:
        named = [n["path"] for n in row["closest_disliked"]]
        assert row["reason"].startswith("like songs you disliked: "), row
        assert named and all(rated[p] == "dislike" for p in named)
        assert all(Path(p).stem in row["reason"] for p in named)
        assert not any(Path(n["path"]).stem in row["reason"] for n in row["closest_liked"])


# --- item 7: similar on a file outside the catalog ---------------------------------------------


@pytest.mark.slow
def test_similar_on_an_outside_file_adds_nothing_to_the_library(embedded_catalog,
                                                               excerpt_embeddings, tmp_path):
    original = excerpt_embeddings["files"][2]  # classical 0
    outside = tmp_path / "elsewhere" / "same music.flac"
    outside.parent.mkdir()
    shutil.copyfile(original, outside)
    db = embedded_catalog.path
    before = embedded_catalog.execute(
        "SELECT (SELECT count(*) FROM tracks), (SELECT count(*) FROM embeddings), "
        "(SELECT count(*) FROM predictions)").fetchone()
    result = run("similar", outside, "--db", db, "--top", "9", "--json")
    assert result.exit_code == 0, result.output
    paths = [r["path"] for r in json_rows(result)]
    # Every catalog song but its duplicate (the same audio), none of them the query itself.
    assert sorted(paths) == sorted(str(f) for f in excerpt_embeddings["files"] if f != original)
    after = embedded_catalog.execute(
        "SELECT (SELECT count(*) FROM tracks), (SELECT count(*) FROM embeddings), "
        "(SELECT count(*) FROM predictions)").fetchone()
    assert tuple(after) == tuple(before) and get_track(embedded_catalog, outside) is None
    missing = run("similar", tmp_path / "nothing.flac", "--db", db)
    assert missing.exit_code == 3 and "file not found" in text(missing)

    seeded = tmp_path / "seeded.m3u8"
    assert run("playlist", seeded, "--seed", outside, "--top", "3", "--db", db).exit_code == 0
    assert read_m3u(seeded)[0] == str(outside)
    assert get_track(embedded_catalog, outside) is None
    rate_by_genre(embedded_catalog, excerpt_embeddings, range(0, 10, 2))
    shown = json_rows(run("recommend", "--db", db, "--top", "20", "--json"))
    assert len(shown) == 5 and str(outside) not in [r["path"] for r in shown]


# --- item 8: review --answers ------------------------------------------------------------------


def test_review_help_lists_the_valid_answers():
    shown = text(run("review", "--help"))
    assert "like (l, +, y, good, yes), dislike (d, -, n, bad, no), skip (s), or 1-5 stars" \
        in shown


def test_review_reports_each_answer_it_could_not_use_and_why(catalog, library, tmp_path):
    ids, _ = embed_randomly(catalog, library[:8])
    ratings.add_rating(catalog, ids[0], "like")
    broken = library[9]
    broken.write_bytes(b"\0" * 4096)
    add_file(catalog, broken)  # in the catalog, not playable
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "path,answer\n"
        f"{library[0]},dislike\n"             # rated before the review
        f"{library[8]},like\n"                # never scanned
        f"{broken},like\n"                    # unplayable
        f"{library[1]},like\n"                # proposed: used
        f"{library[2]},2\n", encoding="utf-8")  # proposed: used
    result = run("review", "--db", catalog.path, "--answers", answers, "--batch", "7",
                 "--no-play")
    assert result.exit_code == 1, result.output
    out = text(result)
    assert "2 song(s) rated in this review" in out
    assert f"answer not used {library[0]}: already rated (like) before this review" in out
    assert f"answer not used {library[8]}: not in the catalog (earmark scan adds it)" in out
    assert f"answer not used {broken}: not playable:" in out
    assert {(r.track_id, r.verdict, r.stars) for r in ratings.rating_history(catalog)} == {
        (ids[0], "like", None), (ids[1], "like", None), (ids[2], None, 2)}
    assert get_track(catalog, library[8]) is None  # reported, not added


def test_review_whose_answers_all_fail_exits_3_saying_so(catalog, library, tmp_path):
    ids, _ = embed_randomly(catalog, library[:4])
    ratings.add_rating(catalog, ids[0], "like")
    answers = tmp_path / "answers.csv"
    answers.write_text(f"{library[0]},like\n{library[6]},dislike\n", encoding="utf-8")
    result = run("review", "--db", catalog.path, "--answers", answers, "--no-play")
    assert result.exit_code == 3, result.output
    assert "0 song(s) rated in this review" in text(result)
    assert error_lines(result) == [f"error: none of the answers in {answers} could be used"]
    assert text(result).count("answer not used") == 2


def test_review_answers_cut_short_by_rounds_are_a_note_not_a_failure(catalog, library,
                                                                      tmp_path):
    embed_randomly(catalog, library[:6])
    answers = tmp_path / "answers.csv"
    answers.write_text("".join(f"{p},like\n" for p in library[:6]), encoding="utf-8")
    result = run("review", "--db", catalog.path, "--answers", answers, "--batch", "2",
                 "--rounds", "1", "--strategy", "random", "--seed", "0", "--no-play")
    assert result.exit_code == 0, result.output
    assert "2 song(s) rated" in text(result)
    assert text(result).count("not proposed in the 1 round(s) of this review") == 4


def test_review_with_an_answers_file_without_answers_is_a_usage_error(tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text("path,answer\n# nothing yet\n", encoding="utf-8")
    result = run("review", "--db", tmp_path / "c.sqlite", "--answers", answers)
    assert result.exit_code == 2 and "holds no answers" in text(result)


@pytest.mark.slow
def test_review_embeds_the_songs_it_can_propose_first(catalog, library, tmp_path):
    for path in library[:2]:
        add_file(catalog, path)  # scanned, never embedded
    answers = tmp_path / "answers.txt"
    answers.write_text("like\ndislike\n", encoding="utf-8")
    result = run("review", "--db", catalog.path, "--answers", answers, "--json", "--no-play")
    assert result.exit_code == 0, result.output
    assert sorted(r["path"] for r in json_rows(result)) == sorted(map(str, library[:2]))
    n = catalog.execute("SELECT count(*) FROM embeddings WHERE model = ?",
                        (DEFAULT_EMBEDDING,)).fetchone()[0]
    assert n == 2


# --- item 9: nothing to do exits 3 with one line -----------------------------------------------


def test_review_on_an_empty_catalog_exits_3(tmp_path):
    result = run("review", "--db", tmp_path / "c.sqlite", "--no-play")
    assert result.exit_code == 3
    assert error_lines(result) == ["error: nothing to review: no playable songs in the "
                                   "catalog: earmark scan FOLDER adds them"]


def test_review_with_every_song_rated_exits_3(catalog, library):
    ids, _ = embed_randomly(catalog, library[:3])
    for track_id, verdict in zip(ids, ("like", "dislike", "skip"), strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    result = run("review", "--db", catalog.path, "--no-play")
    assert result.exit_code == 3
    assert error_lines(result) == ["error: nothing to review: all 3 songs in the catalog are "
                                   "rated (or skipped) already"]


def test_ratings_export_without_ratings_exits_3_and_writes_nothing(tmp_path):
    out = tmp_path / "ratings.csv"
    result = run("ratings", "export", "-o", out, "--db", tmp_path / "c.sqlite")
    assert result.exit_code == 3 and not out.exists()
    assert error_lines(result) == ["error: no ratings to export: rate songs with earmark rate, "
                                   "earmark review or earmark ratings import"]


@pytest.mark.parametrize("command", ["recommend", "playlist"])
def test_recommend_and_playlist_without_ratings_exit_3(command, catalog, library, tmp_path):
    embed_randomly(catalog, library[:4])
    args = [command] + ([tmp_path / "p.m3u8"] if command == "playlist" else [])
    result = run(*args, "--db", catalog.path)
    assert result.exit_code == 3
    assert len(error_lines(result)) == 1 and "no song is rated yet" in error_lines(result)[0]
    assert not (tmp_path / "p.m3u8").exists()


@pytest.mark.parametrize("command", ["recommend", "playlist"])
def test_recommend_and_playlist_without_embeddings_exit_3(command, catalog, library, tmp_path):
    ids, _ = embed_randomly(catalog, library[:6])
    for track_id, verdict in zip(ids, ["like", "dislike"] * 3, strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    add_file(catalog, library[6])  # the one unrated song has no embedding
    args = [command] + ([tmp_path / "p.m3u8"] if command == "playlist" else [])
    result = run(*args, "--db", catalog.path)
    assert result.exit_code == 3, result.output
    expected = {"recommend": "error: no unrated songs with embeddings to recommend (earmark "
                             "embed computes them)",
                "playlist": "error: no songs to put in the playlist: no other songs with "
                            "embeddings (earmark embed computes them)"}[command]
    assert error_lines(result) == [expected]


# --- item 12: tables on 80 columns -------------------------------------------------------------


def test_recommend_and_similar_tables_fit_80_columns_with_paths_relative_to_the_folder(
        catalog, music_files, tmp_path, monkeypatch):
    deep = tmp_path / "a rather long folder name" / "and another one inside it"
    deep.mkdir(parents=True)
    # One song per format: the same music, but no two with the same audio (which similar
    # leaves out as duplicates).
    songs = [Path(shutil.copyfile(p, deep / f"song {i} with a long title{p.suffix}"))
             for i, p in enumerate(music_files.values())]
    ids, _ = embed_randomly(catalog, songs, seed=2)
    for track_id, verdict in zip(ids[:5], ["like", "dislike", "like", "dislike", "like"],
                                 strict=True):
        ratings.add_rating(catalog, track_id, verdict)
    monkeypatch.chdir(tmp_path)
    shown = run("recommend", "--db", catalog.path, "--from", deep, columns=80)
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert max(map(len, lines)) <= 80
    assert str(tmp_path) not in shown.output  # relative to --from, not absolute
    assert f"song 6 with a long title{songs[6].suffix}" in lines[next(
        i for i, line in enumerate(lines) if "song 6 with a long title" in line) + 1]
    rows = json_rows(run("recommend", "--db", catalog.path, "--from", deep, "--json"))
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in songs[5:])

    near = run("similar", songs[0], "--db", catalog.path, "--top", "3", columns=80)
    assert near.exit_code == 0, near.output
    assert max(map(len, near.output.splitlines())) <= 80
    # Without --from, relative to the current folder.
    assert "a rather long folder name/and another one inside it/song" in text(near)
    assert all(Path(r["path"]).is_absolute() for r in json_rows(
        run("similar", songs[0], "--db", catalog.path, "--json")))
    assert len(list(iter_tracks(catalog))) == len(songs)
