"""The inbox closes the loop: a verdict on a candidate is a rating, a liked one moves into the
library named from its tags, a disliked one is deleted, and the retrained taste model steers
the next crawl."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog, ratings, tracks
from earmark.catalog import candidates as store
from earmark.catalog.embeddings import load_embeddings
from earmark.cli import app
from earmark.discover.crawl import Crawl, Limits, Seed
from earmark.engine import LocalEngine
from earmark.taste.model import DEFAULT_EMBEDDING, load_taste_model, taste_model_path

pytestmark = pytest.mark.slow
runner = CliRunner()


def crawl(db: Path, feed: str, min_score: float = 0.5) -> None:
    with Catalog(db) as catalog:
        Crawl(catalog, Limits(delay=0.0, timeout=2.0), min_score=min_score,
              engine=LocalEngine(1)).run([Seed("feed", feed)])


def feed_of(site, clips, names: list[str], path: str = "/feed.xml") -> str:
    return site.add_feed(path, "New", [
        (name, site.add_file(f"/audio{path}/{clips[name].name}", clips[name]))
        for name in names])


def inbox(db: Path) -> dict[str, store.Candidate]:
    with Catalog(db) as catalog:
        return {c.title: c for c in store.inbox(catalog)}


def rate(db: Path, *args: str):
    return runner.invoke(app, ["rate", *args, "--db", str(db)])


@pytest.fixture
def tagged_song(clips, tmp_path) -> Path:
    """The jazz candidate with artist and title tags (its audio unchanged)."""
    tagged = tmp_path / "tagged.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(clips["jazz-1"]), "-c:a",
                    "copy", "-metadata", "artist=Test Quartet", "-metadata",
                    "title=Blue: Take 2", str(tagged)], check=True)
    return tagged


def test_like_moves_the_song_into_the_library_named_from_its_tags_and_rates_it(
        library, site, clips, tagged_song, tmp_path):
    feed = site.add_feed("/feed.xml", "New", [
        ("a jazz upload", site.add_file("/audio/tagged.mp3", tagged_song))])
    crawl(library, feed)
    candidate = inbox(library)["a jazz upload"]
    staged = Path(candidate.file)
    data = staged.read_bytes()
    with Catalog(library) as catalog:
        runs_before = catalog.execute("SELECT count(*) FROM model_runs").fetchone()[0]
    music = tmp_path / "Music" / "new"
    result = rate(library, candidate.ref, "like", "--into", str(music))
    assert result.exit_code == 0, result.output
    moved = music / "Test Quartet - Blue_ Take 2.mp3"  # ':' is not for every file system
    assert f"liked {candidate.ref}: moved to {moved}" in result.stdout
    assert moved.read_bytes() == data and not staged.exists()
    with Catalog(library) as catalog:
        track = tracks.get_track(catalog, moved)
        assert track is not None and track.id == candidate.track_id
        assert load_embeddings(catalog, DEFAULT_EMBEDDING, [track.id])[0] == [track.id]
        rating = ratings.current_rating(catalog, track.id)
        assert (rating.verdict, rating.source) == ("like", "inbox")
        assert store.get_candidate(catalog, candidate.id).status == "liked"
        assert catalog.execute("SELECT count(*) FROM model_runs").fetchone()[0] == runs_before + 1
        fingerprint = ratings.ratings_fingerprint(catalog, DEFAULT_EMBEDDING)
    assert load_taste_model(taste_model_path_of(library)).info["ratings_fingerprint"] == \
        fingerprint  # retrained on the new verdict
    assert "taste model retrained" in result.stdout


def taste_model_path_of(db: Path) -> Path:
    with Catalog(db) as catalog:
        return taste_model_path(catalog)


def test_dislike_deletes_the_song_and_keeps_its_rating_for_the_taste_model(
        library, site, clips):
    crawl(library, feed_of(site, clips, ["jazz-1", "classical-1"]), min_score=0.0)
    candidate = inbox(library)["jazz-1"]
    result = rate(library, candidate.ref, "dislike")
    assert result.exit_code == 0, result.output
    assert not Path(candidate.file).exists()
    with Catalog(library) as catalog:
        assert store.get_candidate(catalog, candidate.id).status == "disliked"
        assert store.get_candidate(catalog, candidate.id).file is None
        rating = ratings.current_rating(catalog, candidate.track_id)
        assert rating.label == 0
        # Its embedding stays: the next training learns from the dislike.
        assert load_embeddings(catalog, DEFAULT_EMBEDDING, [candidate.track_id])[0] == [
            candidate.track_id]
    assert list(inbox(library)) == ["classical-1"]


def test_a_candidate_is_named_by_its_address_too(library, site, clips, tmp_path):
    crawl(library, feed_of(site, clips, ["jazz-1"]))
    candidate = inbox(library)["jazz-1"]
    result = rate(library, candidate.url, "like", "--into", str(tmp_path / "lib"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lib" / "jazz-1.mp3").is_file()  # untagged: the site's title


def test_like_without_into_is_a_usage_error_that_changes_nothing(library, site, clips):
    crawl(library, feed_of(site, clips, ["jazz-1"]))
    candidate = inbox(library)["jazz-1"]
    result = rate(library, candidate.ref, "like")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {candidate.ref}: a liked candidate moves into "
                                     "your library: say where with --into DIR")
    assert Path(candidate.file).is_file() and inbox(library)["jazz-1"].status == "inbox"
    with Catalog(library) as catalog:
        assert ratings.current_rating(catalog, candidate.track_id) is None


def test_skip_and_three_stars_rate_but_keep_the_candidate_in_the_inbox(library, site, clips):
    crawl(library, feed_of(site, clips, ["jazz-1"]))
    candidate = inbox(library)["jazz-1"]
    for answer in ("skip", "3"):
        result = rate(library, candidate.ref, answer)
        assert result.exit_code == 0, result.output
        assert f"rated {candidate.ref}: it stays in the inbox" in result.stdout
    assert Path(candidate.file).is_file() and "jazz-1" in inbox(library)
    with Catalog(library) as catalog:
        said = [(r.verdict, r.stars) for r in ratings.rating_history(catalog, candidate.track_id)]
    assert said == [("skip", None), (None, 3)]


@pytest.mark.parametrize("ref", ["c999", "https://example.invalid/never-seen.mp3"])
def test_an_unknown_candidate_fails_with_exit_3(library, ref):
    result = rate(library, ref, "like", "--into", "x")
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {ref}: no such candidate (earmark inbox lists them)"


def test_a_rejected_candidate_cannot_be_judged(library, site, clips):
    crawl(library, feed_of(site, clips, ["metal-1"]))
    with Catalog(library) as catalog:
        (rejected,) = store.candidates_with(catalog, "rejected")
    result = rate(library, rejected.ref, "dislike")
    assert result.exit_code == 3
    assert result.stderr.strip() == f"error: {rejected.ref}: not in the inbox (it is rejected)"


def test_inbox_lists_candidates_best_first_with_their_provenance(library, site, clips):
    feed = feed_of(site, clips, ["jazz-1", "classical-1", "jazz-2"])
    crawl(library, feed, min_score=0.0)
    result = runner.invoke(app, ["inbox", "--json", "--db", str(library)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    for row in rows:
        assert row["source"] == f"feed {feed}"
        assert row["url"].startswith(site.base) and Path(row["path"]).is_file()
        assert row["candidate"].startswith("c") and row["reason"]
        assert row["title"] in ("jazz-1", "classical-1", "jazz-2")
        assert row["found_at"] <= row["fetched_at"]  # ISO 8601, same offset
    table = runner.invoke(app, ["inbox", "--db", str(library)])
    assert table.exit_code == 0 and "inbox (3)" in table.stdout


def test_verdicts_steer_the_next_crawl(library, site, clips, tmp_path):
    """Liking metal and hip-hop candidates against the library's taste, then disliking the
    jazz one, raises the next metal and hip-hop songs' scores and lowers the next jazz one's
    (compared with the same crawl on the catalog as it was before the verdicts)."""
    crawl(library, feed_of(site, clips, ["metal-1", "hiphop-1", "jazz-1"], "/one.xml"),
          min_score=0.0)
    unchanged = tmp_path / "before.sqlite"
    shutil.copyfile(library, unchanged)
    found = inbox(library)
    for name, verdict in (("metal-1", "like"), ("hiphop-1", "like"), ("jazz-1", "dislike")):
        result = rate(library, found[name].ref, verdict, "--into", str(tmp_path / "lib"))
        assert result.exit_code == 0, result.output
    feed = feed_of(site, clips, ["metal-2", "hiphop-2", "jazz-2"], "/two.xml")
    scores = {}
    for db in (unchanged, library):
        crawl(db, feed, min_score=0.0)
        scores[db] = {name: c.score for name, c in inbox(db).items() if name.endswith("2")}
    old, new = scores[unchanged], scores[library]
    assert new["metal-2"] > old["metal-2"] and new["hiphop-2"] > old["hiphop-2"]
    assert new["jazz-2"] < old["jazz-2"]
    assert not np.allclose(list(old.values()), list(new.values()))
