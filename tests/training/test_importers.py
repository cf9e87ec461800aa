"""Researchers' dataset files as they really are (issue 18): cut-off tables, files csv.Sniffer
cannot read, the fault-filtered GTZAN split, MTG-Jamendo, MagnaTagATune artists, Excel's
Windows-1252 CSV, and rows that used to vanish silently.

Every table is written here in its dataset's published layout (our own rows, never a copy of
the dataset's files); audio trees carry the names the tables expect, made from the shared
GTZAN clips.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmark.catalog import Catalog
from earmark.catalog.labels import load_labelled
from earmark.cli import app
from earmark.ingest.importers import find_split_lists, read_fma, read_gtzan, read_jamendo, read_mtt
from earmark.learn.train import split_for_training
from music import gtzan_clip

runner = CliRunner()

# The example: FMA's real three-row header, the last row cut off inside a quoted bio.
FMA_CUT = (
    ",artist,artist,set,set,track\n"
    ",bio,id,split,subset,genre_top\n"
    "track_id,,,,,\n"
    "2,<p>AWOL</p>,1,training,small,Hip-Hop\n"
    '3,"<p>A Way Of Life,\n'
)


def run_import(*args: str | Path) -> tuple[int, list[dict], str]:
    """``earmark dataset import ARGS --json``: exit code, JSON rows, stderr on one line.

    A traceback is never acceptable, so anything but a clean exit fails the test here."""
    result = runner.invoke(app, ["dataset", "import", *map(str, args), "--json",
                                 "--workers", "1"])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"traceback: {result.exception!r}\n{result.output}"
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, rows, " ".join(result.stderr.split())


def by_action(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """JSON rows grouped ``action -> path -> row``."""
    out: dict[str, dict[str, dict]] = {"labelled": {}, "failed": {}, "skipped": {}}
    for row in rows:
        out[row["action"]][row["path"]] = row
    return out


def link_clip(genre: str, number: int, dst: Path) -> Path:
    """``dst`` as a symbolic link to a shared GTZAN clip (the format stays FLAC)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(gtzan_clip(genre, number))
    return dst


def labelled_by_name(db: Path, task: str, dataset: str) -> dict[str, tuple]:
    """``file name -> (labels, split, artist)`` of a dataset in the catalog at ``db``."""
    with Catalog(db) as catalog:
        data = load_labelled(catalog, task, dataset)
    return {os.path.basename(p): (t, s, a) for p, t, s, a in
            zip(data.paths, data.targets, data.splits, data.artists, strict=True)}


# --- 1. a cut-off FMA tracks.csv ---------------------------------------------------------


def test_cut_off_fma_tracks_csv_imports_the_whole_rows(excerpt, tmp_path):
    audio = tmp_path / "fma_small"
    excerpt("hiphop", 0, audio / "000" / "000002.mp3", fmt="mp3", seconds=2.0)
    table = tmp_path / "tracks.csv"
    table.write_text(FMA_CUT)
    db = tmp_path / "catalog.sqlite"
    code, rows, _ = run_import(table, "--format", "fma", "--audio", audio, "--db", db)
    assert code == 1  # one row failed, the rest was done
    outcome = by_action(rows)
    assert list(outcome["labelled"]) == [str(audio / "000" / "000002.mp3")]
    assert outcome["failed"] == {f"{table}:5": {
        "path": f"{table}:5", "action": "failed",
        "reason": "track 3: row cut off (2 of 6 fields)"}}
    assert labelled_by_name(db, "genre", "fma_small") == {
        "000002.mp3": (["Hip-Hop"], "train", "1")}


