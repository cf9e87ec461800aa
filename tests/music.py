"""Real music for tests, importable from any test module as ``music`` (pytest registers
every conftest.py under the one name ``conftest``, so helpers cannot live there): the shared GTZAN
clips, Debian's asc-music songs, and ffmpeg transcoding into every format earmark reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EARMARK_SHARED", ROOT.parent / "shared"))
GTZAN = SHARED / "data" / "gtzan-mini-dev"
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")
ASC_MUSIC = Path("/usr/share/games/asc/music")

# ffmpeg arguments per output format: codec choices follow what people's libraries contain.
FORMATS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
    "opus": ["-c:a", "libopus", "-b:a", "96k"],
    "m4a": ["-c:a", "aac", "-b:a", "128k"],
    "wav": ["-c:a", "pcm_s16le"],
    "aiff": ["-c:a", "pcm_s16be"],
}


def gtzan_clip(genre: str, number: int = 0) -> Path:
    """Path of a shared GTZAN clip; skips the test if the shared data is missing."""
    path = GTZAN / genre / f"{genre}.{number:05d}.flac"
    if not path.exists():
        pytest.skip(f"shared GTZAN clip missing: {path}")
    return path


def asc_songs() -> list[Path]:
    """Full-length real songs from Debian's asc-music package (installed by .ci/run)."""
    songs = sorted(ASC_MUSIC.glob("*.mp3")) if ASC_MUSIC.is_dir() else []
    if not songs:
        pytest.skip("Debian package asc-music is not installed (apt-get install asc-music)")
    return songs


def require_ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("ffmpeg (Debian package) is needed to make test files")
    return exe


def transcode(src: Path, dst: Path, fmt: str, *, seconds: float | None = None,
              start: float = 0.0, rate: int | None = None, channels: int | None = None,
              extra: list[str] | None = None) -> Path:
    """Transcode real music with ffmpeg into ``dst`` (format from ``FORMATS``)."""
    cmd = [require_ffmpeg(), "-nostdin", "-v", "error", "-y", "-ss", str(start), "-i", str(src)]
    if seconds is not None:
        cmd += ["-t", str(seconds)]
    if rate:
        cmd += ["-ar", str(rate)]
    if channels:
        cmd += ["-ac", str(channels)]
    cmd += FORMATS[fmt] + (extra or [])
    if fmt == "aiff":
        cmd += ["-f", "aiff"]
    subprocess.run(cmd + [str(dst)], check=True)
    return dst
