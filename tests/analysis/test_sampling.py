"""Sampled analysis of long songs (issue 16): the spans decoded by seeking are the whole
decode's samples, the sampled patches are ``--full``'s patches at the same places, short clips
and files of unknown length are analysed whole, and each stored embedding says how it was made.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from earmark.analysis.embed import embed_tracks, load_taggers
from earmark.analysis.sampling import (
    DEFAULT_SAMPLING,
    FULL,
    WHOLE_SECONDS,
    Sampling,
    plan_windows,
)
from earmark.analysis.songs import analyse_song
from earmark.audio import decode_audio, probe_audio
from earmark.audio.spans import decode_spans
from earmark.catalog import Catalog
from earmark.catalog.embeddings import track_embeddings
from earmark.catalog.tracks import get_track
from earmark.cli import app
from earmark.ingest.scan import scan
from music import asc_songs, gtzan_clip, require_ffmpeg
from realworld import ffmpeg, vbr_mp3_without_xing

PATCH_SECONDS = 187 * 256 / 16000
# Spans in samples at 16 kHz: before the start (zeros, as a centred STFT pads), inside at odd
# offsets, and running past the end (cut short there).
SPANS = [(-256, 48_000), (100_001, 47_872), (16_000 * 12 + 5, 95_000), (16_000 * 38, 40_000)]


@pytest.fixture(scope="module")
def encodings(tmp_path_factory) -> dict[str, object]:
    """40 s of a real song (asc-music, 44.1 kHz stereo) in the formats whose decoders give the
    same samples after a seek, and in AAC, whose noise filling does not."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("spans")
    song = asc_songs()[0]
    codecs = {"mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
              "vbr.mp3": ["-c:a", "libmp3lame", "-q:a", "2"],
              "flac": ["-c:a", "flac"], "ogg": ["-c:a", "libvorbis", "-q:a", "4"],
              "wav": ["-c:a", "pcm_s16le"], "m4a": ["-c:a", "aac", "-b:a", "128k"]}
    files = {}
    for name, codec in codecs.items():
        files[name] = folder / f"song.{name}"
        ffmpeg("-ss", "30", "-t", "40", "-i", song, *codec, files[name])
    return files


def _sliced(whole: np.ndarray, start: int, length: int) -> np.ndarray:
    """``whole``'s samples ``[start, start + length)``, zeros before it, cut at its end."""
    part = whole[max(0, start): start + length]
    return np.concatenate([np.zeros(max(0, -start), np.float32), part])


@pytest.mark.parametrize("fmt", ["mp3", "vbr.mp3", "flac", "ogg", "wav"])
def test_spans_decoded_by_seeking_are_the_whole_decodes_samples(encodings, fmt):
    whole = decode_audio(encodings[fmt], 16000)
    spans = decode_spans(str(encodings[fmt]), SPANS, 16000)
    for (start, length), span in zip(SPANS, spans, strict=True):
        assert span.dtype == np.float32
        np.testing.assert_allclose(span, _sliced(whole, start, length), rtol=0, atol=1e-5)
    assert [len(span) for span in spans[:-1]] == [length for _, length in SPANS[:-1]]
    assert not spans[0][:256].any(), "before the start is silence"
    assert len(spans[-1]) == len(whole) - SPANS[-1][0], "a span ends where the audio does"
    assert len(decode_spans(str(encodings[fmt]), [(len(whole) + 10, 500)], 16000)[0]) == 0


def test_aac_spans_differ_only_in_noise_filled_bands(encodings):
    # FFmpeg's AAC decoder draws noise-filled bands from a generator running through the
    # stream: after a seek the same sound, other noise. Nearly every sample is still the same.
    whole = decode_audio(encodings["m4a"], 16000)
    for (start, length), span in zip(SPANS, decode_spans(str(encodings["m4a"]), SPANS, 16000),
                                     strict=True):
        diff = np.abs(span - _sliced(whole, start, length))
        assert np.mean(diff < 1e-5) > 0.95 and diff.max() < 0.05