def test_fma_rows_without_a_top_genre_or_an_id_are_named(excerpt, tmp_path):
    audio = tmp_path / "fma_large"
    excerpt("rock", 1, audio / "000" / "000005.mp3", fmt="mp3", seconds=2.0)
    table = tmp_path / "tracks.csv"
    table.write_text(
        ",artist,set,set,track,track\n"
        ",id,split,subset,genre_top,title\n"
        "track_id,,,,,\n"
        "5,17,training,large,Rock,Kept\n"
        "7,18,validation,large,,No top genre\n"
        "8,18,test,large,,Nor this one\n"
        "11,19,training,medium,Pop,Outside the subset asked for\n"
        "x9,20,training,large,Pop,No id\n"
        "12,20,training,large,Pop,Long,extra\n"
    )
    listing = read_fma(table, audio, subset=None)
    assert [e.labels for e in listing.entries] == [["Rock"], ["Pop"]]
    assert listing.skipped == [(str(audio / "000" / "000007.mp3"), "no top genre in tracks.csv"),
                               (str(audio / "000" / "000008.mp3"), "no top genre in tracks.csv")]
    assert listing.failed == [
        (f"{table}:8", "no track id (first field 'x9')"),
        (f"{table}:9", "track 12: row longer than the header (7 fields, not 6)")]
    assert read_fma(table, audio, subset="medium").warnings == [
        "left out: 3 tracks outside the medium subset"]
    code, rows, _ = run_import(table, "--format", "fma", "--audio", audio, "--subset", "large",
                               "--db", tmp_path / "catalog.sqlite")
    outcome = by_action(rows)
    assert code == 1 and list(outcome["labelled"]) == [str(audio / "000" / "000005.mp3")]
    assert outcome["skipped"][str(audio / "000" / "000007.mp3")]["reason"] == \
        "no top genre in tracks.csv"
    assert outcome["failed"][str(audio / "000" / "000011.mp3")]["reason"] == "file not found"


# --- 2. never a traceback on any input file ------------------------------------------------


def foreign_tables(folder: Path) -> dict[str, Path]:
    """One file of every shape people hand to ``dataset import``, none with audio beside it."""
    folder.mkdir()
    texts = {
        "one_column.csv": "path\nsongs/a.flac\nsongs/b.flac\n",
        "no_header.csv": "songs/a.flac\nsongs/b.flac\n",
        "train_filtered.txt": "blues/blues.00029.wav\nblues/blues.00030.wav\n",
        "autotagging_moodtheme.tsv":
            "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
            "track_0000214\tartist_000014\talbum_000031\t14/214.mp3\t124.6\tmood/theme---film\n"
            "track_0000215\tartist_000014\talbum_000031\t15/215.mp3\t98.0\tmood/theme---calm"
            "\tmood/theme---sad\tmood/theme---film\n",
        "tracks.csv": FMA_CUT,
        "annotations_final.csv":
            '"clip_id"\t"guitar"\t"mp3_path"\n"2"\t"1"\t"f/a-b-01-c-0-29.mp3"\n',
        "header_only.csv": "path,label\n",
        "empty.csv": "",
        "stray_quote.csv": 'path,label\n"a.flac,rock\n' + "x" * 140_000 + "\n",
    }
    paths = {}
    for name, text in texts.items():
        (folder / name).write_text(text)
        paths[name] = folder / name
    binary = {
        "workbook.xlsx": b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4,
        "latin_and_c1.csv": b"path,label\n\x81\x8d\x8f.flac,rock\n",  # no cp1252 either
        "utf16.tsv": "path\tlabel\nsongs/a.flac\trock\n".encode("utf-16"),
    }
    for name, data in binary.items():
        (folder / name).write_bytes(data)
        paths[name] = folder / name
    return paths


@pytest.mark.parametrize("fmt", ["csv", "fma", "mtt", "jamendo", "gtzan"])
def test_no_input_file_gives_a_traceback(fmt, tmp_path):
    tables = foreign_tables(tmp_path / "tables")
    audio = tmp_path / "audio"
    audio.mkdir()
    db = tmp_path / "catalog.sqlite"
    for name, table in tables.items():
        if fmt == "gtzan":
            args = [audio, "--format", "gtzan", "--split-list", f"train={table}"]
        else:
            args = [table, "--format", fmt] + (["--audio", audio] if fmt != "csv" else [])
        code, _, stderr = run_import(*args, "--db", db)
        # nothing here has audio: every import ends in "nothing could be done", said clearly
        assert code == 3, (name, stderr)
        assert "error:" in stderr and "Traceback" not in stderr, (name, stderr)


