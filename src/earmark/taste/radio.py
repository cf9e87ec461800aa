"""Radio: from one seed song, an endless-feeling queue of songs that sound like it, the ones
the listener will probably like first.

Each song's score is its closeness to the seed, ``(1 + cosine similarity) / 2`` in [0, 1]
(similarity from :func:`earmark.taste.recommend.similar`; embeddings can point away from each
other, and a negative similarity times a liking factor would sink the songs liked most), times
a liking factor from the taste model: ``1 + liking_weight * (2 * P(like) - 1)``. With the
default weight 0.5 a song the model is sure you like counts 1.5 times its closeness, one it is
sure you would not like half of it, and an undecided one (0.5) just its closeness. Without a
taste model (too few ratings) the score is the closeness alone.

The radio plays from the seed's :data:`NEIGHBOURHOOD` nearest songs (about half a day of music),
so that a request reads a few hundred catalog rows whatever the library's size, and the songs
stay close to the seed however long it plays. The queue is built greedily: the best-scored
song whose artist is not the previous song's (the seed's, for the first), never the seed or a
copy of its audio, never a disliked song. The choice depends only on the songs already
queued, so asking for the next ``count`` after a queue continues it exactly as one longer
request would have: the web page fetches a page at a time as it plays, and ``earmark radio``
prints the first page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from earmark.catalog import Catalog, tracks
from earmark.catalog.tracks import Track
from earmark.catalog.vectors import vector_table
from earmark.taste.liking import DEFAULT_EMBEDDING, NotEnoughRatings, TasteModel, current_taste
from earmark.taste.recommend import QuerySong, similar

#: How many of the seed's nearest songs a radio plays from.
NEIGHBOURHOOD = 200
#: How much the predicted liking moves a song's score: 0 ignores it, 1 lets a sure like
#: double and a sure dislike zero its similarity.
LIKING_WEIGHT = 0.5


@dataclass(frozen=True)
class RadioSong:
    """One song of a radio queue.

    Attributes
    ----------
    similarity : cosine similarity of its embedding to the seed's, in [-1, 1].
    p_like : calibrated P(like) from the taste model, ``None`` without one.
    score : what the queue is ordered by (see the module docstring).
    """

    track: Track
    similarity: float
    p_like: float | None
    score: float

    @property
    def path(self) -> str:
        return self.track.path

    def to_dict(self) -> dict:
        """The JSON fields of ``earmark radio --json`` and the web radio queue."""
        return {"id": self.track.id, "path": self.path, "artist": self.track.artist,
                "title": self.track.title, "duration": self.track.duration,
                "similarity": round(self.similarity, 4),
                "p_like": None if self.p_like is None else round(self.p_like, 4),
                "score": round(self.score, 4)}


def liking_model(catalog: Catalog, model: str = DEFAULT_EMBEDDING) -> TasteModel | None:
    """The current taste model (trained and recorded first when the ratings changed, see
    :func:`earmark.taste.model.current_taste`), or ``None`` while the ratings cannot support
    one: a radio then orders by similarity alone."""
    try:
        return current_taste(catalog, model)
    except NotEnoughRatings:
        return None


def same_artist(a: Track | QuerySong | None, b: Track | QuerySong) -> bool:
    """Whether two songs name the same artist (case and surrounding spaces ignored). A song
    without an artist tag matches none: nothing says it repeats one."""
    if a is None or not a.artist or not b.artist:
        return False
    return a.artist.strip().casefold() == b.artist.strip().casefold()


def radio(
    catalog: Catalog,
    seed: QuerySong,
    count: int = 20,
    queued: Sequence[int] = (),
    taste: TasteModel | None = None,
    model: str = DEFAULT_EMBEDDING,
    liking_weight: float = LIKING_WEIGHT,
    neighbourhood: int = NEIGHBOURHOOD,
) -> list[RadioSong]:
    """The next ``count`` songs of the radio that starts from ``seed``.

    Parameters
    ----------
    seed : the song the radio starts from (:func:`earmark.taste.recommend.query_song`).
    count : how many songs to add to the queue (fewer when the catalog runs out of songs
        that keep the rules; an empty list means the radio has nothing more to play).
    queued : catalog ids of the songs already in the queue, in play order (an earlier page's
        answer); they are not repeated, and the first new song's artist differs from the
        last queued one's.
    taste : the listener's taste model (:func:`liking_model`), ``None`` for similarity alone.
    liking_weight : in [0, 1], see :data:`LIKING_WEIGHT`.
    neighbourhood : the radio plays from this many of the seed's nearest songs (disliked ones
        left out first).

    Raises ``ValueError`` for a ``count`` below 0 or a ``liking_weight`` outside [0, 1].
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    if not 0.0 <= liking_weight <= 1.0:
        raise ValueError(f"liking_weight must be in [0, 1], not {liking_weight}")
    pool = similar(catalog, seed, neighbourhood, model, exclude_disliked=True)
    already = set(queued)
    pool = [(track, sim) for track, sim in pool if track.id not in already]
    # The pool's embeddings are rows of the matrix similar ranked, kept in memory: no catalog
    # read. A song whose embedding went in between (a write meanwhile) is left out.
    table = vector_table(catalog, model)
    rows = np.searchsorted(table.track_ids, [track.id for track, _ in pool]).astype(np.int64)
    current = [row < len(table) and table.track_ids[row] == track.id
               for row, (track, _) in zip(rows, pool, strict=True)]
    pool, rows = [song for song, ok in zip(pool, current, strict=True) if ok], rows[current]
    if not pool or count == 0:
        return []
    sims = np.array([sim for _, sim in pool])
    p_like = None
    factor = np.ones(len(pool))
    if taste is not None:
        p_like = taste.like_probability(table.matrix[rows])
        factor = 1.0 + liking_weight * (2.0 * p_like - 1.0)
    scores = (1.0 + sims) / 2.0 * factor
    ranked = np.argsort(-scores, kind="stable")
    previous: Track | QuerySong | None = seed
    if queued:
        previous = tracks.get_track_by_id(catalog, queued[-1]) or seed
    out: list[RadioSong] = []
    taken = np.zeros(len(pool), dtype=bool)
    while len(out) < count:
        pick = next((i for i in ranked if not taken[i] and not same_artist(previous, pool[i][0])),
                    None)
        if pick is None:
            break  # only the previous song's artist is left: end rather than repeat them
        taken[pick] = True
        track = pool[pick][0]
        out.append(RadioSong(track, float(sims[pick]),
                             None if p_like is None else float(p_like[pick]),
                             float(scores[pick])))
        previous = track
    return out
