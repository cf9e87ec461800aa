"""ID3 tags are written as stored: nothing in a user's tag is lost or added behind their back.

- an ID3v2.3 tag kept as v2.3 keeps every frame byte for byte, also the ones mutagen's v2.4
  translation drops or merges (RVAD, TSIZ, TRDA, TYER/TDAT/TIME, TORY, IPLS) and frames it keeps
  unparsed; undo gives back the same bytes;
- a version change (``--upgrade-id3``, ``--id3v23``) is said beforehand, naming every frame it
  converts or drops; an ID3v2.2 tag (which mutagen cannot write) needs ``--upgrade-id3``;
- a frame mutagen cannot read refuses the write rather than being dropped by it;
- an ID3v1 tag's fields never move into an existing ID3v2 tag, and the ID3v1 tag stays byte
  for byte; a file with only ID3v1 gets an ID3v2 tag carrying the ID3v1 fields (players
  reading ID3v2 show the same song), which undo removes again.

Files are GTZAN excerpts shaped by :mod:`realworld`; frames are compared as stored on disk by
:func:`stored_frames`, and FFmpeg (ffprobe) reads what was written.
"""

from __future__ import annotations

import pytest
from mutagen.id3 import ID3, TSOP, Encoding

import realworld
from earmark.catalog import journal
from earmark.errors import TagWriteError
from earmark.tagging import undo
from earmark.tags import write

ROCK_JAZZ = [("rock", 0.9), ("jazz", 0.8)]
ROCK_HIPHOP = [("rock", 0.9), ("hip-hop", 0.8)]
#: A frame id mutagen does not know (old MusicBrainz artist sort name in v2.3): kept unparsed.
XSOP = realworld.raw_id3v23_frame("XSOP", b"\0Trio, The")


def stored_frames(path) -> dict[str, list[bytes]]:
    """Every frame of the file's ID3v2.3 or v2.4 tag as stored (id, size, flags, data), by
    frame id.

    Hand-read, to be independent of mutagen: the tag starts ``ID3`` with version 3 or 4 (at the
    start of an MP3, or inside the WAV/AIFF chunk), its size is a 28-bit syncsafe integer, and
    frames have a 4-byte id, a 4-byte size (syncsafe in v2.4) and 2 flag bytes; padding is
    zeros.
    """
    data = path.read_bytes()
    start = max(data.rfind(b"ID3\x03\x00"), data.rfind(b"ID3\x04\x00"))
    assert start >= 0, "no ID3v2.3 or v2.4 tag"
    syncsafe = data[start + 3] == 4

    def number(raw: bytes, safe: bool = True) -> int:
        return sum(b << (7 * i if safe else 8 * i) for i, b in enumerate(reversed(raw)))

    frames: dict[str, list[bytes]] = {}
    pos, end = start + 10, start + 10 + number(data[start + 6:start + 10])
    while pos + 10 <= end and data[pos] != 0:
        length = number(data[pos + 4:pos + 8], syncsafe)
        frames.setdefault(data[pos:pos + 4].decode("ascii"), []).append(
            data[pos:pos + 10 + length])
        pos += 10 + length
    return frames


def undo_batch(catalog, batch):
    return undo(catalog, journal.entries(catalog, batch_id=batch))


@pytest.mark.parametrize("fmt", ["mp3", "wav", "aiff"])
def test_legacy_v23_frames_survive_a_write_byte_for_byte_and_undo(
        tmp_path, catalog, scanned, tag_batch, probe, fmt):
    path = realworld.id3v23_as_stored(tmp_path / f"winamp.{fmt}",
                                      realworld.legacy_id3v23_frames(), [XSOP])
    before_frames = stored_frames(path)
    assert {"RVAD", "TSIZ", "TRDA", "TYER", "TDAT", "TIME", "TORY", "IPLS", "XSOP"} <= set(
        before_frames)
    before_bytes = path.read_bytes()
    before_probe = probe(path)
    scanned(path)

    plan, batch, result = tag_batch(path, ROCK_JAZZ)

    assert result.status == "written", result.reason
    assert plan.note is None  # the tag stays ID3v2.3: nothing converted
    after = stored_frames(path)
    assert {k: v for k, v in after.items() if k != "TCON"} == {
        k: v for k, v in before_frames.items() if k != "TCON"}
    assert write.open_tags(path).tags.version[:2] == (2, 3)
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": ["Rock", "Jazz"]}
    if fmt == "mp3":  # FFmpeg reads no ID3 in WAV and AIFF
        seen = probe(path)
        assert seen["genre"] == "Rock"
        assert {k: v for k, v in seen.items() if k != "genre"} == {
            k: v for k, v in before_probe.items() if k != "genre"}

    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    assert path.read_bytes() == before_bytes