def test_tables_the_csv_sniffer_cannot_guess_get_clear_errors(tmp_path):
    tables = foreign_tables(tmp_path / "tables")
    db = tmp_path / "catalog.sqlite"

    def error_of(name: str) -> str:
        code, _, stderr = run_import(tables[name], "--db", db)
        assert code == 3
        return stderr

    assert "needs a header with 'path' and 'label' columns" in error_of("one_column.csv")
    assert "looks like a split list" in error_of("train_filtered.txt")
    assert "looks like an MTG-Jamendo TSV (format jamendo)" in error_of(
        "autotagging_moodtheme.tsv")
    assert "is empty" in error_of("empty.csv")
    assert "binary data, not text" in error_of("workbook.xlsx")
    assert "neither UTF-8 nor Windows-1252 text (byte 0x81 on line 2)" in error_of(
        "latin_and_c1.csv")
    assert "nothing was imported" in error_of("header_only.csv")
    # UTF-16 with its byte-order mark (Excel's "Unicode Text") is read: the song is missing
    code, rows, _ = run_import(tables["utf16.tsv"], "--db", db)
    assert code == 3 and rows == [{"path": str(tmp_path / "tables" / "songs" / "a.flac"),
                                   "action": "failed", "reason": "file not found"}]


def test_a_row_the_csv_module_rejects_is_a_failed_row(genre_tree, tmp_path):
    manifest = tmp_path / "manifest.csv"
    song = genre_tree / "metal" / "metal.00001.wav"
    # a stray quote runs a field past the csv module's size limit
    manifest.write_text(f'path,label\n{song},metal\n"broken.flac,rock\n' + "x" * 140_000
                        + "\n")
    code, rows, _ = run_import(manifest, "--db", tmp_path / "catalog.sqlite")
    outcome = by_action(rows)
    assert code == 1 and list(outcome["labelled"]) == [str(song)]
    ((where, row),) = outcome["failed"].items()
    assert where.startswith(f"{manifest}:") and row["reason"].startswith("unreadable row: field")


# --- 3. the fault-filtered GTZAN split -----------------------------------------------------


@pytest.fixture
def gtzan_split(tmp_path):
    """GTZAN as shared (``<genre>/<genre>.NNNNN.flac``, real clips) and fault-filtered split
    lists naming ``.wav`` files, as the published lists do: clips 0-2 train, 3 valid, 4 test;
    clip 5 of each genre is in no list; one listed clip is not on disk."""
    root = tmp_path / "gtzan" / "genres"
    genres = ("blues", "classical", "metal")
    for genre in genres:
        for n in range(6):
            link_clip(genre, n, root / genre / f"{genre}.{n:05d}.flac")
    lists = tmp_path / "splits"
    lists.mkdir()
    numbers = {"train": (0, 1, 2), "valid": (3,), "test": (4,)}
    for split, chosen in numbers.items():
        lines = [f"{g}/{g}.{n:05d}.wav" for g in genres for n in chosen]
        if split == "test":
            lines.append("blues/blues.00099.wav")  # listed, not on disk
        (lists / f"{split}_filtered.txt").write_text("\n".join(lines) + "\n")
    (lists / "README.md").write_text("not a list\n")
    return root, lists


def test_gtzan_fault_filtered_split_lists_import(gtzan_split, tmp_path):
    root, lists = gtzan_split
    assert find_split_lists(lists) == {s: lists / f"{s}_filtered.txt"
                                       for s in ("train", "valid", "test")}
    db = tmp_path / "catalog.sqlite"
    code, rows, stderr = run_import(root, "--format", "gtzan", "--splits", lists, "--db", db)
    outcome = by_action(rows)
    assert code == 1
    assert len(outcome["labelled"]) == 15
    assert outcome["failed"] == {str(root / "blues" / "blues.00099.wav"): {
        "path": str(root / "blues" / "blues.00099.wav"), "action": "failed",
        "reason": "file not found"}}
    assert sorted(outcome["skipped"]) == [str(root / g / f"{g}.00005.flac")
                                          for g in ("blues", "classical", "metal")]
    assert {r["reason"] for r in outcome["skipped"].values()} == {"in no split list"}
    assert "matched by name with another extension on disk: 15 listed files (e.g. " \
           "blues.00000.wav is blues.00000.flac)" in stderr
    songs = labelled_by_name(db, "genre", "gtzan_split")
    assert songs["classical.00003.flac"] == (["classical"], "valid", None)
    assert songs["metal.00004.flac"] == (["metal"], "test", None)
    assert sorted(n for n, (_, s, _) in songs.items() if s == "train") == sorted(
        f"{g}.{n:05d}.flac" for g in ("blues", "classical", "metal") for n in (0, 1, 2))


