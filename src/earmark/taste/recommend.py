"""What to hear next and what to rate next, from the catalog's stored embeddings.

:func:`recommend` ranks unrated songs by the taste model, :func:`similar` finds the songs nearest
to one (cosine similarity), :func:`songs_to_review` picks the next songs to rate with a strategy
of :mod:`earmark.taste.active`. Playlists of their results are written by
:func:`earmark.taste.ratings_io.write_m3u`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from earmark.analysis.embed import EmbedReport, embed_tracks, load_predictions
from earmark.catalog import Catalog, tracks
from earmark.catalog.embeddings import load_embeddings, missing_embeddings
from earmark.catalog.ratings import current_ratings
from earmark.catalog.tracks import Track, song_name
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file
from earmark.taste.active import cosine_distances, select_batch
from earmark.taste.model import DEFAULT_EMBEDDING, TasteModel
from earmark.types import ProgressFn


@dataclass
class Recommendation:
    """One ranked song.

    Attributes
    ----------
    score : calibrated P(like) in [0, 1].
    stars : predicted stars (1-5) when the taste model has a star regressor, else ``None``.
    closest_liked : ``[(track, cosine similarity)]`` the liked songs it is nearest to.
    tags : its top pretrained tags, when stored in ``predictions``.
    """

    track: Track
    score: float
    stars: float | None = None
    closest_liked: list[tuple[Track, float]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.track.path

    @property
    def reason(self) -> str:
        """One line: which liked songs it is close to, and its top tags."""
        parts = []
        if self.closest_liked:
            parts.append("close to " + ", ".join(
                f"{song_name(t)} ({sim:.2f})" for t, sim in self.closest_liked))
        if self.tags:
            parts.append("tags: " + ", ".join(self.tags))
        return "; ".join(parts) or "no liked song or tag to compare with"

    def to_dict(self) -> dict:
        return {"path": self.path, "score": round(self.score, 4),
                "stars": None if self.stars is None else round(self.stars, 2),
                "reason": self.reason, "artist": self.track.artist,
                "title": self.track.title,
                "closest_liked": [{"path": t.path, "similarity": round(s, 4)}
                                  for t, s in self.closest_liked],
                "tags": self.tags}


def top_tags(catalog: Catalog, track_id: int, model: str = DEFAULT_EMBEDDING, n: int = 3,
             minimum: float = 0.1) -> list[str]:
    """The ``n`` most probable stored tags of a track with probability >= ``minimum``."""
    payload = load_predictions(catalog, track_id, "tags", model)
    if not isinstance(payload, dict):
        return []
    ranked = sorted(payload.items(), key=lambda item: -item[1])
    return [tag for tag, p in ranked[:n] if p >= minimum]


def cosine_similarities(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """``(len(X), len(Y))`` cosine similarities in [-1, 1]."""
    return 1.0 - cosine_distances(X, Y)


def embed_missing(
    catalog: Catalog,
    under: str | Path | None = None,
    model: str = DEFAULT_EMBEDDING,
    progress: ProgressFn | None = None,
) -> EmbedReport:
    """Compute the missing embeddings of every rated song (so the taste model sees all
    ratings) and of the songs under ``under`` (scan that folder first:
    :func:`earmark.ingest.scan.scan`).
    """
    stale = set(missing_embeddings(catalog, model))
    wanted = set(current_ratings(catalog)) & stale
    if under is not None:
        wanted |= {t.id for t in tracks.iter_tracks(catalog, "ok", under)} & stale
    return embed_tracks(catalog, model, sorted(wanted), progress=progress)


def ensure_song(catalog: Catalog, path: str | Path, model: str = DEFAULT_EMBEDDING) -> Track:
    """The catalog row of ``path`` with an up-to-date embedding (adding and embedding it if
    needed); :class:`EarmarkError` when the file is missing or unplayable."""
    if not os.path.exists(path):
        raise EarmarkError(f"{path}: file not found")
    track = add_file(catalog, path)
    if track.status != "ok":
        raise EarmarkError(f"{track.path}: not playable: {track.error}")
    if track.id in missing_embeddings(catalog, model):
        report = embed_tracks(catalog, model, [track.id])
        if report.failed:
            raise EarmarkError(f"{track.path}: {report.failed[0][1]}")
    return track


def _candidates(catalog: Catalog, model: str, under: str | Path | None,
                exclude: Iterable[int]) -> tuple[list[Track], np.ndarray]:
    pool = {t.id: t for t in tracks.iter_tracks(catalog, "ok", under)}
    for track_id in exclude:
        pool.pop(track_id, None)
    ids, X = load_embeddings(catalog, model, pool)
    return [pool[i] for i in ids], X


def recommend(
    catalog: Catalog,
    taste: TasteModel,
    top: int | None = 20,
    under: str | Path | None = None,
    n_closest: int = 2,
) -> list[Recommendation]:
    """Unrated songs (under ``under`` when given) ranked by predicted liking, best first.

    Parameters
    ----------
    taste : the listener's model (see :func:`earmark.taste.current_taste`); its
        ``info["embedding_model"]`` names the embeddings used.
    top : how many to return (``None``: all).
    n_closest : liked songs named in each reason.
    """
    model = taste.info["embedding_model"]
    rated = current_ratings(catalog)
    songs, X = _candidates(catalog, model, under, rated)
    if not songs:
        return []
    scores = taste.like_probability(X)
    stars = taste.regressor.predict(X) if taste.regressor is not None else None
    order = np.argsort(-scores, kind="stable")[:top]
    liked_ids, liked_X = load_embeddings(
        catalog, model, [i for i, r in rated.items() if r.label == 1])
    if liked_ids:
        similarity = cosine_similarities(X[order], liked_X)
        nearest = [np.argsort(-sims)[:n_closest] for sims in similarity]
    else:
        similarity, nearest = None, [[] for _ in order]
    # The same few favourites are close to many songs: look each one up once.
    needed = {liked_ids[j] for js in nearest for j in js}
    liked = tracks.tracks_by_id(catalog, needed)
    result = []
    for row, index in enumerate(order):
        closest = [(liked[liked_ids[j]], float(similarity[row, j])) for j in nearest[row]]
        track = songs[index]
        result.append(Recommendation(
            track, float(scores[index]), None if stars is None else float(stars[index]),
            closest, top_tags(catalog, track.id, model)))
    return result


def similar(
    catalog: Catalog,
    track_id: int,
    top: int = 10,
    model: str = DEFAULT_EMBEDDING,
    under: str | Path | None = None,
) -> list[tuple[Track, float]]:
    """The ``top`` songs nearest to a track in embedding space: ``[(track, cosine similarity)]``.

    Songs with the very same audio (duplicates) are left out.
    """
    ids, seed = load_embeddings(catalog, model, [track_id])
    if not ids:
        raise EarmarkError(f"track {track_id} has no {model} embedding (earmark embed)")
    songs, X = _candidates(catalog, model, under, [track_id])
    if not songs:
        return []
    sims = cosine_similarities(seed, X)[0]
    origin = tracks.get_track_by_id(catalog, track_id)
    out = []
    for index in np.argsort(-sims, kind="stable"):
        track = songs[index]
        if origin.audio_hash and track.audio_hash == origin.audio_hash:
            continue
        out.append((track, float(sims[index])))
        if len(out) == top:
            break
    return out


def songs_to_review(
    catalog: Catalog,
    taste: TasteModel | None,
    k: int = 10,
    strategy: str = "mixed",
    under: str | Path | None = None,
    model: str = DEFAULT_EMBEDDING,
    seed: int | None = None,
    exclude: Iterable[int] = (),
    rated_X: np.ndarray | None = None,
) -> list[tuple[Track, float | None]]:
    """The next ``k`` songs to rate, chosen by ``strategy`` (see :mod:`earmark.taste.active`).

    Candidates are songs never rated (a skipped song is not proposed again) with an embedding,
    under ``under`` when given, minus ``exclude``. Returns ``[(track, P(like) or None)]``;
    without a ``taste`` model (cold start) the choice is by diversity alone. ``rated_X``
    ``(m, dim)``: the embeddings of the songs with a current opinion, e.g. ``TasteData.X``
    (read here when ``None``).
    """
    rated = current_ratings(catalog, include_skips=True)
    songs, X = _candidates(catalog, model, under, [*rated, *exclude])
    if not songs:
        return []
    if rated_X is None:
        opinions = [i for i, r in rated.items() if r.verdict != "skip"]
        _, rated_X = load_embeddings(catalog, model, opinions)
    proba = taste.like_probability(X) if taste is not None else None
    picks = select_batch(strategy, X, k, proba, rated_X if len(rated_X) else None, seed)
    return [(songs[i], None if proba is None else float(proba[i])) for i in picks]
