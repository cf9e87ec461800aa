"""Zero-shot genres from both taggers (issue 11 items 1 and 5): one decode for MSD and MTT,
classical reachable, calibrated confidences, and ``--model`` resolved by name or file."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.analysis.embed import analyse_file, embed_tracks
from earmark.analysis.genres import (
    CALIBRATIONS,
    GENRE_TAGS,
    GenreCalibration,
    combine_evidence,
    genre_from_tags,
    song_evidence,
    zero_shot_genres,
)
from earmark.catalog import Catalog, tracks
from earmark.catalog.predictions import load_predictions
from earmark.cli import app
from earmark.errors import EarmarkError
from earmark.ingest.scan import scan
from earmark.models.registry import MSD_TAGS, MTT_TAGS, ZERO_SHOT_MODELS, pretrained
from earmark.tagging.sources import resolve_genre_model
from music import gtzan_clip, transcode

runner = CliRunner()


@pytest.fixture(scope="module")
def taggers():
    if importlib.util.find_spec("musicnn") is None:
        pytest.skip("musicnn weights not installed")
    from earmark.models.musicnn import load_musicnn

    return [load_musicnn(name, precision="float32") for name in ZERO_SHOT_MODELS]


def test_every_mapped_tag_is_in_its_vocabulary_and_every_genre_is_reachable():
    vocab = {"MSD": MSD_TAGS, "MTT": MTT_TAGS}
    for genre, by_vocab in GENRE_TAGS.items():
        assert by_vocab, genre
        for name, weights in by_vocab.items():
            assert all(tag in vocab[name] and 0 < w <= 1 for tag, w in weights.items()), genre
    assert {"classical", "new age", "world/indian"} <= {
        g for g, v in GENRE_TAGS.items() if "MTT" in v}
    assert all(pretrained(name).has_genres for name in ZERO_SHOT_MODELS)


def test_combined_evidence_weights_msd_over_mtt_and_keeps_single_vocabulary_genres():
    combined = combine_evidence({"MSD": {"rock": 0.8, "jazz": 0.6},
                                 "MTT": {"rock": 0.2, "classical": 0.9}})
    assert combined["rock"] == pytest.approx(0.7 * 0.8 + 0.3 * 0.2)
    assert combined["jazz"] == pytest.approx(0.6) and combined["classical"] == pytest.approx(0.9)


def test_calibration_is_a_distribution_that_keeps_the_ranking_without_biases():
    out = GenreCalibration(2.0)({"rock": 0.6, "jazz": 0.3, "pop": 0.1})
    assert [g for g, _ in out] == ["rock", "jazz", "pop"]
    assert sum(p for _, p in out) == pytest.approx(1.0)
    assert set(CALIBRATIONS) == {"MSD_musicnn", "MTT_musicnn", "MSD_musicnn+MTT_musicnn"}
    for calibration in CALIBRATIONS.values():  # biases only move labelled genres, sum 0
        assert sum(calibration.bias.values()) == pytest.approx(0.0, abs=1e-3)


def test_calibration_fit_learns_a_genre_the_raw_scores_underrate():
    rng = np.random.default_rng(0)
    evidence, labels = [], []
    for _ in range(40):  # metal songs whose "metal" evidence is below "rock"
        evidence.append({"rock": 0.6 + 0.1 * rng.random(), "metal": 0.4 + 0.1 * rng.random(),
                         "jazz": 0.05})
        labels.append("metal")
    for _ in range(20):
        evidence.append({"rock": 0.7, "metal": 0.1, "jazz": 0.05})
        labels.append("rock")
    fitted = GenreCalibration.fit(evidence, labels)
    assert fitted(evidence[0])[0][0] == "metal" and fitted(evidence[-1])[0][0] == "rock"
    assert fitted.bias["metal"] > 0 > fitted.bias["rock"] and "jazz" not in fitted.bias


def test_both_taggers_share_one_analysis_and_equal_each_alone(taggers, tmp_path):
    clip = transcode(gtzan_clip("classical", 0), tmp_path / "c.flac", "flac", seconds=7)
    both = analyse_file(clip, taggers)
    alone = [analyse_file(clip, t) for t in taggers]
    assert [o.model for o in both.outputs] == list(ZERO_SHOT_MODELS)
    for output, single in zip(both.outputs, alone, strict=True):
        np.testing.assert_allclose(output.tag_probabilities, single.tag_probabilities,
                                   atol=1e-6)
        np.testing.assert_allclose(output.embedding, single.embedding, atol=1e-6)
    assert both.genres[0][0] == "classical"  # MSD alone has no "classical"
    assert "classical" not in dict(alone[0].genres)
    assert sum(c for _, c in both.genres) == pytest.approx(1.0)


@pytest.mark.slow
@pytest.mark.parametrize("number", range(6))
def test_every_classical_clip_is_classical_with_both_taggers(taggers, number):
    result = analyse_file(gtzan_clip("classical", number), taggers)
    assert result.genres[0][0] == "classical"


def test_zero_shot_genres_of_one_vocabulary_use_its_calibration():
    probs = np.full(50, 0.01)
    probs[MTT_TAGS.index("classical")] = 0.8
    genres = zero_shot_genres({"MTT_musicnn": (probs, MTT_TAGS)})
    assert genres[0][0] == "classical" and "jazz" not in dict(genres)


def test_song_evidence_combines_the_known_vocabularies_and_names_the_taggers_used():
    """The evidence the calibration is fitted on (bench/bench_genre.py) and applied to: each
    MSD/MTT tagger mapped through GENRE_TAGS, then combined; other vocabularies left out."""
    rng = np.random.default_rng(1)
    msd, mtt = rng.random(50), rng.random(50)
    evidence, used = song_evidence({"MSD_musicnn": (msd, MSD_TAGS),
                                    "MTT_musicnn": (mtt, MTT_TAGS),
                                    "other": (rng.random(3), ("a", "b", "c"))})
    assert used == ["MSD_musicnn", "MTT_musicnn"]
    assert evidence == combine_evidence({"MSD": dict(genre_from_tags(msd, MSD_TAGS)),
                                         "MTT": dict(genre_from_tags(mtt, MTT_TAGS))})
    assert zero_shot_genres({"MSD_musicnn": (msd, MSD_TAGS), "MTT_musicnn": (mtt, MTT_TAGS)}
                            ) == CALIBRATIONS["MSD_musicnn+MTT_musicnn"](evidence)


@pytest.fixture()
def catalog(tmp_path):
    with Catalog(tmp_path / "c.sqlite") as cat:
        yield cat


@pytest.mark.parametrize(("value", "name", "taggers"), [
    ("both", "MSD_musicnn+MTT_musicnn", ZERO_SHOT_MODELS),
    ("MTT_musicnn", "MTT_musicnn", ("MTT_musicnn",)),
    ("mtt", "MTT_musicnn", ("MTT_musicnn",)),
    ("msd", "MSD_musicnn", ("MSD_musicnn",)),
    ("msd-vgg", "MSD_vgg", ("MSD_vgg",)),
    ("learned", "learned", ()),
])
def test_model_names_and_short_names_resolve(catalog, value, name, taggers):
    model = resolve_genre_model(catalog, value)
    assert (model.name, model.taggers, model.path) == (name, taggers, None)


def test_unknown_model_is_an_error_listing_the_valid_names(catalog):
    with pytest.raises(EarmarkError) as err:
        resolve_genre_model(catalog, "nosuchmodel")
    for valid in ("both", "MSD_musicnn", "MTT_musicnn", "msd", "mtt", "learned"):
        assert valid in str(err.value)


def test_model_file_and_stored_name_resolve(catalog, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "genres.safetensors").write_bytes(b"")
    for value in (str(tmp_path / "models" / "genres"),
                  str(tmp_path / "models" / "genres.safetensors")):
        model = resolve_genre_model(catalog, value)
        assert model.name == "genres" and model.path == tmp_path / "models" / "genres.safetensors"
    from earmark.catalog.predictions import store_predictions

    path = transcode(gtzan_clip("rock", 0), tmp_path / "r.mp3", "mp3", seconds=4)
    scan(catalog, [path])
    track = tracks.get_track(catalog, str(path))
    store_predictions(catalog, track.id, "my-genres", {"genres": {"Rock": 0.9}})
    assert resolve_genre_model(catalog, "my-genres").name == "my-genres"


def test_embed_stores_both_taggers_and_the_combined_genres(taggers, catalog, tmp_path):
    path = transcode(gtzan_clip("classical", 1), tmp_path / "cl.ogg", "ogg", seconds=6)
    scan(catalog, [path])
    track = tracks.get_track(catalog, str(path))
    report = embed_tracks(catalog, precision="float32")
    assert report.done == [track.id]
    for name in ZERO_SHOT_MODELS:
        assert len(load_predictions(catalog, track.id, "tags", name)) == 50
    combined = load_predictions(catalog, track.id, "genres", "MSD_musicnn+MTT_musicnn")
    assert combined[0][0] == "classical"
    assert embed_tracks(catalog).up_to_date == 1


@pytest.mark.parametrize("value", ["MTT_musicnn", "msd", "nosuchmodel"])
def test_tag_model_option_is_resolved(tmp_path, value):
    path = transcode(gtzan_clip("metal", 4), tmp_path / "m.mp3", "mp3", seconds=6, start=3)
    result = runner.invoke(app, ["tag", str(path), "--model", value, "--dry-run", "--json",
                                 "--db", str(tmp_path / "c.sqlite")])
    if value == "nosuchmodel":
        assert result.exit_code == 3 and "choose one of" in result.output
        assert "both" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert "no genre predictions" not in result.output
