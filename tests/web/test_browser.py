"""End to end in a real browser (issue 14 Tests): Debian's chromium, driven by Playwright,
against the app served live over a real catalog of real clips with real embeddings.

Open the library and search it; play every format and see ``currentTime`` advance; rate six
songs with the keyboard on the review page and find the ratings in the catalog; retrain and see
the top picks' order change; accept a planned genre write, check the file with ffprobe, undo and
find the original tags; open the map, hover a song and play it by a click; and save a
screenshot of every page (``$EARMARK_ARTIFACTS`` or pytest's tmp dir) with no script error.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser_fixtures import (  # noqa: F401 (fixtures are found by their names)
    QUIET,
    Site,
    artifacts_fixture,
    browser_fixture,
    genre_of,
    more_clips_fixture,
    page_fixture,
    shots_fixture,
    taste_master_fixture,
    taste_site_fixture,
)

from earmark.catalog import Catalog
from earmark.catalog.ratings import rating_history
from earmark.catalog.tracks import iter_tracks
from earmark.ingest.scan import scan
from earmark.web import running
from music import gtzan_clip, transcode
from realworld import ffprobe_tags

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The web songs (tests/web/conftest.py), one per format.
WEB_SONGS = ["jazz.flac", "classical.mp3", "metal.ogg", "disco.aiff", "hiphop.m4a", "blues.wav"]

#: Seconds of playback a player must reach: clearly more than a first decoded frame.
PLAYED = 0.8


def _ids(db: Path) -> dict[str, int]:
    """Track ids by file name."""
    return {name: t.id for name, t in _tracks(db).items()}


def _tracks(db: Path) -> dict:
    """Tracks by file name."""
    with Catalog(db) as catalog:
        return {Path(t.path).name: t for t in iter_tracks(catalog)}


def _played(page, seconds: float = PLAYED) -> float:
    """Wait until the page's player has played ``seconds``; its currentTime then."""
    page.wait_for_function(
        f"() => {{ const p = document.getElementById('player');"
        f" return p && !p.paused && p.currentTime > {seconds}; }}")
    return page.evaluate("document.getElementById('player').currentTime")


def test_library_lists_every_song_with_its_tags_and_rating(page, taste_site, shots):
    page.goto(taste_site.url)
    assert page.title() == "Library · earmark"
    rows = page.locator("table.songs tbody tr")
    assert rows.count() == 18
    for name in WEB_SONGS:
        track = _tracks(taste_site.db)[name]
        row = page.locator(f"table.songs tbody tr[data-song='{track.id}']")
        assert row.locator("td").nth(1).inner_text() == track.title
        assert row.locator("td").nth(2).inner_text() == track.artist
        assert row.locator("td").nth(3).inner_text() == track.album
    # The rating column shows the catalog's ratings.
    assert "like" in page.locator("tr", has_text="Blue Smoke").inner_text()
    assert "dislike" in page.locator("tr", has_text="Iron Tide").inner_text()
    shots(page, "library")

    assert page.errors == []


def test_library_search_form_finds_songs_by_artist(page, taste_site):
    """The page's own filter form, as a person uses it (it sends its empty fields too)."""
    page.goto(taste_site.url)
    page.fill("input[name=q]", "ada")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/?q=ada*")
    titles = page.locator("table.songs tbody tr td:nth-child(2)")
    assert sorted(titles.all_inner_texts()) == ["Blue Smoke", "Muddy Road"]  # Ada Quartet
    page.fill("input[name=q]", "no such song anywhere")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/?q=no+such*")
    assert page.locator("table.songs").count() == 0
    assert "No song matches" in page.inner_text("main")
    assert page.errors == []


@pytest.mark.parametrize("name", WEB_SONGS)
def test_play_in_the_library_advances_current_time(page, taste_site, name):
    """Every web song's format plays: FLAC, MP3, Ogg, M4A and WAV as they are, AIFF
    transcoded by the server."""
    track_id = _ids(taste_site.db)[name]
    page.goto(taste_site.url)
    assert page.locator("#player").is_hidden()  # no empty player before a song is chosen
    page.locator(f"table.songs tbody tr[data-song='{track_id}'] button.play").click()
    first = _played(page)
    assert page.locator("#player").is_visible()
    page.wait_for_timeout(500)
    later = page.evaluate("document.getElementById('player').currentTime")
    assert later > first
    src = page.evaluate("document.getElementById('player').currentSrc")
    assert src == f"{taste_site.url}api/songs/{track_id}/audio"
    # Only what a browser cannot play was transcoded (into the app's cache, not the user's).
    transcoded = list(taste_site.cache.rglob("*.flac"))
    assert len(transcoded) == (1 if name.endswith(".aiff") else 0)
    assert page.errors == []


