"""The README's examples run as written (issue 12 item 15): the Python example and every
``earmark`` command line of its shell blocks, against a temporary home folder holding real
clips in ``~/Music`` and the files each line names; ``decode_audio`` past the end gives
nothing."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.audio import decode_audio, probe_audio
from earmark.settings import settings
from music import gtzan_clip, transcode

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.mark.slow
@pytest.mark.parametrize("block", python_blocks())
def test_readme_python_example_runs(block, tmp_path, music_files):
    home = tmp_path / "home"
    (home / "Music").mkdir(parents=True)
    for fmt in ("flac", "mp3"):
        shutil.copyfile(music_files[fmt], home / "Music" / f"song.{fmt}")
    work = tmp_path / "work"
    work.mkdir()
    # The example's song: 40 s (the 4 s clip ten times), so offset=30, duration=10 is audio.
    long = work / "long.flac"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-stream_loop", "9", "-i",
                    str(music_files["flac"]), str(long)], check=True)
    transcode(long, work / "song.opus", "opus", rate=48000, channels=2)
    env = {**os.environ, "HOME": str(home),
           "EARMARK_CACHE_DIR": str(settings().cache_dir), "EARMARK_WORKERS": "1"}
    env.pop("EARMARK_DB", None)
    done = subprocess.run([sys.executable, "-c", block], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (work / "my.sqlite").is_file()
    from earmark.catalog import Catalog, tracks

    with Catalog(work / "my.sqlite") as catalog:
        found = sorted(t.path for t in tracks.iter_tracks(catalog))
        assert found == [str(home / "Music" / "song.flac"), str(home / "Music" / "song.mp3")]
        embedded = catalog.execute("SELECT count(DISTINCT track_id) FROM embeddings")
        assert embedded.fetchone()[0] == 2


@pytest.mark.parametrize("fmt", ["flac", "mp3", "ogg", "opus", "wav"])
def test_decode_past_the_end_gives_no_samples(fmt, music_files):
    path = music_files[fmt]
    end = probe_audio(path).duration
    for offset in (end + 0.5, end + 30.0):
        y = decode_audio(path, 16000, offset=offset, duration=10)
        assert y.shape == (0,) and y.dtype == np.float32
        assert decode_audio(path, None, offset=offset).shape == (0,)


def command_lines() -> list[str]:
    """Every ``earmark ...`` line of the README's ``sh`` blocks, continuation lines joined,
    comments dropped (the other lines are ``make`` and benchmark scripts)."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["earmark"]:
                lines.append(" ".join(words))
    return lines


#: Exit codes other than 0 that the README documents for a line run here: ``tag`` without a
#: terminal and without ``--yes`` writes nothing and says how to go on.
EXPECTED_CODE = {"earmark tag ~/Music/new --model genres": 3}

GENRES = ("classical", "metal", "reggae")


