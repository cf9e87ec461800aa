"""Shared fixtures: short excerpts of real music transcoded into every format earmark reads.
Helper functions live in ``tests/music.py`` (``from music import ...``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from music import FORMATS, gtzan_clip, transcode

# Two xdist workers share two cores: spinning OpenMP threads would starve each other. Set before
# any test module imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def music_files(tmp_path_factory) -> dict[str, Path]:
    """A 4 s excerpt of a real GTZAN rock clip, 44.1 kHz stereo (Opus: 48 kHz, the only rate
    it has), in every format, untagged."""
    folder = tmp_path_factory.mktemp("formats")
    src = gtzan_clip("rock", 0)
    return {fmt: transcode(src, folder / f"rock excerpt.{fmt}", fmt, seconds=4.0, start=5.0,
                           rate=48000 if fmt == "opus" else 44100, channels=2)
            for fmt in FORMATS}


@pytest.fixture
def music_copy(music_files, tmp_path):
    """Return a function giving a private copy of the excerpt in a format (safe to damage)."""

    def copy(fmt: str, name: str | None = None) -> Path:
        dst = tmp_path / (name or f"song.{fmt}")
        shutil.copyfile(music_files[fmt], dst)
        return dst

    return copy
