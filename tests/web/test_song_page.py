"""The song page (issue 14 item 3) through FastAPI's test client: the page, its JSON, the
rating endpoint (saved at once, CSRF-protected), labels, pictures, similar songs and the radio
with its M3U8 download, over a real catalog with real MSD_musicnn embeddings."""

from __future__ import annotations

from itertools import pairwise

import pytest
from fastapi.testclient import TestClient
from websupport import ORIGIN, PORT, SiteClient

from earmark.catalog import Catalog
from earmark.catalog.ratings import rating_history
from earmark.catalog.tracks import iter_tracks
from earmark.ingest.scan import add_file
from earmark.models.registry import BOTH
from earmark.tagging.song_images import DRAWING
from earmark.tagging.sources import load_prediction, resolve_genre_model
from earmark.web import create_app


@pytest.fixture
def site(embedded_catalog_path, tmp_path):
    """A :class:`SiteClient` on the app over the catalog with embeddings."""
    app = create_app(embedded_catalog_path, host="127.0.0.1", port=PORT,
                     cache_dir=tmp_path / "cache")
    with SiteClient(app, base_url=ORIGIN) as client:
        yield client


@pytest.fixture
def songs(embedded_catalog_path) -> dict[str, object]:
    """``{title: Track}`` of the catalog's songs."""
    with Catalog(embedded_catalog_path) as catalog:
        return {t.title: t for t in iter_tracks(catalog)}


def _history(path, track_id):
    with Catalog(path) as catalog:
        return rating_history(catalog, track_id)


