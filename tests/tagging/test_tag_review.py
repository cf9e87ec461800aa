"""Reviewing planned genre writes (earmark.tagging.review), the service behind the web app's tag
review page: real-music files, a real catalog with stored genre predictions, ffprobe as the
independent reader of what was written, the journal and undo the CLI uses."""

from __future__ import annotations

from pathlib import Path

import mutagen
import pytest
from mutagen.id3 import TCON

from earmark.catalog import journal
from earmark.catalog.predictions import store_predictions
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file
from earmark.tagging.plan import undo_batch
from earmark.tagging.policy import load_policy
from earmark.tagging.review import EDITED, UNDONE, canonical_genres, start_review
from earmark.tags.write import open_tags
from realworld import encode, metadata_args

MODEL = "test-classifier"


@pytest.fixture
def library(decorated, catalog, tmp_path) -> dict[str, Path]:
    """Three tagged real-music songs without a genre, each in its own folder (no album
    pooling), scanned, with stored genre predictions of MODEL: one confident (jazz), one
    below the threshold, one already holding a genre (kept in fill mode)."""
    predictions = {"jazz": {"jazz": 0.8, "blues": 0.4}, "quiet": {"metal": 0.1},
                   "tagged": {"rock": 0.9}}
    songs = {}
    for name, fmt in (("jazz", "flac"), ("quiet", "flac"), ("tagged", "mp3")):
        (tmp_path / name).mkdir()
        songs[name] = decorated(fmt, f"{name}/{name}.{fmt}")
    audio = open_tags(songs["tagged"])
    audio.tags.add(TCON(encoding=3, text=["Country"]))
    audio.save()
    for name, song in songs.items():
        track = add_file(catalog, song, verify=False)
        store_predictions(catalog, track.id, MODEL, {"genres": predictions[name]})
    return songs


def _by_name(review, songs):
    return {name: review.items[_id(review, path)] for name, path in songs.items()}


def _id(review, path: Path) -> int:
    return next(i for i, item in review.items.items() if item.plan.path == str(path))


def test_review_shows_every_file_with_its_status_and_reason_and_writes_nothing(
        library, catalog):
    before = {name: p.read_bytes() for name, p in library.items()}
    review = start_review(catalog, model=MODEL)
    items = _by_name(review, library)
    assert {n: (i.plan.status, i.decision) for n, i in items.items()} == {
        "jazz": ("planned", "pending"), "quiet": ("below-threshold", "pending"),
        "tagged": ("kept", "pending")}
    assert items["jazz"].to_dict()["new"] == ["Jazz", "Blues"]
    assert items["jazz"].to_dict()["confidence"] == {"Jazz": 0.8, "Blues": 0.4}
    assert items["jazz"].plan.reason == "predicted Jazz 0.80, Blues 0.40"
    assert items["quiet"].plan.reason == "below --min-confidence 0.30 (best: Metal 0.10)"
    assert items["tagged"].plan.reason == "kept existing genre 'Country' (mode fill)"
    assert items["tagged"].current == ["Country"]
    assert review.counts() == {"planned": 1, "below-threshold": 1, "kept": 1}
    assert {name: p.read_bytes() for name, p in library.items()} == before


def test_accepted_file_is_written_and_journalled_and_undo_restores_it_byte_for_byte(
        library, catalog, probe):
    original = library["jazz"].read_bytes()
    review = start_review(catalog, model=MODEL)
    review.accept(_id(review, library["jazz"]))
    outcome = review.apply(catalog)
    assert outcome.counts() == {"written": 1}
    assert probe(library["jazz"])["genre"] == "Jazz;Blues"
    rows = journal.entries(catalog, batch_id=outcome.batch)
    assert [(r.path, r.new) for r in rows if r.field == "GENRE"] == [
        (str(library["jazz"]), ["Jazz", "Blues"])]
    assert review.batches == [outcome.batch]
    assert review.item(_id(review, library["jazz"])).decision == "applied"
    assert review.item(_id(review, library["jazz"])).current == ["Jazz", "Blues"]
    # Applying again writes nothing twice.
    with pytest.raises(EarmarkError, match="nothing to write"):
        review.apply(catalog)

    results = undo_batch(catalog, outcome.batch)
    assert [(r.path, r.status) for r in results] == [(str(library["jazz"]), "restored")]
    assert library["jazz"].read_bytes() == original
    assert undo_batch(catalog, outcome.batch) == []


