"""Pretrained models by name, loaded once per process."""

from __future__ import annotations

from functools import lru_cache

from earmark.models.musicnn import MusicnnTagger, load_musicnn


@lru_cache(maxsize=4)
def load_pretrained(name: str) -> MusicnnTagger:
    """The pretrained musicnn tagger ``name`` (see :data:`earmark.models.musicnn.MODEL_NAMES`),
    loaded once per process and shared by every caller.

    Raises :class:`~earmark.errors.ModelError` for an unknown name or unreadable weights.
    """
    return load_musicnn(name)
