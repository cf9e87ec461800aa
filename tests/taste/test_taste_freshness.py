"""The taste model and the library's liking column never go stale.

Whoever trains and saves a taste model (``earmark taste``, ``recommend`` after new ratings, a
review session, the web's Retrain) rescores the library's liking column with it, so ``earmark
list --min-liking`` and the library page say what ``recommend`` says. And a saved model is
retrained when a rated song's embedding changes (its file re-embedded), never when only
unrated songs are embedded.

Real catalogs of short real GTZAN excerpts with their real MSD_musicnn embeddings (conftest's
``excerpt_embeddings``); files changed for real, rescanned and re-embedded by ``embed_tracks``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.analysis.embed import embed_tracks
from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import load_embeddings, store_embedding, track_embeddings
from earmark.catalog.predictions import load_predictions
from earmark.catalog.runs import load_runs
from earmark.catalog.search import LIKING_KIND, LIKING_MODEL
from earmark.catalog.tracks import get_track
from earmark.cli import app
from earmark.ingest.scan import add_file, scan
from earmark.taste.liking import current_taste, load_taste_model, saved_taste, taste_model_path
from earmark.taste.model import DEFAULT_EMBEDDING, train_taste
from earmark.taste.retrain import Retrainer
from music import asc_songs, gtzan_clip, transcode
from taste_builders import rate_by_genre

pytestmark = pytest.mark.slow

runner = CliRunner()
#: Excerpt indices (conftest's EXCERPTS: jazz, classical, metal, disco, hiphop; two each)
#: rated first (4 liked, 2 disliked), rated later (disco: disliked), never rated (hiphop).
FIRST, LATER, UNRATED = range(6), (6, 7), (8, 9)


def _run(*args) -> list[dict]:
    """``earmark ARGS --json``: its JSON lines; the command must succeed."""
    result = runner.invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def _column(catalog: Catalog, track_ids) -> np.ndarray:
    """The liking column's value for each of ``track_ids`` (NaN where it has none)."""
    values = [load_predictions(catalog, i, LIKING_KIND, LIKING_MODEL) for i in track_ids]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _library_scores(catalog: Catalog, taste) -> tuple[list[int], np.ndarray]:
    """``(track ids, P(like))`` of every song with an embedding, under ``taste``."""
    ids, X = load_embeddings(catalog, DEFAULT_EMBEDDING)
    return ids, taste.like_probability(X)


@pytest.fixture
def own_catalog(tmp_path, excerpt_embeddings) -> Catalog:
    """A catalog of private copies of the excerpts (so a test may change a file) with the
    excerpts' real embeddings, each stored with its copy's content hash."""
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        for path, vector in zip(excerpt_embeddings["files"], excerpt_embeddings["X"],
                                strict=True):
            copy = tmp_path / "music" / path.parent.name / path.name
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            track = add_file(catalog, copy, verify=False)
            store_embedding(catalog, track.id, DEFAULT_EMBEDDING, vector, track.content_hash)
        yield catalog


def _copy_of(catalog: Catalog, excerpts: dict, index: int) -> Path:
    """The private copy (:func:`own_catalog`) of the excerpt at ``index``."""
    original = excerpts["files"][index]
    return catalog.path.parent / "music" / original.parent.name / original.name


def _rate_copies(catalog: Catalog, excerpts: dict, indices) -> None:
    """Rate the copies of the excerpts at ``indices`` as conftest's listener would."""
    for i in indices:
        verdict = "like" if excerpts["genres"][i] in excerpts["liked"] else "dislike"
        ratings.add_rating(catalog, get_track(catalog, _copy_of(catalog, excerpts, i)).id,
                           verdict)


def _replace_content(catalog: Catalog, path: Path) -> None:
    """Give ``path`` other music (a blues excerpt), rescan it and embed it again for real."""
    transcode(gtzan_clip("blues", 3), path, "flac", seconds=6.0, start=10.0)
    scan(catalog, [path])
    track = get_track(catalog, path)
    report = embed_tracks(catalog, DEFAULT_EMBEDDING, [track.id])
    assert not report.failed, report.failed


# --- the liking column follows every saved model ----------------------------------------------


