"""Tracks: one row per audio file earmark has seen, with its status and what it found in it."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from earmark.catalog.db import Catalog
from earmark.errors import FileNameError

TRACK_FIELDS = (
    "path", "size", "mtime_ns", "content_hash", "audio_hash", "duration", "sample_rate",
    "channels", "codec", "container", "bit_rate", "title", "artist", "album", "genre", "rating",
    "tags_json", "status", "error", "warning",
)


#: Why the catalog cannot hold a path (:class:`~earmark.errors.FileNameError`'s reason).
NOT_UTF8 = ("file name is not valid UTF-8 (written in an older encoding); rename the file to "
            "catalog it")


def normalise_path(path: str | Path) -> str:
    """The catalog's form of a path: ``~`` expanded, absolute, with '..' resolved but symlinks
    kept as named.

    Never raises; a path the catalog cannot hold is refused by :func:`catalog_key`, which
    every query and write by path goes through.
    """
    return os.path.normpath(os.path.abspath(os.path.expanduser(os.fspath(path))))


def catalog_key(path: str | Path) -> str:
    """The catalog's key for a file or folder: :func:`normalise_path`, checked to be storable.

    The one place that decides which names the catalog can hold: its keys are UTF-8 text, and
    a name written in another encoding (old Latin-1 libraries) comes from the OS as lone
    surrogates, which SQLite cannot take.

    Raises
    ------
    FileNameError
        With the reason :data:`NOT_UTF8` and the normalised path.
    """
    key = normalise_path(path)
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise FileNameError(key, NOT_UTF8) from None
    return key


@dataclass(frozen=True, kw_only=True)
class Track:
    """One audio file in the catalog, as its last scan found it.

    ``status`` is ``ok`` (playable) or ``error`` (``error`` says why); ``warning``: playable,
    but the decoder complained. ``duration`` in seconds, ``sample_rate`` in Hz, ``bit_rate``
    in bit/s, ``rating`` as found in the file scaled to 0..1, ``genre`` as found in the file
    (values joined with ``'; '``), ``tags`` every tag read from the file. ``content_hash``
    covers the whole file, ``audio_hash`` only its audio packets. ``added_at`` and
    ``scanned_at`` are Unix times in seconds. Fields are in the order :meth:`to_dict` (and
    so ``earmark info --json``) gives them.
    """

    id: int
    path: str
    size: int | None = None
    mtime_ns: int | None = None
    content_hash: str | None = None
    audio_hash: str | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    codec: str | None = None
    container: str | None = None
    bit_rate: int | None = None
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    rating: float | None = None
    status: str
    error: str | None = None
    added_at: float
    scanned_at: float
    warning: str | None = None
    tags: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The track as plain JSON-ready values, keyed by field name in field order."""
        return asdict(self)

    def unchanged(self, stat: os.stat_result) -> bool:
        """Whether ``stat`` (the file's now) shows the size and modification time its scan
        recorded, so what the catalog holds about its content (hash, predictions) still
        describes it. Only metadata: the content is not read."""
        return (stat.st_size, stat.st_mtime_ns) == (self.size, self.mtime_ns)


def song_name(track: Track) -> str:
    """``Artist - Title``, or the file name when the tags lack them."""
    title = track.title or Path(track.path).stem
    return f"{track.artist} - {title}" if track.artist else title


def _row(row) -> Track | None:
    if row is None:
        return None
    columns = {k: row[k] for k in row.keys() if k != "tags_json"}
    return Track(**columns, tags=json.loads(row["tags_json"] or "{}"))


def get_track(catalog: Catalog, path: str | Path) -> Track | None:
    """The track recorded at ``path``, or ``None``; :class:`FileNameError` for a name the
    catalog cannot hold (:func:`catalog_key`)."""
    row = catalog.execute("SELECT * FROM tracks WHERE path = ?", (catalog_key(path),))
    return _row(row.fetchone())


def get_track_by_id(catalog: Catalog, track_id: int) -> Track | None:
    """The track with this id, or ``None``."""
    return _row(catalog.execute("SELECT * FROM tracks WHERE id = ?", (track_id,)).fetchone())


def tracks_by_id(catalog: Catalog, track_ids: Iterable[int]) -> dict[int, Track]:
    """``{id: track}`` for the given ids, in one query; ids not in the catalog are absent."""
    rows = catalog.execute("SELECT * FROM tracks WHERE id IN (SELECT value FROM json_each(?))",
                           (json.dumps([int(i) for i in track_ids]),))
    return {track.id: track for track in map(_row, rows)}


