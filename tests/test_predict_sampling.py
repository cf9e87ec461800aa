"""``earmark predict`` analyses a song as ``embed`` does (issue 16 item 1): a full-length song
from the default sample of its patches, every patch with ``--full``; a short clip whole either
way. It streams (item 3): each song's prediction is stored and handed on, and none is kept.
A real song (Debian's asc-music), the real musicnn tagger, a head on its embeddings."""

from __future__ import annotations

import gc
import json
import shutil
import weakref

import numpy as np
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from earmark.analysis.predict import predict_songs
from earmark.analysis.sampling import DEFAULT_SAMPLING, plan_windows
from earmark.audio import probe_audio
from earmark.catalog import Catalog, tracks
from earmark.catalog.predictions import load_predictions
from earmark.cli import app
from earmark.learn.runs import run_prediction
from earmark.learn.train import make_estimator
from earmark.models.io import ModelCard, TrainedModel, load_model, save_model
from music import asc_songs, gtzan_clip

PATCH_SECONDS = 187 * 256 / 16000  # MSD_musicnn's patch: 187 frames of 256 samples at 16 kHz


def _head(folder, chunk_seconds: float) -> str:
    """A three-genre head on MSD_musicnn embeddings, chunks of ``chunk_seconds``, saved."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 400)).astype(np.float32)
    y = np.arange(60) % 3
    estimator = make_estimator("head", "single", C=1.0).fit(X, y)
    card = ModelCard(model_type="head", task="genre", kind="single",
                     labels=["jazz", "rock", "pop"],
                     inputs={"embedding_model": "MSD_musicnn", "chunk_seconds": chunk_seconds},
                     hyperparameters=estimator.get_params(), fitted=estimator.fitted_info(),
                     seed=0)
    return str(save_model(TrainedModel(estimator, card), folder / "genres"))


def _predict_cli(model: str, song, db, *extra: str) -> dict:
    result = CliRunner().invoke(app, ["predict", model, str(song), "--chunks", "--json",
                                      "--db", str(db), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(next(line for line in result.stdout.splitlines()
                           if line.startswith("{")))


@pytest.mark.slow
def test_predict_hears_the_default_sample_of_a_long_song_and_every_patch_with_full(tmp_path):
    song = asc_songs()[0]
    model = _head(tmp_path, chunk_seconds=PATCH_SECONDS)  # one chunk a patch
    sampled = _predict_cli(model, song, tmp_path / "catalog.sqlite")
    full = _predict_cli(model, song, tmp_path / "catalog.sqlite", "--full")
    duration = probe_audio(song).duration
    windows = plan_windows(duration, PATCH_SECONDS, DEFAULT_SAMPLING)
    # The 16 sampled patches, where the sample puts them; --full: every patch.
    assert len(windows) == 16
    assert [c["start"] for c in sampled["chunks"]] == [
        round(first * PATCH_SECONDS, 3) for first, _ in windows]
    assert len(full["chunks"]) >= int(duration / PATCH_SECONDS) - 1
    # A sampled patch's chunk is the same patch of the full analysis (its start and end).
    starts = {c["start"]: c for c in full["chunks"]}
    assert all(c["end"] == starts[c["start"]]["end"] for c in sampled["chunks"])
    for answer in (sampled, full):
        assert sum(answer["scores"].values()) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_predict_groups_a_long_songs_sampled_patches_into_its_chunks(tmp_path):
    song = asc_songs()[0]
    model = load_model(_head(tmp_path, chunk_seconds=30.0))
    (sampled,) = predict_songs(model, [str(song)], per_chunk=True)
    (full,) = predict_songs(model, [str(song)], per_chunk=True, sampling=None)
    # 30-second chunks of 10 patches: the 16 spread patches land in every chunk of a song of
    # a few minutes, and each chunk is the mean of its sampled patches only.
    assert len(full.chunks) >= 6
    assert [c["start"] for c in sampled.chunks] == [c["start"] for c in full.chunks]
    assert sampled.scores != full.scores


@pytest.mark.slow
def test_a_short_clip_is_heard_whole_with_or_without_full(tmp_path):
    model = load_model(_head(tmp_path, chunk_seconds=PATCH_SECONDS))
    clip = str(gtzan_clip("jazz", 1))  # 30 s
    (sampled,) = predict_songs(model, [clip], per_chunk=True)
    (full,) = predict_songs(model, [clip], per_chunk=True, sampling=None)
    assert len(sampled.chunks) == len(full.chunks) == 10
    for label, score in full.scores.items():
        assert sampled.scores[label] == pytest.approx(score, abs=1e-4)


def test_predict_offers_full_with_the_help_of_embed_and_tag():
    commands = get_command(app).commands
    helps = {name: next(p.help for p in commands[name].params if p.name == "full")
             for name in ("predict", "embed", "tag", "genre")}
    assert len(set(helps.values())) == 1 and "every 3-second patch" in helps["predict"]


@pytest.mark.slow
def test_run_prediction_hands_on_each_stored_prediction_and_keeps_none(music_files, tmp_path):
    model = load_model(_head(tmp_path, chunk_seconds=30.0))
    songs = [shutil.copyfile(music_files[fmt], tmp_path / f"song.{fmt}")
             for fmt in ("flac", "mp3", "ogg")]
    (tmp_path / "damaged.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    files = [str(songs[0]), str(tmp_path / "damaged.wav"), str(songs[1]), str(songs[2])]
    seen, alive = [], []

    def each(prediction):
        seen.append((prediction.path, prediction.error is None))
        alive.append(weakref.ref(prediction))

    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        run = run_prediction(catalog, model, "genres", files, each=each)
        assert seen == [(files[0], True), (files[1], False), (files[2], True), (files[3], True)]
        # The scan reports the damaged file as failed, not added.
        assert run.failed == 1 and sorted(run.added) == sorted(map(str, songs))
        for path in (files[0], files[2], files[3]):
            stored = load_predictions(catalog, tracks.get_track(catalog, path).id, "genres",
                                      "genres")
            assert set(stored) == {"jazz", "rock", "pop"}
    gc.collect()
    assert not any(ref() is not None for ref in alive)  # nothing kept a song's prediction
