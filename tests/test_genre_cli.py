"""The ``genre``, ``tags`` and ``embed`` commands on both taggers (issue 11 items 1 and 5; issue 12
items 9 and 12): both taggers by default, ``--model`` by name, a catalog's stored predictions
reused without adding outside files, paths shown relative to the folder given, JSON absolute."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog, tracks
from earmark.catalog.predictions import prediction_models, store_predictions
from earmark.cli import app
from earmark.ingest.scan import scan
from music import gtzan_clip, transcode

pytestmark = pytest.mark.slow

runner = CliRunner()
BOTH_NAME = "MSD_musicnn+MTT_musicnn"


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Six-second excerpts of real GTZAN clips: two songs with the same file name in two album
    folders (the tables must tell them apart), and a classical one."""
    root = tmp_path_factory.mktemp("genre-cli") / "lib"
    for album in ("classical", "metal"):
        (root / album).mkdir(parents=True)
    files = {
        "classical": transcode(gtzan_clip("classical", 1), root / "classical" / "01 Song.mp3",
                               "mp3", seconds=6, start=5),
        "metal": transcode(gtzan_clip("metal", 2), root / "metal" / "01 Song.mp3", "mp3",
                           seconds=6, start=5),
    }
    return root, files


def _genre_json(*args: str) -> list[dict]:
    result = runner.invoke(app, ["genre", *args, "--json", "--min-confidence", "0"])
    assert result.exit_code == 0, result.output
    return _json_lines(result.stdout)


def test_genre_runs_both_taggers_by_default_so_classical_is_reachable(library, tmp_path):
    root, files = library
    rows = {r["path"]: r for r in _genre_json(str(files["classical"]),
                                              "--db", str(tmp_path / "none.sqlite"))}
    row = rows[str(files["classical"])]
    assert row["model"] == BOTH_NAME and row["from_catalog"] is False
    assert row["genres"][0]["genre"] == "classical"
    assert not (tmp_path / "none.sqlite").exists()  # looking up creates no catalog


def test_genre_model_names_one_tagger(library, tmp_path):
    """--model takes a short name or a full name; MSD alone has no classical in its
    vocabulary, MTT alone has."""
    _, files = library
    db = str(tmp_path / "none.sqlite")
    msd = _genre_json(str(files["classical"]), "--model", "msd", "--db", db)[0]
    assert msd["model"] == "MSD_musicnn"
    assert "classical" not in [g["genre"] for g in msd["genres"]]
    mtt = _genre_json(str(files["classical"]), "--model", "MTT_musicnn", "--db", db)[0]
    assert mtt["model"] == "MTT_musicnn" and mtt["genres"][0]["genre"] == "classical"


