"""``predict --chunks`` gives each chunk the span of the song it covers: no chunk ends past the
song's end. Seen: a 290.6 s song (asc-music's machine_wars.mp3) had a last chunk 269.28-299.2,
with or without ``--full``. Real music (transcoded excerpts of it), the real musicnn tagger and
decoder; a head on its embeddings, the classic model's descriptors and a network's audio
chunks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.analysis.predict import chunk_inputs
from earmark.audio import probe_audio
from earmark.cli import app
from earmark.learn.train import default_inputs, make_estimator
from earmark.models.io import ModelCard, TrainedModel, save_model
from music import ASC_MUSIC, transcode

PATCH_SECONDS = 187 * 256 / 16000  # MSD_musicnn's patch: 187 frames of 256 samples at 16 kHz


def _machine_wars():
    song = ASC_MUSIC / "machine_wars.mp3"
    if not song.exists():
        pytest.skip("Debian package asc-music is not installed (apt-get install asc-music)")
    return song


@pytest.fixture(scope="module")
def excerpt(tmp_path_factory):
    """45 s of machine_wars.mp3 as FLAC: it ends half-way into its second 30-second chunk,
    as the whole song (290.6 s) ends inside its tenth."""
    folder = tmp_path_factory.mktemp("chunks")
    return transcode(_machine_wars(), folder / "machine wars 45s.flac", "flac", seconds=45.0,
                     start=60.0)


def _head(folder) -> str:
    """A three-genre head on MSD_musicnn embeddings with 30-second chunks, saved."""
    rng = np.random.default_rng(0)
    estimator = make_estimator("head", "single", C=1.0).fit(
        rng.standard_normal((60, 400)).astype(np.float32), np.arange(60) % 3)
    card = ModelCard(model_type="head", task="genre", kind="single",
                     labels=["jazz", "rock", "pop"], inputs=default_inputs("head"),
                     hyperparameters=estimator.get_params(), fitted=estimator.fitted_info(),
                     seed=0)
    return str(save_model(TrainedModel(estimator, card), folder / "genres"))


def _chunks(model: str, song, db, *extra: str) -> list[tuple[float, float]]:
    result = CliRunner().invoke(app, ["predict", model, str(song), "--chunks", "--json",
                                      "--db", str(db), *extra])
    assert result.exit_code == 0, result.output
    answer = json.loads(next(line for line in result.stdout.splitlines()
                             if line.startswith("{")))
    return [(chunk["start"], chunk["end"]) for chunk in answer["chunks"]]


@pytest.mark.slow
@pytest.mark.parametrize("full", [False, True], ids=["sampled", "full"])
def test_a_heads_last_chunk_ends_where_its_last_patch_ends_not_past_the_song(excerpt,
                                                                           tmp_path, full):
    assert probe_audio(excerpt).duration == pytest.approx(45.0, abs=0.05)
    # 15 whole patches of 2.992 s; chunks of 10 patches: the second holds the last 5.
    spans = _chunks(_head(tmp_path), excerpt, tmp_path / "catalog.sqlite",
                    *(["--full"] if full else []))
    assert spans == [(0.0, round(10 * PATCH_SECONDS, 3)),
                     (round(10 * PATCH_SECONDS, 3), round(15 * PATCH_SECONDS, 3))]


@pytest.mark.slow
def test_the_whole_songs_last_chunk_ends_inside_the_song(tmp_path):
    song = _machine_wars()
    duration = probe_audio(song).duration
    assert duration == pytest.approx(290.6, abs=0.05)
    spans = _chunks(_head(tmp_path), song, tmp_path / "catalog.sqlite", "--full")
    # 97 whole patches: ten chunks, the last from patch 90 to the end of patch 97.
    assert len(spans) == 10
    assert spans[-1] == (269.28, round(97 * PATCH_SECONDS, 3)) and spans[-1][1] <= duration
    assert all(end == after for (_, end), (after, _) in zip(spans, spans[1:], strict=False))


def test_a_classic_models_chunks_end_at_the_songs_end(excerpt):
    # 45 s in 30-second chunks: the 15 s tail is half a chunk, so it stands alone.
    _, spans = chunk_inputs(default_inputs("classic"), str(excerpt))
    assert spans == [(0.0, 30.0), (30.0, pytest.approx(45.0, abs=0.05))]
    # A 40 s song: its 10 s tail joins the first chunk, which then ends with the song.
    short = transcode(excerpt, excerpt.with_name("40s.flac"), "flac", seconds=40.0)
    _, spans = chunk_inputs(default_inputs("classic"), str(short))
    assert spans == [(0.0, pytest.approx(40.0, abs=0.05))]


def test_a_networks_padded_chunk_ends_with_a_song_shorter_than_a_chunk(excerpt):
    inputs = default_inputs("shortchunk")
    seconds = float(inputs["chunk_seconds"])
    clip = transcode(excerpt, excerpt.with_name("short.flac"), "flac", seconds=seconds / 2)
    X, spans = chunk_inputs(inputs, str(clip))
    assert len(X) == 1 and spans == [(0.0, pytest.approx(seconds / 2, abs=0.02))]
    # A longer song: whole chunks only, each ending where the next starts, the last inside it.
    X, spans = chunk_inputs(inputs, str(excerpt))
    assert len(spans) == len(X) == int(45.0 // seconds)
    assert spans[-1][1] == pytest.approx(len(X) * seconds, abs=1e-3) and spans[-1][1] <= 45.0