def test_training_uses_the_imported_split(gtzan_split, tmp_path):
    """train_model's split_for_training keeps the listed test clips out and validates on the
    listed valid clips; evaluate scores the test clips (the split exists, so it is chosen)."""
    root, lists = gtzan_split
    db = tmp_path / "catalog.sqlite"
    run_import(root, "--format", "gtzan", "--split-list", f"train={lists / 'train_filtered.txt'}",
               "--split-list", f"validation={lists / 'valid_filtered.txt'}",
               "--split-list", f"test={lists / 'test_filtered.txt'}", "--name", "filtered",
               "--db", db)
    with Catalog(db) as catalog:
        data = load_labelled(catalog, "genre", "filtered")
    split = split_for_training(data, seed=3)
    train, valid, test = split.train, split.valid, split.test

    def names(indices) -> list[str]:
        return sorted(os.path.basename(data.paths[i]).split(".")[1] for i in indices)

    assert names(train) == ["00000", "00000", "00000", "00001", "00001", "00001",
                            "00002", "00002", "00002"]
    assert names(valid) == ["00003"] * 3 and names(test) == ["00004"] * 3


def test_gtzan_split_list_siblings(gtzan_split, tmp_path):
    root, lists = gtzan_split
    clash = tmp_path / "clash_test.txt"
    clash.write_text("blues/blues.00000.wav\r\nmetal/metal.00004.wav\r\nno_genre.wav\r\n")
    listing = read_gtzan(root, {"train": lists / "train_filtered.txt", "test": clash})
    assert listing.failed == [
        (f"{clash}:1", "blues/blues.00000.wav is in both the train and the test list"),
        (f"{clash}:3", "'no_genre.wav' has no genre/ folder")]
    assert str(root / "blues" / "blues.00000.wav") not in [e.path for e in listing.entries]
    # the clash is failed, not also "in no split list"
    assert str(root / "blues" / "blues.00000.flac") not in [p for p, _ in listing.skipped]
    # without lists GTZAN is a folder per genre, every clip and no split
    plain = read_gtzan(root)
    assert len(plain.entries) == 18 and {e.split for e in plain.entries} == {None}
    code, _, stderr = run_import(root, "--format", "gtzan", "--split-list", "holdout=x.txt",
                                 "--db", tmp_path / "catalog.sqlite")
    assert code == 2 and "--split-list takes SPLIT=FILE" in stderr
    empty = tmp_path / "nothing"
    empty.mkdir()
    code, _, stderr = run_import(root, "--format", "gtzan", "--splits", empty,
                                 "--db", tmp_path / "catalog.sqlite")
    assert code == 3 and "holds no split lists" in stderr


# --- 4. MTG-Jamendo --------------------------------------------------------------------------

JAMENDO_HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"


def jamendo_row(n: int, artist: int, *tags: str, path: str | None = None) -> str:
    return "\t".join([f"track_{n:07d}", f"artist_{artist:06d}", f"album_{artist * 10:06d}",
                      path or f"{n % 100:02d}/{n}.mp3", "212.7", *tags]) + "\n"


@pytest.fixture
def jamendo(excerpt, tmp_path):
    """Jamendo audio ``<NN>/<id>.mp3`` (one in the low-quality ``.low.mp3`` naming) and a
    raw TSV whose rows hold one to four tags of the three categories."""
    audio = tmp_path / "jamendo" / "audio"
    clips = {214: ("rock", 0, ""), 1015: ("classical", 1, ""), 7301: ("metal", 2, ""),
             9999: ("jazz", 4, ".low")}
    for n, (genre, number, low) in clips.items():
        excerpt(genre, number, audio / f"{n % 100:02d}" / f"{n}{low}.mp3", fmt="mp3",
                seconds=2.0)
    raw = tmp_path / "jamendo" / "raw_30s.tsv"
    raw.write_text(
        JAMENDO_HEADER
        + jamendo_row(214, 14, "genre---punkrock", "genre---rock", "instrument---guitar",
                      "mood/theme---energetic")
        + jamendo_row(1015, 3, "instrument---piano", "mood/theme---calm")
        + jamendo_row(7301, 14, "genre---metal")
        + jamendo_row(9999, 5, "genre---jazz", "instrument---saxophone")
        + "track_0000300\tartist_000007\talbum_000070\t00/300.mp3\n"  # cut off
    )
    return audio, raw


