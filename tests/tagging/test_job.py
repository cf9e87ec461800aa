"""The tagging job as a library service (prepare -> preview -> apply), called the way a web
request would: no CLI, real-music files, a real catalog, stored predictions, ffprobe as the
independent reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from earmark.catalog import journal, tracks
from earmark.catalog.predictions import store_predictions
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file
from earmark.tagging import load_policy, undo
from earmark.tagging.job import TaggingJob
from stages import RecordedStages

MODEL = "test-classifier"


@pytest.fixture
def folder(decorated, catalog, tmp_path) -> tuple[Path, list[Path]]:
    """A folder of two tagged real-music songs, scanned, with genre predictions of MODEL and
    MSD_musicnn tag predictions (so nothing needs listening)."""
    (tmp_path / "music").mkdir()
    songs = [decorated("flac", "music/one.flac"), decorated("mp3", "music/two.mp3")]
    for song, genres in zip(songs, ({"jazz": 0.8, "blues": 0.4}, {"metal": 0.7}), strict=True):
        track = add_file(catalog, song, verify=False)
        store_predictions(catalog, track.id, MODEL, {"genres": genres})
        store_predictions(catalog, track.id, "MSD_musicnn",
                          {"tags": {"happy": 0.8, "guitar": 0.7, "sad": 0.05}})
    return tmp_path / "music", songs


def test_prepare_previews_without_writing_and_apply_writes_what_it_showed(folder, catalog,
                                                                          probe):
    root, songs = folder
    before = [s.read_bytes() for s in songs]
    job = TaggingJob(catalog, load_policy().with_(mode="overwrite"), model=MODEL)
    stages = RecordedStages()
    preview = job.prepare([root], stages=stages)
    assert [s.read_bytes() for s in songs] == before
    assert [p.path for p in preview.plans] == sorted(map(str, songs))
    assert [p.status for p in preview.plans] == ["planned", "planned"]
    by_path = {p.path: p for p in preview.plans}
    change = by_path[str(songs[0])].changes[0]
    assert (change.field, change.new, change.confidence) == (
        "genre", ["Jazz", "Blues"], {"Jazz": 0.8, "Blues": 0.4})
    assert preview.to_write == preview.plans and preview.failed == 0
    # A trained classifier's genres need no pretrained tagger: nothing is listened to.
    assert list(stages.seen) == ["reading files", "planning"]
    assert stages.seen["planning"] == (2, 2)

    outcome = job.apply(stages=stages)
    assert outcome.counts() == {"written": 2}
    assert [r.path for r in outcome.results] == [p.path for p in preview.plans]
    assert stages.seen["writing tags"] == (2, 2)
    assert probe(songs[0])["genre"] == "Jazz;Blues"
    assert probe(songs[1])["genre"] == "Metal"
    assert {e.batch_id for e in journal.entries(catalog, batch_id=outcome.batch)} == {
        outcome.batch}
    undone = undo(catalog, journal.entries(catalog, batch_id=outcome.batch))
    assert {r.status for r in undone} == {"restored"}
    assert [s.read_bytes() for s in songs] == before


def test_moods_and_instruments_come_from_the_tagger_predictions(folder, catalog, probe):
    root, songs = folder
    job = TaggingJob(catalog, model=MODEL, fields=["instrument", "genre", "mood"])
    assert job.fields == ["genre", "mood", "instrument"]
    assert job.models_to_run() == ["MSD_musicnn"]  # its stored tags are reused, not recomputed
    stages = RecordedStages()
    job.prepare([songs[0]], stages=stages)
    assert "listening (MSD_musicnn)" in stages.seen
    assert job.apply().counts() == {"written": 1}
    seen = probe(songs[0])
    assert (seen["genre"], seen["mood"], seen["instrument"]) == ("Jazz;Blues", "Happy", "Guitar")


def test_unreadable_paths_and_tracks_without_predictions_are_reported_not_fatal(
        folder, catalog, decorated, tmp_path):
    root, songs = folder
    extra = decorated("ogg", "music/no predictions.ogg")
    missing = tmp_path / "gone.flac"
    job = TaggingJob(catalog, model=MODEL)
    preview = job.prepare([root, missing])
    assert preview.unreadable == [(str(missing), "file or folder not found")]
    failed = [p for p in preview.plans if p.status == "failed"]
    assert [p.path for p in failed] == [str(extra)]
    assert failed[0].reason == "no genre predictions for this track"
    assert preview.failed == 2 and len(preview.to_write) == 2
    # The new file was scanned into the catalog on the way.
    assert tracks.get_track(catalog, extra).status == "ok"
    outcome = job.apply()
    assert outcome.counts() == {"written": 2, "failed": 1}


def test_fill_mode_leaves_files_with_a_genre_and_whole_catalog_jobs(folder, catalog):
    root, songs = folder
    first = TaggingJob(catalog, load_policy().with_(mode="overwrite"), model=MODEL)
    first.prepare([songs[0]])
    first.apply()
    job = TaggingJob(catalog, model=MODEL)  # fill mode: only files without a genre
    preview = job.prepare(None)  # the whole catalog
    assert {p.path: p.status for p in preview.plans} == {
        str(songs[0]): "kept", str(songs[1]): "planned"}
    assert not job.needs_listening(tracks.get_track(catalog, songs[0]))


def test_a_song_named_again_beside_its_folder_is_planned_and_written_once(folder, catalog,
                                                                         probe):
    """``earmark tag music music/one.flac``: one plan per file. Planned twice, the second
    write found the file changed by the first and failed, and album pooling counted the song
    twice."""
    root, songs = folder
    job = TaggingJob(catalog, load_policy().with_(mode="overwrite"), model=MODEL)
    preview = job.prepare([root, songs[0], root / ".." / root.name / songs[0].name])
    assert [p.path for p in preview.plans] == sorted(map(str, songs))
    assert job.apply().counts() == {"written": 2}
    assert probe(songs[0])["genre"] == "Jazz;Blues"


def test_misuse_is_refused(catalog):
    with pytest.raises(ValueError, match="must include 'genre'"):
        TaggingJob(catalog, fields=["mood"])
    with pytest.raises(ValueError, match="among"):
        TaggingJob(catalog, fields=["genre", "tempo"])
    with pytest.raises(RuntimeError, match="prepare"):
        TaggingJob(catalog).apply()
    # MTT's genres and moods come from one run of it, made for the genres (ensure_genres)
    mtt = TaggingJob(catalog, model="MTT_musicnn", fields=["genre", "mood"])
    assert mtt.genre_model.taggers == ("MTT_musicnn",) and mtt.models_to_run() == []
    with pytest.raises(EarmarkError, match="unknown model 'test-classifier'.*choose one of"):
        TaggingJob(catalog, model=MODEL)  # no genres of it in this (empty) catalog
