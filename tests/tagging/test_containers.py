"""Tag writing beyond ID3, Vorbis and MP4: WMA (ASF), the APEv2 containers (WavPack, Musepack,
True Audio, and by class Monkey's Audio, OptimFROG, TAK), WAV files carrying RIFF INFO, MP3s with
ID3v1 beside ID3v2, and fill mode seeing genres in every tag block. Each file is made from real
music, written through the journalled batch, read back by mutagen and by ffprobe, and undone."""

from __future__ import annotations

import numpy as np
import pytest
from mutagen import apev2
from mutagen._riff import RiffFile
from mutagen.apev2 import APEv2, APEv2File
from mutagen.asf import ASF
from mutagen.id3 import ID3, TCON
from mutagen.monkeysaudio import MonkeysAudio
from mutagen.musepack import Musepack
from mutagen.optimfrog import OptimFROG
from mutagen.tak import TAK
from mutagen.trueaudio import TrueAudio
from mutagen.wavpack import WavPack

import realworld
from earmark.audio import check_audio, decode_audio
from earmark.catalog import journal, tracks
from earmark.errors import TagWriteError
from earmark.ingest.scan import scan
from earmark.tagging import apply_plans, load_policy, plan_track, undo
from earmark.tags import write

ROCK_HIPHOP = {"genre": lambda track: [("rock", 0.9), ("hip-hop", 0.6), ("jazz", 0.1)]}
MOODS = {"mood": lambda track: [("happy", 0.8)], "instrument": lambda track: [("guitar", 0.7)]}
OVERWRITE = load_policy().with_(mode="overwrite")


def run_batch(catalog, paths, sources, policy=OVERWRITE):
    plans = [plan_track(catalog, tracks.get_track(catalog, str(p)), sources, policy)
             for p in paths]
    return plans, *apply_plans(catalog, plans)


def undo_batch(catalog, batch):
    return [r.status for r in undo(catalog, journal.entries(catalog, batch_id=batch))]


def decoded(path):
    return decode_audio(path, mono=False)


# --- WMA --------------------------------------------------------------------------------------

def test_wma_genres_are_repeated_wm_genre_attributes_verified_and_undone(
        tmp_path, catalog, scanned, probe):
    path = realworld.wma(tmp_path / "late set.wma")
    scanned(path)
    before_probe, before_audio = probe(path), decoded(path)
    before_hash = check_audio(path, decode=False).audio_hash

    plans, batch, results = run_batch(catalog, [path], {**ROCK_HIPHOP, **MOODS})

    assert [r.status for r in results] == ["written"], results
    assert [(c.key, c.new) for c in plans[0].changes] == [
        ("WM/Genre", ["Rock", "Hip-Hop"]), ("WM/Mood", ["Happy"]), ("INSTRUMENT", ["Guitar"])]
    # Two attributes of one name, not one joined string.
    assert [str(v) for v in ASF(path).tags["WM/Genre"]] == ["Rock", "Hip-Hop"]
    shown = probe(path)
    assert shown["genre"] == "Rock"  # FFmpeg shows the first of repeated attributes
    assert shown["title"] == "Late Set" and shown["artist"] == "Trio"
    assert check_audio(path, decode=False).audio_hash == before_hash
    assert np.array_equal(decoded(path), before_audio)
    assert {e.field for e in journal.entries(catalog, batch_id=batch)} == {
        "WM/Genre", "WM/Mood", "INSTRUMENT"}

    assert undo_batch(catalog, batch) == ["restored"]
    assert "WM/Genre" not in ASF(path).tags and "WM/Mood" not in ASF(path).tags
    assert probe(path) == before_probe
    assert np.array_equal(decoded(path), before_audio)


def test_wma_overwrite_undo_puts_back_several_genres(tmp_path, catalog, scanned):
    path = realworld.wma(tmp_path / "old genres.wma")
    write.write_keys(path, {"WM/Genre": ["Blues", "Soul"]})
    scanned(path)
    _, batch, results = run_batch(catalog, [path], ROCK_HIPHOP)
    assert results[0].status == "written"
    assert undo_batch(catalog, batch) == ["restored"]
    assert [str(v) for v in ASF(path).tags["WM/Genre"]] == ["Blues", "Soul"]


# --- APEv2 containers -------------------------------------------------------------------------

APE_MAKERS = {"wv": realworld.wavpack, "mpc": realworld.musepack, "tta": realworld.true_audio}