def test_song_page_plays_and_seeks(page, taste_site, shots):
    track_id = _ids(taste_site.db)["jazz.flac"]
    audio = []
    page.on("response", lambda r: audio.append(r.status) if r.url.endswith("/audio") else None)
    page.goto(f"{taste_site.url}songs/{track_id}")
    assert "Blue Smoke" in page.inner_text("h1")
    page.evaluate("document.getElementById('player').play()")
    _played(page, 0.3)
    page.evaluate("document.getElementById('player').currentTime = 3.5")  # a Range request
    _played(page, 3.7)
    assert 206 in audio  # the browser fetched the audio by byte ranges
    # The page's asynchronous parts have loaded: genres, tags and similar songs.
    page.wait_for_function("() => !document.querySelector('#similar .muted, #genres .muted')"
                           " || document.querySelectorAll('#similar li a').length > 0")
    shots(page, "song")
    assert page.errors == []


def test_every_review_key_does_what_the_page_says(page, taste_site):
    """space plays and pauses, ← seeks back, and L, D, S, 1-5 each store their answer for the
    current song, which then moves on to the next."""
    page.goto(f"{taste_site.url}review?size=8")
    batch = page.locator("#batch li[data-review]")
    assert batch.count() == 8
    page.keyboard.press(" ")
    played = _played(page, 1.2)
    page.keyboard.press("ArrowLeft")  # 10 s back from ~1.2 s: the start
    assert page.evaluate("document.getElementById('player').currentTime") < played - 1.0
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('player').paused")
    keys = ["l", "d", "s", "1", "2", "3", "4", "5"]
    for turn, key in enumerate(keys):
        page.keyboard.press(key.upper() if turn % 2 else key)  # L and l alike
        batch.nth(turn).locator(".verdict:not(:empty)").wait_for()
    ids = [int(i) for i in batch.evaluate_all("items => items.map(li => li.dataset.review)")]
    with Catalog(taste_site.db) as catalog:
        stored = {r.track_id: (r.verdict, r.stars) for r in rating_history(catalog)
                  if r.source == "review"}
    assert stored == dict(zip(ids, [("like", None), ("dislike", None), ("skip", None),
                                    (None, 1), (None, 2), (None, 3), (None, 4), (None, 5)],
                              strict=True))
    texts = batch.locator(".verdict").all_inner_texts()
    assert texts == ["like", "dislike", "skip", "1 star", "2 stars", "3 stars", "4 stars",
                     "5 stars"]
    assert page.errors == []


def test_review_keys_act_once_while_the_player_has_the_focus(page, taste_site):
    """A focused <audio> acts on space itself: the page's key must not toggle it back."""
    page.goto(f"{taste_site.url}review?size=4")
    page.keyboard.press(" ")  # selects the first song and plays it
    _played(page, 0.3)
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('player').paused")
    page.focus("#player")
    page.keyboard.press(" ")
    played = _played(page, 0.6)  # one toggle: playing again
    page.keyboard.press("ArrowLeft")  # back 10 s: the start, once
    assert page.evaluate("document.getElementById('player').currentTime") < played
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('player').paused")
    page.wait_for_timeout(300)
    assert page.evaluate("document.getElementById('player').paused")
    page.keyboard.press("l")  # the rating keys work from the player too
    page.locator("#batch li[data-review]").first.locator(".verdict:not(:empty)").wait_for()
    assert page.errors == []


def _key_for(genre: str, turn: int) -> str:
    """The key a listener who turned to loud music presses: like, 5 or 4 stars for loud songs,
    dislike, 1 or 2 stars for quiet ones (taking turns, so every key is used)."""
    return ("l", "5", "4")[turn % 3] if genre not in QUIET else ("d", "1", "2")[turn % 3]


#: What each key stores: (verdict, stars).
STORED = {"l": ("like", None), "d": ("dislike", None), "1": (None, 1), "2": (None, 2),
          "4": (None, 4), "5": (None, 5)}


def _picks(page) -> dict[int, int]:
    """The top picks shown, best first: song id -> predicted liking in % as the page says."""
    shown = page.locator("#picks li[data-pick]").evaluate_all(
        "items => items.map(li => [li.dataset.pick, li.querySelector('.muted').textContent])")
    return {int(i): int(text.split(" %")[0]) for i, text in shown}


