"""Every current embedding of a model as one contiguous float32 matrix, cached beside the catalog.

``recommend``, ``similar`` and ``playlist`` compare one song (or a taste model) with the whole
library. Reading 100,000 vectors as rows costs about 0.4 s, and building a :class:`Track` per
row seconds more; the matrix file is read in a few tens of milliseconds. It lives in a folder
beside the catalog (``catalog.sqlite.vectors/``), two ``.npy`` files per model named by the
catalog's ``vector_generation`` (a counter that triggers move whenever an embedding is stored
or removed, or a track's content, status or row changes), so a stale file is never used: the
files are rebuilt from the catalog on the next read. The file is only a copy: deleting it loses
nothing, and a folder that cannot be written just means no cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earmark.catalog.db import Catalog


@dataclass(frozen=True)
class VectorTable:
    """The current embeddings of one model.

    Attributes
    ----------
    track_ids : ``(n,)`` int64, ascending.
    matrix : ``(n, dim)`` float32, C-contiguous: row ``i`` is the embedding of
        ``track_ids[i]``. ``(0, 0)`` when the model has none.
    """

    track_ids: np.ndarray
    matrix: np.ndarray

    def __len__(self) -> int:
        return len(self.track_ids)

    def subset(self, keep: np.ndarray) -> VectorTable:
        """The rows where the boolean mask ``keep`` ``(n,)`` is true, in the same order."""
        return VectorTable(self.track_ids[keep], self.matrix[keep])


def cache_folder(catalog: Catalog) -> Path:
    """The folder of the matrix files of ``catalog``: beside its database file."""
    return catalog.path.with_name(catalog.path.name + ".vectors")


def _cache_files(catalog: Catalog, model: str, generation: int) -> tuple[Path, Path]:
    """``(track ids file, matrix file)`` of ``model`` at ``generation``: plain ``.npy``
    files (read at disk speed, no archive checksums), named by the generation so that finding
    the file is the whole freshness check."""
    # Model names may hold any character (a trained model's name, "A+B"): name files by hash.
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:24]
    folder = cache_folder(catalog)
    return (folder / f"{digest}.{generation}.ids.npy",
            folder / f"{digest}.{generation}.matrix.npy")


@contextmanager
def _snapshot(catalog: Catalog) -> Iterator[None]:
    """One read transaction (a consistent view under write-ahead logging) around a block,
    unless the caller is already in one."""
    if catalog.conn.in_transaction:
        yield
        return
    catalog.execute("BEGIN")
    try:
        yield
    finally:
        catalog.execute("COMMIT")


def vector_table(catalog: Catalog, model: str) -> VectorTable:
    """Every current embedding of ``model``: playable tracks (``status = 'ok'``) whose vector
    was computed from the file's present content, as
    :func:`earmark.catalog.embeddings.load_embeddings` gives them for the whole catalog.

    Read from the matrix file beside the catalog when it holds the catalog's present
    generation; otherwise read from the catalog in one query and the file (re)written.
    """
    with _snapshot(catalog):
        generation = catalog.execute("SELECT generation FROM vector_generation").fetchone()[0]
        files = _cache_files(catalog, model, generation)
        cached = _read_cache(*files)
        if cached is not None:
            return cached
        table = _read_catalog(catalog, model)
    _write_cache(files, table)
    return table


def _read_catalog(catalog: Catalog, model: str) -> VectorTable:
    rows = catalog.execute(
        "SELECT e.track_id, e.vector FROM embeddings e JOIN tracks t ON t.id = e.track_id "
        "WHERE e.model = ? AND t.status = 'ok' AND e.content_hash IS t.content_hash "
        "ORDER BY e.track_id", (model,)).fetchall()
    if not rows:
        return VectorTable(np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
    ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
    # One join and one frombuffer: the vectors are float32 little-endian blobs of one size.
    matrix = np.frombuffer(b"".join(row[1] for row in rows), "<f4").reshape(len(rows), -1)
    return VectorTable(ids, matrix.astype(np.float32))


def _read_cache(ids_file: Path, matrix_file: Path) -> VectorTable | None:
    """The cached table, or ``None`` when there is none for this generation (or it cannot be
    read: it is then rebuilt)."""
    try:
        ids = np.load(ids_file, allow_pickle=False)
        matrix = np.load(matrix_file, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if ids.ndim != 1 or matrix.ndim != 2 or len(ids) != len(matrix):
        return None
    return VectorTable(ids, matrix)


def _write_cache(files: tuple[Path, Path], table: VectorTable) -> None:
    """Write the table's files and remove the model's files of other generations. Each file
    is written to a temporary name and renamed, the ids file last, so a reader that finds the
    ids file finds the whole matrix. A folder that cannot be written leaves no cache."""
    ids_file, matrix_file = files
    stem = ids_file.name.split(".", 1)[0]
    try:
        ids_file.parent.mkdir(exist_ok=True)
        for path, array in ((matrix_file, table.matrix), (ids_file, table.track_ids)):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
            try:
                with os.fdopen(fd, "wb") as out:
                    np.save(out, array, allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        for old in ids_file.parent.glob(f"{stem}.*.npy"):
            if old not in files:
                old.unlink(missing_ok=True)
    except OSError:
        pass