@pytest.mark.parametrize("ext", sorted(APE_MAKERS))
def test_apev2_genres_are_one_nul_separated_item_verified_and_undone(
        tmp_path, catalog, scanned, probe, ext):
    path = APE_MAKERS[ext](tmp_path / f"late set.{ext}")
    scanned(path)
    before_probe, before_audio = probe(path), decoded(path)
    before_tags = write.tag_snapshot(write.open_tags(path))

    plans, batch, results = run_batch(catalog, [path], {**ROCK_HIPHOP, **MOODS})

    assert [r.status for r in results] == ["written"], results
    assert [(c.key, c.new) for c in plans[0].changes] == [
        ("Genre", ["Rock", "Hip-Hop"]), ("Mood", ["Happy"]), ("Instrument", ["Guitar"])]
    item = APEv2(path)["Genre"]
    assert item.value == "Rock\0Hip-Hop" and list(item) == ["Rock", "Hip-Hop"]
    shown = probe(path)
    assert shown["genre"] == "Rock"  # FFmpeg's APE reader stops at the first NUL
    assert shown["mood"] == "Happy" and shown["instrument"] == "Guitar"
    if ext != "mpc":  # mpcenc wrote no tags; FFmpeg wrote the title of the others
        assert shown["title"] == "Late Set"
    assert np.array_equal(decoded(path), before_audio)

    assert undo_batch(catalog, batch) == ["restored"]
    assert write.tag_snapshot(write.open_tags(path)) == before_tags
    assert probe(path) == before_probe
    assert np.array_equal(decoded(path), before_audio)


@pytest.mark.parametrize("cls", [WavPack, Musepack, MonkeysAudio, OptimFROG, TAK, APEv2File])
def test_every_apev2_file_class_is_in_the_apev2_family(cls):
    # No encoder for Monkey's Audio, OptimFROG or TAK here: mutagen gives them all the APEv2File
    # base class, and the family is looked up along the class hierarchy.
    assert write.describe(object.__new__(cls), "x").family == "apev2"


def test_true_audio_keeps_an_id3v2_only_tag_and_writes_apev2_otherwise(tmp_path, probe):
    made_by_ffmpeg = realworld.true_audio(tmp_path / "ffmpeg.tta")  # APEv2 title
    assert write.describe_file(made_by_ffmpeg).family == "apev2"
    untagged = realworld.encode(tmp_path / "untagged.tta", ["-c:a", "tta"])
    apev2.delete(untagged)  # FFmpeg tags every file with its encoder's name
    assert write.describe_file(untagged).family == "apev2"

    id3_only = realworld.encode(tmp_path / "id3.tta", ["-c:a", "tta"])
    apev2.delete(id3_only)
    audio = TrueAudio(id3_only)
    audio.add_tags()
    audio.tags.add(TCON(encoding=3, text=["Jazz"]))
    audio.save()
    assert write.describe_file(id3_only).family == "id3"
    write.write_keys(id3_only, {"TCON": ["Rock", "Hip-Hop"]})
    assert list(ID3(id3_only)["TCON"].text) == ["Rock", "Hip-Hop"]
    assert probe(id3_only)["genre"] == "Rock"


@pytest.mark.parametrize("ext", ["wv", "mpc"])
def test_wavpack_and_musepack_decode_to_the_excerpt_and_scan_ok(tmp_path, catalog, ext):
    path = APE_MAKERS[ext](tmp_path / f"song.{ext}")
    reference = realworld.encode(tmp_path / "reference.flac", ["-c:a", "flac"])
    rate = 22050
    got, want = decode_audio(path, rate), decode_audio(reference, rate)
    if ext == "wv":  # lossless: the very same samples
        assert np.array_equal(got, want)
    else:  # Musepack codes whole frames of 1152 samples (at 44.1 kHz): at most one more
        assert 0 <= len(got) - len(want) <= 1152 // 2
    report = scan(catalog, [tmp_path])
    rows = {row.path: row for row in tracks.iter_tracks(catalog, status=None)}
    assert rows[str(path)].status == "ok", (report, rows[str(path)].error)
    assert rows[str(path)].duration == pytest.approx(4.0, abs=0.05)


# --- WAV with RIFF INFO ---------------------------------------------------------------------

