"""The analysis side of the taste queries: embedding the songs a query needs that have no stored
embedding yet.

It runs the pretrained network, so importing it imports torch: over a second of a command's
start-up. :mod:`earmark.taste.recommend` answers from stored embeddings and imports this module
only when a song has to be analysed (a rated song not embedded yet, a query file outside the
catalog), so ``similar``, ``recommend`` and ``playlist`` on an embedded library never load it.
"""

from __future__ import annotations

import numpy as np

from earmark.analysis.embed import analyse_file, embed_tracks
from earmark.catalog import Catalog
from earmark.engine.device import pick_device
from earmark.errors import AudioError, EarmarkError
from earmark.models.musicnn import load_musicnn
from earmark.settings import settings
from earmark.types import ProgressFn


def embed_songs(catalog: Catalog, model: str, track_ids: list[int],
                progress: ProgressFn | None = None) -> list[tuple[str, str]]:
    """Compute and store the ``model`` embeddings of the catalog tracks ``track_ids``
    (:func:`earmark.analysis.embed.embed_tracks`); ``(path, reason)`` of each that failed."""
    return embed_tracks(catalog, model, track_ids, progress=progress).failed


def file_embedding(path: str, model: str) -> np.ndarray:
    """The ``model`` embedding ``(dim,)`` of the file ``path``, analysed in memory: nothing
    about it is recorded. Raises :class:`EarmarkError` when it cannot be decoded."""
    tagger = load_musicnn(model, device=pick_device(), precision=settings().precision)
    result = analyse_file(path, tagger)
    if isinstance(result, AudioError):
        raise EarmarkError(f"{path}: {result.reason}")
    return result.embedding
