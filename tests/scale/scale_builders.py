"""Builders of big libraries and catalogs for the scale tests and ``bench/bench_scale.py``.

A library here is real files on disk: tiny WAV files of distinct noise (so every file has its
own bytes, size-class and modification time, as in a real library), in an artist/album tree.
A generated catalog holds the rows a scan of such files records, and optionally random
float32 embeddings, written in one transaction so 100,000 rows take seconds, not a scan.
"""

from __future__ import annotations

import os
import time
import wave
from pathlib import Path

import numpy as np

from earmark.catalog import Catalog, tracks
from earmark.catalog.embeddings import store_embedding
from earmark.ingest.scan import inspect_file

#: Songs per album folder and albums per artist folder of :func:`write_library`.
SONGS_PER_ALBUM = 12
ALBUMS_PER_ARTIST = 8


def write_library(root: Path, n: int, *, seconds: float = 0.05, rate: int = 8000,
                  seed: int = 0) -> list[str]:
    """Write ``n`` mono 16-bit WAV files of ``seconds`` of noise at ``rate`` Hz under ``root``
    (``Artist 0001/Album 03/07 Song.wav``); returns their paths (normalised, sorted).

    Each file's samples differ (seeded), and its length varies by a few samples, so sizes and
    content hashes differ as in a real library.
    """
    rng = np.random.default_rng(seed)
    paths = []
    frames = int(seconds * rate)
    for i in range(n):
        album, song = divmod(i, SONGS_PER_ALBUM)
        artist, album = divmod(album, ALBUMS_PER_ARTIST)
        folder = root / f"Artist {artist:04d}" / f"Album {album:02d}"
        if song == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{song + 1:02d} Song.wav"
        samples = rng.integers(-2000, 2000, frames + i % 7, dtype=np.int16)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(samples.tobytes())
        paths.append(tracks.normalise_path(path))
    return sorted(paths)


def record_rows(catalog: Catalog, paths: list[str]) -> list[int]:
    """Catalog ``paths`` as a scan would (the audio fields of the first file, each file's own
    size and modification time, a distinct content hash), in one transaction; returns the
    track ids in the order of ``paths``. Files that do not exist get the first file's size and
    time (rows only: a catalog for query benches)."""
    template = inspect_file(paths[0], verify=False)
    ids = []
    with catalog.transaction():
        for index, path in enumerate(paths):
            record = dict(template, path=path, content_hash=f"{index:032x}",
                          audio_hash=f"{index:032x}")
            if os.path.exists(path):
                st = os.stat(path)
                record.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
            ids.append(tracks.record_track(catalog, record))
    return ids


def embed_randomly(catalog: Catalog, track_ids: list[int], model: str, dim: int = 200,
                   seed: int = 0) -> np.ndarray:
    """Store a random unit-norm float32 embedding ``(dim,)`` of ``model`` for each track (with
    its current content hash), in one transaction; returns them ``(len(track_ids), dim)``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((len(track_ids), dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    hashes = dict(catalog.execute("SELECT id, content_hash FROM tracks").fetchall())
    with catalog.transaction():
        for track_id, vector in zip(track_ids, X, strict=True):
            store_embedding(catalog, track_id, model, vector, hashes[track_id])
    return X


def stopwatch(fn, *args, **kwargs) -> tuple[object, float]:
    """``(fn(*args, **kwargs), wall seconds)``."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start