def riff_chunks(path) -> dict[str, bytes]:
    """Chunk id -> bytes of every top-level chunk (``LIST`` by its type, ``LIST:INFO``)."""
    out = {}
    with open(path, "rb") as fileobj:
        for chunk in RiffFile(fileobj).root.subchunks():
            name = f"{chunk.id}:{chunk.name}" if chunk.id == "LIST" else chunk.id
            out[name] = chunk.read()
    return out


@pytest.mark.parametrize("genre", ["Country", None])
def test_wav_with_info_gets_genre_in_info_and_id3_and_undo_restores_both(
        tmp_path, catalog, scanned, probe, genre):
    path = realworld.wav_with_info(tmp_path / "info.wav", genre=genre)
    scanned(path)
    before_chunks, before_probe = riff_chunks(path), probe(path)

    plans, batch, results = run_batch(catalog, [path], ROCK_HIPHOP)

    assert [r.status for r in results] == ["written"], results
    assert [(c.key, c.old, c.new) for c in plans[0].changes] == [
        ("TCON", None, ["Rock", "Hip-Hop"]),
        ("INFO:IGNR", [genre] if genre else None, ["Rock; Hip-Hop"])]
    shown = probe(path)
    assert shown["genre"] == "Rock; Hip-Hop" and shown["title"] == "Late Set"
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": ["Rock", "Hip-Hop"]}
    after = riff_chunks(path)
    assert after["data"] == before_chunks["data"]
    assert b"INAM\x09\0\0\0Late Set\0" in after["LIST:INFO"]  # other items as they were

    assert undo_batch(catalog, batch) == ["restored"]
    restored = riff_chunks(path)
    assert restored["LIST:INFO"] == before_chunks["LIST:INFO"]
    assert restored["data"] == before_chunks["data"]
    assert probe(path) == before_probe
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": None}


def test_wav_without_info_gets_no_info_chunk(tmp_path, catalog, scanned):
    # FFmpeg names itself in an INFO chunk unless told to be bit-exact.
    path = realworld.encode(tmp_path / "plain.wav", ["-c:a", "pcm_s16le", "-fflags", "+bitexact"])
    assert "LIST:INFO" not in riff_chunks(path)
    scanned(path)
    plans, _, results = run_batch(catalog, [path], ROCK_HIPHOP)
    assert results[0].status == "written"
    assert [c.key for c in plans[0].changes] == ["TCON"]
    assert "LIST:INFO" not in riff_chunks(path)


def test_info_writer_refuses_several_values_for_one_item(tmp_path):
    path = realworld.wav_with_info(tmp_path / "info.wav")
    before = path.read_bytes()
    with pytest.raises(TagWriteError, match="one value"):
        write.write_keys(path, {"INFO:IGNR": ["Rock", "Pop"]})
    assert path.read_bytes() == before


# --- an APEv2 tag beside ID3v2 ----------------------------------------------------------------
# foobar2000 and FFmpeg show the APEv2 tag's fields when a file has both, mutagen and most
# players ID3v2's: every field goes into both, or the file ends up with two genres.

BESIDE_SHAPES = {
    "mp3 apev2 then id3v1": lambda d: realworld.mp3_apev2_then_id3v1(d / "ape.mp3", "Blues"),
    "mp3 id3v1 then apev2": lambda d: realworld.mp3_with_apev2_genre(d / "ape.mp3", "Blues"),
    "tta": lambda d: realworld.true_audio_with_id3v2_and_apev2(d / "both.tta", "Jazz", "Blues"),
}
BESIDE_ID3_GENRE = {"mp3 apev2 then id3v1": None, "mp3 id3v1 then apev2": None, "tta": ["Jazz"]}


def ape_items(path) -> dict[str, list[str]]:
    return {key.lower(): list(value) for key, value in APEv2(path).items()}


