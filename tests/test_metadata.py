"""Reading the tags people's files carry, from real music: every tag value type of every tag
block (ASF, MP4, APEv2, ID3, Vorbis, RIFF INFO) is read as text or left out with a reason,
never a crash; genres in any tag block count; each rating scale gives the right stars.

Files are made with ffmpeg and tagged with mutagen; where FFmpeg reads the same tags, ffprobe
is the independent check of what earmark reads."""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from mutagen.apev2 import APEv2
from mutagen.asf import (
    ASF,
    ASFBoolAttribute,
    ASFByteArrayAttribute,
    ASFDWordAttribute,
    ASFGUIDAttribute,
    ASFQWordAttribute,
    ASFUnicodeAttribute,
    ASFWordAttribute,
)
from mutagen.flac import FLAC, Picture
from mutagen.id3 import (
    APIC,
    GEOB,
    ID3,
    MCDI,
    PCNT,
    POPM,
    PRIV,
    RVA2,
    TCON,
    TIPL,
    TIT2,
    TPE1,
    TXXX,
    UFID,
    USLT,
    WXXX,
)
from mutagen.mp4 import MP4, AtomDataType, MP4Cover, MP4FreeForm
from mutagen.oggvorbis import OggVorbis
from typer.testing import CliRunner

import realworld
from earmark.catalog import Catalog, tracks
from earmark.cli import app
from earmark.errors import NotAudioError
from earmark.ingest.scan import scan
from earmark.tags.read import existing_genres, rating_fraction, read_tags, riff_info, tag_text
from earmark.taste.ratings_io import stars_from_fraction

runner = CliRunner()

#: The GUID Windows Media Player stores in WM/MediaClassPrimaryID for music.
MUSIC_CLASS = uuid.UUID("D1607DBC-E323-4BE2-86A1-48A42A28441E")


@pytest.fixture
def catalog(tmp_path):
    with Catalog(tmp_path / "catalog.sqlite") as cat:
        yield cat


def stars(path) -> int | None:
    return stars_from_fraction(read_tags(path).rating)


def assert_json_safe(tags) -> None:
    """The normalised tags survive JSON unchanged: nothing but str, numbers, bools, lists and
    dicts in them."""
    data = tags.to_dict()
    assert json.loads(json.dumps(data)) == data


# --- WMA (issue 17, case 1) -------------------------------------------------------------------


def wma_beside_flac(folder: Path, music_files: dict[str, Path]) -> Path:
    """Make ``folder`` with a 3 s WMA made by ffmpeg (``song.wma``, returned) beside a good
    FLAC (``good.flac``)."""
    folder.mkdir()
    wma = realworld.wma(folder / "song.wma", seconds=3.0)
    shutil.copyfile(music_files["flac"], folder / "good.flac")
    return wma


