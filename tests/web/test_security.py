"""The web app's Security section: files only by catalog id, Host checks (DNS rebinding),
CSRF (Origin and token), body limits, and the access token of a non-loopback bind."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient
from websupport import ORIGIN, PORT, SiteClient

from earmark.catalog import Catalog
from earmark.catalog.tracks import forget_tracks, get_track, move_track
from earmark.web import create_app, running
from earmark.web.security import ACCESS_COOKIE, CSRF_COOKIE, MAX_BODY_BYTES

#: What a traversal could reach: a file outside the catalog whose text we recognise.
SECRET_TEXT = "root:x:0:0"
#: Traversal attempts put where a route expects an id (already in URL form: they reach the
#: server as written).
TRAVERSALS = [
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",              # encoded
    "..%252F..%252F..%252Fetc%252Fpasswd",           # double-encoded
    "%2Fetc%2Fpasswd",                               # absolute
    "..%5C..%5C..%5Cetc%5Cpasswd",                   # backslash
    "1%2F..%2F..%2F..%2Fetc%2Fpasswd",               # an id, then a climb
    "%2e%2e",                                        # '..' itself
    "-1", "0", "1.5", "99999999999999999999999",
]


def _id_routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app that takes a path parameter."""
    return [(method.upper(), path) for path, methods in app.openapi()["paths"].items()
            if "{" in path for method in methods]


def test_every_route_with_an_id_refuses_traversal(client, app):
    routes = _id_routes(app)
    assert ("GET", "/api/songs/{song_id}/audio") in routes
    for method, template in routes:
        for attempt in TRAVERSALS:
            url = re.sub(r"\{[^}]+\}", attempt, template)
            reply = client.request(method, url)
            # refused (which 4xx depends on the route: no such id, not an id, stale review)
            assert 400 <= reply.status_code < 500, (method, url, reply.status_code)
            assert SECRET_TEXT not in reply.text, (method, url)


def test_static_files_refuse_traversal(client):
    for attempt in ("..%2F..%2Fapp.py", "..%252F..%252Fapp.py", "%2Fetc%2Fpasswd",
                    "..%5C..%5Capp.py", "../../app.py"):
        reply = client.get(f"/static/{attempt}")
        assert reply.status_code == 404, attempt
        assert "create_app" not in reply.text and SECRET_TEXT not in reply.text


def test_audio_of_a_missing_id_is_404_with_a_reason(client):
    reply = client.get("/api/songs/4242/audio")
    assert reply.status_code == 404
    assert reply.json() == {"detail": "no song with id 4242 in the catalog"}


def test_audio_of_a_song_removed_from_the_catalog_is_404(client, catalog_path, web_songs):
    with Catalog(catalog_path) as catalog:
        song_id = get_track(catalog, web_songs[1]).id
        forget_tracks(catalog, [str(web_songs[1])])
    reply = client.get(f"/api/songs/{song_id}/audio")
    assert (reply.status_code, reply.json()) == (
        404, {"detail": f"no song with id {song_id} in the catalog"})


def test_audio_of_a_file_gone_from_disk_is_404_saying_so(client, catalog_path, web_songs,
                                                         tmp_path):
    gone = shutil.copyfile(web_songs[0], tmp_path / "gone.flac")
    with Catalog(catalog_path) as catalog:
        track = get_track(catalog, web_songs[0])
        move_track(catalog, track.id, gone)
    gone.unlink()
    reply = client.get(f"/api/songs/{track.id}/audio")
    assert reply.status_code == 404
    assert reply.json()["detail"] == (f"the file of song {track.id} is gone from disk ({gone}: "
                                      "No such file or directory); run earmark scan")


@pytest.mark.parametrize("host", [
    "evil.example", f"evil.example:{PORT}", "127.0.0.1", f"127.0.0.1:{PORT + 1}",
    f"192.168.1.20:{PORT}", f"localhost.evil.example:{PORT}", "",
])
def test_a_forged_host_is_refused(bare_client, host):
    reply = bare_client.get("/api/songs", headers={"Host": host})
    assert reply.status_code == 400
    assert "unknown Host header" in reply.text


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}"])
def test_loopback_names_of_the_bound_port_are_served(bare_client, host):
    assert bare_client.get("/api/songs", headers={"Host": host}).status_code == 200


def _login_post(client: TestClient, headers: dict, data: dict | None = None):
    return client.post("/login", data=data or {"token": "x"}, headers=headers,
                       follow_redirects=False)


def test_a_cross_origin_post_is_refused(client):
    token = client.csrf_token()
    for headers in ({"Origin": "http://evil.example"},
                    {"Origin": f"http://127.0.0.1:{PORT + 1}"},
                    {"Origin": "null"},
                    {"Origin": f"https://127.0.0.1:{PORT}"}):
        reply = _login_post(client, {**headers, "X-CSRF-Token": token})
        assert (reply.status_code, reply.text) == (403, "cross-origin request refused")


