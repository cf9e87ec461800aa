"""Real-world file shapes, built from real music: the odd files people's libraries hold.

Importable from any test module as ``realworld`` (like ``music``). Each function makes one *kind*
of file (a WMA from Windows Media Player, a VBR MP3 without a Xing header, a WAV carrying RIFF
INFO, an MP3 with both ID3v1 and ID3v2...) from the shared GTZAN clips or Debian's asc-music
songs, with ffmpeg and mutagen, so that every new kind found later is one function away.
Nothing here is copied from another project's test files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from music import gtzan_clip, require_ffmpeg


def ffmpeg(*args: str | Path) -> None:
    """Run ffmpeg quietly with ``args`` (input and output included); fails the test on error."""
    subprocess.run([require_ffmpeg(), "-nostdin", "-v", "error", "-y", *map(str, args)],
                   check=True)


def encode(dst: Path, codec_args: list[str], *, genre: str = "jazz", number: int = 4,
           seconds: float = 4.0, start: float = 5.0, extra: list[str] | None = None) -> Path:
    """A ``seconds`` excerpt of a shared GTZAN clip encoded with ffmpeg ``codec_args`` into
    ``dst`` (the container follows ``dst``'s extension unless ``extra`` holds ``-f``)."""
    ffmpeg("-ss", str(start), "-t", str(seconds), "-i", gtzan_clip(genre, number),
           *codec_args, *(extra or []), dst)
    return dst


# --- tag reading (scan) ---------------------------------------------------------------------


# --- audio verdicts (decode, truncation, silence) --------------------------------------------


# --- tag writing: containers --------------------------------------------------------------


# --- tag writing: journal and undo -------------------------------------------------------------