def test_song_page_has_the_player_pictures_file_tags_and_rating_buttons(site, songs):
    song = songs["Blue Smoke"]
    page = site.get(f"/songs/{song.id}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert f'<audio id="player" controls preload="metadata" src="/api/songs/{song.id}/audio">' \
        in html
    for kind in ("spectrogram", "taggram"):
        assert f'src="/api/songs/{song.id}/images/{kind}.png"' in html
    for tag in ("Ada Quartet", "Night Sessions", "Blue Smoke"):  # the file's own tags
        assert tag in html
    assert "Tag blocks: Vorbis comment" in html and "rating_guessed" not in html
    # The path relative to the library's folder (every song is in one), in full on hover.
    name = song.path.rsplit("/", 1)[-1]
    assert f'<span class="path" title="{song.path}">{name}</span>' in html
    for answer in ("like", "dislike", "skip", "1", "2", "3", "4", "5"):
        assert f'data-rate="{answer}"' in html
    assert 'id="radio-start"' in html and f'href="/api/songs/{song.id}/radio.m3u8"' in html
    assert "Never rated." in html and 'src="/static/song.js"' in html
    assert site.get("/static/song.js").status_code == 200


def test_song_json_and_missing_ids(site, songs):
    song = songs["Iron Tide"]
    details = site.get(f"/api/songs/{song.id}").json()
    assert set(details) == {"song", "file_tags", "rating", "history"}
    assert details["song"]["id"] == song.id and details["song"]["name"] == "Gravel - Iron Tide"
    assert details["song"]["shown_path"] == song.path.rsplit("/", 1)[-1]
    assert details["file_tags"]["artist"] == "Gravel"
    assert details["rating"] is None and details["history"] == []
    for url in ("/api/songs/9999", "/songs/9999", "/api/songs/9999/similar",
                "/api/songs/9999/radio", "/api/songs/9999/images/spectrogram.png"):
        reply = site.get(url)
        assert reply.status_code == 404, url
        assert reply.json()["detail"] == "no song with id 9999 in the catalog"
    for bad in ("/api/songs/0", "/api/songs/-1", "/songs/abc", "/api/songs/1/images/x.png"):
        assert site.get(bad).status_code == 422, bad


def test_a_rating_is_saved_at_once_and_the_history_kept(site, songs, embedded_catalog_path):
    song = songs["Mirror Ball"]
    first = site.post(f"/api/songs/{song.id}/rating", json={"rating": "like"})
    assert first.status_code == 200
    assert first.json()["saved"]["verdict"] == "like"
    assert first.json()["rating"]["text"] == "like"
    [stored] = _history(embedded_catalog_path, song.id)
    assert (stored.verdict, stored.stars, stored.source) == ("like", None, "web")
    second = site.post(f"/api/songs/{song.id}/rating", json={"rating": "4"}).json()
    assert second["rating"] == {**second["saved"], "text": "4 stars"}
    assert site.post(f"/api/songs/{song.id}/rating",
                     json={"rating": "skip", "source": "review"}).json()["rating"]["stars"] == 4
    history = site.get(f"/api/songs/{song.id}").json()["history"]
    assert [(h["text"], h["source"]) for h in history] == [
        ("skip", "review"), ("4 stars", "web"), ("like", "web")]  # newest first
    assert "4 stars" in site.get(f"/songs/{song.id}", headers={"Accept": "text/html"}).text


@pytest.mark.parametrize("body", [{"rating": "7"}, {"rating": "love"}, {"rating": ""},
                                  {"rating": "like", "source": "cli"}, {}])
def test_a_bad_rating_is_refused_and_nothing_stored(site, songs, embedded_catalog_path, body):
    song = songs["Corner Talk"]
    assert site.post(f"/api/songs/{song.id}/rating", json=body).status_code == 422
    assert site.post("/api/songs/9999/rating", json={"rating": "like"}).status_code == 404
    assert _history(embedded_catalog_path, song.id) == []


def test_a_rating_without_the_csrf_token_or_from_another_site_is_refused(
        embedded_catalog_path, songs, tmp_path):
    app = create_app(embedded_catalog_path, host="127.0.0.1", port=PORT,
                     cache_dir=tmp_path / "cache")
    song = songs["Muddy Road"]
    with TestClient(app, base_url=ORIGIN) as plain:
        plain.get("/static/app.css")  # the visitor has a CSRF cookie, but sends no token
        no_token = plain.post(f"/api/songs/{song.id}/rating", json={"rating": "like"},
                              headers={"Origin": ORIGIN})
        assert no_token.status_code == 403
        assert "CSRF" in no_token.json()["detail"]
        token = plain.cookies["earmark_csrf"]
        foreign = plain.post(f"/api/songs/{song.id}/rating", json={"rating": "like"},
                             headers={"Origin": "http://evil.example", "X-CSRF-Token": token})
        assert foreign.status_code == 403
    assert _history(embedded_catalog_path, song.id) == []


def test_similar_songs_leave_out_the_song_and_are_ordered(site, songs):
    song = songs["Blue Smoke"]
    found = site.get(f"/api/songs/{song.id}/similar").json()["songs"]
    assert len(found) == 5 and song.id not in [s["id"] for s in found]
    sims = [s["similarity"] for s in found]
    assert sims == sorted(sims, reverse=True) and all(-1 <= s <= 1 for s in sims)
    assert set(found[0]) >= {"id", "name", "artist", "title", "path", "similarity"}
    assert len(site.get(f"/api/songs/{song.id}/similar?top=2").json()["songs"]) == 2


def test_similar_and_radio_of_a_song_without_embedding_say_so(client):
    reply = client.get("/api/songs/1/radio")
    assert reply.status_code == 409
    assert "no MSD_musicnn embedding yet" in reply.json()["detail"]
    assert client.get("/api/songs/1/similar").status_code == 409


def test_radio_pages_continue_without_artist_repeats_or_disliked_songs(site, songs):
    seed = songs["Blue Smoke"]  # by Ada Quartet, who also play "Muddy Road"
    disliked = songs["Iron Tide"]
    site.post(f"/api/songs/{disliked.id}/rating", json={"rating": "dislike"})
    whole = site.get(f"/api/songs/{seed.id}/radio?count=10").json()
    assert whole["liking"] is False  # one rating: no taste model yet
    queue = whole["songs"]
    ids = [s["id"] for s in queue]
    assert disliked.id not in ids and seed.id not in ids
    assert len(ids) == 4  # 6 songs less the seed and the disliked one
    artists = ["Ada Quartet", *(s["artist"] for s in queue)]
    assert all(a != b for a, b in pairwise(artists))
    first = site.get(f"/api/songs/{seed.id}/radio?count=2").json()["songs"]
    rest = site.get(f"/api/songs/{seed.id}/radio",
                    params={"count": 10, "after": ",".join(str(s["id"]) for s in first)}
                    ).json()["songs"]
    assert [s["id"] for s in first + rest] == ids
    assert site.get(f"/api/songs/{seed.id}/radio?after={','.join(map(str, ids))}"
                    ).json()["songs"] == []
    for bad in ("1,,2", "x", "1;2", "../etc/passwd"):
        assert site.get(f"/api/songs/{seed.id}/radio", params={"after": bad}
                        ).status_code == 422, bad
    assert site.get(f"/api/songs/{seed.id}/radio?count=0").status_code == 422
    assert site.get(f"/api/songs/{seed.id}/radio?count=101").status_code == 422


def test_radio_downloads_as_m3u8_with_the_seed_first(site, songs):
    seed = songs["Sonata in Rain"]
    queue = site.get(f"/api/songs/{seed.id}/radio?count=3").json()["songs"]
    reply = site.get(f"/api/songs/{seed.id}/radio.m3u8?count=3")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("audio/x-mpegurl")
    assert reply.headers["content-disposition"] == (
        'attachment; filename="radio - B_la Orchestra - Sonata in Rain.m3u8"')
    lines = reply.text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[1] == "#EXTINF:5,Béla Orchestra - Sonata in Rain"
    assert lines[2::2] == [seed.path, *(s["path"] for s in queue)]  # absolute paths


@pytest.mark.slow
def test_labels_are_the_catalogs_genres_and_tags_with_confidences(site, songs,
                                                                  embedded_catalog_path):
    song = songs["Blue Smoke"]

    def stored_genres():
        with Catalog(embedded_catalog_path) as catalog:
            return load_prediction(catalog, song.id, resolve_genre_model(catalog, BOTH).name,
                                   "genres")

    assert stored_genres() is None
    first = site.get(f"/api/songs/{song.id}/labels").json()
    assert first["reason"] is None and first["stored"]  # listened to once and stored...
    stored = stored_genres()
    again = site.get(f"/api/songs/{song.id}/labels").json()
    assert again == first  # ...then read back
    for kind in ("genres", "tags"):
        confidences = [x["confidence"] for x in again[kind]]
        assert 1 <= len(confidences) <= 10
        assert confidences == sorted(confidences, reverse=True)
        assert all(0.0 <= c <= 1.0 for c in confidences)
    assert [g["label"] for g in again["genres"]] == [g for g, _ in stored[:10]]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["spectrogram", "taggram"])
