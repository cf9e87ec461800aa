"""The tag review page and its API (issue 14 item 5): the planned genre writes with their
reasons; accept, reject, edit; writes through the journalled writer that `earmark undo`
undoes; the command writer lock answered with 409. Private copies of real clips, a real
catalog with stored genre predictions, ffprobe as the independent reader."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from websupport import ORIGIN, PORT, SiteClient

from earmark.catalog import Catalog, journal
from earmark.catalog.predictions import store_predictions
from earmark.catalog.tracks import iter_tracks
from earmark.ingest.scan import scan
from earmark.tagging.review import EDITED, UNDONE
from earmark.tagging.sources import resolve_genre_model
from earmark.web import create_app
from realworld import ffprobe_tags

#: What the genre model says of each copied clip: the jazz and blues clips share an album
#: (artist Ada Quartet, album Night Sessions), the metal clip is alone in its.
PREDICTED = {"jazz.flac": {"Jazz": 0.7, "Blues": 0.5},
             "blues.wav": {"Blues": 0.6, "Jazz": 0.55},
             "metal.ogg": {"Metal": 0.9, "Rock": 0.4}}


@pytest.fixture
def library(web_songs, tmp_path) -> dict:
    """Private copies of three tagged clips, scanned into a fresh catalog with stored genre
    predictions of the default model, and a client of the app over it."""
    folder = tmp_path / "music"
    folder.mkdir()
    songs = {p.name: Path(shutil.copyfile(p, folder / p.name))
             for p in web_songs if p.name in PREDICTED}
    db = tmp_path / "catalog.sqlite"
    model = resolve_genre_model(None, "both").name
    with Catalog(db) as catalog:
        scan(catalog, [folder], verify=False)
        ids = {Path(t.path).name: t.id for t in iter_tracks(catalog)}
        for name, genres in PREDICTED.items():
            store_predictions(catalog, ids[name], model, {"genres": genres})
    app = create_app(db, host="127.0.0.1", port=PORT, cache_dir=tmp_path / "cache")
    with SiteClient(app, base_url=ORIGIN) as client:
        yield {"db": db, "songs": songs, "ids": ids, "client": client, "app": app}


def _plan(client, **options) -> dict:
    reply = client.post("/api/tag-review", json=options)
    assert reply.status_code == 200, reply.text
    review = client.get("/api/tag-review").json()
    return {**review, "by_name": {Path(i["path"]).name: i for i in review["items"]}}


def test_fill_mode_keeps_the_files_genres_and_says_so(library):
    review = _plan(library["client"])
    assert review["counts"] == {"kept": 3}
    assert review["by_name"]["metal.ogg"]["reason"] == "kept existing genre 'metal' (mode fill)"
    assert review["by_name"]["metal.ogg"]["current"] == ["metal"]


def test_the_plan_shows_each_file_with_its_reason_and_nothing_is_written(library):
    before = {name: path.read_bytes() for name, path in library["songs"].items()}
    review = _plan(library["client"], mode="overwrite")
    items = review["by_name"]
    assert review["counts"] == {"planned": 3}
    assert (items["metal.ogg"]["new"], items["metal.ogg"]["reason"]) == (
        ["Metal", "Rock"], "predicted Metal 0.90, Rock 0.40")
    # The album's two songs get one decision from their pooled evidence.
    assert items["blues.wav"]["new"] == ["Jazz", "Blues"]
    assert items["blues.wav"]["reason"].startswith("album consensus")
    assert all(i["decision"] == "pending" for i in review["items"])
    page = library["client"].get("/tags", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "predicted Metal 0.90, Rock 0.40" in page.text and "album consensus" in page.text
    assert {name: path.read_bytes() for name, path in library["songs"].items()} == before


def test_accepted_file_gets_the_genre_and_a_journal_row_and_undo_restores_it_exactly(library):
    client, song = library["client"], library["songs"]["jazz.flac"]
    original = song.read_bytes()
    others = {n: p.read_bytes() for n, p in library["songs"].items() if n != "jazz.flac"}
    review = _plan(client, mode="overwrite")
    rid, track = review["review_id"], library["ids"]["jazz.flac"]
    reply = client.post(f"/api/tag-review/{rid}/items/{track}", json={"action": "accept"})
    assert reply.status_code == 200 and reply.json()["decision"] == "accepted"
    written = client.post(f"/api/tag-review/{rid}/apply")
    assert written.status_code == 200, written.text
    assert written.json()["counts"] == {"written": 1}
    assert ffprobe_tags(song)["genre"] == "Jazz;Blues"
    with Catalog(library["db"]) as catalog:
        rows = journal.entries(catalog, batch_id=written.json()["batch"])
    assert [(Path(r.path).name, r.new) for r in rows] == [("jazz.flac", ["Jazz", "Blues"])]
    # The other files were pending: untouched.
    assert {n: p.read_bytes() for n, p in library["songs"].items() if n != "jazz.flac"} == others
    page = client.get("/tags?status=all")
    assert "applied" in page.text

    undone = client.post("/api/tag-review/undo", json={"batch": written.json()["batch"]})
    assert undone.status_code == 200, undone.text
    assert [r["status"] for r in undone.json()["results"]] == ["restored"]
    assert song.read_bytes() == original
    assert ffprobe_tags(song)["genre"] == "jazz"
    assert client.post("/api/tag-review/undo", json={}).status_code == 404


def _row(page: str, name: str) -> str:
    """The table row of the file ``name`` in a tags page's HTML."""
    rows = re.findall(r"<tr data-track.*?</tr>", page, flags=re.S)
    return next(row for row in rows if f">{name}</td>" in row)


