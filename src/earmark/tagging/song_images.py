"""A catalog song's pictures as PNG files, drawn once per file content and then reused: its
log-mel spectrogram and its taggram (the tags a pretrained tagger hears over time), for the
song page of ``earmark serve``.

The taggram is drawn from the same analysis ``earmark tags --plot`` draws
(:func:`earmark.tagging.lookup.song_tags` of a file outside any catalog, so this run's
per-patch outputs), with :func:`earmark.analysis.figures.plot_taggram`; the spectrogram with
:func:`earmark.analysis.figures.plot_spectrogram`. A picture is named after the file's content
hash, so a changed (and re-scanned) file gets new pictures and an unchanged one is never drawn
twice, however many times its page is opened.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from earmark.analysis.figures import plot_spectrogram, plot_taggram
from earmark.catalog.tracks import Track, song_name
from earmark.errors import EarmarkError
from earmark.settings import EMBEDDING_MODEL
from earmark.tagging.lookup import song_tags

#: The pictures a song has: ``spectrogram`` (its first :data:`SPECTROGRAM_SECONDS`) and
#: ``taggram`` (the whole song through :data:`EMBEDDING_MODEL`, its :data:`TAGGRAM_TAGS` most
#: probable tags).
KINDS = ("spectrogram", "taggram")
SPECTROGRAM_SECONDS = 30.0
#: Tags drawn in a taggram: the song's most probable ones (its mean over time), as many as the
#: song page lists, so the picture stays about as tall as the spectrogram (~400 px; 20 rows
#: made a 650 px picture that pushed the genres and the radio out of view).
TAGGRAM_TAGS = 10
#: Part of every picture's name: raise it when the drawing changes, so pictures drawn the old
#: way are drawn again instead of being served from the cache.
DRAWING = 3


def song_image(track: Track, kind: str, folder: str | Path) -> Path:
    """The PNG of picture ``kind`` (one of :data:`KINDS`) of catalog ``track``, drawn now if
    ``folder`` (a cache folder: the web app's) does not hold it yet.

    Raises
    ------
    ValueError : ``kind`` is not one of :data:`KINDS`.
    EarmarkError : the song is not playable, has no content hash yet, or its audio cannot be
        decoded (the reason says which).
    """
    if kind not in KINDS:
        raise ValueError(f"no picture {kind!r}: choose one of {', '.join(KINDS)}")
    if track.status != "ok" or not track.content_hash:
        raise EarmarkError(f"{track.path}: not playable: {track.error or 'not scanned yet'}")
    folder = Path(folder)
    image = folder / f"{track.content_hash}-{kind}-{DRAWING}.png"
    if image.exists():
        return image
    folder.mkdir(parents=True, exist_ok=True)
    # Drawn beside its final name and renamed: two requests drawing the same picture at once
    # each rename a whole file, and no reader ever sees half of one.
    handle, scratch = tempfile.mkstemp(prefix=f".{kind}-", suffix=".png", dir=folder)
    os.close(handle)
    try:
        _draw(track, kind, scratch)
        os.replace(scratch, image)
    finally:
        Path(scratch).unlink(missing_ok=True)
    return image


def _draw(track: Track, kind: str, out: str) -> None:
    if kind == "spectrogram":
        try:
            plot_spectrogram(track.path, out, song_name(track), SPECTROGRAM_SECONDS)
        except EarmarkError as exc:
            raise EarmarkError(f"{track.path}: {exc}") from exc
        return
    # Every patch, as 'tags --plot' analyses it: a taggram of sampled windows would have gaps.
    answer = next(song_tags([track.path], EMBEDDING_MODEL, sampling=None))
    if answer.result is None:
        raise EarmarkError(f"{track.path}: {answer.reason}")
    result = answer.result
    # The tags the song is most likely to carry: 50 rows, most of them near zero, would make
    # a page-long picture that says less.
    top = np.argsort(-result.taggram.mean(axis=0), kind="stable")[:TAGGRAM_TAGS]
    plot_taggram(result.taggram[:, top], [result.tags[i] for i in top], out,
                 title=f"{song_name(track)} ({result.model})",
                 patch_seconds=result.patch_seconds)
