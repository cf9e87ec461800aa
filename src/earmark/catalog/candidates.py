"""Candidates of ``earmark discover``: the crawl's frontier and the inbox, one row per URL.

A candidate is found (``queued``), downloaded into the staging folder (``downloaded``), then
analysed and scored: it joins the ``inbox`` above the minimum score, is ``rejected`` below it,
is a ``duplicate`` of a song already in the library or already rejected, or was ``skipped``
(too long) or ``failed`` (with the reason). A verdict on an inbox candidate makes it ``liked``
or ``disliked``. Because every step is a row here, a crawl that is killed resumes where it
stopped: nothing ``downloaded`` or decided is fetched again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from earmark.catalog.db import Catalog

STATUSES = ("queued", "downloaded", "inbox", "rejected", "duplicate", "skipped", "failed",
            "liked", "disliked")

#: The columns a caller may set with :func:`update_candidate`.
_FIELDS = ("page", "source", "playlist", "parent_id", "depth", "status", "reason", "title",
           "uploader", "duration", "info_json", "file", "audio_hash", "track_id", "score",
           "fetched_at", "decided_at")


@dataclass(frozen=True)
class Candidate:
    """One candidate row. Times are Unix seconds; ``duration`` in seconds as the site states
    it; ``score`` the calibrated P(like) when it was scored; ``info`` yt-dlp's sanitized
    info dict (empty when none was stored)."""

    id: int
    url: str
    page: str | None
    source: str
    playlist: str | None
    parent_id: int | None
    depth: int
    status: str
    reason: str | None
    title: str | None
    uploader: str | None
    duration: float | None
    file: str | None
    audio_hash: str | None
    track_id: int | None
    score: float | None
    found_at: float
    fetched_at: float | None
    decided_at: float | None
    info: dict

    @property
    def ref(self) -> str:
        """The name a person types for it: ``c12``."""
        return f"c{self.id}"


_REF = re.compile(r"c(\d+)", re.IGNORECASE)


def is_candidate_ref(text: str) -> bool:
    """Whether ``text`` names a candidate rather than a file: ``c12`` or an address
    (``https://...``)."""
    return bool(_REF.fullmatch(text.strip())) or "://" in text


def find_candidate(catalog: Catalog, ref: str) -> Candidate | None:
    """The candidate ``c12`` (the id ``earmark inbox`` shows) or the one found at an address
    (its download address or its page), or ``None``."""
    match = _REF.fullmatch(ref.strip())
    if match:
        return get_candidate(catalog, int(match.group(1)))
    return candidate_by_url(catalog, ref.strip())


def _row(row) -> Candidate:
    values = {k: row[k] for k in row.keys() if k != "info_json"}
    return Candidate(**values, info=json.loads(row["info_json"] or "{}"))


def add_candidates(catalog: Catalog, entries: Iterable[dict]) -> list[int]:
    """Queue new candidates; an entry whose ``url`` is already known (in any status) is left
    out, so a URL is never fetched twice. Each entry has ``url`` and ``source`` and may have
    ``page``, ``playlist``, ``parent_id``, ``depth``, ``title``, ``uploader``, ``duration``.
    Returns the ids of the candidates added, in order."""
    added = []
    now = time.time()
    with catalog.transaction() as conn:
        for entry in entries:
            cursor = conn.execute(
                "INSERT INTO candidates (url, page, source, playlist, parent_id, depth, status, "
                "title, uploader, duration, found_at) VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, "
                "?, ?) ON CONFLICT(url) DO NOTHING",
                (entry["url"], entry.get("page"), entry["source"], entry.get("playlist"),
                 entry.get("parent_id"), entry.get("depth", 0), entry.get("title"),
                 entry.get("uploader"), entry.get("duration"), now))
            if cursor.rowcount:
                added.append(cursor.lastrowid)
    return added


def known_urls(catalog: Catalog, urls: Iterable[str]) -> set[str]:
    """Which of ``urls`` are candidates already (in any status)."""
    rows = catalog.execute("SELECT url FROM candidates WHERE url IN (SELECT value FROM "
                           "json_each(?))", (json.dumps(list(urls)),))
    return {r[0] for r in rows}


def update_candidate(catalog: Catalog, candidate_id: int, **fields: object) -> None:
    """Set columns of a candidate (``info`` is stored as JSON). Raises ``ValueError`` for a
    column that cannot be set or a status outside :data:`STATUSES`."""
    if "info" in fields:
        fields["info_json"] = json.dumps(fields.pop("info"), default=str)
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise ValueError(f"not a candidate field: {', '.join(sorted(unknown))}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise ValueError(f"candidate status must be one of {', '.join(STATUSES)}")
    sets = ", ".join(f"{k} = ?" for k in fields)
    with catalog.transaction() as conn:
        conn.execute(f"UPDATE candidates SET {sets} WHERE id = ?",
                     (*fields.values(), candidate_id))


def get_candidate(catalog: Catalog, candidate_id: int) -> Candidate | None:
    """The candidate with this id, or ``None``."""
    row = catalog.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
    return None if row is None else _row(row)


def candidate_by_url(catalog: Catalog, url: str) -> Candidate | None:
    """The candidate found at ``url`` (or shown on the page ``url``), or ``None``."""
    row = catalog.execute("SELECT * FROM candidates WHERE url = ? OR page = ? ORDER BY url = ? "
                          "DESC, id LIMIT 1", (url, url, url)).fetchone()
    return None if row is None else _row(row)


def candidates_with(catalog: Catalog, *statuses: str, limit: int | None = None
                    ) -> list[Candidate]:
    """Candidates in these statuses, oldest first (the crawl's frontier order)."""
    sql = ("SELECT * FROM candidates WHERE status IN (SELECT value FROM json_each(?)) "
           "ORDER BY id")
    args: tuple = (json.dumps(list(statuses)),)
    if limit is not None:
        sql += " LIMIT ?"
        args += (limit,)
    return [_row(r) for r in catalog.execute(sql, args).fetchall()]


def inbox(catalog: Catalog, *, kept: bool = False) -> list[Candidate]:
    """The candidates waiting for a verdict, best score first; with ``kept``, also the
    rejected ones whose files ``discover --keep`` kept (they can be judged too)."""
    rows = catalog.execute("SELECT * FROM candidates WHERE status = 'inbox' OR (? AND status = "
                           "'rejected' AND file IS NOT NULL) ORDER BY score DESC, id",
                           (kept,)).fetchall()
    return [_row(r) for r in rows]


def same_audio(catalog: Catalog, audio_hash: str, candidate: Candidate | None = None
               ) -> str | None:
    """What already has this audio, in words, or ``None``: a candidate (other than
    ``candidate``) that was scored or judged (``c7 (rejected)``), else a catalog song other
    than ``candidate``'s staged file (``the library song PATH``; a disliked candidate's row
    stays, its file gone, to keep its rating)."""
    other_than = None if candidate is None else candidate.id
    own_file = None if candidate is None else candidate.file
    row = catalog.execute(
        "SELECT id, status FROM candidates WHERE audio_hash = ? AND id IS NOT ? AND status IN "
        "('inbox', 'rejected', 'liked', 'disliked') ORDER BY id LIMIT 1",
        (audio_hash, other_than)).fetchone()
    if row is not None:
        return f"c{row[0]} ({row[1]})"
    row = catalog.execute("SELECT path FROM tracks WHERE audio_hash = ? AND path IS NOT ? "
                          "ORDER BY id LIMIT 1", (audio_hash, own_file)).fetchone()
    return None if row is None else f"the library song {row[0]}"


def count_candidates(catalog: Catalog) -> dict[str, int]:
    """Number of candidates per status."""
    return {r[0]: r[1] for r in catalog.execute(
        "SELECT status, count(*) FROM candidates GROUP BY status")}