def test_snapshot_sees_the_frames_a_translated_save_drops(tmp_path):
    """What the verifier compares: the tag as stored, so the frames mutagen's default (v2.4
    translated) load and save lose show up as changed."""
    path = realworld.id3v23_as_stored(tmp_path / "winamp.mp3",
                                      realworld.legacy_id3v23_frames(), [XSOP])
    before = write.tag_snapshot(write.open_tags(path))
    ID3(path).save(v2_version=3, v23_sep=None)  # mutagen's defaults: translate to v2.4, save
    after = write.tag_snapshot(write.open_tags(path))
    assert sorted(before.keys() - after.keys()) == [
        "IPLS", "RVAD", "TDAT", "TIME", "TORY", "TRDA", "TSIZ", "TYER"]
    assert sorted(after.keys() - before.keys()) == ["TDOR", "TDRC", "TIPL"]
    assert before["XSOP"] == after["XSOP"] and before["TIT2"] == after["TIT2"]


@pytest.mark.parametrize("damage", ["bad encoding byte", "truncated comment"])
def test_a_frame_mutagen_cannot_read_refuses_the_write(
        tmp_path, catalog, scanned, tag_batch, damage):
    frame = {"bad encoding byte": realworld.raw_id3v23_frame("TPE2", b"\x07Trio"),
             "truncated comment": realworld.raw_id3v23_frame("COMM", b"\x00en")}[damage]
    path = realworld.id3v23_as_stored(tmp_path / "damaged.mp3",
                                      realworld.legacy_id3v23_frames()[:3], [frame])
    frame_id = frame[:4].decode()
    assert frame_id in stored_frames(path) and frame_id not in write.open_tags(path).tags
    before = path.read_bytes()
    scanned(path)

    _, _, result = tag_batch(path, ROCK_JAZZ)

    assert result.status == "failed"
    assert f"cannot read the ID3 frames {frame_id}" in result.reason
    assert "writing would drop them" in result.reason
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if write.is_leftover(p.name)]


def test_upgrade_names_every_frame_it_converts_or_drops(tmp_path, catalog, scanned, tag_batch):
    """A v2.3 tag with iTunes' TSOP and Winamp's frames: --upgrade-id3 says what v2.4 does
    to them before writing, and the file then holds exactly that."""
    frames = [*realworld.legacy_id3v23_frames(), TSOP(encoding=1, text=["Trio, The"])]
    path = realworld.id3v23_as_stored(tmp_path / "mixed.mp3", frames, [XSOP])
    scanned(path)
    before = path.read_bytes()

    plan, _, result = tag_batch(path, ROCK_JAZZ)
    assert result.status == "failed" and "(TSOP)" in plan.reason
    assert "--upgrade-id3" in plan.reason
    assert path.read_bytes() == before

    plan, batch, result = tag_batch(path, ROCK_JAZZ, upgrade_id3=True)

    assert result.status == "written", result.reason
    assert plan.note == (
        "ID3v2.3 tag saved as ID3v2.4, to keep TSOP; other frames: IPLS -> TIPL; "
        "TDAT, TIME, TYER -> TDRC; TORY -> TDOR; dropped: RVAD, TRDA, TSIZ, XSOP "
        "(undo puts back ID3v2.3 but not these)")
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 4)
    assert sorted(audio.tags.keys()) == ["TCON", "TDOR", "TDRC", "TIPL", "TIT2", "TPE1", "TSOP"]
    assert write.read_keys(audio, ["TDRC", "TDOR", "TSOP"]) == {
        "TDRC": ["1997-03-24 21:30:00"], "TDOR": ["1961"], "TSOP": ["Trio, The"]}
    assert audio.tags["TIPL"].people == [["producer", "Rudy"], ["engineer", "Van"]]

    restored = undo_batch(catalog, batch)
    assert [r.status for r in restored] == ["restored"]
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 3)
    assert write.read_keys(audio, ["TCON", "TSOP"]) == {"TCON": ["Jazz"], "TSOP": ["Trio, The"]}


