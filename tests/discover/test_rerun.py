"""What a listener meets when discover runs again: failures that may pass are tried again and
lasting ones never; a track given again is not asked for again; Ctrl-C ends a watch with one
line and exit 130; the messages name real candidates and show downloads-folder songs as paths;
a kept rejected candidate can still be judged."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from discover_site import Route
from typer.testing import CliRunner
from yt_dlp.utils import DownloadError, bug_reports_message

from earmark.catalog import Catalog
from earmark.catalog import candidates as store
from earmark.cli import app
from earmark.discover.crawl import Crawl, Limits, Seed
from earmark.discover.sources import Provider, is_transient
from earmark.engine import LocalEngine

runner = CliRunner()
ENV = {"EARMARK_WORKERS": "1"}


def discover(db: Path, *args: str):
    return runner.invoke(app, ["discover", *args, "--delay", "0", "--db", str(db)], env=ENV)


def by_url(db: Path) -> dict[str, store.Candidate]:
    with Catalog(db) as catalog:
        return {c.url: c for c in store.candidates_with(catalog, *store.STATUSES)}


@pytest.mark.parametrize(("reason", "transient"), [
    ("timed out (no answer within 20 s)", True),
    ("connection failed: [Errno 111] Connection refused", True),
    ("HTTP error 503", True), ("HTTP error 500", True), ("HTTP error 429", True),
    ("not found (HTTP 404)", False), ("HTTP error 403", False),
    ("too large: over 100 MB (--max-filesize)", False),
    ("not an audio file (no known container format found)", False),
    ("no media found at this address", False), (None, False)])
def test_only_failures_that_may_pass_are_transient(reason, transient):
    assert is_transient(reason) is transient


@pytest.mark.slow
def test_a_timeout_or_server_error_is_tried_again_on_the_next_run_and_a_404_never(
        library, site, clips):
    slow = site.add("/a/slow.mp3", Route(b"late", "audio/mpeg", delay=3.0))
    busy = site.add("/a/busy.mp3", Route(b"<html>try later</html>", "text/html", 503))
    gone = site.url("/a/gone.mp3")
    feed = site.add_feed("/feed.xml", "Flaky", [("slow", slow), ("busy", busy),
                                                ("gone", gone)])
    first = discover(library, "--feed", feed, "--timeout", "1", "--json", "--max-downloads", "2")
    assert first.stderr.splitlines()[-1] == ("stopped: 2 downloads (--max-downloads); run it "
                                             "again to go on")
    rest = discover(library, "--timeout", "1", "--json")  # the third, and the first two again
    assert (first.exit_code, rest.exit_code) == (1, 1), first.output + rest.output
    rows = map(json.loads, (first.stdout + rest.stdout).splitlines())
    assert {r["title"]: r["reason"] for r in rows} == {
        "slow": "timed out (no answer within 1 s)", "busy": "HTTP error 503",
        "gone": "not found (HTTP 404)"}
    # The site recovers; a run without a source goes on with what may now work.
    site.add_file("/a/slow.mp3", clips["jazz-1"])
    site.add_file("/a/busy.mp3", clips["metal-1"])
    asked = site.fetched("/a/gone.mp3")
    second = discover(library, "--json")
    assert second.exit_code == 0, second.output
    rows = {r["title"]: r for r in map(json.loads, second.stdout.splitlines())}
    assert {t: r["status"] for t, r in rows.items()} == {"slow": "inbox", "busy": "rejected"}
    after = by_url(library)
    assert (after[slow].status, after[busy].status) == ("inbox", "rejected")
    assert (after[gone].status, after[gone].reason) == ("failed", "not found (HTTP 404)")
    third = discover(library, "--feed", feed, "--json")  # listed again: nothing to fetch
    assert third.exit_code == 0 and third.stdout == "", third.output
    assert site.fetched("/a/gone.mp3") == asked
    assert discover(library).exit_code == 3  # nothing waits: the 404 is not work


@pytest.mark.slow
def test_a_track_given_again_is_not_asked_for_again_and_the_hint_names_a_real_candidate(
        library, site, clips, tmp_path):
    song = site.add_file("/a/jazz-1.mp3", clips["jazz-1"])
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{song}\n", encoding="utf-8")
    first = discover(library, "--urls", str(listing))
    assert first.exit_code == 0, first.output
    ref = by_url(library)[song].ref
    assert f"earmark rate {ref} like --into DIR keeps one" in first.stdout
    asked = len(site.requests)
    again = discover(library, "--urls", str(listing))
    assert again.exit_code == 0, again.output
    assert len(site.requests) == asked  # no GET, no HEAD
    assert again.stdout.splitlines()[0] == ("nothing new: every address these sources list "
                                            "was seen before")
    assert "0 download(s)" in again.stdout


@pytest.mark.slow
def test_downloads_folder_songs_show_as_paths_relative_to_the_folder(
        library, library_db, clips, tmp_path):
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    shutil.copyfile(library_db["files"][0], downloads / "copy.flac")  # a library song's audio
    shutil.copyfile(clips["jazz-1"], downloads / "new.mp3")
    result = discover(library, "--folder", str(downloads))
    assert result.exit_code == 0, result.output
    duplicate = next(line for line in result.stderr.splitlines()
                     if line.startswith("duplicate"))
    assert duplicate.split(" ")[2] == "copy.flac:" and "file:" not in result.stderr
    shutil.copyfile(clips["classical-1"], downloads / "more.m4a")
    as_json = discover(library, "--folder", str(downloads), "--json")
    (row,) = map(json.loads, as_json.stdout.splitlines())
    assert row["path"] == str(downloads / "more.m4a") and row["status"] == "inbox"
    table = runner.invoke(app, ["inbox", "--db", str(library)])
    assert table.exit_code == 0, table.output
    # Addresses fold, never cut; a folder's song shows as its path.
    assert "…" not in table.stdout and "file:" not in table.stdout
    assert "more.m4a" in table.stdout.replace("\n", "").replace("│", "").replace(" ", "")


@pytest.mark.slow
def test_a_kept_rejected_candidate_can_be_liked_and_gets_one_extension(
        library, site, clips, tmp_path):
    song = site.add_file("/a/metal-1.mp3", clips["metal-1"])
    feed = site.add_feed("/feed.xml", "One", [("metal-1.mp3", song)])
    with Catalog(library) as catalog:
        Crawl(catalog, Limits(delay=0.0, timeout=2.0), keep=True,
              engine=LocalEngine(1)).run([Seed("feed", feed)])
    rejected = by_url(library)[song]
    assert rejected.status == "rejected" and Path(rejected.file).is_file()
    assert rejected.duration == pytest.approx(5.0, abs=0.1)  # from the file: the site said none
    assert runner.invoke(app, ["inbox", "--db", str(library)]).exit_code == 3  # empty
    listed = runner.invoke(app, ["inbox", "--kept", "--json", "--db", str(library)])
    (row,) = map(json.loads, listed.stdout.splitlines())
    assert (row["candidate"], row["status"], row["path"]) == (
        rejected.ref, "rejected", rejected.file)
    result = runner.invoke(app, ["rate", rejected.ref, "like", "--into", str(tmp_path / "lib"),
                                 "--db", str(library)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lib" / "metal-1.mp3").is_file() and not Path(rejected.file).exists()
    assert by_url(library)[song].status == "liked"


@pytest.mark.slow
def test_ctrl_c_ends_a_watch_with_one_line_and_exit_130_and_keeps_what_it_found(
        library, clips, tmp_path):
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    shutil.copyfile(clips["jazz-1"], downloads / "jazz-1.mp3")
    # Its own process group, as a terminal's: Ctrl-C reaches the workers too.
    watch = subprocess.Popen(
        [sys.executable, "-m", "earmark", "discover", "--folder", str(downloads), "--watch",
         "--db", str(library)], env=os.environ | ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and watch.poll() is None:
        if any(c.status == "inbox" for c in by_url(library).values()):
            break
        time.sleep(0.2)
    assert watch.poll() is None, watch.communicate()
    time.sleep(0.5)  # into its wait for new files
    os.killpg(watch.pid, signal.SIGINT)
    out, err = watch.communicate(timeout=60)
    assert watch.returncode == 130, err
    lines = [line for line in err.splitlines() if not line.startswith("discovering:")]
    assert lines == ["interrupted: 1 download(s), 1 new in the inbox; everything is kept: run "
                     "it again to go on"]
    again = discover(library, "--folder", str(downloads), "--json")
    assert again.exit_code == 0 and again.stdout == "", again.output
    assert [c.status for c in by_url(library).values()] == ["inbox"]


@pytest.mark.slow
def test_a_seed_that_is_not_an_address_fails_with_a_clear_reason(library, site, tmp_path):
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss/>", encoding="utf-8")
    no_scheme = site.url("/feed.xml").removeprefix("http://")
    result = discover(library, "--feed", str(feed), "--feed", no_scheme)
    assert result.exit_code == 1, result.output
    reason = "not an address: give it as http://... or https://..."
    assert result.stderr.splitlines() == [f"failed feed {feed}: {reason}",
                                          f"failed feed {no_scheme}: {reason}"]
    assert site.requests == []


def test_yt_dlp_s_request_to_report_a_bug_is_left_out_of_the_reason():
    error = DownloadError(f"ERROR: [generic] feed: Unable to download webpage: boom"
                          f"{bug_reports_message()}")
    assert Provider().reason(error) == (
        "extractor error: [generic] feed: Unable to download webpage: boom")
