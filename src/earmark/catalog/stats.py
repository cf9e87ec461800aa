"""What a library holds, in numbers: songs analysed, failed and untagged, ratings so far, the
genre distribution of its tags (the taste model's quality after each retrain is
:func:`earmark.taste.retrain.quality_history`).

One read, no writes: the dashboard polls it while a long ``earmark scan`` or ``embed`` writes
(readers never wait for a writer under write-ahead logging), and ``earmark stats`` prints it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from earmark.catalog.db import Catalog
from earmark.catalog.ratings import current_ratings
from earmark.settings import EMBEDDING_MODEL
from earmark.tags.read import split_genres


@dataclass(frozen=True)
class LibraryStats:
    """Counts over the catalog.

    ``songs``: every track; ``failed``: tracks whose file cannot be used (status ``error``);
    ``analysed``: playable tracks with an embedding of ``embedding_model`` computed from the
    file's current content, ``not_analysed`` the other playable ones; ``untagged``: playable
    tracks whose file holds no genre tag. ``liked`` / ``disliked``: songs whose current
    rating is a like (or 4-5 stars) / a dislike (or 1-2 stars); ``rated``: songs with an
    opinion, 3 stars included. ``genres``: ``[(genre, songs)]`` from the files' genre tags,
    most common first.
    """

    songs: int
    failed: int
    analysed: int
    not_analysed: int
    untagged: int
    rated: int
    liked: int
    disliked: int
    embedding_model: str
    genres: list[tuple[str, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain JSON-ready values (``genres`` as ``[[genre, songs], ...]``)."""
        return asdict(self)


def library_stats(catalog: Catalog, embedding_model: str = EMBEDDING_MODEL) -> LibraryStats:
    """The catalog's :class:`LibraryStats`, read in one transaction so the numbers agree with
    each other while another process writes."""
    conn = catalog.conn
    snapshot = not conn.in_transaction  # a read transaction: one snapshot for every count
    if snapshot:
        conn.execute("BEGIN")
    try:
        songs, failed, untagged = conn.execute(
            "SELECT count(*), total(status = 'error'), "
            "total(status = 'ok' AND ifnull(genre, '') = '') FROM tracks"
        ).fetchone()
        analysed = conn.execute(
            "SELECT count(*) FROM tracks t JOIN embeddings e ON e.track_id = t.id "
            "AND e.model = ? WHERE t.status = 'ok' AND e.content_hash IS t.content_hash",
            (embedding_model,)).fetchone()[0]
        genres = genre_counts(catalog)
        ratings = current_ratings(catalog)
    finally:
        if snapshot:
            conn.execute("COMMIT")
    labels = [r.label for r in ratings.values()]
    return LibraryStats(
        songs=songs, failed=int(failed), analysed=analysed,
        not_analysed=songs - int(failed) - analysed, untagged=int(untagged),
        rated=len(ratings), liked=labels.count(1), disliked=labels.count(0),
        embedding_model=embedding_model, genres=genres)


def genre_counts(catalog: Catalog) -> list[tuple[str, int]]:
    """``[(genre, songs)]`` over the playable tracks' genre tags (a song with two genres counts
    for both), most common first, then by name; names that differ only in case count as one,
    spelled as most songs spell them."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    rows = catalog.execute("SELECT genre FROM tracks WHERE status = 'ok' AND genre IS NOT NULL")
    for (text,) in rows:
        names = split_genres([text])
        for name in names:  # every spelling votes for how the genre is shown
            spellings.setdefault(name.lower(), Counter())[name] += 1
        counts.update({name.lower() for name in names})
    return sorted(((spellings[key].most_common(1)[0][0], n) for key, n in counts.items()),
                  key=lambda item: (-item[1], item[0].lower()))


def genre_tags(catalog: Catalog) -> dict[int, str | None]:
    """``{track id: its file's genre tag as scanned (values joined with '; '), or None}`` for
    every playable track, in one light query (no full rows): for views of the whole library."""
    return dict(catalog.execute("SELECT id, genre FROM tracks WHERE status = 'ok'").fetchall())


def best_predictions(catalog: Catalog, model: str, kind: str = "genres") -> dict[int, str]:
    """``{track id: its most confident label}`` of ``model``'s stored ``kind`` predictions
    (payloads of ``[label, confidence]`` pairs or ``{label: confidence}``), for every track
    that has some."""
    out = {}
    rows = catalog.execute("SELECT track_id, payload FROM predictions WHERE model = ? AND "
                           "kind = ?", (model, kind))
    for track_id, payload in rows:
        value = json.loads(payload)
        pairs = value.items() if isinstance(value, dict) else value
        best = max(pairs, key=lambda pair: pair[1], default=None)
        if best is not None:
            out[track_id] = str(best[0])
    return out