def test_spans_keep_their_order_and_mix_down_like_a_decode(encodings):
    from earmark.audio import Downmix

    mixer = Downmix()
    backwards = list(reversed(SPANS))
    spans = decode_spans(str(encodings["flac"]), backwards, 16000, downmix=mixer)
    whole = decode_audio(encodings["flac"], 16000)
    for (start, length), span in zip(backwards, spans, strict=True):
        np.testing.assert_allclose(span, _sliced(whole, start, length), rtol=0, atol=1e-5)
    assert mixer.blocks > 0 and not mixer.silent and mixer.note is None


def test_a_missing_file_is_an_audio_error(tmp_path):
    from earmark.errors import AudioError

    with pytest.raises(AudioError, match="not found"):
        decode_spans(str(tmp_path / "gone.mp3"), [(0, 100)], 16000)


def test_sampling_spreads_windows_over_the_song_apart_and_inside_it():
    for n_patches in (32, 80, 81, 200, 2400):
        windows = DEFAULT_SAMPLING.windows_of(n_patches)
        assert len(windows) == DEFAULT_SAMPLING.windows
        assert all(count == DEFAULT_SAMPLING.patches for _, count in windows)
        firsts = [first for first, _ in windows]
        assert firsts[0] >= 0 and firsts[-1] + DEFAULT_SAMPLING.patches <= n_patches
        assert all(np.diff(firsts) >= DEFAULT_SAMPLING.patches)
        # Spread: each window sits in its own equal part of the song.
        for i, first in enumerate(firsts):
            middle = first + DEFAULT_SAMPLING.patches / 2
            assert i * n_patches / len(firsts) <= middle <= (i + 1) * n_patches / len(firsts)


def test_sampling_covering_half_the_song_or_more_analyses_it_all():
    sampling = Sampling(4, 2)
    assert sampling.windows_of(15) is None and sampling.windows_of(16) is not None


def test_short_clips_and_full_analysis_take_every_patch():
    assert plan_windows(WHOLE_SECONDS, PATCH_SECONDS, DEFAULT_SAMPLING) is None
    assert plan_windows(240.0, PATCH_SECONDS, None) is None
    assert plan_windows(240.0, PATCH_SECONDS, DEFAULT_SAMPLING) is not None
    # The last patch that may hold the song's end is never sampled.
    windows = plan_windows(30 * PATCH_SECONDS, PATCH_SECONDS, Sampling(7, 2))
    assert windows[-1][0] + 2 <= 29


def test_sampling_spec_round_trips_and_rejects_other_text():
    assert Sampling.from_spec("sampled:8x2") == Sampling(8, 2)
    assert Sampling(12, 1).spec == "sampled:12x1"
    for bad in ("full", "sampled:8", "sampled:0x2", "8x2"):
        with pytest.raises(ValueError):
            Sampling.from_spec(bad)


@pytest.fixture(scope="module")
def msd() -> object:
    torch.set_num_threads(2)
    return load_taggers(["MSD_musicnn"], precision="float32")[0]


@pytest.fixture(scope="module")
def long_mp3(tmp_path_factory):
    """75 s of a real song as a CBR MP3: 24 patches."""
    path = tmp_path_factory.mktemp("long") / "long.mp3"
    ffmpeg("-ss", "20", "-t", "75", "-i", asc_songs()[1], "-c:a", "libmp3lame", "-b:a", "160k",
           path)
    return path


@pytest.mark.slow
def test_sampled_patches_are_the_full_analysis_patches_at_the_same_places(long_mp3, msd):
    sampling = Sampling(4, 2)
    full = analyse_song(long_mp3, msd)
    sampled = analyse_song(long_mp3, msd, sampling=sampling)
    windows = plan_windows(probe_audio(long_mp3).declared_duration, PATCH_SECONDS, sampling)
    rows = np.concatenate([np.arange(first, first + count) for first, count in windows])
    assert sampled.info.sampling == "sampled:4x2" and full.info.sampling == FULL
    assert sampled.info.n_patches == len(rows) == 8
    assert sampled.info.duration == pytest.approx(full.info.duration, abs=0.05)
    np.testing.assert_allclose(sampled.embeddings, full.embeddings[rows], atol=1e-4)
    np.testing.assert_allclose(sampled.taggram, full.taggram[rows], atol=1e-5)


@pytest.mark.slow
def test_a_clip_of_thirty_seconds_is_analysed_whole_by_default(msd):
    clip = gtzan_clip("jazz", 0)
    default = analyse_song(clip, msd, sampling=DEFAULT_SAMPLING)
    assert default.info.sampling == FULL and default.info.n_patches == 10
    np.testing.assert_array_equal(default.embeddings, analyse_song(clip, msd).embeddings)


