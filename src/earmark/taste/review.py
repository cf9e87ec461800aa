"""A review session: propose -> answer -> retrain, the active-learning loop of ``earmark
review`` as a library object any face drives the same way.

:class:`ReviewSession` proposes a round of unrated songs (chosen by
:func:`earmark.taste.recommend.songs_to_review`), stores each answer as a rating and retrains
the taste model after a round with answers. A web request can call :meth:`~ReviewSession.propose`,
:meth:`~ReviewSession.answer` and :meth:`~ReviewSession.retrain` itself; a loop that takes its
answers from an :class:`AnswerSource` (a file of answers, :class:`FileAnswers`, or a person at a
terminal) is :func:`run_review`, which yields what happened for the face to show.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from earmark.catalog import Catalog, ratings, tracks
from earmark.catalog.embeddings import missing_embeddings
from earmark.catalog.tracks import Track
from earmark.errors import EarmarkError
from earmark.taste.model import (
    DEFAULT_EMBEDDING,
    DEFAULT_HALF_LIFE_DAYS,
    NotEnoughRatings,
    TasteData,
    TasteModel,
    review_taste,
    taste_data,
    train_taste,
)
from earmark.taste.ratings_io import read_answers
from earmark.taste.recommend import songs_to_review
from earmark.types import Outcome

#: The answer that ends a review (a person pressing q): not a rating.
QUIT = "quit"


@dataclass(frozen=True)
class Proposal:
    """One song to rate: its catalog row, earmark's guess before the answer (P(like) 0..1, or
    ``None`` at cold start), and where it stands: song ``position`` of ``of`` in round
    ``round``."""

    track: Track
    p_like: float | None
    round: int
    position: int
    of: int


@dataclass(frozen=True)
class Round:
    """A round of proposals. ``cold_start``: no model yet, so the songs were chosen for
    variety alone; an empty round means no unrated song with an embedding is left."""

    number: int
    proposals: list[Proposal]
    cold_start: bool
    strategy: str


@dataclass(frozen=True)
class Answer:
    """An answer stored as a rating (``verdict`` like/dislike/skip or ``stars`` 1-5)."""

    proposal: Proposal
    answer: str
    verdict: str | None
    stars: int | None

    def to_dict(self) -> dict:
        """The JSON fields ``earmark review --json`` prints per answer."""
        return {"path": self.proposal.track.path, "round": self.proposal.round,
                "answer": self.answer, "verdict": self.verdict, "stars": self.stars,
                "p_like_before": self.proposal.p_like}


@dataclass(frozen=True)
class Retrained:
    """The taste model trained after a round, or ``None`` with ``reason`` (too few ratings,
    or one kind only)."""

    model: TasteModel | None
    reason: str | None = None


class ReviewSession:
    """The songs that teach the taste model most, a round at a time, and what was learnt.

    ``batch``: songs per round; ``strategy``: one of :data:`earmark.taste.active.STRATEGIES`;
    ``folder``: only songs under it; ``half_life_days``: rating decay (``None``: none);
    ``seed``: of random choices; ``embedding_model``: whose embeddings the model uses. Answers
    are stored as ratings with source ``review`` as they come, so a session that stops half-way
    keeps them.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        batch: int = 10,
        strategy: str = "mixed",
        folder: str | Path | None = None,
        half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
        seed: int | None = None,
        embedding_model: str = DEFAULT_EMBEDDING,
    ):
        self.catalog = catalog
        self.batch = batch
        self.strategy = strategy
        self.folder = folder
        self.half_life_days = half_life_days
        self.seed = seed
        self.embedding_model = embedding_model
        self.rounds = 0
        self.rated = 0
        self._rated_since_training = 0
        self._passed: set[int] = set()
        # The ratings read for a round, and the model fitted on them, serve the next round
        # too unless the ratings changed meanwhile (in another process: the session itself
        # retrains right away).
        self._data: TasteData | None = None
        self._taste: TasteModel | None = None

    def propose(self) -> Round:
        """The next round: up to ``batch`` unrated songs, never one answered or passed over
        in this session. Its proposals are empty when none is left."""
        fingerprint = ratings.ratings_fingerprint(self.catalog, self.embedding_model)
        if self._data is None or self._data.fingerprint != fingerprint:
            self._data = taste_data(self.catalog, self.embedding_model, self.half_life_days)
            self._taste = None
        if self._taste is None:
            self._taste = review_taste(self.catalog, self.embedding_model,
                                       self.half_life_days, self._data)
        picks = songs_to_review(self.catalog, self._taste, self.batch, self.strategy,
                                self.folder, self.embedding_model, self.seed, self._passed,
                                self._data.X)
        self.rounds += 1
        proposals = [Proposal(track, p_like, self.rounds, position, len(picks))
                     for position, (track, p_like) in enumerate(picks, start=1)]
        return Round(self.rounds, proposals, self._taste is None, self.strategy)

    def answer(self, proposal: Proposal, answer: str) -> Answer:
        """Store ``answer`` (like, dislike, skip, 1-5; see
        :func:`earmark.catalog.ratings.parse_rating`) as the song's rating. Raises
        ``ValueError`` for anything else."""
        verdict, stars = ratings.parse_rating(answer)
        ratings.add_rating(self.catalog, proposal.track.id, verdict, stars, source="review")
        self.rated += 1
        self._rated_since_training += 1
        return Answer(proposal, answer, verdict, stars)

    def pass_over(self, proposal: Proposal) -> None:
        """Leave a song unanswered: it is not proposed again in this session."""
        self._passed.add(proposal.track.id)

    def retrain(self) -> Retrained | None:
        """Train the taste model on the current ratings (saved and recorded as ``earmark
        taste`` does); ``None`` when nothing was answered since the last training."""
        if not self._rated_since_training:
            return None
        self._rated_since_training = 0
        self._data = taste_data(self.catalog, self.embedding_model, self.half_life_days)
        try:
            self._taste = train_taste(self.catalog, self.embedding_model, self.half_life_days,
                                      data=self._data)
        except NotEnoughRatings as exc:
            self._taste = None
            return Retrained(None, str(exc))
        return Retrained(self._taste)


