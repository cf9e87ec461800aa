"""Files a person hands to the taste commands (issue 18's rule: never a traceback on any input
file): ratings exports, playlists, answers files, rating tags players wrote, and output paths.
Every text file is decoded by one rule: UTF-8 with or without BOM, UTF-16 with BOM, else
Windows-1252 with a warning."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest
import typer
from mutagen.flac import FLAC
from mutagen.id3 import ID3, POPM
from typer.testing import CliRunner

from earmark.catalog import Catalog, ratings
from earmark.cli import app
from earmark.cli.app import SafetyNet
from earmark.errors import EarmarkError, InputFileError
from earmark.taste.ratings_io import import_ratings, read_answers, read_playlist

runner = CliRunner()


def flat(text: str) -> str:
    """``text`` without white space: Rich wraps long lines anywhere, even inside a path."""
    return "".join(text.split())


def current_stars(catalog: Catalog) -> dict[str, tuple[str | None, int | None]]:
    return {Path(r.path).name: (r.verdict, r.stars)
            for r in ratings.current_ratings(catalog).values()}


# --- ratings exports (CSV / JSON lines) --------------------------------------------------------


def test_export_in_utf16_and_cp1252_is_decoded(catalog, song_files, tmp_path):
    """Excel's "Unicode Text" (UTF-16 with BOM) and its Windows "CSV" (cp1252) are read."""
    u16 = tmp_path / "u16.csv"
    u16.write_bytes(f"path,verdict,stars\n{song_files[0]},like,\n".encode("utf-16"))
    report = import_ratings(catalog, u16)
    assert report.count("rated") == 1 and report.notes == []
    cafe = shutil.copyfile(song_files[1], song_files[1].with_name("Café.flac"))
    cp = song_files[1].parent / "cp.csv"
    cp.write_bytes("path,verdict\r\nCafé.flac,dislike\r\n".encode("cp1252"))
    report = import_ratings(catalog, cp)
    assert [(Path(i.path).name, i.status) for i in report.items] == [("Café.flac", "rated")]
    assert report.notes == ["cp.csv is not UTF-8 (byte 0xe9 on line 2): read as Windows-1252, "
                            "as Excel and older Windows programs save text; check accented "
                            "names, or save it as UTF-8"]
    assert current_stars(catalog) == {song_files[0].name: ("like", None),
                                      cafe.name: ("dislike", None)}


def test_bad_rows_fail_with_their_line_and_the_rest_imports(catalog, song_files, tmp_path):
    export = tmp_path / "mixed.csv"
    export.write_text(
        "path,verdict,stars,rated_at\n"
        f"{song_files[0]},like,,\n"       # line 2: fine
        f"{song_files[1]},,7,\n"          # 3: stars out of range
        f"{song_files[2]},,2.5,\n"        # 4: not a whole number
        f"{song_files[3]},love,,\n"       # 5: no such verdict
        f"{song_files[4]},,,\n"           # 6: nothing said
        ",like,,\n"                       # 7: no path
        f"{song_files[5]},,4,yesterday\n"  # 8: not a time
        "\n"
        f"{song_files[5]},,4.0,100.5\n",  # 10: 4.0 stars is 4 stars
        encoding="utf-8")
    report = import_ratings(catalog, export)
    assert [(i.path, i.reason) for i in report.failed] == [
        (f"{export}:3", "stars '7' is not a whole number from 1 to 5"),
        (f"{export}:4", "stars '2.5' is not a whole number from 1 to 5"),
        (f"{export}:5", "verdict 'love' is not one of like, dislike, skip"),
        (f"{export}:6", "neither a verdict nor stars"),
        (f"{export}:7", "no path (columns path, verdict, stars, source, rated_at, artist, "
                        "title)"),
        (f"{export}:8", "rated_at 'yesterday' is neither an ISO 8601 time "
                        "(2024-05-01T14:03:09+02:00) nor seconds since 1970"),
    ]
    assert current_stars(catalog) == {song_files[0].name: ("like", None),
                                      song_files[5].name: (None, 4)}
    assert ratings.current_ratings(catalog)[2].rated_at == 100.5


def test_json_lines_that_are_no_ratings_fail_alone(catalog, song_files, tmp_path):
    export = tmp_path / "ratings.jsonl"
    export.write_text("{not json}\n"
                      + json.dumps({"path": str(song_files[0]), "stars": 5}) + "\n"
                      + "[1, 2]\n"
                      + json.dumps({"path": str(song_files[1]), "stars": True}) + "\n",
                      encoding="utf-8")
    report = import_ratings(catalog, export)
    assert [(i.path, i.reason) for i in report.failed] == [
        (f"{export}:1", "not JSON: Expecting property name enclosed in double quotes"),
        (f"{export}:3", "not a JSON object with a 'path'"),
        (f"{export}:4", "stars True is not a whole number from 1 to 5"),
    ]
    assert current_stars(catalog) == {song_files[0].name: (None, 5)}


