"""The review session as a library service (propose -> answer -> retrain), driven the way a
web request or a worker would: no CLI, real MSD_musicnn embeddings of real GTZAN excerpts, a
real catalog."""

from __future__ import annotations

import json

import pytest

from earmark.catalog import ratings
from earmark.catalog.tracks import get_track
from earmark.taste.review import (
    QUIT,
    Answer,
    FileAnswers,
    Retrained,
    ReviewSession,
    Round,
    run_review,
)
from taste_builders import genre_verdict


class Listener:
    """A real :class:`~earmark.taste.review.AnswerSource`: a listener who likes jazz and
    classical, answers ``limit`` songs, then quits (as a person pressing q)."""

    def __init__(self, excerpts: dict, limit: int):
        self.excerpts, self.limit, self.asked = excerpts, limit, []

    def answer(self, proposal):
        if len(self.asked) == self.limit:
            return QUIT
        self.asked.append(proposal.track.path)
        return genre_verdict(self.excerpts, proposal.track.path)

    def another_round(self, session):
        return True


@pytest.mark.slow
def test_session_proposes_answers_and_retrains_from_cold_start(embedded_catalog,
                                                               excerpt_embeddings):
    session = ReviewSession(embedded_catalog, batch=3, seed=0)
    assert session.retrain() is None  # nothing answered yet
    first = session.propose()
    assert (first.number, first.cold_start, first.strategy) == (1, True, "mixed")
    assert [(p.position, p.of, p.round) for p in first.proposals] == [(1, 3, 1), (2, 3, 1),
                                                                      (3, 3, 1)]
    assert all(p.p_like is None for p in first.proposals)  # no model: variety alone
    for proposal in first.proposals:
        answer = session.answer(proposal, genre_verdict(excerpt_embeddings,
                                                        proposal.track.path))
        assert answer.to_dict()["p_like_before"] is None
    too_few = session.retrain()
    assert too_few.model is None and "at least 5" in too_few.reason

    second = session.propose()
    seen = {p.track.path for p in first.proposals}
    assert not seen & {p.track.path for p in second.proposals}  # rated songs stay out
    for proposal in second.proposals:
        session.answer(proposal, genre_verdict(excerpt_embeddings, proposal.track.path))
    trained = session.retrain()
    assert trained.model is not None and trained.model.info["cv"]["n_ratings"] == 6
    runs = embedded_catalog.execute("SELECT metrics FROM model_runs WHERE kind = 'taste'")
    assert json.loads(runs.fetchall()[-1][0])["cv"]["n_ratings"] == 6

    third = session.propose()
    assert not third.cold_start and len(third.proposals) == 3
    assert all(0.0 <= p.p_like <= 1.0 for p in third.proposals)
    assert session.rated == 6 and session.rounds == 3
    history = ratings.rating_history(embedded_catalog)
    assert {r.source for r in history} == {"review"} and len(history) == 6


@pytest.mark.slow
def test_passed_over_bad_and_outside_answers(embedded_catalog, excerpt_embeddings):
    session = ReviewSession(embedded_catalog, batch=10, strategy="random", seed=1)
    everything = session.propose().proposals
    assert len(everything) == 10
    session.pass_over(everything[0])
    with pytest.raises(ValueError, match="not a rating"):
        session.answer(everything[1], "maybe")
    assert ratings.rating_history(embedded_catalog) == []
    # A rating made elsewhere (another process) between rounds is seen by the next round.
    other = get_track(embedded_catalog, everything[2].track.path)
    ratings.add_rating(embedded_catalog, other.id, "like")
    left = {p.track.path for p in session.propose().proposals}
    assert left == {p.track.path for p in everything[3:]} | {everything[1].track.path}
    assert session.rated == 0


@pytest.mark.slow
def test_file_answers_and_a_listener_drive_the_same_session(embedded_catalog,
                                                             excerpt_embeddings, tmp_path):
    answers = tmp_path / "answers.txt"
    answers.write_text("like\ndislike\n", encoding="utf-8")
    session = ReviewSession(embedded_catalog, batch=3, strategy="random", seed=2)
    events = list(run_review(session, FileAnswers(answers)))
    # One round: two answers from the file, the third song left unanswered, a retrain that
    # says why there is no model yet; then the file is used up and the review ends.
    assert [type(e) for e in events] == [Round, Answer, Answer, Retrained]
    assert [e.verdict for e in events[1:3]] == ["like", "dislike"]
    assert events[3].model is None
    passed = events[0].proposals[2].track.path

    listener = Listener(excerpt_embeddings, limit=4)
    events = list(run_review(session, listener, rounds=4))
    rounds = [e for e in events if isinstance(e, Round)]
    assert [r.number for r in rounds] == [2, 3]  # stopped by QUIT in round 3, not by rounds
    assert passed not in listener.asked  # passed over for the rest of the session
    assert [type(e) for e in events[-2:]] == [Answer, Retrained]
    assert events[-1].model is not None  # 6 ratings of both kinds
    assert session.rated == 6


@pytest.mark.slow
def test_file_answers_by_path_end_the_review_once_all_are_given(embedded_catalog,
                                                               excerpt_embeddings, tmp_path):
    chosen = [str(p) for p in excerpt_embeddings["files"][:4]]
    answers = tmp_path / "answers.csv"
    answers.write_text("path,answer\n" + "".join(
        f"{p},{genre_verdict(excerpt_embeddings, p)}\n" for p in chosen), encoding="utf-8")
    session = ReviewSession(embedded_catalog, batch=5, strategy="random", seed=3)
    events = list(run_review(session, FileAnswers(answers)))
    answered = [e.proposal.track.path for e in events if isinstance(e, Answer)]
    assert sorted(answered) == sorted(chosen)  # however many rounds it took to meet them
    assert session.rated == 4


@pytest.mark.slow
def test_a_review_ends_when_no_song_is_left(embedded_catalog, excerpt_embeddings):
    session = ReviewSession(embedded_catalog, batch=10, seed=0)
    events = list(run_review(session, Listener(excerpt_embeddings, limit=100)))
    assert isinstance(events[-1], Round) and events[-1].proposals == []
    assert session.rated == 10
