"""The library (issue 14 item 2): FTS5 search over title, artist, album and path, filters,
sorting, and keyset pages that search an index rather than count or skip rows."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from earmark.catalog import Catalog, ratings
from earmark.catalog.db import MIGRATIONS, _statements
from earmark.catalog.embeddings import store_embedding
from earmark.catalog.predictions import store_predictions
from earmark.catalog.search import SongQuery, search_songs, store_liking
from earmark.catalog.tracks import forget_tracks, get_track, iter_tracks, move_track
from earmark.ingest.scan import scan

TITLES = {"Blue Smoke", "Sonata in Rain", "Iron Tide", "Mirror Ball", "Corner Talk",
          "Muddy Road"}


def _titles(catalog_path, query: SongQuery | None = None, **kwargs) -> list[str]:
    with Catalog(catalog_path) as catalog:
        return [row.track.title for row in search_songs(catalog, query, **kwargs).songs]


@pytest.mark.parametrize("text, expected", [
    ("smoke", ["Blue Smoke"]),                       # a title word
    ("SMO", ["Blue Smoke"]),                         # a prefix, any case
    ("ada", ["Blue Smoke", "Muddy Road"]),           # an artist
    ("bela", ["Sonata in Rain"]),                    # 'Béla' without its accent
    ("etudes", ["Sonata in Rain"]),                  # the album 'Études'
    ("hiphop", ["Corner Talk"]),                     # the path (hiphop.m4a)
    ("m4a", ["Corner Talk"]),                        # the path's extension
    ("night road", ["Muddy Road"]),                  # every word must match
    ("quartet smoke", ["Blue Smoke"]),               # words from artist and title
    ("nothing-like-this", []),
])
def test_search_finds_words_in_title_artist_album_and_path(catalog_path, text, expected):
    assert sorted(_titles(catalog_path, SongQuery(text=text))) == expected


@pytest.mark.parametrize("text", ['"', "AND", "NOT smoke", "*", "smoke OR", "(", "NEAR(a b)",
                                  "title:smoke", "-", "^", "'; DROP TABLE tracks; --"])
def test_search_text_is_only_text_never_fts_syntax(catalog_path, text):
    found = _titles(catalog_path, SongQuery(text=text))
    assert set(found) <= TITLES  # no error; operators are words like any other


def test_an_empty_search_lists_every_song(catalog_path):
    assert set(_titles(catalog_path, SongQuery(text="  "))) == TITLES


def test_the_search_index_follows_changes_to_the_catalog(catalog_path, web_songs, tmp_path):
    with Catalog(catalog_path) as catalog:
        track = get_track(catalog, web_songs[2])  # Iron Tide, metal.ogg
        move_track(catalog, track.id, tmp_path / "renamed zephyr.ogg")
        catalog.execute("UPDATE tracks SET title = 'Quiet Harbour' WHERE id = ?", (track.id,))
        forget_tracks(catalog, [str(web_songs[0])])  # Blue Smoke
    assert _titles(catalog_path, SongQuery(text="zephyr")) == ["Quiet Harbour"]
    assert _titles(catalog_path, SongQuery(text="harbour")) == ["Quiet Harbour"]
    assert _titles(catalog_path, SongQuery(text="iron")) == []
    assert _titles(catalog_path, SongQuery(text="metal")) == []
    assert _titles(catalog_path, SongQuery(text="smoke")) == []


def test_the_migration_indexes_songs_already_in_an_older_catalog(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    for script in MIGRATIONS[:2]:
        for statement in _statements(script):
            old.execute(statement)
    old.execute("PRAGMA user_version = 2")
    old.execute("INSERT INTO tracks (path, title, artist, status, added_at, scanned_at) "
                "VALUES ('/music/x.mp3', 'Old Favourite', 'Someone', 'ok', 0, 0)")
    old.commit()
    old.close()
    assert _titles(path, SongQuery(text="favourite")) == ["Old Favourite"]


def test_sorts_order_the_songs(catalog_path):
    by_title = _titles(catalog_path, sort="title")
    assert by_title == sorted(TITLES, key=str.lower)
    assert _titles(catalog_path, sort="title", descending=True) == by_title[::-1]
    with Catalog(catalog_path) as catalog:
        artists = [r.track.artist for r in search_songs(catalog, sort="artist").songs]
    assert artists == sorted(artists, key=str.lower) and artists[0] == "Ada Quartet"


@pytest.mark.parametrize("sort", ["artist", "title", "album", "added"])
@pytest.mark.parametrize("descending", [False, True])
def test_pages_give_every_song_once_in_order(catalog_path, sort, descending):
    whole = _titles(catalog_path, sort=sort, descending=descending)
    seen, after = [], None
    with Catalog(catalog_path) as catalog:
        for _ in range(4):
            page = search_songs(catalog, sort=sort, descending=descending, limit=2, after=after)
            seen += [row.track.title for row in page.songs]
            after = page.next_cursor
            if after is None:
                break
    assert seen == whole and len(seen) == 6


def test_a_damaged_cursor_is_a_clear_error(catalog_path, client):
    with Catalog(catalog_path) as catalog, pytest.raises(ValueError, match="damaged"):
        search_songs(catalog, after="not-a-cursor")
    reply = client.get("/api/songs", params={"after": "bm90IGpzb24"})
    assert (reply.status_code, reply.json()["detail"]) == (
        400, "this page link is damaged: start from the first page")


def test_untitled_songs_sort_and_page_too(catalog_path):
    with Catalog(catalog_path) as catalog:
        catalog.execute("UPDATE tracks SET title = NULL, artist = NULL WHERE title IN "
                        "('Iron Tide', 'Corner Talk')")
        seen, after = [], None
        while True:
            page = search_songs(catalog, sort="artist", limit=1, after=after)
            seen += [row.track.id for row in page.songs]
            if (after := page.next_cursor) is None:
                break
        assert sorted(seen) == sorted(t.id for t in iter_tracks(catalog))


def test_next_pages_search_the_sort_index(catalog_path):
    """A later page starts from its cursor inside the sort's index (SQLite 'SEARCH ... USING
    INDEX'), so it costs the same at row 100,000 as at row 1 (bench/bench_library.py)."""
    with Catalog(catalog_path) as catalog:
        plans = []
        catalog.conn.set_trace_callback(plans.append)
        for sort in ("artist", "title", "album", "added"):
            for descending in (False, True):
                plans.clear()
                cursor = search_songs(catalog, sort=sort, descending=descending,
                                      limit=1).next_cursor
                plans.clear()
                search_songs(catalog, sort=sort, descending=descending, limit=1, after=cursor)
                sql = next(s for s in plans if "ORDER BY" in s)
                detail = " ".join(row[3] for row in catalog.execute("EXPLAIN QUERY PLAN " + sql))
                assert re.search(rf"SEARCH tracks USING (COVERING )?INDEX tracks_sort_{sort} ",
                                 detail), (sort, detail)
        catalog.conn.set_trace_callback(None)


