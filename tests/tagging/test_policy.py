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
