"""The pretrained models earmark can run, by name and by their short command-line alias.

The one place that says which pretrained taggers exist, what they are called, which tags
they output and how to load one. It imports nothing heavy (the command line builds its choices
from it at start-up); :func:`load_pretrained` imports torch when first called.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from earmark.errors import ModelError

if TYPE_CHECKING:
    from earmark.models.musicnn import MusicnnTagger

MTT_TAGS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)

MSD_TAGS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill",
    "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic", "experimental",
    "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening", "sexy",
    "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop",
    "sad", "House", "happy",
)


@dataclass(frozen=True)
class Pretrained:
    """One pretrained tagger: ``name`` (``"MSD_musicnn"``), the command line's ``alias``
    (``"msd"``), the ``dataset`` its tags come from, its ``architecture`` (``"musicnn"`` or
    ``"vgg"``), the ``tags`` it outputs in order, and a line for a person."""

    name: str
    alias: str
    dataset: str
    architecture: str
    tags: tuple[str, ...]
    description: str

    @property
    def has_genres(self) -> bool:
        """Its tags name genres that :func:`earmark.analysis.genres.genre_from_tags` maps
        (both vocabularies do: MSD's Last.fm genres, MTT's classical, metal, country...)."""
        return self.dataset in ("MSD", "MTT")


_MSD = "Million Song Dataset (Last.fm) tags: genres, eras, moods"
_MTT = "MagnaTagATune tags: instruments, voice, genres"

#: Every pretrained model by name, the default (the embedding model) first.
PRETRAINED: dict[str, Pretrained] = {m.name: m for m in (
    Pretrained("MSD_musicnn", "msd", "MSD", "musicnn", MSD_TAGS, _MSD),
    Pretrained("MTT_musicnn", "mtt", "MTT", "musicnn", MTT_TAGS, _MTT),
    Pretrained("MSD_vgg", "msd-vgg", "MSD", "vgg", MSD_TAGS, _MSD + " (VGG baseline)"),
    Pretrained("MTT_vgg", "mtt-vgg", "MTT", "vgg", MTT_TAGS, _MTT + " (VGG baseline)"),
)}

#: The pretrained models' names, e.g. ``"MSD_musicnn"``.
MODEL_NAMES: tuple[str, ...] = tuple(PRETRAINED)

#: Short command-line name -> model name (``"msd-vgg"`` -> ``"MSD_vgg"``).
ALIASES: dict[str, str] = {m.alias: m.name for m in PRETRAINED.values()}

#: The taggers ``genre``, ``tag`` and ``embed`` run together by default: one decode and one
#: mel spectrogram (they share the front end), both networks, genres from both vocabularies.
ZERO_SHOT_MODELS: tuple[str, ...] = ("MSD_musicnn", "MTT_musicnn")

#: The command line's name for :data:`ZERO_SHOT_MODELS` together.
BOTH = "both"

#: The model name under which genres learned from the library's own genre tags are stored
#: (:mod:`earmark.learn.library_genres`; ``earmark tag --model learned``).
LEARNED = "learned"


def pretrained(name: str) -> Pretrained:
    """The model called ``name`` or by the alias ``name``.

    Raises :class:`~earmark.errors.ModelError` naming the models there are.
    """
    found = PRETRAINED.get(ALIASES.get(name, name))
    if found is None:
        raise ModelError(f"unknown pretrained model {name!r}; choose one of "
                         f"{', '.join(MODEL_NAMES)}")
    return found


@lru_cache(maxsize=4)
def load_pretrained(name: str) -> MusicnnTagger:
    """The pretrained tagger ``name`` (see :data:`MODEL_NAMES`), loaded once per process and
    shared by every caller.

    Raises :class:`~earmark.errors.ModelError` for an unknown name or unreadable weights.
    """
    from earmark.models.musicnn import load_musicnn

    return load_musicnn(name)
