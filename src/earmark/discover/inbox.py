"""The inbox: candidates waiting for your verdict, and what a verdict does.

Every verdict is a rating of the candidate's catalog song (source ``inbox``). A liked one (like,
4-5 stars) moves from the staging folder into the library folder you choose, named from its
tags (``Artist - Title.ext``), keeping everything earmark knows about it; a disliked one
(dislike, 1-2 stars) is deleted, its rating and embedding kept so the taste model learns from
it; a skip or 3 stars is recorded and the candidate stays in the inbox. After a batch of
verdicts the taste model is retrained (:func:`retrain`), so the next crawl is steered by them.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from earmark.catalog import Catalog
from earmark.catalog import candidates as store
from earmark.catalog.candidates import Candidate
from earmark.catalog.ratings import add_rating, rating_label
from earmark.catalog.tracks import Track, move_track, tracks_by_id
from earmark.taste.model import NotEnoughRatings, TasteModel, train_taste
from earmark.types import Outcome


@dataclass(frozen=True)
class VerdictOutcome(Outcome):
    """What a verdict did with one candidate: ``path`` is where its file is now (``None``
    once deleted: then its address); ``status`` ``liked`` (moved into the library),
    ``disliked`` (deleted), ``kept`` (a skip or 3 stars: rated, still in the inbox) or
    ``failed`` (``reason`` says why; nothing changed)."""

    STATUSES: ClassVar[frozenset[str]] = frozenset({"liked", "disliked", "kept", "failed"})

    candidate: str = ""


def library_name(track: Track | None, candidate: Candidate) -> str:
    """The file name a liked candidate gets: ``Artist - Title.ext`` from its tags, else from
    what the site called it, else ``c12.ext``; characters no file system takes are replaced."""
    suffix = Path(candidate.file or "").suffix
    artist = (track.artist if track else None) or candidate.uploader
    title = (track.title if track else None) or candidate.title
    if title and suffix and title.lower().endswith(suffix.lower()):
        title = title[:-len(suffix)]  # a feed item titled "song.mp3" is not "song.mp3.mp3"
    stem = f"{artist} - {title}" if artist and title else title or candidate.ref
    stem = re.sub(r'[\x00-\x1f/\\:*?"<>|]', "_", stem).strip(" .") or candidate.ref
    return stem[:150] + suffix


def _free_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (2).ext``... when that is taken."""
    target = folder / name
    number = 2
    while target.exists():
        target = folder / f"{Path(name).stem} ({number}){Path(name).suffix}"
        number += 1
    return target


def judge(catalog: Catalog, ref: str, verdict: str | None, stars: int | None, *,
          into: str | Path | None = None) -> VerdictOutcome:
    """Give the inbox candidate ``ref`` (``c12`` or an address, see
    :func:`~earmark.catalog.candidates.find_candidate`; or a rejected one whose file
    ``discover --keep`` kept) a verdict (``like``,
    ``dislike``, ``skip`` and/or 1-5 stars, as :func:`~earmark.catalog.ratings.parse_rating`
    reads them). A liked one needs ``into``, the library folder it moves to (created if
    missing). Never raises for a candidate that cannot be judged: the outcome says why."""
    candidate = store.find_candidate(catalog, ref)
    if candidate is None:
        return VerdictOutcome(ref, "failed", "no such candidate (earmark inbox lists them)", ref)
    # A rejected candidate whose file --keep kept can still be judged: that is why it was kept.
    if candidate.status not in ("inbox", "rejected") or candidate.track_id is None \
            or not candidate.file:
        return VerdictOutcome(candidate.url, "failed",
                              f"not in the inbox (it is {candidate.status})", candidate.ref)
    label = rating_label(verdict, stars)
    if label == 1 and into is None:
        return VerdictOutcome(candidate.file, "failed", "a liked candidate moves into your "
                              "library: say where with --into DIR", candidate.ref)
    if not os.path.isfile(candidate.file):
        return VerdictOutcome(candidate.file, "failed", "its staged file is gone",
                              candidate.ref)
    track = tracks_by_id(catalog, [candidate.track_id]).get(candidate.track_id)
    path: str | None = candidate.file
    status = "kept"
    if label == 1:
        folder = Path(os.path.expanduser(into))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = _free_path(folder, library_name(track, candidate))
            shutil.move(candidate.file, target)
        except OSError as exc:
            return VerdictOutcome(candidate.file, "failed", f"cannot move it into {folder}: "
                                  f"{exc.strerror or exc}", candidate.ref)
        move_track(catalog, candidate.track_id, target)
        path, status = str(target), "liked"
    elif label == 0:
        Path(candidate.file).unlink(missing_ok=True)
        path, status = None, "disliked"
    add_rating(catalog, candidate.track_id, verdict, stars, source="inbox")
    if status != "kept":
        store.update_candidate(catalog, candidate.id, status=status, file=None,
                               decided_at=time.time())
    return VerdictOutcome(path or candidate.url, status, None, candidate.ref)


def retrain(catalog: Catalog) -> TasteModel | None:
    """Retrain (and save) the taste model on every rating, the new verdicts included, so the
    next crawl scores with it; ``None`` when the ratings cannot train one yet."""
    try:
        return train_taste(catalog)
    except NotEnoughRatings:
        return None
