"""Scanning real music into the catalog: every bad-input case, incremental re-scans, moves,
duplicates, duration filters, and the ``scan``/``info`` commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog, ratings, tracks
from earmark.cli import app
from earmark.engine import LocalEngine
from earmark.errors import FileNameError, printable_path
from earmark.ingest.scan import FOLDER_LOOP, add_file, find_audio_files, scan
from music import FORMATS, gtzan_clip, transcode

runner = CliRunner()


@pytest.fixture
def catalog(tmp_path):
    with Catalog(tmp_path / "catalog.sqlite") as cat:
        yield cat


@pytest.fixture
def messy_library(tmp_path, music_files) -> dict[str, Path]:
    """Real music in every format under awkward names, plus every kind of bad file."""
    lib = tmp_path / "library"
    (lib / "Sub Folder ☃").mkdir(parents=True)
    good = {}
    names = {
        "mp3": "Björk – Jóga (live).mp3",
        "flac": 'quote "double" and \'single\'.flac',
        "ogg": "new\nline.ogg",
        "opus": "Sub Folder ☃/日本語の曲.opus",
        "m4a": "spaces   everywhere .m4a",
        "wav": "plain.wav",
        "aiff": "Sub Folder ☃/$(not a command) & ; |.aiff",
    }
    for fmt, name in names.items():
        good[fmt] = lib / name
        shutil.copyfile(music_files[fmt], good[fmt])
    bad = {
        "empty": lib / "empty.mp3",
        "text": lib / "readme.flac",
        "truncated": lib / "truncated.flac",
        "corrupt": lib / "corrupt.flac",
        "header_only": lib / "header only.m4a",
        "unsupported": lib / "unknown codec.wav",
        "loop": lib / "loop.mp3",
        "dangling": lib / "dangling.ogg",
    }
    bad["empty"].write_bytes(b"")
    bad["text"].write_text("not music at all\n" * 100)
    flac = music_files["flac"].read_bytes()
    bad["truncated"].write_bytes(flac[: len(flac) // 3])
    damaged = bytearray(flac)
    damaged[len(flac) // 2 : len(flac) // 2 + 3000] = bytes(range(256)) * 11 + bytes(184)
    bad["corrupt"].write_bytes(bytes(damaged))
    bad["header_only"].write_bytes(music_files["m4a"].read_bytes()[:300])
    wav = bytearray(music_files["wav"].read_bytes())
    fmt_at = wav.index(b"fmt ")
    wav[fmt_at + 8 : fmt_at + 10] = (0x7A7A).to_bytes(2, "little")
    bad["unsupported"].write_bytes(bytes(wav))
    bad["loop"].symlink_to(bad["loop"])
    bad["dangling"].symlink_to(lib / "gone.ogg")
    (lib / "Sub Folder ☃" / "back to top").symlink_to(lib, target_is_directory=True)
    (lib / "cover.jpg").write_bytes(b"\xff\xd8\xff not scanned: not an audio extension")
    return {**{f"good_{k}": v for k, v in good.items()}, **bad, "root": lib}


REASONS = {
    "empty": "empty file",
    "text": "not an audio file",
    "truncated": "incomplete audio",
    "corrupt": "damaged audio",
    "header_only": "",
    "unsupported": "unsupported audio codec",
    "loop": "symbolic link loop",
    "dangling": "not found",
}


def test_scan_records_good_files_and_every_bad_file_with_a_reason(catalog, messy_library):
    report = scan(catalog, [messy_library["root"]])
    by_path = {item.path: item for item in report.items}
    for fmt in FORMATS:
        path = tracks.normalise_path(messy_library[f"good_{fmt}"])
        assert by_path[path].status == "added", (fmt, by_path[path])
        track = tracks.get_track(catalog, path)
        assert track.status == "ok"
        assert track.duration == pytest.approx(4.0, abs=0.1)
        assert track.channels == 2 and track.content_hash and track.audio_hash
    for name, reason in REASONS.items():
        path = tracks.normalise_path(messy_library[name])
        item = by_path[path]
        assert item.status == "failed", (name, item)
        assert reason in item.reason, (name, item.reason)
        row = tracks.get_track(catalog, path)
        assert row.status == "error" and row.error == item.reason
    loops = [i for i in report.items if i.status == "skipped"]
    assert len(loops) == 1 and "loop" in loops[0].reason
    assert len(report.failed) == len(REASONS)


def test_files_are_never_modified_by_a_scan(catalog, messy_library):
    before = {p: p.read_bytes() for p in messy_library["root"].rglob("*")
              if p.is_file() and not p.is_symlink()}
    scan(catalog, [messy_library["root"]])
    for path, data in before.items():
        assert path.read_bytes() == data


def test_rescan_is_incremental_and_recognises_moves(catalog, tmp_path, music_files):
    lib = tmp_path / "lib"
    lib.mkdir()
    a = lib / "a.mp3"
    shutil.copyfile(music_files["mp3"], a)
    shutil.copyfile(music_files["flac"], lib / "b.flac")
    first = scan(catalog, [lib])
    assert first.count("added") == 2
    track_id = tracks.get_track(catalog, a).id
    catalog.execute("INSERT INTO labels (track_id, dataset, label) VALUES (?, 'mine', 'rock')",
                    (track_id,))

    again = scan(catalog, [lib])
    assert again.count("unchanged") == 2 and again.count("added") == 0
    by_id = tracks.tracks_by_id(catalog, [track_id, 10_000])
    assert list(by_id) == [track_id] and by_id[track_id] == tracks.get_track(catalog, a)
    assert tracks.tracks_by_id(catalog, []) == {}

    (lib / "renamed").mkdir()
    moved = lib / "renamed" / "a renamed.mp3"
    a.rename(moved)
    third = scan(catalog, [lib])
    assert third.count("moved") == 1
    item = next(i for i in third.items if i.status == "moved")
    assert item.moved_from == tracks.normalise_path(a)
    row = tracks.get_track(catalog, moved)
    assert row.id == track_id  # same row: labels, ratings, embeddings follow the file
    assert tracks.get_track(catalog, a) is None
    assert catalog.execute("SELECT label FROM labels WHERE track_id = ?",
                           (track_id,)).fetchone()[0] == "rock"

    os.utime(lib / "b.flac", ns=(1, 1))
    assert scan(catalog, [lib]).count("updated") == 1

    (lib / "b.flac").unlink()
    fourth = scan(catalog, [lib])
    assert fourth.missing == [tracks.normalise_path(lib / "b.flac")]
    scan(catalog, [lib], prune=True)
    assert tracks.get_track(catalog, lib / "b.flac") is None


def test_prune_keeps_the_tracks_of_an_unmounted_drive(tmp_path, music_files):
    """An unmounted drive leaves an empty mount point: ``--prune`` must not take it for a
    library whose files were all deleted, or the ratings are gone after the remount
    (red-team A2). The scan of the other roots goes on."""
    mount, other = tmp_path / "p" / "m", tmp_path / "other"
    mount.mkdir(parents=True)
    other.mkdir()
    song = shutil.copyfile(music_files["wav"], mount / "a.wav")
    shutil.copyfile(music_files["flac"], other / "b.flac")
    db = tmp_path / "p.sqlite"
    assert runner.invoke(app, ["scan", str(mount), str(other), "--db", str(db)]).exit_code == 0
    assert runner.invoke(app, ["rate", str(song), "5", "--db", str(db)]).exit_code == 0
    mount.rename(tmp_path / "p" / "off")
    mount.mkdir()  # the bare mount point
    (other / "b.flac").unlink()
    shutil.copyfile(music_files["ogg"], other / "c.ogg")

    result = runner.invoke(app, ["scan", str(mount), str(other), "--prune", "--db", str(db),
                                 "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows == [
        {"path": str(other / "c.ogg"), "action": "added", "reason": None},
        {"path": str(other / "b.flac"), "action": "pruned", "reason": "file gone: forgotten"},
        {"path": str(mount), "action": "not pruned", "tracks": 1,
         "reason": f"not pruned: {mount} is empty — is the drive unmounted?"}]
    table = runner.invoke(app, ["scan", str(mount), "--prune", "--db", str(db)])
    assert f"not pruned: {mount} is empty — is the drive unmounted?" in " ".join(
        table.output.split())
    with Catalog(db) as catalog:
        assert tracks.get_track(catalog, other / "b.flac") is None  # pruned where it was gone
        track = tracks.get_track(catalog, song)
        assert ratings.current_ratings(catalog)[track.id].stars == 5

    mount.rmdir()
    (tmp_path / "p" / "off").rename(mount)  # the drive is back
    with Catalog(db) as catalog:
        report = scan(catalog, [mount], prune=True)
        assert [(i.path, i.status) for i in report.items] == [(str(song), "unchanged")]
        assert ratings.current_ratings(catalog)[track.id].stars == 5


def test_prune_forgets_deleted_songs_and_albums_but_not_under_an_empty_folder(catalog, tmp_path,
                                                                              music_files):
    lib = tmp_path / "lib"
    for album in ("one", "two", "emptied", "drive/disc", "bare/disc"):
        (lib / "artist" / album).mkdir(parents=True)
    paths = {name: shutil.copyfile(music_files["ogg"], lib / "artist" / f"{name}.ogg")
             for name in ("one/1", "one/2", "two/1", "emptied/1", "drive/disc/1", "bare/disc/1")}
    scan(catalog, [lib], verify=False)
    paths["one/2"].unlink()  # a song deleted from an album that has others
    shutil.rmtree(lib / "artist" / "two")  # an album deleted beside the others
    paths["emptied/1"].unlink()  # its folder now holds nothing: kept, as a mount point would be
    shutil.rmtree(lib / "artist" / "drive" / "disc")  # a mount point inside the library
    shutil.rmtree(lib / "artist" / "bare" / "disc")
    (lib / "artist" / "bare" / "lost+found").mkdir()  # sub-folders, yet no file at all
    report = scan(catalog, [lib], prune=True, verify=False)
    assert sorted(report.missing) == sorted(str(paths[n]) for n in (
        "one/2", "two/1", "emptied/1", "drive/disc/1", "bare/disc/1"))
    assert sorted(report.pruned) == [str(paths["one/2"]), str(paths["two/1"])]
    artist = str(lib / "artist")
    assert report.not_pruned == {f"{artist}/emptied": [str(paths["emptied/1"])],
                                 f"{artist}/drive": [str(paths["drive/disc/1"])],
                                 f"{artist}/bare": [str(paths["bare/disc/1"])]}
    remaining = {t.path for t in tracks.iter_tracks(catalog, None)}
    assert remaining == {str(p) for n, p in paths.items() if n not in ("one/2", "two/1")}
    # Without --prune nothing is forgotten and nothing is reported as kept.
    report = scan(catalog, [lib], verify=False)
    assert (report.pruned, report.not_pruned) == ([], {})


def test_duplicates_same_audio_and_same_artist_title(catalog, tmp_path, music_files):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copyfile(music_files["mp3"], lib / "one.mp3")
    shutil.copyfile(music_files["mp3"], lib / "copy of one.mp3")
    from mutagen.easyid3 import EasyID3

    tags = EasyID3(lib / "copy of one.mp3")  # other tags, same audio
    tags["title"] = "Different Title"
    tags.save()
    for name, fmt in (("song.ogg", "ogg"), ("song again.m4a", "m4a")):
        transcode(gtzan_clip("pop", 2), lib / name, fmt, seconds=3,
                  extra=["-metadata", "artist=The Band", "-metadata", "title=The Song"])
    report = scan(catalog, [lib])
    kinds = {g["kind"]: g["paths"] for g in report.duplicates}
    assert sorted(Path(p).name for p in kinds["same audio"]) == ["copy of one.mp3", "one.mp3"]
    assert sorted(Path(p).name for p in kinds["same artist and title"]) == [
        "song again.m4a", "song.ogg"]
    track = tracks.get_track(catalog, lib / "song.ogg")
    assert (track.artist, track.title) == ("The Band", "The Song")


def test_duration_filter(catalog, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    transcode(gtzan_clip("blues", 1), lib / "short.flac", "flac", seconds=2)
    transcode(gtzan_clip("blues", 1), lib / "long.flac", "flac", seconds=10)
    report = scan(catalog, [lib], min_seconds=5, max_seconds=20)
    assert report.count("added") == 1 and report.count("skipped") == 1
    assert tracks.get_track(catalog, lib / "short.flac") is None
    report = scan(catalog, [lib], max_seconds=5, force=True)
    assert "longer than 5 s" in next(i.reason for i in report.items if i.status == "skipped")


def test_existing_tags_and_ratings_are_read(catalog, tmp_path):
    path = transcode(gtzan_clip("country", 3), tmp_path / "tagged.flac", "flac", seconds=2,
                     extra=["-metadata", "genre=Country;Folk", "-metadata", "rating=80",
                            "-metadata", "album=Album Name"])
    scan(catalog, [path])
    track = tracks.get_track(catalog, path)
    assert track.genre == "Country; Folk"
    assert track.rating == pytest.approx(0.8)
    assert track.album == "Album Name"
    assert track.tags["raw"]["genre"] == ["Country;Folk"]


def without_root_file_access(argv: list[str]) -> list[str]:
    """Run ``argv`` as root but without the capabilities that bypass file permissions, so a
    mode-000 file is unreadable as it is for an ordinary user (tests run as root in CI)."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's file-access capabilities")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *argv]


