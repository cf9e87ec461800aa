"""The review page (issue 14 item 4) through FastAPI's test client: the active-learning batch,
ratings saved at once, Retrain in the background with its status and stored quality, and Top
picks that change after a retrain. The catalog: the six web songs plus six more real clips,
all with real MSD_musicnn embeddings."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from websupport import ORIGIN, PORT, SiteClient, musicnn_embeddings

from earmark.catalog import Catalog
from earmark.catalog.candidates import add_candidates, update_candidate
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.ratings import rating_history
from earmark.catalog.runs import load_runs
from earmark.catalog.tracks import iter_tracks
from earmark.ingest.scan import add_file
from earmark.taste.retrain import quality_history
from earmark.web import create_app
from music import gtzan_clip, transcode

#: (GTZAN genre, clip, artist) of the six songs added to the web songs.
MORE = [("jazz", 5, "Cole Trio"), ("classical", 5, "Vienna Strings"), ("metal", 5, "Rust"),
        ("rock", 5, "Highway"), ("pop", 5, "Neon"), ("reggae", 5, "Island Sound")]


@pytest.fixture(scope="module")
def more_songs(tmp_path_factory) -> tuple[list[Path], np.ndarray]:
    """Six more 5 s real clips (artist tags set) and their MSD_musicnn embeddings."""
    folder = tmp_path_factory.mktemp("more-music")
    files = [transcode(gtzan_clip(genre, n), folder / f"{genre}{n}.ogg", "ogg", seconds=5.0,
                       start=10.0, extra=["-metadata", f"artist={artist}",
                                          "-metadata", f"title={genre} {n}"])
             for genre, n, artist in MORE]
    return files, musicnn_embeddings(files)


@pytest.fixture
def review_catalog(embedded_catalog_path, more_songs) -> Path:
    files, X = more_songs
    with Catalog(embedded_catalog_path) as catalog:
        for path, vector in zip(files, X, strict=True):
            track = add_file(catalog, path, verify=False)
            store_embedding(catalog, track.id, "MSD_musicnn", vector, track.content_hash)
    return embedded_catalog_path


@pytest.fixture
def site(review_catalog, tmp_path):
    app = create_app(review_catalog, host="127.0.0.1", port=PORT, cache_dir=tmp_path / "cache")
    with SiteClient(app, base_url=ORIGIN) as client:
        yield client


def _ids_by_genre(path: Path) -> dict[str, list[int]]:
    """Track ids per GTZAN genre, from the file names (``jazz.flac``, ``jazz3.ogg``...)."""
    found: dict[str, list[int]] = {}
    with Catalog(path) as catalog:
        for track in iter_tracks(catalog):
            found.setdefault(Path(track.path).stem.rstrip("0123456789"), []).append(track.id)
    return found


def _rate(site, ids_and_answers, source="review"):
    for track_id, answer in ids_and_answers:
        reply = site.post(f"/api/songs/{track_id}/rating", json={"rating": answer,
                                                                  "source": source})
        assert reply.status_code == 200, reply.text


def _retrain(site) -> dict:
    started = site.post("/api/review/retrain")
    assert started.status_code == 202
    assert started.json()["state"] in ("running", "done")
    deadline = time.monotonic() + 120
    while (status := site.get("/api/review/retrain").json())["state"] == "running":
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


def test_review_page_shows_a_batch_the_keys_and_retrain(site):
    page = site.get("/review?size=4", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert html.count("data-review=") == 4
    for key in ("space", "L", "D", "S", "1", "5", "←", "→"):
        assert f"<kbd>{key}</kbd>" in html
    assert 'id="retrain"' in html and 'id="picks"' in html and 'src="/static/review.js"' in html
    assert "no taste model trained yet" in html
    assert site.get("/static/review.js").status_code == 200


def test_each_batch_leaves_out_what_was_rated(site, review_catalog):
    first = site.get("/api/review/batch?size=4").json()
    assert first["cold_start"] is True and first["strategy"] == "mixed"
    ids = [s["id"] for s in first["songs"]]
    assert len(set(ids)) == 4
    _rate(site, zip(ids, ("like", "dislike", "skip", "5"), strict=True))
    with Catalog(review_catalog) as catalog:
        stored = {r.track_id: (r.verdict, r.stars, r.source) for r in rating_history(catalog)}
    assert stored == {ids[0]: ("like", None, "review"), ids[1]: ("dislike", None, "review"),
                      ids[2]: ("skip", None, "review"), ids[3]: (None, 5, "review")}
    second = site.get("/api/review/batch?size=20").json()
    assert second["cold_start"] is False  # one like and one dislike guide it now
    rest = [s["id"] for s in second["songs"]]
    assert len(rest) == 8 and not set(rest) & set(ids)
    assert all(0.0 <= s["p_like"] <= 1.0 for s in second["songs"])
    _rate(site, [(i, "skip") for i in rest])
    empty = site.get("/api/review/batch").json()
    assert empty["songs"] == [] and "are rated (or skipped) already" in empty["reason"]


def test_retrain_reports_its_quality_stores_it_and_changes_the_top_picks(site, review_catalog):
    genre = _ids_by_genre(review_catalog)
    assert site.get("/api/review/picks").json()["songs"] == []  # no model yet
    # Round 1: likes jazz and classical, dislikes metal, hip-hop and disco.
    _rate(site, [(genre["jazz"][0], "like"), (genre["classical"][0], "like"),
                 (genre["metal"][0], "dislike"), (genre["hiphop"][0], "dislike"),
                 (genre["disco"][0], "dislike")])
    status = _retrain(site)
    assert status["state"] == "done", status
    quality = status["quality"]
    assert (quality["n_ratings"], quality["n_liked"], quality["n_disliked"]) == (5, 2, 3)
    assert quality["folds"] == 2 and 0.0 <= quality["roc_auc_mean"] <= 1.0
    assert status["history"][-1] == quality  # kept for the dashboard's curve
    before = site.get("/api/review/picks").json()["songs"]
    assert len(before) == 7  # every unrated song, best first
    scores = [s["score"] for s in before]
    assert scores == sorted(scores, reverse=True)
    # The library's liking column follows the model.
    library = {s["id"]: s["liking"] for s in site.get("/api/songs?limit=100").json()["songs"]}
    assert all(library[s["id"]] == pytest.approx(s["score"], abs=1e-4) for s in before)

    # Round 2: the listener turns out to like loud music after all.
    _rate(site, [(genre["metal"][1], "like"), (genre["rock"][0], "like"),
                 (genre["jazz"][1], "dislike"), (genre["classical"][1], "dislike")])
    again = _retrain(site)
    assert again["state"] == "done" and again["quality"]["n_ratings"] == 9
    after = site.get("/api/review/picks").json()["songs"]
    assert [s["id"] for s in after] != [s["id"] for s in before]
    assert {s["id"] for s in after} == {s["id"] for s in before} - {
        genre["metal"][1], genre["rock"][0], genre["jazz"][1], genre["classical"][1]}
    with Catalog(review_catalog) as catalog:
        assert [q.n_ratings for q in quality_history(catalog)] == [5, 9]
        assert len(load_runs(catalog, "taste")) == 2
    page = site.get("/review", headers={"Accept": "text/html"}).text
    assert "9 ratings (4 liked, 5 disliked): cross-validated ROC-AUC" in page


def test_retrain_with_too_few_ratings_says_why(site, review_catalog):
    genre = _ids_by_genre(review_catalog)
    _rate(site, [(genre["jazz"][0], "like")])
    status = _retrain(site)
    assert status["state"] == "failed"
    assert "all 1 rated songs are liked" in status["reason"]
    assert status["history"] == []


def test_retrain_is_refused_without_the_csrf_token(site, review_catalog):
    reply = site.post("/api/review/retrain", headers={"X-CSRF-Token": "forged"})
    assert reply.status_code == 403
    assert site.get("/api/review/retrain").json()["state"] == "idle"


def test_the_discover_inbox_shows_on_the_review_page(site, review_catalog):
    genre = _ids_by_genre(review_catalog)
    empty = site.get("/review", headers={"Accept": "text/html"}).text
    assert 'id="inbox"' not in empty  # nothing discovered: no section
    with Catalog(review_catalog) as catalog:
        [first, second] = add_candidates(catalog, [
            {"url": "http://127.0.0.1:9/a", "source": "test", "title": "Found Jazz",
             "uploader": "Someone"},
            {"url": "http://127.0.0.1:9/b", "source": "test", "title": "Found Pop"}])
        update_candidate(catalog, first, status="inbox", track_id=genre["pop"][0], score=0.3,
                         file="/staging/a.ogg", reason="close to liked songs")
        update_candidate(catalog, second, status="inbox", track_id=genre["reggae"][0],
                         score=0.8, file="/staging/b.ogg")
    listed = site.get("/api/review/inbox").json()["candidates"]
    assert [c["candidate"] for c in listed] == [f"c{second}", f"c{first}"]  # best first
    assert listed[1] == {"candidate": f"c{first}", "id": genre["pop"][0],
                         "title": "Found Jazz", "uploader": "Someone", "score": 0.3,
                         "source": "test", "url": "http://127.0.0.1:9/a",
                         "reason": "close to liked songs"}
    page = site.get("/review", headers={"Accept": "text/html"}).text
    assert 'id="inbox"' in page and "Found Jazz" in page and "Found Pop" in page
    assert f'data-play="{genre["pop"][0]}"' in page
