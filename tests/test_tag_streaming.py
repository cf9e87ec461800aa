"""``tag`` streams over the catalog (issue 16 item 3): tracks are read and planned a page at a
time, whole albums together, so planning never holds every song's predictions; the plans are
those of planning everything at once.

The library is real WAV files (album tags written with mutagen, read back by a real scan) in a
real catalog with stored genre predictions; what planning reads is counted from the SQL the
catalog runs (sqlite's trace callback), not from a mock.
"""

from __future__ import annotations

import re
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from mutagen.id3 import TALB, TPE1, TPE2
from mutagen.wave import WAVE

from earmark.catalog import Catalog, tracks
from earmark.catalog.predictions import store_predictions
from earmark.ingest.scan import scan
from earmark.tagging import plan as tagplan
from earmark.tagging.albums import album_key, album_pages
from earmark.tagging.job import TaggingJob
from earmark.tagging.policy import load_policy

MODEL = "test-classifier"

#: Folder -> songs, each ``(album tag, album artist, genre leaning)``; ``None``: untagged.
#: Album "Across" spans two folders with "M Singles" between them in path order, and "M
#: Singles" interleaves the songs of two tagged albums, so albums are not runs of paths.
LIBRARY = {
    "A Folder 1": [(None, None, "jazz")] * 5 + [(None, None, "metal!")],  # one dissents
    "A Folder 2": [(None, None, "rock")] * 6,
    "B Disc 1": [("Across", "Band", "blues")] * 3,
    "M Singles": [("X", "Solo", "pop"), ("Y", "Solo", "classical")] * 3,
    "N Loose": [(None, None, "country"), (None, None, "silent"), (None, None, "none"),
                (None, None, "reggae")],
    "Z Disc 2": [("Across", "Band", "blues")] * 3,
}
LARGEST_ALBUM = 6


def _write_wav(path: Path, seed: int) -> None:
    samples = np.random.default_rng(seed).integers(-3000, 3000, 4000, dtype=np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())


def _tag_album(path: Path, album: str, album_artist: str) -> None:
    audio = WAVE(path)
    audio.add_tags()
    audio.tags.add(TALB(encoding=3, text=[album]))
    audio.tags.add(TPE1(encoding=3, text=[f"{album_artist} feat. someone"]))
    audio.tags.add(TPE2(encoding=3, text=[album_artist]))
    audio.save()


def _evidence(leaning: str, rng: np.random.Generator) -> dict[str, float]:
    """Genre confidences leaning to one genre (``metal!``: strongly, so the song dissents
    from its album)."""
    genres = ["jazz", "rock", "blues", "pop", "classical", "metal", "country"]
    scores = {g: round(float(rng.uniform(0.0, 0.15)), 4) for g in genres}
    if leaning == "metal!":
        scores["metal"] = 0.9
    elif leaning == "reggae":  # nothing the vocabulary reaches with confidence
        scores = {g: s / 2 for g, s in scores.items()}
    else:
        scores[leaning] = round(float(rng.uniform(0.35, 0.6)), 4)
    return scores


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """The :data:`LIBRARY` scanned into a catalog, with stored genres of :data:`MODEL` (a
    silent song, a song without predictions); returns the catalog file."""
    root = tmp_path_factory.mktemp("streaming")
    rng = np.random.default_rng(3)
    leanings = {}
    for folder, songs in LIBRARY.items():
        (root / "music" / folder).mkdir(parents=True)
        for number, (album, album_artist, leaning) in enumerate(songs, start=1):
            path = root / "music" / folder / f"{number:02d} Song.wav"
            _write_wav(path, len(leanings))
            if album is not None:
                _tag_album(path, album, album_artist)
            leanings[tracks.normalise_path(path)] = leaning
    db = root / "catalog.sqlite"
    with Catalog(db) as catalog:
        scan(catalog, [root / "music"], verify=False)
        for path, leaning in leanings.items():
            track = tracks.get_track(catalog, path)
            assert track is not None and track.status == "ok", path
            if leaning == "silent":
                store_predictions(catalog, track.id, MODEL, {
                    "genres": {"jazz": 0.5}, "audio": {"silent": True}})
            elif leaning != "none":
                store_predictions(catalog, track.id, MODEL, {"genres": _evidence(leaning, rng)})
    return db


_PREDICTION_READ = re.compile(r"FROM predictions WHERE track_id = (\d+)\b")


