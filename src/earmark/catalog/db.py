"""The SQLite catalog: the single source of truth for what earmark knows about a library.

This module is the storage layer only (connection, schema, migrations, transactions); the
domain operations live beside it (``tracks``, ``labels``, ``ratings``, ``embeddings``,
``journal``) and take a :class:`Catalog`. One process writes at a time: writers take SQLite's
write lock with ``BEGIN IMMEDIATE`` and wait up to ``timeout`` seconds for it; readers never
block thanks to write-ahead logging. A whole run that writes (a command) holds the writer lock
of :mod:`.lock` (``Catalog(path, lock=True)``), so a second run waits for it. A
:class:`Catalog` belongs to the thread that opened it: threads (a web server's requests, say)
each open their own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from earmark.catalog.lock import take_writer_lock
from earmark.errors import CatalogError
from earmark.settings import settings

# Each entry migrates the schema from version i to i + 1. Append, never edit a released one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE tracks (
        id            INTEGER PRIMARY KEY,
        path          TEXT NOT NULL UNIQUE,
        size          INTEGER,
        mtime_ns      INTEGER,
        content_hash  TEXT,              -- blake2b of the whole file
        audio_hash    TEXT,              -- blake2b of the audio packets: same audio, other tags
        duration      REAL,              -- seconds
        sample_rate   INTEGER,           -- Hz
        channels      INTEGER,
        codec         TEXT,
        container     TEXT,
        bit_rate      INTEGER,
        title         TEXT,
        artist        TEXT,
        album         TEXT,
        genre         TEXT,              -- as found in the file, values joined with '; '
        rating        REAL,              -- as found in the file, scaled to 0..1
        tags_json     TEXT,              -- every tag read from the file, as JSON
        status        TEXT NOT NULL CHECK (status IN ('ok', 'error')),
        error         TEXT,              -- the reason when status = 'error'
        added_at      REAL NOT NULL,
        scanned_at    REAL NOT NULL
    );
    CREATE INDEX tracks_content_hash ON tracks(content_hash);
    CREATE INDEX tracks_audio_hash ON tracks(audio_hash);
    CREATE INDEX tracks_artist_title ON tracks(artist COLLATE NOCASE, title COLLATE NOCASE);

    CREATE TABLE labels (
        track_id  INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        dataset   TEXT NOT NULL,         -- a name for the labelled collection
        task      TEXT NOT NULL DEFAULT 'genre',
        label     TEXT NOT NULL,
        split     TEXT,                  -- 'train', 'valid', 'test' when the source gives one
        artist    TEXT,                  -- the grouping key for honest splits
        PRIMARY KEY (track_id, dataset, task, label)
    );

    CREATE TABLE ratings (
        id        INTEGER PRIMARY KEY,
        track_id  INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        verdict   TEXT CHECK (verdict IN ('like', 'dislike', 'skip')),
        stars     INTEGER CHECK (stars BETWEEN 1 AND 5),
        source    TEXT NOT NULL DEFAULT 'user',
        rated_at  REAL NOT NULL
    );
    CREATE INDEX ratings_track ON ratings(track_id);

    CREATE TABLE embeddings (
        track_id      INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        model         TEXT NOT NULL,
        content_hash  TEXT,              -- of the file the vector was computed from
        dim           INTEGER NOT NULL,
        vector        BLOB NOT NULL,     -- float32 little-endian
        created_at    REAL NOT NULL,
        PRIMARY KEY (track_id, model)
    );

    CREATE TABLE predictions (
        track_id    INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
        model       TEXT NOT NULL,
        kind        TEXT NOT NULL,       -- 'tags', 'genres', 'taste', ...
        payload     TEXT NOT NULL,       -- JSON
        created_at  REAL NOT NULL,
        PRIMARY KEY (track_id, model, kind)
    );

    CREATE TABLE tag_journal (
        id          INTEGER PRIMARY KEY,
        batch_id    TEXT NOT NULL,
        track_id    INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
        path        TEXT NOT NULL,
        field       TEXT NOT NULL,
        old_value   TEXT,                -- JSON list of values, NULL when the tag was absent
        new_value   TEXT,                -- JSON list of values
        old_hash    TEXT,
        new_hash    TEXT,
        written_at  REAL NOT NULL,
        undone_at   REAL
    );
    CREATE INDEX tag_journal_path ON tag_journal(path);

    CREATE TABLE model_runs (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,       -- 'taste', 'train', ...
        model_path  TEXT,
        metrics     TEXT NOT NULL,       -- JSON
        created_at  REAL NOT NULL
    );
    """,
    """
    ALTER TABLE tracks ADD COLUMN warning TEXT;  -- status 'ok', but the decoder complained
    """,
    # Full-text search over title, artist, album and path (catalog.search), kept in step with
    # tracks by triggers and filled for the rows already there.
    """
    CREATE VIRTUAL TABLE tracks_fts USING fts5(
        title, artist, album, path, content='tracks', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN
        INSERT INTO tracks_fts (rowid, title, artist, album, path)
        VALUES (new.id, new.title, new.artist, new.album, new.path);
    END;
    CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN
        INSERT INTO tracks_fts (tracks_fts, rowid, title, artist, album, path)
        VALUES ('delete', old.id, old.title, old.artist, old.album, old.path);
    END;
    CREATE TRIGGER tracks_fts_update AFTER UPDATE OF title, artist, album, path ON tracks BEGIN
        INSERT INTO tracks_fts (tracks_fts, rowid, title, artist, album, path)
        VALUES ('delete', old.id, old.title, old.artist, old.album, old.path);
        INSERT INTO tracks_fts (rowid, title, artist, album, path)
        VALUES (new.id, new.title, new.artist, new.album, new.path);
    END;
    INSERT INTO tracks_fts (tracks_fts) VALUES ('rebuild');
    CREATE INDEX tracks_sort_artist ON tracks(
        ifnull(artist, '') COLLATE NOCASE, ifnull(title, '') COLLATE NOCASE, id);
    CREATE INDEX tracks_sort_title ON tracks(ifnull(title, '') COLLATE NOCASE, id);
    CREATE INDEX tracks_sort_album ON tracks(ifnull(album, '') COLLATE NOCASE, id);
    CREATE INDEX tracks_sort_added ON tracks(added_at, id);
    """,
    # earmark discover's frontier and inbox (catalog.candidates): one row per URL ever found.
    """
    CREATE TABLE candidates (
        id          INTEGER PRIMARY KEY,
        url         TEXT NOT NULL UNIQUE,  -- what is downloaded (a media URL, a page, file://)
        page        TEXT,                  -- the page it is shown on, when another URL
        source      TEXT NOT NULL,         -- the seed: 'feed URL', 'search QUERY', ...
        playlist    TEXT,                  -- the playlist, feed or page it was listed in
        parent_id   INTEGER REFERENCES candidates(id) ON DELETE SET NULL,
        depth       INTEGER NOT NULL DEFAULT 0,
        status      TEXT NOT NULL CHECK (status IN ('queued', 'downloaded', 'inbox',
                        'rejected', 'duplicate', 'skipped', 'failed', 'liked', 'disliked')),
        reason      TEXT,                  -- why it failed, was skipped, or scored as it did
        title       TEXT,
        uploader    TEXT,
        duration    REAL,                  -- seconds, as the site states it
        info_json   TEXT,                  -- yt-dlp's sanitized info, as JSON
        file        TEXT,                  -- the staged download, while it exists
        audio_hash  TEXT,
        track_id    INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
        score       REAL,                  -- P(like) when it was scored
        found_at    REAL NOT NULL,
        fetched_at  REAL,
        decided_at  REAL
    );
    CREATE INDEX candidates_status ON candidates(status, id);
    CREATE INDEX candidates_audio_hash ON candidates(audio_hash);
    """,
    # A counter that moves whenever the set of current embeddings may have changed (a vector
    # stored or removed, a track's content, status or row gone), so catalog.vectors can tell
    # with one read whether its matrix file beside the catalog is still the catalog's.
    """
    CREATE TABLE vector_generation (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        generation  INTEGER NOT NULL
    );
    INSERT INTO vector_generation (id, generation) VALUES (1, 0);
    CREATE TRIGGER vector_generation_embedding_insert AFTER INSERT ON embeddings BEGIN
        UPDATE vector_generation SET generation = generation + 1;
    END;
    CREATE TRIGGER vector_generation_embedding_update AFTER UPDATE ON embeddings BEGIN
        UPDATE vector_generation SET generation = generation + 1;
    END;
    CREATE TRIGGER vector_generation_embedding_delete AFTER DELETE ON embeddings BEGIN
        UPDATE vector_generation SET generation = generation + 1;
    END;
    CREATE TRIGGER vector_generation_track_delete AFTER DELETE ON tracks BEGIN
        UPDATE vector_generation SET generation = generation + 1;
    END;
    CREATE TRIGGER vector_generation_track_update AFTER UPDATE OF content_hash, status ON tracks
    WHEN old.content_hash IS NOT new.content_hash OR old.status IS NOT new.status BEGIN
        UPDATE vector_generation SET generation = generation + 1;
    END;
    """,
    # How each embedding was made (analysis.sampling): 'full' (every patch) or the sampling
    # spec ('sampled:8x2'), and the network's precision ('float32', 'bfloat16'). Vectors
    # stored before were made from every patch; their precision was not recorded.
    """
    ALTER TABLE embeddings ADD COLUMN analysis TEXT;
    ALTER TABLE embeddings ADD COLUMN precision TEXT;
    UPDATE embeddings SET analysis = 'full';
    """,
    # vector_generation starts at a random value: the matrix files of a deleted catalog, left
    # beside a new one made at the same path, are then never taken for the new catalog's.
    """
    UPDATE vector_generation SET generation = abs(random() % 1000000000000);
    """,
    # Each change draws a new random generation instead of adding one: a catalog restored
    # from a backup and changed as often as the original was since the copy would otherwise
    # reach a number whose matrix files the original left behind, and read its embeddings.
    """
    DROP TRIGGER vector_generation_embedding_insert;
    DROP TRIGGER vector_generation_embedding_update;
    DROP TRIGGER vector_generation_embedding_delete;
    DROP TRIGGER vector_generation_track_delete;
    DROP TRIGGER vector_generation_track_update;
    CREATE TRIGGER vector_generation_embedding_insert AFTER INSERT ON embeddings BEGIN
        UPDATE vector_generation SET generation = abs(random() % 1000000000000);
    END;
    CREATE TRIGGER vector_generation_embedding_update AFTER UPDATE ON embeddings BEGIN
        UPDATE vector_generation SET generation = abs(random() % 1000000000000);
    END;
    CREATE TRIGGER vector_generation_embedding_delete AFTER DELETE ON embeddings BEGIN
        UPDATE vector_generation SET generation = abs(random() % 1000000000000);
    END;
    CREATE TRIGGER vector_generation_track_delete AFTER DELETE ON tracks BEGIN
        UPDATE vector_generation SET generation = abs(random() % 1000000000000);
    END;
    CREATE TRIGGER vector_generation_track_update AFTER UPDATE OF content_hash, status ON tracks
    WHEN old.content_hash IS NOT new.content_hash OR old.status IS NOT new.status BEGIN
        UPDATE vector_generation SET generation = abs(random() % 1000000000000);
    END;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def default_catalog_path() -> Path:
    """``$EARMARK_DB`` or ``catalog.sqlite`` in the user's data directory (the
    :func:`~earmark.settings.settings` ``catalog_path``)."""
    return settings().catalog_path


def catalog_file(path: str | Path | None = None) -> Path:
    """The database file :class:`Catalog` opens for ``path``: ``path`` with ``~`` expanded, or
    :func:`default_catalog_path` when ``None`` (for a caller that must know whether it exists
    before opening it)."""
    return Path(os.path.expanduser(path)) if path is not None else default_catalog_path()


class Catalog:
    """An open catalog database.

    Parameters
    ----------
    path : database file (``~`` expanded); ``None`` uses :func:`default_catalog_path`. Created
        with its schema if missing (unless ``create`` is false); an older schema is migrated
        in place.
    timeout : seconds to wait for another process's write lock before failing.
    lock : hold the catalog's writer lock (:func:`~earmark.catalog.lock.take_writer_lock`)
        until :meth:`close`, waiting for another process that holds it.
    lock_timeout : with ``lock``, seconds to wait at most (``None``: as long as it takes).
    on_wait : with ``lock``, called once with the holder's process id when this one waits.
    create : when false, a missing database file is not created:
        :class:`~earmark.errors.CatalogError` instead.

    Use it only in the thread that opened it (:class:`~earmark.errors.CatalogError` otherwise):
    one connection serves one thread, so a transaction never interleaves with another thread's
    statements. Threads that need the catalog, such as a web server's requests, open their own.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        timeout: float = 30.0,
        *,
        lock: bool = False,
        lock_timeout: float | None = None,
        on_wait: Callable[[int | None], None] | None = None,
        create: bool = True,
    ):
        self.path = catalog_file(path)
        if not create and not self.path.is_file():
            raise CatalogError(f"no catalog at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.get_ident()
        self.closed = False
        self._lock = (take_writer_lock(self.path, lock_timeout, on_wait) if lock else None)
        try:
            # Never check_same_thread=False: a connection shared by threads would let one
            # thread's statements land inside another's transaction.
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                         check_same_thread=True)
            try:
                self._conn.row_factory = sqlite3.Row
                self._conn.execute("PRAGMA foreign_keys = ON")
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
            except BaseException:
                self.close()
                raise
        except sqlite3.DatabaseError as exc:
            self._release()
            raise CatalogError(f"cannot open catalog {self.path}: {exc}") from exc
        except BaseException:
            self._release()
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        """The SQLite connection. Raises :class:`CatalogError` in a thread other than the one
        that opened the catalog."""
        if threading.get_ident() != self._thread:
            raise CatalogError(
                f"catalog {self.path} was opened in another thread; a catalog is used only in "
                "the thread that opened it: open one in this thread")
        return self._conn

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"catalog {self.path} has schema version {version}, newer than this earmark "
                f"({SCHEMA_VERSION}); upgrade earmark"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in _statements(MIGRATIONS[number]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block as one write transaction (taking the write lock up front)."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        """Run one SQL statement (``?`` or ``:name`` placeholders filled from ``params``)."""
        return self.conn.execute(sql, params)

    def close(self) -> None:
        """Close the connection (again: nothing); :attr:`closed` tells it was."""
        self.conn.close()
        self.closed = True
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our DDL strings; a
    trigger's body holds several, so pieces are joined until SQLite says one is complete)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    statements, current = [], ""
    for piece in "\n".join(lines).split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                statements.append(current.strip())
            current = ""
    return statements