class AnswerSource(Protocol):
    """Where :func:`run_review` gets answers: a file, a person at a terminal, a test."""

    def answer(self, proposal: Proposal) -> str | None:
        """A rating for the proposed song, ``None`` to leave it unanswered, or :data:`QUIT`
        to end the review."""

    def another_round(self, session: ReviewSession) -> bool:
        """Whether to go on after a round."""


@dataclass(frozen=True)
class UnusedAnswer(Outcome):
    """An answer of a file that rated no song: ``path`` the song it names (or the answers file,
    for answers given in order), ``reason`` why it was not used. ``status`` is ``unusable``
    (the song cannot be proposed: not in the catalog, rated before ...) or ``not proposed``
    (the review stopped, or ran out of songs, before the answer's turn)."""

    STATUSES: ClassVar[frozenset[str]] = frozenset({"unusable", "not proposed"})


class FileAnswers:
    """Answers read from a file (see :func:`earmark.taste.ratings_io.read_answers`): by path
    when the file names the song, else the next answer in order. Ends the review once no
    answer can be used any more; :meth:`unused` says which answers were left and why. Raises
    :class:`~earmark.errors.EarmarkError` for a bad file or one without answers."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.by_path, self.in_order = read_answers(path)
        if not self.by_path and not self.in_order:
            raise EarmarkError(f"{path} holds no answers (lines 'path,answer', or one answer "
                               "per line for the songs in the order they are proposed)")
        self._used: set[str] = set()

    def answer(self, proposal: Proposal) -> str | None:
        found = self.by_path.get(proposal.track.path)
        if found is not None:
            self._used.add(proposal.track.path)
        elif self.in_order:
            found = self.in_order.pop(0)
        return found

    def another_round(self, session: ReviewSession) -> bool:
        return bool(self.in_order) or any(
            reason is None for reason in self._left_over(session).values())

    def unused(self, session: ReviewSession) -> list[UnusedAnswer]:
        """The answers that rated nothing in ``session``, each with why: the song is not in
        the catalog, not playable, outside the session's folder, was rated before, has no
        embedding, or was not proposed before the review stopped."""
        out = []
        for path, reason in self._left_over(session).items():
            out.append(UnusedAnswer(path, "unusable", reason) if reason else UnusedAnswer(
                path, "not proposed", f"not proposed in the {session.rounds} round(s) of this "
                "review (it stopped first; run it again, or without --rounds)"))
        if self.in_order:
            out.append(UnusedAnswer(self.path, "not proposed", (
                f"{len(self.in_order)} answer(s) given in order were left over: no more songs "
                "were proposed")))
        return out

    def _left_over(self, session: ReviewSession) -> dict[str, str | None]:
        """``{path: why it cannot be proposed}`` of each by-path answer not used yet; the
        reason is ``None`` while the song may still be proposed."""
        waiting = [p for p in self.by_path if p not in self._used]
        if not waiting:
            return {}
        catalog = session.catalog
        rated = ratings.current_ratings(catalog, include_skips=True)
        stale = set(missing_embeddings(catalog, session.embedding_model))
        inside = None if session.folder is None else {
            t.id for t in tracks.iter_tracks(catalog, None, session.folder)}
        reasons: dict[str, str | None] = {}
        for path in waiting:
            track = tracks.get_track(catalog, path)
            if track is None:
                reasons[path] = "not in the catalog (earmark scan adds it)"
            elif track.status != "ok":
                reasons[path] = f"not playable: {track.error}"
            elif inside is not None and track.id not in inside:
                reasons[path] = f"not under {session.folder} (--from)"
            elif track.id in rated:
                reasons[path] = f"already rated ({rated[track.id].describe()}) before this review"
            elif track.id in stale:
                reasons[path] = "it has no embedding (it could not be analysed)"
            else:
                reasons[path] = None
        return reasons


def nothing_to_review(catalog: Catalog, folder: str | Path | None = None,
                      model: str = DEFAULT_EMBEDDING) -> str:
    """Why a review finds no song to propose, in words: the catalog (or ``folder``) holds no
    playable song, every song is rated already, or the unrated ones have no embedding."""
    where = f"under {folder}" if folder is not None else "in the catalog"
    playable = [t.id for t in tracks.iter_tracks(catalog, "ok", folder)]
    if not playable:
        return (f"no playable songs {where}: earmark scan FOLDER adds them"
                if folder is None else f"no playable songs {where}")
    rated = ratings.current_ratings(catalog, include_skips=True)
    unrated = [i for i in playable if i not in rated]
    if not unrated:
        return f"all {len(playable)} songs {where} are rated (or skipped) already"
    return (f"none of the {len(unrated)} unrated songs {where} has a {model} embedding "
            "(they could not be analysed)")


def run_review(session: ReviewSession, source: AnswerSource, rounds: int | None = None
               ) -> Iterator[Round | Answer | Retrained]:
    """Drive ``session`` with answers from ``source`` for at most ``rounds`` rounds (``None``:
    until the source stops or no song is left); yields each :class:`Round` before its songs
    are asked about, each :class:`Answer` once stored and a :class:`Retrained` after a round
    with answers. A round with no proposals is the last."""
    while rounds is None or session.rounds < rounds:
        current = session.propose()
        yield current
        if not current.proposals:
            return
        quit_now = False
        for proposal in current.proposals:
            reply = source.answer(proposal)
            if reply == QUIT:
                quit_now = True
                break
            if reply is None:
                session.pass_over(proposal)
            else:
                yield session.answer(proposal, reply)
        retrained = session.retrain()
        if retrained is not None:
            yield retrained
        if quit_now or not source.another_round(session):
            return