def _where(status: str | None, under: str | Path | None) -> tuple[str, tuple]:
    """The ``WHERE`` clause (or ``""``) and its arguments selecting tracks of ``status`` (any
    when ``None``) at or under the file or folder ``under`` (anywhere when ``None``)."""
    where, args = [], []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if under is not None:
        key = catalog_key(under)
        prefix = key.rstrip(os.sep) + os.sep
        where.append("(path = ? OR substr(path, 1, ?) = ?)")
        args += [key, len(prefix), prefix]
    return (" WHERE " + " AND ".join(where) if where else ""), tuple(args)


def iter_tracks(
    catalog: Catalog, status: str | None = "ok", under: str | Path | None = None
) -> Iterator[Track]:
    """Tracks by path; ``status=None`` includes failed ones; ``under`` limits to a folder (or
    one file) (:class:`FileNameError` for a name the catalog cannot hold)."""
    where, args = _where(status, under)
    for row in catalog.execute(f"SELECT * FROM tracks{where} ORDER BY path", args).fetchall():
        yield _row(row)


def file_states(catalog: Catalog, under: str | Path | None = None
                ) -> dict[str, tuple[int | None, int | None]]:
    """``{path: (size in bytes, modification time in ns)}`` as recorded for every track at or
    under ``under`` (the whole catalog when ``None``), in one query.

    What an incremental scan compares with the files on disk: one bulk read instead of a
    query per file, which is what keeps re-scanning 100,000 unchanged files to seconds.
    """
    where, args = _where(None, under)
    return {path: (size, mtime_ns) for path, size, mtime_ns in catalog.execute(
        f"SELECT path, size, mtime_ns FROM tracks{where}", args)}


def track_column(catalog: Catalog, column: str = "path", status: str | None = None,
                 under: str | Path | None = None, ids: Iterable[int] | None = None) -> list:
    """One column, ``"path"`` or ``"id"``, of the tracks :func:`iter_tracks` gives (in path
    order), without building each :class:`Track`: for whole-library work at 100,000 songs.
    ``ids`` limits it to those track ids."""
    if column not in ("path", "id"):
        raise ValueError(f"column must be 'path' or 'id', not {column!r}")
    where, args = _where(status, under)
    if ids is not None:
        where += (" AND " if where else " WHERE ") + "id IN (SELECT value FROM json_each(?))"
        args += (json.dumps([int(i) for i in ids]),)
    return [value for (value,) in catalog.execute(
        f"SELECT {column} FROM tracks{where} ORDER BY path", args)]


def playable_totals(catalog: Catalog, exclude: Iterable[str] = ()) -> tuple[int, float]:
    """``(songs, seconds)``: how many playable (``ok``) tracks there are, leaving out the
    paths in ``exclude``, and their total duration in seconds."""
    count, seconds = catalog.execute(
        "SELECT count(*), total(duration) FROM tracks WHERE status = 'ok' "
        "AND path NOT IN (SELECT value FROM json_each(?))", (json.dumps(list(exclude)),)
    ).fetchone()
    return count, seconds


