"""``import_dataset``: one call imports a labelled collection in any supported format, as
``earmark dataset import`` and a web form do; its options are checked before anything is read
(real GTZAN excerpts, a real catalog)."""

from __future__ import annotations

from pathlib import Path

import pytest

from earmark.catalog import Catalog
from earmark.catalog.labels import load_labelled
from earmark.ingest.importers import DatasetSource, import_dataset


@pytest.fixture
def catalog_path(tmp_path) -> Path:
    return tmp_path / "catalog.sqlite"


def cli_spelling(option: str) -> str:
    return "--" + option.replace("_", "-")


def test_problems_name_every_option_that_cannot_be_honoured(genre_tree, tmp_path):
    table = tmp_path / "annotations.csv"
    table.write_text("x\n", encoding="utf-8")
    assert DatasetSource(genre_tree).kind == "folders"
    assert DatasetSource(table).kind == "csv"
    assert DatasetSource(genre_tree, top=10, subset="small").problems() == [
        "subset does not apply to format folders (only to fma)",
        "top does not apply to format folders (only to mtt)"]
    assert DatasetSource(table, "mtt", split_list={"train": table}).problems(cli_spelling) == [
        "--split-list does not apply to --format mtt (only to gtzan, jamendo)",
        "--audio FOLDER is needed for mtt tables"]
    assert DatasetSource(table, "jamendo", audio=tmp_path, category="tempo").problems() == [
        "category must be one of genre, instrument, mood/theme"]
    assert DatasetSource(table, "fma", audio=tmp_path, subset="tiny").problems() == [
        "subset must be one of small, medium, large, full"]
    assert DatasetSource(genre_tree, "gtzan", split_list={"holdout": table}).problems() == [
        "split_list: 'holdout' is not a split (train, valid or test)"]
    assert DatasetSource(table, "mtt", audio=tmp_path, top=0).problems() == []


def test_a_source_with_problems_is_refused_before_anything_is_read(catalog_path, tmp_path):
    with Catalog(catalog_path) as catalog:
        with pytest.raises(ValueError, match="audio FOLDER is needed for fma tables"):
            import_dataset(catalog, DatasetSource(tmp_path / "missing.csv", "fma"))
        assert load_labelled(catalog, "genre").paths == []


def test_folders_gtzan_with_split_lists_and_a_csv_manifest(genre_tree, catalog_path, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    genres = ("classical", "metal", "reggae")
    (lists / "train.txt").write_text("".join(f"{g}/{g}.0000{n}.wav\n" for g in genres
                                             for n in (0, 1, 2)), encoding="utf-8")
    (lists / "valid.txt").write_text("".join(f"{g}/{g}.00003.wav\n" for g in genres),
                                     encoding="utf-8")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label\nmetal/metal.00000.wav,heavy\nreggae/reggae.00001.wav,"
                        "offbeat\n", encoding="utf-8")
    with Catalog(catalog_path) as catalog:
        folders = import_dataset(catalog, DatasetSource(genre_tree))
        assert (folders.dataset, folders.task, len(folders.labelled)) == ("mini", "genre", 18)

        listed = import_dataset(catalog, DatasetSource(
            genre_tree, "gtzan", split_list={"train": lists / "train.txt",
                                             "Validation": lists / "valid.txt"}))
        assert listed.dataset == "gtzan_split" and len(listed.labelled) == 12
        assert {reason for _, reason in listed.skipped} == {"in no split list"}
        data = load_labelled(catalog, "genre", "gtzan_split")
        assert sorted(set(data.splits)) == ["train", "valid"]
        assert data.splits.count("valid") == 3

        tagged = import_dataset(catalog, DatasetSource(manifest, audio=genre_tree,
                                                       name="moods", task="feel"))
        assert (tagged.dataset, tagged.task) == ("moods", "feel")
        assert sorted(labels for labels in tagged.labelled.values()) == [["heavy"],
                                                                         ["offbeat"]]
        assert str(genre_tree / "metal" / "metal.00000.wav") in tagged.labelled
