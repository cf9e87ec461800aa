"""Ratings: what the listener said about songs (like / dislike / skip and 1-5 stars), with time.

Every rating is kept as history; a song's *current* rating is its latest opinion. A ``skip`` is
"no opinion now": it never overrides an earlier like, dislike or stars (it only keeps the song
out of the next review batch), while a newer like/dislike/stars replaces an older one.

A rating turns into a taste label through :func:`rating_label`: like, or 4-5 stars, is liked
(1); dislike, or 1-2 stars, is disliked (0); 3 stars alone and skips teach the classifier
nothing (``None``) but 3 stars still count for the star regressor.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from earmark.catalog.db import Catalog

VERDICTS = ("like", "dislike", "skip")

_ANSWERS = {
    "like": "like", "l": "like", "+": "like", "y": "like", "good": "like", "yes": "like",
    "dislike": "dislike", "d": "dislike", "-": "dislike", "n": "dislike", "bad": "dislike",
    "no": "dislike", "skip": "skip", "s": "skip",
}


@dataclass(frozen=True)
class Rating:
    """One rating row. ``rated_at`` is a Unix time in seconds."""

    id: int
    track_id: int
    verdict: str | None
    stars: int | None
    source: str
    rated_at: float
    path: str | None = None

    @property
    def label(self) -> int | None:
        return rating_label(self.verdict, self.stars)

    def describe(self) -> str:
        return describe_rating(self.verdict, self.stars)

    def to_dict(self) -> dict:
        """The rating as JSON: ``{verdict, stars, source, rated_at}``."""
        return {"verdict": self.verdict, "stars": self.stars, "source": self.source,
                "rated_at": self.rated_at}


def describe_rating(verdict: str | None, stars: int | None) -> str:
    """``like``, ``dislike``, ``skip``, ``4 stars`` or ``like, 5 stars``."""
    parts = [verdict] if verdict else []
    if stars is not None:
        parts.append(f"{stars} star{'s' if stars != 1 else ''}")
    return ", ".join(parts)


def parse_rating(text: str) -> tuple[str | None, int | None]:
    """Parse what a person typed: ``like``/``l``/``+``, ``dislike``/``d``/``-``, ``skip``/``s``
    or ``1``-``5`` stars. Returns ``(verdict, stars)``; raises ``ValueError`` otherwise."""
    answer = text.strip().lower()
    if answer in _ANSWERS:
        return _ANSWERS[answer], None
    if answer.isdigit() and 1 <= int(answer) <= 5:
        return None, int(answer)
    raise ValueError(f"not a rating: {text!r} (like, dislike, skip or 1-5 stars)")


def answer_words() -> str:
    """The answers :func:`parse_rating` takes, for a help text: ``like (l, +, ...), dislike
    (...), skip (s), or 1-5 stars``."""
    spellings = {verdict: [w for w, v in _ANSWERS.items() if v == verdict and w != verdict]
                 for verdict in VERDICTS}
    return ", ".join(f"{v} ({', '.join(spellings[v])})" for v in VERDICTS) + ", or 1-5 stars"


def rating_label(verdict: str | None, stars: int | None) -> int | None:
    """1 = liked, 0 = disliked, ``None`` = teaches the like/dislike classifier nothing.

    An explicit verdict wins over stars; 4-5 stars count as liked, 1-2 as disliked.
    """
    if verdict == "like":
        return 1
    if verdict == "dislike":
        return 0
    if verdict is None and stars is not None:
        if stars >= 4:
            return 1
        if stars <= 2:
            return 0
    return None


def add_rating(
    catalog: Catalog,
    track_id: int,
    verdict: str | None = None,
    stars: int | None = None,
    *,
    source: str = "user",
    rated_at: float | None = None,
) -> Rating:
    """Record a rating of a track (history is kept) and return it.

    Parameters
    ----------
    verdict : ``"like"``, ``"dislike"``, ``"skip"`` or ``None`` when only stars are given.
    stars : 1..5 or ``None``.
    source : who said it: ``"user"``, ``"review"``, ``"import:folder"``, ``"import:tags"``, ...
    rated_at : Unix time in seconds (default: now).
    """
    if verdict is None and stars is None:
        raise ValueError("a rating needs a verdict (like, dislike, skip) or 1-5 stars")
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; use one of {', '.join(VERDICTS)}")
    if stars is not None and not (isinstance(stars, int) and 1 <= stars <= 5):
        raise ValueError(f"stars must be an integer from 1 to 5, not {stars!r}")
    when = time.time() if rated_at is None else float(rated_at)
    with catalog.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO ratings (track_id, verdict, stars, source, rated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (track_id, verdict, stars, source, when),
        )
    return Rating(cursor.lastrowid, track_id, verdict, stars, source, when)


def _rows(catalog: Catalog, where: str = "", params: tuple = ()) -> list[Rating]:
    rows = catalog.execute(
        "SELECT r.id, r.track_id, r.verdict, r.stars, r.source, r.rated_at, t.path "
        f"FROM ratings r JOIN tracks t ON t.id = r.track_id {where} "
        "ORDER BY r.rated_at, r.id",
        params,
    ).fetchall()
    return [Rating(*row) for row in rows]


def rating_history(catalog: Catalog, track_id: int | None = None) -> list[Rating]:
    """Every rating (of one track, or of all), oldest first."""
    if track_id is None:
        return _rows(catalog)
    return _rows(catalog, "WHERE r.track_id = ?", (track_id,))


def current_ratings(catalog: Catalog, include_skips: bool = False) -> dict[int, Rating]:
    """Each rated track's current rating: its latest opinion (see the module docstring).

    Tracks rated only with ``skip`` are included when ``include_skips`` is true.
    """
    current: dict[int, Rating] = {}
    for rating in _rows(catalog):
        previous = current.get(rating.track_id)
        if rating.verdict == "skip" and previous is not None:
            continue
        current[rating.track_id] = rating
    if not include_skips:
        current = {k: r for k, r in current.items() if r.verdict != "skip"}
    return current


def current_rating(catalog: Catalog, track_id: int) -> Rating | None:
    """The track's current opinion (like/dislike/stars), or ``None`` if it has none."""
    return latest_opinion(rating_history(catalog, track_id))


