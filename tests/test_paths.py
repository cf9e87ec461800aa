"""How paths are shown to a person (earmark.catalog.paths): one rule for the CLI's tables and the
web pages, relative to a folder the user knows; the library's folder read from a real catalog."""

from __future__ import annotations

import os
from pathlib import Path

from earmark.catalog import Catalog
from earmark.catalog.paths import display_path, library_folder
from earmark.cli.app import display_path as cli_display_path
from earmark.ingest.scan import add_file
from music import gtzan_clip, transcode


def test_a_path_is_shown_relative_to_the_first_base_that_holds_it(tmp_path):
    song = tmp_path / "Music" / "jazz" / "01 Song.flac"
    (tmp_path / "Music" / "jazz").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    assert display_path(song, [tmp_path / "elsewhere", tmp_path / "Music"]) == "jazz/01 Song.flac"
    assert display_path(song, [tmp_path / "Music" / "jazz", tmp_path]) == "01 Song.flac"
    # No base holds it: absolute, in the catalog's form ('..' resolved).
    odd = tmp_path / "Music" / ".." / "x.mp3"
    assert display_path(odd, [tmp_path / "Music"]) == str(tmp_path / "x.mp3")
    assert display_path(song) == str(song)


def test_a_file_given_as_base_stands_for_its_folder(tmp_path):
    song = tmp_path / "a.flac"
    song.write_bytes(b"")
    assert display_path(song, [song]) == "a.flac"
    # A file since moved away (no longer there) is still a file's name, not a folder.
    assert display_path(tmp_path / "gone.flac", [tmp_path / "gone.flac"]) == "gone.flac"


def test_the_cli_shows_paths_by_the_same_rule_with_the_current_folder_last(tmp_path,
                                                                         monkeypatch):
    song = tmp_path / "Music" / "rock" / "b.mp3"
    song.parent.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert cli_display_path(song, [tmp_path / "Music"]) == display_path(
        song, [tmp_path / "Music"]) == "rock/b.mp3"
    assert cli_display_path(song) == os.path.join("Music", "rock", "b.mp3")


def test_library_folder_is_the_deepest_folder_holding_every_song(tmp_path):
    clip = gtzan_clip("jazz", 0)
    music = tmp_path / "Music"
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        assert library_folder(catalog) is None  # empty catalog
        one = transcode(clip, _made(music / "jazz" / "one.mp3"), "mp3", seconds=1.0)
        add_file(catalog, one, verify=False)
        assert library_folder(catalog) == music / "jazz"  # one song: its folder
        # Folders named alike ('jazz', 'jazz-live') share no folder but their parent.
        two = transcode(clip, _made(music / "jazz-live" / "two.mp3"), "mp3", seconds=1.0)
        add_file(catalog, two, verify=False)
        assert library_folder(catalog) == music
        assert display_path(two, [library_folder(catalog)]) == "jazz-live/two.mp3"


def test_library_folder_reads_the_ends_of_the_path_index_not_every_path(tmp_path):
    """Every song page asks for it: its query must search the index, never scan it."""
    with Catalog(tmp_path / "catalog.sqlite") as catalog:
        statements: list[str] = []
        catalog.conn.set_trace_callback(statements.append)
        library_folder(catalog)
        catalog.conn.set_trace_callback(None)
        [query] = [s for s in statements if "tracks" in s]
        plan = [row[3] for row in catalog.execute(f"EXPLAIN QUERY PLAN {query}")]
    assert [step for step in plan if "tracks" in step] == [
        "SEARCH tracks USING COVERING INDEX sqlite_autoindex_tracks_1"] * 2, plan


def _made(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
