"""Undo gives back the file as it was, for each kind of file people own (issues 10 and 17).

- a file with no tags at all loses the tag container earmark created (byte-identical where the
  format allows a file without one: MP3, WAV, AIFF, FLAC);
- several genres as repeated Vorbis ``GENRE``, MP4 ``\\xa9gen`` values, or iTunes' numeric MP4
  ``gnre`` atom come back in that form;
- any file name the file system accepts (255 bytes, multi-byte UTF-8) can be tagged;
- after another program edited the file, undo restores just earmark's fields if they still hold
  earmark's values, and otherwise refuses, saying which field differs and what to do.

Files are real music (GTZAN excerpts) shaped by :mod:`realworld`; mutagen and ffprobe read them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mutagen.id3 import ID3, Frames
from mutagen.mp4 import Atoms

import realworld
from earmark.audio import check_audio
from earmark.catalog import journal
from earmark.tagging import undo
from earmark.tags import write

ROCK_JAZZ = [("rock", 0.9), ("jazz", 0.8)]


def undo_batch(catalog, batch):
    return undo(catalog, journal.entries(catalog, batch_id=batch))


def ilst_atoms(path) -> list[bytes]:
    """Names of the atoms in an MP4's item list, in file order."""
    with open(path, "rb") as handle:
        ilst = Atoms(handle).path(b"moov", b"udta", b"meta", b"ilst")[-1]
    return [atom.name for atom in ilst.children]


def set_tags(path, values: dict[str, list[str]]) -> None:
    """Another program's edit: mutagen sets ``values`` and saves, nothing else."""
    audio = write.open_tags(path)
    for key, value in values.items():
        if isinstance(audio.tags, ID3):
            audio.tags.add(Frames[key](encoding=3, text=value))
        else:
            audio.tags[key] = value
    audio.save()


@pytest.mark.parametrize("fmt", ["mp3", "wav", "aiff", "flac"])
def test_undo_removes_the_tag_container_earmark_created(
        tmp_path, catalog, scanned, tag_batch, fmt):
    path = realworld.untagged(tmp_path / f"bare.{fmt}")
    assert write.open_tags(path).tags is None
    original = path.read_bytes()
    scanned(path)

    _, batch, result = tag_batch(path, ROCK_JAZZ, mode="fill")

    assert result.status == "written", result.reason
    assert write.open_tags(path).tags is not None
    rows = journal.entries(catalog, batch_id=batch)
    container = [(r.old, r.new) for r in rows if r.field == journal.CONTAINER]
    assert container == [(None, ["vorbis" if fmt == "flac" else "ID3v2.4"])]

    restored = undo_batch(catalog, batch)

    assert [r.status for r in restored] == ["restored"]
    assert ("tag container", None) in [(c.field, c.new) for c in restored[0].changes]
    assert write.open_tags(path).tags is None
    assert path.read_bytes() == original


def test_stacked_writes_into_a_bare_file_undo_to_the_same_bytes(
        tmp_path, catalog, scanned, tag_batch):
    path = realworld.untagged(tmp_path / "bare.mp3")
    original = path.read_bytes()
    scanned(path)
    tag_batch(path, ROCK_JAZZ, mode="fill")
    _, _, result = tag_batch(path, [("metal", 0.9)])
    assert result.status == "written"
    restored = undo(catalog, journal.entries(catalog, paths=[str(path)]))
    assert [r.status for r in restored] == ["restored"]
    assert path.read_bytes() == original


@pytest.mark.parametrize("fmt", ["ogg", "opus", "m4a"])
def test_formats_that_always_have_a_container_read_the_same_after_undo(
        tmp_path, catalog, scanned, tag_batch, probe, fmt):
    """Ogg needs its comment header and ffmpeg's MP4 an item list: undo empties them again."""
    path = realworld.untagged(tmp_path / f"bare.{fmt}")
    before_tags = write.tag_snapshot(write.open_tags(path))
    before_probe = probe(path)
    before_audio = check_audio(path, decode=False).audio_hash
    scanned(path)
    _, batch, result = tag_batch(path, ROCK_JAZZ, mode="fill")
    assert result.status == "written", result.reason
    assert probe(path)["genre"].startswith("Rock")
    assert not [r for r in journal.entries(catalog, batch_id=batch)
                if r.field == journal.CONTAINER]

    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    assert write.tag_snapshot(write.open_tags(path)) == before_tags
    assert probe(path) == before_probe
    assert check_audio(path, decode=False).audio_hash == before_audio