def test_unreadable_file_is_reported_and_the_scan_goes_on(tmp_path, music_files):
    shutil.copyfile(music_files["mp3"], tmp_path / "locked.mp3")
    shutil.copyfile(music_files["mp3"], tmp_path / "open.mp3")
    os.chmod(tmp_path / "locked.mp3", 0o000)
    code = (
        "import json, sys; from earmark.catalog import Catalog;"
        "from earmark.engine import LocalEngine; from earmark.ingest.scan import scan;"
        "r = scan(Catalog(sys.argv[1]), [sys.argv[2]], engine=LocalEngine(1));"
        "print(json.dumps({i.path: [i.status, i.reason] for i in r.items}))"
    )
    out = subprocess.run(
        without_root_file_access([sys.executable, "-c", code, str(tmp_path / "c.sqlite"),
                                  str(tmp_path)]),
        capture_output=True, text=True, check=True,
    )
    result = json.loads(out.stdout)
    assert result[str(tmp_path / "locked.mp3")] == ["failed", "permission denied"]
    assert result[str(tmp_path / "open.mp3")][0] == "added"


def test_find_audio_files_handles_folder_loops(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.mp3").write_bytes(b"")
    (tmp_path / "a" / "up").symlink_to(tmp_path, target_is_directory=True)
    found = list(find_audio_files([tmp_path]))
    assert [p for p, problem in found if problem is None] == [str(tmp_path / "a" / "x.mp3")]
    assert any(problem and "loop" in problem for _, problem in found)


def test_a_file_named_again_is_found_and_scanned_once(tmp_path, music_files, monkeypatch):
    """``earmark scan lib lib/a.flac`` (or ``lib/./a.flac``): one song, one result line, not
    the same file scanned twice."""
    lib = tmp_path / "lib"
    lib.mkdir()
    song = shutil.copyfile(music_files["flac"], lib / "a.flac")
    other = shutil.copyfile(music_files["ogg"], lib / "b.ogg")
    monkeypatch.chdir(tmp_path)
    roots = [lib, song, "lib/./a.flac", tmp_path / "gone.mp3", "gone.mp3"]
    assert list(find_audio_files(roots)) == [
        (str(song), None), (str(other), None),
        (str(tmp_path / "gone.mp3"), "file or folder not found")]
    result = runner.invoke(app, ["scan", str(lib), str(song), "lib/a.flac", "--json",
                                 "--db", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 0, result.output
    assert [(json.loads(line)["path"], json.loads(line)["action"])
            for line in result.stdout.splitlines()] == [(str(song), "added"),
                                                        (str(other), "added")]


def test_a_folder_given_twice_or_inside_another_is_walked_once_and_said_nothing_of(
        tmp_path, music_files):
    """``earmark scan dup dup`` reported the second ``dup`` "skipped: symbolic link loop",
    though no link was there: a folder named again, or inside another one given (before or
    after it), is walked once, silently. A symbolic link to a folder walked already is still
    said."""
    lib = tmp_path / "dup"
    sub = lib / "sub"
    sub.mkdir(parents=True)
    song = str(shutil.copyfile(music_files["flac"], lib / "a.flac"))
    other = str(shutil.copyfile(music_files["ogg"], sub / "b.ogg"))
    for roots in ([lib, lib], [lib, sub], [sub, lib], [lib, f"{lib}/", f"{lib}/."]):
        assert sorted(find_audio_files(roots)) == [(song, None), (other, None)], roots
    result = runner.invoke(app, ["scan", str(lib), str(lib), "--json",
                                 "--db", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 0, result.output
    assert [(json.loads(line)["path"], json.loads(line)["action"])
            for line in result.stdout.splitlines()] == [(song, "added"), (other, "added")]
    (lib / "z link").symlink_to(sub, target_is_directory=True)
    assert list(find_audio_files([lib, lib])) == [
        (song, None), (other, None), (str(lib / "z link"), FOLDER_LOOP)]


def apple_double(path: Path) -> Path:
    """A macOS AppleDouble file as Finder leaves beside each song on a non-Mac drive: magic
    0x00051607, version 2, 16 filler bytes, entries (finder info, resource fork), 4 KB."""
    header = (0x00051607).to_bytes(4, "big") + (0x00020000).to_bytes(4, "big") + bytes(16)
    entries = (2).to_bytes(2, "big") + b"".join(
        kind.to_bytes(4, "big") + offset.to_bytes(4, "big") + size.to_bytes(4, "big")
        for kind, offset, size in ((9, 50, 3760), (2, 3810, 286)))
    path.write_bytes((header + entries).ljust(4096, b"\0"))
    return path


def test_hidden_files_and_folders_are_left_out_unless_given(tmp_path, music_files):
    """A library copied from a Mac carries ``._song.flac`` beside each song; a drive has a
    ``.Trash-1000``: neither is music to catalog (red-team C5), unless named as a root."""
    lib = tmp_path / "from a mac"
    trash = lib / ".Trash-1000" / "files"
    trash.mkdir(parents=True)
    song = shutil.copyfile(music_files["flac"], lib / "song.flac")
    apple_double(lib / "._song.flac")
    shutil.copyfile(music_files["mp3"], trash / "deleted.mp3")
    shutil.copyfile(music_files["ogg"], lib / ".earmark-123.abc.ogg")
    assert [p for p, _ in find_audio_files([lib])] == [str(song)]
    db = tmp_path / "mac.sqlite"
    result = runner.invoke(app, ["scan", str(lib), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [str(song)]
    # Named explicitly, a hidden folder or file is scanned like any other.
    assert [p for p, _ in find_audio_files([lib / ".Trash-1000"])] == [
        str(trash / "deleted.mp3")]
    result = runner.invoke(app, ["scan", str(lib / "._song.flac"), "--db", str(db), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["reason"].startswith("not an audio file")


def test_scan_command_table_json_and_exit_codes(tmp_path, messy_library, music_files):
    db = tmp_path / "cli.sqlite"
    result = runner.invoke(app, ["scan", str(messy_library["root"]), "--db", str(db)])
    assert result.exit_code == 1, result.output  # some files failed, the rest were recorded
    assert "added" in result.output and "could not be read" in result.output

    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copyfile(music_files["ogg"], clean / "ok.ogg")
    result = runner.invoke(app, ["scan", str(clean), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [{"path": str(clean / "ok.ogg"), "action": "added", "reason": None,
                      "duplicates": [str(messy_library["good_ogg"])]}]


def test_info_command(tmp_path, music_files):
    db = tmp_path / "cli.sqlite"
    runner.invoke(app, ["scan", str(music_files["flac"]), "--db", str(db)])
    result = runner.invoke(app, ["info", str(music_files["flac"]), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["path"] == str(music_files["flac"]) and data["in_catalog"] is True
    assert data["codec"] == "flac" and data["ratings"] == [] and data["labels"] == []
    result = runner.invoke(app, ["info", str(music_files["mp3"]), "--db", str(db)])
    assert result.exit_code == 0 and "not in the catalog" in result.output


def test_catalog_rejects_a_newer_schema(tmp_path):
    db = tmp_path / "future.sqlite"
    with Catalog(db) as cat:
        cat.execute("PRAGMA user_version = 999")
    from earmark.errors import CatalogError

    with pytest.raises(CatalogError, match="newer"):
        Catalog(db)


@pytest.mark.slow
def test_scan_gtzan_with_two_workers_and_python_m(tmp_path):
    gtzan = gtzan_clip("rock", 0).parent.parent
    db = tmp_path / "gtzan.sqlite"
    out = subprocess.run(
        [sys.executable, "-m", "earmark", "scan", str(gtzan), "--db", str(db), "--json"],
        capture_output=True, text=True, check=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 60 and {r["action"] for r in rows} == {"added"}


def test_command_line_starts_without_torch_or_scikit_learn():
    """Heavy libraries load only in the commands that need them: start-up stays fast."""
    code = ("import sys, earmark.cli; "
            "print(sorted({'torch', 'sklearn', 'librosa', 'optuna'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# --- one file's surprise never ends a batch (issue 17, case 1) --------------------------------


@pytest.fixture
def three_songs(tmp_path, music_files) -> dict[str, Path]:
    lib = tmp_path / "three"
    lib.mkdir()
    return {name: shutil.copyfile(music_files[fmt], lib / f"{name}.{fmt}")
            for name, fmt in (("first", "mp3"), ("odd", "flac"), ("last", "ogg"))}


def fail_for(path: Path, real):
    """``real``, except that it raises an exception nobody expects for ``path``: a fault
    injected into one file's step, to see the batch survive it."""

    def step(target, *args, **kwargs):
        if os.fspath(target) == os.fspath(path):
            raise RuntimeError("injected fault")
        return real(target, *args, **kwargs)

    return step


@pytest.mark.parametrize("step", ["check_audio", "read_tags"])
def test_an_unexpected_exception_in_inspection_fails_only_that_file(
        catalog, three_songs, monkeypatch, step):
    import earmark.ingest.scan

    monkeypatch.setattr(earmark.ingest.scan, step,
                        fail_for(three_songs["odd"], getattr(earmark.ingest.scan, step)))
    report = scan(catalog, [three_songs["first"].parent], engine=LocalEngine(1))  # in this process
    by_name = {Path(i.path).stem: i for i in report.items}
    assert by_name["odd"].status == "failed"
    assert by_name["odd"].reason == "unexpected error: RuntimeError: injected fault"
    assert by_name["first"].status == by_name["last"].status == "added"
    assert tracks.get_track(catalog, three_songs["odd"]).status == "error"
    assert tracks.get_track(catalog, three_songs["last"]).status == "ok"


def test_an_unexpected_exception_while_recording_fails_only_that_file(
        catalog, three_songs, monkeypatch):
    real = tracks.record_track

    def record(cat, record):  # the fault strikes the file's row, not the error row after it
        if record["path"] == str(three_songs["odd"]) and record["status"] == "ok":
            raise RuntimeError("injected fault")
        return real(cat, record)

    monkeypatch.setattr(tracks, "record_track", record)
    report = scan(catalog, [three_songs["first"].parent], engine=LocalEngine(1))
    by_name = {Path(i.path).stem: i for i in report.items}
    assert by_name["odd"].status == "failed"
    assert by_name["odd"].reason == "unexpected error: RuntimeError: injected fault"
    assert by_name["first"].status == by_name["last"].status == "added"
    row = tracks.get_track(catalog, three_songs["odd"])
    assert (row.status, row.error) == ("error", by_name["odd"].reason)
    assert row.size is None  # so the next scan tries the file again
    monkeypatch.setattr(tracks, "record_track", real)
    assert scan(catalog, [three_songs["odd"]]).items[0].status == "updated"


def test_add_file_reports_a_file_it_could_not_record_at_all(catalog, three_songs,
                                                             monkeypatch):
    from earmark.taste.ratings_io import rate_file

    real = tracks.record_track

    def record(cat, record):  # not even the error row can be written
        if record["path"] == str(three_songs["odd"]):
            raise RuntimeError("injected fault")
        return real(cat, record)

    monkeypatch.setattr(tracks, "record_track", record)
    item = rate_file(catalog, three_songs["odd"], "like", None, "user")
    assert item.status == "failed"
    assert item.reason.endswith("unexpected error: RuntimeError: injected fault")
    assert rate_file(catalog, three_songs["last"], "like", None, "user").status == "rated"


def test_a_name_that_is_not_utf8_is_reported_and_the_scan_goes_on(catalog, tmp_path,
                                                                  music_files):
    lib = tmp_path / "latin1"
    lib.mkdir()
    latin1 = os.path.join(os.fsencode(lib), "café.mp3".encode("latin-1"))
    shutil.copyfile(music_files["mp3"], latin1)
    shutil.copyfile(music_files["mp3"], lib / "ascii.mp3")
    report = scan(catalog, [lib])
    by_action = {i.status: i for i in report.items}
    assert set(by_action) == {"added", "failed"}
    assert by_action["failed"].path == os.fsdecode(latin1)
    assert by_action["failed"].reason.startswith("file name is not valid UTF-8")
    assert tracks.get_track(catalog, lib / "ascii.mp3").status == "ok"


# --- names that are not UTF-8 (red-team A3) ---------------------------------------------------


@pytest.fixture
def latin1_folder(tmp_path, music_files) -> Path:
    """``Café/s.mp3`` with the folder's name in Latin-1, as old libraries have it."""
    folder = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), "Café".encode("latin-1"))))
    folder.mkdir()
    shutil.copyfile(music_files["mp3"], folder / "s.mp3")
    return folder


def test_a_folder_whose_name_is_not_utf8_gives_each_file_the_reason(catalog, latin1_folder):
    song = str(latin1_folder / "s.mp3")
    for root in (latin1_folder, latin1_folder.parent, latin1_folder / "s.mp3"):
        report = scan(catalog, [root], prune=True)
        assert [(i.path, i.status, i.reason) for i in report.items] == [
            (song, "failed", tracks.NOT_UTF8)]
        assert report.missing == report.pruned == []
    with pytest.raises(FileNameError) as raised:
        add_file(catalog, song)
    assert (raised.value.path, raised.value.reason) == (song, tracks.NOT_UTF8)
    with pytest.raises(FileNameError):
        list(tracks.iter_tracks(catalog, under=latin1_folder))
    assert printable_path(song).endswith("/Caf\\xe9/s.mp3")
    assert list(tracks.iter_tracks(catalog, None)) == []


def test_commands_on_a_name_that_is_not_utf8_say_why_without_a_traceback(tmp_path,
                                                                         latin1_folder):
    db = str(tmp_path / "b.sqlite")
    song = latin1_folder / "s.mp3"
    scanned = runner.invoke(app, ["scan", str(latin1_folder), "--db", db, "--json"])
    assert scanned.exit_code == 1, scanned.output
    row = json.loads(scanned.stdout_bytes.decode("utf-8"))  # valid UTF-8, valid JSON
    assert '"path": "' + str(tmp_path) + '/Caf\\udce9/s.mp3"' in scanned.stdout
    assert os.fsencode(row["path"]) == os.fsencode(song)  # the name's exact bytes
    assert row["reason"] == tracks.NOT_UTF8
    imported = runner.invoke(app, ["ratings", "import", str(latin1_folder), "--db", db,
                                   "--json"])
    assert imported.exit_code == 1, imported.output
    assert json.loads(imported.stdout)["reason"] == tracks.NOT_UTF8
    for args, code in ((["rate", str(song), "5"], 3), (["info", str(song)], 3),
                       (["embed", str(latin1_folder)], 3),
                       (["recommend", "--from", str(latin1_folder)], 3)):
        result = runner.invoke(app, [*args, "--db", db])
        assert result.exit_code == code, (args, result.output)
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), (args, result.exception)
        assert tracks.NOT_UTF8 in " ".join(result.stderr.split()), (args, result.stderr)


def test_scan_table_of_a_name_that_is_not_utf8_prints_under_a_strict_locale(tmp_path,
                                                                            latin1_folder):
    """Where the locale makes stdout strict (en_US.UTF-8), printing the name died."""
    # Wide enough that the table never folds the path inside the name (how it folds depends
    # on the length of pytest's temporary folder).
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "COLUMNS": "400"}
    result = subprocess.run(
        [sys.executable, "-m", "earmark", "scan", str(latin1_folder.parent), "--db",
         str(tmp_path / "s.sqlite")], capture_output=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    assert b"Caf\\udce9" in result.stdout and b"file name is not valid UTF-8" in result.stdout
