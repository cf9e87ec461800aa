"""Finding songs in the catalog: full-text search, filters, sorting, and pages that cost the
same at the 100,000th song as at the first.

Search runs on the FTS5 table ``tracks_fts`` (title, artist, album and path; schema migration
3 keeps it in step with ``tracks``). Pages are keyset pages: each ends with a cursor (the last
song's sort key) and the next page starts after it through the sort's index, so no page counts
or skips the rows before it.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field

from earmark.catalog.db import Catalog
from earmark.catalog.tracks import Track, tracks_by_id
from earmark.settings import EMBEDDING_MODEL

#: Sort orders: name -> the key expressions, ending in ``id`` so every key is unique. Each
#: matches an index of migration 3, so paging searches the index instead of scanning.
SORTS: dict[str, tuple[str, ...]] = {
    "artist": ("ifnull(artist, '') COLLATE NOCASE", "ifnull(title, '') COLLATE NOCASE", "id"),
    "title": ("ifnull(title, '') COLLATE NOCASE", "id"),
    "album": ("ifnull(album, '') COLLATE NOCASE", "id"),
    "added": ("added_at", "id"),
}
#: Rating filters: ``like`` (liked: a like, or 4-5 stars) and ``dislike`` (a dislike, or 1-2
#: stars), as the taste model and the dashboard count them
#: (:func:`earmark.catalog.ratings.rating_label`); ``rated`` (any current opinion), ``unrated``,
#: or stars ``1``-``5`` (at least that many).
RATINGS = ("like", "dislike", "rated", "unrated", "1", "2", "3", "4", "5")
#: A predicted tag counts for the tag filter from this probability on (musicnn's top tags of a
#: song typically score 0.2-0.6).
TAG_THRESHOLD = 0.2
#: Where predicted liking is stored: ``predictions`` rows of this model and kind, whose payload
#: is P(like) in [0, 1] (written by :func:`store_liking`).
LIKING_MODEL, LIKING_KIND = "taste", "liking"
MAX_PAGE = 500

# A song's current opinion: its latest rating that is not a skip (catalog.ratings' rule), of
# the row ``{of}`` (``tracks``, or a page of it).
_CURRENT = ("(SELECT {col} FROM ratings r WHERE r.track_id = {of}.id AND "
            "r.verdict IS NOT 'skip' ORDER BY r.rated_at DESC, r.id DESC LIMIT 1)")
# catalog.ratings.rating_label in SQL: 1 liked, 0 disliked, NULL neither (a test pins that the
# two agree on every verdict and star count).
_LABEL = ("CASE WHEN verdict = 'like' THEN 1 WHEN verdict = 'dislike' THEN 0 "
          "WHEN verdict IS NULL AND stars >= 4 THEN 1 WHEN verdict IS NULL AND stars <= 2 "
          "THEN 0 END")


@dataclass(frozen=True, kw_only=True)
class SongQuery:
    """What to find. Every field narrows the result; the defaults select every song.

    Parameters
    ----------
    text : words to find in title, artist, album or path (each word a prefix: ``beat`` finds
        ``Beatles``; all words must match; accents and case ignored).
    genre : one of the genres the file's own tag holds (case ignored).
    tag : a predicted tag (any tagger) with probability at least :data:`TAG_THRESHOLD`.
    rating : one of :data:`RATINGS`.
    min_liking : predicted P(like) at least this (0-1); songs never scored are left out.
    status : ``ok`` (playable) or ``error`` (failed to scan).
    analysed : ``True`` only songs with an embedding of the default model
        (:data:`~earmark.settings.EMBEDDING_MODEL`) computed from the file's present content,
        as the dashboard counts them; ``False`` only the others.
    untagged : only songs whose file has no genre tag.
    """

    text: str = ""
    genre: str | None = None
    tag: str | None = None
    rating: str | None = None
    min_liking: float | None = None
    status: str | None = None
    analysed: bool | None = None
    untagged: bool = False

    def __post_init__(self) -> None:
        if self.rating is not None and self.rating not in RATINGS:
            raise ValueError(f"unknown rating filter {self.rating!r}; use one of "
                             f"{', '.join(RATINGS)}")
        if self.min_liking is not None and not 0.0 <= self.min_liking <= 1.0:
            raise ValueError(f"predicted liking must be from 0 to 1, not {self.min_liking}")
        if self.status not in (None, "ok", "error"):
            raise ValueError(f"unknown status {self.status!r}; use ok or error")


@dataclass(frozen=True)
class SongRow:
    """One song of a page: the catalog's :class:`~earmark.catalog.tracks.Track`, its current
    opinion (``verdict`` like/dislike or ``None``, ``stars`` 1-5 or ``None``) and predicted
    ``liking`` (P(like) 0-1, ``None`` when never scored)."""

    track: Track
    verdict: str | None = None
    stars: int | None = None
    liking: float | None = None


@dataclass(frozen=True)
class SongPage:
    """A page of songs in order, and ``next_cursor`` to pass as ``after`` for the next page
    (``None``: this is the last)."""

    songs: list[SongRow] = field(default_factory=list)
    next_cursor: str | None = None


def fts_query(text: str) -> str | None:
    """The FTS5 query for what a person typed: each word quoted (so ``AND``, ``-``, ``"`` or
    ``*`` in it are only text) and made a prefix, all words required; ``None`` when ``text``
    holds no word."""
    words = re.findall(r"\w+", text)
    return " ".join(f'"{word}"*' for word in words) or None


def _filters(query: SongQuery) -> tuple[list[str], list[object]]:
    where: list[str] = []
    args: list[object] = []
    match = fts_query(query.text)
    if match is not None:
        where.append("id IN (SELECT rowid FROM tracks_fts WHERE tracks_fts MATCH ?)")
        args.append(match)
    if query.genre:
        # The file's genres are joined with '; ' (catalog.tracks): compare whole values.
        where.append("instr('; ' || lower(genre) || '; ', '; ' || lower(?) || '; ') > 0")
        args.append(query.genre.strip())
    if query.tag:
        where.append("EXISTS (SELECT 1 FROM predictions p, json_each(p.payload) j "
                     "WHERE p.track_id = tracks.id AND p.kind = 'tags' "
                     "AND lower(j.key) = lower(?) AND j.value >= ?)")
        args += [query.tag.strip(), TAG_THRESHOLD]
    if query.rating is not None:
        rated = "id IN (SELECT track_id FROM ratings WHERE verdict IS NOT 'skip')"
        if query.rating == "unrated":
            where.append(f"NOT {rated}")
        else:
            # Only songs with such a rating at all can have it as their latest opinion: that
            # short list spares checking the latest opinion of every song (1 % are rated).
            where.append(rated)
            if query.rating in ("like", "dislike"):
                where.append(f"{_CURRENT.format(col=_LABEL, of='tracks')} = ?")
                args.append(int(query.rating == "like"))
            elif query.rating != "rated":
                where.append(f"{_CURRENT.format(col='stars', of='tracks')} >= ?")
                args.append(int(query.rating))
    if query.min_liking is not None:
        where.append("(SELECT CAST(payload AS REAL) FROM predictions p WHERE p.track_id = "
                     "tracks.id AND p.model = ? AND p.kind = ?) >= ?")
        args += [LIKING_MODEL, LIKING_KIND, query.min_liking]
    if query.status is not None:
        where.append("status = ?")
        args.append(query.status)
    if query.analysed is not None:
        # catalog.stats and catalog.vectors' "current": computed from the present content.
        where.append(("" if query.analysed else "NOT ")
                     + "EXISTS (SELECT 1 FROM embeddings e WHERE e.track_id = tracks.id "
                     "AND e.model = ? AND e.content_hash IS tracks.content_hash)")
        args.append(EMBEDDING_MODEL)
    if query.untagged:
        where.append("ifnull(genre, '') = ''")
    return where, args


def _encode_cursor(values: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, width: int) -> list[object]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise ValueError("this page link is damaged: start from the first page") from exc
    if (not isinstance(values, list) or len(values) != width
            or not all(isinstance(v, str | int | float) for v in values)):
        raise ValueError("this page link is damaged: start from the first page")
    return values


def search_songs(catalog: Catalog, query: SongQuery | None = None, *, sort: str = "artist",
                 descending: bool = False, limit: int = 50, after: str | None = None
                 ) -> SongPage:
    """One page of the songs ``query`` selects, in ``sort`` order (a key of :data:`SORTS`).

    ``after`` is the ``next_cursor`` of the page before (``None``: the first page). Raises
    ``ValueError`` for an unknown sort, a ``limit`` outside 1-:data:`MAX_PAGE` or a damaged
    cursor.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"a page holds 1 to {MAX_PAGE} songs, not {limit}")
    where, args = _filters(query or SongQuery())
    keys = SORTS[sort]
    direction = "DESC" if descending else "ASC"
    if after is not None:
        values = _decode_cursor(after, len(keys))
        op = "<" if descending else ">"
        # The leading key's bound lets SQLite search the index; the row value then skips the
        # rows of the same leading key already shown.
        where.append(f"{keys[0]} {op}= ? AND ({', '.join(keys)}) {op} "
                     f"({', '.join('?' * len(keys))})")
        args += [values[0], *values]
    key_columns = ", ".join(f"{key} AS k{i}" for i, key in enumerate(keys))
    # The inner query finds and orders the page; the opinion and liking are looked up for its
    # rows alone (a search matching 3,000 songs would otherwise look them up 3,000 times).
    page = (f"SELECT id, {key_columns} FROM tracks"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY " + ", ".join(f"{key} {direction}" for key in keys) + " LIMIT ?")
    sql = (f"SELECT page.*, {_CURRENT.format(col='verdict', of='page')} AS verdict, "
           f"{_CURRENT.format(col='stars', of='page')} AS stars, "
           "(SELECT CAST(payload AS REAL) FROM predictions p WHERE p.track_id = page.id "
           f"AND p.model = ? AND p.kind = ?) AS liking FROM ({page}) AS page ORDER BY "
           + ", ".join(f"k{i}{' COLLATE NOCASE' * ('NOCASE' in key)} {direction}"
                       for i, key in enumerate(keys)))
    rows = catalog.execute(sql, (LIKING_MODEL, LIKING_KIND, *args, limit + 1)).fetchall()
    tracks = tracks_by_id(catalog, [row["id"] for row in rows[:limit]])
    songs = [SongRow(tracks[row["id"]], row["verdict"], row["stars"], row["liking"])
             for row in rows[:limit] if row["id"] in tracks]  # one deleted meanwhile: gone
    cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        cursor = _encode_cursor([last[f"k{i}"] for i in range(len(keys))])
    return SongPage(songs, cursor)


def store_liking(catalog: Catalog, scores: dict[int, float]) -> None:
    """Save each song's predicted P(like) (``{track_id: 0-1}``) for the liking filter and
    column, replacing the previous scores of those songs."""
    with catalog.transaction() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO predictions (track_id, model, kind, payload, created_at) "
            "VALUES (?, ?, ?, ?, strftime('%s', 'now'))",
            [(int(i), LIKING_MODEL, LIKING_KIND, json.dumps(round(float(p), 5)))
             for i, p in scores.items()])