def test_jamendo_category_multi_label_and_artist(jamendo, tmp_path):
    audio, raw = jamendo
    db = tmp_path / "catalog.sqlite"
    code, rows, stderr = run_import(raw, "--format", "jamendo", "--audio", audio,
                                    "--category", "genre", "--db", db)
    outcome = by_action(rows)
    assert code == 1
    assert outcome["failed"] == {f"{raw}:6": {"path": f"{raw}:6", "action": "failed",
                                              "reason": "row cut off (4 of 6 fields)"}}
    assert outcome["skipped"] == {str(audio / "15" / "1015.mp3"): {
        "path": str(audio / "15" / "1015.mp3"), "action": "skipped",
        "reason": "no genre tags (track_0001015)"}}
    assert "on disk: 1 listed files (e.g. 9999.mp3 is 9999.low.mp3)" in stderr
    assert labelled_by_name(db, "genre", "mtg-jamendo") == {
        "214.mp3": (["punkrock", "rock"], None, "artist_000014"),
        "7301.mp3": (["metal"], None, "artist_000014"),
        "9999.low.mp3": (["jazz"], None, "artist_000005")}
    with Catalog(db) as catalog:
        assert load_labelled(catalog, "genre", "mtg-jamendo").kind == "multi"
    # every category at once: the autotagging task, tags kept whole
    listing = read_jamendo(raw, audio)
    assert listing.task == "tags"
    assert listing.entries[0].labels == ["genre---punkrock", "genre---rock",
                                         "instrument---guitar", "mood/theme---energetic"]
    mood = read_jamendo(raw, audio, category="mood/theme")
    assert mood.task == "mood" and [e.labels for e in mood.entries] == [["energetic"], ["calm"]]


def test_jamendo_moodtheme_file_with_its_split_files(jamendo, tmp_path):
    audio, _ = jamendo
    folder = tmp_path / "jamendo"
    moodtheme = folder / "autotagging_moodtheme.tsv"
    moodtheme.write_text(JAMENDO_HEADER
                         + jamendo_row(214, 14, "mood/theme---energetic", "mood/theme---happy")
                         + jamendo_row(1015, 3, "mood/theme---calm")
                         + jamendo_row(7301, 14, "mood/theme---dark"))
    split = folder / "splits" / "split-0"
    split.mkdir(parents=True)
    for name, rows in (("train", [(214, 14, "energetic"), (7301, 14, "dark")]),
                       ("validation", []), ("test", [(1015, 3, "calm")])):
        (split / f"autotagging_moodtheme-{name}.tsv").write_text(
            JAMENDO_HEADER + "".join(jamendo_row(n, a, f"mood/theme---{t}") for n, a, t in rows))
        # the other tasks' lists share the folder; the source's name picks its own
        (split / f"autotagging_genre-{name}.tsv").write_text(JAMENDO_HEADER)
    assert find_split_lists(split, moodtheme)["valid"] == \
        split / "autotagging_moodtheme-validation.tsv"
    with pytest.raises(ValueError, match="several (train|valid|test) lists"):
        find_split_lists(split)
    db = tmp_path / "catalog.sqlite"
    code, rows, _ = run_import(moodtheme, "--format", "jamendo", "--audio", audio,
                               "--splits", split, "--db", db)
    assert code == 0 and len(rows) == 3
    # the file holds only mood/theme tags: read as that category, task "mood"
    assert labelled_by_name(db, "mood", "mtg-jamendo") == {
        "214.mp3": (["energetic", "happy"], "train", "artist_000014"),
        "1015.mp3": (["calm"], "test", "artist_000003"),
        "7301.mp3": (["dark"], "train", "artist_000014")}
    (split / "autotagging_moodtheme-train.tsv").write_text(
        JAMENDO_HEADER + jamendo_row(214, 14, "mood/theme---energetic"))
    listing = read_jamendo(moodtheme, audio, split_lists=find_split_lists(split, moodtheme))
    assert listing.skipped == [(str(audio / "01" / "7301.mp3"),
                                "track_0007301 is in no split list")]


# --- 5. MagnaTagATune artists --------------------------------------------------------------

