"""Retraining the taste model without waiting for it, and how good each training was.

:class:`Retrainer` runs what ``earmark taste`` runs (embed the rated songs that lack an
embedding, then :func:`earmark.taste.model.train_taste`: train, cross-validate, save, record the
run, and score every song for the library's liking column) in a background thread, one training
at a time, with a :class:`RetrainStatus` a page polls.
:func:`quality_history` reads back the cross-validated quality of every training ever recorded
(``model_runs`` rows of kind ``taste``), oldest first: the points of a learning curve.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from earmark.catalog import Catalog
from earmark.catalog.lock import holder_name
from earmark.catalog.runs import load_runs
from earmark.catalog.stats import LibraryStats
from earmark.catalog.vectors import vector_table
from earmark.errors import EarmarkError
from earmark.taste.model import (
    DEFAULT_EMBEDDING,
    DEFAULT_HALF_LIFE_DAYS,
    taste_data,
    train_taste,
)
from earmark.taste.recommend import embed_missing

#: What a :class:`RetrainStatus` can say: nothing asked yet, under way, finished, or failed
#: (``reason`` says why: too few ratings, a catalog that cannot be opened...).
STATES = ("idle", "running", "done", "failed")


@dataclass(frozen=True)
class Quality:
    """The cross-validated quality of one training of the taste model.

    Attributes
    ----------
    trained_at : Unix time in seconds.
    n_ratings, n_liked, n_disliked : the like/dislike ratings it learnt from.
    folds : cross-validation folds; 0 or 1 when there were too few ratings to measure.
    roc_auc_mean, roc_auc_std, accuracy_mean, accuracy_std : over the folds, in [0, 1];
        ``None`` when not measurable (``note`` says why).
    """

    trained_at: float
    n_ratings: int
    n_liked: int
    n_disliked: int
    folds: int
    roc_auc_mean: float | None
    roc_auc_std: float | None
    accuracy_mean: float | None
    accuracy_std: float | None
    note: str | None = None

    @classmethod
    def from_info(cls, info: dict) -> Quality:
        """From a trained model's ``info`` (the metrics its run recorded): its ``cv`` and
        ``trained_at``."""
        cv = info.get("cv") or {}
        return cls(float(info.get("trained_at", 0.0)), int(cv.get("n_ratings", 0)),
                   int(cv.get("n_liked", 0)), int(cv.get("n_disliked", 0)),
                   int(cv.get("folds", 0)), cv.get("roc_auc_mean"), cv.get("roc_auc_std"),
                   cv.get("accuracy_mean"), cv.get("accuracy_std"), cv.get("note"))

    def to_dict(self) -> dict:
        return asdict(self)


def quality_history(catalog: Catalog) -> list[Quality]:
    """The quality of every taste model trained on this catalog (by ``earmark taste``,
    ``review``, ``recommend``, a page's Retrain button...), oldest first."""
    return [Quality.from_info({"trained_at": created_at, **metrics})
            for _, created_at, metrics in load_runs(catalog, "taste") if "cv" in metrics]


def stats_report(stats: LibraryStats, history: Sequence[Quality]) -> dict:
    """The library in numbers with the taste model's quality after each retrain, as one JSON
    object: what ``earmark stats --json`` prints and the web app's ``/api/stats`` answers
    (``{**stats.to_dict(), "taste_quality": [quality dicts, oldest first]}``)."""
    return {**stats.to_dict(), "taste_quality": [q.to_dict() for q in history]}


@dataclass(frozen=True)
class RetrainStatus:
    """Where a :class:`Retrainer` stands.

    Attributes
    ----------
    state : one of :data:`STATES`.
    step : what it is doing or did, in words (``embedding 3 of 12 rated songs``).
    started_at, finished_at : Unix times in seconds, ``None`` until then.
    quality : the new model's, once ``done``.
    reason : why it ``failed``, for a person.
    """

    state: str = "idle"
    step: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    quality: Quality | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready: the fields, ``quality`` as its own dict."""
        return {**asdict(self), "quality": None if self.quality is None else
                self.quality.to_dict()}


class Retrainer:
    """One background retraining of the taste model of the catalog at ``catalog_path`` at a
    time.

    Parameters
    ----------
    catalog_path : the catalog file; the thread opens its own connection (a connection
        serves one thread) and holds the writer lock while training, as ``earmark taste``
        does (a command writing meanwhile is waited for, and ``step`` says so).
    embedding_model : as :func:`~earmark.taste.model.train_taste` takes it; ratings are
        weighted with the default half-life, :data:`~earmark.taste.model.DEFAULT_HALF_LIFE_DAYS`.
    """

    def __init__(self, catalog_path: str | Path, *, embedding_model: str = DEFAULT_EMBEDDING):
        self.catalog_path = Path(catalog_path)
        self.embedding_model = embedding_model
        self._status = RetrainStatus()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def status(self) -> RetrainStatus:
        """The current status (a snapshot: it does not change afterwards)."""
        with self._guard:
            return self._status

    def start(self) -> RetrainStatus:
        """Start a retraining unless one is running already; the status either way."""
        with self._guard:
            if self._status.state == "running":
                return self._status
            self._status = RetrainStatus("running", "starting", started_at=time.time())
            self._thread = threading.Thread(target=self._run, name="earmark-retrain",
                                            daemon=True)
            self._thread.start()
            return self._status

    def wait(self, timeout: float | None = None) -> RetrainStatus:
        """Wait up to ``timeout`` seconds (``None``: until it ends) for the running training;
        the status then."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    def _step(self, step: str) -> None:
        with self._guard:
            self._status = replace(self._status, step=step)

    def _finish(self, **changes) -> None:
        with self._guard:
            self._status = replace(self._status, finished_at=time.time(), **changes)

    def _run(self) -> None:
        def waiting(pid: int | None) -> None:
            self._step(f"waiting: {holder_name(pid)} is writing to this catalog")

        def embedding(done: int, total: int, _path: str) -> None:
            self._step(f"embedding {done} of {total} rated songs")

        try:
            with Catalog(self.catalog_path, lock=True, on_wait=waiting) as catalog:
                self._step("embedding the rated songs that have no embedding yet")
                failed = embed_missing(catalog, None, self.embedding_model, embedding)
                self._step("reading the ratings")
                data = taste_data(catalog, self.embedding_model, DEFAULT_HALF_LIFE_DAYS)
                self._step(f"training on {int(data.labelled.sum())} ratings, "
                           "cross-validating and scoring the library")
                model = train_taste(catalog, self.embedding_model, DEFAULT_HALF_LIFE_DAYS,
                                    data=data)
                # The songs train_taste scored: the table it read, still kept in memory.
                scored = len(vector_table(catalog, self.embedding_model))
        except EarmarkError as exc:  # too few ratings, a catalog that cannot be opened...
            self._finish(state="failed", step="stopped", reason=str(exc))
            return
        except Exception as exc:  # noqa: BLE001  (a thread's error would vanish otherwise)
            self._finish(state="failed", step="stopped",
                         reason=f"unexpected error: {type(exc).__name__}: {exc}")
            return
        step = f"trained; {scored} songs scored" + (
            f"; {len(failed)} rated songs could not be embedded" if failed else "")
        self._finish(state="done", step=step, quality=Quality.from_info(model.info))