@pytest.mark.parametrize("shape", sorted(BESIDE_SHAPES))
def test_overwrite_replaces_the_genre_in_id3v2_and_in_the_apev2_tag_beside_it(
        tmp_path, catalog, scanned, probe, shape):
    path = BESIDE_SHAPES[shape](tmp_path)
    scanned(path)
    before_probe, before_audio, before_ape = probe(path), decoded(path), ape_items(path)
    if shape == "tta":  # FFmpeg shows a TTA's APEv2 tag over ID3v2 (and an MP3's not at all)
        assert before_probe["genre"] == "Blues"
    before_tags = write.tag_snapshot(write.open_tags(path))
    before_bytes, v2_size = path.read_bytes(), ID3(path).size

    plans, batch, results = run_batch(catalog, [path], {**ROCK_HIPHOP, **MOODS})

    assert [r.status for r in results] == ["written"], results
    id3_genre = BESIDE_ID3_GENRE[shape]
    assert [(c.key, c.old, c.new) for c in plans[0].changes] == [
        ("TCON", id3_genre, ["Rock", "Hip-Hop"]),
        ("APEv2:Genre", ["Blues"], ["Rock", "Hip-Hop"]),  # the preview's old value
        ("TMOO", None, ["Happy"]), ("APEv2:Mood", None, ["Happy"]),
        ("TXXX:INSTRUMENT", None, ["Guitar"]), ("APEv2:Instrument", None, ["Guitar"])]
    assert list(ID3(path)["TCON"].text) == ["Rock", "Hip-Hop"]
    after_ape = ape_items(path)
    assert after_ape["genre"] == ["Rock", "Hip-Hop"] and after_ape["mood"] == ["Happy"]
    assert {k: v for k, v in after_ape.items() if k not in ("genre", "mood", "instrument")} == {
        k: v for k, v in before_ape.items() if k != "genre"}
    shown = probe(path)
    assert shown["genre"] == "Rock" and shown["title"] == "Late Set"
    if shape == "mp3 apev2 then id3v1":  # the ID3v1 tag stays last, byte for byte
        assert path.read_bytes()[-128:-125] == b"TAG"
        assert path.read_bytes()[-128:] == before_bytes[-128:]
    assert np.array_equal(decoded(path), before_audio)
    assert {e.field for e in journal.entries(catalog, batch_id=batch)} == {
        "TCON", "APEv2:Genre", "TMOO", "APEv2:Mood", "TXXX:INSTRUMENT", "APEv2:Instrument"}

    assert undo_batch(catalog, batch) == ["restored"]
    assert ape_items(path) == before_ape
    assert write.read_keys(write.open_tags(path), ["TCON"]) == {"TCON": id3_genre}
    assert write.tag_snapshot(write.open_tags(path)) == before_tags
    assert probe(path) == before_probe
    if shape.startswith("mp3"):  # mutagen's APEv2 tag and FFmpeg's ID3v1 as they were
        assert path.read_bytes()[ID3(path).size:] == before_bytes[v2_size:]
    assert np.array_equal(decoded(path), before_audio)


@pytest.mark.parametrize("shape", sorted(BESIDE_SHAPES))
def test_merge_gives_id3v2_and_the_apev2_tag_the_same_genres(tmp_path, catalog, scanned, shape):
    path = BESIDE_SHAPES[shape](tmp_path)
    scanned(path)
    plans, _, results = run_batch(catalog, [path], ROCK_HIPHOP,
                                  load_policy().with_(mode="merge"))
    assert [r.status for r in results] == ["written"], results
    merged = (BESIDE_ID3_GENRE[shape] or []) + ["Blues", "Rock", "Hip-Hop"]
    assert [(c.key, c.new) for c in plans[0].changes] == [
        ("TCON", merged), ("APEv2:Genre", merged)]
    assert list(ID3(path)["TCON"].text) == merged and ape_items(path)["genre"] == merged


def test_an_apev2_item_keeps_its_spelling(tmp_path):
    path = realworld.true_audio_with_id3v2_and_apev2(tmp_path / "both.tta")
    assert "genre" in APEv2(path).keys()  # as FFmpeg writes it
    write.write_keys(path, {"APEv2:Genre": ["Rock"]})
    assert "genre" in APEv2(path).keys() and list(APEv2(path)["Genre"]) == ["Rock"]


# --- fill mode sees every tag block ------------------------------------------------------------

FILL_SHAPES = {
    "apev2 genre on mp3": lambda d: realworld.mp3_with_apev2_genre(d / "ape.mp3"),
    "second id3v2 tag": lambda d: realworld.mp3_with_second_id3v2(d / "two tags.mp3"),
    "wav info genre": lambda d: realworld.wav_with_info(d / "info.wav", genre="Blues"),
    "tta with id3v2 and apev2": BESIDE_SHAPES["tta"],
}


@pytest.mark.parametrize("shape", sorted(FILL_SHAPES))
def test_fill_mode_counts_a_genre_in_any_tag_block(tmp_path, catalog, scanned, shape):
    path = FILL_SHAPES[shape](tmp_path)
    scanned(path)
    before = path.read_bytes()
    plans, _, results = run_batch(catalog, [path], ROCK_HIPHOP, load_policy())
    assert [r.status for r in results] == ["kept"]
    assert plans[0].changes == []
    assert path.read_bytes() == before


