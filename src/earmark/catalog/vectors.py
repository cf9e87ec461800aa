"""Every current embedding of a model as one contiguous float32 matrix, cached beside the catalog.

``recommend``, ``similar`` and ``playlist`` compare one song (or a taste model) with the whole
library. Reading 100,000 vectors as rows costs about 0.4 s, and building a :class:`Track` per
row seconds more; the matrix file is mapped in well under a millisecond, and a query reads the
pages it touches (a few tens of milliseconds for all of them). It lives in a folder
beside the catalog (``catalog.sqlite.vectors/``), two ``.npy`` files per model named by the
catalog's ``vector_generation`` (a number that triggers draw anew at random whenever an embedding
is stored or removed, or a track's content, status or row changes), so a stale file is never
used, not even by a catalog restored from a backup: the
files are rebuilt from the catalog on the next read. The file is only a copy: deleting it loses
nothing, and a folder that cannot be written just means no cache. Arrays computed from the
matrix that a new process would otherwise recompute, such as the unit-length rows of
similarity search or a taste model's liking of every song, are kept beside it the same way
(:meth:`VectorTable.derived` with ``stored``).

Each process also keeps the tables it read last in memory (:data:`KEPT_IN_MEMORY` of them),
checked against the generation on every call: a web server answering ``similar`` or a radio
then reads one number per request instead of the 80 MB file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
    generation : the catalog's ``vector_generation`` it was read at (``-1``: not from a
        catalog). Tables from :func:`vector_table` are shared: their arrays are read-only.
    files : the common prefix of its cache files (``None``: not cached), where
        :meth:`derived` keeps the arrays it is asked to store.
    """

    track_ids: np.ndarray
    matrix: np.ndarray
    generation: int = -1
    files: Path | None = field(default=None, repr=False, compare=False)
    _derived: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False,
                                            compare=False)

    def derived(self, name: str, compute: Callable[[np.ndarray], np.ndarray], *,
                stored: bool = False) -> np.ndarray:
        """``compute(matrix)`` (read-only, ``len(self)`` rows), computed on the first call for
        ``name`` and kept with this table: e.g. the unit-length rows of similarity search,
        which then live exactly as long as the table stays in memory and are never older than
        it. With ``stored`` (``name`` then names a file: letters, digits, ``-``), it is also
        written beside the table's cache files, and a later process with the same table reads
        it from there instead of computing it: the very same values. ``name`` up to its first
        ``-`` is a kind: a stored array replaces those of its kind stored under other names
        (the scores of a retrained taste model replace the last model's)."""
        value = self._derived.get(name)
        if value is None:
            path = None if not stored or self.files is None else \
                self.files.with_name(f"{self.files.name}.{name}.npy")
            value = None if path is None else _read_array(path, len(self))
            if value is None:
                value = compute(self.matrix)
                if path is not None and _write_arrays([(path, value)]):
                    kind = name.split("-", 1)[0]
                    for old in path.parent.glob(f"{self.files.name}.{kind}-*.npy"):
                        if old != path:
                            old.unlink(missing_ok=True)
            value.setflags(write=False)
            if stored:  # one array of a kind, in memory as on disk (the last model's scores)
                kind = name.split("-", 1)[0] + "-"
                for old in [key for key in self._derived if key.startswith(kind)]:
                    del self._derived[old]
            self._derived[name] = value
        return value

    def __len__(self) -> int:
        return len(self.track_ids)

    def subset(self, keep: np.ndarray) -> VectorTable:
        """The rows where the boolean mask ``keep`` ``(n,)`` is true, in the same order."""
        return VectorTable(self.track_ids[keep], self.matrix[keep], self.generation)


#: How many ``(catalog, model)`` tables a process keeps in memory (a web server has one
#: catalog and mostly one model; tests open many catalogs, whose old tables must not pile up).
KEPT_IN_MEMORY = 4
_kept: OrderedDict[tuple[str, str], VectorTable] = OrderedDict()
_kept_lock = threading.Lock()


def forget_tables() -> None:
    """Drop the tables this process keeps in memory (the files beside the catalogs stay), so
    that the next :func:`vector_table` reads its file: what a new process does."""
    with _kept_lock:
        _kept.clear()


def current_generation(catalog: Catalog) -> int:
    """The catalog's ``vector_generation``: it moves whenever any model's current embeddings
    may have changed, so an equal number means an unchanged :class:`VectorTable`."""
    return catalog.execute("SELECT generation FROM vector_generation").fetchone()[0]


def cache_folder(catalog: Catalog) -> Path:
    """The folder of the matrix files of ``catalog``: beside its database file."""
    return catalog.path.with_name(catalog.path.name + ".vectors")