def test_container_earmark_created_stays_when_another_program_added_tags(
        tmp_path, catalog, scanned, tag_batch):
    path = realworld.untagged(tmp_path / "bare.flac")
    scanned(path)
    _, batch, _ = tag_batch(path, ROCK_JAZZ, mode="fill")
    set_tags(path, {"TITLE": ["Named Elsewhere"]})
    restored = undo_batch(catalog, batch)
    assert [r.status for r in restored] == ["restored"]
    audio = write.open_tags(path)
    assert write.read_keys(audio, ["GENRE", "TITLE"]) == {
        "GENRE": None, "TITLE": ["Named Elsewhere"]}


MULTI = {"flac": "GENRE", "ogg": "GENRE", "opus": "GENRE", "m4a": "\xa9gen"}
GENRE_SETS = {1: ["Blues"], 2: ["Blues", "Soul"], 3: ["Blues", "Soul", "Gospel"]}


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("fmt", list(MULTI))
def test_several_genres_written_and_undone(
        music_copy, catalog, scanned, tag_batch, probe, fmt, count):
    """Repeated Vorbis GENRE comments and several MP4 \\xa9gen values, as taggers write them."""
    path = music_copy(fmt)
    key = MULTI[fmt]
    set_tags(path, {key: GENRE_SETS[count]})
    before_tags = write.tag_snapshot(write.open_tags(path))
    before_probe = probe(path)
    scanned(path)
    predicted = [("rock", 0.9), ("jazz", 0.8), ("metal", 0.7)][:count]

    plan, batch, result = tag_batch(path, predicted)

    assert result.status == "written", result.reason
    assert plan.changes[0].old == GENRE_SETS[count]
    new = ["Rock", "Jazz", "Metal"][:count]
    assert write.read_keys(write.open_tags(path), [key]) == {key: new}
    # FFmpeg joins repeated Vorbis comments with ';' and shows the first MP4 value.
    assert probe(path)["genre"] == (";".join(new) if key == "GENRE" else new[0])

    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    assert write.read_keys(write.open_tags(path), [key]) == {key: GENRE_SETS[count]}
    assert write.tag_snapshot(write.open_tags(path)) == before_tags
    assert probe(path) == before_probe


def test_numeric_mp4_genre_atom_comes_back_as_the_same_atom(
        tmp_path, catalog, scanned, tag_batch, probe):
    path = realworld.m4a_gnre(tmp_path / "itunes.m4a", number=18)
    before_atoms = ilst_atoms(path)
    before_tags = write.tag_snapshot(write.open_tags(path))
    assert b"gnre" in before_atoms and b"\xa9gen" not in before_atoms
    assert probe(path)["genre"] == "Rock"
    scanned(path)

    plan, batch, result = tag_batch(path, [("jazz", 0.9), ("blues", 0.8)])

    assert result.status == "written", result.reason
    assert plan.changes[0].old == ["Rock"]  # what mutagen, and a person, sees in the file
    atoms = ilst_atoms(path)
    assert b"gnre" not in atoms and b"\xa9gen" in atoms
    assert write.read_keys(write.open_tags(path), ["\xa9gen"]) == {"\xa9gen": ["Jazz", "Blues"]}
    assert probe(path)["genre"] == "Jazz"
    rows = {r.field: (r.old, r.new) for r in journal.entries(catalog, batch_id=batch)}
    assert rows == {"\xa9gen": (None, ["Jazz", "Blues"]), write.GNRE: (["18"], None)}

    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    assert ilst_atoms(path) == before_atoms  # the gnre atom again, no \xa9gen text
    assert probe(path)["genre"] == "Rock"
    assert write.tag_snapshot(write.open_tags(path)) == before_tags


def test_numeric_mp4_genre_counts_in_fill_mode_and_survives_other_writes(
        tmp_path, scanned, tag_batch):
    path = realworld.m4a_gnre(tmp_path / "itunes.m4a", number=5)  # 5 is Disco
    scanned(path)
    plan, _, result = tag_batch(path, ROCK_JAZZ, mode="fill")
    assert result.status == "kept" and not plan.changes
    write.write_keys(path, {"----:com.apple.iTunes:MOOD": ["Happy"]})
    assert b"gnre" in ilst_atoms(path) and b"\xa9gen" not in ilst_atoms(path)
    assert write.read_keys(write.open_tags(path), ["\xa9gen"]) == {"\xa9gen": ["Disco"]}


def _name(stem: str, ext: str, limit: int = 255) -> str:
    """The longest name of repeated ``stem`` + ``ext`` within ``limit`` UTF-8 bytes."""
    count = (limit - len(ext.encode())) // len(stem.encode())
    return stem * count + ext


