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


def test_an_unknown_page_is_a_404_page_for_browsers_and_json_for_scripts(client):
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "Error 404" in page.text and 'href="/"' in page.text
    api = client.get("/api/no-such-thing")
    assert (api.status_code, api.json()) == (404, {"detail": "Not Found"})


def test_every_page_names_an_icon_the_app_serves(client):
    """Without one, every browser asks for /favicon.ico and logs its 404 on every page."""
    for path in ("/", "/review", "/tags", "/dashboard", "/no/such/page"):
        page = client.get(path, headers={"Accept": "text/html"})
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.startswith("<svg") and len(icon.content) < 1024


def test_pages_and_static_files_ship_inside_the_package():
    from importlib.resources import files

    web = files("earmark.web")
    for name in ("templates/base.html", "templates/library.html", "templates/login.html",
                 "templates/error.html", "static/app.css", "static/app.js",
                 "static/favicon.svg"):
        assert web.joinpath(name).is_file(), name
    assert "http" not in web.joinpath("templates/base.html").read_text().replace(
        'href="/', "")  # nothing loaded from another site


def test_a_specific_non_loopback_address_accepts_only_its_own_name():
    from earmark.web.security import Binding

    binding = Binding("192.168.1.20", 8000, token="t")
    assert binding.host_allowed("192.168.1.20:8000")
    for host in ("127.0.0.1:8000", "evil.example:8000", "192.168.1.20:8001", "192.168.1.20"):
        assert not binding.host_allowed(host), host