def _ids(catalog_path) -> dict[str, int]:
    with Catalog(catalog_path) as catalog:
        return {t.title: t.id for t in iter_tracks(catalog)}


def test_filter_by_the_files_genre(catalog_path):
    with Catalog(catalog_path) as catalog:
        catalog.execute("UPDATE tracks SET genre = 'Jazz; Blues' WHERE title = 'Blue Smoke'")
    assert _titles(catalog_path, SongQuery(genre="blues")) == ["Blue Smoke", "Muddy Road"]
    assert _titles(catalog_path, SongQuery(genre="jazz")) == ["Blue Smoke"]
    assert _titles(catalog_path, SongQuery(genre="jaz")) == []  # whole values only


def test_filter_by_rating(catalog_path):
    ids = _ids(catalog_path)
    with Catalog(catalog_path) as catalog:
        ratings.add_rating(catalog, ids["Blue Smoke"], "like")
        ratings.add_rating(catalog, ids["Iron Tide"], "like")
        ratings.add_rating(catalog, ids["Iron Tide"], "dislike")  # the latest opinion counts
        ratings.add_rating(catalog, ids["Mirror Ball"], stars=4)
        ratings.add_rating(catalog, ids["Mirror Ball"], "skip")    # a skip changes nothing
        ratings.add_rating(catalog, ids["Corner Talk"], "skip")    # only skipped: unrated
        ratings.add_rating(catalog, ids["Sonata in Rain"], stars=2)
        ratings.add_rating(catalog, ids["Muddy Road"], stars=3)    # neither liked nor disliked
    # Liked and disliked as the taste model and the dashboard count them: 4-5 stars is liked,
    # 1-2 disliked (catalog.ratings.rating_label).
    assert sorted(_titles(catalog_path, SongQuery(rating="like"))) == ["Blue Smoke",
                                                                       "Mirror Ball"]
    assert sorted(_titles(catalog_path, SongQuery(rating="dislike"))) == ["Iron Tide",
                                                                          "Sonata in Rain"]
    assert _titles(catalog_path, SongQuery(rating="4")) == ["Mirror Ball"]
    assert _titles(catalog_path, SongQuery(rating="5")) == []
    assert sorted(_titles(catalog_path, SongQuery(rating="3"))) == ["Mirror Ball",
                                                                    "Muddy Road"]
    assert sorted(_titles(catalog_path, SongQuery(rating="rated"))) == [
        "Blue Smoke", "Iron Tide", "Mirror Ball", "Muddy Road", "Sonata in Rain"]
    assert sorted(_titles(catalog_path, SongQuery(rating="unrated"))) == ["Corner Talk"]
    with Catalog(catalog_path) as catalog:
        rows = {r.track.title: r for r in search_songs(catalog).songs}
    assert (rows["Iron Tide"].verdict, rows["Mirror Ball"].stars) == ("dislike", 4)
    with pytest.raises(ValueError, match="unknown rating filter"):
        SongQuery(rating="great")


