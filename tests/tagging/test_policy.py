"""Policy: canonical names, limits, modes, overrides and the user config file."""

from __future__ import annotations

import json

import pytest

from earmark.errors import EarmarkError
from earmark.tagging.policy import (
    TagPolicy,
    canonical_genre,
    choose_genres,
    choose_labels,
    default_config_text,
    load_policy,
    new_values,
)


def test_default_config_is_documented_and_maps_pretrained_genres():
    data = json.loads(default_config_text())
    assert "canonical" in data["_comment"] and "artists" in data["_comment"]
    policy = load_policy()
    from earmark.analysis.songs import GENRE_TAGS

    names = {genre: canonical_genre(genre, policy) for genre in GENRE_TAGS}
    assert all(names.values()), [g for g, c in names.items() if c is None]
    assert names["hip-hop"] == "Hip-Hop" and names["soul/r&b"] == "Soul"


def test_choose_genres_thresholds_limits_and_dedupes():
    policy = TagPolicy(min_confidence=0.3, max_values=2, aliases={"hip hop": "Hip-Hop"},
                       canonical=("Hip-Hop", "Rock", "Jazz"))
    chosen = choose_genres([("jazz", 0.2), ("rock", 0.5), ("Hip Hop", 0.7), ("hip-hop", 0.9),
                            ("polka", 0.99)], policy)
    assert chosen == [("Hip-Hop", 0.9), ("Rock", 0.5)]


def test_overrides_album_before_artist_and_empty_means_never():
    policy = TagPolicy(artists={"raffi": ["Children's"]}, albums={"lullabies": []})
    predictions = [("metal", 0.99)]
    assert choose_genres(predictions, policy, "Raffi", "Bananaphone") == [("Children's", 1.0)]
    assert choose_genres(predictions, policy, "Raffi", "Lullabies") == []


@pytest.mark.parametrize(("mode", "old", "expected"), [
    ("fill", None, ["Rock", "Pop"]),
    ("fill", ["Jazz"], None),
    ("overwrite", ["Jazz"], ["Rock", "Pop"]),
    ("overwrite", ["Rock", "Pop"], None),
    ("merge", ["Jazz; rock"], ["Jazz", "rock", "Pop"]),
    ("merge", ["Rock", "Pop"], None),
])
def test_modes(mode, old, expected):
    assert new_values(old, ["Rock", "Pop"], TagPolicy(mode=mode)) == expected


@pytest.mark.parametrize(("mode", "old", "held", "expected"), [
    # Another tag block of the file (an APEv2 Genre beside ID3v2) holds Blues.
    ("fill", None, ["Blues"], None),
    ("merge", None, ["Blues"], ["Blues", "Rock", "Pop"]),
    ("merge", ["Blues"], ["Blues"], ["Blues", "Rock", "Pop"]),
    ("overwrite", None, ["Blues"], ["Rock", "Pop"]),
    # ID3v2.3 taggers joined genres with '/': its parts count as held, the value stays whole.
    ("merge", ["Rock/Pop"], None, None),
    ("merge", ["rock/Soul"], None, ["rock/Soul", "Pop"]),
])
def test_fill_and_merge_go_by_every_value_the_field_holds(mode, old, held, expected):
    assert new_values(old, ["Rock", "Pop"], TagPolicy(mode=mode), held) == expected


def test_separator_joins_into_one_value():
    assert new_values(None, ["Rock", "Pop"], TagPolicy(separator=" / ")) == ["Rock / Pop"]


def test_labels_use_the_vocabulary():
    policy = TagPolicy(min_confidence=0.4, moods={"sad": "Sad", "happy": "Happy"})
    assert choose_labels([("sad", 0.5), ("happy", 0.3), ("rock", 0.9)], policy.moods,
                         policy) == [("Sad", 0.5)]


def test_user_config_toml_and_json(tmp_path):
    toml = tmp_path / "tags.toml"
    toml.write_text('mode = "merge"\nmax_values = 3\ncanonical = []\n'
                    '[albums]\n"Songs For Kids" = ["Children\'s"]\n', encoding="utf-8")
    policy = load_policy(toml)
    assert policy.mode == "merge" and policy.max_values == 3 and policy.canonical == ()
    assert policy.albums == {"songs for kids": ["Children's"]}
    assert policy.aliases["hip hop"] == "Hip-Hop"  # untouched keys keep the defaults
    bad = tmp_path / "bad.json"
    bad.write_text('{"mood": "fill"}', encoding="utf-8")
    with pytest.raises(EarmarkError, match="unknown keys mood"):
        load_policy(bad)
    with pytest.raises(EarmarkError, match="unknown mode"):
        TagPolicy(mode="replace")


@pytest.mark.parametrize(("config", "message"), [
    ({"aliases": {"rock": 7}}, "'aliases': 'rock' must map to a genre name, not 7"),
    ({"canonical": [1, None]}, "'canonical' must be a list of genre names, not [1, null]"),
    ({"canonical": "Jazz"}, "'canonical' must be a list of genre names, not \"Jazz\""),
    ({"moods": ["x"]}, "'moods' must be a table/object of names, each to a mood name, not "
                       "[\"x\"]"),
    ({"albums": None}, "'albums' must be a table/object of names, each to a list of genre "
                       "names, not null"),
    ({"artists": {"Raffi": "Children's"}}, "'artists': 'Raffi' must map to a list of genre "
                                           "names, not \"Children's\""),
    ({"max_values": True}, "'max_values' must be a whole number of at least 1, not true"),
    ({"min_confidence": "0.5"}, "'min_confidence' must be a number from 0 to 1, not \"0.5\""),
    ({"mode": "replace"}, "'mode' must be one of fill, overwrite, merge, not \"replace\""),
    ({"separator": 0}, "'separator' must be text (or null: separate values), not 0"),
])
def test_config_values_of_the_wrong_type_are_named(tmp_path, config, message):
    """Before, these crashed inside earmark (or, for "canonical": "Jazz", silently allowed
    only the genres J, a, z)."""
    path = tmp_path / "tags.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(EarmarkError) as caught:
        load_policy(path)
    assert str(caught.value) == f"tag config {path}: {message}"


def test_config_in_any_encoding_people_save_and_binary_refused(tmp_path):
    text = '{"mode": "merge", "artists": {"Björk": ["Électronique"]}}'
    for encoding in ("utf-8-sig", "utf-16", "cp1252"):  # Notepad's choices
        path = tmp_path / f"{encoding}.json"
        path.write_bytes(text.encode(encoding))
        policy = load_policy(path)
        assert policy.mode == "merge" and policy.artists == {"björk": ["Électronique"]}
    toml = tmp_path / "tags.toml"
    toml.write_bytes('mode = "overwrite"\r\n'.encode("utf-8-sig"))
    assert load_policy(toml).mode == "overwrite"
    binary = tmp_path / "tags.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(EarmarkError, match="is binary data, not text"):
        load_policy(binary)


def test_tag_command_refuses_a_bad_config_with_exit_2(tmp_path):
    from typer.testing import CliRunner

    from earmark.cli import app

    song = tmp_path / "song.flac"
    song.write_bytes(b"")
    config = tmp_path / "tags.json"
    config.write_text('{"aliases": {"rock": 7}}', encoding="utf-8")
    result = CliRunner().invoke(app, ["tag", str(song), "--config", str(config), "--dry-run",
                                      "--db", str(tmp_path / "catalog.sqlite")])
    assert result.exit_code == 2
    assert "'aliases': 'rock' must map to a genre name, not 7" in " ".join(
        result.stderr.split())
    assert not (tmp_path / "catalog.sqlite").exists()  # refused before anything was done