def test_wma_beside_flac_scans_both_with_the_wma_tags(tmp_path, music_files):
    """The issue's case: a WMA made by ffmpeg beside a good FLAC crashed the whole scan."""
    folder = tmp_path / "old windows library"
    wma = wma_beside_flac(folder, music_files)
    db = tmp_path / "cli.sqlite"
    result = runner.invoke(app, ["scan", str(folder), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    rows = {json.loads(line)["path"]: json.loads(line) for line in result.stdout.splitlines()}
    assert {r["action"] for r in rows.values()} == {"added"} and len(rows) == 2
    with Catalog(db) as cat:
        track = tracks.get_track(cat, wma)
        assert track.status == "ok" and track.codec == "wmav2"
        assert (track.title, track.artist) == ("Late Set", "Trio")
        assert tracks.song_name(track) == "Trio - Late Set"
        assert tracks.get_track(cat, folder / "good.flac").status == "ok"
    probe = realworld.ffprobe_tags(wma)
    assert (probe["title"], probe["artist"]) == ("Late Set", "Trio")


def test_asf_attributes_of_every_type(catalog, tmp_path):
    wma = realworld.wma(tmp_path / "every type.wma", seconds=3.0)
    png = realworld.cover_png(tmp_path / "cover.png")
    audio = ASF(wma)
    audio["WM/AlbumTitle"] = [ASFUnicodeAttribute("Live at Night")]
    audio["WM/Genre"] = [ASFUnicodeAttribute("Jazz"), ASFUnicodeAttribute("Blues")]
    audio["WM/SharedUserRating"] = [ASFDWordAttribute(75)]
    audio["WM/IsCompilation"] = [ASFBoolAttribute(True)]
    audio["WM/EncodingTime"] = [ASFQWordAttribute(132537600000000000)]
    audio["Earmark/Word"] = [ASFWordAttribute(7)]
    audio["WM/MediaClassPrimaryID"] = [ASFGUIDAttribute(MUSIC_CLASS.bytes_le)]
    audio["WM/MCDI"] = [ASFByteArrayAttribute(bytes(range(200)))]
    # WM/Picture: picture type, data size, MIME type and description (UTF-16), then the image.
    picture = (b"\x03" + struct.pack("<I", len(png)) + "image/png\0".encode("utf-16-le")
               + "\0".encode("utf-16-le") + png)
    audio["WM/Picture"] = [ASFByteArrayAttribute(picture)]
    audio.save()

    tags = read_tags(wma)
    assert_json_safe(tags)
    assert (tags.title, tags.artist, tags.album) == ("Late Set", "Trio", "Live at Night")
    assert tags.genres == ["Jazz", "Blues"]
    assert (stars_from_fraction(tags.rating), tags.rating_scale) == (4, "Windows Media")
    assert tags.raw["WM/IsCompilation"] == ["true"]
    assert tags.raw["WM/EncodingTime"] == ["132537600000000000"]
    assert tags.raw["Earmark/Word"] == ["7"]
    assert tags.raw["WM/MediaClassPrimaryID"] == [str(MUSIC_CLASS)]
    assert tags.skipped["WM/MCDI"] == "binary data (200 bytes)"
    assert tags.skipped["WM/Picture"].startswith("picture") and tags.has_cover
    assert tags.sources == ["ASF"]
    probe = realworld.ffprobe_tags(wma)
    assert (probe["album"], probe["genre"]) == ("Live at Night", "Jazz")
    assert probe["wm/sharedUserRating".lower()] == "75"

    report = scan(catalog, [wma])
    assert report.count("added") == 1
    row = tracks.get_track(catalog, wma)
    assert row.status == "ok" and row.genre == "Jazz; Blues"
    assert row.tags["raw"]["WM/MediaClassPrimaryID"] == [str(MUSIC_CLASS)]


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (25, 2), (50, 3), (75, 4), (99, 5)])
def test_windows_media_rating_scale(tmp_path, value, expected):
    wma = realworld.wma(tmp_path / "rated.wma", seconds=1.0)
    audio = ASF(wma)
    audio["WM/SharedUserRating"] = [ASFDWordAttribute(value)]
    audio.save()
    assert stars(wma) == expected


def test_tag_on_a_folder_with_a_wma_scans_it_first_without_crashing(tmp_path, music_files):
    folder = tmp_path / "to tag"
    wma = wma_beside_flac(folder, music_files)
    db = tmp_path / "cli.sqlite"
    # Genres learned from the library (stored only, none yet): no listening, only the scan
    # and the planning run; every file then fails for want of predictions.
    result = runner.invoke(app, ["tag", str(folder), "--model", "learned", "--dry-run",
                                 "--json", "--db", str(db)])
    assert isinstance(result.exception, SystemExit | None), result.output
    assert result.exit_code == 1, result.output
    planned = [json.loads(line) for line in result.stdout.splitlines()]
    assert {p["path"] for p in planned} == {str(wma), str(folder / "good.flac")}
    with Catalog(db) as cat:
        assert tracks.get_track(cat, wma).title == "Late Set"


# --- MP4, ID3, Vorbis: values that are not plain strings --------------------------------------


