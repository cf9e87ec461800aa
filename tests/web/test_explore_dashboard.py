"""The explore map and the dashboard (issue 14 items 6 and 7) over the web tests' real clips:
the map's points from real embeddings, coloured by genre, rating and liking, cached; the
dashboard's counts agreeing with the library pages they link to, the genre chart and the taste
model's quality curve."""

from __future__ import annotations

import re
import shutil

import pytest

from earmark.analysis.map import map_cache_path
from earmark.catalog import Catalog, ratings
from earmark.catalog.embeddings import load_embeddings, store_embedding
from earmark.catalog.tracks import iter_tracks
from earmark.ingest.scan import scan
from earmark.taste.model import DEFAULT_EMBEDDING, train_taste
from earmark.web.routes.dashboard import COUNTS


def _ids(catalog_path) -> dict[str, int]:
    with Catalog(catalog_path) as catalog:
        return {t.path.rsplit("/", 1)[-1]: t.id for t in iter_tracks(catalog, status=None)}


def test_map_points_come_from_the_songs_embeddings_with_their_genres(
        client, embedded_catalog_path):
    reply = client.get("/api/map")
    assert reply.status_code == 200, reply.text
    data = reply.json()
    ids = _ids(embedded_catalog_path)
    assert data["count"] == 6 and sorted(data["ids"]) == sorted(ids.values())
    assert all(0 <= v <= 1 and round(v, 4) == v for v in data["x"] + data["y"])
    # Names travel once, each song's genre as an index into them.
    genre = {i: data["genres"][k] for i, k in zip(data["ids"], data["genre"], strict=True)}
    assert (genre[ids["jazz.flac"]], genre[ids["metal.ogg"]]) == ("jazz", "metal")
    assert sorted(data["genres"]) == sorted(set(genre.values()))
    assert data["genre_predicted"] == [0] * 6
    # The page asks for a hovered song's name by its id.
    name = client.get(f"/api/songs/{ids['jazz.flac']}").json()["song"]["name"]
    assert name == "Ada Quartet - Blue Smoke"
    assert data["method"] == "t-SNE of all 6 songs' MSD_musicnn embeddings"
    assert (data["ratings"], data["rating"], data["liking"]) == ([], [-1] * 6, [None] * 6)
    assert "path" not in data and "song" not in data


def test_the_map_is_cached_until_the_embeddings_change(client, embedded_catalog_path):
    first = client.get("/api/map").json()
    with Catalog(embedded_catalog_path) as catalog:
        cache = map_cache_path(catalog, DEFAULT_EMBEDDING)
    stamp = cache.stat().st_mtime_ns
    assert client.get("/api/map").json() == first
    assert cache.stat().st_mtime_ns == stamp
    with Catalog(embedded_catalog_path) as catalog:
        track = next(iter_tracks(catalog))
        _, X = load_embeddings(catalog, DEFAULT_EMBEDDING)
        store_embedding(catalog, track.id, DEFAULT_EMBEDDING, X.mean(axis=0),
                        track.content_hash)
    again = client.get("/api/map").json()
    assert cache.stat().st_mtime_ns != stamp and again["ids"] == first["ids"]


def test_map_colours_follow_ratings_and_predicted_liking(client, embedded_catalog_path):
    ids = _ids(embedded_catalog_path)
    liked = ("jazz.flac", "blues.wav", "classical.mp3")
    for name, track_id in ids.items():
        reply = client.post(f"/api/songs/{track_id}/rating",
                            json={"rating": "like" if name in liked else "dislike"})
        assert reply.status_code == 200, reply.text
    data = client.get("/api/map").json()
    rating = {i: data["ratings"][k] for i, k in zip(data["ids"], data["rating"], strict=True)}
    assert rating[ids["jazz.flac"]] == "like" and rating[ids["metal.ogg"]] == "dislike"
    assert sorted(data["ratings"]) == ["dislike", "like"]
    liking = dict(zip(data["ids"], data["liking"], strict=True))  # whole percent
    assert all(isinstance(p, int) and 0 <= p <= 100 for p in liking.values())
    assert min(liking[ids[n]] for n in liked) > max(
        liking[i] for n, i in ids.items() if n not in liked)


