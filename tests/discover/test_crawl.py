"""The crawl over a local web site: real yt-dlp (its generic extractor), real audio, a real
catalog with a taste model trained on real embeddings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from discover_site import Route, request_gaps

from earmark.catalog import Catalog, tracks
from earmark.catalog import candidates as store
from earmark.discover.crawl import Crawl, Limits, Seed
from earmark.discover.sources import USER_AGENT, Provider
from earmark.engine import LocalEngine
from earmark.taste.model import NotEnoughRatings

pytestmark = pytest.mark.slow


def crawl(db: Path, seeds: list[Seed], **options) -> tuple[Crawl, object]:
    """One crawl run on the catalog ``db`` (one worker, no politeness delay unless given)."""
    limits = Limits(**{"delay": 0.0, "timeout": 2.0} | options.pop("limits", {}))
    with Catalog(db) as catalog:
        run = Crawl(catalog, limits, engine=LocalEngine(1), **options)
        report = run.run(seeds)
    return run, report


def serve_feed(site, clips, names: list[str], path: str = "/feed.xml") -> str:
    items = [(name.replace("-", " song "), site.add_file(f"/audio/{Path(clips[name]).name}",
                                                         clips[name])) for name in names]
    return site.add_feed(path, "New music", items)


def test_a_feed_crawl_puts_liked_genres_in_the_inbox_and_deletes_the_rest(
        library, site, clips):
    names = ["jazz-1", "metal-1", "classical-1", "hiphop-1"]
    feed = serve_feed(site, clips, names)
    run, report = crawl(library, [Seed("feed", feed)])
    by_title = {item.title: item for item in report.items}
    assert {t: i.status for t, i in by_title.items()} == {
        "jazz song 1": "inbox", "classical song 1": "inbox",
        "metal song 1": "rejected", "hiphop song 1": "rejected"}
    with Catalog(library) as catalog:
        inbox = store.inbox(catalog)
        rejected = store.candidates_with(catalog, "rejected")
    assert [c.title for c in inbox] == sorted(
        ["jazz song 1", "classical song 1"], key=lambda t: -by_title[t].score)
    for candidate in inbox:
        # Provenance: where it came from, when, its score and the liked songs it resembles.
        assert candidate.source == f"feed {feed}" and candidate.playlist == feed
        assert candidate.url.startswith(site.base + "/audio/")
        assert candidate.fetched_at >= candidate.found_at
        assert candidate.score >= 0.5
        assert candidate.reason.startswith("close to liked ")
        assert any(genre in candidate.reason for genre in ("jazz", "classical"))  # liked
        assert Path(candidate.file).is_file() and Path(candidate.file).parent == run.staging
    for candidate in rejected:
        assert candidate.score < 0.5 and candidate.file is None
        assert "below 0.5" in candidate.reason
    assert sorted(p.name for p in run.staging.iterdir()) == sorted(
        Path(c.file).name for c in inbox)


def _decided(db: Path) -> dict[str, store.Candidate]:
    with Catalog(db) as catalog:
        return {c.title: c for c in store.candidates_with(catalog, *store.STATUSES)}


def test_a_high_scorer_brings_in_the_rest_of_its_feed(library, site, clips):
    feed = serve_feed(site, clips, ["jazz-1", "classical-1", "metal-1", "jazz-2", "hiphop-1"])
    crawl(library, [Seed("feed", feed)], limits={"per_source": 2, "expand_above": 0.6})
    found = _decided(library)
    assert set(found) == {"jazz song 1", "classical song 1", "metal song 1", "jazz song 2",
                          "hiphop song 1"}
    seeds = {t for t, c in found.items() if c.depth == 0}
    assert seeds == {"jazz song 1", "classical song 1"}
    for title in found.keys() - seeds:
        candidate = found[title]
        parent = next(c for c in found.values() if c.id == candidate.parent_id)
        assert parent.title in seeds and parent.score >= 0.6
        assert candidate.depth == 1
        assert candidate.source == f"like c{parent.id}: same listing"
        assert candidate.status in ("inbox", "rejected")


def test_low_scorers_expand_nothing(library, site, clips):
    feed = serve_feed(site, clips, ["metal-1", "hiphop-1", "jazz-1", "classical-1"])
    crawl(library, [Seed("feed", feed)], limits={"per_source": 2, "expand_above": 0.6})
    found = _decided(library)
    assert {t: c.status for t, c in found.items()} == {
        "metal song 1": "rejected", "hiphop song 1": "rejected"}
    assert site.fetched("/feed.xml") == 1


def test_expansion_stops_at_max_depth(library, site, clips):
    feed = serve_feed(site, clips, ["jazz-1", "classical-1", "jazz-2"])
    crawl(library, [Seed("feed", feed)], limits={"per_source": 1, "expand_above": 0.6,
                                                 "max_depth": 0})
    assert set(_decided(library)) == {"jazz song 1"}


def test_each_failed_download_is_recorded_with_its_reason_and_the_crawl_goes_on(
        library, site, clips, tmp_path):
    good = site.add_file("/audio/jazz-1.mp3", clips["jazz-1"])
    items = [
        ("missing", site.url("/audio/missing.mp3")),  # nothing served there: 404
        ("slow", site.add("/audio/slow.mp3", Route(b"late", "audio/mpeg", delay=3.0))),
        ("huge", site.add("/audio/huge.mp3", Route(stream=3_000_000_000,
                                                   content_type="audio/mpeg"))),
        ("huge stream", site.add("/audio/endless.mp3", Route(
            stream=3_000_000_000, content_type="audio/mpeg", declared=False))),
        ("not audio", site.add("/audio/notes.mp3", Route(
            b"%PDF-1.4\n" + b"these are not the sounds you are looking for\n" * 200,
            "audio/mpeg"))),
        ("no media", site.add_page("/nothing.html", [])),
        ("good", good),
    ]
    feed = site.add_feed("/feed.xml", "Mixed", items)
    _, report = crawl(library, [Seed("feed", feed)],
                      limits={"timeout": 1.0, "max_filesize": 1_000_000})
    outcomes = {item.title: (item.status, item.reason) for item in report.items}
    assert outcomes["missing"] == ("failed", "not found (HTTP 404)")
    assert outcomes["slow"] == ("failed", "timed out (no answer within 1 s)")
    assert outcomes["huge"] == ("failed", "too large: over 1 MB (--max-filesize)")
    assert outcomes["huge stream"] == ("failed", "too large: over 1 MB (--max-filesize)")
    assert outcomes["not audio"][0] == "failed"
    assert outcomes["not audio"][1].startswith("not an audio file")
    assert outcomes["no media"] == ("failed", "no media found at this address")
    assert outcomes["good"][0] == "inbox"
    with Catalog(library) as catalog:
        failed = {c.title: c.reason for c in store.candidates_with(catalog, "failed")}
    assert failed == {t: r for t, (s, r) in outcomes.items() if s == "failed"}
    staged = [p.name for p in report.staging.iterdir()]
    assert len(staged) == 1 and staged[0].endswith(".mp3")  # only the inbox song's file


def test_a_seed_that_fails_is_reported_and_the_others_are_crawled(library, site, clips):
    feed = serve_feed(site, clips, ["jazz-1"])
    _, report = crawl(library, [Seed("url", site.url("/gone.xml")), Seed("feed", feed)])
    assert report.failed_seeds == [(f"url {site.url('/gone.xml')}", "not found (HTTP 404)")]
    assert [item.status for item in report.items] == ["inbox"]


def test_a_song_already_in_the_library_is_never_proposed(library, library_db, site, clips,
                                                         tmp_path):
    library_song = library_db["files"][2]  # "classical 0.flac", a liked song of the library
    retagged = tmp_path / "retagged.flac"  # the same audio with other tags: another file
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(library_song), "-c:a", "copy",
                    "-metadata", "title=Another Name", str(retagged)], check=True)
    assert retagged.read_bytes() != library_song.read_bytes()
    feed = site.add_feed("/feed.xml", "Old and new", [
        ("same file", site.add_file("/a/classical-0.flac", library_song)),
        ("same audio", site.add_file("/a/retagged.flac", retagged)),
        ("new", site.add_file("/a/jazz-1.mp3", clips["jazz-1"]))])
    _, report = crawl(library, [Seed("feed", feed)])
    outcomes = {item.title: (item.status, item.reason) for item in report.items}
    said = f"same audio as the library song {library_song}"
    assert outcomes == {"same file": ("duplicate", said), "same audio": ("duplicate", said),
                        "new": ("inbox", outcomes["new"][1])}
    with Catalog(library) as catalog:
        assert len(list(tracks.iter_tracks(catalog))) == len(library_db["files"]) + 1


def test_a_rejected_song_is_not_proposed_again_from_another_address(library, site, clips):
    first = site.add_feed("/one.xml", "One", [
        ("metal", site.add_file("/a/metal-1.mp3", clips["metal-1"]))])
    crawl(library, [Seed("feed", first)])
    second = site.add_feed("/two.xml", "Two", [
        ("metal again", site.add_file("/b/metal-1-copy.mp3", clips["metal-1"])),
        ("metal", site.url("/a/metal-1.mp3"))])
    _, report = crawl(library, [Seed("feed", second)])
    rejected = _decided(library)["metal"]
    assert rejected.status == "rejected"
    assert [(i.title, i.status, i.reason) for i in report.items] == [
        ("metal again", "duplicate", f"same audio as c{rejected.id} (rejected)")]
    assert site.fetched("/a/metal-1.mp3") == 2  # looked at and downloaded once, in run one


def test_every_request_is_polite(library, site, clips):
    feed = serve_feed(site, clips, ["jazz-1", "metal-1"])
    crawl(library, [Seed("feed", feed)], limits={"delay": 0.6})
    assert len(site.requests) == 5  # the feed, then each song looked at and downloaded
    assert {r.headers.get("User-Agent") for r in site.requests} == {USER_AGENT}
    # The site sets a cookie with every answer; none ever goes back.
    assert not [r for r in site.requests if "Cookie" in r.headers]
    gaps = request_gaps(site.requests, lambda r: True)
    assert min(gaps) >= 0.55, gaps


@pytest.mark.parametrize("min_score", [0.2, 0.8])
def test_min_score_decides_inbox_or_rejected(library, site, clips, min_score):
    feed = serve_feed(site, clips, ["jazz-1", "classical-2", "metal-1", "hiphop-2"])
    _, report = crawl(library, [Seed("feed", feed)], min_score=min_score)
    assert len(report.items) == 4
    for item in report.items:
        assert item.status == ("inbox" if item.score >= min_score else "rejected")
    assert {i.status for i in report.items} == {"inbox", "rejected"}


def test_keep_keeps_the_files_of_rejected_candidates(library, site, clips):
    feed = serve_feed(site, clips, ["metal-1", "jazz-1"])
    run, _ = crawl(library, [Seed("feed", feed)], keep=True)
    found = _decided(library)
    rejected = found["metal song 1"]
    assert rejected.status == "rejected" and Path(rejected.file).is_file()
    assert len(list(run.staging.iterdir())) == 2


class LocalSearch(Provider):
    """The real provider, with a search site standing in for YouTube: ``ytsearchN:QUERY``
    lists the local feed registered for QUERY (nothing for an unknown query); every other
    address goes out as usual. The searches asked for are recorded."""

    def __init__(self, results: dict[str, str]):
        super().__init__(delay=0.0, timeout=2.0)
        self.results = results
        self.searched: list[str] = []

    def list(self, url: str):
        if not url.startswith("ytsearch"):
            return super().list(url)
        self.searched.append(url)
        query = url.split(":", 1)[1]
        return super().list(self.results[query]) if query in self.results else []


def test_a_high_scorer_found_by_a_search_brings_a_search_for_its_artist(
        library, site, clips, tmp_path):
    tagged = tmp_path / "tagged.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clips["jazz-1"]), "-c:a",
                    "copy", "-metadata", "artist=Test Quartet", str(tagged)], check=True)
    provider = LocalSearch({
        "cool jazz": site.add_feed("/cool.xml", "results", [
            ("tagged", site.add_file("/a/tagged.mp3", tagged))]),
        "Test Quartet": serve_feed(site, clips, ["classical-1"], "/quartet.xml")})
    _, report = crawl(library, [Seed("search", "cool jazz")], provider=provider,
                      limits={"expand_above": 0.6})
    assert provider.searched == ["ytsearch5:cool jazz", "ytsearch5:Test Quartet"]
    found = _decided(library)
    assert found["classical song 1"].source == (
        f"like c{found['tagged'].id}: search Test Quartet")
    assert found["classical song 1"].depth == 1


def test_without_a_taste_model_nothing_is_fetched(tmp_path, site, clips):
    feed = serve_feed(site, clips, ["jazz-1"])
    with Catalog(tmp_path / "empty.sqlite") as catalog, pytest.raises(NotEnoughRatings):
        Crawl(catalog, Limits()).run([Seed("feed", feed)])
    assert site.requests == []
