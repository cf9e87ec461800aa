"""Safe single-file writes: every format, read back by mutagen and ffprobe, nothing else lost,
and the original byte-identical whenever a write is refused or fails."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mutagen.id3 import TSOP

from earmark.audio import check_audio, decode_audio
from earmark.errors import TagWriteError
from earmark.tags import write
from earmark.tags.read import read_tags

ALL_FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff")
# ffprobe reads tags of these; it ignores the ID3 chunk of WAV and AIFF files.
PROBED = ("mp3", "flac", "ogg", "opus", "m4a")
FFMPEG_COVER = ("mp3", "flac", "m4a")
GENRES = ["Rock", "Soul/R&B"]


def genre_key(path: Path, id3v23: bool = False) -> tuple[str, int]:
    tagged = write.describe_file(path)
    version = write.write_version(tagged, id3v23)
    return write.field_key(tagged.family, "genre", version), version


def snapshot(path: Path, exclude: set[str]) -> dict:
    return write.tag_snapshot(write.open_tags(path), exclude)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_genres_written_as_separate_values_and_everything_else_kept(decorated, fmt):
    path = decorated(fmt)
    key, version = genre_key(path)
    before_tags = snapshot(path, {key})
    before_audio = decode_audio(path, mono=False)
    os.chmod(path, 0o640)

    done = write.write_keys(path, {key: GENRES}, id3_version=version)

    assert done.old == {key: None} and done.new == {key: GENRES}
    assert write.read_keys(write.open_tags(path), [key]) == {key: GENRES}
    assert read_tags(path).genres == GENRES
    after = read_tags(path)
    assert after.has_cover and after.title == "A Song" and after.artist == "Some Artist"
    assert snapshot(path, {key}) == before_tags
    assert (decode_audio(path, mono=False) == before_audio).all()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert not [p for p in os.listdir(path.parent) if write.is_leftover(p)]


@pytest.mark.parametrize("fmt", PROBED)
def test_ffprobe_reads_what_was_written(decorated, probe, fmt):
    path = decorated(fmt)
    key, version = genre_key(path)
    write.write_keys(path, {key: GENRES}, id3_version=version)
    tags = probe(path)
    # FFmpeg joins repeated Vorbis comments with ';' but shows only the first value of an
    # ID3v2.4 or MP4 multi-value frame, so what it shows must be a prefix of what was written.
    shown = tags["genre"].split(";")
    assert shown == GENRES[: len(shown)] and shown
    assert tags["title"] == "A Song" and tags["artist"] == "Some Artist"


@pytest.mark.parametrize("fmt", PROBED)
def test_separator_makes_one_string_every_reader_sees_whole(decorated, probe, fmt):
    path = decorated(fmt)
    key, version = genre_key(path)
    write.write_keys(path, {key: ["Rock; Pop"]}, id3_version=version)
    assert probe(path)["genre"] == "Rock; Pop"
    assert read_tags(path).genres == ["Rock", "Pop"]


@pytest.mark.parametrize("fmt", FFMPEG_COVER)
def test_cover_art_written_by_ffmpeg_survives(ffmpeg_covered, probe, fmt):
    path = ffmpeg_covered(fmt)
    assert read_tags(path).has_cover
    key, version = genre_key(path)
    before = snapshot(path, {key})
    write.write_keys(path, {key: GENRES}, id3_version=version)
    assert read_tags(path).has_cover
    assert snapshot(path, {key}) == before
    assert probe(path)["title"] == "Made By FFmpeg"


def test_id3v23_joins_values_and_keeps_frames(decorated):
    path = decorated("mp3")
    key, version = genre_key(path, id3v23=True)
    assert version == 3
    before = snapshot(path, {key, "TDRC"})
    # Going to v2.3 converts what v2.3 spells differently, and says so beforehand.
    assert write.id3_conversion(write.open_tags(path).tags, 3, {key}) == "TDRC -> TYER"
    write.write_keys(path, {key: ["Rock; Pop"]}, id3_version=3)
    assert write.describe_file(path).id3_version == 3
    assert read_tags(path).genres == ["Rock", "Pop"]
    assert snapshot(path, {key, "TYER"}) == before
    assert write.read_keys(write.open_tags(path), ["TYER", "TDRC"]) == {
        "TYER": ["1999"], "TDRC": None}
    # The next write keeps v2.3 without being asked: no silent upgrade of the user's tags.
    assert write.write_version(write.describe_file(path), False) == 3
    write.write_keys(path, {key: ["Jazz"]}, id3_version=None)  # as undo writes
    assert write.describe_file(path).id3_version == 3 and read_tags(path).genres == ["Jazz"]


def test_v24_only_frames_block_a_v23_write(decorated):
    path = decorated("mp3")
    audio = write.open_tags(path)
    audio.tags.add(TSOP(encoding=3, text=["Artist, Some"]))
    audio.save()
    original = path.read_bytes()
    with pytest.raises(TagWriteError, match="other tags.*TSOP"):
        write.write_keys(path, {"TCON": ["Rock"]}, id3_version=3)
    assert path.read_bytes() == original


@pytest.mark.parametrize("fmt", ["mp3", "flac", "m4a"])
def test_delete_restores_absence(decorated, fmt):
    path = decorated(fmt)
    key, version = genre_key(path)
    write.write_keys(path, {key: GENRES}, id3_version=version)
    undone = write.write_keys(path, {key: None}, id3_version=version)
    assert undone.old == {key: GENRES}
    assert write.read_keys(write.open_tags(path), [key]) == {key: None}
    assert read_tags(path).genres == []


def test_packet_hash_unchanged_by_tag_write(decorated):
    path = decorated("m4a")
    before = check_audio(path, decode=False).audio_hash
    write.write_keys(path, {"\xa9gen": ["Rock"], "----:com.apple.iTunes:MOOD": ["Happy"]})
    assert check_audio(path, decode=False).audio_hash == before


def test_changed_file_is_refused_byte_identical(decorated):
    path = decorated("flac")
    original = path.read_bytes()
    with pytest.raises(TagWriteError, match="changed since it was scanned"):
        write.write_keys(path, {"GENRE": ["Rock"]}, expect_hash="0" * 32)
    assert path.read_bytes() == original


def test_failed_verification_leaves_original_and_no_copy(decorated, monkeypatch):
    path = decorated("ogg")
    original = path.read_bytes()

    def corrupt_audio_hash(p, decode=True):
        real = check_audio(p, decode=decode)
        if os.path.basename(p).startswith(write.TEMP_PREFIX):
            return type(real)(real.info, real.decoded_seconds, 0, None, "different")
        return real

    # Stand in for a mutagen bug that damaged the audio: the check must catch it.
    monkeypatch.setattr(write, "check_audio", corrupt_audio_hash)
    with pytest.raises(TagWriteError, match="audio would change"):
        write.write_keys(path, {"GENRE": ["Rock"]})
    assert path.read_bytes() == original
    assert not [p for p in os.listdir(path.parent) if write.is_leftover(p)]


def test_not_a_music_file_is_refused(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_bytes(b"just text, not audio" * 10)
    with pytest.raises(TagWriteError):
        write.write_keys(path, {"TCON": ["Rock"]})
    assert path.read_bytes() == b"just text, not audio" * 10


def test_symlink_replaces_target_and_keeps_link(decorated, tmp_path):
    target = decorated("flac")
    link = tmp_path / "link.flac"
    link.symlink_to(target)
    write.write_keys(link, {"GENRE": ["Jazz"]})
    assert link.is_symlink()
    assert read_tags(target).genres == ["Jazz"]


def test_hard_linked_file_is_refused_and_both_names_keep_one_file(decorated, tmp_path):
    # A write replaces the file by a new one: only the name written would get it.
    path = decorated("flac")
    other = tmp_path / "second name.flac"
    os.link(path, other)
    before = path.read_bytes()
    reason = "has 2 hard links; writing would separate them"
    assert write.check_writable(path).startswith(reason)
    with pytest.raises(TagWriteError, match=reason):
        write.write_keys(path, {"GENRE": ["Jazz"]})
    with pytest.raises(TagWriteError, match=reason):
        write.write_keys(other, {"GENRE": ["Jazz"]})
    assert os.stat(path).st_nlink == 2 and os.path.samefile(path, other)
    assert path.read_bytes() == before
    assert not [p for p in os.listdir(tmp_path) if write.is_leftover(p)]
    other.unlink()  # one name again: writable
    assert write.check_writable(path) is None


def test_remove_leftovers_only_removes_copies_of_dead_writers(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f".earmark-song.v2.mp3.{dead}.abc123.partial").write_bytes(b"x")
    (tmp_path / f".earmark-song.mp3.{os.getppid()}.def456.partial").write_bytes(b"live")
    (tmp_path / "song.mp3").write_bytes(b"y")
    (tmp_path / ".earmark-notes.txt").write_bytes(b"z")
    removed = write.remove_leftovers(tmp_path)
    assert [Path(p).name for p in removed] == [f".earmark-song.v2.mp3.{dead}.abc123.partial"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".earmark-notes.txt", f".earmark-song.mp3.{os.getppid()}.def456.partial", "song.mp3"]


# The child imports everything as root, then becomes nobody: the interpreter and the venv
# may live under /root, which nobody cannot read.
_AS_NOBODY = """
import os, sys
from earmark.tags import write
import earmark.audio, mutagen.flac
os.setgid(65534)
os.setuid(65534)
print(write.check_writable(sys.argv[1]))
try:
    write.write_keys(sys.argv[1], {"GENRE": ["Rock"]})
    print("written")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def _run_as_nobody(path: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _AS_NOBODY, str(path)], capture_output=True,
                         text=True, timeout=120, check=True)
    return out.stdout.strip().splitlines()


