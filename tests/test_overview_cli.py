"""`earmark stats` and `earmark map`, the command-line faces of the dashboard's counts and the
explore map: a real catalog of real files, read back from the commands' JSON and the PNG."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.analysis.map import map_cache_path
from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.tracks import get_track
from earmark.cli import app
from earmark.ingest.scan import scan
from earmark.taste.model import DEFAULT_EMBEDDING, train_taste

runner = CliRunner()


@pytest.fixture
def library(music_files, tmp_path):
    """A catalog of six real songs (two rated, five with embeddings) and one broken file:
    ``(db, [song paths])``."""
    folder = tmp_path / "music"
    folder.mkdir()
    songs = [shutil.copyfile(music_files["ogg"], folder / f"song {i}.ogg") for i in range(6)]
    (folder / "broken.flac").write_bytes(b"fLaC not really")
    db = tmp_path / "catalog.sqlite"
    rng = np.random.default_rng(0)
    with Catalog(db) as catalog:
        scan(catalog, [folder], verify=False)
        for song in songs[:5]:
            track = get_track(catalog, song)
            store_embedding(catalog, track.id, DEFAULT_EMBEDDING, rng.normal(size=8),
                            track.content_hash)
        ratings.add_rating(catalog, get_track(catalog, songs[0]).id, "like")
        ratings.add_rating(catalog, get_track(catalog, songs[1]).id, "dislike")
    return db, songs


def test_stats_json_counts_the_library(library):
    db, _ = library
    result = runner.invoke(app, ["stats", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("songs", "failed", "analysed", "not_analysed", "untagged",
                                 "rated", "liked", "disliked")} == {
        "songs": 7, "failed": 1, "analysed": 5, "not_analysed": 1, "untagged": 6,
        "rated": 2, "liked": 1, "disliked": 1}


def test_stats_table_names_each_count(library):
    db, _ = library
    result = runner.invoke(app, ["stats", "--db", str(db)])
    assert result.exit_code == 0, result.output
    for line in ("analysed (MSD_musicnn)", "not analysed yet", "failed", "without a genre tag",
                 "liked", "disliked"):
        assert line in result.stdout


def test_stats_of_an_empty_catalog_says_to_scan(tmp_path):
    db = tmp_path / "c.sqlite"
    Catalog(db).close()
    result = runner.invoke(app, ["stats", "--db", str(db)])
    assert result.exit_code == 3
    assert result.stderr.strip() == ("error: the catalog has no songs; scan a folder first "
                                     "(`earmark scan FOLDER`)")


def test_map_json_gives_every_embedded_song_a_place_and_caches_the_layout(library):
    db, songs = library
    result = runner.invoke(app, ["map", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(s) for s in songs[:5]]
    assert all(0 <= line["x"] <= 1 and 0 <= line["y"] <= 1 for line in lines)
    assert [line["rating"] for line in lines] == ["like", "dislike", None, None, None]
    with Catalog(db) as catalog:
        assert map_cache_path(catalog, DEFAULT_EMBEDDING).is_file()


def test_map_out_saves_a_png_coloured_as_asked(library, tmp_path):
    db, _ = library
    out = tmp_path / "maps" / "map.png"
    result = runner.invoke(app, ["map", "--db", str(db), "--out", str(out),
                                 "--colour", "rating"])
    assert result.exit_code == 0, result.output
    assert "5 songs on the map: t-SNE of all 5 songs' MSD_musicnn embeddings" in result.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_map_refuses_an_unknown_colour_before_any_work(library):
    db, _ = library
    result = runner.invoke(app, ["map", "--db", str(db), "--colour", "mood"])
    assert result.exit_code == 2
    assert "--colour takes genre, rating, liking, not 'mood'" in result.stderr


def test_stats_gives_the_taste_models_quality_after_every_retrain(music_files, tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    songs = [shutil.copyfile(music_files["ogg"], folder / f"song {i}.ogg") for i in range(8)]
    db = tmp_path / "catalog.sqlite"
    rng = np.random.default_rng(1)
    with Catalog(db) as catalog:
        scan(catalog, [folder], verify=False)
        ids = [get_track(catalog, s).id for s in songs]
        for i, (track_id, song) in enumerate(zip(ids, songs, strict=True)):
            store_embedding(catalog, track_id, DEFAULT_EMBEDDING,
                            rng.normal(size=8) + (3 if i % 2 else -3),
                            get_track(catalog, song).content_hash)
        for i in range(6):
            ratings.add_rating(catalog, ids[i], "like" if i % 2 else "dislike")
        first = train_taste(catalog, save=False)
        for i in (6, 7):
            ratings.add_rating(catalog, ids[i], "like" if i % 2 else "dislike")
        second = train_taste(catalog, save=False)
    result = runner.invoke(app, ["stats", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    quality = json.loads(result.stdout)["taste_quality"]
    assert [q["n_ratings"] for q in quality] == [6, 8]
    assert [q["roc_auc_mean"] for q in quality] == [first.info["cv"]["roc_auc_mean"],
                                                    second.info["cv"]["roc_auc_mean"]]
    table = runner.invoke(app, ["stats", "--db", str(db)]).stdout
    assert f"8 ratings, ROC AUC {second.info['cv']['roc_auc_mean']:.2f}" in table