def test_id3v23_option_names_what_v23_spells_differently_and_undo_converts_back(
        decorated, catalog, scanned, tag_batch):
    path = decorated("mp3")  # ID3v2.4 with TDRC 1999
    before_frames = write.tag_snapshot(write.open_tags(path), {"TCON"})
    scanned(path)

    plan, batch, result = tag_batch(path, ROCK_JAZZ, id3v23=True)

    assert result.status == "written", result.reason
    assert plan.note == "ID3v2.4 tag saved as ID3v2.3 (--id3v23); other frames: TDRC -> TYER"
    assert write.read_keys(write.open_tags(path), ["TYER", "TDRC"]) == {
        "TYER": ["1999"], "TDRC": None}
    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 4)
    assert write.tag_snapshot(audio, {"TCON"}) == before_frames


def test_id3v22_tag_needs_upgrade_id3_and_is_saved_as_v23(
        tmp_path, catalog, scanned, tag_batch, probe):
    path = realworld.mp3_id3v22(tmp_path / "itunes 2002.mp3")
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 2)
    old_values = write.read_keys(audio, ["TIT2", "TPE1", "TALB", "TYER", "TCON"])
    assert old_values["TCON"] == ["(8)"]  # as stored: an ID3v1 genre reference (Jazz)
    before = path.read_bytes()
    scanned(path)

    plan, _, result = tag_batch(path, ROCK_JAZZ)
    assert result.status == "failed"
    assert "ID3v2.2" in plan.reason and "--upgrade-id3" in plan.reason
    with pytest.raises(TagWriteError, match="ID3v2.2.*--upgrade-id3"):
        write.write_keys(path, {"TCON": ["Rock"]}, id3_version=None)
    assert path.read_bytes() == before

    plan, batch, result = tag_batch(path, ROCK_JAZZ, upgrade_id3=True)

    assert result.status == "written", result.reason
    assert plan.note == ("ID3v2.2 tag saved as ID3v2.3 (mutagen cannot write ID3v2.2); every "
                         "other frame kept as it was")
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 3)
    assert write.read_keys(audio, list(old_values)) == {**old_values, "TCON": ["Rock", "Jazz"]}
    seen = probe(path)
    assert seen["genre"] == "Rock" and seen["title"] == "Late Set"
    assert seen["album"] == "Night Sessions" and seen["date"] == "1997"
    rows = journal.entries(catalog, batch_id=batch)
    assert [(r.old, r.new) for r in rows if r.field == journal.CONTAINER] == [
        (["ID3v2.2"], ["ID3v2.3"])]

    restored = undo_batch(catalog, batch)

    assert [r.status for r in restored] == ["restored"]
    assert "put back in ID3v2.3 (mutagen cannot write ID3v2.2)" in restored[0].reason
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 3)
    assert write.read_keys(audio, list(old_values)) == old_values


def test_id3v1_fields_stay_out_of_id3v2_and_id3v1_keeps_its_bytes(
        tmp_path, catalog, scanned, tag_batch, probe):
    path = realworld.mp3_id3v1(tmp_path / "ripped.mp3",
                               {"TIT2": ["Late Set (Live)"], "TPE1": ["Trio"]})
    before = path.read_bytes()
    assert before[-128:-125] == b"TAG"
    before_v2 = stored_frames(path)
    scanned(path)

    _, batch, result = tag_batch(path, ROCK_JAZZ)

    assert result.status == "written", result.reason
    after_v2 = stored_frames(path)
    assert sorted(after_v2) == ["TCON", "TIT2", "TPE1"]  # no TALB, TDRC, COMM, TRCK from v1
    assert after_v2["TIT2"] == before_v2["TIT2"] and after_v2["TPE1"] == before_v2["TPE1"]
    assert path.read_bytes()[-128:] == before[-128:]
    seen = probe(path)
    assert seen["genre"] == "Rock" and seen["title"] == "Late Set (Live)"

    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    assert path.read_bytes() == before


