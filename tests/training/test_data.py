"""Dataset importers and splits, on short excerpts of real GTZAN clips."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from earmark.catalog import Catalog
from earmark.catalog.labels import load_labelled
from earmark.data import (
    LabelledSet,
    cv_folds,
    group_keys,
    holdout_split,
)
from earmark.data.splits import stratify_labels
from earmark.engine import LocalEngine
from earmark.ingest.importers import (
    import_csv,
    import_dataset_folders,
    import_fma,
    import_mtt,
    read_fma,
    read_mtt,
)


@pytest.fixture
def catalog(tmp_path):
    with Catalog(tmp_path / "catalog.sqlite") as cat:
        yield cat


def test_import_folders_labels_every_clip_and_reports_bad_files(genre_tree, tmp_path, catalog):
    root = tmp_path / "lib"
    shutil.copytree(genre_tree, root)
    (root / "metal" / "broken.mp3").write_bytes(b"not audio at all")
    report = import_dataset_folders(catalog, root, engine=LocalEngine(1))
    assert len(report.labelled) == 18
    assert [p for p, _ in report.failed] == [str(root / "metal" / "broken.mp3")]
    data = load_labelled(catalog, "genre", "lib")
    assert data.kind == "single" and data.classes == ["classical", "metal", "reggae"]
    assert {data.paths[i]: data.targets[i] for i in range(len(data))}[
        str(root / "reggae" / "reggae.00003.wav")] == ["reggae"]
    assert np.bincount(data.y()).tolist() == [6, 6, 6]


def test_import_folders_train_test_layout(genre_tree, tmp_path, catalog):
    root = tmp_path / "split"
    for split, numbers in (("train", range(4)), ("test", range(4, 6))):
        for genre in ("classical", "metal"):
            (root / split / genre).mkdir(parents=True)
            for n in numbers:
                name = f"{genre}.{n:05d}.wav"
                shutil.copy(genre_tree / genre / name, root / split / genre / name)
    import_dataset_folders(catalog, root, "gt", engine=LocalEngine(1))
    data = load_labelled(catalog, "genre", "gt")
    splits = dict(zip(data.paths, data.splits, strict=True))
    assert splits[str(root / "test" / "metal" / "metal.00005.wav")] == "test"
    assert sorted(set(data.splits)) == ["test", "train"]
    assert data.splits.count("train") == 8


def test_import_csv_multi_label_split_artist_and_missing(genre_tree, tmp_path, catalog):
    manifest = tmp_path / "manifest.csv"
    metal = genre_tree / "metal" / "metal.00000.wav"
    manifest.write_text(
        "path,label,split,artist\n"
        f"{metal},metal,train,Band A\n"
        f"{metal},loud,train,Band A\n"
        f"{genre_tree / 'classical' / 'classical.00001.wav'},calm,test,\n"
        "missing/song.flac,rock,train,Band B\n"
    )
    report = import_csv(catalog, manifest, task="mood", engine=LocalEngine(1))
    assert report.failed == [(str(tmp_path / "missing" / "song.flac"), "file not found")]
    data = load_labelled(catalog, "mood", "manifest")
    assert data.kind == "multi"
    assert data.classes == ["calm", "loud", "metal"]
    row = data.paths.index(str(metal))
    assert data.targets[row] == ["loud", "metal"] and data.artists[row] == "Band A"
    assert data.y()[row].tolist() == [0, 1, 1]
    assert data.splits[row] == "train"


def test_import_mtt_annotations(excerpt, tmp_path, catalog):
    audio = tmp_path / "mtt"
    for folder, genre, n in (("0", "classical", 0), ("c", "metal", 1), ("f", "reggae", 2)):
        excerpt(genre, n, audio / folder / f"clip-{n}.mp3", fmt="mp3", seconds=2.0)
    table = tmp_path / "annotations_final.csv"
    rows = [
        ["clip_id", "guitar", "classical", "strings", "loud", "mp3_path"],
        ["2", "0", "1", "1", "0", "0/clip-0.mp3"],
        ["6", "1", "0", "0", "1", "c/clip-1.mp3"],
        ["9", "1", "0", "0", "0", "f/clip-2.mp3"],
        ["12", "0", "0", "0", "0", "f/clip-3.mp3"],  # untagged: skipped, with a reason
        ["15", "1", "0", "0", "0", "e/gone.mp3"],  # missing audio: reported
    ]
    table.write_text("\n".join("\t".join(f'"{c}"' for c in r) for r in rows) + "\n")
    top2 = {e.path.rsplit("/", 1)[-1]: e.labels
            for e in read_mtt(table, audio, top=2).entries}
    # guitar is the most frequent tag; ties among the rest go alphabetically
    assert top2 == {"clip-0.mp3": ["classical"], "clip-1.mp3": ["guitar"],
                    "clip-2.mp3": ["guitar"], "gone.mp3": ["guitar"]}
    report = import_mtt(catalog, table, audio, top=None, engine=LocalEngine(1))
    assert report.failed == [(str(audio / "e" / "gone.mp3"), "file not found")]
    assert report.skipped == [(str(audio / "f" / "clip-3.mp3"), "none of the 4 kept tags")]
    data = load_labelled(catalog, "tags", "magnatagatune")
    assert data.kind == "multi"
    by_name = {p.rsplit("/", 1)[-1]: (t, s) for p, t, s in
               zip(data.paths, data.targets, data.splits, strict=True)}
    assert by_name == {"clip-0.mp3": (["classical", "strings"], "train"),
                       "clip-1.mp3": (["guitar", "loud"], "valid"),
                       "clip-2.mp3": (["guitar"], "test")}


def test_import_fma_tracks_csv(excerpt, tmp_path, catalog):
    audio = tmp_path / "fma_small"
    excerpt("metal", 0, audio / "000" / "000002.mp3", fmt="mp3", seconds=2.0)
    excerpt("classical", 0, audio / "001" / "001234.mp3", fmt="mp3", seconds=2.0)
    table = tmp_path / "tracks.csv"
    table.write_text(
        ",artist,set,set,track,track\n"
        ",id,split,subset,genre_top,title\n"
        "track_id,,,,,\n"
        "2,17,training,small,Rock,Food\n"
        "1234,99,test,small,Classical,\"Adagio, slow\"\n"
        "5,17,training,medium,Rock,Not small\n"
        "7,18,validation,small,,No top genre\n"
        "9,20,validation,small,Pop,Missing file\n"
    )
    assert len(read_fma(table, audio, subset="medium").entries) == 4
    report = import_fma(catalog, table, audio, engine=LocalEngine(1))
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["000009.mp3"]
    data = load_labelled(catalog, "genre", "fma_small")
    assert data.targets == [["Rock"], ["Classical"]]
    assert data.splits == ["train", "test"] and data.artists == ["17", "99"]


def test_group_keys_gtzan_blocks_and_artists():
    paths = [f"/g/blues/blues.{n:05d}.flac" for n in range(7)] + ["/g/rock/rock.00000.flac"]
    keys = group_keys(paths)
    assert len(set(keys[:3])) == 1 and len(set(keys[3:6])) == 1 and keys[0] != keys[3]
    assert keys[6] != keys[5] and keys[7] != keys[0]
    with_artist = group_keys(["/a/x.mp3", "/b/y.mp3", "/c/z.mp3"], ["Nina", "nina ", None])
    assert with_artist[0] == with_artist[1] != with_artist[2]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_cv_folds_never_straddle_groups_and_are_reproducible(seed):
    genres = [g for g in "abcdefghij" for _ in range(6)]
    paths = [f"/g/{g}/{g}.{n:05d}.flac" for g in "abcdefghij" for n in range(6)]
    y = np.array([ord(g) - 97 for g in genres])
    groups = group_keys(paths)
    folds = cv_folds(y, groups, n_splits=2, seed=seed)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(60))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert set(y[test]) == set(range(10))  # stratified: every genre on both sides
    again = cv_folds(y, groups, n_splits=2, seed=seed)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    train, held = holdout_split(y, groups, 0.5, seed)
    assert not set(groups[train]) & set(groups[held])


def test_stratify_labels_multi_uses_rarest_tag_and_regression_quintiles():
    y = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [1, 0, 1]])
    assert stratify_labels(y, "multi").tolist() == [1, 0, -1, 2]
    stars = np.array([1, 2, 3, 4, 5, 5, 4, 3, 2, 1], dtype=float)
    bins = stratify_labels(stars, "regression")
    assert bins.min() == 0 and bins.max() >= 3 and bins[0] == bins[9]


def test_without_split_leaves_out_one_split_in_order():
    data = LabelledSet(track_ids=[1, 2, 3, 4], paths=["a", "b", "c", "d"],
                       targets=[["x"], ["y"], ["x"], ["y"]], kind="single", classes=["x", "y"],
                       artists=["A", None, "C", None], splits=["train", "test", None, "valid"])
    assert data.in_split("test").tolist() == [False, True, False, False]
    rest = data.without_split("test")
    assert rest.track_ids == [1, 3, 4] and rest.paths == ["a", "c", "d"]
    assert rest.artists == ["A", "C", None] and rest.splits == ["train", None, "valid"]
    assert rest.classes == data.classes and rest.y().tolist() == [0, 0, 1]
    assert data.without_split("holdout").track_ids == data.track_ids
    assert len(data) == 4  # the original is untouched
    unsplit = LabelledSet(track_ids=[1, 2], paths=["a", "b"], targets=[1, 0], kind="binary",
                          classes=["dislike", "like"])
    assert unsplit.in_split("test").tolist() == [False, False]
    assert unsplit.without_split("test").track_ids == [1, 2]