MTT_CLIPS = {  # clip_id: mp3_path, as MTT names its clips
    "2": "f/american_bach_soloists-j_s__bach_solo_cantatas-01-bwv54__i_aria-30-59.mp3",
    "6": "c/jacob_heringman-josquin_des_prez_lute_settings-19-gintzler__pater_noster-204-233.mp3",
    "10": "0/william_brooks-bitter_circus-02-the_hanging_of_allen_scott_johnson-146-175.mp3",
    "11": "0/william_brooks-bitter_circus-03-silent_night-0-29.mp3",
}


def mtt_annotations(path: Path) -> Path:
    """``annotations_final.csv`` as published: tab-separated, every cell in double quotes."""
    rows = [["clip_id", "no voice", "classical", "guitar", "strings", "mp3_path"],
            ["2", "0", "1", "0", "1", MTT_CLIPS["2"]],
            ["6", "1", "1", "1", "0", MTT_CLIPS["6"]],
            ["10", "0", "0", "1", "0", MTT_CLIPS["10"]],
            ["11", "0", "0", "0", "0", MTT_CLIPS["11"]]]  # none of the kept tags
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(f'"{c}"' for c in row) + "\n" for row in rows))
    return path


def mtt_clip_info(path: Path, artists: dict[str, str]) -> Path:
    """``clip_info_final.csv`` as published, for the clips in ``artists``."""
    header = ["clip_id", "track_number", "title", "artist", "album", "url", "segmentStart",
              "segmentEnd", "original_url", "mp3_path"]
    rows = [[clip, "1", "A title", artist, "An album", "http://example.org/", "30", "59",
             "http://example.org/a.mp3", MTT_CLIPS[clip]] for clip, artist in artists.items()]
    path.write_text("".join("\t".join(f'"{c}"' for c in row) + "\n" for row in [header, *rows]))
    return path


@pytest.fixture
def mtt_audio(excerpt, tmp_path):
    audio = tmp_path / "mtt_audio"
    for (clip, relative), genre in zip(MTT_CLIPS.items(), ("classical", "country", "rock",
                                                           "jazz"), strict=True):
        excerpt(genre, int(clip) % 6, audio / relative, fmt="mp3", seconds=2.0)
    return audio


def test_mtt_artists_from_clip_info_beside_the_annotations(mtt_audio, tmp_path):
    table = mtt_annotations(tmp_path / "mtt" / "annotations_final.csv")
    mtt_clip_info(tmp_path / "mtt" / "clip_info_final.csv",
                  {"2": "American Bach Soloists", "6": "Jacob Heringman"})
    db = tmp_path / "catalog.sqlite"
    code, rows, stderr = run_import(table, "--format", "mtt", "--audio", mtt_audio, "--top", "0",
                                    "--db", db)
    outcome = by_action(rows)
    assert code == 0 and len(outcome["labelled"]) == 3
    clip11 = str(mtt_audio / MTT_CLIPS["11"])
    assert outcome["skipped"] == {clip11: {"path": clip11, "action": "skipped",
                                           "reason": "none of the 4 kept tags"}}
    # clip 10 is not in clip_info: its artist comes from its file name, and that is said
    assert "artist taken from the file name: 1 clips (not in clip_info_final.csv)" in stderr
    songs = labelled_by_name(db, "tags", "magnatagatune")
    assert {name.split("-")[0]: (split, artist) for name, (_, split, artist) in songs.items()} \
        == {"american_bach_soloists": ("test", "American Bach Soloists"),
            "jacob_heringman": ("valid", "Jacob Heringman"),
            "william_brooks": ("train", "william_brooks")}


def test_mtt_clip_info_option_and_file_name_fallback(mtt_audio, tmp_path):
    table = mtt_annotations(tmp_path / "mtt" / "annotations_final.csv")
    elsewhere = mtt_clip_info(tmp_path / "clips.tsv", {"2": "ABS", "6": "JH", "10": "WB"})
    listing = read_mtt(table, mtt_audio, top=None, clip_info=elsewhere)
    assert [e.artist for e in listing.entries] == ["ABS", "JH", "WB"] and not listing.warnings
    fallback = read_mtt(table, mtt_audio, top=2)  # no clip_info_final.csv beside it
    assert [e.artist for e in fallback.entries] == [
        "american_bach_soloists", "jacob_heringman", "william_brooks"]
    assert fallback.warnings == ["artist taken from the file name: 3 clips (no "
                                 "clip_info_final.csv beside the annotations)"]
    # top 2 keeps classical and guitar (2 clips each); clip 11 has neither
    assert [p for p, _ in fallback.skipped] == [str(mtt_audio / MTT_CLIPS["11"])]
    code, _, _ = run_import(table, "--format", "mtt", "--audio", mtt_audio, "--clip-info",
                            elsewhere, "--db", tmp_path / "catalog.sqlite")
    assert code == 0
    assert {a for _, _, a in labelled_by_name(tmp_path / "catalog.sqlite", "tags",
                                              "magnatagatune").values()} == {"ABS", "JH", "WB"}


