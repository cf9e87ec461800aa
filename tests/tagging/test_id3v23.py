"""ID3v2.3 and several values (issue 10, cases 2 and 9): genres written in a form v2.3 holds,
undone in the form the file had, and v2.3 tags holding v2.4-only frames (as iTunes writes).

Every file is real music (a GTZAN excerpt) tagged by :mod:`realworld`; what earmark wrote is
read back by mutagen and by ffprobe, and undo is checked against the file before the write.
"""

from __future__ import annotations

import json
import time

import pytest
from mutagen.id3 import TSOP
from typer.testing import CliRunner

import realworld
from earmark.catalog import Catalog, journal
from earmark.cli import app
from earmark.errors import TagWriteError
from earmark.ingest.scan import add_file
from earmark.tagging import undo
from earmark.tags import write

runner = CliRunner()

#: Genres of the file before earmark writes, by count: NUL-separated in v2.3 as well.
BEFORE = {1: ["Blues"], 2: ["Blues", "Soul"], 3: ["Blues", "Soul", "Gospel"]}
#: What the predictions make earmark write, by count.
PREDICTED = [("rock", 0.9), ("jazz", 0.8), ("metal", 0.7)]
WRITTEN = {1: ["Rock"], 2: ["Rock", "Jazz"], 3: ["Rock", "Jazz", "Metal"]}


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("fmt", ["mp3", "aiff", "wav"])
def test_genres_written_and_undone_in_each_id3_version(
        tmp_path, catalog, scanned, tag_batch, probe, fmt, version, count):
    path = realworld.id3_tagged(tmp_path / f"song.{fmt}", version,
                                {"TCON": BEFORE[count], "TIT2": ["Crossroad"]})
    scanned(path)
    before_bytes = path.read_bytes()
    before_tags = write.tag_snapshot(write.open_tags(path))
    before_probe = probe(path)

    plan, batch, result = tag_batch(path, PREDICTED[:count])

    assert result.status == "written", result.reason
    assert plan.changes[0].old == BEFORE[count]
    written = write.open_tags(path)
    assert written.tags.version[1] == version  # the file keeps its ID3 version
    assert write.read_keys(written, ["TCON"]) == {"TCON": WRITTEN[count]}
    assert write.read_keys(written, ["TIT2"]) == {"TIT2": ["Crossroad"]}
    if fmt == "mp3":  # FFmpeg shows the first of several ID3 values (and no WAV/AIFF ID3)
        assert probe(path)["genre"] == WRITTEN[count][0]
        assert probe(path)["title"] == "Crossroad"

    restored = undo(catalog, journal.entries(catalog, batch_id=batch))

    assert [r.status for r in restored] == ["restored"]
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": BEFORE[count]}
    assert write.tag_snapshot(write.open_tags(path)) == before_tags
    assert probe(path) == before_probe
    assert path.read_bytes() == before_bytes  # same frames, same encoding, same padding


def test_two_genres_into_id3v23_read_back_as_two_values(decorated, probe):
    """`--id3v23` with two genres: the v2.3 tag holds them as two NUL-separated values."""
    path = decorated("mp3")
    done = write.write_keys(path, {"TCON": ["Rock", "Alternative"]}, id3_version=3)
    assert done.new == {"TCON": ["Rock", "Alternative"]}
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 3)
    assert write.read_keys(audio, ["TCON"]) == {"TCON": ["Rock", "Alternative"]}
    with open(path, "rb") as handle:
        tag = handle.read(audio.tags.size)
    # UTF-16 with a byte-order mark per value, NUL-separated; never one "Rock/Alternative".
    assert "Rock/Alternative".encode("utf-16-le") not in tag
    assert b"\x00\x00\xff\xfeA\x00l\x00t\x00" in tag
    assert probe(path)["genre"] == "Rock"
    assert probe(path)["title"] == "A Song"


def test_other_multi_value_frames_keep_their_form(tmp_path, catalog, scanned, tag_batch):
    """A v2.3 tag's other frames stay as they were: two NUL-separated artists stay two
    values, and a '/' inside one value (as old taggers joined composers) stays one value."""
    path = realworld.id3_tagged(tmp_path / "song.mp3", 3, {
        "TCON": ["Blues", "Soul"], "TPE1": ["Ann", "Bob"], "TCOM": ["Carl/Dora"]})
    scanned(path)
    _, batch, result = tag_batch(path, PREDICTED[:2])
    assert result.status == "written", result.reason
    written = write.read_keys(write.open_tags(path), ["TCON", "TPE1", "TCOM"])
    assert written == {"TCON": ["Rock", "Jazz"], "TPE1": ["Ann", "Bob"], "TCOM": ["Carl/Dora"]}
    undo(catalog, journal.entries(catalog, batch_id=batch))
    assert write.read_keys(write.open_tags(path), ["TCON", "TPE1", "TCOM"]) == {
        "TCON": ["Blues", "Soul"], "TPE1": ["Ann", "Bob"], "TCOM": ["Carl/Dora"]}