def test_written_row_stays_in_view_and_undo_shows_it_undone_with_its_old_genre(library):
    client, song = library["client"], library["songs"]["jazz.flac"]
    review = _plan(client, mode="overwrite")
    rid, track = review["review_id"], library["ids"]["jazz.flac"]
    client.post(f"/api/tag-review/{rid}/items/{track}", json={"action": "accept"})
    assert client.post(f"/api/tag-review/{rid}/apply").status_code == 200
    # The page lists the written file under 'written' (where the page goes after writing),
    # with its new status and genre and no buttons; its path relative to the library folder.
    row = _row(client.get("/tags?status=written").text, "jazz.flac")
    assert 'data-decision="applied"' in row and '<td class="status">written</td>' in row
    assert f'title="{song}"' in row and "<td>Jazz; Blues</td>" in row
    assert "<button" not in row

    undone = client.post("/api/tag-review/undo", json={})
    assert [r["status"] for r in undone.json()["results"]] == ["restored"]
    item = next(i for i in client.get("/api/tag-review").json()["items"]
                if i["track_id"] == track)
    assert (item["decision"], item["status"], item["current"]) == ("undone", "planned",
                                                                    ["jazz"])
    row = _row(client.get("/tags").text, "jazz.flac")  # the default list: planned
    assert 'data-decision="undone"' in row and "<td>jazz</td>" in row
    assert UNDONE in row and "<button" not in row
    assert ffprobe_tags(song)["genre"] == "jazz"


def test_tags_page_says_undo_restores_the_tags_not_the_bytes(library):
    page = library["client"].get("/tags").text
    assert "restores the files' tags exactly" in page
    assert "restores the files exactly" not in page


def test_rejected_file_is_left_untouched(library):
    client, song = library["client"], library["songs"]["metal.ogg"]
    original = song.read_bytes()
    review = _plan(client, mode="overwrite")
    rid = review["review_id"]
    reply = client.post(f"/api/tag-review/{rid}/items/{library['ids']['metal.ogg']}",
                        json={"action": "reject"})
    assert reply.json()["decision"] == "rejected"
    refused = client.post(f"/api/tag-review/{rid}/apply")
    assert refused.status_code == 422
    assert refused.json()["detail"] == "nothing to write: accept or edit some files first"
    assert song.read_bytes() == original


def test_edited_genres_are_written_in_the_vocabularys_spelling(library):
    client, song = library["client"], library["songs"]["jazz.flac"]
    review = _plan(client)  # fill mode: the file keeps its genre unless edited
    rid, track = review["review_id"], library["ids"]["jazz.flac"]
    reply = client.post(f"/api/tag-review/{rid}/items/{track}",
                        json={"action": "edit", "genres": ["hip hop", "rnb"]})
    assert reply.status_code == 200, reply.text
    item = reply.json()
    assert (item["decision"], item["status"], item["reason"]) == ("edited", "planned", EDITED)
    assert (item["old"], item["new"]) == (["jazz"], ["Hip-Hop", "R&B"])
    assert client.post(f"/api/tag-review/{rid}/apply").json()["counts"] == {"written": 1}
    assert ffprobe_tags(song)["genre"] == "Hip-Hop;R&B"


