"""One definition per concept: the settings object, the pretrained-model registry and the one
shape of a per-file outcome."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from earmark.analysis.embed import EmbedItem
from earmark.catalog import Catalog
from earmark.errors import ModelError
from earmark.ingest.scan import ScanItem
from earmark.models import musicnn
from earmark.models.registry import ALIASES, MODEL_NAMES, MSD_TAGS, MTT_TAGS, pretrained
from earmark.settings import Settings, SettingsError, override_settings, settings
from earmark.tagging.lookup import tagger_name
from earmark.tagging.plan import TrackResult
from earmark.taste.ratings_io import ImportItem
from earmark.types import Outcome


def test_settings_come_from_the_environment_and_ignore_empty_values(tmp_path):
    got = Settings.from_environ({
        "EARMARK_DB": "~/music/catalog.sqlite", "EARMARK_CACHE_DIR": str(tmp_path),
        "EARMARK_PRECISION": "float32", "EARMARK_ENGINE": "local", "EARMARK_WORKERS": "3",
        "EARMARK_DEVICE": "cpu", "HOME_OF_SOMETHING_ELSE": "x",
    })
    assert got.catalog_path == Path.home() / "music" / "catalog.sqlite"
    assert got.cache_dir == tmp_path
    assert (got.precision, got.engine, got.workers, got.device) == ("float32", "local", 3, "cpu")
    assert (got.embedding_model, got.taste_half_life_days) == ("MSD_musicnn", 365.0)
    defaults = Settings.from_environ({"EARMARK_DB": "", "EARMARK_WORKERS": ""})
    assert defaults.catalog_path.name == "catalog.sqlite" and defaults.workers is None
    assert (defaults.precision, defaults.engine, defaults.device) == ("auto", "local", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.workers = 4


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("EARMARK_WORKERS", "0", "$EARMARK_WORKERS: workers must be at least 1, not 0"),
    ("EARMARK_WORKERS", "two", "$EARMARK_WORKERS='two': invalid literal for int()"),
    ("EARMARK_PRECISION", "fp8", "$EARMARK_PRECISION: precision must be one of auto, float32, "
                                 "bfloat16, not 'fp8'"),
    ("EARMARK_ENGINE", "spark", "$EARMARK_ENGINE: engine must be one of local, ray, not "
                                "'spark'"),
])
def test_a_bad_variable_is_named_in_the_error(variable, value, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({variable: value})
    assert str(caught.value).startswith(message)


def test_bad_values_in_code_are_refused_too(tmp_path):
    with pytest.raises(SettingsError, match="half-life must be a positive number"):
        Settings(tmp_path / "c.sqlite", tmp_path, taste_half_life_days=0.0)
    with pytest.raises(SettingsError, match="precision must be one of"):
        with override_settings(precision="float16"):
            pass


def test_override_settings_is_what_the_catalog_and_model_cache_use(tmp_path):
    before = settings()
    with override_settings(catalog_path=tmp_path / "here.sqlite",
                           cache_dir=tmp_path / "cache") as inside:
        assert settings() is inside and inside.workers == before.workers
        with Catalog(None) as catalog:
            assert catalog.path == tmp_path / "here.sqlite"
        assert musicnn.cache_dir() == tmp_path / "cache" / "models"
    assert settings() is before
    assert musicnn.cache_dir() == before.cache_dir / "models"


def test_the_registry_names_every_pretrained_model_once():
    assert MODEL_NAMES == ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
    assert ALIASES == {"msd": "MSD_musicnn", "mtt": "MTT_musicnn", "msd-vgg": "MSD_vgg",
                       "mtt-vgg": "MTT_vgg"}
    assert [tagger_name(alias) for alias in ALIASES] == list(ALIASES.values())  # the CLI's
    for alias, name in ALIASES.items():
        assert pretrained(alias) is pretrained(name)
        model = pretrained(name)
        assert model.tags == (MSD_TAGS if name.startswith("MSD") else MTT_TAGS)
        assert model.has_genres  # MSD and MTT tags both map to genres
        assert model.architecture == name.split("_")[1]
    assert len(MSD_TAGS) == len(MTT_TAGS) == 50
    with pytest.raises(ModelError, match="unknown pretrained model 'msd2'; choose one of "
                                         "MSD_musicnn, MTT_musicnn, MSD_vgg, MTT_vgg"):
        pretrained("msd2")


def test_a_model_loaded_by_alias_has_the_registry_name_tags_and_architecture():
    vgg = musicnn.load_musicnn("mtt-vgg", precision="float32")
    assert isinstance(vgg, musicnn.MusicnnVGG)
    assert (vgg.name, vgg.tags) == ("MTT_vgg", MTT_TAGS)
    with pytest.raises(ModelError, match="unknown pretrained model 'MSD_cnn'"):
        musicnn.load_musicnn("MSD_cnn")


@pytest.mark.parametrize(("kind", "statuses", "extra"), [
    (ScanItem, {"added", "updated", "moved", "unchanged", "failed", "skipped"},
     {"track_id": 3, "moved_from": "/old.mp3", "warning": None}),
    (ImportItem, {"rated", "unchanged", "unrated", "failed"},
     {"verdict": "like", "stars": None, "replaced": None}),
    (TrackResult, {"written", "kept", "below-threshold", "skipped", "failed", "restored",
                   "not written", "refused"}, {"changes": (), "cause": None}),
    (EmbedItem, {"embedded", "failed"}, {"track_id": 3, "notes": ()}),
])
def test_per_file_outcomes_share_one_shape(kind, statuses, extra):
    assert issubclass(kind, Outcome) and kind.STATUSES == statuses
    names = [f.name for f in dataclasses.fields(kind)]
    assert names[:3] == ["path", "status", "reason"] and set(names[3:]) == set(extra)
    for status in statuses:
        item = kind("/music/a.flac", status, "why", **extra)
        assert (item.path, item.status, item.reason) == ("/music/a.flac", status, "why")
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.status = "failed"
    with pytest.raises(ValueError, match=f"{kind.__name__} status must be one of .*not 'Failed'"):
        kind("/music/a.flac", "Failed")