@pytest.mark.parametrize("name", [
    _name("a", ".mp3"),                # 255 bytes
    _name("é", ".flac"),               # 2-byte characters, 255 bytes
    _name("日本の歌", ".m4a"),          # 3-byte characters, 244 bytes
    _name("ü", ".ogg", limit=229),     # the length in the report
], ids=["ascii-255", "latin-255", "cjk-244", "latin-229"])
def test_longest_file_names_can_be_tagged_and_undone(
        music_copy, catalog, scanned, tag_batch, name):
    assert len(name.encode()) <= 255
    path = music_copy(name.rsplit(".", 1)[1], name)
    before = write.tag_snapshot(write.open_tags(path))
    scanned(path)
    _, batch, result = tag_batch(path, ROCK_JAZZ)
    assert result.status == "written", result.reason
    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    assert write.tag_snapshot(write.open_tags(path)) == before
    assert sorted(os.listdir(path.parent)) == sorted([name, "catalog.sqlite",
                                                      "catalog.sqlite-shm", "catalog.sqlite-wal"])


def test_temporary_copy_has_a_short_name_with_the_writer_pid(music_copy):
    path = music_copy("flac", _name("a", ".flac"))
    prepared = write.prepare_write(path, {"GENRE": ["Rock"]})
    try:
        temp = os.path.basename(prepared.temp_path)
        assert len(temp) < 40 and write.is_leftover(temp)
        assert temp.startswith(f"{write.TEMP_PREFIX}{os.getpid()}.")
        assert os.path.dirname(prepared.temp_path) == str(path.parent)
        assert write.remove_leftovers(path.parent) == []  # this process is alive: kept
    finally:
        write.discard_write(prepared)


def test_leftover_with_the_short_name_of_a_dead_writer_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f".earmark-{dead}.k2x_9abc.partial").write_bytes(b"x")
    (tmp_path / f".earmark-{os.getppid()}.zz81qq0a.partial").write_bytes(b"live")
    removed = write.remove_leftovers(tmp_path)
    assert [os.path.basename(p) for p in removed] == [f".earmark-{dead}.k2x_9abc.partial"]
    assert os.listdir(tmp_path) == [f".earmark-{os.getppid()}.zz81qq0a.partial"]


TITLE = {"mp3": "TIT2", "flac": "TITLE", "m4a": "\xa9nam"}
GENRE = {"mp3": "TCON", "flac": "GENRE", "m4a": "\xa9gen"}


@pytest.mark.parametrize("fmt", list(TITLE))
def test_undo_after_another_program_changed_the_title_restores_only_earmarks_fields(
        decorated, catalog, scanned, tag_batch, probe, fmt):
    path = decorated(fmt)
    set_tags(path, {GENRE[fmt]: ["Blues", "Soul"]})
    scanned(path)
    _, batch, _ = tag_batch(path, ROCK_JAZZ)
    set_tags(path, {TITLE[fmt]: ["Renamed Elsewhere"]})

    restored = undo_batch(catalog, batch)

    assert [r.status for r in restored] == ["restored"]
    assert restored[0].reason == ("restored earmark's fields; the other changes to this file "
                                  "were kept")
    assert write.read_keys(write.open_tags(path), [GENRE[fmt], TITLE[fmt]]) == {
        GENRE[fmt]: ["Blues", "Soul"], TITLE[fmt]: ["Renamed Elsewhere"]}
    assert probe(path)["title"] == "Renamed Elsewhere"
    assert probe(path)["genre"].startswith("Blues")
    assert journal.entries(catalog, batch_id=batch) == []  # undone


def test_undo_refuses_when_another_program_changed_earmarks_field_and_says_what_to_do(
        decorated, catalog, scanned, tag_batch):
    path = decorated("flac")
    set_tags(path, {"GENRE": ["Blues"]})
    scanned(path)
    _, batch, _ = tag_batch(path, ROCK_JAZZ)
    set_tags(path, {"GENRE": ["Polka"], "TITLE": ["Renamed Elsewhere"]})
    before = path.read_bytes()

    restored = undo_batch(catalog, batch)

    assert [r.status for r in restored] == ["refused"]
    reason = restored[0].reason
    assert "changed by someone else" in reason
    assert "GENRE included (it holds 'Polka', earmark wrote 'Rock; Jazz')" in reason
    assert "Before earmark, GENRE held 'Blues'" in reason
    assert "earmark tag FILE --mode overwrite" in reason
    assert path.read_bytes() == before
    assert journal.entries(catalog, batch_id=batch)  # still undoable once the file is back