@pytest.mark.slow
def test_an_estimated_length_places_the_windows_unless_it_proves_too_long(tmp_path, msd):
    # No Xing header: FFmpeg estimates the length from the bit rate. Exact at a constant bit
    # rate (as on the asc-music songs), so the song is sampled.
    steady = tmp_path / "cbr.mp3"
    ffmpeg("-t", "100", "-i", asc_songs()[0], "-c:a", "libmp3lame", "-b:a", "128k",
           "-write_xing", "0", steady)
    assert probe_audio(steady).declared_duration is None
    assert analyse_song(steady, msd, sampling=Sampling(4, 2)).info.sampling == "sampled:4x2"
    # VBR after 30 s of digital silence (tiny frames): the estimate is nine times too long, a
    # window comes back short, and every patch is analysed instead (streamed, as --full).
    guess = vbr_mp3_without_xing(tmp_path / "guess.mp3", asc_songs()[0], seconds=100,
                                 silence_before=30)
    assert probe_audio(guess).duration > 1000
    result = analyse_song(guess, msd, sampling=Sampling(4, 2))
    assert result.info.sampling == FULL and result.info.n_patches == 43
    assert result.info.duration == pytest.approx(130, abs=0.2)


@pytest.mark.slow
def test_embed_stores_how_each_embedding_was_made_and_full_redoes_sampled_ones(tmp_path):
    song = asc_songs()[2]  # a whole song, over two minutes: sampled by default
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [song])
        track = get_track(catalog, str(song))
        report = embed_tracks(catalog, "MSD_musicnn", precision="float32")
        assert report.done == [track.id]
        (stored,) = track_embeddings(catalog, track.id)
        assert (stored["analysis"], stored["precision"]) == (DEFAULT_SAMPLING.spec, "float32")
        # A sampled embedding is up to date for the default, not for --full.
        assert embed_tracks(catalog, "MSD_musicnn").up_to_date == 1
    runner = CliRunner()
    shown = runner.invoke(app, ["info", str(song), "--db", str(db)], env={"COLUMNS": "200"})
    assert f"MSD_musicnn, 400 values, {DEFAULT_SAMPLING.spec}, float32" in " ".join(
        shown.stdout.split())
    done = runner.invoke(app, ["embed", "--db", str(db), "--model", "msd", "--full", "--json",
                               "--precision", "float32"])
    assert done.exit_code == 0, done.output
    assert [json.loads(line)["path"] for line in done.stdout.splitlines()] == [str(song)]
    with Catalog(db) as catalog:
        (stored,) = track_embeddings(catalog, track.id)
        assert stored["analysis"] == FULL
        # A full embedding is up to date for both.
        assert embed_tracks(catalog, "MSD_musicnn").up_to_date == 1
        assert embed_tracks(catalog, "MSD_musicnn", sampling=None).up_to_date == 1


@pytest.mark.slow
def test_genre_full_makes_a_catalog_songs_sampled_answer_again_from_every_patch(tmp_path):
    song = min(asc_songs(), key=lambda p: p.stat().st_size)
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [song])
        embed_tracks(catalog)  # both taggers, sampled
        track = get_track(catalog, str(song))
        assert {e["analysis"] for e in track_embeddings(catalog, track.id)} == {
            DEFAULT_SAMPLING.spec}
    runner = CliRunner()
    plain = runner.invoke(app, ["genre", str(song), "--db", str(db), "--json"])
    assert plain.exit_code == 0 and json.loads(plain.stdout)["from_catalog"]
    with Catalog(db) as catalog:  # the stored answer was enough: nothing analysed again
        assert {e["analysis"] for e in track_embeddings(catalog, track.id)} == {
            DEFAULT_SAMPLING.spec}
    full = runner.invoke(app, ["genre", str(song), "--db", str(db), "--json", "--full"])
    assert full.exit_code == 0, full.output
    answer = json.loads(full.stdout)
    assert answer["from_catalog"] and answer["genres"]
    with Catalog(db) as catalog:
        assert [e["analysis"] for e in track_embeddings(catalog, track.id)] == [FULL, FULL]