def test_itunes_v23_tag_with_v24_frames_is_skipped_naming_the_option(
        tmp_path, scanned, tag_batch):
    path = realworld.mp3_itunes_v23(tmp_path / "itunes.mp3")
    scanned(path)
    before = path.read_bytes()
    plan, _, result = tag_batch(path, PREDICTED)
    assert result.status == "failed"
    assert "(TSOP)" in plan.reason and "--upgrade-id3" in plan.reason
    assert plan.cause == "its ID3v2.3 tag holds frames only ID3v2.4 defines"
    assert path.read_bytes() == before
    # The library call refuses the same way, naming the option.
    with pytest.raises(TagWriteError, match="TSOP.*--upgrade-id3"):
        write.write_keys(path, {"TCON": ["Rock"]}, id3_version=None)
    assert path.read_bytes() == before


def test_upgrade_id3_saves_v24_and_undo_gives_back_v23(
        tmp_path, catalog, scanned, tag_batch, probe):
    path = realworld.mp3_itunes_v23(tmp_path / "itunes.mp3")
    scanned(path)
    before_tags = write.tag_snapshot(write.open_tags(path))
    before_probe = probe(path)
    before_frames = sorted(write.open_tags(path).tags.keys())

    plan, batch, result = tag_batch(path, PREDICTED[:2], upgrade_id3=True)

    assert result.status == "written", result.reason
    assert plan.note.startswith("ID3v2.3 tag saved as ID3v2.4, to keep TSOP;")
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 4)
    assert write.read_keys(audio, ["TCON", "TSOP", "TSO2", "TDRC"]) == {
        "TCON": ["Rock", "Jazz"], "TSOP": ["Trio, The"], "TSO2": ["Trio, The"],
        "TDRC": ["2004"]}
    assert write.tag_snapshot(audio, {"TCON"}) == {
        k: v for k, v in before_tags.items() if k != "TCON"}
    seen = probe(path)
    assert seen["genre"] == "Rock" and seen["artist-sort"] == "Trio, The"
    rows = journal.entries(catalog, batch_id=batch)
    assert [(r.field, r.old, r.new) for r in rows if r.field == journal.CONTAINER] == [
        (journal.CONTAINER, ["ID3v2.3"], ["ID3v2.4"])]

    restored = undo(catalog, rows)

    assert [r.status for r in restored] == ["restored"]
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 3)  # the journal knew the old version
    assert sorted(audio.tags.keys()) == before_frames  # TSOP, TSO2, TDRC back in the v2.3 tag
    assert write.tag_snapshot(audio) == before_tags
    assert probe(path) == before_probe


def test_id3v23_option_on_a_v24_tag_with_v24_frames(decorated, scanned, tag_batch):
    """`--id3v23` on a v2.4 tag holding TSOP: skipped, or kept as v2.4 with --upgrade-id3."""
    path = decorated("mp3")
    audio = write.open_tags(path)
    audio.tags.add(TSOP(encoding=3, text=["Artist, Some"]))
    audio.save()
    scanned(path)
    plan, _, result = tag_batch(path, PREDICTED, id3v23=True)
    assert result.status == "failed" and "TSOP" in plan.reason
    # the summary's cause names the version the file has, as the reason does
    assert plan.cause == "its ID3v2.4 tag holds frames only ID3v2.4 defines"
    plan, _, result = tag_batch(path, PREDICTED, id3v23=True, upgrade_id3=True)
    assert result.status == "written" and "kept as ID3v2.4" in plan.note
    assert write.open_tags(path).tags.version[:2] == (2, 4)
    assert write.read_keys(write.open_tags(path), ["TSOP"]) == {"TSOP": ["Artist, Some"]}