class PlanningReads:
    """Stages that record, while ``planning`` runs, which tracks' predictions the catalog
    reads and which plans are done; :attr:`most_held` is the largest number of songs whose
    predictions were read and whose plan was not done yet: what planning holds at once."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.path_ids = dict(catalog.execute("SELECT path, id FROM tracks").fetchall())
        self.held: set[int] = set()
        self.read: set[int] = set()
        self.most_held = 0
        self.planning = False

    def _trace(self, sql: str) -> None:
        match = _PREDICTION_READ.search(sql)
        if self.planning and match:
            self.held.add(int(match[1]))
            self.read.add(int(match[1]))
            self.most_held = max(self.most_held, len(self.held))

    def __call__(self, description: str):
        from contextlib import contextmanager

        @contextmanager
        def stage():
            self.planning = description == "planning"
            self.catalog.conn.set_trace_callback(self._trace)
            try:
                yield lambda done, total, path="": self.held.discard(self.path_ids[path])
            finally:
                self.catalog.conn.set_trace_callback(None)
                self.planning = False

        return stage()


def _prepare(db: Path, page_size: int, per_track: bool = False
             ) -> tuple[list[tagplan.TrackPlan], PlanningReads]:
    with Catalog(db) as catalog:
        reads = PlanningReads(catalog)
        job = TaggingJob(catalog, load_policy(), model=MODEL, per_track=per_track,
                         page_size=page_size)
        return job.prepare(None, stages=reads).plans, reads


@pytest.mark.parametrize("page_size", [1, 4, 7])
def test_planning_in_pages_holds_at_most_a_page_and_one_album_of_predictions(library,
                                                                            page_size):
    plans, reads = _prepare(library, page_size)
    n_songs = sum(map(len, LIBRARY.values()))
    assert len(plans) == n_songs and len(reads.read) == n_songs
    assert reads.most_held <= page_size - 1 + LARGEST_ALBUM
    # The count is real: planning the whole library as one page holds every song at once.
    _, everything = _prepare(library, 10_000)
    assert everything.most_held == n_songs


@pytest.mark.parametrize("per_track", [False, True])
def test_paged_plans_equal_the_plans_of_the_whole_library_at_once(library, per_track):
    whole, _ = _prepare(library, 10_000, per_track)
    paged, _ = _prepare(library, 4, per_track)
    assert paged == whole
    # Listed by path, as the catalog lists its tracks, whatever order the pages took.
    assert [p.path for p in paged] == sorted(p.path for p in paged)


def test_paged_plans_pool_albums_across_folders_and_keep_every_reason(library):
    plans, _ = _prepare(library, 4)
    by_song = {(Path(p.path).parent.name, Path(p.path).stem[:2]): p for p in plans}
    causes = Counter((p.status, p.cause) for p in plans)
    # 5 jazz + 6 rock + 6 "Across" (two folders apart) + 3 X + 3 Y pooled per album.
    assert causes[("planned", "album consensus")] == 23
    assert by_song[("Z Disc 2", "01")].reason == by_song[("B Disc 1", "01")].reason == (
        "album consensus: Blues (6 songs)")
    assert by_song[("M Singles", "01")].reason == "album consensus: Pop (3 songs)"
    assert by_song[("M Singles", "02")].reason == "album consensus: Classical (3 songs)"
    assert by_song[("A Folder 1", "06")].cause == "its own genre, unlike its album"
    assert by_song[("N Loose", "02")].status == "skipped"
    assert by_song[("N Loose", "03")].reason == "no genre predictions for this track"
    assert by_song[("N Loose", "04")].status == "below-threshold"


def test_album_pages_cut_only_between_albums():
    keys = [("folder", "a")] * 3 + [None] * 3 + [("album", "x", "y")] * 5 + [("folder", "a")]
    pages = list(album_pages(keys, 2))
    assert sorted(p for page in pages for p in page) == list(range(len(keys)))
    for page in pages:
        assert len(page) <= 2 - 1 + 5
    for key in {k for k in keys if k is not None}:
        assert sum(any(keys[p] == key for p in page) for page in pages) == 1
    # Songs decided alone come first, in order, and a page is cut between any two of them.
    assert pages == [[3, 4], [5, 6, 7, 8, 9, 10], [0, 1, 2, 11]]
    with pytest.raises(ValueError, match="page_size"):
        list(album_pages(keys, 0))


def test_album_key_groups_tagged_albums_by_album_artist(library):
    with Catalog(library) as catalog:
        keys = Counter(album_key(t) for t in tracks.iter_tracks(catalog))
    assert keys[("album", "band", "across")] == 6
    assert keys[("album", "solo", "x")] == keys[("album", "solo", "y")] == 3


def test_the_preview_table_printed_in_pieces_is_the_table_printed_at_once(capsys):
    from earmark.cli.app import console, print_in_pieces
    from earmark.cli.tagwrite import _file_table

    rows = [(f"Artist {i}/Album/{i:02d} Song with a long name [live] ü.flac",
             ["planned", "kept", "below-threshold", "failed"][i % 4],
             "genre: Rock; Hard Rock\nmood: Happy" if i % 4 == 0 else "",
             f"album consensus: Rock ({i} songs)") for i in range(40)]
    console.print(_file_table("tags to write", rows))
    at_once = capsys.readouterr().out
    print_in_pieces(_file_table("tags to write", iter(rows)), lines=7)
    assert capsys.readouterr().out == at_once
    assert at_once.count("\n") > 3 * 7  # several pieces, cut between rows and inside them
