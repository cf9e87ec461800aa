"""The tag-write journal: every value earmark wrote into a file, with what was there before.

One row per changed key per file (``field`` holds the format's own key, e.g. ``TCON`` or
``GENRE``, so undo needs no knowledge of earmark's field names). Rows of one ``earmark tag`` run
share a ``batch_id``. Values are JSON lists of strings, ``NULL`` when the key was absent.
``old_hash`` / ``new_hash`` are whole-file hashes before and after, which lets undo tell
earmark's own change from someone else's. Rows are written *before* the file is replaced, so a
run killed in between leaves a row whose file still has ``old_hash``: undo recognises that case.

Two kinds of row record *how* a file held its tags, so undo can put back the same form:

- ``field = CONTAINER`` (the reserved key ``=container``): the write changed the tag container
  itself. ``old_value`` is ``NULL`` when the file had none and earmark created it (undo removes
  it again, leaving e.g. an MP3, WAV or FLAC byte-identical), or the container with its ID3
  version, ``["ID3v2.3"]`` -> ``["ID3v2.4"]`` for ``earmark tag --upgrade-id3`` (undo saves
  ID3v2.3 again; an ``["ID3v2.2"]`` tag, which mutagen cannot write, stays ID3v2.3). A
  reserved key rather than a new column, because a container change is one
  more thing a write replaced, with an old and a new value: undo's rule (the oldest value of
  each field wins across stacked writes), batches and ``undone_at`` apply to it unchanged, and
  catalogs need no migration. No tag key can collide with it: Vorbis field names exclude ``=``,
  ID3 keys start with a frame id, MP4 keys with an atom name.
- ``field = "gnre"`` in an MP4: iTunes' numeric genre atom (values are ID3v1 genre numbers as
  strings), journalled apart from ``\xa9gen`` when a written genre replaces it, so undo puts
  back the same atom rather than a text genre.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from earmark.catalog.db import Catalog
from earmark.catalog.tracks import normalise_path

#: ``field`` of a row recording a change of the tag container itself (see the module docstring).
CONTAINER = "=container"


@dataclass(frozen=True)
class JournalEntry:
    """One journal row; ``old`` / ``new`` are value lists or ``None`` (absent)."""

    id: int
    batch_id: str
    track_id: int | None
    path: str
    field: str
    old: list[str] | None
    new: list[str] | None
    old_hash: str | None
    new_hash: str | None
    written_at: float
    undone_at: float | None


def new_batch_id() -> str:
    """A unique batch id that tells when it ran: ``YYYYmmddTHHMMSS-<8 random hex>`` (UTC)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def _dump(values: list[str] | None) -> str | None:
    return None if values is None else json.dumps(list(values), ensure_ascii=False)


def _entry(row) -> JournalEntry:
    return JournalEntry(
        id=row["id"], batch_id=row["batch_id"], track_id=row["track_id"], path=row["path"],
        field=row["field"],
        old=json.loads(row["old_value"]) if row["old_value"] is not None else None,
        new=json.loads(row["new_value"]) if row["new_value"] is not None else None,
        old_hash=row["old_hash"], new_hash=row["new_hash"], written_at=row["written_at"],
        undone_at=row["undone_at"],
    )


def record_write(
    catalog: Catalog,
    batch_id: str,
    track_id: int | None,
    path: str,
    changes: dict[str, tuple[list[str] | None, list[str] | None]],
    old_hash: str,
    new_hash: str,
) -> list[int]:
    """Journal one file's change (``changes``: key -> (old, new)) in one transaction; row ids."""
    now = time.time()
    path = normalise_path(path)
    ids = []
    with catalog.transaction() as conn:
        for key, (old, new) in changes.items():
            cursor = conn.execute(
                "INSERT INTO tag_journal (batch_id, track_id, path, field, old_value, new_value, "
                "old_hash, new_hash, written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (batch_id, track_id, path, key, _dump(old), _dump(new), old_hash, new_hash, now),
            )
            ids.append(cursor.lastrowid)
    return ids


def forget_entries(catalog: Catalog, ids: Iterable[int]) -> None:
    """Delete rows of a write that was journalled but could not be carried out."""
    with catalog.transaction() as conn:
        conn.executemany("DELETE FROM tag_journal WHERE id = ?", [(i,) for i in ids])


def mark_undone(catalog: Catalog, ids: Iterable[int], when: float | None = None) -> None:
    with catalog.transaction() as conn:
        conn.executemany("UPDATE tag_journal SET undone_at = ? WHERE id = ?",
                         [(when or time.time(), i) for i in ids])


def entries(
    catalog: Catalog,
    *,
    batch_id: str | None = None,
    since: float | None = None,
    paths: Iterable[str] | None = None,
    include_undone: bool = False,
) -> list[JournalEntry]:
    """Journal rows matching every given filter, oldest first.

    ``since`` is a Unix time (seconds); ``paths`` are normalised like the catalog's.
    """
    where, args = [], []
    if not include_undone:
        where.append("undone_at IS NULL")
    if batch_id is not None:
        where.append("batch_id = ?")
        args.append(batch_id)
    if since is not None:
        where.append("written_at >= ?")
        args.append(since)
    if paths is not None:
        wanted = [normalise_path(p) for p in paths]
        where.append(f"path IN ({', '.join('?' for _ in wanted)})")
        args += wanted
    sql = "SELECT * FROM tag_journal"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [_entry(r) for r in catalog.execute(sql + " ORDER BY id", tuple(args)).fetchall()]


def track_writes(catalog: Catalog, track_id: int) -> list[dict]:
    """Every write journalled for a track, undone ones included, oldest first:
    ``{batch_id, field, old_value, new_value, written_at, undone_at}`` each, values as their
    stored JSON text."""
    rows = catalog.execute(
        "SELECT batch_id, field, old_value, new_value, written_at, undone_at "
        "FROM tag_journal WHERE track_id = ? ORDER BY id", (track_id,)).fetchall()
    return [dict(r) for r in rows]


def last_batch(catalog: Catalog) -> str | None:
    """The most recent batch that still has rows not undone."""
    row = catalog.execute(
        "SELECT batch_id FROM tag_journal WHERE undone_at IS NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def latest_write(catalog: Catalog, path: str) -> JournalEntry | None:
    """The newest row not undone for a file: what earmark last left in it."""
    row = catalog.execute(
        "SELECT * FROM tag_journal WHERE path = ? AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
        (normalise_path(path),),
    ).fetchone()
    return _entry(row) if row else None