def test_cli_reports_bad_rows_with_exit_1_and_keeps_good_ones(song_files, tmp_path):
    """The red team's cases through the command: before, row 2 was committed and then a
    traceback stopped the import."""
    db = tmp_path / "cli.sqlite"
    s7 = tmp_path / "s7.csv"
    s7.write_text(f"path,verdict,stars\n{song_files[0]},like,\n{song_files[1]},,7\n")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json}\n")
    result = runner.invoke(app, ["ratings", "import", str(s7), "--db", str(db)])
    assert result.exit_code == 1, result.output
    assert flat(f"failed {s7}:3: stars '7' is not a whole number from 1 to 5") in flat(
        result.stderr)
    result = runner.invoke(app, ["ratings", "import", str(bad), "--db", str(db)])
    assert result.exit_code == 1
    assert flat(f"failed {bad}:1: not JSON") in flat(result.stderr)
    with Catalog(db) as cat:
        assert current_stars(cat) == {song_files[0].name: ("like", None)}


@pytest.mark.parametrize(("name", "data", "message"), [
    ("no_path.csv", b"song,verdict\na.flac,like\n", "is not a ratings export: its first line "
     "must name the columns, with 'path'"),
    ("sheet.csv", b"PK\x03\x04\x00\x00" + bytes(range(256)), "is binary data, not text"),
    ("c1.csv", b"path,verdict\n\x81\x8d.flac,like\n", "is neither UTF-8 nor Windows-1252"),
])
def test_a_file_that_is_no_export_is_one_clear_error(catalog, tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputFileError, match=message):
        import_ratings(catalog, path)
    result = runner.invoke(app, ["ratings", "import", str(path), "--db",
                                 str(tmp_path / "cli.sqlite")])
    assert result.exit_code == 3 and "error:" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- playlists -----------------------------------------------------------------------------------


def test_utf16_playlist_is_decoded(catalog, song_files, tmp_path):
    """Windows tools save "Unicode" playlists as UTF-16 with a BOM; read as Latin-1 every
    entry was 'file not found'."""
    odd = shutil.copyfile(song_files[0], song_files[0].with_name("Ærø – 東京.flac"))
    playlist = song_files[0].parent / "unicode.m3u"
    playlist.write_bytes(f"#EXTM3U\r\n{odd.name}\r\n{song_files[1]}\r\n".encode("utf-16"))
    assert [e.path for e in read_playlist(playlist)] == [str(odd), str(song_files[1])]
    report = import_ratings(catalog, playlist)
    assert report.count("rated") == 2 and report.failed == [] and report.notes == []


def test_cp1252_playlist_is_read_with_a_note(catalog, song_files):
    """Old players wrote .m3u in the Windows code page: ’ (0x92) is no Latin-1 letter."""
    odd = shutil.copyfile(song_files[0], song_files[0].with_name("Don’t Stop.flac"))
    playlist = song_files[0].parent / "old.m3u"
    playlist.write_bytes(f"{odd.name}\r\n".encode("cp1252"))
    notes: list[str] = []
    assert [e.path for e in read_playlist(playlist, notes)] == [str(odd)]
    assert notes and notes[0].startswith("old.m3u is not UTF-8 (byte 0x92 on line 1)")
    assert import_ratings(catalog, playlist).notes == notes


def test_windows_paths_match_from_a_playlists_subfolder(catalog, song_files, tmp_path):
    """MusicBee and foobar2000 keep playlists in <library>/Playlists/: the tail of
    D:\\Music\\Artist\\s.wav is found in the playlist's parent folders, longest tail first; a
    bare file name is not looked for above the playlist's folder."""
    library = tmp_path / "lib"
    (library / "Artist").mkdir(parents=True)
    (library / "Other").mkdir()
    (library / "Playlists" / "Mine").mkdir(parents=True)
    song = shutil.copyfile(song_files[0], library / "Artist" / "s.flac")
    other = shutil.copyfile(song_files[1], library / "Other" / "s.flac")
    shutil.copyfile(song_files[2], library / "loose.flac")
    text = "\r\n".join([r"D:\Music\Artist\s.flac", r"\Other\s.flac", r"D:\Music\loose.flac",
                        r"D:\Music\Artist\gone.flac"])
    for folder in (library / "Playlists", library / "Playlists" / "Mine"):
        playlist = folder / "p.m3u"
        playlist.write_text(text + "\r\n", encoding="utf-8")
        entries = read_playlist(playlist)
        assert [(e.path, e.problem) for e in entries[:2]] == [(str(song), None),
                                                              (str(other), None)]
        assert [e.problem for e in entries[2:]] == ["file not found", "file not found"]
    report = import_ratings(catalog, library / "Playlists" / "p.m3u")
    assert report.count("rated") == 2
    assert [i.reason for i in report.failed] == [
        r"file not found (playlist line 3: D:\Music\loose.flac)",
        r"file not found (playlist line 4: D:\Music\Artist\gone.flac)"]