def test_mp4_freeform_binary_and_numeric_atoms(tmp_path, music_copy):
    m4a = music_copy("m4a")
    png = realworld.cover_png(tmp_path / "cover.png")
    audio = MP4(m4a)
    audio["\xa9nam"] = ["Night Drive"]
    audio["\xa9gen"] = ["Synthpop", "Dance"]
    audio["covr"] = [MP4Cover(png, imageformat=MP4Cover.FORMAT_PNG)]
    audio["trkn"] = [(3, 12)]
    audio["tmpo"] = [120]
    audio["cpil"] = True
    audio["----:com.apple.iTunes:MusicBrainz Track Id"] = [
        MP4FreeForm(b"5b1d5b55-9d8c-4b8e-8a38-8a3c2a0e6f11")]
    audio["----:com.apple.iTunes:RATING"] = [MP4FreeForm(b"80")]
    audio["----:com.apple.iTunes:Plays"] = [
        MP4FreeForm((7).to_bytes(4, "big"), dataformat=AtomDataType.INTEGER)]
    audio["----:com.apple.iTunes:Blob"] = [
        MP4FreeForm(bytes(range(256)), dataformat=AtomDataType.IMPLICIT)]
    audio.save()

    tags = read_tags(m4a)
    assert_json_safe(tags)
    assert tags.title == "Night Drive" and tags.genres == ["Synthpop", "Dance"]
    assert tags.raw["trkn"] == ["3/12"] and tags.raw["tmpo"] == ["120"]
    assert tags.raw["cpil"] == ["true"]
    assert tags.raw["----:com.apple.iTunes:MusicBrainz Track Id"] == [
        "5b1d5b55-9d8c-4b8e-8a38-8a3c2a0e6f11"]
    assert tags.raw["----:com.apple.iTunes:Plays"] == ["7"]
    assert tags.skipped["----:com.apple.iTunes:Blob"] == "binary data (256 bytes)"
    assert tags.skipped["covr"] == f"picture ({len(png)} bytes)" and tags.has_cover
    assert (stars_from_fraction(tags.rating), tags.rating_scale) == (4, "percent")
    probe = realworld.ffprobe_tags(m4a)
    assert probe["title"] == "Night Drive" and probe["genre"].startswith("Synthpop")


def test_id3_frames_holding_bytes_pictures_numbers_and_people(tmp_path, music_copy):
    mp3 = music_copy("mp3")
    png = realworld.cover_png(tmp_path / "cover.png")
    id3 = ID3()
    id3.add(TIT2(encoding=3, text=["Frames"]))
    id3.add(TPE1(encoding=3, text=["Band"]))
    id3.add(TCON(encoding=3, text=["(17)", "Shoegaze"]))  # an ID3v1 reference and a name
    id3.add(APIC(encoding=3, mime="image/png", type=3, desc="front", data=png))
    priv = PRIV(owner="WM/MediaClassPrimaryID", data=MUSIC_CLASS.bytes_le)
    id3.add(priv)
    id3.add(UFID(owner="http://musicbrainz.org", data=b"5b1d5b55-9d8c-4b8e"))
    id3.add(GEOB(encoding=3, mime="application/octet-stream", filename="x.bin", desc="blob",
                 data=bytes(range(64))))
    id3.add(MCDI(data=bytes(range(100))))
    id3.add(USLT(encoding=3, lang="eng", desc="", text="first line\nsecond line"))
    id3.add(TIPL(encoding=3, people=[["producer", "Ann"]]))
    id3.add(WXXX(encoding=3, desc="shop", url="https://example.org/buy"))
    id3.add(PCNT(count=42))
    id3.add(RVA2(desc="track", channel=1, gain=-2.5, peak=0.9))
    id3.add(POPM(email="Windows Media Player 9 Series", rating=196, count=3))
    id3.save(mp3)

    tags = read_tags(mp3)
    assert_json_safe(tags)
    assert (tags.title, tags.artist) == ("Frames", "Band")
    assert tags.genres == ["Rock", "Shoegaze"]
    assert tags.raw["UFID:http://musicbrainz.org"] == ["5b1d5b55-9d8c-4b8e"]
    assert tags.raw["USLT::eng"] == ["first line\nsecond line"]
    assert tags.raw["TIPL"] == ["producer: Ann"]
    assert tags.raw["WXXX:shop"] == ["https://example.org/buy"]
    assert tags.raw["PCNT"] == ["42"]
    assert tags.skipped["APIC:front"] == f"picture ({len(png)} bytes)" and tags.has_cover
    assert tags.skipped[priv.HashKey] == "binary data (16 bytes)"
    assert tags.skipped["GEOB:blob"] == "binary data (64 bytes)"
    assert tags.skipped["MCDI"] == "binary data (100 bytes)"
    assert tags.skipped["RVA2:track"] == "RVA2 frame holds no text"
    assert (stars_from_fraction(tags.rating), tags.rating_scale) == (4, "POPM")
    probe = realworld.ffprobe_tags(mp3)
    assert (probe["title"], probe["artist"]) == ("Frames", "Band")


