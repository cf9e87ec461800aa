"""The README's Python example runs as written (issue 12 item 15): against a temporary home
folder holding real clips in ``~/Music``, and ``decode_audio`` past the end gives nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from earmark.audio import decode_audio, probe_audio
from earmark.settings import settings
from music import transcode

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
