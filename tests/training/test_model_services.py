"""Scoring and prediction with a saved model as library services, called without the CLI as a
web request or a worker would: :func:`plan_evaluation` / :func:`run_evaluation` and
:func:`predict_and_store`, on a real catalog of 3 GTZAN genres x 6 short excerpts whose
classic-descriptor inputs are computed once and reused."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from earmark.analysis.predict import (
    predict_and_store,
    predict_songs,
    store_prediction,
    stored_name,
)
from earmark.catalog import Catalog
from earmark.catalog.labels import load_labelled, set_labels
from earmark.catalog.predictions import load_predictions
from earmark.catalog.tracks import get_track
from earmark.engine import LocalEngine
from earmark.learn.evaluate import headline
from earmark.learn.runs import (
    EmptySplit,
    Experiment,
    NoLabelledSongs,
    plan_evaluation,
    prepare_experiment,
    run_evaluation,
)
from earmark.learn.train import default_inputs, train_model
from earmark.models.io import load_model, save_model


@pytest.fixture(scope="module")
def trained(library):
    """The 3-genre tree in a catalog (dataset ``mini``, no splits; the same songs again as
    ``mini_split`` with clip 4 valid and clip 5 test), a classic model trained on ``mini``
    and saved, and one trained on classical and metal only: ``(db, X, data, path,
    two_genre_path)``."""
    db, root = library, library.parent
    inputs = default_inputs("classic")
    with Catalog(db) as catalog:
        X, data = prepare_experiment(catalog, Experiment("classic", dataset="mini"))
        for track_id, path, labels in zip(data.track_ids, data.paths, data.targets,
                                          strict=True):
            split = "test" if ".00005." in path else "valid" if ".00004." in path else "train"
            set_labels(catalog, track_id, "mini_split", "genre", labels, split=split)
    path = save_model(train_model(X, data, "classic", inputs, seed=0, hyper={"C": 1.0}),
                      root / "models" / "genres")
    two = [i for i, t in enumerate(data.targets) if t != ["reggae"]]
    no_reggae = data.subset(two)
    no_reggae.classes = ["classical", "metal"]
    two_genre = save_model(train_model(X[two], no_reggae, "classic", inputs, seed=0,
                                       hyper={"C": 1.0}), root / "models" / "two")
    return db, X, data, path, two_genre


def _rows(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_auto_split_without_a_test_split_scores_all_songs_and_warns(trained, tmp_path):
    db, X, data, path, _ = trained
    model = load_model(path)
    with Catalog(db) as catalog:
        plan = plan_evaluation(catalog, model, path, "mini")
        assert (plan.split, len(plan.data), plan.left_out) == ("all", 18, 0)
        # validated by cross-validation, then trained on every song: the card says so
        assert plan.trained_on == 18 and not plan.may_include_training
        # a card without its songs (older earmark) trained on this very dataset, which has no
        # test split: the scores may be optimistic
        del model.card.training["songs"]
        old = plan_evaluation(catalog, model, path, "mini")
        assert old.may_include_training and old.trained_on == 0
        evaluation = run_evaluation(catalog, plan, results=tmp_path / "results.csv",
                                    report=tmp_path / "report", spectrograms=0)
    assert evaluation.songs == 18
    expected = accuracy_score(data.y(), model.estimator.predict(X))
    assert evaluation.scores["accuracy"] == pytest.approx(expected)
    assert evaluation.scores["accuracy_chance"] == pytest.approx(1 / 3)
    assert evaluation.meta == {"model": str(path), "model_type": "classic", "dataset": "mini",
                               "split": "all", "seed": 0, "task": "genre"}
    assert evaluation.score_rows() == [(n, v, None, c) for n, v, c in
                                       headline(evaluation.scores)]
    assert [name for name, *_ in evaluation.score_rows()][:1] == ["accuracy"]
    as_json = evaluation.to_dict()
    assert as_json["report"] == str(tmp_path / "report" / "report.json")
    assert as_json["split"] == "all" and as_json["accuracy"] == evaluation.scores["accuracy"]
    assert not any(isinstance(v, dict | list) for v in as_json.values())
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["meta"] == evaluation.meta
    assert (tmp_path / "report" / "confusion.csv").exists()
    (row,) = _rows(tmp_path / "results.csv")
    assert (row["model"], row["data"], row["split"], row["songs"], row["seed"]) == \
        (str(path), "mini", "all", "18", "0")
    assert json.loads(row["metrics"])["accuracy"] == pytest.approx(expected, abs=1e-6)


def test_the_report_and_results_default_to_beside_the_model(trained):
    db, _, _, path, _ = trained
    with Catalog(db) as catalog:
        plan = plan_evaluation(catalog, load_model(path), path, "mini_split", "valid")
        evaluation = run_evaluation(catalog, plan, spectrograms=0)
    assert evaluation.report == path.parent / "genres-eval-mini_split" / "report.json"
    assert evaluation.report.exists()
    rows = _rows(path.parent / "results.csv")
    assert (rows[-1]["split"], rows[-1]["songs"]) == ("valid", "3")


def test_auto_split_takes_the_test_split_and_named_splits_are_honoured(trained):
    db, _, _, path, _ = trained
    model = load_model(path)
    with Catalog(db) as catalog:
        plan = plan_evaluation(catalog, model, path, "mini_split")
        assert plan.split == "test" and not plan.may_include_training
        assert sorted(p.rsplit("/", 1)[-1] for p in plan.data.paths) == [
            "classical.00005.wav", "metal.00005.wav", "reggae.00005.wav"]
        assert len(plan_evaluation(catalog, model, path, "mini_split", "train").data) == 12
        everything = plan_evaluation(catalog, model, path, "mini_split", "all")
        # asked for explicitly, "all" is no surprise: no warning
        assert len(everything.data) == 18 and not everything.may_include_training


def test_a_dataset_the_model_was_not_trained_on_gives_no_warning(trained):
    db, _, data, path, _ = trained
    with Catalog(db) as catalog:
        for track_id, labels in zip(data.track_ids, data.targets, strict=True):
            set_labels(catalog, track_id, "elsewhere", "genre", labels)
        plan = plan_evaluation(catalog, load_model(path), path, "elsewhere")
    assert plan.split == "all" and not plan.may_include_training


def test_songs_with_labels_the_model_does_not_know_are_left_out(trained, tmp_path):
    db, _, _, _, two_genre = trained
    model = load_model(two_genre)
    assert model.card.labels == ["classical", "metal"]
    with Catalog(db) as catalog:
        plan = plan_evaluation(catalog, model, two_genre, "mini")
        assert plan.left_out == 6 and len(plan.data) == 12
        assert plan.data.classes == ["classical", "metal"]
        assert not any("reggae" in p for p in plan.data.paths)
        evaluation = run_evaluation(catalog, plan, report=tmp_path / "r",
                                    results=tmp_path / "r.csv", spectrograms=0)
    assert evaluation.songs == 12 and evaluation.scores["accuracy_chance"] == pytest.approx(0.5)


def test_an_empty_split_and_an_unknown_dataset_are_refused(trained):
    db, _, _, path, _ = trained
    model = load_model(path)
    with Catalog(db) as catalog:
        with pytest.raises(EmptySplit, match="genres.safetensors has no held-out validation "
                                             "songs: it was validated by grouped 5-fold"):
            plan_evaluation(catalog, model, path, "mini", "valid")
        with pytest.raises(EmptySplit, match="dataset 'mini' has no songs in split 'test'"):
            plan_evaluation(catalog, model, path, "mini", "test")
        with pytest.raises(NoLabelledSongs, match="in dataset 'nowhere'"):
            plan_evaluation(catalog, model, path, "nowhere")


def test_stored_name_is_the_model_file_stem():
    assert stored_name("models/genres.safetensors") == "genres"
    assert stored_name("models/genres.json") == "genres"
    assert stored_name("models/genres") == "genres"
    assert stored_name("my.model.safetensors") == "my.model"


def test_predictions_of_catalog_songs_are_stored_others_are_returned_only(trained, genre_tree,
                                                                          tmp_path):
    db, _, _, path, _ = trained
    model = load_model(path)
    outside = shutil.copy(genre_tree / "metal" / "metal.00001.wav", tmp_path / "outside.wav")
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"\0" * 100)
    songs = [str(genre_tree / "metal" / "metal.00000.wav"),
             str(genre_tree / "classical" / "classical.00000.wav"), str(outside), str(broken)]
    seen = []
    with Catalog(db) as catalog:
        # A generator: each prediction is stored as it is handed on (nothing before).
        run = predict_and_store(catalog, model, "svc", songs, per_chunk=True,
                                progress=lambda done, total, p: seen.append(done))
        assert seen == [] and catalog.execute(
            "SELECT count(*) FROM predictions WHERE model = 'svc'").fetchone()[0] == 0
        predictions = list(run)
        assert [p.path for p in predictions] == songs and seen == [1, 2, 3, 4]
        assert predictions[3].error and not predictions[3].scores
        assert all(p.error is None for p in predictions[:3])
        assert predictions[0].chunks[0]["start"] == 0.0
        # The same answers predict_songs gives; only songs the catalog holds are stored.
        again = list(predict_songs(model, songs[:3]))
        assert [p.scores for p in predictions[:3]] == [p.scores for p in again]
        for prediction in predictions[:2]:
            track = get_track(catalog, prediction.path)
            assert load_predictions(catalog, track.id, "genres", "svc") == \
                prediction.scores
        assert get_track(catalog, str(outside)) is None
        assert store_prediction(catalog, "svc", model, predictions[2]) is False
        assert store_prediction(catalog, "svc", model, predictions[3]) is False
        stored = catalog.execute("SELECT count(*) FROM predictions WHERE model = 'svc'")
        assert stored.fetchone()[0] == 2
    assert np.isclose(sum(predictions[0].scores.values()), 1.0, atol=1e-5)


def test_a_prediction_stopped_part_way_keeps_the_songs_it_predicted(trained, genre_tree):
    """Each song is stored as it is predicted: a run stopped (Ctrl-C, a crash) after two songs
    has their predictions in the catalog, and none of the song after."""
    db, _, _, path, _ = trained
    songs = [str(genre_tree / genre / f"{genre}.00002.wav")
             for genre in ("metal", "classical", "reggae")]

    class Stop(Exception):
        pass

    def stop_after_two(done: int, total: int, path: str) -> None:
        if done == 2:
            raise Stop

    with Catalog(db) as catalog:
        with pytest.raises(Stop):
            list(predict_and_store(catalog, load_model(path), "part way", songs,
                                   progress=stop_after_two, engine=LocalEngine(1)))
        stored = [load_predictions(catalog, get_track(catalog, song).id, "genres", "part way")
                  for song in songs]
    assert stored[0] and stored[1] and stored[2] is None


def test_a_tags_model_stores_its_task_as_the_kind(trained, genre_tree):
    """Models of other tasks store their predictions under the task's name (a genre model
    under ``genres``, as the pretrained taggers do)."""
    db, X, data, _, _ = trained
    with Catalog(db) as catalog:
        tags = load_labelled(catalog, "genre", "mini")
    tags.task = "mood"
    model = train_model(X, tags, "classic", default_inputs("classic"), seed=0,
                        hyper={"C": 1.0})
    song = str(genre_tree / "reggae" / "reggae.00000.wav")
    with Catalog(db) as catalog:
        (prediction,) = predict_and_store(catalog, model, "moody", [song])
        track = get_track(catalog, song)
        assert load_predictions(catalog, track.id, "mood", "moody") == prediction.scores
        assert load_predictions(catalog, track.id, "genres", "moody") is None
