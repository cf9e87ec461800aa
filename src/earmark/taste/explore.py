"""The explore map's points: where each song sits (:mod:`earmark.analysis.map`) and what it can
be coloured by: its genre, its rating, and how much the listener is predicted to like it.

``earmark map`` and the web app's explore page both draw these points; the columns are plain
lists of numbers and short names, and the page's (:meth:`MapPoints.to_columns`) hold numbers
only, so that 100,000 songs travel as one compact JSON object (a page asks for a song's name
and file by its id when it needs them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from earmark.analysis.genres import combination_name
from earmark.analysis.map import LAID_OUT, EmbeddingMap, embedding_map
from earmark.catalog import Catalog
from earmark.catalog.ratings import current_ratings
from earmark.catalog.stats import best_predictions, genre_tags
from earmark.models.registry import ZERO_SHOT_MODELS
from earmark.settings import EMBEDDING_MODEL
from earmark.tags.read import split_genres
from earmark.taste.liking import NotEnoughRatings, current_taste
from earmark.taste.recommend import library_liking

#: What the map's points can be coloured by.
COLOUR_BY = ("genre", "rating", "liking")

#: The genre a song without a genre tag is coloured by: what ``earmark tag`` writes by default.
PREDICTED_GENRES = combination_name(ZERO_SHOT_MODELS)


@dataclass(frozen=True)
class MapPoints:
    """The songs on the map, one entry per song in every list (track id order).

    ``x``, ``y``: position in [0, 1]; ``genre``: the first genre of the file's tag, else the
    most confident of :data:`PREDICTED_GENRES`' stored predictions, else ``None``;
    ``genre_predicted``: whether ``genre`` is a prediction; ``rating``: the current rating in
    words (``like``, ``2 stars``) or ``None``; ``liked``: 1 liked, 0 disliked, ``None``
    neither; ``liking``: P(like) from the taste model, ``None`` for every song while there are
    too few ratings to train one. ``method`` says how the map
    was laid out (:attr:`~earmark.analysis.map.EmbeddingMap.method`).
    """

    ids: list[int]
    x: list[float]
    y: list[float]
    genre: list[str | None]
    genre_predicted: list[bool]
    rating: list[str | None]
    liked: list[int | None]
    liking: list[float | None]
    method: str
    model: str

    def colours(self, by: str) -> list:
        """What each point is coloured by (one of :data:`COLOUR_BY`): its genre or rating in
        words, or its P(like); ``None`` where the song has none. ``ValueError`` for another
        ``by``."""
        columns = {"genre": self.genre, "rating": self.rating, "liking": self.liking}
        if by not in columns:
            raise ValueError(f"colour by one of {', '.join(COLOUR_BY)}, not {by!r}")
        return columns[by]

    def to_dict(self) -> dict:
        """Columns as JSON-ready lists, plus ``method``, ``model`` and ``count``."""
        return {"count": len(self.ids), "method": self.method, "model": self.model,
                "ids": self.ids, "x": self.x, "y": self.y,
                "genre": self.genre, "genre_predicted": self.genre_predicted,
                "rating": self.rating, "liked": self.liked, "liking": self.liking}

    def to_columns(self) -> dict:
        """What the explore page draws, as numbers (quick to encode and small at 100,000
        songs: about a third of :meth:`to_dict`'s bytes).

        ``count``, ``method``, ``model``, ``ids`` as in :meth:`to_dict`; ``x``, ``y`` in [0, 1]
        to 4 decimals (a ten-thousandth of the map: finer than a pixel); ``genre`` and
        ``rating`` indices into the name lists ``genres`` and ``ratings`` (-1: none);
        ``genre_predicted`` 0/1; ``liking`` P(like) in whole percent (0-100) or ``None``.
        """
        genres, genre = _indexed(self.genre)
        ratings, rating = _indexed(self.rating)
        # Whole columns at once: Python's round() per value cost a 100,000-song map 0.2 s.
        liking: list[int | None] = (
            self.liking if None in self.liking
            else np.rint(100 * np.asarray(self.liking, np.float64)).astype(int).tolist())
        return {"count": len(self.ids), "method": self.method, "model": self.model,
                "ids": self.ids, "x": np.round(np.asarray(self.x, np.float64), 4).tolist(),
                "y": np.round(np.asarray(self.y, np.float64), 4).tolist(),
                "genres": genres, "genre": genre,
                "genre_predicted": np.asarray(self.genre_predicted, int).tolist(),
                "ratings": ratings, "rating": rating, "liking": liking}


def _indexed(values: list[str | None]) -> tuple[list[str], list[int]]:
    """``(the distinct names in order of first appearance, each value's index among them or
    -1 for None)``: a column of 100,000 genre names as a few names and small numbers."""
    names = [name for name in dict.fromkeys(values) if name is not None]
    index: dict[str | None, int] = {None: -1, **{name: k for k, name in enumerate(names)}}
    return names, [index[v] for v in values]


def _liking(catalog: Catalog, layout: EmbeddingMap) -> list[float | None]:
    """P(like) of each song on the map, or ``None`` for all while no taste model can be
    trained (too few ratings, or of one kind only)."""
    try:
        taste = current_taste(catalog, layout.model)
    except NotEnoughRatings:
        return [None] * len(layout.track_ids)
    if not layout.track_ids:
        return []
    # Scoring 100,000 songs takes about half a second: the scores recommend keeps (with the
    # table and beside it, under this very model) are read instead.
    return np.round(library_liking(layout.vectors, taste), 4).tolist()


def map_points(catalog: Catalog, model: str = EMBEDDING_MODEL, *, laid_out: int = LAID_OUT,
               refresh: bool = False) -> MapPoints:
    """Every song with an up-to-date ``model`` embedding, placed on the map (cached layout,
    see :func:`~earmark.analysis.map.embedding_map`; ``refresh`` lays it out again) with what
    it can be coloured by. Trains and saves the taste model first when the ratings changed
    since it was last trained (as ``earmark recommend`` does)."""
    layout = embedding_map(catalog, model, laid_out=laid_out, refresh=refresh)
    tags = genre_tags(catalog)
    # A song removed between reading the layout and the tracks is left off the map.
    keep = np.isin(layout.track_ids, np.fromiter(tags, np.int64, len(tags)))
    if not keep.all():
        layout = replace(layout, track_ids=np.asarray(layout.track_ids)[keep].tolist(),
                         xy=layout.xy[keep], vectors=layout.vectors.subset(keep))
    predicted = best_predictions(catalog, PREDICTED_GENRES)
    ratings = current_ratings(catalog)
    tagged = [next(iter(split_genres([tags[i] or ""])), None) for i in layout.track_ids]
    xy = np.round(layout.xy.astype(np.float64), 5)
    return MapPoints(
        ids=layout.track_ids, x=xy[:, 0].tolist(), y=xy[:, 1].tolist(),
        genre=[g or predicted.get(i) for g, i in zip(tagged, layout.track_ids, strict=True)],
        genre_predicted=[g is None and i in predicted
                         for g, i in zip(tagged, layout.track_ids, strict=True)],
        rating=[ratings[i].describe() if i in ratings else None for i in layout.track_ids],
        liked=[ratings[i].label if i in ratings else None for i in layout.track_ids],
        liking=_liking(catalog, layout), method=layout.method, model=model)