def test_cli_names_the_option_then_upgrades_and_undoes(tmp_path):
    """`earmark tag` skips the iTunes file naming --upgrade-id3, writes with it (the note says
    what changes), and `earmark undo --last` gives back ID3v2.3."""
    path = realworld.mp3_itunes_v23(tmp_path / "itunes.mp3")
    db = tmp_path / "cli.sqlite"
    with Catalog(db) as catalog:
        track = add_file(catalog, path, verify=False)
        with catalog.transaction() as conn:
            conn.execute("INSERT INTO predictions VALUES (?, 'test-model', 'genres', ?, ?)",
                         (track.id, json.dumps([["rock", 0.9]]), time.time()))
    args = ["tag", str(path), "--db", str(db), "--model", "test-model", "--mode", "overwrite",
            "--yes"]

    skipped = runner.invoke(app, args)
    assert skipped.exit_code == 1
    assert "--upgrade-id3" in skipped.output and "TSOP" in skipped.output

    written = runner.invoke(app, [*args, "--upgrade-id3", "--json"])
    assert written.exit_code == 0, written.output
    line = json.loads(written.stdout.splitlines()[-1])
    assert line["status"] == "written" and "saved as ID3v2.4" in line["note"]
    assert write.open_tags(path).tags.version[:2] == (2, 4)

    undone = runner.invoke(app, ["undo", "--last", "--db", str(db), "--json"])
    assert undone.exit_code == 0, undone.output
    row = json.loads(undone.stdout)
    assert row["status"] == "restored"
    assert row["restored"] == {"TCON": ["Jazz"], journal.CONTAINER: ["ID3v2.3"]}
    assert write.open_tags(path).tags.version[:2] == (2, 3)


# --- genres in ID3v2.3's legacy forms -----------------------------------------------------------
# Old taggers wrote ID3v1 genre numbers into TCON ("(17)" is Rock, "(17)Rock" its refinement) and
# joined several genres with '/'. Plans compare against the genres these decode to, as scan
# does, so merge and fill never add a genre the file has in another spelling; journals keep the
# value as stored, so undo puts back "(17)" itself.

ROCK_ALTERNATIVE = [("rock", 0.9), ("alternative", 0.8)]


def legacy_tcon(tmp_path, stored: str):
    """An MP3 whose ID3v2.3 TCON frame holds ``stored`` as written, Latin-1."""
    frame = realworld.raw_id3v23_frame("TCON", b"\0" + stored.encode("latin-1"))
    path = realworld.id3v23_as_stored(tmp_path / "legacy.mp3", [], [frame])
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": [stored]}
    return path


@pytest.mark.parametrize("stored", ["(17)", "(17)Rock"])
def test_merge_adds_to_a_genre_reference_in_clean_values(tmp_path, scanned, tag_batch, probe,
                                                         stored):
    path = legacy_tcon(tmp_path, stored)
    scanned(path)
    plan, _, result = tag_batch(path, ROCK_ALTERNATIVE, mode="merge")
    assert result.status == "written", result.reason
    assert [(c.old, c.new) for c in plan.changes] == [(["Rock"], ["Rock", "Alternative"])]
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": ["Rock", "Alternative"]}
    assert probe(path)["genre"].startswith("Rock")


@pytest.mark.parametrize("stored", ["(17)", "(17)Rock", "Rock/Alternative", "rock"])
@pytest.mark.parametrize("mode", ["merge", "fill"])
def test_a_genre_the_file_has_in_a_legacy_form_is_not_added_again(tmp_path, scanned, tag_batch,
                                                                   stored, mode):
    path = legacy_tcon(tmp_path, stored)
    scanned(path)
    before = path.read_bytes()
    plan, _, result = tag_batch(path, ROCK_ALTERNATIVE[:1 if "/" not in stored else 2], mode=mode)
    assert result.status == "kept" and plan.changes == []
    assert path.read_bytes() == before


def test_merge_keeps_a_slash_joined_value_and_adds_the_new_genre(tmp_path, scanned, tag_batch):
    path = legacy_tcon(tmp_path, "Rock/Alternative")
    scanned(path)
    plan, _, result = tag_batch(path, [("rock", 0.9), ("jazz", 0.8)], mode="merge")
    assert result.status == "written", result.reason
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {
        "TCON": ["Rock/Alternative", "Jazz"]}


def test_overwrite_journals_the_stored_reference_and_undo_puts_it_back(
        tmp_path, catalog, scanned, tag_batch):
    path = legacy_tcon(tmp_path, "(17)")
    before, tag_size = path.read_bytes(), write.open_tags(path).tags.size
    scanned(path)
    plan, batch, result = tag_batch(path, [("jazz", 0.9), ("blues", 0.8)])
    assert result.status == "written", result.reason
    assert [(c.old, c.new) for c in plan.changes] == [(["Rock"], ["Jazz", "Blues"])]
    rows = journal.entries(catalog, batch_id=batch)
    assert [(r.field, r.old) for r in rows] == [("TCON", ["(17)"])]

    assert [r.status for r in undo(catalog, rows)] == ["restored"]
    audio = write.open_tags(path)
    assert audio.tags.version[:2] == (2, 3)
    assert write.read_keys(audio, ["TCON"]) == {"TCON": ["(17)"]}
    assert audio.tags["TCON"].encoding == 0  # Latin-1, as it was
    assert path.read_bytes()[audio.tags.size:] == before[tag_size:]
