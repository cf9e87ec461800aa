"""The pretrained commands on real music: ``tags``, ``genre``, ``embed`` (catalog, incremental)."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from earmark.analysis.embed import embed_tracks, load_predictions
from earmark.catalog import Catalog, tracks
from earmark.catalog.embeddings import load_embeddings
from earmark.cli import app
from earmark.engine import LocalEngine
from earmark.errors import AudioError
from earmark.ingest.scan import scan
from music import gtzan_clip, transcode

runner = CliRunner()


@pytest.fixture(scope="module")
def excerpts(tmp_path_factory):
    """6 s excerpts (two 3 s patches) of real jazz and metal, and a damaged file beside them."""
    folder = tmp_path_factory.mktemp("excerpts")
    jazz = transcode(gtzan_clip("jazz", 1), folder / "a jazz song.mp3", "mp3", seconds=6,
                     start=9)
    metal = transcode(gtzan_clip("metal", 4), folder / "métal.ogg", "ogg", seconds=6, start=3)
    (folder / "broken.flac").write_bytes(b"fLaC" + bytes(300))
    return {"jazz": jazz, "metal": metal, "broken": folder / "broken.flac", "folder": folder}


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_tags_json_csv_and_failures_in_a_batch(excerpts):
    result = runner.invoke(app, ["tags", str(excerpts["folder"]), "--json", "--top", "3"])
    assert result.exit_code == 1  # the broken file failed, the others were tagged
    rows = {row["path"]: row for row in _json_lines(result.stdout)}
    assert rows[str(excerpts["broken"])]["error"]
    jazz = rows[str(excerpts["jazz"])]
    assert jazz["model"] == "MSD_musicnn" and len(jazz["tags"]) == 3
    assert jazz["tags"][0]["tag"] == "jazz"
    probs = [t["probability"] for t in jazz["tags"]]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)

    result = runner.invoke(app, ["tags", str(excerpts["metal"]), "--csv", "--model", "mtt"])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["rank"] for r in table] == ["1", "2", "3", "4", "5"]
    assert {r["path"] for r in table} == {str(excerpts["metal"])}


def test_tags_plot_and_span(excerpts, tmp_path):
    png = tmp_path / "taggram.png"
    result = runner.invoke(app, ["tags", str(excerpts["jazz"]), "--plot", str(png),
                                 "--start", "0", "--duration", "3"])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(app, ["tags", str(excerpts["folder"]), "--plot", str(png)])
    assert result.exit_code == 2 and "exactly one file" in result.output


def test_precision_option(excerpts):
    from earmark.cli.analysis import PrecisionChoice
    from earmark.models.musicnn import PRECISIONS

    assert tuple(c.value for c in PrecisionChoice) == PRECISIONS
    songs = {}
    for precision in ("float32", "bfloat16"):
        result = runner.invoke(app, ["tags", str(excerpts["jazz"]), "--json", "--top", "50",
                                     "--precision", precision])
        assert result.exit_code == 0, result.output
        (row,) = _json_lines(result.stdout)
        songs[precision] = {t["tag"]: t["probability"] for t in row["tags"]}
    assert max(songs["float32"]["jazz"], songs["bfloat16"]["jazz"]) == max(
        max(s.values()) for s in songs.values())
    assert max(abs(songs["float32"][t] - songs["bfloat16"][t]) for t in songs["float32"]) < 0.02
    result = runner.invoke(app, ["tags", str(excerpts["jazz"]), "--precision", "float8"])
    assert result.exit_code == 2


def test_analyse_files_in_parallel_equals_one_at_a_time(excerpts):
    from earmark.analysis.embed import analyse_files
    from earmark.models.musicnn import load_musicnn

    model = load_musicnn("MTT_musicnn", precision="float32")
    paths = [excerpts["jazz"], excerpts["broken"], excerpts["metal"], excerpts["jazz"]]
    serial = list(analyse_files(paths, model, engine=LocalEngine(1)))
    parallel = list(analyse_files(paths, model, engine=LocalEngine(2)))
    assert [p for p, _ in parallel] == [str(p) for p in paths]
    assert isinstance(parallel[1][1], AudioError) and "broken" in parallel[1][0]
    for (_, one), (_, two) in zip(serial, parallel, strict=True):
        if isinstance(one, AudioError):
            assert type(two) is type(one) and two.reason == one.reason
        else:
            np.testing.assert_array_equal(two.taggram, one.taggram)
            np.testing.assert_array_equal(two.embedding, one.embedding)


def test_short_clip_is_padded_and_said(tmp_path):
    clip = transcode(gtzan_clip("pop", 1), tmp_path / "one second.wav", "wav", seconds=1)
    result = runner.invoke(app, ["tags", str(clip), "--json"])
    assert result.exit_code == 0, result.output
    row = _json_lines(result.stdout)[0]
    assert row["padded"] is True
    assert all(np.isfinite(t["probability"]) for t in row["tags"])
    assert "padded with silence" in result.stderr


def test_genre_command_finds_the_genre_of_real_music(excerpts):
    result = runner.invoke(app, ["genre", str(excerpts["jazz"]), str(excerpts["metal"]),
                                 "--json", "--min-confidence", "0"])
    assert result.exit_code == 0, result.output
    rows = {row["path"]: row["genres"] for row in _json_lines(result.stdout)}
    assert rows[str(excerpts["jazz"])][0]["genre"] == "jazz"
    assert rows[str(excerpts["metal"])][0]["genre"] in ("metal", "rock")


def test_embed_tracks_is_incremental_and_stores_predictions(excerpts, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(excerpts["folder"], lib)
    with Catalog(tmp_path / "c.sqlite") as catalog:
        scan(catalog, [lib])
        report = embed_tracks(catalog)
        assert len(report.done) == 2
        assert [reason for _, reason in report.failed] == []  # broken files are not 'ok' tracks
        ids, matrix = load_embeddings(catalog, "MSD_musicnn")
        assert matrix.shape == (2, 400) and np.isfinite(matrix).all()
        jazz_id = tracks.get_track(catalog, lib / "a jazz song.mp3").id
        tags = load_predictions(catalog, jazz_id, "tags")
        assert max(tags, key=tags.get) == "jazz"
        assert load_predictions(catalog, jazz_id, "genres")[0][0] == "jazz"

        assert embed_tracks(catalog).up_to_date == 2  # nothing to do the second time

        transcode(gtzan_clip("metal", 4), lib / "a jazz song.mp3", "mp3", seconds=6, start=3)
        scan(catalog, [lib])
        again = embed_tracks(catalog)
        assert again.done == [jazz_id] and again.up_to_date == 1
        tags = load_predictions(catalog, jazz_id, "tags")
        assert max(tags, key=tags.get) != "jazz"


def test_embed_command(excerpts, tmp_path):
    db = tmp_path / "c.sqlite"
    result = runner.invoke(app, ["embed", str(excerpts["folder"]), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert sorted(r["path"] for r in rows) == sorted(
        [str(excerpts["jazz"]), str(excerpts["metal"])])
    assert all(r["embedded"] for r in rows)
    result = runner.invoke(app, ["embed", "--db", str(db)])
    assert result.exit_code == 0 and "2 already up to date" in result.stdout


def test_a_failed_file_does_not_hide_the_others_results(excerpts, tmp_path):
    """genre's table used to be lost when one file failed (exit 1 came before the table), and
    tags --csv put a JSON error line among the CSV rows: the results are printed, failures go
    to stderr, and the exit code is still 1."""
    header_only = tmp_path / "hdr.wav"
    wav = transcode(gtzan_clip("rock", 4), tmp_path / "r.wav", "wav", seconds=1)
    header_only.write_bytes(wav.read_bytes()[:44])  # a WAV header and no audio
    result = runner.invoke(app, ["genre", str(excerpts["jazz"]), str(header_only)])
    assert result.exit_code == 1
    assert "a jazz song.mp3" in result.stdout and "jazz" in result.stdout.split("mp3", 1)[1]
    assert "hdr.wav" in result.stderr and "hdr.wav" not in result.stdout

    result = runner.invoke(app, ["tags", str(excerpts["jazz"]), str(header_only), "--csv"])
    assert result.exit_code == 1
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0] == ["path", "rank", "tag", "probability"]
    assert [row[0] for row in table[1:]] == [str(excerpts["jazz"])] * 5  # only CSV rows
    assert "hdr.wav" in result.stderr


def test_plot_path_that_cannot_be_created_is_a_usage_error(excerpts, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("")
    result = runner.invoke(app, ["tags", str(excerpts["jazz"]), "--plot",
                                 str(blocker / "taggram.png")])
    assert result.exit_code == 2 and result.stdout == ""  # refused before listening
    # Rich wraps long lines wherever it likes: compare without white space
    assert f"error:cannotcreate{blocker}/taggram.png:Notadirectory" in "".join(
        result.stderr.split())