def _clip(genre: str, n: int, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fmt = dst.suffix.lstrip(".")
    return transcode(gtzan_clip(genre, n), dst, fmt, seconds=3.0, start=10.0, rate=16000,
                     channels=1)


def _readme_world(home: Path, work: Path) -> None:
    """What the README's lines name: ``~/Music/by-genre`` (3 genres x 6 real 3 s clips),
    ``~/Music/new``, and in the current folder ``labels.csv``, GTZAN with split lists, an FMA
    ``tracks.csv``, MTT ``annotations_final.csv`` and an MTG-Jamendo mood/theme TSV with its
    split files, each beside its audio, as those datasets lay them out."""
    by_genre = home / "Music" / "by-genre"
    for genre in GENRES:
        for n in range(6):
            clip = _clip(genre, n, by_genre / genre / f"{genre}.{n:05d}.flac")
            (work / "gtzan" / "genres" / genre).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(clip, work / "gtzan" / "genres" / genre / clip.name)
    _clip("jazz", 0, home / "Music" / "new" / "a.flac")
    _clip("rock", 0, home / "Music" / "new" / "b.flac")
    (work / "labels.csv").write_text("path,label\n" + "".join(
        f"by-genre/{g}/{g}.{n:05d}.flac,{g}\n" for g in GENRES for n in range(6)))
    lists = work / "gtzan" / "lists"
    lists.mkdir()
    for split, numbers in (("train", (0, 1, 2, 3)), ("valid", (4,)), ("test", (5,))):
        (lists / f"{split}_filtered.txt").write_text("".join(
            f"{g}/{g}.{n:05d}.wav\n" for g in GENRES for n in numbers))
    _clip("metal", 0, work / "fma_small" / "000" / "000002.mp3")
    _clip("classical", 0, work / "fma_small" / "001" / "001234.mp3")
    (work / "tracks.csv").write_text(
        ",artist,set,set,track,track\n,id,split,subset,genre_top,title\ntrack_id,,,,,\n"
        "2,17,training,small,Rock,Food\n1234,99,test,small,Classical,Adagio\n")
    _clip("classical", 1, work / "mtt_mp3" / "0" / "a-b-01-c-0-29.mp3")
    _clip("metal", 1, work / "mtt_mp3" / "c" / "d-e-02-f-30-59.mp3")
    (work / "annotations_final.csv").write_text("".join(
        "\t".join(f'"{c}"' for c in row) + "\n" for row in [
            ["clip_id", "classical", "guitar", "mp3_path"],
            ["2", "1", "0", "0/a-b-01-c-0-29.mp3"], ["6", "0", "1", "c/d-e-02-f-30-59.mp3"]]))
    header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"

    def row(n: int, mood: str) -> str:
        return f"track_{n:07d}\tartist_{n:06d}\talbum_{n:06d}\t{n % 100:02d}/{n}.mp3\t3.0" \
               f"\tmood/theme---{mood}\n"

    moods = {214: ("reggae", "happy"), 1015: ("classical", "calm"), 7301: ("metal", "dark")}
    for n, (genre, _) in moods.items():
        _clip(genre, 2, work / "audio" / f"{n % 100:02d}" / f"{n}.mp3")
    (work / "autotagging_moodtheme.tsv").write_text(
        header + "".join(row(n, mood) for n, (_, mood) in moods.items()))
    split = work / "splits" / "split-0"
    split.mkdir(parents=True)
    for name, chosen in (("train", (214, 7301)), ("validation", ()), ("test", (1015,))):
        (split / f"autotagging_moodtheme-{name}.tsv").write_text(
            header + "".join(row(n, moods[n][1]) for n in chosen))


@pytest.mark.slow
def test_readme_command_lines_run(tmp_path, monkeypatch):
    """Each ``earmark`` line of the README, in order, on one catalog (``$EARMARK_DB``), exits
    0 (or the code the README documents for it); ``~`` is the temporary home, as a shell
    expands it. The catalog starts with the by-genre songs rated (classical and reggae liked,
    metal disliked), since ``train --task like`` learns "from your ratings"."""
    from earmark.catalog import Catalog, ratings, tracks
    from earmark.cli import app
    from earmark.engine import LocalEngine
    from earmark.ingest.scan import scan

    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    _readme_world(home, work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("EARMARK_WORKERS", "1")
    monkeypatch.chdir(work)
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [home / "Music" / "by-genre"], engine=LocalEngine(1))
        for track in tracks.iter_tracks(catalog):
            ratings.add_rating(catalog, track.id,
                               "dislike" if "/metal/" in track.path else "like")
    lines = command_lines()
    assert set(EXPECTED_CODE) <= set(lines)
    new_songs = {song: song.read_bytes() for song in (home / "Music" / "new").iterdir()}
    runner = CliRunner()
    for line in lines:
        argv = [os.path.expanduser(word) for word in shlex.split(line)[1:]]
        result = runner.invoke(app, [*argv, "--db", str(db)])
        assert result.exit_code == EXPECTED_CODE.get(line, 0), (line, result.output)
    assert (work / "models" / "genres.safetensors").is_file()
    assert (work / "models" / "like.safetensors").is_file()
    # tag without --yes and without a terminal: nothing written
    assert {song: song.read_bytes() for song in new_songs} == new_songs