# --- 6. Excel's Windows-1252 CSV -------------------------------------------------------------


def test_excel_cp1252_semicolon_csv_is_read_with_a_warning(genre_tree, tmp_path):
    manifest = tmp_path / "Mes chansons.csv"
    text = ("path;label;artist\r\n"
            "classical/classical.00000.wav;Musique classique;Céline Quatuor\r\n"
            "metal/metal.00000.wav;Métal;Björk & Motörhead\r\n"
            ";;\r\n")  # Excel's trailing empty row
    manifest.write_bytes(text.encode("cp1252"))
    db = tmp_path / "catalog.sqlite"
    code, rows, stderr = run_import(manifest, "--audio", genre_tree, "--db", db)
    assert code == 0 and len(rows) == 2
    assert ("warning: Mes chansons.csv is not UTF-8 (byte 0xe9 on line 2): read as "
            "Windows-1252") in stderr
    assert labelled_by_name(db, "genre", "Mes chansons") == {
        "classical.00000.wav": (["Musique classique"], None, "Céline Quatuor"),
        "metal.00000.wav": (["Métal"], None, "Björk & Motörhead")}
    # the same table saved as "CSV UTF-8" (with its byte-order mark) needs no guess
    manifest.write_bytes(text.encode("utf-8-sig"))
    code, rows, stderr = run_import(manifest, "--audio", genre_tree, "--db", db)
    assert code == 0 and "warning" not in stderr


# --- 7. silent drops ---------------------------------------------------------------------------


def test_audio_option_is_honoured_for_csv_and_refused_where_it_means_nothing(genre_tree,
                                                                              tmp_path):
    manifest = tmp_path / "lists" / "labels.csv"
    manifest.parent.mkdir()
    manifest.write_text("path,label\nreggae/reggae.00001.wav,reggae\n"
                        f"{genre_tree / 'metal' / 'metal.00002.wav'},metal\n"
                        "reggae/reggae.00002.wav,\n")
    db = tmp_path / "catalog.sqlite"
    code, rows, _ = run_import(manifest, "--audio", genre_tree, "--db", db)
    outcome = by_action(rows)
    assert code == 0
    # relative paths start at --audio; absolute ones stay
    assert sorted(outcome["labelled"]) == [str(genre_tree / "metal" / "metal.00002.wav"),
                                           str(genre_tree / "reggae" / "reggae.00001.wav")]
    assert outcome["skipped"][str(genre_tree / "reggae" / "reggae.00002.wav")]["reason"] == \
        "no label (line 4)"
    for args, option in (([genre_tree, "--audio", genre_tree], "--audio"),
                         ([manifest, "--category", "genre"], "--category"),
                         ([manifest, "--splits", tmp_path], "--splits"),
                         ([manifest, "--subset", "medium"], "--subset"),
                         ([manifest, "--top", "10"], "--top"),
                         ([manifest, "--clip-info", manifest], "--clip-info")):
        code, _, stderr = run_import(*args, "--db", db)
        assert code == 2 and f"{option} does not apply to --format" in stderr, stderr


def test_loose_files_beside_label_folders_are_named(genre_tree, tmp_path):
    root = tmp_path / "lib"
    link = root / "reggae" / "reggae.00000.wav"
    link.parent.mkdir(parents=True)
    link.symlink_to(genre_tree / "reggae" / "reggae.00000.wav")
    (root / "unsorted.wav").symlink_to(genre_tree / "metal" / "metal.00003.wav")
    code, rows, _ = run_import(root, "--db", tmp_path / "catalog.sqlite")
    outcome = by_action(rows)
    assert code == 0 and list(outcome["labelled"]) == [str(link)]
    assert outcome["skipped"] == {str(root / "unsorted.wav"): {
        "path": str(root / "unsorted.wav"), "action": "skipped",
        "reason": "not in a label folder"}}