@pytest.fixture
def world_readable_dir():
    if os.geteuid() != 0:
        pytest.skip("dropping to another user needs root")
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    os.chmod(folder, 0o755)
    yield folder
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


def test_nobody_writes_a_file_and_folder_it_may_change(music_files, world_readable_dir):
    path = world_readable_dir / "song.flac"
    path.write_bytes(music_files["flac"].read_bytes())
    os.chmod(world_readable_dir, 0o777)
    os.chown(path, 65534, 65534)
    assert _run_as_nobody(path) == ["None", "written"]
    assert read_tags(path).genres == ["Rock"]
    assert os.stat(path).st_uid == 65534


@pytest.mark.parametrize("case", ["file", "folder"])
def test_read_only_file_or_folder_is_refused_untouched(music_files, world_readable_dir, case):
    path = world_readable_dir / "song.flac"
    path.write_bytes(music_files["flac"].read_bytes())
    if case == "file":
        os.chmod(world_readable_dir, 0o777)  # the folder is writable, the file is not
        os.chmod(path, 0o644)
    else:
        os.chown(path, 65534, 65534)  # the file is the user's, the folder is not
        os.chmod(path, 0o644)
    original = path.read_bytes()
    lines = _run_as_nobody(path)
    assert lines[0].startswith(f"read-only {case}")
    assert lines[1].startswith("TagWriteError read-only")
    assert path.read_bytes() == original
    assert not [p for p in os.listdir(world_readable_dir) if write.is_leftover(p)]
