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

from earmark.analysis.figures import plot_spectrogram, plot_taggram
from earmark.catalog.tracks import Track, song_name
from earmark.errors import EarmarkError
from earmark.settings import EMBEDDING_MODEL, settings
from earmark.tagging.lookup import song_tags

#: The pictures a song has: ``spectrogram`` (its first :data:`SPECTROGRAM_SECONDS`) and
#: ``taggram`` (the whole song through :data:`EMBEDDING_MODEL`).
KINDS = ("spectrogram", "taggram")
SPECTROGRAM_SECONDS = 30.0


def images_folder() -> Path:
    """Where the pictures are kept: ``song-images/`` in earmark's cache folder
    (``EARMARK_CACHE_DIR``)."""
    return settings().cache_dir / "song-images"


def song_image(track: Track, kind: str, folder: str | Path | None = None) -> Path:
    """The PNG of picture ``kind`` (one of :data:`KINDS`) of catalog ``track``, drawn now if
    ``folder`` (default :func:`images_folder`) does not hold it yet.

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
    folder = Path(folder) if folder is not None else images_folder()
    image = folder / f"{track.content_hash}-{kind}.png"
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
    answer = next(song_tags([track.path], EMBEDDING_MODEL))
    if answer.result is None:
        raise EarmarkError(f"{track.path}: {answer.reason}")
    result = answer.result
    plot_taggram(result.taggram, result.tags, out, title=f"{song_name(track)} ({result.model})",
                 patch_seconds=result.patch_seconds)