def _json_fallback(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"[binary data ({len(value)} bytes)]"
    return str(value)


def _utf8(text: str) -> str:
    """``text`` as SQLite can store it: lone surrogates (from odd decoders) become U+FFFD."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def _tags_json(tags: object) -> str:
    # earmark.tags.read gives JSON-safe values; anything else a caller passes is stored as its
    # text rather than losing the whole row.
    return _utf8(json.dumps(tags, ensure_ascii=False, default=_json_fallback))


def _storable(value: object) -> object:
    """A column value SQLite can bind: numbers and text as they are, anything else as text."""
    if value is None or isinstance(value, int | float):
        return value
    return _utf8(value if isinstance(value, str) else _json_fallback(value))


def record_track(catalog: Catalog, record: dict) -> int:
    """Insert or update the track at ``record['path']``; returns its id.

    ``record`` has the keys of :data:`TRACK_FIELDS` (``tags`` may replace ``tags_json``).
    Labels, ratings and embeddings of an existing row are kept. Values that are not numbers
    or text (a tag library's own types, bytes) are stored as text, so a surprising tag never
    loses the row. A path the catalog cannot hold raises :class:`FileNameError`.
    """
    values = dict(record)
    values["path"] = catalog_key(values["path"])
    if "tags" in values:
        values["tags_json"] = _tags_json(values.pop("tags"))
    values = {k: values.get(k) if k == "path" else _storable(values.get(k))
              for k in TRACK_FIELDS}
    now = time.time()
    columns = ", ".join(TRACK_FIELDS)
    marks = ", ".join("?" for _ in TRACK_FIELDS)
    updates = ", ".join(f"{k} = excluded.{k}" for k in TRACK_FIELDS if k != "path")
    with catalog.transaction() as conn:
        conn.execute(
            f"INSERT INTO tracks ({columns}, added_at, scanned_at) VALUES ({marks}, ?, ?) "
            f"ON CONFLICT(path) DO UPDATE SET {updates}, scanned_at = excluded.scanned_at",
            (*values.values(), now, now),
        )
        return conn.execute(
            "SELECT id FROM tracks WHERE path = ?", (values["path"],)
        ).fetchone()[0]


def find_moved(catalog: Catalog, content_hash: str) -> Track | None:
    """A track with this content whose recorded file no longer exists (it was moved/renamed)."""
    rows = catalog.execute(
        "SELECT * FROM tracks WHERE content_hash = ? ORDER BY id", (content_hash,)
    ).fetchall()
    for row in rows:
        if not os.path.lexists(row["path"]):
            return _row(row)
    return None


def move_track(catalog: Catalog, track_id: int, new_path: str | Path) -> None:
    """Point a track at its new location, keeping everything earmark knows about it.

    The tag journal's rows for the file follow it in the same transaction, so ``earmark undo``
    restores the file where it now is: rows of the track, and rows journalled at its old path
    without a track (their track was forgotten and re-added since).
    """
    key = catalog_key(new_path)
    with catalog.transaction() as conn:
        row = conn.execute("SELECT path FROM tracks WHERE id = ?", (track_id,)).fetchone()
        conn.execute(
            "UPDATE tracks SET path = ?, scanned_at = ? WHERE id = ?",
            (key, time.time(), track_id),
        )
        if row is not None:
            conn.execute(
                "UPDATE tag_journal SET path = ?, track_id = ? "
                "WHERE track_id = ? OR (track_id IS NULL AND path = ?)",
                (key, track_id, track_id, row["path"]),
            )


def missing_tracks(catalog: Catalog, under: str | Path | None = None) -> list[str]:
    """Paths of catalog tracks (under a folder) whose files are gone."""
    return [path for path in track_column(catalog, "path", None, under)
            if not os.path.lexists(path)]


def forget_tracks(catalog: Catalog, paths: Iterable[str]) -> None:
    """Remove the tracks at ``paths`` (and, by cascade, what earmark knew about them)."""
    with catalog.transaction() as conn:
        conn.executemany("DELETE FROM tracks WHERE path = ?", [(p,) for p in paths])


def duplicates(catalog: Catalog) -> list[dict]:
    """Groups of tracks with the same audio, or with the same artist and title.

    Returns a list of ``{"kind": "same audio" | "same artist and title", "key": str,
    "paths": [str, ...]}``.
    """
    groups = []
    for row in catalog.execute(
        "SELECT audio_hash, group_concat(path, char(0)) AS paths FROM tracks "
        "WHERE status = 'ok' AND audio_hash IS NOT NULL GROUP BY audio_hash "
        "HAVING count(*) > 1 ORDER BY min(path)"
    ):
        groups.append({"kind": "same audio", "key": row["audio_hash"],
                       "paths": sorted(row["paths"].split("\0"))})
    for row in catalog.execute(
        "SELECT min(artist) AS artist, min(title) AS title, "
        "group_concat(path, char(0)) AS paths, count(DISTINCT audio_hash) AS n_audio "
        "FROM tracks WHERE status = 'ok' AND artist IS NOT NULL AND title IS NOT NULL "
        "AND trim(artist) != '' AND trim(title) != '' "
        "GROUP BY lower(trim(artist)), lower(trim(title)) HAVING count(*) > 1 ORDER BY min(path)"
    ):
        if row["n_audio"] > 1:  # identical audio is already reported above
            groups.append({"kind": "same artist and title",
                           "key": f"{row['artist']} - {row['title']}",
                           "paths": sorted(row["paths"].split("\0"))})
    return groups


def counts(catalog: Catalog) -> dict[str, int]:
    """Number of tracks per status."""
    return {r[0]: r[1] for r in catalog.execute(
        "SELECT status, count(*) FROM tracks GROUP BY status")}


def select_tracks(
    catalog: Catalog, paths: Iterable[str | Path], status: str | None = "ok"
) -> list[Track]:
    """Tracks at the given files or under the given folders (``~`` expanded, as by every
    lookup here), each once, in the order given."""
    selected: dict[int, Track] = {}
    for path in map(normalise_path, paths):
        if os.path.isdir(path):
            found = list(iter_tracks(catalog, status, path))
        else:
            track = get_track(catalog, path)
            found = [track] if track and (status is None or track.status == status) else []
        for track in found:
            selected.setdefault(track.id, track)
    return list(selected.values())
