"""Patches of several songs in one network call (issue 16 items 2 and 4): songs decoded in an
engine's worker processes and batched for the network give each song the results of the
one-song path, in order, with bad files failing alone and long whole-analysed songs streamed."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from earmark.analysis.embed import analyse_files, embed_tracks, load_taggers
from earmark.analysis.sampling import DEFAULT_SAMPLING, FULL, Sampling
from earmark.analysis.songs import decode_song
from earmark.catalog import Catalog
from earmark.catalog.embeddings import load_embeddings
from earmark.engine import LocalEngine
from earmark.errors import AudioError, CorruptAudioError, NotAudioError
from earmark.ingest.scan import scan
from music import asc_songs, gtzan_clip, require_ffmpeg
from realworld import ffmpeg

MODELS = ["MSD_musicnn", "MTT_musicnn"]


@pytest.fixture(scope="module")
def taggers():
    # float32: the one-song and batched paths then agree to float rounding (bfloat16 may
    # round a patch's activations differently when its call holds other patches).
    return load_taggers(MODELS, device="cpu", precision="float32")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> list[str]:
    """Three full-length songs (sampled), a 60 s song and a 30 s clip (analysed whole), a 2 s
    clip (padded to one patch) and a file that is not audio, in that order."""
    require_ffmpeg()
    folder = tmp_path_factory.mktemp("batched")
    minute = folder / "minute.ogg"
    ffmpeg("-i", gtzan_clip("jazz", 1), "-i", gtzan_clip("rock", 2), "-filter_complex",
           "[0:a][1:a]concat=n=2:v=0:a=1", "-c:a", "libvorbis", minute)
    short = folder / "short.flac"
    ffmpeg("-t", "2", "-i", gtzan_clip("blues", 3), "-c:a", "flac", short)
    broken = folder / "broken.mp3"
    broken.write_bytes(b"not audio at all " * 200)
    return [str(p) for p in (*asc_songs(), minute, gtzan_clip("classical", 4), short, broken)]


def _assert_same(batched, alone) -> None:
    """Every song's result of the batched path is the one-song path's, to 1e-6 (measured: the
    same embeddings to the bit, tag probabilities within 1e-9: every network call holds at least
    :data:`~earmark.analysis.songs.MIN_CALL_PATCHES` patches, so oneDNN picks the same kernels
    whichever songs share it)."""
    assert [path for path, _ in batched] == [path for path, _ in alone]
    for (path, got), (_, want) in zip(batched, alone, strict=True):
        if isinstance(want, AudioError):
            assert isinstance(got, AudioError) and got.reason == want.reason, path
            continue
        assert (got.analysis, got.padded, got.silent, got.downmix) == (
            want.analysis, want.padded, want.silent, want.downmix), path
        assert got.duration == pytest.approx(want.duration), path
        for mine, theirs in zip(got.outputs, want.outputs, strict=True):
            assert mine.model == theirs.model
            assert mine.taggram.shape == theirs.taggram.shape, path
            np.testing.assert_allclose(mine.embedding, theirs.embedding, rtol=0, atol=1e-6)
            np.testing.assert_allclose(mine.taggram, theirs.taggram, rtol=0, atol=1e-6)
            assert [g for g, _ in mine.genres] == [g for g, _ in theirs.genres], path


@pytest.mark.slow
def test_songs_batched_into_one_network_call_match_the_one_song_path(library, taggers):
    engine = LocalEngine(2)
    alone = list(analyse_files(library, taggers, engine=engine))
    # 40 patches a call: the three sampled songs (16 each) share the first call, the short
    # ones the next.
    batched = list(analyse_files(library, taggers, engine=engine, batch_patches=40))
    _assert_same(batched, alone)
    kinds = [r.analysis if not isinstance(r, AudioError) else "error" for _, r in batched]
    assert kinds == [DEFAULT_SAMPLING.spec] * 3 + [FULL] * 3 + ["error"]
    assert batched[5][1].padded


@pytest.mark.slow
def test_a_long_song_analysed_whole_is_streamed_not_handed_over(library, taggers):
    # 25 windows of 3 patches cover over half of a five-minute song: it is analysed whole (97
    # patches), more than a worker hands over decoded, so it is streamed, with the same
    # result as the one-song path.
    song, clip = library[1], library[4]
    sampling = Sampling(25, 3)
    assert decode_song(song, taggers[0].mel_params, taggers[0].patch_frames, sampling) is None
    engine = LocalEngine(2)
    alone = list(analyse_files([song, clip], taggers, sampling=sampling, engine=engine))
    batched = list(analyse_files([song, clip], taggers, sampling=sampling, engine=engine,
                                 batch_patches=8))
    _assert_same(batched, alone)
    assert batched[0][1].analysis == FULL and len(batched[0][1].taggram) > 40


@pytest.mark.parametrize("error", [AudioError, NotAudioError, CorruptAudioError])
def test_an_audio_error_comes_back_from_a_worker_process_whole(error):
    back = pickle.loads(pickle.dumps(error("/music/a.mp3", "not an audio file")))
    assert type(back) is error
    assert (back.path, back.reason, str(back)) == ("/music/a.mp3", "not an audio file",
                                                   "not an audio file")


def test_a_whole_song_over_the_limit_is_not_decoded_into_memory():
    clip = gtzan_clip("pop", 5)  # 30 s: analysed whole, 10 patches
    tagger_params = load_taggers(["MSD_musicnn"], device="cpu")[0]
    params, frames = tagger_params.mel_params, tagger_params.patch_frames
    assert decode_song(clip, params, frames, DEFAULT_SAMPLING, most=9) is None
    decoded = decode_song(clip, params, frames, DEFAULT_SAMPLING, most=10)
    assert decoded.n_patches == 10 and decoded.heard.sampling == FULL
    assert decoded.heard.duration == pytest.approx(30.0, abs=0.1)


@pytest.mark.slow
def test_embed_batches_patches_by_default_and_stores_the_one_song_embeddings(library, tmp_path):
    paths = library[:5]
    stored = []
    for name, batch in (("alone", 0), ("batched", None)):
        with Catalog(tmp_path / f"{name}.sqlite") as catalog:
            scan(catalog, paths)
            report = embed_tracks(catalog, MODELS, precision="float32",
                                  engine=LocalEngine(2), batch_patches=batch)
            assert len(report.done) == len(paths), report.failed
            stored.append([load_embeddings(catalog, model) for model in MODELS])
    for (ids_alone, alone), (ids_batched, batched) in zip(*stored, strict=True):
        assert ids_alone == ids_batched and len(ids_alone) == len(paths)
        np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-6)
