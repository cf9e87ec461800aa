"""The Retrain button's library half (issue 14, review page): a background retraining with a
status to poll, and every training's cross-validated quality kept for the dashboard's curve."""

from __future__ import annotations

import os
import time

import pytest

from earmark.catalog import ratings
from earmark.catalog.lock import take_writer_lock
from earmark.catalog.runs import load_runs
from earmark.catalog.tracks import get_track
from earmark.taste.model import taste_model_path, train_taste
from earmark.taste.retrain import Retrainer, quality_history
from taste_builders import rate_by_genre

pytestmark = pytest.mark.slow


def test_retrain_in_the_background_reports_and_records_its_quality(embedded_catalog,
                                                                   excerpt_embeddings):
    catalog = embedded_catalog
    rate_by_genre(catalog, excerpt_embeddings, range(0, 10, 2))  # one excerpt of each genre
    assert quality_history(catalog) == []
    retrainer = Retrainer(catalog.path)
    assert retrainer.status().state == "idle"
    started = retrainer.start()
    assert started.state == "running" and started.started_at is not None
    done = retrainer.wait(120)
    assert done.state == "done", done.reason
    assert done.finished_at >= done.started_at
    assert (done.quality.n_ratings, done.quality.n_liked, done.quality.n_disliked) == (5, 2, 3)
    assert taste_model_path(catalog).exists()  # saved, as earmark taste saves it
    history = quality_history(catalog)
    assert history == [done.quality]
    assert done.to_dict()["quality"]["n_ratings"] == 5

    # The curve gets a point per training, whoever trained, oldest first.
    rate_by_genre(catalog, excerpt_embeddings, range(1, 10, 2))
    again = train_taste(catalog, save=False)
    history = quality_history(catalog)
    assert [q.n_ratings for q in history] == [5, 10]
    assert history[-1].roc_auc_mean == again.info["cv"]["roc_auc_mean"]
    assert history[-1].folds == 4  # 4 liked, 6 disliked: 4 stratified folds
    assert 0.0 <= history[-1].roc_auc_mean <= 1.0
    assert len(load_runs(catalog, "taste")) == 2


def test_retrain_with_too_few_ratings_fails_with_the_reason(embedded_catalog,
                                                          excerpt_embeddings):
    catalog = embedded_catalog
    liked = str(excerpt_embeddings["files"][0])
    ratings.add_rating(catalog, get_track(catalog, liked).id, "like")
    retrainer = Retrainer(catalog.path)
    retrainer.start()
    status = retrainer.wait(60)
    assert status.state == "failed"
    assert "all 1 rated songs are liked" in status.reason
    assert status.quality is None and quality_history(catalog) == []


def test_a_second_start_while_running_joins_the_first(embedded_catalog, excerpt_embeddings):
    catalog = embedded_catalog
    rate_by_genre(catalog, excerpt_embeddings, range(10))
    retrainer = Retrainer(catalog.path)
    first = retrainer.start()
    second = retrainer.start()
    assert second.started_at == first.started_at  # the same training, not a second one
    assert retrainer.wait(120).state == "done"
    assert len(quality_history(catalog)) == 1


def test_retrain_waits_for_a_command_writing_and_says_so(embedded_catalog, excerpt_embeddings):
    catalog = embedded_catalog
    rate_by_genre(catalog, excerpt_embeddings, range(10))
    holder = take_writer_lock(catalog.path)  # as a running 'earmark embed' holds it
    try:
        retrainer = Retrainer(catalog.path)
        retrainer.start()
        deadline = time.monotonic() + 30
        while not retrainer.status().step.startswith("waiting"):
            assert time.monotonic() < deadline, retrainer.status()
            time.sleep(0.05)
        assert retrainer.status().state == "running"
        assert f"earmark (process {os.getpid()}) is writing to this catalog" in \
            retrainer.status().step
        assert quality_history(catalog) == []  # nothing trained while the command runs
    finally:
        holder.release()
    assert retrainer.wait(120).state == "done"
    assert len(quality_history(catalog)) == 1
