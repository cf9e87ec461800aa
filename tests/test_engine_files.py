"""Files a driver sends as bytes (earmark.engine.files): a worker that cannot see a file reads
the sent bytes instead, and everything it reads from them (scan's record: stat, hashes,
duration, tags, verdicts; the decoded samples) is what the file itself gives. A Ray worker
asks for the bytes when its file is missing or is another version than the driver's. The Ray
engine itself is tested on a real cluster in tests/ray."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

import realworld as rw
from earmark.audio import decode_audio
from earmark.engine.files import SentFile, file_source, file_stat, open_file, sent_file, sent_files
from earmark.engine.ray import RayEngine, _sees_as_driver
from earmark.errors import AudioError
from earmark.ingest.scan import inspect_file
from earmark.settings import Settings, SettingsError
from music import gtzan_clip, transcode


def _sent(path: Path) -> SentFile:
    return SentFile(path.read_bytes(), os.stat(path))


def test_sent_bytes_answer_for_their_path_inside_the_block_only(tmp_path):
    real = tmp_path / "song.mp3"
    real.write_bytes(b"the file")
    elsewhere = tmp_path / "gone" / "song.mp3"  # no such file here
    with sent_files({str(elsewhere): _sent(real)}):
        with open_file(elsewhere) as handle:  # a Path finds what was sent under a str
            assert handle.read() == b"the file"
        assert file_source(str(tmp_path / "gone" / "." / "song.mp3")).read() == b"the file"
        assert file_source(elsewhere).name == str(elsewhere)  # formats guessed by name
        assert file_stat(elsewhere) == os.stat(real)
        assert file_source(real) == str(real)  # not sent: the file itself
        with open_file(real) as handle:
            assert handle.read() == b"the file"
    assert sent_file(elsewhere) is None
    with pytest.raises(FileNotFoundError):
        file_stat(elsewhere)


def test_another_thread_does_not_see_the_files_sent_to_this_one(tmp_path):
    real = tmp_path / "a.flac"
    real.write_bytes(b"x")
    seen = []
    with sent_files({"/elsewhere/a.flac": _sent(real)}):
        thread = threading.Thread(target=lambda: seen.append(sent_file("/elsewhere/a.flac")))
        thread.start()
        thread.join()
        assert sent_file("/elsewhere/a.flac") is not None
    assert seen == [None]


def _files(folder: Path) -> list[Path]:
    """Short real clips in several formats, tag blocks and damages: what scan must read the
    same from bytes as from the file."""
    mp3 = transcode(gtzan_clip("jazz", 4), folder / "plain.mp3", "mp3", seconds=4)
    ogg = transcode(gtzan_clip("jazz", 4), folder / "plain.ogg", "ogg", seconds=4)
    return [
        mp3, ogg,
        transcode(gtzan_clip("rock"), folder / "plain.m4a", "m4a", seconds=4),
        rw.wavpack(folder / "title.wv"),
        rw.wav_with_info(folder / "info.wav"),
        rw.mp3_apev2_then_id3v1(folder / "ape-id3v1.mp3"),
        rw.mp3_with_second_id3v2(folder / "two-id3v2.mp3"),
        rw.cut_at_page(ogg, folder / "cut.ogg"),
        rw.cut_short(mp3, folder / "short.mp3"),
    ]


def test_a_file_sent_as_bytes_is_scanned_and_decoded_as_the_file_itself(tmp_path):
    for real in _files(tmp_path):
        moved = tmp_path / "not here" / real.name
        with sent_files({moved: _sent(real)}):
            record = inspect_file(str(moved))
            try:
                samples = decode_audio(moved)
            except AudioError as exc:
                samples = exc.reason
        assert record == inspect_file(str(real)) | {"path": str(moved)}, real.name
        try:
            expected = decode_audio(real)
        except AudioError as exc:
            expected = exc.reason
        if isinstance(expected, str):
            assert samples == expected, real.name
        else:
            assert samples.dtype == expected.dtype and np.array_equal(samples, expected), \
                real.name
    assert record["status"] == "error" and "only 2.7 s" in record["error"]  # short.mp3


def test_a_ray_worker_asks_for_the_bytes_of_a_file_it_does_not_see_as_the_driver(tmp_path):
    song = tmp_path / "song.mp3"
    song.write_bytes(b"0123456789")
    driver = os.stat(song)
    assert _sees_as_driver(str(song), driver)  # the same file: read where it is
    os.utime(song, ns=(driver.st_atime_ns, driver.st_mtime_ns + 1))
    assert not _sees_as_driver(song, driver)  # another version
    song.write_bytes(b"01234")
    os.utime(song, ns=(driver.st_atime_ns, driver.st_mtime_ns))
    assert not _sees_as_driver(song, driver)  # same time, another size
    song.unlink()
    assert not _sees_as_driver(song, driver)  # missing


def test_the_files_mode_must_be_auto_shared_or_bytes():
    assert Settings.from_environ({"EARMARK_RAY_FILES": "bytes"}).ray_files == "bytes"
    assert Settings.from_environ({}).ray_files == "auto"
    with pytest.raises(SettingsError, match=r"\$EARMARK_RAY_FILES: .*auto, shared, bytes"):
        Settings.from_environ({"EARMARK_RAY_FILES": "nfs"})
    with pytest.raises(ValueError, match="auto, shared, bytes"):
        RayEngine(files="nfs")
    assert RayEngine(files="shared").files == "shared"
