"""Ratings in the catalog and their import/export: folders, playlists, tags, CSV, M3U."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mutagen.asf import ASF, ASFDWordAttribute
from mutagen.flac import FLAC
from mutagen.id3 import ID3, POPM
from mutagen.oggvorbis import OggVorbis
from typer.testing import CliRunner

import realworld
from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.tracks import Track, get_track
from earmark.cli import app
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file
from earmark.taste.ratings_io import (
    export_ratings,
    import_ratings,
    rate_file,
    read_m3u,
    read_playlist,
    stars_from_fraction,
    write_m3u,
)


def test_parse_rating_accepts_words_keys_and_stars():
    assert ratings.parse_rating("like") == ("like", None)
    assert ratings.parse_rating(" D ") == ("dislike", None)
    assert ratings.parse_rating("s") == ("skip", None)
    assert ratings.parse_rating("4") == (None, 4)
    for bad in ("6", "0", "meh", ""):
        with pytest.raises(ValueError):
            ratings.parse_rating(bad)


def test_rating_label_verdict_wins_over_stars():
    assert ratings.rating_label("like", 1) == 1
    assert ratings.rating_label(None, 5) == 1
    assert ratings.rating_label(None, 2) == 0
    assert ratings.rating_label(None, 3) is None
    assert ratings.rating_label("skip", None) is None


def test_latest_opinion_wins_history_kept_and_skip_does_not_erase(catalog, song_files):
    track = add_file(catalog, song_files[0], verify=False)
    ratings.add_rating(catalog, track.id, "like", rated_at=100.0)
    ratings.add_rating(catalog, track.id, "dislike", rated_at=200.0)
    ratings.add_rating(catalog, track.id, "skip", rated_at=300.0)
    current = ratings.current_rating(catalog, track.id)
    assert (current.verdict, current.rated_at) == ("dislike", 200.0)
    assert [r.verdict for r in ratings.rating_history(catalog, track.id)] == [
        "like", "dislike", "skip"]
    assert ratings.current_ratings(catalog)[track.id].verdict == "dislike"


def test_skip_only_songs_are_known_but_not_opinions(catalog, song_files):
    track = add_file(catalog, song_files[0], verify=False)
    ratings.add_rating(catalog, track.id, "skip")
    assert ratings.current_ratings(catalog) == {}
    assert ratings.current_ratings(catalog, include_skips=True)[track.id].verdict == "skip"


def test_add_rating_rejects_nonsense(catalog, song_files):
    track = add_file(catalog, song_files[0], verify=False)
    with pytest.raises(ValueError):
        ratings.add_rating(catalog, track.id)
    with pytest.raises(ValueError):
        ratings.add_rating(catalog, track.id, stars=6)
    with pytest.raises(ValueError):
        ratings.add_rating(catalog, track.id, "love")


def test_rate_file_adds_unknown_file_and_reports_contradiction(catalog, song_files):
    path = song_files[0]
    assert get_track(catalog, path) is None
    first = rate_file(catalog, path, "like", None, "user")
    assert first.status == "rated" and first.replaced is None
    assert get_track(catalog, path).status == "ok"
    again = rate_file(catalog, path, "like", None, "user")
    assert again.status == "unchanged"
    changed = rate_file(catalog, path, "dislike", None, "user")
    assert changed.status == "rated" and changed.replaced == "like"


def test_a_user_rating_overrides_an_import_that_overrode_it(catalog, song_files, tmp_path):
    root = tmp_path / "taste"
    (root / "bad").mkdir(parents=True)
    song = shutil.copyfile(song_files[0], root / "bad" / "a.flac")
    assert rate_file(catalog, song, "like", None, "user").status == "rated"
    import_ratings(catalog, root)
    assert rate_file(catalog, song, "like", None, "user").status == "rated"
    track = get_track(catalog, song)
    assert ratings.current_rating(catalog, track.id).verdict == "like"


def test_rate_file_reads_the_song_rating_history_once(catalog, song_files, sql_statements):
    rate_file(catalog, song_files[0], "like", None, "import:folder", once_per_source=True)
    track = get_track(catalog, song_files[0])
    ratings.add_rating(catalog, track.id, "dislike")
    sql_statements.clear()
    again = rate_file(catalog, song_files[0], "like", None, "import:folder",
                      once_per_source=True)
    assert again.status == "unchanged"  # that import already said so; the newer dislike stays
    assert len([s for s in sql_statements if "FROM ratings" in s]) == 1


def test_rate_file_missing_and_non_audio_fail_clearly(catalog, tmp_path):
    missing = rate_file(catalog, tmp_path / "nope.mp3", "like", None, "user")
    assert (missing.status, missing.reason) == ("failed", "file not found")
    text = tmp_path / "notes.mp3"
    text.write_text("not music at all\n" * 50)
    bad = rate_file(catalog, text, "like", None, "user")
    assert bad.status == "failed" and bad.reason.startswith("not playable")
    assert ratings.rating_history(catalog) == []


def test_import_good_bad_folders_is_idempotent(catalog, song_files, tmp_path):
    root = tmp_path / "taste"
    for sub, songs in (("Good", song_files[:2]), ("bad", song_files[2:5])):
        (root / sub).mkdir(parents=True)
        for song in songs:
            shutil.copyfile(song, root / sub / song.name)
    report = import_ratings(catalog, root)
    assert report.kind == "folder" and report.count("rated") == 5
    labels = sorted(r.label for r in ratings.current_ratings(catalog).values())
    assert labels == [0, 0, 0, 1, 1]
    assert {r.source for r in ratings.rating_history(catalog)} == {"import:folder"}
    assert import_ratings(catalog, root).count("unchanged") == 5
    assert len(ratings.rating_history(catalog)) == 5


def test_import_folder_does_not_override_a_newer_rating(catalog, song_files, tmp_path):
    root = tmp_path / "taste"
    (root / "like").mkdir(parents=True)
    song = shutil.copyfile(song_files[0], root / "like" / "a.flac")
    import_ratings(catalog, root)
    track = get_track(catalog, song)
    ratings.add_rating(catalog, track.id, "dislike")
    assert import_ratings(catalog, root).count("unchanged") == 1
    assert ratings.current_rating(catalog, track.id).verdict == "dislike"


def test_import_playlist_resolves_relative_paths_and_file_urls(catalog, song_files, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    playlist = lists / "favourites.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXTINF:4,Someone - Song 0\n../music/song 0.flac\n"
        f"file://{song_files[1].as_posix().replace(' ', '%20')}\n"
        "http://radio.example/stream\n../music/gone.flac\n", encoding="utf-8")
    assert read_m3u(playlist)[0] == str(song_files[0])
    report = import_ratings(catalog, playlist)
    assert report.kind == "playlist"
    assert report.count("rated") == 2
    assert [i.reason for i in report.failed] == [  # every entry it could not use, said
        "a URL, not a file (playlist line 5: http://radio.example/stream)",
        "file not found (playlist line 6: ../music/gone.flac)"]
    assert all(r.verdict == "like" for r in ratings.current_ratings(catalog).values())


def test_read_m3u_latin1_fallback(song_files, tmp_path):
    odd = song_files[0].with_name("café.flac")
    shutil.copyfile(song_files[0], odd)
    playlist = tmp_path / "music" / "old.m3u"
    playlist.write_bytes("café.flac\n".encode("latin-1"))
    assert read_m3u(playlist) == [str(odd)]


def _track(path: str, **fields) -> Track:
    """A catalog track as a playlist sees it (only the path and ``fields`` matter)."""
    return Track(id=1, path=path, status="ok", added_at=0.0, scanned_at=0.0, **fields)


def test_write_m3u_relative_paths_and_extinf(song_files, tmp_path):
    out = tmp_path / "lists" / "top.m3u8"
    assert write_m3u(out, [
        _track(str(song_files[0]), duration=4.02, artist="Ann", title="One"),
        _track(str(song_files[1]), duration=None, artist=None, title=None),
    ]) == []
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == ["#EXTM3U", "#EXTINF:4,Ann - One", "../music/song 0.flac",
                     "#EXTINF:-1,song 1", "../music/song 1.flac"]
    assert read_m3u(out) == [str(song_files[0]), str(song_files[1])]


def test_stars_from_fraction():
    # halves round up: 50 % is the middle of five stars, 3
    assert [stars_from_fraction(v) for v in (None, 0, 0.1, 0.3, 0.5, 0.7, 0.8, 1.0)] == [
        None, None, 1, 2, 3, 4, 4, 5]


def test_import_tags_popm_and_vorbis_rating(catalog, music_files, tmp_path):
    folder = tmp_path / "tagged"
    folder.mkdir()
    mp3 = shutil.copyfile(music_files["mp3"], folder / "loved.mp3")
    tags = ID3()
    tags.add(POPM(email="no@email", rating=255, count=0))
    tags.save(mp3)
    flac = shutil.copyfile(music_files["flac"], folder / "meh.flac")
    audio = FLAC(flac)
    audio["RATING"] = "40"
    audio.save()
    shutil.copyfile(music_files["ogg"], folder / "plain.ogg")
    report = import_ratings(catalog, folder)
    assert report.kind == "tags"
    by_name = {i.path.rsplit("/", 1)[1]: i for i in report.items}
    assert (by_name["loved.mp3"].status, by_name["loved.mp3"].stars) == ("rated", 5)
    assert (by_name["meh.flac"].status, by_name["meh.flac"].stars) == ("rated", 2)
    assert by_name["plain.ogg"].status == "unrated"
    labels = {r.path.rsplit("/", 1)[1]: r.label for r in ratings.current_ratings(catalog).values()}
    assert labels == {"loved.mp3": 1, "meh.flac": 0}


def test_export_csv_and_json_round_trip(catalog, song_files, tmp_path):
    rate_file(catalog, song_files[0], "like", None, "user", rated_at=1000.0)
    rate_file(catalog, song_files[1], None, 2, "user", rated_at=2000.0)
    rate_file(catalog, song_files[0], "dislike", None, "user", rated_at=3000.0)
    out = io.StringIO()
    assert export_ratings(catalog, out, "csv") == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "path,verdict,stars,source,rated_at,artist,title"
    # ISO 8601 with the UTC offset: 2000 s and 3000 s after the epoch, in local time.
    at_2000 = datetime.fromtimestamp(2000, UTC).astimezone().isoformat()
    assert lines[1].startswith(f"{song_files[1]},,2,user,{at_2000},")
    assert datetime.fromisoformat(lines[2].split(",")[4]).timestamp() == 3000.0
    assert datetime.fromisoformat(lines[2].split(",")[4]).utcoffset() is not None
    history = io.StringIO()
    assert export_ratings(catalog, history, "json", history=True) == 3
    assert json.loads(history.getvalue().splitlines()[0])["verdict"] == "like"

    exported = tmp_path / "ratings.csv"
    exported.write_text(out.getvalue(), encoding="utf-8")
    with type(catalog)(tmp_path / "other.sqlite") as other:
        report = import_ratings(other, exported)
        assert report.count("rated") == 2
        current = {r.path: r for r in ratings.current_ratings(other).values()}
        assert current[str(song_files[0])].verdict == "dislike"
        assert current[str(song_files[0])].rated_at == 3000.0


def test_import_reads_iso_times_and_the_epoch_seconds_of_old_exports(catalog, song_files,
                                                                    tmp_path):
    naive = "2023-11-14T22:13:20"  # no offset: local time, as a person might type it
    export = tmp_path / "mixed times.csv"
    export.write_text(
        "path,verdict,stars,source,rated_at\n"
        f"{song_files[0]},like,,user,1700000000.5\n"              # an export before ISO times
        f"{song_files[1]},dislike,,user,2023-11-14T22:13:20+00:00\n"
        f"{song_files[2]},,4,user,2023-11-15T00:13:20+02:00\n"    # the same moment, UTC+2
        f"{song_files[3]},,2,user,2023-11-14T22:13:20Z\n"
        f"{song_files[4]},like,,user,{naive}\n",
        encoding="utf-8")
    report = import_ratings(catalog, export)
    assert report.count("rated") == 5 and not report.failed
    at = {Path(r.path).name: r.rated_at for r in ratings.current_ratings(catalog).values()}
    assert at == {"song 0.flac": 1700000000.5, "song 1.flac": 1700000000.0,
                  "song 2.flac": 1700000000.0, "song 3.flac": 1700000000.0,
                  "song 4.flac": datetime.fromisoformat(naive).timestamp()}
    # Exported again, each time is ISO 8601 with an offset and names the same moment.
    out = io.StringIO()
    export_ratings(catalog, out, "json")
    times = [json.loads(line)["rated_at"] for line in out.getvalue().splitlines()]
    assert all(datetime.fromisoformat(t).utcoffset() is not None for t in times)
    assert sorted(datetime.fromisoformat(t).timestamp() for t in times) == sorted(
        int(v) for v in at.values())


def test_ratings_import_summary_splits_likes_from_dislikes(song_files, tmp_path):
    root = tmp_path / "mine"
    for sub, songs in (("good", song_files[:3]), ("bad", song_files[3:5])):
        (root / sub).mkdir(parents=True)
        for song in songs:
            shutil.copyfile(song, root / sub / song.name)
    result = CliRunner().invoke(app, ["ratings", "import", str(root), "--db",
                                      str(tmp_path / "c.sqlite")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    rows = {" ".join(line.strip("│ ").split()) for line in result.output.splitlines()}
    assert "rated: liked │ 3" in rows and "rated: disliked │ 2" in rows
    assert not any(row.startswith("rated │") for row in rows)


@pytest.mark.parametrize("shape", ["empty folder", "empty rating folders", "empty playlist",
                                   "empty csv", "csv header only", "empty json lines"])
def test_ratings_import_of_nothing_exits_3_with_one_line(shape, tmp_path):
    source = {"empty folder": tmp_path / "nothing", "empty rating folders": tmp_path / "mine",
              "empty playlist": tmp_path / "fav.m3u8", "empty csv": tmp_path / "r.csv",
              "csv header only": tmp_path / "h.csv", "empty json lines": tmp_path / "r.jsonl"
              }[shape]
    if shape == "empty folder":
        source.mkdir()
    elif shape == "empty rating folders":
        (source / "good").mkdir(parents=True)
        (source / "bad").mkdir()
    elif shape == "csv header only":
        source.write_text("path,verdict,stars,source,rated_at\n", encoding="utf-8")
    else:
        source.write_text("#EXTM3U\n" if shape == "empty playlist" else "", encoding="utf-8")
    db = tmp_path / "c.sqlite"
    result = CliRunner().invoke(app, ["ratings", "import", str(source), "--db", str(db)])
    assert result.exit_code == 3, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(source.name) in errors[0], result.output
    assert "Traceback" not in result.output


def test_import_unknown_source_is_a_clear_error(catalog, tmp_path):
    with pytest.raises(EarmarkError, match="not found"):
        import_ratings(catalog, tmp_path / "nothing-here")


# --- rating scales (issue 10, case 3) ---------------------------------------------------------


def test_rating_tags_in_every_scale_import_as_the_right_stars(catalog, music_files, tmp_path):
    """Each player's scale, written into real files the way that player writes it."""
    folder = tmp_path / "rated"
    folder.mkdir()
    expected = {}

    def copy(fmt: str, name: str):
        return shutil.copyfile(music_files[fmt], folder / f"{name}.{fmt}")

    for value, stars in (("1", 1), ("3", 3), ("5", 5), ("20", 1), ("60", 3), ("100", 5),
                         ("0.2", 1), ("1.0", 5)):
        audio = FLAC(copy("flac", f"vorbis {value}"))  # foobar2000 stars, percent, fraction
        audio["RATING"] = value
        audio.save()
        expected[f"vorbis {value}.flac"] = stars
    for value, stars in ((1, 1), (64, 2), (128, 3), (196, 4), (255, 5)):  # Windows Media Player
        tags = ID3()
        tags.add(POPM(email="Windows Media Player 9 Series", rating=value, count=0))
        tags.save(copy("mp3", f"popm {value}"))
        expected[f"popm {value}.mp3"] = stars
    audio = OggVorbis(copy("ogg", "fmps"))
    audio["FMPS_RATING"] = "0.6"
    audio.save()
    expected["fmps.ogg"] = 3
    wma = realworld.wma(tmp_path / "source.wma", seconds=2.0)
    for value, stars in ((1, 1), (25, 2), (50, 3), (75, 4), (99, 5)):
        rated = shutil.copyfile(wma, folder / f"wmp {value}.wma")
        audio = ASF(rated)
        audio["WM/SharedUserRating"] = [ASFDWordAttribute(value)]
        audio.save()
        expected[f"wmp {value}.wma"] = stars

    report = import_ratings(catalog, folder)
    got = {Path(i.path).name: i.stars for i in report.items if i.status == "rated"}
    assert got == expected
    # only the free-form RATING values had their scale guessed: POPM, Windows Media and
    # FMPS_RATING say theirs
    assert report.notes == ["ratings in 3 scales: percent (3 files), stars (3 files), "
                            "fraction (2 files)"]


