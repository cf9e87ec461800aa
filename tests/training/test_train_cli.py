"""Training, evaluation and prediction end to end on 18 three-second real-music excerpts,
through the library and the ``earmark`` command line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.analysis.predict import aggregate, decide, predict_songs
from earmark.catalog import Catalog
from earmark.catalog.labels import load_labelled
from earmark.cli import app
from earmark.data import group_keys
from earmark.learn.train import (
    cross_validate,
    default_inputs,
    song_matrix,
    split_for_training,
    train_model,
)
from earmark.models.io import load_model, save_model

runner = CliRunner()


def test_split_for_training_keeps_groups_apart_and_honours_source_splits(library):
    with Catalog(library) as catalog:
        data = load_labelled(catalog, "genre", "mini")
    split = split_for_training(data, 0.3, seed=2)
    groups = group_keys(data.paths)
    assert len(split.test) == 0 and not set(groups[split.train]) & set(groups[split.valid])
    data.splits = ["test" if "00005" in p else "valid" if "00004" in p else "train"
                   for p in data.paths]
    split = split_for_training(data)
    assert (len(split.test), len(split.valid), len(split.train)) == (3, 3, 12)


@pytest.mark.slow
def test_head_learns_genres_from_embeddings_and_round_trips(library, tmp_path):
    with Catalog(library) as catalog:
        X, data = song_matrix(catalog, load_labelled(catalog, "genre", "mini"),
                              default_inputs("head"))
    assert X.shape == (18, 400)
    result = cross_validate(X, data, "head", n_splits=2, seed=0)
    assert result.mean["accuracy"] >= 0.8  # classical, metal, reggae are far apart
    assert sorted(np.concatenate(result.test_folds).tolist()) == list(range(18))
    model = train_model(X, data, "head", default_inputs("head"), seed=1)
    assert model.card.training["train_songs"] + model.card.training["valid_songs"] == 18
    assert model.card.inputs["embedding_model"] == "MSD_musicnn"
    save_model(model, tmp_path / "genres")
    loaded = load_model(tmp_path / "genres.safetensors")
    np.testing.assert_allclose(loaded.estimator.predict_proba(X), model.estimator.predict_proba(X))
    song = next(p for p in data.paths if "metal.00002" in p)
    (prediction,) = predict_songs(loaded, [song], per_chunk=True)
    assert prediction.labels == ["metal"]
    assert prediction.chunks[0]["start"] == 0.0 and len(prediction.chunks) == 1
    # one 3-second excerpt is one chunk: the chunk embedding is the training embedding
    assert prediction.scores["metal"] == pytest.approx(
        loaded.estimator.predict_proba(X[data.paths.index(song)][None])[0][1], abs=1e-4)


def test_aggregation_mean_vote_and_thresholds():
    chunks = np.array([[0.6, 0.4], [0.6, 0.4], [0.0, 1.0]])
    assert aggregate(chunks, "single", "mean").tolist() == pytest.approx([0.4, 0.6])
    assert aggregate(chunks, "single", "vote").tolist() == pytest.approx([2 / 3, 1 / 3])
    tags = np.array([[0.9, 0.2], [0.7, 0.6], [0.1, 0.6]])
    assert aggregate(tags, "multi", "vote", np.array([0.5, 0.5])).tolist() == pytest.approx(
        [2 / 3, 2 / 3])
    assert decide(np.array([0.7, 0.3]), "multi", ["rock", "jazz"]) == ["rock"]
    assert decide(np.array([0.7, 0.3]), "multi", ["rock", "jazz"], 0.25) == ["rock", "jazz"]
    assert decide(np.array([0.7, 0.3]), "binary", ["dislike", "like"], 0.2) == ["like"]


@pytest.mark.slow
def test_cli_import_train_evaluate_predict(library, genre_tree, tmp_path):
    db = str(library)
    listed = runner.invoke(app, ["dataset", "list", "--db", db, "--json"])
    assert json.loads(listed.stdout.splitlines()[0])["songs"] == 18
    out = tmp_path / "models" / "classic"
    trained = runner.invoke(app, ["train", "--db", db, "--dataset", "mini", "--model", "classic",
                                  "--out", str(out), "--runs", "2", "--json"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout.splitlines()[-1])
    assert summary["runs"] == 2 and "accuracy" in summary["std"]
    card = json.loads((tmp_path / "models" / "classic.json").read_text())
    assert card["model_type"] == "classic" and card["labels"] == ["classical", "metal", "reggae"]
    assert card["metrics"]["runs"]["seeds"] == [0, 1]
    results = list(csv.DictReader(open(tmp_path / "models" / "results.csv")))
    assert [r["seed"] for r in results] == ["0", "1"]

    report = tmp_path / "report"
    evaluated = runner.invoke(app, ["evaluate", str(out) + ".safetensors", "mini", "--db", db,
                                    "--report", str(report), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.stdout.splitlines()[-1])
    assert scores["split"] == "all" and scores["accuracy_chance"] == pytest.approx(1 / 3)
    assert (report / "confusion.csv").exists() and (report / "report.json").exists()
    assert len(list(csv.DictReader(open(tmp_path / "models" / "results.csv")))) == 3

    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\0" * 100)
    predicted = runner.invoke(app, ["predict", str(out), str(genre_tree / "metal"),
                                    str(broken), "--db", db, "--json", "--chunks"])
    assert predicted.exit_code == 1, predicted.output  # one file failed, the rest was done
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    assert "error" in by_name["broken.mp3"]
    assert len(by_name) == 7 and by_name["metal.00000.wav"]["chunks"][0]["start"] == 0.0
    assert sum(r.get("labels") == ["metal"] for r in rows) >= 4
    with Catalog(library) as catalog:
        stored = catalog.execute(
            "SELECT count(*) FROM predictions WHERE model = 'classic' AND kind = 'genres'")
        assert stored.fetchone()[0] == 6

    # The trained model's stored predictions feed the tag writer: `earmark tag --model classic`.
    tagged = runner.invoke(app, ["tag", str(genre_tree / "metal"), "--db", db, "--model",
                                 "classic", "--min-confidence", "0", "--max-genres", "1",
                                 "--dry-run", "--json"])
    assert tagged.exit_code == 0, tagged.output
    plans = [json.loads(line) for line in tagged.stdout.splitlines()]
    proposed = [p for p in plans if p.get("changes")]
    assert len(proposed) == 6
    genres = [p["changes"][0]["new"] for p in proposed]
    assert sum(g == ["Metal"] for g in genres) >= 4, genres


def test_cli_train_needs_labelled_songs(tmp_path):
    empty = str(tmp_path / "empty.sqlite")
    result = runner.invoke(app, ["train", "--db", empty, "--out", str(tmp_path / "m")])
    assert result.exit_code == 3 and "no labelled songs" in result.output
    assert runner.invoke(app, ["train", "--db", empty]).exit_code == 3


@pytest.mark.slow
def test_cli_tune_appends_trials_and_writes_the_best_model(library, tmp_path):
    results = tmp_path / "tune.csv"
    out = tmp_path / "tuned"
    tuned = runner.invoke(app, ["tune", "--db", str(library), "--dataset", "mini", "--model",
                                "classic", "--trials", "3", "--folds", "2", "--out", str(out),
                                "--results", str(results), "--json"])
    assert tuned.exit_code == 0, tuned.output
    summary = json.loads(tuned.stdout.splitlines()[-1])
    assert summary["metric"] == "accuracy" and set(summary["best_params"]) >= {"C", "gamma"}
    rows = list(csv.DictReader(open(results)))
    assert len(rows) == 3 and all(json.loads(r["params"]) for r in rows)
    card = load_model(out).card
    assert card.metrics["tuning"]["trials"] == 3
    assert card.hyperparameters["gamma"] == pytest.approx(summary["best_params"]["gamma"])


@pytest.mark.slow
def test_like_and_stars_from_ratings_train_binary_and_regression_models(library):
    with Catalog(library) as catalog:
        songs = load_labelled(catalog, "genre", "mini")
        with catalog.transaction() as conn:
            for i, (track_id, labels) in enumerate(zip(songs.track_ids, songs.targets,
                                                       strict=True)):
                liked = labels == ["metal"]
                # an older opposite verdict must be overruled by the latest one
                conn.execute("INSERT INTO ratings (track_id, verdict, stars, rated_at) "
                             "VALUES (?, ?, NULL, ?)", (track_id, "dislike" if liked else
                                                        "like", 1.0))
                conn.execute("INSERT INTO ratings (track_id, verdict, stars, rated_at) "
                             "VALUES (?, ?, ?, ?)", (track_id, "like" if liked else "dislike",
                                                     5 if liked else 1 + i % 3, 2.0))
        likes = load_labelled(catalog, "like")
        stars = load_labelled(catalog, "stars")
        assert likes.kind == "binary" and likes.classes == ["dislike", "like"]
        assert int(likes.y().sum()) == 6 and stars.kind == "regression"
        for data in (likes, stars):
            X, data = song_matrix(catalog, data, default_inputs("classic"))
            model = train_model(X, data, "classic", default_inputs("classic"), seed=0)
            scores = model.card.metrics["validation"]
            key = "accuracy" if data.kind == "binary" else "mae"
            assert key in scores and f"{key}_chance" in scores
        metal = [i for i, t in enumerate(likes.targets) if t == 1]
        assert np.mean(model.estimator.predict(X[metal])) > 3.0  # metal was rated 5 stars


@pytest.mark.slow
def test_cli_trains_a_short_chunk_cnn_with_checkpoint_and_resume(library, genre_tree, tmp_path):
    common = ["train", "--db", str(library), "--dataset", "mini", "--model", "shortchunk",
              "--width", "4", "--device", "cpu", "--checkpoint", str(tmp_path / "ckpt.pt"),
              "--out", str(tmp_path / "cnn")]
    first = runner.invoke(app, [*common, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    resumed = runner.invoke(app, [*common, "--epochs", "2", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    card = load_model(tmp_path / "cnn").card
    assert [h["epoch"] for h in card.fitted["history"]] == [1, 2]
    assert card.inputs["mel"]["n_mels"] == 128 and card.hyperparameters["width"] == 4
    predicted = runner.invoke(app, ["predict", str(tmp_path / "cnn"),
                                    str(genre_tree / "metal" / "metal.00000.wav"), "--json",
                                    "--db", str(library)])
    assert predicted.exit_code == 0, predicted.output
    assert set(json.loads(predicted.stdout)["scores"]) == {"classical", "metal", "reggae"}


@pytest.mark.slow
def test_multi_label_tags_from_a_manifest_train_tune_thresholds_and_evaluate(genre_tree,
                                                                             tmp_path):
    manifest = tmp_path / "tags.csv"
    tags = {"classical": ["acoustic", "calm"], "metal": ["loud", "guitar"],
            "reggae": ["guitar", "groove"]}
    rows = ["path,label"] + [f"{genre_tree / g / f'{g}.{n:05d}.wav'},{tag}"
                             for g in tags for n in range(6) for tag in tags[g]]
    manifest.write_text("\n".join(rows) + "\n")
    db = str(tmp_path / "catalog.sqlite")
    imported = runner.invoke(app, ["dataset", "import", str(manifest), "--task", "tags",
                                   "--db", db])
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "tagger"
    trained = runner.invoke(app, ["train", "--db", db, "--task", "tags", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    card = load_model(out).card
    assert card.kind == "multi" and card.labels == ["acoustic", "calm", "groove", "guitar",
                                                    "loud"]
    assert len(card.thresholds) == 5
    evaluated = runner.invoke(app, ["evaluate", str(out), "tags", "--db", db, "--json",
                                    "--report", str(tmp_path / "report")])
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.stdout.splitlines()[-1])
    assert scores["roc_auc_macro"] > 0.9 and scores["roc_auc_macro_chance"] == 0.5
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(report["scores"]["per_tag"]) == set(card.labels)
    predicted = runner.invoke(app, ["predict", str(out), str(genre_tree / "metal"), "--json",
                                    "--threshold", "0.5", "--db", db])
    labels = [json.loads(line)["labels"] for line in predicted.stdout.splitlines()]
    assert sum("loud" in found for found in labels) >= 4


def test_rating_labels_follow_the_ratings_rules(library):
    """Training reads ratings as the taste model does: the latest opinion wins (stars too),
    a later skip changes nothing, 3 stars alone is no like/dislike but is a star rating."""
    with Catalog(library) as catalog:
        a, b, c = load_labelled(catalog, "genre", "mini").track_ids[:3]
        with catalog.transaction() as conn:
            # Later than any rating another test of this module may have left.
            rows = [(a, "dislike", None, 10.0), (a, None, 5, 11.0),   # changed mind: liked
                    (b, "like", None, 10.0), (b, "skip", None, 11.0),  # skip keeps the like
                    (c, None, 3, 10.0)]                               # neutral
            conn.executemany("INSERT INTO ratings (track_id, verdict, stars, rated_at) "
                             "VALUES (?, ?, ?, ?)", rows)
        likes = load_labelled(catalog, "like")
        stars = load_labelled(catalog, "stars")
    mine = {a, b, c}
    like_of = dict(zip(likes.track_ids, likes.targets, strict=True))
    stars_of = dict(zip(stars.track_ids, stars.targets, strict=True))
    assert {k: v for k, v in like_of.items() if k in mine} == {a: 1, b: 1}
    assert {k: v for k, v in stars_of.items() if k in mine} == {a: 5.0, c: 3.0}