def latest_opinion(history: Iterable[Rating]) -> Rating | None:
    """The last like/dislike/stars of one track's ``history`` (oldest first), or ``None``."""
    latest = None
    for rating in history:
        if rating.verdict != "skip":
            latest = rating
    return latest


def count_ratings(catalog: Catalog) -> int:
    """How many ratings the catalog holds (the history, skips included)."""
    return catalog.execute("SELECT count(*) FROM ratings").fetchone()[0]


def ratings_fingerprint(catalog: Catalog, embedding_model: str) -> str:
    """What a taste model on ``embedding_model`` embeddings learns from, in a few characters:
    tells a saved taste model is stale.

    It changes whenever a rating is added or removed, and whenever a rated song's embedding
    of ``embedding_model`` is stored again (its file re-embedded after a change, a sampled
    vector replaced by ``embed --full``), appears, goes, or stops or starts matching the
    file's content. Embeddings of unrated songs, and of other models, leave it as it is.
    ``count:newest id:digest`` (the digest 16 hex digits).
    """
    # One row per rated song: when its embedding was stored (a new vector is stored at a new
    # time) and whether it is current, as taste.model.taste_data selects embeddings. Reading
    # the vectors themselves would cost a blob per rated song on every recommend.
    rows = catalog.execute(
        "SELECT r.track_id, r.n, r.last, e.created_at, "
        "e.content_hash IS t.content_hash AND t.status = 'ok' "
        "FROM (SELECT track_id, count(*) AS n, max(id) AS last FROM ratings GROUP BY track_id) r "
        "JOIN tracks t ON t.id = r.track_id "
        "LEFT JOIN embeddings e ON e.track_id = r.track_id AND e.model = ? "
        "ORDER BY r.track_id", (embedding_model,)).fetchall()
    digest = hashlib.blake2b(digest_size=8)
    for track_id, _, _, created_at, current in rows:
        digest.update(f"{track_id},{created_at!r},{current};".encode())
    count = sum(row[1] for row in rows)
    last = max((row[2] for row in rows), default=0)
    return f"{count}:{last}:{digest.hexdigest()}"