@pytest.mark.slow
def test_cli_trains_on_the_listed_train_split_and_evaluates_on_the_test_list(gtzan_split,
                                                                             tmp_path):
    root, lists = gtzan_split
    db = str(tmp_path / "catalog.sqlite")
    run_import(root, "--format", "gtzan", "--splits", lists, "--db", db)
    out = tmp_path / "models" / "gtzan"
    trained = runner.invoke(app, ["train", "--db", db, "--dataset", "gtzan_split", "--model",
                                  "classic", "--C", "1", "--out", str(out), "--json"])
    assert trained.exit_code == 0, trained.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert (card["training"]["train_songs"], card["training"]["valid_songs"],
            card["training"]["test_songs_held_out"]) == (9, 3, 3)
    evaluated = runner.invoke(app, ["evaluate", str(out) + ".safetensors", "gtzan_split",
                                    "--db", db, "--report", str(tmp_path / "report"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout.splitlines()[-1])["split"] == "test"
    with open(tmp_path / "models" / "results.csv", newline="") as handle:
        scored = list(csv.DictReader(handle))[-1]
    assert (scored["split"], scored["songs"]) == ("test", "3")  # the three clips listed as test


# --- manifests and FMA tables as people hand them over (red-team D4) ---------------------------


def test_a_second_genre_for_one_file_is_a_failed_row_naming_the_first(genre_tree, tmp_path):
    """Genre classification gives a song one genre: two rows giving it two genres used to be
    stored silently, turning the whole task multi-label. A repeated row is no conflict; a
    multi-label task (mood) keeps taking several."""
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label\n"
                        "metal/metal.00000.wav,metal\n"
                        "classical/classical.00000.wav,classical\n"
                        "metal/metal.00000.wav,rock\n"
                        "classical/classical.00000.wav,classical\n", encoding="utf-8")
    db = tmp_path / "catalog.sqlite"
    code, rows, _ = run_import(manifest, "--audio", genre_tree, "--db", db)
    assert code == 1
    assert by_action(rows)["failed"] == {f"{manifest}:4": {
        "path": f"{manifest}:4", "action": "failed",
        "reason": "metal/metal.00000.wav already has label 'metal' (line 2); this task takes "
                  "one label per song"}}
    assert labelled_by_name(db, "genre", "labels") == {
        "metal.00000.wav": (["metal"], None, None),
        "classical.00000.wav": (["classical"], None, None)}
    code, rows, _ = run_import(manifest, "--audio", genre_tree, "--task", "mood", "--db", db)
    assert code == 0
    assert labelled_by_name(db, "mood", "labels")["metal.00000.wav"][0] == ["metal", "rock"]


def test_windows_separators_in_a_manifest_are_folders(genre_tree, tmp_path):
    """Playlists matched sub\\b.mp3; manifests written on Windows now do too."""
    manifest = tmp_path / "windows.csv"
    manifest.write_bytes(b"path;label\r\nmetal\\metal.00001.wav;metal\r\n"
                         b"classical\\classical.00001.wav;classical\r\n")
    code, rows, _ = run_import(manifest, "--audio", genre_tree, "--db",
                               tmp_path / "catalog.sqlite")
    assert code == 0
    assert sorted(by_action(rows)["labelled"]) == [
        str(genre_tree / "classical" / "classical.00001.wav"),
        str(genre_tree / "metal" / "metal.00001.wav")]


@pytest.mark.parametrize("cut", [
    ",artist,artist,set,set,track\n",                                   # after the first row
    ",artist,artist,set,set,track\n,bio,id,spl",                        # inside the second
    ",artist,artist,set,set,track\n,bio,id,split,subset,genre_top\n",   # after the second
    ",artist,artist,set,set,track\n,bio,id,split,subset,genre_top\ntrack_id,,,,,\n",  # third
])
def test_fma_table_cut_within_its_header_says_so(tmp_path, cut):
    """Before, a cut after the second or third header row read as '0 songs'."""
    table = tmp_path / "tracks.csv"
    table.write_text(cut, encoding="utf-8")
    with pytest.raises(ValueError, match="is empty or ends within its header"):
        read_fma(table, tmp_path)
    code, _, stderr = run_import(table, "--format", "fma", "--audio", tmp_path, "--db",
                                 tmp_path / "catalog.sqlite")
    assert code == 3 and "ends within its header" in stderr
