"""Sources of candidates: pages (embedded and linked audio), a downloads folder (read once
or watched), searches (built, never sent), queries from your likes; and the command line."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog, ratings, tracks
from earmark.catalog import candidates as store
from earmark.cli import app
from earmark.discover.crawl import Crawl, Limits, Seed, file_url
from earmark.discover.sources import (
    USER_AGENT,
    Provider,
    SourceError,
    folder_files,
    likes_queries,
)
from earmark.engine import LocalEngine

runner = CliRunner()


def crawl(db: Path, seeds: list[Seed], watch: float | None = None, **limits) -> object:
    with Catalog(db) as catalog:
        return Crawl(catalog, Limits(**{"delay": 0.0, "timeout": 2.0} | limits),
                     engine=LocalEngine(1)).run(seeds, watch=watch)


def candidates(db: Path) -> list[store.Candidate]:
    with Catalog(db) as catalog:
        return store.candidates_with(catalog, *store.STATUSES)


@pytest.mark.slow
def test_a_page_gives_its_embedded_audio_and_a_page_of_links_its_linked_audio(
        library, site, clips):
    jazz = site.add_file("/a/jazz-1.mp3", clips["jazz-1"])
    metal = site.add_file("/a/metal-1.mp3", clips["metal-1"])
    classical = site.add_file("/a/classical-1.m4a", clips["classical-1"])
    embeds = site.add_page("/player.html", [jazz, metal])
    links = site.add_page("/links.html", [], ["/a/classical-1.m4a", "/about.html"])
    report = crawl(library, [Seed("url", embeds), Seed("url", links)])
    assert report.listed == [(f"url {embeds}", 2), (f"url {links}", 1)]
    found = {c.url: c for c in candidates(library)}
    assert set(found) == {jazz, metal, classical}
    assert found[jazz].page == embeds and found[jazz].playlist == embeds
    assert found[classical].page == links and found[classical].playlist == links
    assert site.fetched("/about.html") == 0  # not audio: never followed
    assert {c.status for c in found.values()} == {"inbox", "rejected"}


@pytest.mark.slow
def test_a_downloads_folder_is_read_once_and_left_as_it_was(library, clips, tmp_path):
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    for name in ("jazz-1", "metal-1"):
        shutil.copyfile(clips[name], downloads / clips[name].name)
    (downloads / "half.mp3.part").write_bytes(clips["jazz-2"].read_bytes()[:5000])
    before = {p.name: p.read_bytes() for p in downloads.iterdir()}
    crawl(library, [Seed("folder", str(downloads))])
    found = {c.url: c.status for c in candidates(library)}
    assert found == {file_url(downloads / "jazz-1.mp3"): "inbox",
                     file_url(downloads / "metal-1.mp3"): "rejected"}
    assert {p.name: p.read_bytes() for p in downloads.iterdir()} == before
    report = crawl(library, [Seed("folder", str(downloads))])  # again: nothing new
    assert report.items == [] and report.listed == [(f"folder {downloads}", 0)]


@pytest.mark.slow
def test_the_library_folder_itself_brings_only_duplicates(library, library_db):
    music = library_db["files"][0].parent
    report = crawl(library, [Seed("folder", str(music))], max_downloads=3)
    assert [i.status for i in report.items] == ["duplicate"] * 3
    assert all(i.reason.startswith(f"already in the library: {music}") for i in report.items)


@pytest.mark.slow
def test_a_watched_folder_takes_songs_that_arrive_during_the_run(library, clips, tmp_path):
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    arrival = downloads / "jazz-1.mp3"

    def arrive() -> None:
        # Written beside, then renamed in, as browsers finish a download.
        shutil.copyfile(clips["jazz-1"], downloads / "jazz-1.mp3.part")
        os.rename(downloads / "jazz-1.mp3.part", arrival)

    def grow() -> None:
        # Written in place, as some programs do: half now, the rest a second later.
        data = clips["jazz-2"].read_bytes()
        with open(downloads / "jazz-2.ogg", "wb") as handle:
            handle.write(data[:len(data) // 2])
            handle.flush()
            time.sleep(1.0)
            handle.write(data[len(data) // 2:])

    timers = [threading.Timer(0.5, arrive), threading.Timer(0.3, grow)]
    for timer in timers:
        timer.start()
    try:
        report = crawl(library, [Seed("folder", str(downloads))], watch=0.2, time_budget=7.0)
    finally:
        for timer in timers:
            timer.join()
    assert sorted((i.path, i.status) for i in report.items) == [
        (file_url(arrival), "inbox"), (file_url(downloads / "jazz-2.ogg"), "inbox")]
    assert report.stopped == "time budget of 7 s used"


class Recording(Provider):
    """The real provider, except that a listing is recorded with the options it would use
    and not sent (a search would need the network)."""

    asked: list[tuple[str, dict]] = []

    def list(self, url: str):
        Recording.asked.append((url, self.options()))
        raise SourceError(url, "not sent: no network in tests")


def test_youtube_builds_a_ytsearch_with_audio_only_quiet_polite_options(monkeypatch, library):
    Recording.asked = []
    monkeypatch.setattr("earmark.discover.sources.Provider", Recording)
    monkeypatch.setattr("earmark.discover.crawl.Provider", Recording)
    result = runner.invoke(app, ["discover", "--youtube", "lofi jazz piano", "--youtube",
                                 "bossa nova", "--timeout", "7", "--delay", "3",
                                 "--max-filesize", "5M", "--db", str(library)])
    assert result.exit_code == 1  # the searches were not sent: reported as failed sources
    assert [url for url, _ in Recording.asked] == ["ytsearch5:lofi jazz piano",
                                                   "ytsearch5:bossa nova"]
    options = Recording.asked[0][1]
    assert options["format"] == "bestaudio/best"  # audio only
    assert {k: options[k] for k in ("quiet", "no_warnings", "noprogress", "cachedir")} == {
        "quiet": True, "no_warnings": True, "noprogress": True, "cachedir": False}
    assert options["socket_timeout"] == 7 and options["max_filesize"] == 5_000_000
    assert options["sleep_interval"] == 3 and options["sleep_interval_requests"] == 3
    assert options["http_headers"] == {"User-Agent": USER_AGENT}
    assert "cookiefile" not in options and options["restrictfilenames"] is True
    assert "failed search lofi jazz piano: not sent: no network in tests" in result.stderr


def test_a_cookies_file_is_sent_only_when_given(tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    assert "cookiefile" not in Provider().options()
    assert Provider(cookies=cookies).options()["cookiefile"] == str(cookies)


@pytest.mark.skipif(not os.environ.get("EARMARK_NETWORK_TESTS"),
                    reason="searches YouTube: set EARMARK_NETWORK_TESTS=1 where the network "
                           "may be used")
def test_a_real_youtube_search_lists_results():
    entries = Provider(delay=0.0).list("ytsearch2:public domain classical music")
    assert len(entries) == 2 and all(e.url.startswith("https://") for e in entries)


def test_from_likes_queries_artists_then_genres_then_untitled_likes(catalog_path):
    with Catalog(catalog_path) as catalog:
        def song(name: str, verdict: str, when: float, **tags) -> None:
            track_id = tracks.record_track(catalog, {"path": f"/music/{name}.flac",
                                                     "status": "ok", **tags})
            ratings.add_rating(catalog, track_id, verdict, rated_at=when)

        song("a", "like", 1, artist="Nina Simone", genre="Jazz; Soul", title="A")
        song("b", "like", 2, artist="Erik Satie", genre="Classical", title="B")
        song("c", "like", 3, artist="Nina Simone", title="C")
        song("d", "like", 4, title="Gymnopédie No. 1")
        song("e", "dislike", 5, artist="Slayer", genre="Metal", title="E")
        song("f", "like", 6, genre="jazz")
        assert likes_queries(catalog) == ["Nina Simone", "Erik Satie", "jazz music",
                                          "Classical music", "Soul music"]
        assert likes_queries(catalog, n=10)[-1] == "Gymnopédie No. 1"


def test_from_likes_without_any_tag_to_search_for_exits_3(catalog_path):
    result = runner.invoke(app, ["discover", "--from-likes", "--db", str(catalog_path)])
    assert result.exit_code == 3
    assert result.stderr.strip() == ("error: --from-likes: no liked song has an artist, "
                                     "genre or title tag to search for")


@pytest.fixture
def catalog_path(tmp_path) -> Path:
    return tmp_path / "catalog.sqlite"


@pytest.mark.slow
def test_discover_prints_one_json_line_per_candidate_and_exits_1_when_some_failed(
        library, site, clips):
    feed = site.add_feed("/feed.xml", "Two", [
        ("jazz", site.add_file("/a/jazz-1.mp3", clips["jazz-1"])),
        ("gone", site.url("/a/gone.mp3"))])
    result = runner.invoke(app, ["discover", "--feed", feed, "--delay", "0", "--json",
                                 "--db", str(library)], env={"EARMARK_WORKERS": "1"})
    assert result.exit_code == 1, result.output
    rows = {r["title"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["gone"] | {"candidate": None} == {
        "path": site.url("/a/gone.mp3"), "candidate": None, "status": "failed",
        "score": None, "title": "gone", "reason": "not found (HTTP 404)"}
    assert rows["jazz"]["status"] == "inbox" and rows["jazz"]["score"] >= 0.5
    assert rows["jazz"]["reason"].startswith("close to liked ")
    again = runner.invoke(app, ["discover", "--db", str(library)])
    assert again.exit_code == 3  # nothing queued, no source
    assert again.stderr.startswith("error: nothing to discover")


@pytest.mark.slow
def test_a_urls_file_gives_each_address_comments_and_blank_lines_skipped(
        library, site, clips, tmp_path):
    song = site.add_file("/a/jazz-1.mp3", clips["jazz-1"])
    feed = site.add_feed("/feed.xml", "One", [
        ("classical", site.add_file("/a/classical-1.m4a", clips["classical-1"]))])
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# my finds\n{song}\n\n  {feed}  \n", encoding="utf-8")
    result = runner.invoke(app, ["discover", "--urls", str(listing), "--delay", "0", "--json",
                                 "--db", str(library)], env={"EARMARK_WORKERS": "1"})
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["path"], r["status"]) for r in rows) == [
        (site.url("/a/classical-1.m4a"), "inbox"), (song, "inbox")]
    with Catalog(library) as catalog:
        sources = {c.url: c.source for c in store.candidates_with(catalog, "inbox")}
    assert sources == {song: f"url {song}", site.url("/a/classical-1.m4a"): f"url {feed}"}


def test_a_downloads_folder_lists_a_file_dated_in_the_future_unless_settling_is_asked(tmp_path):
    # A file copied with its original time from a machine whose clock runs ahead: a plain
    # folder seed takes it; only --watch's settling looks at modification times.
    song = tmp_path / "ahead.mp3"
    song.write_bytes(b"\xff\xfb" + bytes(100))
    ahead = time.time() + 3600
    os.utime(song, (ahead, ahead))
    assert list(folder_files(tmp_path)) == [song]
    assert list(folder_files(tmp_path, settled=30.0)) == []
