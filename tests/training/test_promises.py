"""Training and prediction keep the README's promises (issue 12, items 1-4, 14 and the exit
codes of the training commands): predictions of never-scanned songs reach `tag --model`, the
validation split covers every class (or says how it validated instead) and is recorded so
`evaluate --split valid` scores exactly those songs, tuning reports failed fits, and figures
are bounded and say what they show."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from sklearn.datasets import load_wine
from typer.testing import CliRunner

from earmark.analysis.figures import (
    MAX_TAGGRAM_COLUMNS,
    bin_patches,
    plot_confusion,
    plot_taggram,
)
from earmark.catalog import Catalog
from earmark.cli import app
from earmark.data import LabelledSet, group_keys
from earmark.learn.evaluate import confusion_title
from earmark.learn.train import default_inputs, split_for_training, train_model
from earmark.learn.tune import tune
from earmark.models.io import load_model, save_model

runner = CliRunner()
GENRES10 = tuple("abcdefghij")


def png_size(path) -> tuple[int, int]:
    """``(width, height)`` of a PNG from its IHDR chunk."""
    with open(path, "rb") as handle:
        header = handle.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def genre_set(per_genre: int, genres: tuple[str, ...] = GENRES10) -> LabelledSet:
    """GTZAN-shaped songs without audio (``/g/<genre>/<genre>.0000N.flac``, grouped in blocks
    of 3 clip numbers as GTZAN's are): ``per_genre`` songs per genre."""
    paths = [f"/g/{g}/{g}.{n:05d}.flac" for g in genres for n in range(per_genre)]
    return LabelledSet(track_ids=list(range(len(paths))), paths=paths,
                       targets=[[p.split("/")[2]] for p in paths], kind="single",
                       classes=list(genres), artists=[None] * len(paths),
                       splits=[None] * len(paths), dataset="g")


def separable(data: LabelledSet, seed: int = 0) -> np.ndarray:
    """Song vectors ``(n, 8)`` whose class shows in them, as embeddings of distinct genres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(len(data.classes), 8))
    return centres[data.y()] + rng.normal(size=(len(data), 8))


def test_validation_holds_every_class_when_the_groups_allow_it():
    data = genre_set(15)  # 5 groups per genre: a 20 % hold-out can hold every genre
    split = split_for_training(data, 0.2, seed=0)
    y, groups = data.y(), group_keys(data.paths)
    assert split.missing == []
    assert set(y[split.valid]) == set(y[split.train]) == set(range(10))
    assert not set(groups[split.train]) & set(groups[split.valid])
    assert 20 <= len(split.valid) <= 40
    assert split.how == f"stratified group hold-out, {len(split.valid)} of 150 songs validate"
    again = split_for_training(data, 0.2, seed=0)
    assert np.array_equal(again.valid, split.valid)  # reproducible from the seed


def test_a_hold_out_that_cannot_hold_every_class_names_the_missing_ones():
    # GTZAN mini: 6 clips per genre, 2 groups each; 20 % is 4 groups for 10 genres.
    split = split_for_training(genre_set(6), 0.2, seed=0)
    assert len(split.missing) >= 6 and set(split.missing) <= set(GENRES10)


def test_default_train_falls_back_to_grouped_cv_covering_every_class():
    data = genre_set(6)
    model = train_model(separable(data), data, "head", default_inputs("head"), seed=0,
                        hyper={"C": 1.0})
    training, validation = model.card.training, model.card.metrics["validation"]
    assert training["valid_songs"] == 0 and training["validation_scored_songs"] == 60
    assert "cross-validation" in training["split"] and training["notes"]
    assert all(c["support"] == 6 for c in validation["per_class"].values())
    assert validation["songs"] == 60 and validation["accuracy"] > 0.5
    assert sorted(training["songs"]["train"]) == sorted(data.paths)


def test_a_covering_hold_out_is_recorded_and_never_trained_on():
    data = genre_set(6)
    model = train_model(separable(data), data, "head", default_inputs("head"), seed=0,
                        valid_fraction=0.5, hyper={"C": 1.0})
    training, validation = model.card.training, model.card.metrics["validation"]
    songs = training["songs"]
    assert training["notes"] == [] and len(songs["valid"]) == training["valid_songs"] == 30
    assert not set(songs["train"]) & set(songs["valid"])
    assert len(songs["train"]) + len(songs["valid"]) == 60
    assert all(c["support"] > 0 for c in validation["per_class"].values())
    # the saved estimator is the one scored: it gives the card's validation outputs
    valid = [data.paths.index(p) for p in songs["valid"]]
    predicted = model.estimator.predict_proba(separable(data)[valid]).argmax(axis=1)
    assert np.mean(predicted == data.y()[valid]) == pytest.approx(validation["accuracy"])


@pytest.fixture(scope="module")
def held_out_model(library, tmp_path_factory):
    """A classic model trained with a covering 50 % hold-out: its path and `train`'s result."""
    out = tmp_path_factory.mktemp("models") / "genres"
    result = runner.invoke(app, ["train", "--db", str(library), "--dataset", "mini", "--model",
                                 "classic", "--C", "1", "--valid", "0.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result


@pytest.mark.slow
def test_train_reports_the_validation_size_and_where_the_model_went(held_out_model):
    out, result = held_out_model
    card = load_model(out).card
    held = card.training["valid_songs"]
    assert 0 < held < 18 and card.training["notes"] == []
    assert f"validation: {held} held-out songs" in " ".join(result.stdout.split())
    assert "model written to" in result.stderr
    assert f"{out}.safetensors" in "".join(result.stderr.split())  # Rich may wrap the path


@pytest.mark.slow
def test_evaluate_split_valid_scores_exactly_the_held_out_songs(library, held_out_model,
                                                                tmp_path):
    out, _ = held_out_model
    card = load_model(out).card
    for split in ("valid", "auto"):  # auto: no test split, so the held-out songs
        result = runner.invoke(app, ["evaluate", str(out), "mini", "--db", str(library),
                                     "--split", split, "--report", str(tmp_path / split),
                                     "--json"])
        assert result.exit_code == 0, result.output
        scores = json.loads(result.stdout.splitlines()[-1])
        assert scores["split"] == "valid" and "used to train" not in result.stderr
        assert scores["accuracy"] == pytest.approx(card.metrics["validation"]["accuracy"])
        report = json.loads((tmp_path / split / "report.json").read_text())
        assert report["scores"]["songs"] == card.training["valid_songs"]
    everything = runner.invoke(app, ["evaluate", str(out), "mini", "--db", str(library),
                                     "--split", "all", "--report", str(tmp_path / "all")])
    assert everything.exit_code == 0, everything.output
    trained = 18 - card.training["valid_songs"]
    assert f"{trained} of the 18 songs scored were used to train" in \
        " ".join(everything.stderr.split())


@pytest.mark.slow
def test_a_cross_validated_model_has_no_held_out_songs_to_score(library, tmp_path):
    out = tmp_path / "cv-model"
    trained = runner.invoke(app, ["train", "--db", str(library), "--dataset", "mini",
                                  "--model", "classic", "--C", "1", "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    stderr = " ".join(trained.stderr.split())
    assert "note: validated by grouped" in stderr and "out-of-fold validation: 18 songs" in \
        " ".join(trained.stdout.split())
    valid = runner.invoke(app, ["evaluate", str(out), "mini", "--db", str(library),
                                "--split", "valid"])
    assert valid.exit_code == 3
    assert "has no held-out validation songs" in valid.stderr
    plain = runner.invoke(app, ["evaluate", str(out), "mini", "--db", str(library),
                                "--report", str(tmp_path / "report")])
    assert plain.exit_code == 0 and "18 of the 18 songs scored were used to train" in \
        " ".join(plain.stderr.split())


@pytest.mark.slow
def test_train_without_out_says_the_model_was_not_saved(library, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # without --out the results CSV goes to the current folder
    result = runner.invoke(app, ["train", "--db", str(library), "--dataset", "mini", "--model",
                                 "classic", "--C", "1", "--valid", "0.5"])
    assert result.exit_code == 0, result.output
    assert "the model was not saved; give --out PATH to save it" in \
        " ".join(result.stderr.split())
    cv = runner.invoke(app, ["train", "--db", str(library), "--dataset", "mini", "--model",
                             "classic", "--C", "1", "--cv", "2", "--json"])
    assert cv.exit_code == 0, cv.output
    assert "no model was saved" in " ".join(cv.stderr.split())
    assert json.loads(cv.stdout.splitlines()[-1])["model"] is None
    assert (tmp_path / "results.csv").is_file()


@pytest.mark.slow
def test_predict_stores_never_scanned_songs_for_tag_model(library, held_out_model, excerpt,
                                                          tmp_path):
    """The README flow: train -> predict MODEL NEWFOLDER -> tag NEWFOLDER --model NAME."""
    out, _ = held_out_model
    new = tmp_path / "new"
    for genre in ("jazz", "rock"):  # clips the model never saw, in a folder never scanned
        excerpt(genre, 0, new / genre / f"{genre} song.wav")
    predicted = runner.invoke(app, ["predict", str(out), str(new), "--db", str(library),
                                    "--json"])
    assert predicted.exit_code == 0, predicted.output
    assert "2 new song(s) added to the catalog" in predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert sorted(r["path"] for r in rows) == sorted(
        str(p) for p in new.rglob("*.wav"))  # absolute paths in JSON
    with Catalog(library) as catalog:
        stored = catalog.execute(
            "SELECT t.path, p.kind FROM predictions p JOIN tracks t ON t.id = p.track_id "
            "WHERE p.model = 'genres'").fetchall()
    assert sorted(row[0] for row in stored) == sorted(r["path"] for r in rows)
    assert {row[1] for row in stored} == {"genres"}
    tagged = runner.invoke(app, ["tag", str(new), "--db", str(library), "--model", "genres",
                                 "--min-confidence", "0", "--max-genres", "1", "--dry-run",
                                 "--json"])
    assert tagged.exit_code == 0, tagged.output
    plans = [json.loads(line) for line in tagged.stdout.splitlines()]
    proposed = {p["path"].rsplit("/", 1)[-1]: p["changes"][0]["new"] for p in plans
                if p.get("changes")}
    assert set(proposed) == {"jazz song.wav", "rock song.wav"}
    # a table shows paths relative to the folder given
    table = runner.invoke(app, ["predict", str(out), str(new), "--db", str(library)],
                          terminal_width=200)
    assert "rock/rock song.wav" in table.stdout and str(tmp_path) not in table.stdout


def wine_set() -> tuple[np.ndarray, LabelledSet]:
    X, y = load_wine(return_X_y=True)
    names = ["barolo", "barbera", "grignolino"]
    return X, LabelledSet(
        track_ids=list(range(len(y))), paths=[f"/wine/{names[c]}.{i:05d}.wav"
                                              for i, c in enumerate(y)],
        targets=[[names[c]] for c in y], kind="single", classes=sorted(names),
        artists=[None] * len(y), splits=[None] * len(y))


def test_tune_reports_a_failed_fit_as_failed_with_its_reason_not_a_score(capfd):
    X, data = wine_set()
    with pytest.raises(ValueError) as raised:
        tune(X, data, "head", n_trials=2, n_splits=2, fixed={"hidden": 0})
    message = str(raised.value)
    assert message.startswith("no trial finished (trial 0: ")
    assert "hidden" in message and "trial 1: " in message
    assert "Traceback" not in capfd.readouterr().err  # Optuna's own log stays quiet


def test_tune_trials_carry_state_reason_and_note():
    X, data = wine_set()
    result = tune(X, data, "head", n_trials=2, n_splits=2, fixed={"classifier": "logreg"})
    assert [t["state"] for t in result.trials] == ["complete", "complete"]
    assert all(t["reason"] is None and 0.5 < t["value"] <= 1 for t in result.trials)
    assert all("note" in t for t in result.trials)


@pytest.mark.slow
def test_tune_writes_its_results_beside_the_model_as_train_does(library, tmp_path,
                                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "models" / "tuned"
    result = runner.invoke(app, ["tune", "--db", str(library), "--dataset", "mini", "--model",
                                 "classic", "--trials", "2", "--folds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models" / "results.csv").is_file()
    assert not (tmp_path / "results.csv").exists()
    assert "trials appended to models/results.csv" in result.stderr  # relative to here
    assert "ConvergenceWarning" not in result.stderr and "Traceback" not in result.stderr


def test_taggram_of_a_17_minute_song_is_bounded(tmp_path):
    rng = np.random.default_rng(0)
    tags = [f"tag{i}" for i in range(50)]
    song = rng.random((340, 50))  # 17 minutes of 3 s patches
    width, height = png_size(plot_taggram(song, tags, tmp_path / "song.png"))
    assert width <= 1800 and height < 1500
    mix = rng.random((5000, 50))  # a 4-hour mix: patches are binned
    binned, per = bin_patches(mix)
    assert len(binned) <= MAX_TAGGRAM_COLUMNS and per == 4
    np.testing.assert_allclose(binned[0], mix[:4].mean(axis=0))
    np.testing.assert_allclose(binned.mean(axis=0), mix.mean(axis=0), rtol=1e-3)
    assert png_size(plot_taggram(mix, tags, tmp_path / "mix.png"))[0] <= 1800
    short, _ = bin_patches(song)
    assert short is song


def test_confusion_matrix_says_which_model_dataset_and_split_it_shows(tmp_path):
    meta = {"model": "/m/models/genres.safetensors", "dataset": "gtzan", "split": "valid"}
    assert confusion_title(meta, 14) == "genres.safetensors on gtzan (split valid, 14 songs)"
    matrix = np.array([[5, 1, 0], [0, 4, 2], [1, 0, 6]])
    plot_confusion(matrix, ["blues", "jazz", "rock"], tmp_path / "c.png",
                   confusion_title(meta, 19))
    width, height = png_size(tmp_path / "c.png")
    assert width > height  # the colour bar sits beside the square matrix


def test_training_commands_exit_3_with_one_line_on_missing_inputs(tmp_path):
    empty_db = str(tmp_path / "empty.sqlite")
    folder = tmp_path / "nothing"
    folder.mkdir()
    missing = str(tmp_path / "no-model")
    cases = {
        "dataset import on an empty folder": ["dataset", "import", str(folder)],
        "train without labelled songs": ["train", "--out", str(tmp_path / "m")],
        "train --cv without labelled songs": ["train", "--cv", "3"],
        "tune without labelled songs": ["tune", "--trials", "1"],
        "evaluate a missing model": ["evaluate", missing, "mini"],
        "predict with a missing model": ["predict", missing, str(folder)],
    }
    for case, args in cases.items():
        result = runner.invoke(app, [*args, "--db", empty_db])
        assert result.exit_code == 3, (case, result.output)
        # one message (Rich may wrap it at the terminal's width), never a traceback
        assert result.stderr.startswith("error: ") and result.stderr.count("error:") == 1, \
            (case, result.stderr)
        assert not isinstance(result.exception, Exception) or \
            isinstance(result.exception, SystemExit), (case, result.exception)


def test_a_model_path_may_start_with_a_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    data = genre_set(6)
    model = train_model(separable(data), data, "head", default_inputs("head"), seed=0,
                        hyper={"C": 1.0})
    assert save_model(model, "~/models/genres") == tmp_path / "models" / "genres.safetensors"
    assert load_model("~/models/genres").card.labels == list(GENRES10)