def test_a_playlist_that_is_not_text_is_one_clear_error(catalog, tmp_path):
    playlist = tmp_path / "p.m3u8"
    playlist.write_bytes(b"\x00\x01binary\x00" * 10)
    with pytest.raises(EarmarkError, match="binary data"):
        import_ratings(catalog, playlist)


# --- rating tags -----------------------------------------------------------------------------


def test_rating_values_no_scale_explains_are_named(catalog, song_files, tmp_path):
    folder = tmp_path / "tagged"
    folder.mkdir()
    for n, value in enumerate(("150", "-1", "abc", "4/5", "80%")):
        audio = FLAC(shutil.copyfile(song_files[n], folder / f"song {n}.flac"))
        audio["RATING"] = value
        audio.save()
    shutil.copyfile(song_files[5], folder / "untagged.flac")
    report = import_ratings(catalog, folder)
    assert {Path(i.path).name: (i.status, i.reason) for i in report.items} == {
        "song 0.flac": ("unrated", "rating tag '150' not understood"),
        "song 1.flac": ("unrated", "rating tag '-1' not understood"),
        "song 2.flac": ("unrated", "rating tag 'abc' not understood"),
        "song 3.flac": ("unrated", "rating tag '4/5' not understood"),
        "song 4.flac": ("unrated", "rating tag '80%' not understood"),
        "untagged.flac": ("unrated", "no rating tag"),
    }


def test_fixed_scales_beside_one_free_form_scale_are_no_mix(catalog, song_files, music_files,
                                                            tmp_path):
    """POPM and Windows Media say their scale; only free-form RATING values read in two
    scales make the note."""
    folder = tmp_path / "tagged"
    folder.mkdir()
    for n, value in enumerate(("4", "5")):
        audio = FLAC(shutil.copyfile(song_files[n], folder / f"stars {n}.flac"))
        audio["RATING"] = value
        audio.save()
    tags = ID3()
    tags.add(POPM(email="Windows Media Player 9 Series", rating=196, count=0))
    tags.save(shutil.copyfile(music_files["mp3"], folder / "popm.mp3"))
    report = import_ratings(catalog, folder)
    assert report.count("rated") == 3 and report.notes == []
    audio = FLAC(shutil.copyfile(song_files[2], folder / "percent.flac"))
    audio["RATING"] = "60"
    audio.save()
    report = import_ratings(catalog, folder)
    assert report.notes == ["ratings in 2 scales: stars (2 files), percent (1 file)"]


# --- review answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252"])
def test_answers_file_in_any_encoding_people_save(song_files, encoding):
    song = shutil.copyfile(song_files[0], song_files[0].with_name("Café.flac"))
    answers = song.parent / "answers.csv"
    answers.write_bytes("path,answer\r\nCafé.flac,like\r\n4\r\n".encode(encoding))
    assert read_answers(answers) == ({str(song): "like"}, ["4"])


def test_answers_file_that_is_not_text_is_a_usage_error(tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_bytes(b"\x00\x00\x00")
    result = runner.invoke(app, ["review", "--answers", str(answers), "--db",
                                 str(tmp_path / "cli.sqlite")])
    assert result.exit_code == 2
    assert flat("is binary data, not text") in flat(result.stderr)


# --- output paths and the safety net -----------------------------------------------------------


def test_output_paths_that_cannot_be_created_are_usage_errors(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    db = str(tmp_path / "cli.sqlite")
    cases = [
        (["ratings", "export", "-o", str(blocker / "x.csv")], f"{blocker}/x.csv: Not a "
                                                              "directory"),
        (["ratings", "export", "-o", "/proc/nope/x.csv"], "/proc/nope/x.csv: No such file"),
        (["playlist", str(blocker / "y.m3u8")], f"{blocker}/y.m3u8: Not a directory"),
        (["playlist", str(tmp_path)], None),  # a folder: Typer refuses it itself
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == 2, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        if message:
            assert flat(f"error: cannot create {message}") in flat(result.stderr)


def test_safety_net_turns_os_and_earmark_errors_into_one_line():
    """An error no command handled: OSError and EarmarkError are told in words with exit 3;
    a bug keeps its traceback (the exception reaches the caller)."""
    net = typer.Typer(cls=SafetyNet)

    @net.callback()
    def main() -> None:
        """A group, as earmark's app is."""

    @net.command()
    def fails(kind: str) -> None:
        if kind == "disk":
            raise OSError(errno.ENOSPC, "No space left on device", "/music/out.m3u8")
        if kind == "earmark":
            raise EarmarkError("the catalog is locked by another earmark")
        raise ValueError("a bug")

    result = runner.invoke(net, ["fails", "disk"])
    assert (result.exit_code, result.stderr) == (
        3, "error: /music/out.m3u8: No space left on device\n")
    result = runner.invoke(net, ["fails", "earmark"])
    assert (result.exit_code, result.stderr) == (
        3, "error: the catalog is locked by another earmark\n")
    result = runner.invoke(net, ["fails", "bug"])
    assert isinstance(result.exception, ValueError)