# --- ID3v1 beside ID3v2 ----------------------------------------------------------------------

V1_SHAPES = {
    "ffmpeg -write_id3v1": lambda d: realworld.mp3_id3v1_ffmpeg(d / "ffmpeg.mp3"),
    "itunes 0.5 s": lambda d: realworld.mp3_id3v1_itunes(d / "itunes.mp3"),
    "itunes 4 s": lambda d: realworld.mp3_id3v1_itunes(d / "long.mp3", seconds=4),
}
# A tag block after something that is not a whole frame: the demuxer hands the ID3v1 bytes out
# inside the last packet, so the packet hash changed with the ID3v1 genre ("the audio would
# change"). Scan calls such files truncated, so they are written here without the catalog.
V1_AFTER_PARTIAL = {
    "last frame cut by 100 bytes": {"cut": 100},
    "last frame cut by 300 bytes": {"cut": 300},
    "zero bytes before ID3v1": {"junk": 50},
}
ID3V1_ROCK = 17  # "Rock" in ID3v1's fixed genre list


@pytest.mark.parametrize("shape", sorted(V1_SHAPES))
def test_mp3_with_id3v1_and_id3v2_takes_the_write_and_undo(tmp_path, catalog, scanned, probe,
                                                            shape):
    path = V1_SHAPES[shape](tmp_path)
    scanned(path)
    before = path.read_bytes()
    v2_size = ID3(path).size
    before_probe = probe(path)

    _, batch, results = run_batch(catalog, [path], ROCK_HIPHOP)

    assert [r.status for r in results] == ["written"], results
    after = path.read_bytes()
    # ID3v1 kept byte for byte; every byte between the tags equal.
    assert after[-128:-125] == b"TAG" and after[-128:] == before[-128:]
    assert after[ID3(path).size:-128] == before[v2_size:-128]
    assert list(ID3(path)["TCON"].text) == ["Rock", "Hip-Hop"]
    assert probe(path)["genre"] == "Rock" and probe(path)["title"] == "Late Set"

    assert undo_batch(catalog, batch) == ["restored"]
    restored = path.read_bytes()
    assert restored[-128:] == before[-128:]
    assert restored[ID3(path).size:] == before[v2_size:]
    assert probe(path) == before_probe


@pytest.mark.parametrize("shape", sorted(V1_AFTER_PARTIAL))
def test_id3v1_after_a_partial_frame_takes_the_write_and_its_undo(tmp_path, shape):
    path = realworld.mp3_id3v1_itunes(tmp_path / "partial.mp3", **V1_AFTER_PARTIAL[shape])
    before = path.read_bytes()
    v2_size = ID3(path).size

    write.write_keys(path, {"TCON": ["Rock", "Hip-Hop"]})

    after = path.read_bytes()
    assert after[ID3(path).size:-128] == before[v2_size:-128]
    assert after[-128:] == before[-128:]
    write.write_keys(path, {"TCON": None})
    restored = path.read_bytes()
    assert restored[-128:] == before[-128:]
    assert restored[ID3(path).size:] == before[v2_size:]


def test_an_apev2_tag_of_131_bytes_is_not_taken_for_id3v1(tmp_path):
    # Header (32) + one 67-byte item + footer (32): the header's "APETAGEX" puts "TAG" exactly
    # 128 bytes from the end, where ID3v1 would start.
    path = realworld.wavpack(tmp_path / "song.wv")
    apev2.delete(path)
    value = "x" * (67 - len("Genre") - 9)
    write.write_keys(path, {"Genre": [value]})
    assert path.read_bytes()[-128:-125] == b"TAG" and list(APEv2(path)["Genre"]) == [value]
    write.write_keys(path, {"Genre": None})


def test_stream_check_sees_audio_bytes_but_not_tag_bytes(tmp_path):
    path = realworld.mp3_id3v1_itunes(tmp_path / "itunes.mp3", cut=100)
    audio = write.open_tags(path)
    data = bytearray(path.read_bytes())
    reference = write._stream_digest(str(path), audio)
    data[-1] = ID3V1_ROCK  # an ID3v1 field
    path.write_bytes(data)
    assert write._stream_digest(str(path), audio) == reference
    data[-200] ^= 0xFF  # a byte of the cut-short last frame
    path.write_bytes(data)
    assert write._stream_digest(str(path), audio) != reference