def test_vorbis_and_flac_pictures_are_left_out_as_pictures(tmp_path, music_copy):
    png = realworld.cover_png(tmp_path / "cover.png")
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", png
    flac = music_copy("flac")
    audio = FLAC(flac)
    audio.add_picture(picture)
    audio["TITLE"] = "With Cover"
    audio.save()
    ogg = music_copy("ogg")
    audio = OggVorbis(ogg)
    audio["METADATA_BLOCK_PICTURE"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio["TITLE"] = "Ogg With Cover"
    audio.save()

    flac_tags, ogg_tags = read_tags(flac), read_tags(ogg)
    assert flac_tags.has_cover and flac_tags.title == "With Cover"
    assert ogg_tags.has_cover and ogg_tags.title == "Ogg With Cover"
    assert ogg_tags.skipped["metadata_block_picture"].startswith("picture")
    assert "metadata_block_picture" not in ogg_tags.raw
    assert_json_safe(flac_tags)
    assert_json_safe(ogg_tags)


@pytest.mark.parametrize(("value", "text"), [
    ("plain", "plain"), ("padded\x00\x00", "padded"), (7, "7"), (2.5, "2.5"),
    (True, "true"), (False, "false"), ((3, 12), "3/12"), (b"utf-8 text", "utf-8 text"),
    ("lone \udce9 surrogate", "lone \ufffd surrogate"),
    (ASFUnicodeAttribute("Late Set"), "Late Set"), (ASFQWordAttribute(2**40), str(2**40)),
    (ASFGUIDAttribute(MUSIC_CLASS.bytes_le), str(MUSIC_CLASS)),
])
def test_tag_text_turns_every_value_type_into_text(value, text):
    assert tag_text(value) == text


@pytest.mark.parametrize(("value", "reason"), [
    (bytes(range(32)), "binary data (32 bytes)"),
    (ASFByteArrayAttribute(b"\x00\x01\x02"), "binary data (3 bytes)"),
    (MP4Cover(b"\x89PNG\r\n\x1a\n" + bytes(10)), "picture (18 bytes)"),
])
def test_tag_text_refuses_binary_data_with_a_reason(value, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        tag_text(value)


def test_record_track_stores_values_json_cannot_hold(catalog, tmp_path):
    """Defence in depth: a caller handing tag library objects or bytes to the catalog loses
    nothing but their type."""
    path = tmp_path / "song.wma"
    track_id = tracks.record_track(catalog, {
        "path": path, "status": "ok", "title": ASFUnicodeAttribute("Late Set"),
        "artist": "bad \udce9 text",
        "tags": {"raw": {"Title": [ASFUnicodeAttribute("Late Set")]}, "blob": b"\x00\x01",
                 "number": 3},
    })
    row = tracks.get_track_by_id(catalog, track_id)
    assert row.title == "Late Set" and row.artist == "bad \ufffd text"
    assert row.tags == {"raw": {"Title": ["Late Set"]}, "blob": "[binary data (2 bytes)]",
                           "number": 3}


# --- WAV with RIFF INFO (issue 10, case 7) ----------------------------------------------------


INFO = {"title": "Prairie Song", "artist": "The Ranch Hands", "album": "Open Range",
        "genre": "Country", "comment": "recorded live"}


def test_wav_riff_info_tags_are_read(catalog, tmp_path):
    wav = realworld.encode(tmp_path / "info.wav", ["-c:a", "pcm_s16le"], genre="country",
                           number=3, seconds=3.0, extra=realworld.metadata_args(INFO))
    assert riff_info(wav) == {"IART": "The Ranch Hands", "ICMT": "recorded live",
                              "IGNR": "Country", "INAM": "Prairie Song",
                              "IPRD": "Open Range", "ISFT": riff_info(wav)["ISFT"]}
    scan(catalog, [wav])
    track = tracks.get_track(catalog, wav)
    assert track.status == "ok"
    assert (track.title, track.artist, track.album, track.genre) == (
        "Prairie Song", "The Ranch Hands", "Open Range", "Country")
    assert track.tags["raw"]["INFO:ICMT"] == ["recorded live"]
    assert tracks.song_name(track) == "The Ranch Hands - Prairie Song"
    assert existing_genres(wav) == ["Country"]
    probe = realworld.ffprobe_tags(wav)
    assert (probe["title"], probe["artist"], probe["genre"]) == (
        "Prairie Song", "The Ranch Hands", "Country")


def test_wav_with_info_and_id3_reads_both_id3_first(tmp_path):
    """ID3 (what taggers, earmark included, write) wins for one-value fields; INFO fills what
    ID3 lacks; genres of both count."""
    wav = realworld.encode(tmp_path / "both.wav", ["-c:a", "pcm_s16le"], seconds=2.0,
                           extra=realworld.metadata_args(INFO))
    from mutagen.wave import WAVE

    audio = WAVE(wav)
    audio.add_tags()
    audio.tags.add(TIT2(encoding=3, text=["Prairie Song (Remaster)"]))
    audio.tags.add(TCON(encoding=3, text=["Folk", "country"]))
    audio.save()
    tags = read_tags(wav)
    assert tags.title == "Prairie Song (Remaster)"
    assert (tags.artist, tags.album) == ("The Ranch Hands", "Open Range")  # from INFO
    assert tags.genres == ["Folk", "country"]  # INFO's "Country" is the same genre
    assert tags.sources == ["ID3v2.4", "RIFF INFO"]
    assert tags.raw["INFO:IGNR"] == ["Country"] and tags.raw["TCON"] == ["Folk", "country"]
    assert existing_genres(wav) == ["Folk", "country"]


# --- genres in tag blocks beside the main one (issue 10, case 8) -----------------------------


def test_apev2_genre_on_an_mp3_with_id3(tmp_path):
    mp3 = realworld.mp3_with_apev2_genre(tmp_path / "ape genre.mp3", genre="Trip-Hop",
                                         seconds=3.0)
    tags = read_tags(mp3)
    assert tags.title == "Late Set"  # from ID3
    assert tags.genres == ["Trip-Hop"] and existing_genres(mp3) == ["Trip-Hop"]
    assert tags.raw["APEv2:Genre"] == ["Trip-Hop"]
    assert "APEv2" in tags.sources
    # FFmpeg's MP3 reader ignores APEv2, so ffprobe cannot check this one: the tag is there.
    assert list(APEv2(mp3)["Genre"]) == ["Trip-Hop"] and "genre" not in realworld.ffprobe_tags(mp3)


def test_apev2_only_mp3_and_same_genre_in_both_blocks(tmp_path, music_files):
    bare = tmp_path / "ape only.mp3"
    realworld.encode(bare, ["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "0",
                            "-write_id3v1", "0"], seconds=2.0)
    realworld.add_apev2(bare, {"Title": "Ape Title", "Artist": "Ape Artist",
                               "Genre": ["Ambient", "Dub"], "Rating": "3"})
    tags = read_tags(bare)
    assert (tags.title, tags.artist, tags.genres) == ("Ape Title", "Ape Artist",
                                                      ["Ambient", "Dub"])
    assert (stars_from_fraction(tags.rating), tags.rating_scale) == (3, "stars")

    both = shutil.copyfile(music_files["mp3"], tmp_path / "both.mp3")
    id3 = ID3()
    id3.add(TCON(encoding=3, text=["Rock"]))
    id3.save(both)
    realworld.add_apev2(both, {"Genre": ["rock", "Grunge"]})
    assert existing_genres(both) == ["Rock", "Grunge"]


def test_genre_in_a_second_leading_id3v2_tag(catalog, tmp_path):
    mp3 = realworld.mp3_with_second_id3v2(tmp_path / "two tags.mp3", genre="Blues",
                                          seconds=3.0)
    assert ID3(mp3).get("TCON") is None  # mutagen alone sees only the first tag
    tags = read_tags(mp3)
    assert tags.title == "Late Set" and tags.genres == ["Blues"]
    assert tags.raw["ID3v2#2:TCON"] == ["Blues"]
    assert existing_genres(mp3) == ["Blues"]
    assert realworld.ffprobe_tags(mp3)["genre"] == "Blues"
    scan(catalog, [mp3])
    track = tracks.get_track(catalog, mp3)
    assert track.status == "ok" and track.genre == "Blues"
    assert track.duration == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("kind", ["wv", "tta", "mpc"])
def test_apev2_containers_are_read(catalog, tmp_path, kind):
    builders = {"wv": realworld.wavpack, "tta": realworld.true_audio, "mpc": realworld.musepack}
    path = builders[kind](tmp_path / f"song.{kind}", seconds=3.0)
    png = realworld.cover_png(tmp_path / "cover.png")
    realworld.add_apev2(path, {"Title": "Lossless Night", "Artist": "Quartet",
                               "Album": "Hi-Fi", "Genre": ["Jazz", "Fusion"], "Rating": "80",
                               "Cover Art (Front)": b"cover.png\x00" + png})
    tags = read_tags(path)
    assert_json_safe(tags)
    assert (tags.title, tags.artist, tags.album) == ("Lossless Night", "Quartet", "Hi-Fi")
    assert tags.genres == ["Jazz", "Fusion"]
    assert (stars_from_fraction(tags.rating), tags.rating_scale) == (4, "percent")
    # mutagen takes TTA's tag to be ID3, so its APEv2 tag is read as a block beside that one.
    key = ("APEv2:" if kind == "tta" else "") + "Cover Art (Front)"
    assert tags.has_cover and tags.skipped[key] == f"picture: binary data ({len(png) + 10} bytes)"
    probe = realworld.ffprobe_tags(path)
    assert (probe["title"], probe["artist"]) == ("Lossless Night", "Quartet")
    scan(catalog, [path])  # PyAV decodes all three: analysis works on them
    track = tracks.get_track(catalog, path)
    assert track.status == "ok", track.error
    assert track.duration == pytest.approx(3.0, abs=0.1)
    assert track.genre == "Jazz; Fusion"


# --- rating scales (issue 10, case 3) ---------------------------------------------------------


@pytest.mark.parametrize(("text", "scale", "expected_stars"), [
    ("1", None, 1), ("2", None, 2), ("3", None, 3), ("4", None, 4), ("5", None, 5),
    ("3.5", None, 4),
    ("20", None, 1), ("40", None, 2), ("60", None, 3), ("80", None, 4), ("100", None, 5),
    ("0.2", None, 1), ("0.6", None, 3), ("1.0", None, 5), ("0.5", None, 3),
    ("0", None, None), ("0.0", None, None),
    ("0.8", "fraction", 4), ("1", "fraction", 5),
    ("1", "POPM", 1), ("64", "POPM", 2), ("128", "POPM", 3), ("196", "POPM", 4),
    ("255", "POPM", 5),
    ("1", "Windows Media", 1), ("25", "Windows Media", 2), ("50", "Windows Media", 3),
    ("75", "Windows Media", 4), ("99", "Windows Media", 5),
])
def test_rating_scales_give_the_right_stars(text, scale, expected_stars):
    fraction, _ = rating_fraction(text, scale)
    assert stars_from_fraction(fraction) == expected_stars


@pytest.mark.parametrize("text", ["101", "-1", "nan", "inf", "five", "", "1.5e9"])
def test_values_in_no_known_scale_are_not_ratings(text):
    assert rating_fraction(text) is None


def test_rating_scale_names(tmp_path, music_copy):
    assert rating_fraction("1")[1] == "stars" and rating_fraction("1.0")[1] == "fraction"
    assert rating_fraction("60")[1] == "percent"
    flac = music_copy("flac")
    audio = FLAC(flac)
    audio["RATING"] = "1"  # foobar2000's one star, once read as 5 stars
    audio.save()
    tags = read_tags(flac)
    assert (stars_from_fraction(tags.rating), tags.rating_scale) == (1, "stars")
    ogg = music_copy("ogg")
    audio = OggVorbis(ogg)
    audio["FMPS_RATING"] = "1"  # FMPS is always a fraction: 1 is the top
    audio["RATING"] = "1"
    audio.save()
    assert (stars(ogg), read_tags(ogg).rating_scale) == (5, "fraction")
    mp3 = music_copy("mp3")
    id3 = ID3()
    id3.add(TXXX(encoding=3, desc="FMPS_Rating", text=["0.4"]))
    id3.add(POPM(email="x@example.org", rating=255))
    id3.save(mp3)
    assert stars(mp3) == 2  # FMPS is explicit about its scale, so it comes first


# --- files that are not regular files (red-team A1) -------------------------------------------


@pytest.fixture
def named_pipe(tmp_path):
    """A named pipe called ``pipe.mp3``, held open at both ends without blocking: should
    anything open it after all, it reads an empty file instead of hanging the test run."""
    pipe = tmp_path / "pipe.mp3"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    yield pipe
    os.close(writer)
    os.close(reader)


def test_read_tags_refuses_a_named_pipe_or_a_folder_without_opening_it(named_pipe, tmp_path):
    for path in (named_pipe, tmp_path):
        with pytest.raises(NotAudioError, match="^not a regular file$"):
            read_tags(path)
        with pytest.raises(NotAudioError, match="^not a regular file$"):
            existing_genres(path)
    # A missing file is not refused: it has no tags, and says why.
    assert "tags" in read_tags(tmp_path / "gone.mp3").skipped


def test_ratings_import_of_a_scanned_folder_with_a_named_pipe_finishes(tmp_path, music_files):
    """The pipe fails the first scan; the import scans again (the pipe is "unchanged") and must
    report it rather than open it, which blocked forever."""
    folder = tmp_path / "f"
    folder.mkdir()
    shutil.copyfile(music_files["flac"], folder / "a.flac")
    os.mkfifo(folder / "pipe.mp3")
    db = tmp_path / "f.sqlite"
    earmark = [sys.executable, "-m", "earmark"]
    first = subprocess.run([*earmark, "scan", str(folder), "--db", str(db), "--json"],
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 1
    rows = {json.loads(line)["path"]: json.loads(line) for line in first.stdout.splitlines()}
    assert rows[str(folder / "pipe.mp3")]["reason"] == "not a regular file"
    imported = subprocess.run([*earmark, "ratings", "import", str(folder), "--db", str(db),
                               "--json"], capture_output=True, text=True, timeout=120)
    assert imported.returncode == 1, imported.stderr
    rows = {json.loads(line)["path"]: json.loads(line) for line in imported.stdout.splitlines()}
    assert (rows[str(folder / "pipe.mp3")]["action"],
            rows[str(folder / "pipe.mp3")]["reason"]) == ("failed", "not a regular file")
    assert rows[str(folder / "a.flac")]["action"] == "unrated"
