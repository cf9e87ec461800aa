"""Batches over catalog tracks: plan, write with a journal, undo exactly, refuse foreign changes."""

from __future__ import annotations

import os

import pytest

from earmark.catalog import journal, tracks
from earmark.tagging import apply_plans, load_policy, plan_track, undo
from earmark.tags import write
from earmark.tags.read import read_tags


def predicted(*pairs):
    """A genre source that predicts the same genres for every track."""
    return lambda track: list(pairs)


ROCK_HIPHOP = predicted(("rock", 0.9), ("hip-hop", 0.6), ("jazz", 0.1))


def run_batch(catalog, paths, sources, policy=None):
    policy = policy or load_policy()
    plans = [plan_track(catalog, tracks.get_track(catalog, p), sources, policy) for p in paths]
    return plans, *apply_plans(catalog, plans)


@pytest.mark.parametrize("fmt", ["mp3", "flac", "opus", "m4a", "wav"])
def test_write_journal_then_undo_restores_absence(decorated, catalog, scanned, fmt):
    path = decorated(fmt)
    scanned(path)
    original_tags = write.tag_snapshot(write.open_tags(path))
    plans, batch, results = run_batch(catalog, [path], {"genre": ROCK_HIPHOP})

    assert [r.status for r in results] == ["written"]
    change = plans[0].changes[0]
    assert change.old is None and change.new == ["Rock", "Hip-Hop"]
    assert change.confidence == {"Rock": 0.9, "Hip-Hop": 0.6}
    assert read_tags(path).genres == ["Rock", "Hip-Hop"]
    rows = journal.entries(catalog, batch_id=batch)
    # A WAV also gets its genre in the RIFF INFO chunk FFmpeg made (test_containers.py).
    assert [(r.field, r.old, r.new) for r in rows] == [
        (c.key, c.old, c.new) for c in plans[0].changes]
    assert rows[0].new_hash == write.content_hash(path) != rows[0].old_hash
    track = tracks.get_track(catalog, path)
    assert track.content_hash == rows[0].new_hash and track.genre == "Rock; Hip-Hop"

    undone = undo(catalog, rows)
    assert [r.status for r in undone] == ["restored"]
    assert write.tag_snapshot(write.open_tags(path)) == original_tags
    assert journal.entries(catalog, batch_id=batch) == []
    assert journal.entries(catalog, batch_id=batch, include_undone=True)[0].undone_at


def test_overwrite_then_undo_restores_old_values(decorated, catalog, scanned):
    path = decorated("flac")
    write.write_keys(path, {"GENRE": ["Blues", "Kids Stuff"]})
    scanned(path)
    policy = load_policy().with_(mode="overwrite")
    _, batch, results = run_batch(catalog, [path], {"genre": ROCK_HIPHOP}, policy)
    assert results[0].status == "written"
    assert write.read_keys(write.open_tags(path), ["GENRE"]) == {"GENRE": ["Rock", "Hip-Hop"]}
    undo(catalog, journal.entries(catalog, batch_id=batch))
    assert write.read_keys(write.open_tags(path), ["GENRE"]) == {"GENRE": ["Blues", "Kids Stuff"]}


def test_fill_leaves_existing_genres_and_second_run_changes_nothing(decorated, catalog, scanned):
    tagged, empty = decorated("mp3", "tagged.mp3"), decorated("mp3", "empty.mp3")
    write.write_keys(tagged, {"TCON": ["Jazz"]})
    scanned(tagged)
    scanned(empty)
    _, _, results = run_batch(catalog, [tagged, empty], {"genre": ROCK_HIPHOP})
    assert [r.status for r in results] == ["kept", "written"]
    assert read_tags(tagged).genres == ["Jazz"]
    # The catalog row was refreshed after the write, so the file is not "changed since scan".
    _, _, again = run_batch(catalog, [tagged, empty], {"genre": ROCK_HIPHOP})
    assert [r.status for r in again] == ["kept", "kept"]


def test_undo_refuses_a_file_someone_else_changed(decorated, catalog, scanned):
    path = decorated("ogg")
    scanned(path)
    _, batch, _ = run_batch(catalog, [path], {"genre": ROCK_HIPHOP})
    # Another tagger changed earmark's genre too (title alone: tests/tagging/test_undo_kinds.py).
    write.write_keys(path, {"TITLE": ["Renamed By Another Tagger"], "GENRE": ["Polka"]})
    before = path.read_bytes()
    results = undo(catalog, journal.entries(catalog, batch_id=batch))
    assert results[0].status == "refused"
    assert "changed by someone else" in results[0].reason
    # The genre was absent before earmark: there is no value to set again.
    assert results[0].reason.endswith(
        "Before earmark, GENRE was empty: remove it in your tag editor if you want it so")
    assert "--mode overwrite" not in results[0].reason
    assert path.read_bytes() == before
    assert journal.entries(catalog, batch_id=batch)  # still undoable once the file is back


def test_undo_refused_names_the_value_there_was(decorated, catalog, scanned):
    path = decorated("flac")
    write.write_keys(path, {"GENRE": ["Blues"]})
    scanned(path)
    policy = load_policy().with_(mode="overwrite")
    _, batch, _ = run_batch(catalog, [path], {"genre": ROCK_HIPHOP}, policy)
    write.write_keys(path, {"GENRE": ["Polka"]})
    results = undo(catalog, journal.entries(catalog, batch_id=batch))
    assert results[0].status == "refused"
    assert results[0].reason.endswith(
        "Before earmark, GENRE held 'Blues': set it in your tag editor, or write genres again "
        "with `earmark tag FILE --mode overwrite`")


