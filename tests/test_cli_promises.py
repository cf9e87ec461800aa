"""What the README promises of every command (issue 12 items 9-13, 16): exit code 3 and one
``error:`` line when there is nothing to work on, ``--db`` everywhere, Ctrl-C, one writer at a
time, readable help, ``--version``, ``~`` in paths."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import earmark
from earmark.catalog import Catalog, journal, tracks
from earmark.catalog.lock import holder_pid, lock_path
from earmark.cli import app
from earmark.engine import LocalEngine
from earmark.errors import CatalogError
from earmark.ingest.scan import find_audio_files, scan

runner = CliRunner()

MISSING = "no such song.mp3"
EMPTY = "empty folder"
MODEL = "no such model"


# Every command given a file that does not exist, a folder without audio, or (for commands
# that only read the catalog) a catalog with nothing in it. Each does nothing, so exit 3.
NOTHING_TO_DO = [
    pytest.param(["scan", MISSING], id="scan-missing"),
    pytest.param(["scan", EMPTY], id="scan-empty"),
    pytest.param(["info", MISSING], id="info-missing"),
    pytest.param(["list"], id="list-no-catalog"),
    pytest.param(["serve"], id="serve-no-catalog"),
    pytest.param(["stats"], id="stats-no-catalog"),
    pytest.param(["map"], id="map-empty-catalog"),
    pytest.param(["tags", MISSING], id="tags-missing"),
    pytest.param(["tags", EMPTY], id="tags-empty"),
    pytest.param(["genre", MISSING], id="genre-missing"),
    pytest.param(["genre", EMPTY], id="genre-empty"),
    pytest.param(["embed", MISSING], id="embed-missing"),
    pytest.param(["embed", EMPTY], id="embed-empty"),
    pytest.param(["tag", MISSING, "--yes"], id="tag-missing"),
    pytest.param(["tag", EMPTY, "--yes"], id="tag-empty"),
    pytest.param(["undo", MISSING], id="undo-missing"),
    pytest.param(["undo", "--last"], id="undo-empty-catalog"),
    pytest.param(["rate", MISSING, "like"], id="rate-missing"),
    pytest.param(["label", MISSING, "shoegaze"], id="label-missing"),
    pytest.param(["label", EMPTY, "shoegaze"], id="label-empty"),
    pytest.param(["taste"], id="taste-empty-catalog"),
    pytest.param(["review"], id="review-empty-catalog"),
    pytest.param(["recommend"], id="recommend-empty-catalog"),
    pytest.param(["similar", MISSING], id="similar-missing"),
    pytest.param(["radio", MISSING], id="radio-missing"),
    pytest.param(["playlist", "out.m3u8"], id="playlist-empty-catalog"),
    pytest.param(["train"], id="train-empty-catalog"),
    pytest.param(["evaluate", MODEL, "gtzan"], id="evaluate-missing-model"),
    pytest.param(["predict", MODEL, MISSING], id="predict-missing"),
    pytest.param(["tune"], id="tune-empty-catalog"),
    pytest.param(["ratings", "import", MISSING], id="ratings-import-missing"),
    pytest.param(["ratings", "import", EMPTY], id="ratings-import-empty"),
    pytest.param(["ratings", "export"], id="ratings-export-empty-catalog"),
    pytest.param(["dataset", "import", MISSING], id="dataset-import-missing"),
    pytest.param(["dataset", "import", EMPTY], id="dataset-import-empty"),
    pytest.param(["dataset", "list"], id="dataset-list-empty-catalog"),
    pytest.param(["discover"], id="discover-no-source"),
    pytest.param(["inbox"], id="inbox-empty-catalog"),
]



def _every_command() -> set[str]:
    """``earmark --help``'s commands, groups expanded (``ratings import``)."""
    import typer.main

    group = typer.main.get_command(app)
    names = set()
    for name, command in group.commands.items():
        subcommands = getattr(command, "commands", None)
        names |= {f"{name} {sub}" for sub in subcommands} if subcommands else {name}
    return names