def test_unusable_decisions_are_refused_with_a_reason(library):
    client = library["client"]
    review = _plan(client)
    rid, track = review["review_id"], library["ids"]["jazz.flac"]
    url = f"/api/tag-review/{rid}/items/{track}"
    kept = client.post(url, json={"action": "accept"})
    assert kept.status_code == 422
    assert "nothing is planned for" in kept.json()["detail"]
    unknown = client.post(url, json={"action": "edit", "genres": ["Gloomwave"]})
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("not in the genre vocabulary: Gloomwave")
    assert client.post(f"/api/tag-review/{rid}/items/999999",
                       json={"action": "reject"}).status_code == 404
    assert client.post(f"/api/tag-review/{rid}/items/{track}",
                       json={"action": "delete"}).status_code == 422
    newer = _plan(client)
    stale = client.post(url, json={"action": "reject"})
    assert stale.status_code == 409 and "reload" in stale.json()["detail"]
    assert newer["review_id"] != rid
    unknown_model = client.post("/api/tag-review", json={"model": "no such model"})
    assert unknown_model.status_code == 422
    assert "unknown model 'no such model'" in unknown_model.json()["detail"]


def test_a_cross_origin_write_is_refused(library):
    before = {n: p.read_bytes() for n, p in library["songs"].items()}
    review = _plan(library["client"], mode="overwrite")
    with TestClient(library["app"], base_url=ORIGIN) as foreign:
        reply = foreign.post(f"/api/tag-review/{review['review_id']}/apply",
                             headers={"Origin": "http://evil.example"})
    assert reply.status_code == 403
    assert {n: p.read_bytes() for n, p in library["songs"].items()} == before


def test_writes_answer_409_naming_the_command_that_holds_the_writer_lock(library):
    client, song = library["client"], library["songs"]["metal.ogg"]
    original = song.read_bytes()
    review = _plan(client, mode="overwrite")
    rid = review["review_id"]
    client.post(f"/api/tag-review/{rid}/items/{library['ids']['metal.ogg']}",
                json={"action": "accept"})
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom earmark.catalog import Catalog\n"
         "c = Catalog(sys.argv[1], lock=True)\nprint('held', flush=True)\ntime.sleep(60)",
         str(library["db"])], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        expected = (f"earmark (process {holder.pid}) is writing to this catalog; try again "
                    "when it ends")
        for url, body in [(f"/api/tag-review/{rid}/apply", None),
                          ("/api/tag-review/undo", {}),
                          ("/api/tag-review", {"mode": "overwrite"})]:
            reply = client.post(url, json=body)
            assert (reply.status_code, reply.json()["detail"]) == (409, expected)
        # Reading and deciding do not need the lock.
        assert client.get("/api/tag-review").status_code == 200
        assert client.get("/tags").status_code == 200
    finally:
        holder.kill()
        holder.wait()
    assert song.read_bytes() == original
    assert client.post(f"/api/tag-review/{rid}/apply").json()["counts"] == {"written": 1}
    assert song.read_bytes() != original


def test_accept_all_pending_accepts_the_planned_files_not_yet_decided(library):
    client = library["client"]
    review = _plan(client, mode="overwrite")
    rid, ids = review["review_id"], library["ids"]
    assert "Accept all 3 pending" in client.get("/tags").text
    client.post(f"/api/tag-review/{rid}/items/{ids['metal.ogg']}", json={"action": "reject"})
    reply = client.post(f"/api/tag-review/{rid}/accept-pending")
    assert reply.status_code == 200 and reply.json() == {"accepted": 2}
    decisions = {Path(i["path"]).name: i["decision"]
                 for i in client.get("/api/tag-review").json()["items"]}
    assert decisions == {"jazz.flac": "accepted", "blues.wav": "accepted",
                         "metal.ogg": "rejected"}  # a decision taken stays
    assert "pending</button>" not in client.get("/tags").text  # nothing left to accept
    assert client.post(f"/api/tag-review/{rid}/accept-pending").json() == {"accepted": 0}
    assert client.post("/api/tag-review/nope/accept-pending").status_code == 409