def test_an_import_mixing_scales_says_so(song_files, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for n, value in enumerate(("1", "2", "5", "40", "80")):
        audio = FLAC(shutil.copyfile(song_files[n], folder / f"song {n}.flac"))
        audio["RATING"] = value
        audio.save()
    db = tmp_path / "cli.sqlite"
    result = CliRunner().invoke(app, ["ratings", "import", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "ratings in 2 scales: stars (3 files), percent (2 files)" in " ".join(
        result.output.split())
    with Catalog(db) as cat:
        stars = {Path(r.path).name: r.stars for r in ratings.current_ratings(cat).values()}
    assert stars == {"song 0.flac": 1, "song 1.flac": 2, "song 2.flac": 5, "song 3.flac": 2,
                     "song 4.flac": 4}


# --- playlists and unusual names (issue 10, case 4) -------------------------------------------


def test_playlist_names_starting_with_hash_or_holding_line_breaks(catalog, song_files,
                                                                  tmp_path):
    music = song_files[0].parent
    hit = shutil.copyfile(song_files[0], music / "#1 hit.flac")
    broken = shutil.copyfile(song_files[1], music / "two\nlines.flac")
    spaced = shutil.copyfile(song_files[2], music / " leading space.flac")
    out = music / "odd names.m3u8"  # beside the songs: the names start the lines
    songs = [_track(str(p), duration=4.0, artist=None, title=t)
             for p, t in ((hit, None), (broken, None), (spaced, "Line\nBreak Title"))]
    left_out = write_m3u(out, songs)
    assert left_out == [(str(broken), "its name holds a line break, which M3U cannot hold")]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == ["#EXTM3U", "#EXTINF:4,#1 hit", "./#1 hit.flac",
                     "#EXTINF:4,Line Break Title", "./ leading space.flac"]
    assert read_m3u(out) == [str(hit), str(spaced)]
    report = import_ratings(catalog, out)
    assert sorted(Path(i.path).name for i in report.items if i.status == "rated") == [
        " leading space.flac", "#1 hit.flac"]
    assert report.failed == []


def test_playlist_entries_as_other_tools_write_them(catalog, song_files, tmp_path):
    """Windows separators and drives, drive-less roots, file:// URLs with a drive, percent
    encoding, a '#' name left unescaped: each resolves to the song; what does not is reported
    with its line."""
    library = tmp_path / "Music"
    (library / "Rock").mkdir(parents=True)
    names = [shutil.copyfile(song, library / "Rock" / f"track {n}.flac").name
             for n, song in enumerate(song_files[:5])]
    shutil.copyfile(song_files[5], library / "#5 unescaped.flac")
    playlist = library / "from windows.m3u"
    playlist.write_bytes("\r\n".join([
        "#EXTM3U",
        r"Rock\track 0.flac",
        r"C:\Users\me\Music\Rock\track 1.flac",
        r"\Music\Rock\track 2.flac",
        "file:///C:/Users/me/Music/Rock/track%203.flac",
        "Rock/track%204.flac",
        "#5 unescaped.flac",
        r"D:\Elsewhere\missing.flac",
        "https://radio.example/stream.mp3",
        "# a comment",
    ]).encode("latin-1"))
    entries = read_playlist(playlist)
    resolved = [Path(e.path).name for e in entries if e.problem is None]
    assert resolved == names + ["#5 unescaped.flac"]
    report = import_ratings(catalog, playlist)
    assert report.count("rated") == 6
    assert [i.reason for i in report.failed] == [
        r"file not found (playlist line 8: D:\Elsewhere\missing.flac)",
        "a URL, not a file (playlist line 9: https://radio.example/stream.mp3)"]


@pytest.mark.slow
def test_playlist_command_warns_about_names_m3u_cannot_hold(embedded_catalog,
                                                           excerpt_embeddings, tmp_path):
    files, vectors = excerpt_embeddings["files"], excerpt_embeddings["X"]
    odd = tmp_path / "odd"
    odd.mkdir()
    hit = shutil.copyfile(files[0], odd / "#1 hit.flac")
    broken = shutil.copyfile(files[1], odd / "two\nlines.flac")
    for path, vector in ((hit, vectors[0]), (broken, vectors[1])):  # the same audio's vectors
        track = add_file(embedded_catalog, path, verify=False)
        store_embedding(embedded_catalog, track.id, "MSD_musicnn", vector,
                        track.content_hash)
    out = odd / "like hit.m3u8"  # beside the songs: their names start the lines
    runner = CliRunner()
    made = runner.invoke(app, ["playlist", str(out), "--seed", str(hit), "--top", "20",
                               "--db", str(embedded_catalog.path)])
    assert made.exit_code == 0, made.output
    said = "".join(made.output.split())  # Rich wraps long names anywhere
    assert "".join(f"left out {str(broken)!r}: its name holds a line break".split()) in said
    written = read_m3u(out)
    assert str(hit) in written and str(broken) not in written and len(written) >= 9
    assert f"{len(written)}songswritten" in said
    lines = out.read_text(encoding="utf-8").splitlines()
    assert "./#1 hit.flac" in lines
    assert not any(line in ("two", "lines.flac") or line.endswith("/two") for line in lines)
    imported = runner.invoke(app, ["ratings", "import", str(out), "--db",
                                   str(embedded_catalog.path), "--json"])
    assert imported.exit_code == 0, imported.output
    rows = [json.loads(line) for line in imported.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(written) and {r["action"] for r in rows} == {"rated"}
    assert str(hit) in {r["path"] for r in rows}


def test_import_reads_ratings_from_the_files_not_a_row_an_older_scan_left(catalog, song_files,
                                                                         tmp_path):
    folder = tmp_path / "old catalog"
    folder.mkdir()
    audio = FLAC(shutil.copyfile(song_files[0], folder / "one star.flac"))
    audio["RATING"] = "1"
    audio.save()
    track = add_file(catalog, folder / "one star.flac")
    # What earmark before the scale fix stored for RATING=1: 5 stars. The file is unchanged,
    # so a new scan keeps that row.
    catalog.execute("UPDATE tracks SET rating = 1.0 WHERE id = ?", (track.id,))
    report = import_ratings(catalog, folder)
    assert [(i.status, i.stars) for i in report.items] == [("rated", 1)]
