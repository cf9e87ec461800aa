"""What to hear next and what to rate next, from the catalog's stored embeddings.

:func:`recommend` ranks unrated songs by the taste model, :func:`similar` finds the songs nearest
to one (cosine similarity), :func:`songs_to_review` picks the next songs to rate with a strategy
of :mod:`earmark.taste.active`. Playlists of their results are written by
:func:`earmark.taste.ratings_io.write_m3u`.

They answer from the catalog's stored embeddings with numpy: nothing here imports torch or
scikit-learn, which would cost a command two to three seconds of start-up before it reads a
row. A song that must be analysed first goes through :mod:`earmark.taste.analyse`, imported
only then.

A query only reads, unless something it needs is missing from the catalog (a changed or
unembedded song, a taste model older than the ratings): then it takes the catalog's writer lock
for that write alone (:class:`CatalogWriter`), and while another process holds it (``earmark
embed`` may, for hours) it answers from what is stored and says what it left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from earmark.catalog import Catalog, tracks
from earmark.catalog.embeddings import load_embeddings
from earmark.catalog.lock import CatalogInUseError, holder_name
from earmark.catalog.predictions import load_predictions
from earmark.catalog.ratings import Rating, current_ratings
from earmark.catalog.tracks import Track, song_name
from earmark.catalog.vectors import VectorTable, vector_table
from earmark.errors import EarmarkError
from earmark.ingest.scan import add_file, inspect_file, scan
from earmark.taste.active import (
    LIKELY,
    cosine_similarities,
    l2_normalise,
    select_batch,
    top_indices,
    unit_similarities,
)
from earmark.taste.liking import (
    DEFAULT_EMBEDDING,
    DEFAULT_HALF_LIFE_DAYS,
    NotEnoughRatings,
    TasteModel,
    current_taste,
    saved_taste,
    stored_taste,
)
from earmark.types import ProgressFn


@dataclass
class Recommendation:
    """One ranked song.

    Attributes
    ----------
    score : calibrated P(like) in [0, 1].
    stars : predicted stars (1-5) when the taste model has a star regressor, else ``None``.
    closest_liked, closest_disliked : ``[(track, cosine similarity)]`` the liked and the
        disliked songs it is nearest to, most similar first.
    tags : its top pretrained tags, when stored in ``predictions``.
    """

    track: Track
    score: float
    stars: float | None = None
    closest_liked: list[tuple[Track, float]] = field(default_factory=list)
    closest_disliked: list[tuple[Track, float]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.track.path

    @property
    def reason(self) -> str:
        """One line that agrees with the score: at or above :data:`LIKELY` the liked songs it
        is close to, below it the disliked songs it resembles; then its top tags."""
        liked = self.score >= LIKELY
        closest = self.closest_liked if liked else self.closest_disliked
        parts = []
        if closest:
            parts.append(("close to liked " if liked else "like songs you disliked: ") + ", ".join(
                f"{song_name(t)} ({sim:.2f})" for t, sim in closest))
        if self.tags:
            parts.append("tags: " + ", ".join(self.tags))
        return "; ".join(parts) or "no rated song or tag to compare with"

    def to_dict(self) -> dict:
        """The JSON fields of ``earmark recommend --json`` (paths absolute)."""
        def near(found: list[tuple[Track, float]]) -> list[dict]:
            return [{"path": t.path, "similarity": round(s, 4)} for t, s in found]

        return {"path": self.path, "score": round(self.score, 4),
                "stars": None if self.stars is None else round(self.stars, 2),
                "reason": self.reason, "artist": self.track.artist,
                "title": self.track.title, "closest_liked": near(self.closest_liked),
                "closest_disliked": near(self.closest_disliked), "tags": self.tags}


def top_tags(catalog: Catalog, track_id: int, model: str = DEFAULT_EMBEDDING, n: int = 3,
             minimum: float = 0.1) -> list[str]:
    """The ``n`` most probable stored tags of a track with probability >= ``minimum``."""
    payload = load_predictions(catalog, track_id, "tags", model)
    if not isinstance(payload, dict):
        return []
    ranked = sorted(payload.items(), key=lambda item: -item[1])
    return [tag for tag, p in ranked[:n] if p >= minimum]


def songs_to_embed(
    catalog: Catalog,
    under: str | Path | None = None,
    model: str = DEFAULT_EMBEDDING,
    *,
    unrated: bool = False,
) -> list[int]:
    """Track ids ``[id]`` (ascending) of the playable songs a taste query needs embedded that
    have no current ``model`` embedding: every rated song (so the taste model sees all
    ratings), the songs under ``under``, and with ``unrated`` every unrated song that could be
    proposed for review (in the whole catalog when ``under`` is ``None``). Only reads."""
    wanted = set(current_ratings(catalog))
    if under is not None or unrated:
        wanted |= set(tracks.track_column(catalog, "id", "ok", under))
    # The table holds the current embedding of every playable song: the songs not in it are
    # the ones to embed, or unplayable, and only those few are read back (not a query over the
    # whole library, a third of a second at 100,000 songs).
    left = np.setdiff1d(np.fromiter(wanted, np.int64, len(wanted)),
                        vector_table(catalog, model).track_ids)
    return sorted(tracks.track_column(catalog, "id", "ok", ids=left.tolist())) if len(left) \
        else []


def embed_missing(
    catalog: Catalog,
    under: str | Path | None = None,
    model: str = DEFAULT_EMBEDDING,
    progress: ProgressFn | None = None,
    *,
    unrated: bool = False,
) -> list[tuple[str, str]]:
    """Compute and store the embeddings :func:`songs_to_embed` lists (scan ``under`` first:
    :func:`earmark.ingest.scan.scan`). The caller holds the writer lock.

    Returns ``(path, reason)`` of each song that could not be embedded. The network is loaded
    only when a song lacks its embedding.
    """
    wanted = songs_to_embed(catalog, under, model, unrated=unrated)
    if not wanted:
        return []
    from earmark.taste.analyse import embed_songs  # torch: see the module's docstring
    return embed_songs(catalog, model, wanted, progress)


class CatalogWriter(Protocol):
    """How a query gets the catalog for one short write: ``with writer(wait=False) as w:``
    holds the catalog's writer lock (:mod:`earmark.catalog.lock`) for the block only, and
    raises :class:`~earmark.catalog.lock.CatalogInUseError` at once while another process
    holds it; ``wait=True`` waits for that process instead (the caller says so to the user).
    The command line's is ``functools.partial(earmark.cli.app.open_catalog, db)``.

    The queries (:func:`query_song`, :func:`scan_for_query`, :func:`embed_for_query`,
    :func:`taste_for_query`) read through a catalog opened without the lock and take a
    writer only for what they must write, so that ``similar`` or ``recommend`` answer while
    ``earmark embed`` writes to the catalog for hours. Without a writer (``None``) they
    write through the catalog they read: a caller that holds the lock already.
    """

    def __call__(self, *, wait: bool) -> AbstractContextManager[Catalog]: ...


@contextmanager
def _writing(catalog: Catalog, writer: CatalogWriter | None, wait: bool = False
             ) -> Iterator[Catalog]:
    """The catalog to write through: ``writer``'s (lock held for the block), or ``catalog``
    itself without one."""
    if writer is None:
        yield catalog
        return
    with writer(wait=wait) as written:
        yield written


@dataclass(frozen=True)
class QueryUpdate:
    """What a query's write step did before it answered.

    Attributes
    ----------
    failed : ``[(path, reason)]`` of the songs that could not be read or embedded.
    left_out : ``None``, or a sentence for the user saying what was not written because
        another process holds the writer lock (the query answers from what is stored).
    """

    failed: list[tuple[str, str]] = field(default_factory=list)
    left_out: str | None = None


def _busy(exc: CatalogInUseError) -> str:
    return f"{holder_name(exc.pid)} is writing to the catalog"


def scan_for_query(catalog: Catalog, writer: CatalogWriter | None, folder: str | Path,
                   progress: ProgressFn | None = None) -> QueryUpdate:
    """Scan ``folder`` (``--from``: :func:`earmark.ingest.scan.scan`) under the writer lock,
    taken for the scan alone. While another process holds it, nothing is scanned and the
    query uses the songs of ``folder`` the catalog holds already (said in ``left_out``)."""
    try:
        with _writing(catalog, writer) as written:
            report = scan(written, [folder], progress=progress)
    except CatalogInUseError as exc:
        return QueryUpdate(left_out=f"{folder} was not scanned for new songs: {_busy(exc)}; "
                                    "the songs of it already in the catalog are used")
    return QueryUpdate([(item.path, str(item.reason)) for item in report.failed])


def embed_for_query(catalog: Catalog, writer: CatalogWriter | None,
                    under: str | Path | None = None, model: str = DEFAULT_EMBEDDING,
                    progress: ProgressFn | None = None, *, unrated: bool = False
                    ) -> QueryUpdate:
    """Embed and store what :func:`songs_to_embed` lists, taking the writer lock only when
    something is missing and only for that. While another process holds it, nothing is
    embedded: the songs are left out of this answer (said in ``left_out``)."""
    missing = songs_to_embed(catalog, under, model, unrated=unrated)
    if not missing:
        return QueryUpdate()
    try:
        with _writing(catalog, writer) as written:
            return QueryUpdate(embed_missing(written, under, model, progress, unrated=unrated))
    except CatalogInUseError as exc:
        return QueryUpdate(left_out=f"{len(missing)} song(s) without an embedding are left out: "
                                    f"{_busy(exc)} (earmark embed computes them)")


@dataclass(frozen=True)
class QueryTaste:
    """The taste model a query answers with (:func:`taste_for_query`).

    Attributes
    ----------
    model : the model; ``None`` only when not ``required`` and the ratings cannot support one.
    stale : ``None``, or a sentence saying the model was trained before the newest ratings
        (another process held the writer lock, so it was not retrained).
    reason : why there is no model, when ``model`` is ``None``.
    """

    model: TasteModel | None
    stale: str | None = None
    reason: str | None = None


def taste_for_query(
    catalog: Catalog,
    writer: CatalogWriter | None,
    embedding_model: str = DEFAULT_EMBEDDING,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
    *,
    required: bool = True,
) -> QueryTaste:
    """The taste model for ``recommend``, ``playlist`` and the radio, writing only when it must.

    A saved model trained on the current ratings is used as it is: no write, no lock. When the
    ratings changed, the model is retrained and saved (:func:`~earmark.taste.liking.
    current_taste`) under the writer lock, taken for that alone. When another process holds
    the lock (``earmark embed`` can hold it for hours), the saved model with the same settings
    answers instead and :attr:`QueryTaste.stale` says it is older than the newest ratings; only
    without any saved model does the query wait for the lock (``writer(wait=True)``), since
    there is nothing stored to answer from.

    Raises
    ------
    NotEnoughRatings
        When ``required`` and the ratings cannot support a model; otherwise the model is
        ``None`` and :attr:`QueryTaste.reason` says why.
    """
    model = saved_taste(catalog, embedding_model, half_life_days)
    if model is not None:
        return QueryTaste(model)
    try:
        # Too few ratings: no model to write, so no lock to take or wait for. (This imports
        # scikit-learn, as the training below does: paid only when the model is out of date.)
        from earmark.taste.model import check_taste_data, taste_data
        check_taste_data(taste_data(catalog, embedding_model, half_life_days), embedding_model)
        try:
            with _writing(catalog, writer) as written:
                return QueryTaste(current_taste(written, embedding_model, half_life_days))
        except CatalogInUseError as exc:
            older = stored_taste(catalog, embedding_model, half_life_days)
            if older is not None:
                return QueryTaste(older, stale=(
                    f"the taste model is older than your newest ratings: {_busy(exc)}; it is "
                    "retrained on them at the first query after that has finished"))
        with _writing(catalog, writer, wait=True) as written:
            return QueryTaste(current_taste(written, embedding_model, half_life_days))
    except NotEnoughRatings as exc:
        if required:
            raise
        return QueryTaste(None, reason=str(exc))


@dataclass(frozen=True)
class QuerySong:
    """A song to find the neighbours of (:func:`query_song`).

    Attributes
    ----------
    path : the file (absolute). vector : ``(dim,)`` its embedding.
    track_id : its catalog row, or ``None`` for a file outside the catalog.
    audio_hash : of its audio packets, to leave its duplicates out (``None`` if unknown).
    title, artist : from its tags; duration : seconds (as a playlist entry needs them).
    """

    path: str
    vector: np.ndarray
    track_id: int | None = None
    audio_hash: str | None = None
    title: str | None = None
    artist: str | None = None
    duration: float | None = None


def stored_query(catalog: Catalog, track: Track, model: str = DEFAULT_EMBEDDING
                 ) -> QuerySong | None:
    """Catalog ``track`` as a :class:`QuerySong` with its stored embedding, as it stands (not
    re-scanned, nothing computed: what a web request can afford); ``None`` when it has no
    up-to-date embedding of ``model`` (``earmark embed`` computes it)."""
    ids, X = load_embeddings(catalog, model, [track.id])
    if not ids:
        return None
    return QuerySong(track.path, X[0], track.id, track.audio_hash, track.title, track.artist,
                     track.duration)


def _is_current(track: Track) -> bool:
    """Whether the catalog's row still describes the file (size and modification time as
    scanned; only metadata is read)."""
    try:
        return track.unchanged(os.stat(track.path))
    except OSError:
        return False


def query_song(catalog: Catalog, path: str | Path, model: str = DEFAULT_EMBEDDING,
               writer: CatalogWriter | None = None) -> QuerySong:
    """The embedding of the song ``path`` for :func:`similar`, without making it a library
    song.

    A catalog track whose file is unchanged and which has its embedding answers from the
    catalog: nothing is written, no lock is taken. A catalog track that changed or lacks its
    embedding is brought up to date (re-scanned, embedded and stored) under the writer lock,
    taken for that alone; while another process holds it, the file is analysed in memory
    instead (nothing stored, no waiting). Any other file is analysed in memory and nothing
    about it is recorded, so it never shows up in recommendations or reviews afterwards
    (``earmark scan`` adds it when wanted). Only a song without a stored embedding loads the
    network (:mod:`earmark.taste.analyse`).

    Raises :class:`EarmarkError` when the file is missing, cannot be named in the catalog, or
    cannot be decoded.
    """
    if not os.path.exists(path):
        raise EarmarkError(f"{path}: file not found")
    key = tracks.catalog_key(path)
    track = tracks.get_track(catalog, key)
    if track is not None:
        if _is_current(track):
            if track.status != "ok":
                raise EarmarkError(f"{track.path}: not playable: {track.error}")
            # Asked of this track alone: missing_embeddings would go over the whole library.
            query = stored_query(catalog, track, model)
            if query is not None:
                return query
        try:
            with _writing(catalog, writer) as written:
                return _stored_up_to_date(written, key, model)
        except CatalogInUseError:
            pass  # another writer: analysed in memory below, as a file outside the catalog is
    record = inspect_file(key)
    if record.get("status") != "ok":
        raise EarmarkError(f"{key}: not playable: {record.get('error')}")
    from earmark.taste.analyse import file_embedding
    return QuerySong(key, file_embedding(key, model), None if track is None else track.id,
                     record.get("audio_hash"), record.get("title"), record.get("artist"),
                     record.get("duration"))


def _stored_up_to_date(catalog: Catalog, key: str, model: str) -> QuerySong:
    """Catalog track ``key`` re-scanned if changed and embedded if needed, stored through
    ``catalog`` (which holds the writer lock), as a :class:`QuerySong`."""
    track = add_file(catalog, key)
    if track.status != "ok":
        raise EarmarkError(f"{track.path}: not playable: {track.error}")
    query = stored_query(catalog, track, model)
    if query is None:
        from earmark.taste.analyse import embed_songs
        failed = embed_songs(catalog, model, [track.id])
        if failed:
            raise EarmarkError(f"{track.path}: {failed[0][1]}")
        query = stored_query(catalog, track, model)
    return query


#: Rows scored or normalised at a time. Scoring converts rows to float64 and normalises them:
#: block by block those copies stay small, where copies of the whole library (320 MB at
#: 100,000 x 400) cost a fresh process seconds of page faults. Same values.
BLOCK_ROWS = 1024


def library_liking(table: VectorTable, taste: TasteModel) -> np.ndarray:
    """``(n,)`` P(like) under ``taste`` of every row of ``table``, read-only.

    Computed :data:`BLOCK_ROWS` at a time once per table and taste model, and kept with the
    table and in a file beside its cache (under the model's
    :attr:`~earmark.taste.liking.TasteModel.fingerprint`): a new process reads the scores of
    100,000 songs in a millisecond rather than computing them in a tenth of a second. A
    retrained model, or a new embedding, scores again.
    """
    def score_rows(matrix: np.ndarray) -> np.ndarray:
        scores = np.empty(len(matrix))
        # Each block is converted into one reused float64 buffer (the same values): a fresh
        # copy per block had the allocator hand its pages back and fault them in again every
        # block, five times the arithmetic's own cost.
        rows = np.empty((min(BLOCK_ROWS, len(matrix)), matrix.shape[1]))
        for start in range(0, len(matrix), BLOCK_ROWS):
            block = rows[:min(BLOCK_ROWS, len(matrix) - start)]
            np.copyto(block, matrix[start:start + len(block)])
            scores[start:start + len(block)] = taste.like_probability(block)
        return scores

    return table.derived(f"liking-{taste.fingerprint}", score_rows, stored=True)


@dataclass(frozen=True)
class _Candidates:
    """The rows ``rows`` ``(m,)`` (ascending indices) of a model's :class:`VectorTable` that
    are candidates: picked, not copied, as a copy of 100,000 rows would cost a command a
    third of a second."""

    table: VectorTable
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def track_ids(self) -> np.ndarray:
        """``(m,)`` the candidates' track ids."""
        return self.table.track_ids[self.rows]

    def vectors(self, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``(k, dim)`` float32 embeddings of the candidates at ``index`` (default all)."""
        return self.table.matrix[self.rows[index]]

    def liking(self, taste: TasteModel) -> np.ndarray:
        """``(m,)`` P(like) of every candidate (:func:`library_liking`)."""
        return library_liking(self.table, taste)[self.rows]


def _kept_rows(catalog: Catalog, table: VectorTable, under: str | Path | None,
               exclude: Iterable[int]) -> np.ndarray:
    """``(n,)`` bool: which rows of ``table`` are playable songs (under ``under``) other than
    the tracks ``exclude``."""
    keep = ~np.isin(table.track_ids, np.fromiter(exclude, np.int64))
    if under is not None:
        keep &= np.isin(table.track_ids,
                        np.array(tracks.track_column(catalog, "id", "ok", under), np.int64))
    return keep


def _candidates(catalog: Catalog, model: str, under: str | Path | None,
                exclude: Iterable[int]) -> _Candidates:
    """The current embeddings of ``model`` of the playable songs (under ``under``), without
    the tracks ``exclude``, by track id. Tracks are read only for the songs finally chosen
    (:func:`_tracks`): building one per candidate is what made a 100,000-song library slow."""
    table = vector_table(catalog, model)
    return _Candidates(table, np.flatnonzero(_kept_rows(catalog, table, under, exclude)))


def unit_table(catalog: Catalog, model: str) -> tuple[VectorTable, np.ndarray]:
    """The current embeddings of ``model`` (:func:`vector_table`) and their rows scaled to unit
    length ``(n, dim)`` float32 (read-only), so that a song's cosine similarity to every other
    is one matrix-vector product. The scaled rows are kept with the table, which the process
    keeps while the catalog's generation stands, and in a file beside the table's: normalising
    100,000 rows on every request cost similar and the radio most of their time, and a new
    process (a command) half a second."""
    table = vector_table(catalog, model)
    return table, table.derived("unit", _unit_rows, stored=True)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """:func:`l2_normalise` of the float32 ``matrix`` ``(n, dim)``, :data:`BLOCK_ROWS` rows at
    a time into one array: the same values (each row is scaled on its own) without temporaries
    the size of the library, which cost a new process a third of a second at 100,000 x 400."""
    unit = np.empty(matrix.shape, np.float32)
    for start in range(0, len(matrix), BLOCK_ROWS):
        unit[start:start + BLOCK_ROWS] = l2_normalise(matrix[start:start + BLOCK_ROWS])
    return unit


def _tracks(catalog: Catalog, track_ids: np.ndarray) -> list[Track]:
    """The tracks of ``track_ids`` ``(k,)``, in that order, in one query."""
    found = tracks.tracks_by_id(catalog, track_ids.tolist())
    return [found[i] for i in track_ids.tolist()]


def _nearest_rated(catalog: Catalog, model: str, X: np.ndarray, rated: dict[int, Rating],
                   n: int, songs: Iterable[int] = ()
                   ) -> tuple[dict[int, list[list[tuple[Track, float]]]], dict[int, Track]]:
    """For each row of ``X`` ``(m, dim)``, the ``n`` nearest liked (key 1) and disliked (key
    0) songs among ``rated``: ``({label: [[(track, cosine similarity)] per row]}, {id: track}
    of the track ids ``songs``)``. The same few rated songs are close to many rows, so every
    one named, and the ``songs`` the rows are of, are looked up in one query."""
    nearest: dict[int, tuple[list[int], np.ndarray, np.ndarray]] = {}
    for label in (1, 0):
        ids, Y = load_embeddings(catalog, model, [i for i, r in rated.items() if r.label == label])
        if ids and len(X):
            sims = cosine_similarities(X, Y)
            nearest[label] = (ids, sims, np.argsort(-sims, axis=1, kind="stable")[:, :n])
    needed = {ids[j] for ids, _, order in nearest.values() for j in order.ravel()}
    found = tracks.tracks_by_id(catalog, needed | set(songs))
    out: dict[int, list[list[tuple[Track, float]]]] = {}
    for label in (1, 0):
        if label not in nearest:
            out[label] = [[] for _ in range(len(X))]
            continue
        ids, sims, order = nearest[label]
        out[label] = [[(found[ids[j]], float(sims[row, j])) for j in order[row]]
                      for row in range(len(X))]
    return out, found


def recommend(
    catalog: Catalog,
    taste: TasteModel,
    top: int | None = 20,
    under: str | Path | None = None,
    n_closest: int = 2,
    min_score: float | None = None,
) -> list[Recommendation]:
    """Unrated songs (under ``under`` when given) ranked by predicted liking, best first.

    Rated songs, disliked ones included, are never recommended.

    Parameters
    ----------
    taste : the listener's model (see :func:`earmark.taste.current_taste`); its
        ``info["embedding_model"]`` names the embeddings used.
    top : how many to return at most (``None``: all).
    n_closest : liked and disliked songs found for each reason.
    min_score : leave out songs whose P(like) is below it (``None``: keep all).
    """
    model = taste.info["embedding_model"]
    rated = current_ratings(catalog)
    candidates = _candidates(catalog, model, under, rated)
    if not len(candidates):
        return []
    scores = candidates.liking(taste)
    order = top_indices(scores, top)
    if min_score is not None:
        order = order[scores[order] >= min_score]
    X = candidates.vectors(order)
    stars = taste.regressor.predict(X) if taste.regressor is not None else None
    chosen = candidates.track_ids[order].tolist()
    near, found = _nearest_rated(catalog, model, X, rated, n_closest, chosen)
    songs = [found[i] for i in chosen]
    return [Recommendation(songs[row], float(scores[index]),
                           None if stars is None else float(stars[row]),
                           near[1][row], near[0][row], top_tags(catalog, songs[row].id, model))
            for row, index in enumerate(order)]


def best_score(catalog: Catalog, taste: TasteModel, under: str | Path | None = None
               ) -> float | None:
    """The highest P(like) of any unrated song with an embedding (under ``under``), or ``None``
    when there is none: says how far a ``min_score`` that left nothing is from the best."""
    candidates = _candidates(catalog, taste.info["embedding_model"], under,
                             current_ratings(catalog))
    return float(candidates.liking(taste).max()) if len(candidates) else None


def similar(
    catalog: Catalog,
    query: QuerySong,
    top: int | None = 10,
    model: str = DEFAULT_EMBEDDING,
    under: str | Path | None = None,
    *,
    exclude_disliked: bool = False,
) -> list[tuple[Track, float]]:
    """The ``top`` catalog songs nearest to ``query`` (see :func:`query_song`) in embedding
    space: ``[(track, cosine similarity)]``, most similar first (``top=None``: all of them).

    The query's own row and songs with the very same audio (duplicates) are left out, and so
    are the songs whose current rating is a dislike (dislike, 1-2 stars) when
    ``exclude_disliked``.
    """
    exclude = [] if query.track_id is None else [query.track_id]
    if exclude_disliked:
        exclude += [i for i, r in current_ratings(catalog).items() if r.label == 0]
    table, unit = unit_table(catalog, model)
    if not len(table):
        return []
    keep = _kept_rows(catalog, table, under, exclude)
    # One matrix-vector product over the whole library; left-out rows are masked rather than
    # copied out of the matrix, and rank last.
    sims = unit_similarities(unit, l2_normalise(np.asarray(query.vector)[np.newaxis, :]
                                                .astype(unit.dtype))[0])
    sims[~keep] = -np.inf
    # A few spare songs for the query's duplicates, which are skipped: the first page nearly
    # always fills ``top``, and reads few more Tracks than are shown.
    wanted = int(keep.sum()) if top is None else min(top + 8, int(keep.sum()))
    out: list[tuple[Track, float]] = []
    done = 0
    # Tracks are read a page of the ranking at a time; when duplicates leave a page short of
    # ``top``, the next page ranks twice as many songs.
    while done < wanted:
        chosen = top_indices(sims, wanted)[done:]
        for index, track in zip(chosen, _tracks(catalog, table.track_ids[chosen]), strict=True):
            if query.audio_hash and track.audio_hash == query.audio_hash:
                continue
            out.append((track, float(sims[index])))
            if len(out) == top:
                return out
        done, wanted = wanted, min(2 * wanted, int(keep.sum()))
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
    candidates = _candidates(catalog, model, under, [*rated, *exclude])
    if not len(candidates):
        return []
    X = candidates.vectors()
    if rated_X is None:
        opinions = [i for i, r in rated.items() if r.verdict != "skip"]
        _, rated_X = load_embeddings(catalog, model, opinions)
    proba = candidates.liking(taste) if taste is not None else None
    picks = np.asarray(select_batch(strategy, X, k, proba, rated_X if len(rated_X) else None,
                                    seed), dtype=np.int64)
    songs = _tracks(catalog, candidates.track_ids[picks])
    return [(song, None if proba is None else float(proba[i]))
            for song, i in zip(songs, picks.tolist(), strict=True)]