def test_filter_by_predicted_tag(catalog_path):
    ids = _ids(catalog_path)
    with Catalog(catalog_path) as catalog:
        store_predictions(catalog, ids["Iron Tide"], "MSD_musicnn",
                          {"tags": {"heavy metal": 0.8, "rock": 0.3}})
        store_predictions(catalog, ids["Blue Smoke"], "MSD_musicnn",
                          {"tags": {"jazz": 0.7, "rock": 0.05}})
    assert _titles(catalog_path, SongQuery(tag="Heavy Metal")) == ["Iron Tide"]
    assert _titles(catalog_path, SongQuery(tag="rock")) == ["Iron Tide"]  # 0.05 is too weak


def test_filter_by_predicted_liking(catalog_path):
    ids = _ids(catalog_path)
    with Catalog(catalog_path) as catalog:
        store_liking(catalog, {ids["Blue Smoke"]: 0.9, ids["Iron Tide"]: 0.2,
                               ids["Muddy Road"]: 0.6})
        store_liking(catalog, {ids["Muddy Road"]: 0.4})  # a retrain replaces the score
        rows = {r.track.title: r.liking for r in search_songs(catalog).songs}
    assert _titles(catalog_path, SongQuery(min_liking=0.5)) == ["Blue Smoke"]
    assert sorted(_titles(catalog_path, SongQuery(min_liking=0.3))) == ["Blue Smoke",
                                                                        "Muddy Road"]
    assert (rows["Blue Smoke"], rows["Muddy Road"], rows["Corner Talk"]) == (0.9, 0.4, None)


def test_filter_by_status_analysis_and_missing_genre(catalog_path, tmp_path):
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all" * 100)
    ids = _ids(catalog_path)
    with Catalog(catalog_path) as catalog:
        scan(catalog, [tmp_path], verify=False)
        hashes = {t.id: t.content_hash for t in iter_tracks(catalog)}
        store_embedding(catalog, ids["Blue Smoke"], "MSD_musicnn", [0.1] * 8,
                        hashes[ids["Blue Smoke"]])
        # Not analysed, as the dashboard counts: computed from content the file no longer
        # has, or by another model.
        store_embedding(catalog, ids["Iron Tide"], "MSD_musicnn", [0.1] * 8, "old content")
        store_embedding(catalog, ids["Mirror Ball"], "MTT_musicnn", [0.1] * 8,
                        hashes[ids["Mirror Ball"]])
        catalog.execute("UPDATE tracks SET genre = NULL WHERE title = 'Corner Talk'")
    with Catalog(catalog_path) as catalog:
        failed = search_songs(catalog, SongQuery(status="error")).songs
    assert [row.track.path for row in failed] == [str(broken)]
    assert _titles(catalog_path, SongQuery(analysed=True)) == ["Blue Smoke"]
    assert len(_titles(catalog_path, SongQuery(analysed=False, status="ok"))) == 5
    assert _titles(catalog_path, SongQuery(untagged=True, status="ok")) == ["Corner Talk"]
    # The same filters from the command line (the app holds no search the CLI lacks).
    from typer.testing import CliRunner

    from earmark.cli import app as cli

    def listed(*options: str) -> list[str]:
        result = CliRunner().invoke(cli, ["list", *options, "--json", "--db", str(catalog_path)])
        assert result.exit_code == 0, result.output
        return sorted(json.loads(line)["title"] or "" for line in result.stdout.splitlines())

    assert listed("--analysed") == ["Blue Smoke"]
    assert len(listed("--not-analysed", "--playable")) == 5
    assert listed("--untagged", "--playable") == ["Corner Talk"]
    assert listed("--failed") == [""]
    clash = CliRunner().invoke(cli, ["list", "--failed", "--playable", "--db", str(catalog_path)])
    assert clash.exit_code == 2 and "exclude each other" in clash.stderr