def test_review_keyboard_ratings_are_saved_and_retrain_changes_the_picks(page, taste_site,
                                                                          shots):
    page.goto(f"{taste_site.url}review?size=6")
    batch = page.locator("#batch li[data-review]")
    assert batch.count() == 6
    before = _picks(page)
    assert len(before) == 10  # the model trained on the five starting ratings
    shots(page, "review")
    names = {v: k for k, v in _ids(taste_site.db).items()}
    pressed = {}
    for turn in range(6):
        row = batch.nth(turn)
        page.wait_for_function(f"() => document.querySelectorAll('#batch li')[{turn}]"
                               ".classList.contains('current')")
        track_id = int(row.get_attribute("data-review"))
        key = _key_for(genre_of(names[track_id]), turn)
        page.keyboard.press(key)
        row.locator(".verdict:not(:empty)").wait_for()  # saved: the server answered
        pressed[track_id] = key
    assert "batch done" in page.inner_text("#review-title")
    with Catalog(taste_site.db) as catalog:
        stored = {r.track_id: (r.verdict, r.stars, r.source) for r in rating_history(catalog)
                  if r.source == "review"}
    assert stored == {i: (*STORED[k], "review") for i, k in pressed.items()}

    with page.expect_response(lambda r: "/api/review/picks" in r.url,
                              timeout=120_000) as reply:
        page.click("#retrain")  # the page polls the training, then fetches the new picks
    shown = [s["id"] for s in reply.value.json()["songs"]]
    page.wait_for_function("ids => JSON.stringify([...document.querySelectorAll("
                           "'#picks li[data-pick]')].map(li => +li.dataset.pick))"
                           " === JSON.stringify(ids)", arg=shown)
    quality = page.inner_text("#quality")
    assert quality.startswith("11 ratings") and "cross-validated ROC-AUC" in quality
    after = _picks(page)
    assert set(after).isdisjoint(pressed)  # rated songs are no longer picked
    assert list(after) != list(before)  # the page shows a new order
    kept = [i for i in before if i in after]
    assert len(kept) >= 2
    # ... towards loud songs (the batch is drawn at random: compare the groups on average):
    # the loud songs still picked gain on the quiet ones.
    def lead(scores: dict[int, int]) -> float:
        loud = [scores[i] for i in kept if genre_of(names[i]) not in QUIET]
        quiet = [scores[i] for i in kept if genre_of(names[i]) in QUIET]
        return (sum(loud) / len(loud) if loud else 0.0) - (sum(quiet) / len(quiet) if quiet
                                                           else 0.0)
    assert lead(after) > lead(before), (before, after, pressed)
    shots(page, "review-retrained")
    assert page.errors == []


@pytest.fixture
def tag_site(web_songs, tmp_path) -> Site:
    """Private copies of three web songs in a fresh catalog (no stored genres: planning runs
    the real genre model), served live."""
    folder = tmp_path / "music"
    folder.mkdir()
    for song in web_songs:
        if song.name in ("jazz.flac", "metal.ogg", "hiphop.m4a"):
            shutil.copyfile(song, folder / song.name)
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [folder], verify=False)
    with running(db, cache_dir=tmp_path / "audio-cache") as address:
        yield Site(address.url, db, tmp_path / "audio-cache")


def test_accepted_genre_write_reaches_the_file_and_undo_restores_it(page, tag_site, shots):
    song = next(Path(p) for p in (Path(tag_site.db).parent / "music").iterdir()
                if p.name == "hiphop.m4a")
    original = ffprobe_tags(song)
    others = {p: p.read_bytes() for p in song.parent.iterdir() if p != song}
    page.goto(f"{tag_site.url}tags")
    page.select_option("#mode", "overwrite")
    page.click("#plan")
    row = page.locator("tr[data-track]", has_text="hiphop.m4a")
    row.wait_for(timeout=180_000)  # the page reloads once the genre model has run
    assert row.locator(".status").inner_text() == "planned"
    assert row.locator(".reason").inner_text().startswith("predicted ")
    planned = {Path(i["path"]).name: i for i in
               page.request.get(f"{tag_site.url}api/tag-review").json()["items"]}
    new = planned["hiphop.m4a"]["new"]
    assert new and all(g in row.locator(".new").inner_text() for g in new)
    shots(page, "tags")

    row.locator("button[data-action=accept]").click()
    page.wait_for_function("() => document.querySelector('tr[data-track][data-decision=accepted]')")
    page.click("#apply")
    # The written file leaves the 'planned' list: the page reloads into the written ones, the
    # row still there with its new status, and says what was written.
    page.wait_for_url("**/tags?status=written")
    assert page.inner_text("#tag-status") == "Written: 1 written"
    assert ffprobe_tags(song)["genre"] == ";".join(new)
    assert {p: p.read_bytes() for p in others} == others  # pending files untouched
    assert row.get_attribute("data-decision") == "applied"
    assert row.locator(".status").inner_text() == "written"
    assert row.locator(".path").inner_text() == "hiphop.m4a"  # relative to the library folder
    assert row.locator("button").count() == 0
    shots(page, "tags-written")

    page.click("#undo")
    # Back in the 'planned' list, the row says it was undone and holds its old genre again.
    page.wait_for_url("**/tags?status=planned")
    assert page.inner_text("#tag-status") == "Undone: 1 of 1 files restored"
    assert row.get_attribute("data-decision") == "undone"
    assert row.locator(".status").inner_text() == "planned"
    assert "undone" in row.locator(".reason").inner_text()
    assert row.locator("td").nth(2).inner_text() == "hiphop"
    assert row.locator("button").count() == 0
    shots(page, "tags-undone")
    # The tags read back as before (README: undo restores the tags, in their form; a tagged
    # MP4 keeps the padding the write added, so its bytes may differ).
    assert ffprobe_tags(song) == original and original["genre"] == "hiphop"
    assert page.errors == []


