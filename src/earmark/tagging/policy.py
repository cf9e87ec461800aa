"""What to write: canonical genre names, confidence and count limits, fill/overwrite/merge,
per-artist and per-album overrides. Pure functions over lists; no files are touched here.

The vocabulary lives in a user-editable file (JSON, or TOML with the same keys); the default is
``earmark/data/genres.json``, whose ``_comment`` documents the keys. A user file replaces the
default's lists and maps key by key, so a file with only ``artists`` keeps the default
vocabulary; the genre tree (``parents``) is the exception: a user's ``parents`` extend the
default tree unless ``replace_parents`` is true.

The genre tree maps each canonical genre to its parent (``Alternative Rock -> Rock``,
``Techno -> Electronic``). By default the genres predicted are written as they are; with
``granularity="coarse"`` each becomes its top-level ancestor, and with ``"specific"`` a genre
is dropped when a more specific one of its descendants is also confident enough.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from earmark.errors import EarmarkError
from earmark.ingest.textfiles import read_text
from earmark.tags.read import split_genres

MODES = ("fill", "overwrite", "merge")

#: How the genre tree shapes what is written: the genres as predicted, their top-level
#: ancestors (``--coarse``), or only the deepest of those on one branch (``--prefer-specific``).
GRANULARITIES = ("as-predicted", "coarse", "specific")

Scored = list[tuple[str, float]]


@dataclass(frozen=True)
class TagPolicy:
    """How predictions become tag values.

    Attributes
    ----------
    mode : ``"fill"`` writes only where the file has no value for the field, ``"overwrite"``
        replaces what is there, ``"merge"`` appends new values after the existing ones.
    min_confidence : predictions below this (0..1) are never written.
    max_values : at most this many new values per field (most confident first).
    separator : write several values joined into one string with this separator (for players
        that show only the first of several values); ``None`` writes separate values.
    canonical : the only genre names written (after aliasing); empty allows any.
    aliases : lower-case name -> canonical name.
    moods, instruments : model tag -> value written for the ``mood`` / ``instrument`` fields.
    artists, albums : lower-case artist / album -> genres always written for its tracks
        (confidence 1); an empty list means never write genres for it. Albums win over artists.
    parents : the genre tree, canonical genre -> its canonical parent (no cycles).
    granularity : one of :data:`GRANULARITIES` (see the module docstring).
    """

    mode: str = "fill"
    min_confidence: float = 0.3
    max_values: int = 2
    separator: str | None = None
    canonical: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    moods: dict[str, str] = field(default_factory=dict)
    instruments: dict[str, str] = field(default_factory=dict)
    artists: dict[str, list[str]] = field(default_factory=dict)
    albums: dict[str, list[str]] = field(default_factory=dict)
    parents: dict[str, str] = field(default_factory=dict)
    granularity: str = "as-predicted"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EarmarkError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.granularity not in GRANULARITIES:
            raise EarmarkError(f"unknown granularity {self.granularity!r}; choose one of "
                               f"{', '.join(GRANULARITIES)}")
        _check_acyclic(self.parents)
        if not 0.0 <= self.min_confidence <= 1.0:
            raise EarmarkError("minimum confidence must be between 0 and 1")
        if self.max_values < 1:
            raise EarmarkError("at most N values: N must be at least 1")

    def with_(self, **changes) -> TagPolicy:
        """A copy with some attributes changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_genre_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_parent(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: Each config key: what its value must be, in words, and the check; maps (``aliases`` ...)
#: are checked value by value so that the message names the entry at fault.
_CONFIG_VALUES = {
    "mode": (f"one of {', '.join(MODES)}", lambda v: v in MODES),
    "min_confidence": ("a number from 0 to 1", lambda v: _is_number(v) and 0 <= v <= 1),
    "max_values": ("a whole number of at least 1",
                   lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "separator": ("text (or null: separate values)", lambda v: v is None or _is_text(v)),
    "canonical": ("a list of genre names", _is_genre_list),
    "replace_parents": ("true or false", lambda v: isinstance(v, bool)),
}
_CONFIG_MAPS = {
    "aliases": ("a genre name", _is_text),
    "moods": ("a mood name", _is_text),
    "instruments": ("an instrument name", _is_text),
    "artists": ("a list of genre names", _is_genre_list),
    "albums": ("a list of genre names", _is_genre_list),
    "parents": ("a parent genre name (or null: a top-level genre)", _is_parent),
}
_CONFIG_KEYS = {*_CONFIG_VALUES, *_CONFIG_MAPS}


def _shown(value: object) -> str:
    """A config value as the file spells it (JSON), shortened."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _config_problems(data: dict) -> list[str]:
    """What is wrong with the values of a user config, one sentence per key at fault."""
    problems = []
    for key, value in data.items():
        if key in _CONFIG_VALUES:
            words, ok = _CONFIG_VALUES[key]
            if not ok(value):
                problems.append(f"'{key}' must be {words}, not {_shown(value)}")
        elif key in _CONFIG_MAPS:
            words, ok = _CONFIG_MAPS[key]
            if not isinstance(value, dict):
                problems.append(f"'{key}' must be a table/object of names, each to {words}, "
                                f"not {_shown(value)}")
                continue
            bad = next((name for name, item in value.items() if not ok(item)), None)
            if bad is not None:
                problems.append(f"'{key}': {bad!r} must map to {words}, not "
                                f"{_shown(value[bad])}")
    return problems


def _read_config(path: Path) -> dict:
    """The settings of a user config file, checked; raises :class:`EarmarkError` naming the
    file and each key at fault (the file is decoded as :mod:`earmark.ingest.textfiles` says,
    so a byte-order mark or UTF-16 is fine)."""
    try:
        text, _ = read_text(path)
    except OSError as exc:
        raise EarmarkError(f"cannot read tag config {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise EarmarkError(f"tag config {path} is not valid {path.suffix[1:] or 'JSON'}: "
                           f"{exc}") from exc
    if not isinstance(data, dict):
        raise EarmarkError(f"tag config {path} must hold a table/object of settings")
    unknown = set(data) - _CONFIG_KEYS - {"_comment"}
    if unknown:
        raise EarmarkError(f"tag config {path}: unknown keys {', '.join(sorted(unknown))}")
    problems = _config_problems(data)
    if problems:
        raise EarmarkError(f"tag config {path}: " + "; ".join(problems))
    return data


def default_config_text() -> str:
    """The shipped default vocabulary file, to copy and edit."""
    return resources.files("earmark.data").joinpath("genres.json").read_text(encoding="utf-8")


def load_policy(path: str | Path | None = None) -> TagPolicy:
    """The default policy, with the settings of a user config file (JSON/TOML) on top.

    The user's ``parents`` extend the default genre tree (a genre mapped to ``null`` becomes
    top-level) unless ``replace_parents`` is true, and the genres they name become canonical
    names; the tree is then pruned to the canonical names (:func:`_pruned_tree`). Raises
    :class:`EarmarkError` for a file that cannot be read or holds a wrong value, and for a
    tree with a cycle.
    """
    data = json.loads(default_config_text())
    tree: dict[str, str | None] = dict(data.get("parents", {}))
    named: list[str] = []  # genres the user's tree names: canonical, even if not listed
    if path is not None:
        user = _read_config(Path(path))
        if user.pop("replace_parents", False):
            tree = {}
        mine = user.pop("parents", {})
        tree.update(mine)
        named = [n for pair in mine.items() for n in pair if n is not None]
        data.update(user)
    data.pop("_comment", None)
    canonical = tuple(data.get("canonical", ()))
    if canonical:
        listed = {name.lower() for name in canonical}
        canonical += tuple(dict.fromkeys(n for n in named if n.lower() not in listed))
    return TagPolicy(
        mode=data.get("mode", "fill"),
        min_confidence=float(data.get("min_confidence", 0.3)),
        max_values=int(data.get("max_values", 2)),
        separator=data.get("separator"),
        canonical=canonical,
        aliases={k.lower(): v for k, v in data.get("aliases", {}).items()},
        moods=dict(data.get("moods", {})),
        instruments=dict(data.get("instruments", {})),
        artists={k.strip().lower(): list(v) for k, v in data.get("artists", {}).items()},
        albums={k.strip().lower(): list(v) for k, v in data.get("albums", {}).items()},
        parents=_pruned_tree(tree, canonical),
    )


def _check_acyclic(parents: dict[str, str], spelling: dict[str, str] | None = None) -> None:
    """Raise :class:`EarmarkError` naming the loop when following parents never ends (names
    shown through ``spelling`` where it has them)."""
    for start in parents:
        seen = [start]
        node = parents.get(start)
        while node is not None:
            if node in seen:
                loop = " -> ".join((spelling or {}).get(n, n)
                                   for n in [*seen[seen.index(node):], node])
                raise EarmarkError(f"the genre tree has a cycle: {loop}")
            seen.append(node)
            node = parents.get(node)


def _pruned_tree(tree: dict[str, str | None], canonical: tuple[str, ...]) -> dict[str, str]:
    """The tree over the canonical names only: a genre whose parent is not canonical hangs
    from its nearest canonical ancestor, and a genre that is not canonical is left out (so a
    user's short ``canonical`` list needs no tree of its own). Names are matched ignoring
    case and spelled as ``canonical`` spells them; without a ``canonical`` list every name
    counts."""
    spelling = {name.lower(): name for name in canonical}
    by_lower = {child.lower(): parent for child, parent in tree.items()}

    def known(name: str) -> str | None:
        return spelling.get(name.lower()) if canonical else name

    # Checked ignoring case, as names are matched: "rock" -> "Rock" would loop too.
    _check_acyclic({k: v.lower() for k, v in by_lower.items() if v is not None},
                   {name.lower(): name for pair in tree.items() for name in pair if name})
    pruned = {}
    for child, parent in tree.items():
        child = known(child)
        while parent is not None and known(parent) is None:
            parent = by_lower.get(parent.lower())
        if child is not None and parent is not None:
            pruned[child] = known(parent)
    return pruned


def ancestors(genre: str, policy: TagPolicy) -> list[str]:
    """The canonical genre's parent, grandparent ... up to its top-level genre (``[]`` for a
    top-level one), from ``policy.parents``."""
    out = []
    node = policy.parents.get(genre)
    while node is not None:
        out.append(node)
        node = policy.parents.get(node)
    return out


def canonical_genre(name: str, policy: TagPolicy) -> str | None:
    """The canonical spelling of a genre name, or ``None`` when the vocabulary excludes it."""
    key = name.strip().lower()
    name = policy.aliases.get(key, name.strip())
    if not policy.canonical:
        return name
    return _spellings(policy.canonical).get(name.lower())


@lru_cache(maxsize=8)
def _spellings(canonical: tuple[str, ...]) -> dict[str, str]:
    """Lower-case name -> its first spelling in ``canonical``. A lookup rather than a search
    of the vocabulary for every name: planning asks it about every genre of every song (a
    sixth of ``tag``'s CPU at 100,000 songs was that search). Not to be changed by callers."""
    spelled: dict[str, str] = {}
    for allowed in canonical:
        spelled.setdefault(allowed.lower(), allowed)
    return spelled


def override_for(policy: TagPolicy, artist: str | None, album: str | None) -> list[str] | None:
    """Genres fixed by the user for this album (first) or artist, or ``None``."""
    if album and album.strip().lower() in policy.albums:
        return policy.albums[album.strip().lower()]
    if artist and artist.strip().lower() in policy.artists:
        return policy.artists[artist.strip().lower()]
    return None


def choose_genres(
    predictions: Scored, policy: TagPolicy, artist: str | None = None, album: str | None = None,
) -> Scored:
    """Genres to write for one track: overrides, else confident canonical predictions.

    Parameters
    ----------
    predictions : ``[(genre, confidence 0..1), ...]`` in any order and spelling.

    Returns
    -------
    list of (genre, confidence)
        At most ``policy.max_values``, most confident first, canonical names without duplicates;
        overrides come with confidence 1.0 and are not limited.
    """
    fixed = override_for(policy, artist, album)
    if fixed is not None:
        return [(genre, 1.0) for genre in fixed]
    confident = _rank(((canonical_genre(name, policy), c) for name, c in predictions), policy)
    return _rank(_shaped(confident, policy), policy)[: policy.max_values]


def _shaped(scored: Scored, policy: TagPolicy) -> Scored:
    """Confident canonical genres shaped by ``policy.granularity`` through the tree: each
    replaced by its top-level ancestor (``coarse``), or without the genres that are ancestors
    of another confident one (``specific``)."""
    if policy.granularity == "coarse":
        return [((ancestors(genre, policy) or [genre])[-1], c) for genre, c in scored]
    if policy.granularity == "specific":
        covered = {a for genre, _ in scored for a in ancestors(genre, policy)}
        return [(genre, c) for genre, c in scored if genre not in covered]
    return scored


def choose_labels(predictions: Scored, vocabulary: dict[str, str], policy: TagPolicy) -> Scored:
    """Mood or instrument values from model tags: mapped through ``vocabulary``, thresholded."""
    return _rank(((vocabulary.get(tag), c) for tag, c in predictions), policy)[
        : policy.max_values]


def _rank(labelled: Iterable[tuple[str | None, float]], policy: TagPolicy) -> Scored:
    """Confident labels (``None``: not in the vocabulary), each at its best confidence, most
    confident first (all of them: callers cut to ``policy.max_values``)."""
    best: dict[str, float] = {}
    for label, confidence in labelled:
        if label is not None and confidence >= policy.min_confidence:
            best[label] = max(confidence, best.get(label, 0.0))
    return sorted(best.items(), key=lambda item: -item[1])


def best_in_vocabulary(predictions: Scored, vocabulary: dict[str, str] | None,
                       policy: TagPolicy) -> tuple[str, float] | None:
    """The most confident prediction that names a value the policy writes, at any confidence,
    or ``None`` when none does: genres through :func:`canonical_genre` (``vocabulary=None``),
    moods and instruments through their ``vocabulary``. Says why nothing cleared the bar."""
    named = [(canonical_genre(name, policy) if vocabulary is None else vocabulary.get(name), c)
             for name, c in predictions]
    known = [(label, c) for label, c in named if label is not None]
    return max(known, key=lambda item: item[1]) if known else None


def split_values(values: list[str] | None) -> list[str]:
    """Separate values of a tag (:func:`~earmark.tags.read.split_genres`), also when a tagger
    joined them with ';' into one string; names that differ only in case count once, spelled
    as first met."""
    out: list[str] = []
    for part in split_genres(values or []):
        if part.lower() not in (o.lower() for o in out):
            out.append(part)
    return out


def new_values(old: list[str] | None, chosen: list[str], policy: TagPolicy,
               held: list[str] | None = None) -> list[str] | None:
    """The values one key of a field should hold, or ``None`` when it should be left as it is.

    ``old`` is what the key holds (``None`` or empty: nothing), as players show it (ID3 genre
    references such as ``(17)`` decoded); ``held`` is every value the field has in the file,
    in all its tag blocks (default ``old``): fill mode writes only when it is empty, merge adds
    the new values to it. A value counts as held when it equals a held value or one of its
    '/'-separated parts, as ID3v2.3 taggers joined several genres (``Rock/Alternative`` holds
    ``Rock``), ignoring case. With ``policy.separator`` the result is one joined string.
    """
    existing = split_values(old if held is None else held)
    if not chosen:
        return None
    if policy.mode == "fill" and existing:
        return None
    if policy.mode == "merge":
        known = {part.strip().lower() for v in existing for part in [v, *v.split("/")]}
        values = existing + [v for v in chosen if v.lower() not in known]
    else:
        values = list(chosen)
    if policy.separator is not None:
        values = [policy.separator.join(values)]
    return None if values == (old or []) else values