@pytest.mark.parametrize("command", ["genre", "tags", "embed"])
def test_unknown_model_is_an_error_listing_valid_names(library, tmp_path, command):
    _, files = library
    result = runner.invoke(app, [command, str(files["metal"]), "--model", "nosuchmodel",
                                 "--db", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "nosuchmodel" in errors[0]
    text = " ".join(result.stderr.split())
    assert "MSD_musicnn" in text and "mtt" in text


def test_tags_refuses_models_that_give_genres_not_tags(library, tmp_path):
    _, files = library
    for model in ("both", "learned"):
        result = runner.invoke(app, ["tags", str(files["metal"]), "--model", model,
                                     "--db", str(tmp_path / "c.sqlite")])
        assert result.exit_code == 3
        assert f"no tags from '{model}'" in " ".join(result.stderr.split())


def test_genre_and_tags_reuse_catalog_predictions_and_add_no_outside_file(library, tmp_path):
    """Catalog songs are answered from stored predictions (computed and stored once), files
    outside it are analysed and stay outside, a file changed since its scan is heard again."""
    root, files = library
    outside = transcode(gtzan_clip("jazz", 0), tmp_path / "outside.mp3", "mp3", seconds=6)
    db = tmp_path / "c.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [root])
        metal_id = tracks.get_track(catalog, files["metal"]).id
        assert prediction_models(catalog, "genres") == []

    first = {r["path"]: r for r in _genre_json(str(root), str(outside), "--db", str(db))}
    assert first[str(files["metal"])]["from_catalog"] is True
    assert first[str(outside)]["from_catalog"] is False
    with Catalog(db) as catalog:
        assert tracks.get_track(catalog, outside) is None
        assert len(list(tracks.iter_tracks(catalog))) == 2
        assert BOTH_NAME in prediction_models(catalog, "genres")
        # What is stored is what is shown: overwrite it and the next run shows the new value.
        store_predictions(catalog, metal_id, BOTH_NAME, {"genres": [["polka", 0.8]]})
        store_predictions(catalog, metal_id, "MSD_musicnn", {"tags": {"accordion": 0.9}})

    again = {r["path"]: r for r in _genre_json(str(root), "--db", str(db))}
    assert again[str(files["metal"])]["genres"] == [{"genre": "polka", "confidence": 0.8}]
    tags = runner.invoke(app, ["tags", str(files["metal"]), "--json", "--db", str(db)])
    assert tags.exit_code == 0, tags.output
    assert _json_lines(tags.stdout)[0]["tags"] == [{"tag": "accordion", "probability": 0.9}]

    # an excerpt is never a stored whole-song answer
    excerpt = _genre_json(str(files["metal"]), "--duration", "4", "--db", str(db))[0]
    assert excerpt["from_catalog"] is False and excerpt["genres"][0]["genre"] != "polka"
    # a file rewritten after its scan is heard again, not read from its stale record
    transcode(gtzan_clip("classical", 1), files["metal"], "mp3", seconds=6, start=5)
    try:
        changed = _genre_json(str(files["metal"]), "--db", str(db))[0]
        assert changed["from_catalog"] is False and changed["genres"][0]["genre"] == "classical"
    finally:
        transcode(gtzan_clip("metal", 2), files["metal"], "mp3", seconds=6, start=5)


def test_learned_genres_of_a_file_outside_the_catalog_fail_with_a_reason(library, tmp_path):
    _, files = library
    db = tmp_path / "c.sqlite"
    Catalog(db).close()
    result = runner.invoke(app, ["genre", str(files["metal"]), "--model", "learned",
                                 "--db", str(db)])
    assert result.exit_code == 1
    assert "exist only for catalog songs" in " ".join(result.stderr.split())


def test_tables_show_paths_relative_to_the_folder_given_json_absolute(library, tmp_path,
                                                                     monkeypatch):
    root, files = library
    db = str(tmp_path / "none.sqlite")
    for command in ("genre", "tags"):
        result = runner.invoke(app, [command, str(root), "--db", db],
                               env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        text = result.stdout
        assert os.path.join("classical", "01 Song.mp3") in text
        assert os.path.join("metal", "01 Song.mp3") in text
        assert str(root) not in text  # no long absolute paths when a folder was given
    monkeypatch.chdir(root)
    for command in ("genre", "tags"):
        result = runner.invoke(app, [command, "metal", "--json", "--db", db])
        assert result.exit_code == 0, result.output
        assert _json_lines(result.stdout)[0]["path"] == str(files["metal"])


def test_embed_runs_both_taggers_by_default_and_one_with_model(library, tmp_path):
    root, _ = library
    both_db, one_db = tmp_path / "both.sqlite", tmp_path / "one.sqlite"
    result = runner.invoke(app, ["embed", str(root), "--db", str(both_db), "--json"])
    assert result.exit_code == 0, result.output
    assert {r["model"] for r in _json_lines(result.stdout)} == {BOTH_NAME}
    with Catalog(both_db) as catalog:
        assert prediction_models(catalog, "tags") == ["MSD_musicnn", "MTT_musicnn"]
        assert BOTH_NAME in prediction_models(catalog, "genres")
    result = runner.invoke(app, ["embed", str(root), "--db", str(one_db), "--model", "msd"])
    assert result.exit_code == 0, result.output
    assert "(MSD_musicnn)" in result.stdout
    with Catalog(one_db) as catalog:
        assert prediction_models(catalog, "tags") == ["MSD_musicnn"]
        assert prediction_models(catalog, "genres") == ["MSD_musicnn"]


def test_library_lookups_without_a_precision_use_the_settings_one(library):
    """``song_tags``/``song_genres`` called from Python without ``precision`` load the taggers
    as ``embed_tracks`` does (the settings' precision); they used to hand ``None`` to
    ``load_musicnn``, which refused it."""
    from earmark.tagging.lookup import song_genres, song_tags
    from earmark.tagging.sources import resolve_genre_model

    _, files = library
    [tags] = song_tags([str(files["metal"])], "MSD_musicnn")
    assert tags.status == "analysed" and len(tags.labels) == 50
    [genres] = song_genres([str(files["classical"])], resolve_genre_model(None, "both"))
    assert genres.status == "analysed" and genres.labels[0][0] == "classical"