def test_undo_through_the_review_marks_the_restored_file_undone_with_its_old_genre(
        library, catalog, probe):
    original = library["jazz"].read_bytes()
    review = start_review(catalog, model=MODEL)
    jazz = _id(review, library["jazz"])
    planned = review.item(jazz).plan
    review.accept(jazz)
    review.apply(catalog)
    assert review.item(jazz).plan.status == "written"

    results = review.undo(catalog)  # the last batch, as 'earmark undo --last'
    assert [(r.path, r.status) for r in results] == [(str(library["jazz"]), "restored")]
    assert library["jazz"].read_bytes() == original
    item = review.item(jazz)
    # The row shows the plan it was written from again, what the file holds now (no genre)
    # and that it was undone; it is not written again unless planned again.
    assert (item.decision, item.plan.status, item.current) == ("undone", "planned", [])
    assert item.plan.reason == planned.reason and item.plan.note == UNDONE
    assert item.to_dict()["new"] == ["Jazz", "Blues"]
    assert "genre" not in probe(library["jazz"])
    with pytest.raises(EarmarkError, match="nothing to write"):
        review.apply(catalog)
    assert review.undo(catalog) == []  # nothing left to undo
    # The other files were never written: untouched by the undo too.
    assert {n: i.decision for n, i in _by_name(review, library).items() if n != "jazz"} == {
        "quiet": "pending", "tagged": "pending"}


def test_rejected_and_pending_files_stay_untouched(library, catalog):
    before = {name: p.read_bytes() for name, p in library.items()}
    review = start_review(catalog, model=MODEL)
    review.reject(_id(review, library["jazz"]))
    with pytest.raises(EarmarkError, match="nothing to write"):
        review.apply(catalog)
    assert {name: p.read_bytes() for name, p in library.items()} == before
    assert journal.last_batch(catalog) is None


def test_edited_genres_are_written_in_the_vocabularys_spelling_replacing_the_files_own(
        library, catalog, probe):
    review = start_review(catalog, model=MODEL)
    item = review.edit(catalog, _id(review, library["tagged"]), ["hip hop", "dnb"])
    assert (item.plan.status, item.decision, item.plan.reason) == ("planned", "edited", EDITED)
    assert item.to_dict()["old"] == ["Country"]
    assert item.to_dict()["new"] == ["Hip-Hop", "Drum and Bass"]
    # A file below the threshold gets what the reviewer chose too.
    review.edit(catalog, _id(review, library["quiet"]), ["R&B"])
    outcome = review.apply(catalog)
    assert outcome.counts() == {"written": 2}
    # ffprobe shows only the first value of an ID3v2.4 multi-value frame; mutagen shows all.
    assert probe(library["tagged"])["genre"] == "Hip-Hop"
    assert mutagen.File(library["tagged"])["TCON"].text == ["Hip-Hop", "Drum and Bass"]
    assert probe(library["quiet"])["genre"] == "R&B"


def test_accepting_a_file_with_nothing_planned_says_to_edit_it(library, catalog):
    review = start_review(catalog, model=MODEL)
    with pytest.raises(EarmarkError, match=r"nothing is planned for .*tagged\.mp3 \(kept: "
                                           r"kept existing genre 'Country' \(mode fill\)\)"):
        review.accept(_id(review, library["tagged"]))
    with pytest.raises(KeyError):
        review.accept(10_000)


def test_edited_names_outside_the_vocabulary_are_refused_by_name():
    policy = load_policy()
    assert canonical_genres(["hip hop; ROCK", "Rock"], policy) == ["Hip-Hop", "Rock"]
    with pytest.raises(EarmarkError, match="not in the genre vocabulary: Gloomwave"):
        canonical_genres(["Jazz", "Gloomwave"], policy)
    with pytest.raises(EarmarkError, match="at least one genre"):
        canonical_genres([" ", ";"], policy)


@pytest.mark.parametrize("fmt", ["flac", "ogg", "opus"])
def test_ffmpeg_vorbis_comments_keep_their_spelling_and_place_so_undo_gives_the_same_bytes(
        catalog, tmp_path, fmt):
    """FFmpeg writes lower-case Vorbis comment names; earmark's genre goes where the file had
    its own, spelled the same, and undo puts back the same comments in the same order: every
    byte of a FLAC (an Ogg file's pages are laid out anew by mutagen, so only its comments)."""
    codec = {"flac": ["-c:a", "flac"], "ogg": ["-c:a", "libvorbis"],
             "opus": ["-c:a", "libopus"]}[fmt]
    song = encode(tmp_path / f"song.{fmt}", codec, seconds=2.0,
                  extra=metadata_args({"genre": "jazz", "title": "Late Set"}))
    original = song.read_bytes()
    comments = list(mutagen.File(song).tags)
    names = [name for name, _ in comments]
    track = add_file(catalog, song, verify=False)
    store_predictions(catalog, track.id, MODEL, {"genres": {"metal": 0.9}})
    review = start_review(catalog, model=MODEL, policy=load_policy().with_(mode="overwrite"))
    review.accept(track.id)
    outcome = review.apply(catalog)
    assert outcome.counts() == {"written": 1}
    assert [name for name, _ in mutagen.File(song).tags] == names
    assert mutagen.File(song).tags["genre"] == ["Metal"]
    assert [r.status for r in undo_batch(catalog, outcome.batch)] == ["restored"]
    assert list(mutagen.File(song).tags) == comments
    if fmt == "flac":
        assert song.read_bytes() == original