def test_every_command_has_a_nothing_to_do_case():
    """A command added later must get its line in NOTHING_TO_DO."""
    covered = set()
    for param in NOTHING_TO_DO:
        argv = param.values[0]
        covered.add(" ".join(argv[:2]) if argv[0] in ("ratings", "dataset") else argv[0])
    assert covered == _every_command()


@pytest.mark.parametrize("argv", NOTHING_TO_DO)
def test_nothing_to_do_exits_3_with_one_error_line(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / EMPTY).mkdir()
    (tmp_path / EMPTY / "notes.txt").write_text("not music\n")
    db = tmp_path / "catalog.sqlite"
    result = runner.invoke(app, [*argv, "--db", str(db)])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert (result.exit_code, len(errors)) == (3, 1), result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", [
    pytest.param(name) for name in sorted(_every_command())])
def test_every_command_takes_db(name):
    """README: "Every command takes --db PATH"."""
    import typer.main

    command = typer.main.get_command(app)
    for part in name.split():
        command = command.commands[part]
    assert any("--db" in p.opts for p in command.params)


def test_scan_of_a_missing_folder_exits_3_and_creates_no_catalog(tmp_path):
    db = tmp_path / "new.sqlite"
    result = runner.invoke(app, ["scan", str(tmp_path / "no such dir"), "--db", str(db)])
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {tmp_path / 'no such dir'}: file or folder not found"
    assert not db.exists()


def test_empty_folder_scan_exits_3_with_no_catalog_and_a_missing_root_beside_one_is_1(
        tmp_path, music_files):
    empty = tmp_path / "empty"
    empty.mkdir()
    db = tmp_path / "c.sqlite"
    result = runner.invoke(app, ["scan", str(empty), "--db", str(db)])
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: no audio files in {empty}: nothing to scan"
    assert not db.exists() and not lock_path(db).exists()  # nothing to keep: no catalog made
    # One folder missing among real ones: that root failed, the rest was done.
    song = shutil.copyfile(music_files["ogg"], empty / "a.ogg")
    result = runner.invoke(app, ["scan", str(empty), str(tmp_path / "gone"), "--db", str(db),
                                 "--json"])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["path"], r["action"]) for r in rows] == [
        (str(tmp_path / "gone"), "failed"), (str(song), "added")]