def test_library_page_searches_filters_and_pages(client, catalog_path):
    page = client.get("/", params={"q": "ada", "sort": "title"})
    assert page.status_code == 200
    assert "Blue Smoke" in page.text and "Muddy Road" in page.text
    assert "Iron Tide" not in page.text
    first = client.get("/", params={"sort": "title", "limit": 4})
    assert 'rel="next"' in first.text
    second_link = first.text.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(second_link)
    assert "Sonata in Rain" in second.text and "Blue Smoke" not in second.text
    assert 'rel="next"' not in second.text
    empty = client.get("/", params={"q": "zzzz"})
    assert "No song matches" in empty.text


def test_songs_api_answers_json_pages(client):
    reply = client.get("/api/songs", params={"q": "smoke"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["next"] is None
    [song] = body["songs"]
    assert (song["title"], song["artist"], song["album"], song["name"]) == (
        "Blue Smoke", "Ada Quartet", "Night Sessions", "Ada Quartet - Blue Smoke")
    assert song["duration"] == pytest.approx(5.0, abs=0.05)
    assert client.get("/api/songs", params={"rating": "great"}).status_code == 422
    assert client.get("/api/songs", params={"limit": 0}).status_code == 422


def test_earmark_list_finds_what_the_library_finds(client, catalog_path):
    """The CLI face of the library: the same search, filters and order."""
    from typer.testing import CliRunner

    from earmark.cli import app as cli

    ids = _ids(catalog_path)
    with Catalog(catalog_path) as catalog:
        ratings.add_rating(catalog, ids["Muddy Road"], "like")
    result = CliRunner().invoke(cli, ["list", "ada", "--sort", "title", "--desc", "--json",
                                      "--db", str(catalog_path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    web = client.get("/api/songs", params={"q": "ada", "sort": "title", "desc": 1}).json()
    assert [(s["id"], s["title"]) for s in lines] == [
        (s["id"], s["title"]) for s in web["songs"]] == [
        (ids["Muddy Road"], "Muddy Road"), (ids["Blue Smoke"], "Blue Smoke")]
    assert lines[0]["verdict"] == "like" and lines[0]["path"].endswith("blues.wav")
    liked = CliRunner().invoke(cli, ["list", "--rating", "like", "--db", str(catalog_path)])
    assert liked.exit_code == 0 and "Muddy Road" in liked.stdout and "Iron" not in liked.stdout
    limited = CliRunner().invoke(cli, ["list", "--limit", "2", "--json", "--db",
                                       str(catalog_path)])
    assert len(limited.stdout.splitlines()) == 2
    none = CliRunner().invoke(cli, ["list", "zzzz", "--db", str(catalog_path)])
    assert (none.exit_code, none.stderr.strip()) == (
        3, "error: no song matches 'zzzz' in the catalog")
    bad = CliRunner().invoke(cli, ["list", "--sort", "mood", "--db", str(catalog_path)])
    assert bad.exit_code == 2 and "unknown sort 'mood'" in bad.stderr


def test_the_pages_own_form_with_empty_fields_searches(client):
    """A browser sends every field of the filter form, the empty ones as ''."""
    reply = client.get("/", params={"q": "ada", "genre": "", "tag": "", "rating": "",
                                    "liking": "", "sort": "artist"},
                       headers={"Accept": "text/html"})
    assert reply.status_code == 200
    assert "Blue Smoke" in reply.text and "Iron Tide" not in reply.text


def test_a_bad_parameter_is_a_page_naming_it_for_browsers_and_json_for_scripts(client):
    page = client.get("/", params={"liking": "2"}, headers={"Accept": "text/html"})
    assert page.status_code == 422
    assert "Error 422" in page.text and "liking: Input should be less than or equal to 1" in (
        page.text)
    api = client.get("/api/songs", params={"liking": "2"})
    assert api.status_code == 422 and api.json()["detail"][0]["loc"] == ["query", "liking"]