def _cache_prefix(catalog: Catalog, model: str, generation: int) -> Path:
    """The common prefix of the cache files of ``model`` at ``generation``:
    ``<digest>.<generation>``, then ``.ids.npy``, ``.matrix.npy`` and one ``.<name>.npy`` per
    stored derived array. Plain ``.npy`` files (read at disk speed, no archive checksums),
    named by the generation so that finding the file is the whole freshness check."""
    # Model names may hold any character (a trained model's name, "A+B"): name files by hash.
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:24]
    return cache_folder(catalog) / f"{digest}.{generation}"


def _cache_files(prefix: Path) -> tuple[Path, Path]:
    """``(track ids file, matrix file)`` of the table whose files start with ``prefix``."""
    return (prefix.with_name(f"{prefix.name}.ids.npy"),
            prefix.with_name(f"{prefix.name}.matrix.npy"))


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

    The table this process read last for this catalog and model when the generation has not
    moved since; else the matrix file beside the catalog when it holds the present
    generation; otherwise read from the catalog in one query and the file (re)written.
    """
    key = (str(catalog.path), model)
    with _snapshot(catalog):
        generation = current_generation(catalog)
        with _kept_lock:
            kept = _kept.get(key)
        if kept is not None and kept.generation == generation:
            return kept
        prefix = _cache_prefix(catalog, model, generation)
        table = _read_cache(prefix, generation)
        if table is None:
            table = _read_catalog(catalog, model, generation)
            if _write_cache(prefix, table):
                table = replace(table, files=prefix)
    for array in (table.track_ids, table.matrix):
        array.setflags(write=False)  # shared by every caller from now on
    with _kept_lock:
        _kept[key] = table
        _kept.move_to_end(key)
        while len(_kept) > KEPT_IN_MEMORY:
            _kept.popitem(last=False)
    return table


def _read_catalog(catalog: Catalog, model: str, generation: int) -> VectorTable:
    rows = catalog.execute(
        "SELECT e.track_id, e.vector FROM embeddings e JOIN tracks t ON t.id = e.track_id "
        "WHERE e.model = ? AND t.status = 'ok' AND e.content_hash IS t.content_hash "
        "ORDER BY e.track_id", (model,)).fetchall()
    if not rows:
        return VectorTable(np.zeros(0, np.int64), np.zeros((0, 0), np.float32), generation)
    ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
    # One join and one frombuffer: the vectors are float32 little-endian blobs of one size.
    matrix = np.frombuffer(b"".join(row[1] for row in rows), "<f4").reshape(len(rows), -1)
    return VectorTable(ids, matrix.astype(np.float32), generation)


def _read_array(path: Path, rows: int | None = None) -> np.ndarray | None:
    """The array in the ``.npy`` file ``path`` (read-only) if it has ``rows`` rows (any
    number when ``None``), else ``None`` (none there, or unreadable: the caller computes it
    again).

    The file is mapped, not read: a command pays only for the pages it touches (similar
    touches the unit-length rows, recommend the raw ones, each 160 MB at 100,000 x 400), and
    mapping a cached file costs a fraction of copying it into fresh memory. Files are only
    ever replaced by a rename, never changed in place, so a mapping never sees another
    generation's bytes.
    """
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if array.ndim >= 1 and (rows is None or len(array) == rows) else None


def _read_cache(prefix: Path, generation: int) -> VectorTable | None:
    """The cached table, or ``None`` when there is none for this generation (or it cannot be
    read: it is then rebuilt)."""
    ids_file, matrix_file = _cache_files(prefix)
    ids = _read_array(ids_file)
    matrix = None if ids is None or ids.ndim != 1 else _read_array(matrix_file, len(ids))
    if matrix is None or matrix.ndim != 2:
        return None
    return VectorTable(ids, matrix, generation, prefix)


def _write_arrays(files: list[tuple[Path, np.ndarray]]) -> bool:
    """Write each array to its ``.npy`` file, in order, each to a temporary name renamed into
    place (a reader never sees half a file); ``False`` when the folder cannot be written."""
    try:
        for path, array in files:
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
            try:
                with os.fdopen(fd, "wb") as out:
                    np.save(out, array, allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
    except OSError:
        return False
    return True


def _write_cache(prefix: Path, table: VectorTable) -> bool:
    """Write the table's files, the ids file last (a reader that finds it finds the whole
    matrix), and remove the model's files of other generations; ``False`` when the folder
    cannot be written (no cache then)."""
    ids_file, matrix_file = _cache_files(prefix)
    if not _write_arrays([(matrix_file, table.matrix), (ids_file, table.track_ids)]):
        return False
    digest, generation = prefix.name.split(".")
    for old in prefix.parent.glob(f"{digest}.*.npy"):
        if old.name.split(".")[1] != generation:
            old.unlink(missing_ok=True)
    return True
