"""Fixtures for tag writing: real-music files carrying other tags and cover art, an independent
reader (ffprobe), and a catalog that has scanned them."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mutagen.flac import Picture
from mutagen.id3 import APIC, COMM, TALB, TDRC, TIT2, TPE1
from mutagen.mp4 import MP4Cover

from earmark.catalog import Catalog, tracks
from earmark.catalog.tracks import Track
from earmark.ingest.scan import add_file
from earmark.tagging import apply_plans, load_policy, plan_track
from earmark.tags.write import open_tags
from music import require_ffmpeg


@pytest.fixture(scope="session")
def cover_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cover") / "cover.png"
    subprocess.run([require_ffmpeg(), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x64", "-frames:v", "1", str(path)], check=True)
    return path


def add_cover_and_tags(path: Path, png: bytes) -> None:
    """Give a file title, artist, album, date, a comment and a front cover with mutagen."""
    audio = open_tags(path)
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    name = type(audio).__name__
    if name in ("MP3", "WAVE", "AIFF"):
        tags.add(TIT2(encoding=3, text=["A Song"]))
        tags.add(TPE1(encoding=3, text=["Some Artist"]))
        tags.add(TALB(encoding=3, text=["An Album"]))
        tags.add(TDRC(encoding=3, text=["1999"]))
        tags.add(COMM(encoding=3, lang="eng", desc="", text=["keep me"]))
        tags.add(APIC(encoding=3, mime="image/png", type=3, desc="front", data=png))
    elif name == "MP4":
        tags.update({"\xa9nam": ["A Song"], "\xa9ART": ["Some Artist"], "\xa9alb": ["An Album"],
                     "\xa9day": ["1999"], "\xa9cmt": ["keep me"],
                     "covr": [MP4Cover(png, imageformat=MP4Cover.FORMAT_PNG)]})
    else:
        tags.update({"TITLE": ["A Song"], "ARTIST": ["Some Artist"], "ALBUM": ["An Album"],
                     "DATE": ["1999"], "COMMENT": ["keep me"]})
        picture = Picture()
        picture.type, picture.mime, picture.desc, picture.data = 3, "image/png", "front", png
        picture.width = picture.height = 64
        picture.depth = 24
        if name == "FLAC":
            audio.add_picture(picture)
        else:
            tags["METADATA_BLOCK_PICTURE"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()


@pytest.fixture
def decorated(music_copy, cover_png, tmp_path):
    """Return ``make(fmt, name=None)``: a private real-music file with tags and cover art."""
    png = cover_png.read_bytes()

    def make(fmt: str, name: str | None = None) -> Path:
        path = music_copy(fmt, name)
        add_cover_and_tags(path, png)
        return path

    return make


@pytest.fixture
def ffmpeg_covered(music_copy, cover_png, tmp_path):
    """Return ``make(fmt)``: a real-music file whose cover art and tags ffmpeg wrote."""

    def make(fmt: str) -> Path:
        src = music_copy(fmt, f"plain.{fmt}")
        dst = tmp_path / f"ffmpeg cover.{fmt}"
        subprocess.run(
            [require_ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-i",
             str(cover_png), "-map", "0:a", "-map", "1", "-c", "copy", "-disposition:v",
             "attached_pic", "-metadata", "title=Made By FFmpeg", "-metadata",
             "artist=Encoder Person", str(dst)], check=True)
        return dst

    return make


def ffprobe_tags(path: Path) -> dict[str, str]:
    """Every container and stream tag ffprobe reports, keys lower-cased."""
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("ffprobe (Debian package ffmpeg) is needed")
    out = subprocess.run([exe, "-v", "error", "-show_entries", "format_tags:stream_tags",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    tags: dict[str, str] = {}
    for section in [data.get("format", {})] + data.get("streams", []):
        for key, value in (section.get("tags") or {}).items():
            tags.setdefault(key.lower(), value)
    return tags


@pytest.fixture
def catalog(tmp_path):
    with Catalog(tmp_path / "catalog.sqlite") as cat:
        yield cat


@pytest.fixture
def scanned(catalog):
    """Return ``track(path)``: add a file to the catalog (with a quick scan) and give its row."""

    def track(path: Path) -> Track:
        row = add_file(catalog, path, verify=False)
        assert row.status == "ok", row.error
        return row

    return track


@pytest.fixture
def probe():
    """ffprobe's view of a file's tags (see :func:`ffprobe_tags`)."""
    return ffprobe_tags


@pytest.fixture
def tag_batch(catalog):
    """Return ``run(path, genres, mode="overwrite", **options)``: plan and write predicted
    ``genres`` (``[(name, confidence), ...]``, at most as many as given) into one scanned file
    the way ``earmark tag`` does (``options`` go to ``plan_track``); gives ``(plan, batch id,
    result)``."""

    def run(path: Path, genres: list[tuple[str, float]], mode: str = "overwrite", **options):
        policy = load_policy().with_(mode=mode, max_values=len(genres))
        plan = plan_track(catalog, tracks.get_track(catalog, path),
                          {"genre": lambda track: genres}, policy, **options)
        batch, results = apply_plans(catalog, [plan])
        return plan, batch, results[0]

    return run
