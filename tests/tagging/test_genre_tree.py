"""The canonical genre tree (issue 11 item 6): a documented default hierarchy, `--coarse` writes
parents, `--prefer-specific` the deepest, a user's vocabulary file extends or replaces the tree,
and written values use the canonical spelling (read back with ffprobe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog
from earmark.catalog.predictions import store_predictions
from earmark.cli import app
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file
from earmark.tagging.policy import ancestors, choose_genres, default_config_text, load_policy

runner = CliRunner()
MODEL = "test-classifier"
MIXED = [("alternative rock", 0.6), ("rock", 0.5), ("techno", 0.4)]


def test_default_tree_is_documented_and_holds_the_usual_parents():
    text = json.loads(default_config_text())
    assert "parents" in text["_comment"] and "--coarse" in text["_comment"]
    policy = load_policy()
    for child, parent in (("Alternative Rock", "Rock"), ("House", "Electronic"),
                          ("Techno", "Electronic"), ("Heavy Metal", "Metal")):
        assert policy.parents[child] == parent
    assert ancestors("Deep House", policy) == ["House", "Electronic"]
    canonical = set(policy.canonical)
    assert {n for pair in policy.parents.items() for n in pair} <= canonical


def test_as_predicted_coarse_and_specific():
    policy = load_policy().with_(max_values=3)
    assert choose_genres(MIXED, policy) == [
        ("Alternative Rock", 0.6), ("Rock", 0.5), ("Techno", 0.4)]
    assert choose_genres(MIXED, policy.with_(granularity="coarse")) == [
        ("Rock", 0.6), ("Electronic", 0.4)]
    assert choose_genres(MIXED, policy.with_(granularity="specific")) == [
        ("Alternative Rock", 0.6), ("Techno", 0.4)]


def test_a_user_tree_extends_or_replaces_the_default(tmp_path):
    extend = tmp_path / "extend.json"
    extend.write_text(json.dumps({"parents": {"Shoegaze": "Alternative Rock", "Dance": None}}))
    policy = load_policy(extend)
    assert ancestors("Shoegaze", policy) == ["Alternative Rock", "Rock"]
    assert "Shoegaze" in policy.canonical and "Dance" not in policy.parents
    assert policy.parents["Techno"] == "Electronic"  # the rest of the default stays

    replace = tmp_path / "replace.toml"
    replace.write_text('replace_parents = true\n[parents]\n"Techno" = "Dance"\n')
    policy = load_policy(replace)
    assert policy.parents == {"Techno": "Dance"}

    short = tmp_path / "short.json"  # a short vocabulary prunes the tree to its names
    short.write_text(json.dumps({"canonical": ["Rock", "Grunge", "Jazz"]}))
    assert load_policy(short).parents == {"Grunge": "Rock"}  # via Alternative Rock


def test_a_tree_with_a_cycle_is_refused(tmp_path):
    loop = tmp_path / "loop.json"
    loop.write_text(json.dumps({"parents": {"Rock": "Grunge"}}))
    with pytest.raises(EarmarkError, match="cycle: .*Rock"):
        load_policy(loop)
    result = runner.invoke(app, ["tag", "--config", str(loop), str(tmp_path), "--dry-run"])
    assert result.exit_code == 2 and "cycle" in result.output


@pytest.fixture
def song(music_copy, tmp_path) -> tuple[Path, Path]:
    path = music_copy("flac", "song.flac")
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        track = add_file(catalog, path, verify=False)
        store_predictions(catalog, track.id, MODEL, {"genres": [
            ["alternative rock", 0.6], ["rock", 0.5], ["hip hop", 0.45]]})
    return path, db


@pytest.mark.parametrize(("options", "written"), [
    ([], "Alternative Rock;Rock;Hip-Hop"),
    (["--coarse"], "Rock;Hip-Hop"),
    (["--prefer-specific"], "Alternative Rock;Hip-Hop"),
])
def test_written_genres_follow_the_tree_in_canonical_spelling(song, probe, options, written):
    path, db = song
    result = runner.invoke(app, ["tag", "--db", str(db), "--model", MODEL, str(path), "--yes",
                                 "--max-genres", "3", *options])
    assert result.exit_code == 0, result.output
    assert probe(path)["genre"] == written


def test_coarse_and_prefer_specific_together_is_a_usage_error(song):
    path, db = song
    result = runner.invoke(app, ["tag", "--db", str(db), str(path), "--coarse",
                                 "--prefer-specific"])
    assert result.exit_code == 2 and "contradict" in result.output