def test_recommend_after_new_ratings_rescored_the_liking_column_list_shows(
        embedded_catalog, excerpt_embeddings):
    """The tester's steps: ``earmark taste``, rate two more, ``earmark recommend`` (which
    retrains): ``list`` then shows the new model's P(like), as recommend does, and
    ``--min-liking`` filters on it."""
    catalog = embedded_catalog
    db = catalog.path
    rate_by_genre(catalog, excerpt_embeddings, FIRST)
    _run("taste", "--db", db)
    first = load_taste_model(taste_model_path(catalog))
    ids, first_scores = _library_scores(catalog, first)
    listed = {row["id"]: row["liking"] for row in _run("list", "--db", db)}
    assert [listed[i] for i in ids] == [round(p, 3) for p in first_scores.tolist()]

    rate_by_genre(catalog, excerpt_embeddings, LATER)
    recommended = _run("recommend", "--db", db, "--top", "10")
    second = load_taste_model(taste_model_path(catalog))
    assert second.info["trained_at"] > first.info["trained_at"]  # recommend retrained
    assert second.info["cv"]["n_ratings"] == len(FIRST) + len(LATER)
    ids, scores = _library_scores(catalog, second)
    assert np.abs(scores - first_scores).max() > 0.01  # the two models disagree somewhere
    np.testing.assert_allclose(_column(catalog, ids), scores, rtol=0, atol=6e-6)
    listed = {row["id"]: row["liking"] for row in _run("list", "--db", db)}
    assert [listed[i] for i in ids] == [round(p, 3) for p in scores.tolist()]
    # What recommend said of each unrated song is what the library's column says.
    by_path = {get_track(catalog, row["path"]).id: row["score"] for row in recommended}
    assert len(by_path) == len(UNRATED)
    for track_id, score in by_path.items():
        assert listed[track_id] == pytest.approx(score, abs=1e-3)

    # --min-liking keeps exactly the songs the new model gives at least that much: a
    # threshold halfway between two neighbouring scores, away from both.
    ordered = np.sort(scores)
    threshold = float((ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2)
    kept = {row["id"] for row in _run("list", "--db", db, "--min-liking", f"{threshold:.6f}")}
    assert kept == {i for i, p in zip(ids, scores.tolist(), strict=True) if p >= threshold}


def test_each_way_of_training_a_saved_model_rescores_the_column(embedded_catalog,
                                                                excerpt_embeddings):
    """current_taste (recommend, playlist, radio, the map), train_taste, the web's
    Retrainer: after each, the column is the saved model's P(like) of every song."""
    catalog = embedded_catalog
    rate_by_genre(catalog, excerpt_embeddings, FIRST)
    taste = current_taste(catalog)
    ids, scores = _library_scores(catalog, taste)
    assert len(ids) == len(excerpt_embeddings["files"])
    np.testing.assert_allclose(_column(catalog, ids), scores, rtol=0, atol=6e-6)

    rate_by_genre(catalog, excerpt_embeddings, LATER[:1])
    taste = train_taste(catalog)
    np.testing.assert_allclose(_column(catalog, ids), _library_scores(catalog, taste)[1],
                               rtol=0, atol=6e-6)

    rate_by_genre(catalog, excerpt_embeddings, LATER[1:])
    retrainer = Retrainer(catalog.path)
    retrainer.start()
    status = retrainer.wait(120)
    assert status.state == "done", status.reason
    assert status.step == f"trained; {len(ids)} songs scored"
    taste = load_taste_model(taste_model_path(catalog))
    assert taste.info["cv"]["n_ratings"] == len(FIRST) + len(LATER)
    np.testing.assert_allclose(_column(catalog, ids), _library_scores(catalog, taste)[1],
                               rtol=0, atol=6e-6)


def test_a_model_that_is_not_saved_leaves_the_column_alone(embedded_catalog,
                                                          excerpt_embeddings):
    """``train_taste(save=False)`` (a bench, a what-if) is not the catalog's taste: the column
    keeps the saved model's scores."""
    catalog = embedded_catalog
    rate_by_genre(catalog, excerpt_embeddings, FIRST)
    saved = current_taste(catalog)
    ids, scores = _library_scores(catalog, saved)
    rate_by_genre(catalog, excerpt_embeddings, LATER)
    unsaved = train_taste(catalog, save=False)
    assert np.abs(_library_scores(catalog, unsaved)[1] - scores).max() > 0.01
    np.testing.assert_allclose(_column(catalog, ids), scores, rtol=0, atol=6e-6)


# --- a rated song's new embedding retrains; nothing else does ---------------------------------


def test_a_rated_song_re_embedded_after_its_file_changed_retrains(own_catalog,
                                                                  excerpt_embeddings):
    catalog = own_catalog
    _rate_copies(catalog, excerpt_embeddings, FIRST)
    first = current_taste(catalog)
    assert saved_taste(catalog) is not None
    rated = _copy_of(catalog, excerpt_embeddings, 0)  # a liked jazz excerpt
    track_id = get_track(catalog, rated).id
    old_vector = load_embeddings(catalog, DEFAULT_EMBEDDING, [track_id])[1][0]

    _replace_content(catalog, rated)
    new_vector = load_embeddings(catalog, DEFAULT_EMBEDDING, [track_id])[1][0]
    assert not np.array_equal(new_vector, old_vector)
    assert saved_taste(catalog) is None  # the saved model learnt from the old vector
    second = current_taste(catalog)
    assert second.info["trained_at"] > first.info["trained_at"]
    assert second.fingerprint != first.fingerprint
    assert len(load_runs(catalog, "taste")) == 2
    # The new model is what training on the new vector gives (up to the recency weights,
    # which move with the clock), and it is now current.
    ids, scores = _library_scores(catalog, second)
    again = _library_scores(catalog, train_taste(catalog, save=False))[1]
    np.testing.assert_allclose(again, scores, rtol=0, atol=1e-4)
    assert saved_taste(catalog).fingerprint == second.fingerprint
    # ... and the column follows it.
    np.testing.assert_allclose(_column(catalog, ids), scores, rtol=0, atol=6e-6)


def test_embed_full_replacing_a_rated_songs_sampled_vector_retrains(own_catalog,
                                                                    excerpt_embeddings):
    """A full-length rated song is embedded from a sample of its patches; ``embed --full``
    (``sampling=None``) then stores the every-patch vector: the model is retrained on it."""
    catalog = own_catalog
    song = transcode(asc_songs()[0], catalog.path.parent / "music" / "long.flac", "flac",
                     seconds=110.0)  # long enough to be sampled (16 of 36 patches)
    track = add_file(catalog, song, verify=False)
    assert not embed_tracks(catalog, DEFAULT_EMBEDDING, [track.id]).failed
    assert track_embeddings(catalog, track.id)[0]["analysis"].startswith("sampled")
    ratings.add_rating(catalog, track.id, "like")
    _rate_copies(catalog, excerpt_embeddings, FIRST)
    first = current_taste(catalog)

    assert not embed_tracks(catalog, DEFAULT_EMBEDDING, [track.id], sampling=None).failed
    assert track_embeddings(catalog, track.id)[0]["analysis"] == "full"
    assert saved_taste(catalog) is None
    second = current_taste(catalog)
    assert second.info["trained_at"] > first.info["trained_at"]
    assert second.fingerprint != first.fingerprint
    assert saved_taste(catalog) is not None


def test_a_rated_song_whose_file_changed_but_is_not_re_embedded_yet_retrains_without_it(
        own_catalog, excerpt_embeddings):
    """After a rescan the rated song's embedding no longer matches its file: the model that
    learnt from it is stale, and the retrained one leaves the song out until re-embedded."""
    catalog = own_catalog
    _rate_copies(catalog, excerpt_embeddings, FIRST)
    current_taste(catalog)
    rated = _copy_of(catalog, excerpt_embeddings, 4)  # a disliked metal excerpt
    transcode(gtzan_clip("blues", 3), rated, "flac", seconds=6.0, start=10.0)
    scan(catalog, [rated])
    assert saved_taste(catalog) is None
    retrained = current_taste(catalog)
    assert retrained.info["without_embedding"] == 1
    assert retrained.info["cv"]["n_ratings"] == len(FIRST) - 1
    assert saved_taste(catalog) is not None  # and now it is current


def test_embedding_unrated_songs_does_not_retrain(own_catalog, excerpt_embeddings, tmp_path):
    """An unrated song's file changed and re-embedded, a new unrated song embedded, and a
    rated song embedded by another model: the saved model stays current."""
    catalog = own_catalog
    _rate_copies(catalog, excerpt_embeddings, FIRST)
    first = current_taste(catalog)
    fingerprint = ratings.ratings_fingerprint(catalog, DEFAULT_EMBEDDING)
    other_model = ratings.ratings_fingerprint(catalog, "MTT_musicnn")

    _replace_content(catalog, _copy_of(catalog, excerpt_embeddings, UNRATED[0]))
    new = tmp_path / "music" / "blues" / "blues 5.flac"
    new.parent.mkdir(parents=True, exist_ok=True)
    transcode(gtzan_clip("blues", 5), new, "flac", seconds=6.0, start=10.0)
    scan(catalog, [new])
    report = embed_tracks(catalog, DEFAULT_EMBEDDING, [get_track(catalog, new).id])
    assert not report.failed, report.failed
    rated = get_track(catalog, _copy_of(catalog, excerpt_embeddings, 0))
    report = embed_tracks(catalog, "MTT_musicnn", [rated.id])
    assert not report.failed, report.failed

    assert ratings.ratings_fingerprint(catalog, DEFAULT_EMBEDDING) == fingerprint
    kept = saved_taste(catalog)
    assert kept is not None and kept.info["trained_at"] == first.info["trained_at"]
    assert current_taste(catalog).info["trained_at"] == first.info["trained_at"]
    assert len(load_runs(catalog, "taste")) == 1
    # A taste model on MTT_musicnn embeddings would learn from the new one: its moved.
    assert ratings.ratings_fingerprint(catalog, "MTT_musicnn") != other_model
