"""A crawl killed with SIGKILL resumes from the catalog: nothing it had downloaded or decided
is fetched again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from earmark.catalog import Catalog
from earmark.catalog import candidates as store

pytestmark = pytest.mark.slow


def discover(db: Path, feed: str) -> subprocess.Popen:
    env = os.environ | {"EARMARK_WORKERS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "earmark", "discover", "--feed", feed, "--db", str(db),
         "--delay", "0.4", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


def statuses(db: Path) -> dict[str, str]:
    with Catalog(db) as catalog:
        return {c.url: c.status for c in store.candidates_with(catalog, *store.STATUSES)}


def test_a_killed_crawl_resumes_without_fetching_again(library, site, clips):
    names = ["jazz-1", "metal-1", "classical-1", "hiphop-1", "jazz-2", "metal-2"]
    items = [(n, site.add_file(f"/audio/{clips[n].name}", clips[n])) for n in names]
    feed = site.add_feed("/feed.xml", "Six", items)
    first = discover(library, feed)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if library.exists() and sum(s != "queued" for s in statuses(library).values()) >= 2:
            break
        time.sleep(0.05)
    assert first.poll() is None, first.communicate()  # still running: killed part way
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = statuses(library)
    done = [url for url, status in at_kill.items() if status != "queued"]
    assert 2 <= len(done) < len(names)
    before = len(site.requests)

    second = discover(library, feed)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    again = [r.path for r in site.requests[before:]]
    for url in done:
        assert url.removeprefix(site.base) not in again  # never fetched again
    final = statuses(library)
    assert set(final) == {url for _, url in items}  # each address once
    assert set(final.values()) <= {"inbox", "rejected"}
    with Catalog(library) as catalog:
        staged = {Path(c.file).name for c in store.inbox(catalog)}
    staging = library.with_name("catalog-staging")
    assert {p.name for p in staging.iterdir()} == staged  # no partial download left
