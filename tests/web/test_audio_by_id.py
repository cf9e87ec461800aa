"""Audio by catalog id (issue 14, song page): formats a browser plays are served as they are,
the others as a FLAC copy made once with PyAV; both answer Range requests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from earmark.catalog import Catalog
from earmark.catalog.tracks import get_track
from earmark.ingest.scan import add_file
from music import require_ffmpeg

#: Media type each directly playable format of ``web_songs`` is served under.
DIRECT = {".flac": "audio/flac", ".mp3": "audio/mpeg", ".ogg": "audio/ogg",
          ".m4a": "audio/mp4", ".wav": "audio/wav"}


def _song_id(catalog_path, path) -> int:
    with Catalog(catalog_path) as catalog:
        return get_track(catalog, path).id


def _ffprobe(data: bytes, tmp_path) -> dict:
    sample = tmp_path / "served.bin"
    sample.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "format=format_name,duration:stream=codec_name,sample_rate,channels", "-of", "json",
         str(sample)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_browser_formats_are_served_as_they_are(client, catalog_path, web_songs):
    for path in web_songs:
        if path.suffix not in DIRECT:
            continue
        reply = client.get(f"/api/songs/{_song_id(catalog_path, path)}/audio")
        assert reply.status_code == 200, path
        assert reply.headers["content-type"] == DIRECT[path.suffix]
        assert reply.headers["accept-ranges"] == "bytes"
        assert reply.content == path.read_bytes()


def test_a_range_request_gets_206_and_exactly_those_bytes(client, catalog_path, web_songs):
    path = web_songs[1]  # mp3
    data = path.read_bytes()
    url = f"/api/songs/{_song_id(catalog_path, path)}/audio"
    reply = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert reply.status_code == 206
    assert reply.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert reply.content == data[1000:2000]
    tail = client.get(url, headers={"Range": "bytes=-500"})
    assert (tail.status_code, tail.content) == (206, data[-500:])
    beyond = client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416


def test_aiff_is_transcoded_to_flac_once_and_seekable(client, catalog_path, web_songs, tmp_path):
    path = next(p for p in web_songs if p.suffix == ".aiff")
    song_id = _song_id(catalog_path, path)
    reply = client.get(f"/api/songs/{song_id}/audio")
    assert (reply.status_code, reply.headers["content-type"]) == (200, "audio/flac")
    info = _ffprobe(reply.content, tmp_path)
    stream = info["streams"][0]
    assert (info["format"]["format_name"], stream["codec_name"]) == ("flac", "flac")
    assert (stream["sample_rate"], stream["channels"]) == ("44100", 2)
    assert float(info["format"]["duration"]) == pytest.approx(5.0, abs=0.05)
    with Catalog(catalog_path) as catalog:
        key = get_track(catalog, path).content_hash
    cached = tmp_path / "audio-cache" / f"{key}.flac"
    assert cached.read_bytes() == reply.content
    made = cached.stat().st_mtime_ns
    part = client.get(f"/api/songs/{song_id}/audio", headers={"Range": "bytes=100-4195"})
    assert (part.status_code, part.content) == (206, reply.content[100:4196])
    assert cached.stat().st_mtime_ns == made  # served from the cache, not made again
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # no partial copies


@pytest.mark.parametrize("suffix, codec", [(".wma", "wmav2"), (".wv", "wavpack"),
                                           (".mka", "libopus")])
def test_formats_browsers_do_not_play_are_transcoded(suffix, codec, client, catalog_path,
                                                     web_songs, tmp_path):
    song = tmp_path / f"song{suffix}"
    subprocess.run([require_ffmpeg(), "-nostdin", "-v", "error", "-i", str(web_songs[0]),
                    "-c:a", codec, str(song)], check=True)
    with Catalog(catalog_path) as catalog:
        song_id = add_file(catalog, song).id
    reply = client.get(f"/api/songs/{song_id}/audio")
    assert (reply.status_code, reply.headers["content-type"]) == (200, "audio/flac")
    info = _ffprobe(reply.content, tmp_path)
    assert float(info["format"]["duration"]) == pytest.approx(5.0, abs=0.1)


@pytest.mark.skipif(shutil.which("mpcenc") is None, reason="musepack-tools not installed")
def test_musepack_is_transcoded(client, catalog_path, web_songs, tmp_path):
    wav = next(p for p in web_songs if p.suffix == ".wav")
    song = tmp_path / "song.mpc"
    subprocess.run(["mpcenc", "--silent", str(wav), str(song)], check=True)
    with Catalog(catalog_path) as catalog:
        song_id = add_file(catalog, song).id
    reply = client.get(f"/api/songs/{song_id}/audio")
    assert (reply.status_code, reply.headers["content-type"]) == (200, "audio/flac")
    assert float(_ffprobe(reply.content, tmp_path)["format"]["duration"]) == pytest.approx(
        5.0, abs=0.1)


def test_a_file_changed_since_its_scan_is_transcoded_anew(client, catalog_path, web_songs,
                                                         tmp_path):
    song = shutil.copyfile(next(p for p in web_songs if p.suffix == ".aiff"),
                           tmp_path / "changing.aiff")
    with Catalog(catalog_path) as catalog:
        track = add_file(catalog, song)
    first = client.get(f"/api/songs/{track.id}/audio").content
    shorter = tmp_path / "shorter.aiff"
    subprocess.run([require_ffmpeg(), "-nostdin", "-v", "error", "-i", str(song), "-t", "2",
                    "-c:a", "pcm_s16be", "-f", "aiff", str(shorter)], check=True)
    os.replace(shorter, song)
    second = client.get(f"/api/songs/{track.id}/audio").content
    assert second != first
    assert float(_ffprobe(second, tmp_path)["format"]["duration"]) == pytest.approx(2.0,
                                                                                    abs=0.05)


def test_an_undecodable_file_is_422_with_the_reason(client, catalog_path, tmp_path):
    broken = tmp_path / "broken.wma"
    broken.write_bytes(b"\x30\x26\xb2\x75" + os.urandom(4000))
    with Catalog(catalog_path) as catalog:
        song_id = add_file(catalog, broken, verify=False).id
    reply = client.get(f"/api/songs/{song_id}/audio")
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith(f"song {song_id} cannot be played: ")


def test_the_live_server_streams_audio_with_ranges(live_server, catalog_path, web_songs):
    path = web_songs[0]
    url = f"{live_server.url}api/songs/{_song_id(catalog_path, path)}/audio"
    request = urllib.request.Request(url, headers={"Range": "bytes=0-99"})
    with urllib.request.urlopen(request) as reply:
        assert (reply.status, reply.read()) == (206, path.read_bytes()[:100])
