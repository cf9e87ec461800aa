"""Issue 10 case 7's Broadcast WAV: a ``bext`` chunk and no RIFF INFO chunk. FFmpeg reads a
WAV's id3 chunk only when nothing else gave metadata, and a bext chunk always does, so a genre in
the id3 chunk alone is invisible to ffprobe; earmark writes it into a new INFO chunk too, and undo
takes that chunk away again, giving back the original bytes."""

from __future__ import annotations

import struct

from mutagen.id3 import TCON

import realworld
from earmark.tags import write


def chunk_ids(path):
    """The top-level RIFF chunk ids of a WAV, in file order."""
    data = path.read_bytes()
    ids, offset = [], 12
    while offset < len(data):
        size = struct.unpack("<I", data[offset + 4:offset + 8])[0]
        ids.append(data[offset:offset + 4].decode("ascii"))
        offset += 8 + size + (size & 1)
    return ids


def bext_wav(path):
    """A WAV with a 602-byte bext chunk before its data and no INFO chunk (ffmpeg's bitexact
    mode leaves out the INFO chunk holding its own name)."""
    realworld.encode(path, ["-c:a", "pcm_s16le", "-write_bext", "1", "-fflags", "+bitexact"],
                     genre="blues", seconds=3.0)
    return path


def test_bext_wav_hides_the_id3_genre_from_ffmpeg(tmp_path, probe):
    # Why the INFO chunk is needed: mutagen's id3 chunk alone does not reach ffprobe.
    path = bext_wav(tmp_path / "broadcast.wav")
    assert chunk_ids(path) == ["fmt ", "bext", "data"]
    assert path.read_bytes()[path.read_bytes().index(b"bext") + 4:][:4] == struct.pack("<I", 602)
    audio = write.open_tags(path)
    audio.add_tags()
    audio.tags.add(TCON(encoding=3, text=["Blues"]))
    audio.save()
    assert "genre" not in probe(path)


def test_bext_wav_gets_a_genre_ffprobe_shows_and_undo_gives_back_the_bytes(tmp_path, probe):
    path = bext_wav(tmp_path / "broadcast.wav")
    original = path.read_bytes()
    before = probe(path)
    keys = write.field_keys(write.open_tags(path), "genre")
    assert keys == ["TCON", "INFO:IGNR"]

    done = write.write_keys(path, {key: ["Rock"] for key in keys})
    assert (done.old_container, done.new_container) == (None, "ID3v2.4")
    assert chunk_ids(path) == ["fmt ", "bext", "data", "id3 ", "LIST"]
    assert probe(path) == {**before, "genre": "Rock"}
    assert write.read_keys(write.open_tags(path), keys) == {key: ["Rock"] for key in keys}

    # Undo as the journal replays it: the old values (none), dropping the created id3 chunk.
    write.write_keys(path, {key: None for key in keys}, drop_empty_container=True)
    assert path.read_bytes() == original
    assert probe(path) == before


def test_bext_wav_with_an_id3_chunk_gets_the_info_chunk_removed_on_undo(tmp_path, probe):
    # The id3 chunk stays (it was there before); only the INFO chunk earmark made goes.
    path = bext_wav(tmp_path / "broadcast.wav")
    audio = write.open_tags(path)
    audio.add_tags()
    audio.tags.add(TCON(encoding=3, text=["Blues"]))
    audio.save()
    original = path.read_bytes()
    keys = write.field_keys(write.open_tags(path), "genre")

    write.write_keys(path, {"TCON": ["Rock"], "INFO:IGNR": ["Rock"]})
    assert probe(path)["genre"] == "Rock"
    write.write_keys(path, {"TCON": ["Blues"], "INFO:IGNR": None})
    assert keys == ["TCON", "INFO:IGNR"]
    assert path.read_bytes() == original


def test_plain_wav_without_info_gets_no_info_chunk(tmp_path, probe):
    # Without a bext chunk FFmpeg shows the id3 chunk, and a new INFO chunk would hide its title.
    path = realworld.encode(tmp_path / "plain.wav",
                            ["-c:a", "pcm_s16le", "-fflags", "+bitexact"], seconds=3.0)
    assert chunk_ids(path) == ["fmt ", "data"]
    keys = write.field_keys(write.open_tags(path), "genre")
    assert keys == ["TCON"]
    write.write_keys(path, {"TCON": ["Rock"]})
    assert chunk_ids(path) == ["fmt ", "data", "id3 "]
    assert probe(path)["genre"] == "Rock"