def test_a_post_without_origin_or_referer_is_refused(bare_client):
    bare_client.get("/static/app.css")
    token = bare_client.cookies[CSRF_COOKIE]
    reply = _login_post(bare_client, {"X-CSRF-Token": token})
    assert reply.status_code == 403
    reply = _login_post(bare_client, {"X-CSRF-Token": token,
                                      "Referer": "http://evil.example/page"})
    assert reply.status_code == 403
    reply = _login_post(bare_client, {"X-CSRF-Token": token, "Referer": f"{ORIGIN}/"})
    assert reply.status_code == 303  # same-origin Referer, right token: served


def test_a_same_origin_post_needs_the_csrf_token(client):
    token = client.csrf_token()
    for headers, data in (({"X-CSRF-Token": ""}, None),
                          ({"X-CSRF-Token": "x" * 43}, None),
                          ({"X-CSRF-Token": ""}, {"token": "x", "csrf_token": "y" * 43})):
        reply = _login_post(client, headers, data)
        assert reply.status_code == 403, headers
        assert "CSRF token" in reply.json()["detail"]
    # the form field is accepted in place of the header (plain HTML forms)
    reply = _login_post(client, {"X-CSRF-Token": ""}, {"token": "x", "csrf_token": token})
    assert reply.status_code == 303


def test_the_csrf_cookie_is_samesite_strict_and_httponly(bare_client):
    cookie = bare_client.get("/static/app.css").headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=")
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie and "Path=/" in cookie


def test_an_oversized_body_is_refused(client):
    big = b"token=" + b"x" * MAX_BODY_BYTES
    reply = client.post("/login", content=big,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 413


def test_an_oversized_body_without_a_length_is_refused(client):
    def chunks():
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    reply = client.post("/login", content=chunks(),
                        headers={"Content-Type": "application/x-www-form-urlencoded",
                                 "X-CSRF-Token": ""})
    assert reply.status_code == 413


def test_a_non_loopback_app_without_a_token_cannot_be_built(catalog_path):
    with pytest.raises(ValueError, match="needs an access token"):
        create_app(catalog_path, host="0.0.0.0", port=PORT)


@pytest.fixture
def guarded(catalog_path, tmp_path):
    """The app as bound to every address (0.0.0.0:PORT) with an access token."""
    app = create_app(catalog_path, host="0.0.0.0", port=PORT, token="s3cret-token-for-tests",
                     cache_dir=tmp_path / "cache")
    with SiteClient(app, base_url=ORIGIN) as site:
        yield site


def test_non_loopback_bind_refuses_requests_without_the_token(guarded):
    assert guarded.get("/api/songs").status_code == 401
    assert guarded.get("/api/songs/1/audio").status_code == 401
    page = guarded.get("/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (page.status_code, page.headers["location"]) == (303, "/login")
    guarded.cookies.set(ACCESS_COOKIE, "wrong")
    assert guarded.get("/api/songs").status_code == 401


def test_the_login_page_asks_for_the_token_and_keeps_it_in_an_httponly_cookie(guarded):
    form = guarded.get("/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    wrong = guarded.post("/login", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401 and "not the access token" in wrong.text
    assert ACCESS_COOKIE not in guarded.cookies
    right = guarded.post("/login", data={"token": "s3cret-token-for-tests"},
                         follow_redirects=False)
    assert (right.status_code, right.headers["location"]) == (303, "/")
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert guarded.get("/api/songs").status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_live_wildcard_bind_makes_a_token_and_refuses_requests_without_it(catalog_path):
    with running(catalog_path, host="0.0.0.0") as address:
        assert address.token and len(address.token) >= 24
        port = address.url.rsplit(":", 1)[1].rstrip("/")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/songs")
        assert refused.value.code == 401
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/songs",
                                         headers={"Cookie": f"{ACCESS_COOKIE}={address.token}"})
        with urllib.request.urlopen(request) as reply:
            assert reply.status == 200


def test_serve_on_a_wildcard_address_prints_the_url_and_the_token_once(catalog_path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "earmark", "serve", "--db", str(catalog_path), "--host",
         "0.0.0.0", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        first, second = process.stdout.readline(), process.stdout.readline()
        assert first.startswith(f"earmark is serving http://0.0.0.0:{port}/"), (
            first + process.stderr.read() if not first else first)
        token = re.fullmatch(r"access token: (\S+)  \(the page asks for it once\)\n", second)
        assert token is not None, second
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/songs",
                                         headers={"Cookie": f"{ACCESS_COOKIE}={token[1]}"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert reply.status == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