def test_undo_of_an_interrupted_write_restores_nothing(decorated, catalog, scanned):
    path = decorated("flac")
    track = scanned(path)
    before = path.read_bytes()
    digest = write.content_hash(path)
    # What a run killed between journalling and replacing the file leaves behind.
    journal.record_write(catalog, "killed-batch", track.id, str(path),
                         {"GENRE": (None, ["Rock"])}, digest, "f" * 32)
    results = undo(catalog, journal.entries(catalog, batch_id="killed-batch"))
    assert results[0].status == "not written"
    assert results[0].reason == NOTHING_TO_RESTORE
    assert path.read_bytes() == before
    assert journal.last_batch(catalog) is None


NOTHING_TO_RESTORE = ("the file already holds what it had before this write (an interrupted "
                      "run, or restored by someone else); nothing to restore")


def test_undo_after_someone_put_the_old_file_back_restores_nothing(decorated, catalog, scanned):
    path = decorated("mp3")
    scanned(path)
    backup = path.read_bytes()
    _, batch, results = run_batch(catalog, [path], {"genre": ROCK_HIPHOP})
    assert results[0].status == "written"
    path.write_bytes(backup)  # the user restored a backup
    results = undo(catalog, journal.entries(catalog, batch_id=batch))
    assert [(r.status, r.reason) for r in results] == [("not written", NOTHING_TO_RESTORE)]
    assert path.read_bytes() == backup
    assert journal.last_batch(catalog) is None
    # The catalog knows the file as it is again: the next batch plans it.
    assert tracks.get_track(catalog, path).content_hash == write.content_hash(path)
    plans, _, again = run_batch(catalog, [path], {"genre": ROCK_HIPHOP})
    assert [r.status for r in again] == ["written"]


def test_hard_linked_file_fails_and_undo_refuses_to_separate_links(
        decorated, catalog, scanned, tmp_path):
    path = decorated("ogg")
    scanned(path)
    other = tmp_path / "same song.ogg"
    os.link(path, other)
    before = path.read_bytes()
    plans, _, results = run_batch(catalog, [path], {"genre": ROCK_HIPHOP})
    assert [r.status for r in results] == ["failed"]
    assert results[0].reason.startswith("has 2 hard links; writing would separate them")
    assert path.read_bytes() == before and os.path.samefile(path, other)

    other.unlink()
    _, batch, results = run_batch(catalog, [path], {"genre": ROCK_HIPHOP})
    assert [r.status for r in results] == ["written"]
    os.link(path, other)  # linked after the write: undo would separate the names too
    written = path.read_bytes()
    results = undo(catalog, journal.entries(catalog, batch_id=batch))
    assert results[0].status == "refused" and "2 hard links" in results[0].reason
    assert path.read_bytes() == written and os.path.samefile(path, other)


def test_stacked_batches_undo_to_the_first_old_value(decorated, catalog, scanned):
    path = decorated("m4a")
    scanned(path)
    run_batch(catalog, [path], {"genre": predicted(("jazz", 0.9))})
    policy = load_policy().with_(mode="overwrite")
    run_batch(catalog, [path], {"genre": predicted(("metal", 0.9))}, policy)
    assert read_tags(path).genres == ["Metal"]
    first, second = dict.fromkeys(e.batch_id for e in journal.entries(catalog))  # by id
    refused = undo(catalog, journal.entries(catalog, batch_id=first))
    assert refused[0].status == "refused" and "later earmark write" in refused[0].reason
    undo(catalog, journal.entries(catalog, paths=[str(path)]))
    assert read_tags(path).genres == []


def test_file_changed_since_scan_fails_untouched(decorated, catalog, scanned):
    path = decorated("mp3")
    scanned(path)
    write.write_keys(path, {"TIT2": ["Retitled Elsewhere"]})
    before = path.read_bytes()
    plans, _, results = run_batch(catalog, [path], {"genre": ROCK_HIPHOP})
    assert results[0].status == "failed"
    assert "changed since it was scanned" in results[0].reason
    assert path.read_bytes() == before


def test_track_without_predictions_fails(decorated, catalog, scanned):
    path = decorated("flac")
    scanned(path)
    _, _, results = run_batch(catalog, [path], {"genre": lambda track: None})
    assert results[0].status == "failed" and "no genre predictions" in results[0].reason


def test_moods_and_instruments_go_to_their_own_keys(decorated, catalog, scanned, probe):
    path = decorated("flac")
    scanned(path)
    tags = predicted(("happy", 0.8), ("guitar", 0.7), ("sad", 0.05), ("rock", 0.9))
    sources = {"genre": ROCK_HIPHOP, "mood": tags, "instrument": tags}
    _, batch, results = run_batch(catalog, [path], sources)
    assert results[0].status == "written"
    seen = probe(path)
    assert seen["genre"] == "Rock;Hip-Hop"
    assert seen["mood"] == "Happy" and seen["instrument"] == "Guitar"
    assert {e.field for e in journal.entries(catalog, batch_id=batch)} == {
        "GENRE", "MOOD", "INSTRUMENT"}


def test_artist_override_beats_predictions(decorated, catalog, scanned, tmp_path):
    path = decorated("mp3")  # artist "Some Artist", album "An Album"
    scanned(path)
    config = tmp_path / "tags.toml"
    config.write_text('[artists]\n"some artist" = ["Children\'s"]\n', encoding="utf-8")
    _, _, results = run_batch(catalog, [path], {"genre": ROCK_HIPHOP}, load_policy(config))
    assert results[0].status == "written"
    assert read_tags(path).genres == ["Children's"]
