"""The app's skeleton: pages render, security guards every route, the server runs."""

from __future__ import annotations

import urllib.request


def test_library_page_lists_the_scanned_songs(client):
    page = client.get("/", headers={"Accept": "text/html"})
    assert page.status_code == 200
    for title in ("Blue Smoke", "Sonata in Rain", "Iron Tide", "Mirror Ball", "Corner Talk",
                  "Muddy Road"):
        assert title in page.text
    assert 'name="csrf-token"' in page.text
    for nav in ("Library", "Review", "Tags", "Explore", "Dashboard"):
        assert f">{nav}</a>" in page.text


def test_live_server_answers_on_loopback(live_server):
    assert live_server.url.startswith("http://127.0.0.1:")
    assert live_server.token is None
    with urllib.request.urlopen(live_server.url + "api/songs") as reply:
        assert reply.status == 200
        assert b"Blue Smoke" in reply.read()