@pytest.mark.parametrize("id3v23", [False, True], ids=["v2.4", "v2.3"])
def test_mp3_with_only_id3v1_gets_an_id3v2_tag_with_its_fields_that_undo_removes(
        tmp_path, catalog, scanned, tag_batch, probe, id3v23):
    path = realworld.mp3_id3v1(tmp_path / "winamp.mp3")
    before = path.read_bytes()
    assert not before.startswith(b"ID3") and before[-128:-125] == b"TAG"
    assert write.open_tags(path).tags is None  # the ID3v1 tag is not an ID3v2 tag
    before_probe = probe(path)
    assert before_probe["title"] == "Late Set" and before_probe["genre"] == "Jazz"
    scanned(path)

    plan, batch, result = tag_batch(path, ROCK_HIPHOP, id3v23=id3v23)

    assert result.status == "written", result.reason
    # What players showed before: the ID3v1 genre, which the ID3v1 tag keeps saying.
    assert [(c.key, c.old, c.new) for c in plan.changes] == [
        ("TCON", ["Jazz"], ["Rock", "Hip-Hop"])]
    assert plan.note == ("the ID3v1 tag is kept as it was and still says genre Jazz (players "
                         "that read only ID3v1 show that)")
    year = "TYER" if id3v23 else "TDRC"
    assert sorted(stored_frames(path)) == sorted(
        ["TCON", "TIT2", "TPE1", "TALB", year, "COMM", "TRCK"])
    v1 = realworld.ID3V1_FIELDS
    assert write.read_keys(write.open_tags(path), [
        "TIT2", "TPE1", "TALB", year, write.ID3V1_COMMENT, "TRCK", "TCON"]) == {
        "TIT2": [v1["TIT2"]], "TPE1": [v1["TPE1"]], "TALB": [v1["TALB"]],
        year: [v1["TDRC"]], write.ID3V1_COMMENT: [v1["COMM"]], "TRCK": [v1["TRCK"]],
        "TCON": ["Rock", "Hip-Hop"]}
    assert path.read_bytes()[-128:] == before[-128:]
    seen = probe(path)
    assert seen["genre"].startswith("Rock")
    # FFmpeg shows the same song: every field but the genre as ID3v1 had it.
    assert {k: v for k, v in seen.items() if k != "genre"} == {
        k: v for k, v in before_probe.items() if k != "genre"}
    rows = journal.entries(catalog, batch_id=batch)
    assert [(r.old, r.new) for r in rows if r.field == journal.CONTAINER] == [
        (None, [f"ID3v2.{3 if id3v23 else 4}"])]
    assert {r.field for r in rows} == {journal.CONTAINER, "TCON", "TIT2", "TPE1", "TALB", year,
                                       write.ID3V1_COMMENT, "TRCK"}

    assert [r.status for r in undo_batch(catalog, batch)] == ["restored"]
    assert path.read_bytes() == before


def test_merge_into_an_id3v1_only_mp3_keeps_the_id3v1_genre(tmp_path, catalog, scanned,
                                                             tag_batch, probe):
    path = realworld.mp3_id3v1(tmp_path / "winamp.mp3")
    scanned(path)
    plan, _, result = tag_batch(path, ROCK_HIPHOP, mode="merge")
    assert result.status == "written", result.reason
    assert [(c.old, c.new) for c in plan.changes] == [(["Jazz"], ["Jazz", "Rock", "Hip-Hop"])]
    assert plan.note is None  # the ID3v1 genre is among the new ones
    assert write.read_keys(write.open_tags(path), ["TCON", "TIT2"]) == {
        "TCON": ["Jazz", "Rock", "Hip-Hop"], "TIT2": ["Late Set"]}


def test_an_existing_id3v2_tag_gets_nothing_from_id3v1(tmp_path):
    path = realworld.mp3_id3v1(tmp_path / "both.mp3", {"TIT2": ["Late Set (Live)"]})
    prepared = write.write_keys(path, {"TCON": ["Rock"]})
    assert sorted(prepared.new) == ["TCON"]
    assert sorted(stored_frames(path)) == ["TCON", "TIT2"]


def test_a_rewritten_frame_keeps_its_text_encoding_when_it_can(tmp_path, probe):
    """iTunes and Winamp wrote Latin-1 frames: new genres Latin-1 can hold stay Latin-1 (so undo
    gives back the same bytes); others go Unicode (UTF-16 in v2.3)."""
    path = realworld.id3v23_as_stored(tmp_path / "latin1.mp3",
                                      realworld.legacy_id3v23_frames()[:3])
    assert stored_frames(path)["TCON"] == [realworld.raw_id3v23_frame("TCON", b"\0Jazz\0")]
    write.write_keys(path, {"TCON": ["Rock", "Jazz"]}, id3_version=None)
    assert stored_frames(path)["TCON"] == [realworld.raw_id3v23_frame("TCON", b"\0Rock\0Jazz\0")]
    write.write_keys(path, {"TCON": ["J-Pop", "日本のロック"]}, id3_version=None)
    assert write.open_tags(path).tags["TCON"].encoding == Encoding.UTF16
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": ["J-Pop", "日本のロック"]}
    assert probe(path)["genre"] == "J-Pop"