def test_pictures_are_pngs_drawn_once(site, songs, kind, tmp_path):
    song = songs["Corner Talk"]
    url = f"/api/songs/{song.id}/images/{kind}.png"
    first = site.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.content.startswith(b"\x89PNG\r\n\x1a\n") and len(first.content) > 5000
    assert site.get(url).content == first.content
    assert [p.name for p in (tmp_path / "cache" / "song-images").iterdir()] == [
        f"{song.content_hash}-{kind}-{DRAWING}.png"]


def test_an_unplayable_song_has_a_page_without_player_and_no_pictures(site, embedded_catalog_path,
                                                                      tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all" * 200)
    with Catalog(embedded_catalog_path) as catalog:
        track = add_file(catalog, broken)
    assert track.status == "error"
    page = site.get(f"/songs/{track.id}", headers={"Accept": "text/html"}).text
    assert "This file cannot be played" in page and 'id="player"' not in page
    assert "images/spectrogram.png" not in page
    reply = site.get(f"/api/songs/{track.id}/images/spectrogram.png")
    assert reply.status_code == 422 and "not playable" in reply.json()["detail"]
    assert site.get(f"/api/songs/{track.id}/radio").status_code == 409  # no embedding
    assert site.post(f"/api/songs/{track.id}/rating", json={"rating": "dislike"}
                     ).status_code == 200  # rated all the same, as 'earmark rate' does