def test_info_of_a_missing_file_exits_3_and_a_new_db_is_not_created(tmp_path, music_files):
    db = tmp_path / "never.sqlite"
    result = runner.invoke(app, ["info", str(tmp_path / "gone.mp3"), "--db", str(db)])
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {tmp_path / 'gone.mp3'}: file not found"
    result = runner.invoke(app, ["info", str(music_files["mp3"]), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["in_catalog"] is False and data["codec"].startswith("mp3")
    assert not db.exists() and not lock_path(db).exists()


def test_info_shows_a_compact_human_view(tmp_path, music_files):
    db = tmp_path / "c.sqlite"
    song = music_files["flac"]
    assert runner.invoke(app, ["scan", str(song), "--db", str(db)]).exit_code == 0
    result = runner.invoke(app, ["info", str(song), "--db", str(db)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # a long path folds on a narrow terminal
    assert text.startswith(f"{song} audio 0:04, flac, 44.1 kHz, 2 ch, ")
    assert " status ok " in text
    # Dates in ISO 8601, never epoch seconds or raw nanoseconds.
    with Catalog(db) as catalog:
        track = tracks.get_track(catalog, song)
    assert str(track.mtime_ns) not in result.stdout and "mtime_ns" not in result.stdout
    assert " scanned 20" in text


def test_scan_summary_counts_a_missing_file_not_as_playable_and_prune_says_pruned(
        tmp_path, music_files):
    lib = tmp_path / "lib"
    lib.mkdir()
    keep = shutil.copyfile(music_files["ogg"], lib / "keep.ogg")
    gone = shutil.copyfile(music_files["flac"], lib / "gone.flac")
    db = tmp_path / "c.sqlite"
    assert runner.invoke(app, ["scan", str(lib), "--db", str(db)]).exit_code == 0
    gone.unlink()

    def summary(*extra: str) -> dict[str, str]:
        result = runner.invoke(app, ["scan", str(lib), "--db", str(db), *extra],
                               env={"COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        cells = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines()
                 if line.startswith("│")]
        return {name: value for name, value in cells}

    assert summary() == {"unchanged": "1", "missing (in catalog, file gone)": "1",
                         "catalog: playable songs": "1 (0.0 h)"}
    assert summary("--prune") == {"unchanged": "1", "pruned (forgotten)": "1",
                                  "catalog: playable songs": "1 (0.0 h)"}
    with Catalog(db) as catalog:
        assert [t.path for t in tracks.iter_tracks(catalog)] == [str(keep)]


def test_scan_tables_show_paths_relative_to_the_folder_given(tmp_path, music_files):
    lib = tmp_path / "a long library folder name" / "music"
    (lib / "album").mkdir(parents=True)
    (lib / "album" / "broken.flac").write_text("not audio")
    result = runner.invoke(app, ["scan", str(lib), "--db", str(tmp_path / "c.sqlite")],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 1
    assert "│ album/broken.flac │" in result.stdout.replace("  ", " ").replace("  ", " ")
    assert str(tmp_path) not in result.stdout


def test_help_is_readable_and_version_prints():
    result = runner.invoke(app, ["scan", "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    # Paragraphs are re-wrapped to the width, not cut where the source line ended.
    assert "Record every audio file under FOLDERS in the catalog (incremental)." in result.stdout
    undo = runner.invoke(app, ["undo", "--help"], env={"COLUMNS": "80"})
    assert "(an absent\n  tag becomes absent again" in undo.stdout
    assert all(len(line) <= 80 for line in undo.stdout.splitlines())
    version = runner.invoke(app, ["--version"])
    assert (version.exit_code, version.stdout) == (0, f"earmark {earmark.__version__}\n")


def test_output_read_by_a_program_that_stops_early_ends_quietly(tmp_path, music_files):
    """``earmark scan lib --json | head -1``: when the reader goes away the command stops as
    programs stopped by SIGPIPE do (exit 141, nothing on stderr), not with ``error: Broken
    pipe``; what it did is kept."""
    shutil.copyfile(music_files["ogg"], tmp_path / "a.ogg")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write fails
    run = subprocess.run([sys.executable, "-m", "earmark", "scan", str(tmp_path), "--json",
                          "--db", str(tmp_path / "c.sqlite")],
                         stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert (run.returncode, run.stderr) == (141, "")
    with Catalog(tmp_path / "c.sqlite") as catalog:
        assert tracks.get_track(catalog, tmp_path / "a.ogg").status == "ok"


def test_library_paths_expand_the_home_folder(tmp_path, music_files, monkeypatch):
    """README's ``scan(catalog, ["~/Music"])``, ``Catalog("~/my.sqlite")``."""
    home = tmp_path / "home"
    (home / "Music").mkdir(parents=True)
    song = shutil.copyfile(music_files["ogg"], home / "Music" / "a.ogg")
    monkeypatch.setenv("HOME", str(home))
    with Catalog("~/my.sqlite") as catalog:
        report = scan(catalog, ["~/Music"], engine=LocalEngine(1))
        assert [(i.path, i.status) for i in report.items] == [(str(song), "added")]
        assert tracks.get_track(catalog, "~/Music/a.ogg").path == str(song)
        # A folder given with '~' selects its songs, as a file does (embed PATHS, learn).
        for given in ("~/Music", "~/Music/a.ogg"):
            assert [t.path for t in tracks.select_tracks(catalog, [given])] == [str(song)]
    assert (home / "my.sqlite").is_file()
    # Every command finds its PATHS through find_audio_files: a quoted '~' is expanded there.
    assert list(find_audio_files(["~/Music", "~/Music/a.ogg"])) == [(str(song), None)]


def test_catalog_lock_waits_for_the_holder_and_names_it(tmp_path):
    db = tmp_path / "c.sqlite"
    with Catalog(db, lock=True):
        assert holder_pid(db) == os.getpid()
        # Another process wants to write: it waits, says once for whom, and gives up here.
        code = ("import sys\nfrom earmark.catalog import Catalog\nfrom earmark.errors import "
                "CatalogError\ntry:\n    Catalog(sys.argv[1], lock=True, lock_timeout=0.5, "
                "on_wait=lambda pid: print('waits for', pid))\nexcept CatalogError as e:\n"
                "    print(e)\n")
        out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True,
                             text=True, timeout=60).stdout.splitlines()
        assert out[0] == f"waits for {os.getpid()}"
        assert out[1].startswith(f"catalog {db} is still in use by earmark (process "
                                 f"{os.getpid()}) after 0.5 s")
    with Catalog(db, lock=True, lock_timeout=0):  # released on close
        pass
    with pytest.raises(CatalogError, match="no catalog at"):
        Catalog(tmp_path / "none.sqlite", create=False)
    assert not (tmp_path / "none.sqlite").exists()


def _clips(folder: Path, n: int) -> list[Path]:
    """``n`` 3 s clips of real music (GTZAN, one genre after another) as FLAC in ``folder``."""
    from music import gtzan_clip, transcode

    folder.mkdir(parents=True, exist_ok=True)
    genres = ["rock", "jazz", "blues", "pop", "metal", "disco", "reggae", "country"]
    return [transcode(gtzan_clip(genres[i % len(genres)], i // len(genres)),
                      folder / f"{i:02d}.flac", "flac", seconds=3.0, rate=22050, channels=1)
            for i in range(n)]


def _library(folder: Path, n: int) -> int:
    """``n`` 3 s clips of real music, then a full 7-minute song that keeps a scan busy for
    seconds (so a test can act while it runs); returns the number of files."""
    from music import asc_songs

    _clips(folder, n)
    shutil.copyfile(max(asc_songs(), key=lambda p: p.stat().st_size), folder / "99 long.mp3")
    return n + 1


def _earmark(*args: str, db: Path, workers: int = 1) -> subprocess.Popen:
    """``earmark *args --db db`` in its own process group, as a terminal starts it (so a
    test's ``os.killpg`` is a Ctrl-C that reaches its worker processes too). One worker
    (default): in order, in one process."""
    env = {**os.environ, "EARMARK_WORKERS": str(workers)}
    return subprocess.Popen([sys.executable, "-m", "earmark", *args, "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def _stopped_part_way(proc: subprocess.Popen, err: str, total: int) -> int:
    """How many of ``total`` songs the Ctrl-C'd ``proc`` says it did, checked: exit 130, no
    traceback, and a last line 'interrupted: N of TOTAL songs done; run it again to continue'
    with 1 <= N < TOTAL."""
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and last.endswith(
        f" of {total} songs done; run it again to continue"), err
    done = int(last.split()[1])
    assert 1 <= done < total
    return done


@pytest.mark.slow
def test_ctrl_c_during_scan_says_how_far_it_got_and_a_rerun_continues(tmp_path):
    total = _library(tmp_path / "lib", 4)
    db = tmp_path / "c.sqlite"
    # Without a terminal, scan prints "scanning: N of 5 (..%)" lines: after the first one some
    # songs are in the catalog and the long song is still to do.
    proc = _earmark("scan", str(tmp_path / "lib"), db=db)
    line = proc.stderr.readline()
    assert line.startswith(f"scanning: 1 of {total}"), line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    done = _stopped_part_way(proc, err, total)
    with Catalog(db) as catalog:
        kept = len(list(tracks.iter_tracks(catalog)))
    assert kept >= done  # every song reported done is in the catalog
    rerun = _earmark("scan", str(tmp_path / "lib"), "--json", db=db)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0
    actions = sorted(json.loads(line)["action"] for line in out.splitlines())
    assert actions == ["added"] * (total - kept) + ["unchanged"] * kept


def _one_while_another_writes(argv: list[str], db: Path, second_argv: list[str] | None = None
                              ) -> tuple[subprocess.Popen, subprocess.Popen]:
    """Start ``earmark *argv`` on ``db`` and, while it holds the writer lock, ``earmark
    *second_argv`` (default: the same). The first is paused meanwhile, so the second surely
    finds the lock taken, whatever the timing. Checks the second's one waiting line and
    returns both, running."""
    first = _earmark(*argv, db=db)
    deadline = time.monotonic() + 120
    while holder_pid(db) != first.pid and time.monotonic() < deadline:
        time.sleep(0.005)
    first.send_signal(signal.SIGSTOP)
    try:
        assert holder_pid(db) == first.pid
        second = _earmark(*(second_argv or argv), db=db)
        said = second.stderr.readline()
    finally:
        first.send_signal(signal.SIGCONT)
    assert said == (
        f"waiting: earmark (process {first.pid}) is writing to this catalog; this command "
        "starts when it has finished (Ctrl-C to stop)\n")
    return first, second


@pytest.mark.slow
def test_ctrl_c_on_a_parallel_scan_stops_its_workers_without_tracebacks(tmp_path):
    """Ctrl-C in a terminal reaches the scan's worker processes too: none prints a traceback,
    and the scan stops without finishing the long song first."""
    total = _library(tmp_path / "lib", 4)
    proc = _earmark("scan", str(tmp_path / "lib"), db=tmp_path / "c.sqlite", workers=2)
    assert proc.stderr.readline().startswith(f"scanning: 1 of {total}")
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.splitlines()[-1].endswith("songs done; run it again to continue"), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


@pytest.mark.slow
def test_ctrl_c_during_embed_says_how_far_it_got_and_a_rerun_does_the_rest(tmp_path):
    """Ctrl-C (to the process group, as a terminal sends it) during ``embed``: one line
    saying how many songs are done, exit 130, no traceback; the songs done are kept and a
    rerun embeds only the others."""
    total = _library(tmp_path / "lib", 4)
    db = tmp_path / "c.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [tmp_path / "lib"], engine=LocalEngine(1))
    # --full: every patch of the long song, which keeps embed busy (a sample takes a moment).
    proc = _earmark("embed", "--full", db=db)
    line = proc.stderr.readline()
    assert line.startswith("embedding (") and f": 1 of {total} (" in line, line
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    done = _stopped_part_way(proc, err, total)
    rerun = _earmark("embed", db=db)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    kept = int(out.split(" already up to date")[0].split()[-1])
    assert kept >= done  # every song reported done was kept
    assert out.startswith(f"{total - kept} embedded, {kept} already up to date, 0 failed")


@pytest.mark.slow
def test_two_scans_at_once_write_one_after_the_other(tmp_path):
    """The second writer waits for the first (saying for which process), then finds the
    first's work done: nothing is inspected twice, nothing fails."""
    total = _library(tmp_path / "lib", 2)
    db = tmp_path / "c.sqlite"
    first, second = _one_while_another_writes(["scan", str(tmp_path / "lib"), "--json"], db)
    out1, _ = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), err2
    assert [json.loads(x)["action"] for x in out1.splitlines()] == ["added"] * total
    assert [json.loads(x)["action"] for x in out2.splitlines()] == ["unchanged"] * total


@pytest.mark.slow
def test_two_embeds_at_once_compute_each_song_once(tmp_path):
    """The second ``embed`` waits for the first, then finds every song embedded: it computes
    nothing and says so; the catalog holds one embedding row per song and model."""
    songs = _clips(tmp_path / "lib", 2)
    db = tmp_path / "c.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [tmp_path / "lib"], engine=LocalEngine(1))
    first, second = _one_while_another_writes(["embed", "--json"], db, ["embed"])
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2
    assert sorted((json.loads(x)["path"], json.loads(x)["embedded"])
                  for x in out1.splitlines()) == [(str(song), True) for song in songs]
    assert out2.startswith(f"0 embedded, {len(songs)} already up to date, 0 failed"), out2


@pytest.mark.slow
def test_two_tag_runs_at_once_write_each_file_once_and_undo_restores_all(tmp_path):
    """The second ``tag --yes`` waits, then finds the files tagged (fill mode: each keeps its
    genre): no failures, nothing written twice, and ``undo --last`` (the first run's batch,
    the only one that wrote) gives every file back its tags, as ffprobe reads them."""
    from realworld import ffprobe_tags

    songs = _clips(tmp_path / "lib", 2)
    before = {song: ffprobe_tags(song) for song in songs}
    assert all("genre" not in tags for tags in before.values())
    db = tmp_path / "c.sqlite"
    first, second = _one_while_another_writes(["tag", str(tmp_path / "lib"), "--yes", "--json"],
                                              db)
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2
    written = {json.loads(x)["path"]: json.loads(x)["status"] for x in out1.splitlines()}
    assert written == {str(song): "written" for song in songs}
    again = {json.loads(x)["path"]: json.loads(x)["status"] for x in out2.splitlines()}
    assert again == {str(song): "kept" for song in songs}
    genres = {song: ffprobe_tags(song).get("genre") for song in songs}
    assert all(genres.values()), genres
    with Catalog(db) as catalog:  # one journalled genre write per file, all in one batch
        entries = journal.entries(catalog)
    assert sorted((e.path, e.field.lower()) for e in entries) == [(str(s), "genre") for s in songs]
    assert len({e.batch_id for e in entries}) == 1
    undo = _earmark("undo", "--last", "--json", db=db)
    out3, err3 = undo.communicate(timeout=300)
    assert undo.returncode == 0, err3
    assert sorted(json.loads(x)["status"] for x in out3.splitlines()) == ["restored"] * 2
    assert {song: ffprobe_tags(song) for song in songs} == before


def test_read_only_commands_do_not_wait_for_a_writer(tmp_path, music_files):
    """``ratings export`` and ``dataset list`` only read: they run while another process
    holds the writer lock (here this test), and say nothing about waiting; a writer (``rate``)
    started meanwhile does wait, and gives up after its timeout."""
    from earmark.catalog import ratings

    db = tmp_path / "c.sqlite"
    song = shutil.copyfile(music_files["ogg"], tmp_path / "a.ogg")
    with Catalog(db) as catalog:
        scan(catalog, [song], engine=LocalEngine(1))
        ratings.add_rating(catalog, tracks.get_track(catalog, song).id, "like")
    with Catalog(db, lock=True):
        export = _earmark("ratings", "export", "--format", "json", db=db)
        datasets = _earmark("dataset", "list", db=db)
        out, err = export.communicate(timeout=60)
        assert (export.returncode, err) == (0, "")
        assert [(json.loads(line)["path"], json.loads(line)["verdict"])
                for line in out.splitlines()] == [(str(song), "like")]
        _, err = datasets.communicate(timeout=60)
        assert datasets.returncode == 3
        assert err.splitlines() == ["error: no labelled datasets in the catalog; add one with "
                                    "`earmark dataset import PATH`"]
        writer = _earmark("rate", str(song), "dislike", db=db)
        said = writer.stderr.readline()
        assert said.startswith(f"waiting: earmark (process {os.getpid()}) is writing")
        writer.kill()
        writer.communicate(timeout=60)
    with Catalog(db) as catalog:  # the writer that was stopped while waiting changed nothing
        assert [r.verdict for r in ratings.rating_history(catalog)] == ["like"]