def test_map_shows_every_song_hover_names_one_and_click_plays_it(page, taste_site, shots):
    page.set_viewport_size({"width": 1280, "height": 1400})  # the whole 900 px map in view
    page.goto(f"{taste_site.url}explore")
    page.wait_for_selector("#map[data-ready='1']", timeout=120_000)
    assert page.inner_text("#map-status").startswith("18 songs: ")
    points = page.request.get(f"{taste_site.url}api/map").json()
    assert points["count"] == 18
    names = {v: k for k, v in _ids(taste_site.db).items()}
    i = points["ids"].index(_ids(taste_site.db)["jazz.flac"])
    box = page.locator("#map").bounding_box()
    width, height = page.evaluate("[document.getElementById('map').width,"
                                  " document.getElementById('map').height]")
    margin = 12  # explore.js MARGIN
    x = box["x"] + (margin + points["x"][i] * (width - 2 * margin)) * box["width"] / width
    y = box["y"] + (margin + (1 - points["y"][i]) * (height - 2 * margin)) * box["height"] / height
    page.mouse.move(x, y)  # the page fetches the hovered song's name
    page.wait_for_function("text => document.getElementById('hover').textContent"
                           ".includes(text)", arg="Blue Smoke")
    page.select_option("#colour", "rating")
    assert "like" in page.inner_text("#legend")
    shots(page, "explore")
    page.mouse.click(x, y)
    _played(page, 0.3)
    assert names[int(page.get_attribute("#map", "data-playing"))] == "jazz.flac"
    assert page.errors == []


@pytest.mark.parametrize("path, name", [
    ("", "page-library"), ("songs/{jazz}", "page-song"), ("review", "page-review"),
    ("tags", "page-tags"), ("explore", "page-explore"), ("dashboard", "page-dashboard"),
    ("songs/999999", "page-error")])
def test_every_page_renders_without_script_errors(page, taste_site, shots, path, name):
    url = taste_site.url + path.format(jazz=_ids(taste_site.db)["jazz.flac"])
    logged = []  # what the browser's console says went wrong (a missing favicon, a failed fetch)
    page.on("console", lambda message: logged.append(message.text)
            if message.type == "error" else None)
    reply = page.goto(url)
    assert reply.status == (404 if name == "page-error" else 200)
    page.wait_for_load_state("networkidle")
    shot = shots(page, name)
    assert shot.stat().st_size > 10_000
    assert page.errors == []
    # The error page's own 404 is the only failure a browser logs.
    assert len(logged) == (1 if name == "page-error" else 0), logged


#: A title and a folder name without a space to break at, as remixes and rips have them.
LONG = "Extended_Club_Remix_" * 8 + "final"


@pytest.mark.parametrize("path", ["", "songs/{id}", "tags"])
def test_long_names_wrap_inside_the_window(page, tmp_path, path):
    folder = tmp_path / "music" / ("Artist_With_A_Long_Name_" * 4)
    folder.mkdir(parents=True)
    transcode(gtzan_clip("jazz", 2), folder / f"{LONG}.flac", "flac", seconds=3.0,
              extra=["-metadata", f"title={LONG}"])
    db = tmp_path / "catalog.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [tmp_path / "music"], verify=False)
        track_id = next(iter_tracks(catalog)).id
    with running(db, cache_dir=tmp_path / "audio-cache") as address:
        page.goto(address.url + path.format(id=track_id))
        if path == "tags":  # the review lists the file once planned (the genre model runs)
            page.select_option("#mode", "overwrite")
            page.click("#plan")
            page.locator("tr[data-track]").wait_for(timeout=180_000)
        page.wait_for_load_state("networkidle")
        assert LONG[:40] in page.inner_text("main")
        # Nothing is wider than the window: no sideways scrolling to read a row.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.errors == []