def test_explore_page_has_the_canvas_the_colour_switch_and_says_how_the_map_is_made(client):
    page = client.get("/explore", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert '<canvas id="map"' in page.text and '<audio id="player"' in page.text
    for option in ("genre", "rating", "predicted liking"):
        assert f">{option}</option>" in page.text
    assert "every other song is placed beside its nearest sampled neighbour" in page.text
    assert 'src="/static/explore.js"' in page.text
    assert client.get("/static/explore.js").status_code == 200


def test_an_empty_map_is_an_empty_answer(client):
    data = client.get("/api/map").json()
    assert (data["count"], data["ids"]) == (0, [])


@pytest.fixture
def library(catalog_path, tmp_path) -> dict[str, int]:
    """The web catalog plus a broken file (failed), three songs rated and one song's genre
    tag taken out of the catalog row (untagged); the songs' ids by file name."""
    broken = tmp_path / "extra" / "broken.mp3"
    broken.parent.mkdir()
    broken.write_bytes(b"ID3 not really an mp3")
    with Catalog(catalog_path) as catalog:
        scan(catalog, [broken.parent], verify=False)
    ids = _ids(catalog_path)
    with Catalog(catalog_path) as catalog:
        ratings.add_rating(catalog, ids["jazz.flac"], "like")
        ratings.add_rating(catalog, ids["metal.ogg"], "dislike")
        ratings.add_rating(catalog, ids["blues.wav"], None, stars=5)
        catalog.execute("UPDATE tracks SET genre = NULL WHERE id = ?", (ids["disco.aiff"],))
    return ids


def test_stats_count_songs_failed_untagged_and_ratings(client, library):
    stats = client.get("/api/stats").json()
    assert {k: stats[k] for k in ("songs", "failed", "analysed", "not_analysed", "untagged",
                                  "rated", "liked", "disliked")} == {
        "songs": 7, "failed": 1, "analysed": 0, "not_analysed": 6, "untagged": 1,
        "rated": 3, "liked": 2, "disliked": 1}
    assert dict(map(tuple, stats["genres"])) == {
        "jazz": 1, "classical": 1, "metal": 1, "hiphop": 1, "blues": 1}
    assert stats["taste_quality"] == []


def test_each_count_links_to_the_library_filtered_to_exactly_those_songs(client, library):
    stats = client.get("/api/stats").json()
    page = client.get("/dashboard", headers={"Accept": "text/html"})
    assert page.status_code == 200
    for key, label, href in COUNTS:
        assert f'<a href="{href.replace("&", "&amp;")}"><span class="n" data-count="{key}">' \
               f'{stats[key]}</span>{label}</a>' in page.text
        listed = client.get(f"/api/songs?limit=500&{href.partition('?')[2]}").json()["songs"]
        # Liked counts and lists the 5-star song too (a like or 4-5 stars, as the taste model
        # learns it), in the library as on the dashboard.
        assert len(listed) == stats[key], (key, href)


def test_dashboard_draws_the_genre_chart_with_links_and_the_quality_curve(
        client, embedded_catalog_path):
    ids = _ids(embedded_catalog_path)
    page = client.get("/dashboard").text
    assert "No taste model trained yet" in page
    assert '<a href="/?genre=jazz">' in page and "<title>jazz: 1</title>" in page
    with Catalog(embedded_catalog_path) as catalog:
        for name in ("jazz.flac", "blues.wav", "metal.ogg", "hiphop.m4a"):
            verdict = "like" if name in ("jazz.flac", "blues.wav") else "dislike"
            ratings.add_rating(catalog, ids[name], verdict)
        ratings.add_rating(catalog, ids["classical.mp3"], "like")
        first = train_taste(catalog, save=False)
        ratings.add_rating(catalog, ids["disco.aiff"], "dislike")
        second = train_taste(catalog, save=False)
    page = client.get("/dashboard").text
    curve = re.search(r'<svg class="curve".*?</svg>', page, re.S).group()
    assert curve.count("<circle") == 4  # ROC AUC and accuracy, two retrains each
    for model in (first, second):
        assert f"ROC AUC {model.info['cv']['roc_auc_mean']:.3f}" in curve
    assert "learnt from 6 ratings" in page
    quality = client.get("/api/stats").json()["taste_quality"]
    assert [q["n_ratings"] for q in quality] == [5, 6]


def test_dashboard_script_polls_the_stats(client):
    page = client.get("/dashboard").text
    assert 'data-poll="3"' in page and 'src="/static/dashboard.js"' in page
    script = client.get("/static/dashboard.js").text
    assert 'fetch("/api/stats"' in script and "setInterval(refresh" in script


def test_a_dashboard_of_a_catalog_with_songs_in_a_new_folder(client, catalog_path, web_songs,
                                                               tmp_path):
    """Counts are of the catalog as it is now, each request."""
    before = client.get("/api/stats").json()["songs"]
    extra = tmp_path / "more"
    extra.mkdir()
    shutil.copyfile(web_songs[0], extra / "again.flac")
    with Catalog(catalog_path) as catalog:
        scan(catalog, [extra], verify=False)
    assert client.get("/api/stats").json()["songs"] == before + 1
