"""Learn the library's own genres from the genres its songs already carry, and fill in the rest.

The training data are the catalog's songs that carry genre tags (every value of every tag block,
as :func:`earmark.tags.read.read_tags` found them at the last scan) and the songs labelled for
task ``genre`` (``earmark dataset import`` folders and ``earmark label``, dataset
:data:`USER_LABELS`); a song's genres are the union of both. Names are normalised through the
vocabulary given (aliases and canonical spellings, as :mod:`earmark.tagging.policy` reads them:
a parameter, since tagging sits above this layer), and spellings that differ only in case,
spaces or punctuation (``Hip Hop``, ``Hip-Hop``, ``hiphop``) are one genre. Genres earmark
itself wrote into a file (the tag journal says so) are not learned from.

An :class:`~earmark.models.heads.EmbeddingHead` on the songs' MSD musicnn embeddings is
cross-validated with folds grouped by album and artist (songs sharing either never straddle a
fold), which gives each genre's precision and recall at the confidence the tagger writes. The
head is single-label (softmax) when every song has exactly one genre, multi-label otherwise:
one genre a song is the common case, and a softmax ranks genres against each other where
independent sigmoids each have to clear the bar alone. A single-label head on small genres
(median under :data:`SMALL_GENRE_SONGS` songs) is a nearest-centroid (prototype) classifier,
a logistic regression otherwise: with four songs a genre the centroids filled 0.88 of
held-out songs right against 0.855 for the logistic head (``bench/bench_genre_learn.py``,
seeds 10-19), and its fixed temperature keeps the right top genres of the cross-validation over
the write threshold (:data:`~earmark.models.heads.CENTROID_TEMPERATURE`). A genre with fewer than
``min_examples`` songs, or without songs lacking it, is left out; so is one whose
cross-validated F1 is below ``min_f1``, when it has at least :data:`MIN_CV_SONGS` songs (with
fewer, each fold tests one or two of them and one song moves the F1 by 0.3, so the floor
would drop learnable genres at random). The report says why. The head is then
fitted on every example with the genres kept, and its genres for the other songs are stored in
the catalog's predictions table under :data:`LEARNED_MODEL` (kind ``genres``:
``[[genre, confidence], ...]``, most confident first, as
:class:`earmark.tagging.sources.StoredPredictions` reads them; kind ``reason``: the text
"learned from your tags: 412 songs", for the per-file reason a face shows).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from earmark.analysis.predict import estimator_output
from earmark.catalog import Catalog, journal, tracks
from earmark.catalog.embeddings import load_embeddings
from earmark.catalog.labels import add_label, dataset_labels, load_labelled, remove_label
from earmark.catalog.predictions import store_predictions
from earmark.data import LabelledSet, group_keys
from earmark.data.splits import stratify_labels
from earmark.engine import Engine
from earmark.errors import EarmarkError
from earmark.ingest.scan import FOLDER_LOOP, add_file, find_audio_files, scan
from earmark.learn.evaluate import counted_scores
from earmark.learn.train import (
    cross_validate,
    default_inputs,
    ensure_embeddings,
    fit_estimator,
    make_estimator,
)
from earmark.models.registry import LEARNED
from earmark.types import Outcome, Stages, no_progress

#: The model name the learned genres are stored under (``earmark tag --model learned``).
LEARNED_MODEL = LEARNED
#: The labels dataset of genres given with ``earmark label``.
USER_LABELS = "user"
#: Fewer songs than this with a genre: it is not learned.
MIN_EXAMPLES = 5
#: A genre whose cross-validated F1 (at the write threshold) is below this is not predicted
#: (when it has :data:`MIN_CV_SONGS` songs or more).
MIN_F1 = 0.5
#: Genres with fewer songs are not held to :data:`MIN_F1` (see the module docstring).
MIN_CV_SONGS = 10
#: The confidence at which precision and recall are measured: ``earmark tag``'s default bar.
THRESHOLD = 0.3
#: What the caveat of :func:`noisy_scores` means, for a face to print once below the scores.
NOISY_SCORES = (f"noisy: a genre with fewer than {MIN_CV_SONGS} songs has one or two of them "
                "in each cross-validation fold, and one song right or wrong moves its recall "
                "by 1/songs (0.2 at 5 songs)")
#: Cross-validation folds (fewer when there are fewer album/artist groups).
FOLDS = 5
#: A single-label head whose genres have a median song count below this is a nearest-centroid
#: head (``classifier="centroid"``), which a few songs a class describe better than the
#: weights of a logistic regression; measured at 4 songs a genre (module docstring).
SMALL_GENRE_SONGS = 20

_NOT_ALNUM = re.compile(r"[\W_]+")


def genre_key(name: str) -> str:
    """What makes two spellings one genre: case, spaces and punctuation ignored
    (``"Hip Hop"``, ``"hip-hop"`` and ``"HipHop"`` -> ``"hiphop"``; ``"R&B"`` -> ``"rb"``)."""
    return _NOT_ALNUM.sub("", name.casefold())


def normalise_genres(
    songs: Mapping[int, Sequence[str]], aliases: Mapping[str, str] | None = None,
    canonical: Sequence[str] = (), parents: Mapping[str, str] | None = None,
) -> dict[int, list[str]]:
    """Each song's genres in one spelling per genre.

    Parameters
    ----------
    songs : song id -> genre values as found (any spelling; empty values are dropped).
    aliases : lower-case name -> canonical name (the vocabulary file's ``aliases``); matched
        by :func:`genre_key`, so ``"Hip_Hop"`` finds the alias ``"hip hop"``.
    canonical : names in their canonical spelling. A genre outside it keeps the library's
        most common spelling (ties: the first in sort order).
    parents : the genre tree, genre -> parent genre (the vocabulary file's ``parents``): a
        song of a genre is also a song of its ancestors (``Heavy Metal`` teaches ``Metal``).

    Returns
    -------
    dict
        Song id -> its genres, each once, in the order first found, each followed by its
        ancestors.
    """
    by_key = {genre_key(k): v for k, v in (aliases or {}).items()}
    spelled = {genre_key(c): c for c in canonical}
    up = {genre_key(child): parent for child, parent in (parents or {}).items() if parent}
    resolved: dict[int, list[str]] = {}
    seen: dict[str, Counter] = {}
    for song, values in songs.items():
        keys: list[str] = []
        for value in values:
            name = by_key.get(genre_key(value), value.strip())
            while name and genre_key(name) not in keys:
                keys.append(genre_key(name))
                seen.setdefault(genre_key(name), Counter())[name] += 1
                name = up.get(genre_key(name))
        resolved[song] = keys
    spelling = {key: spelled.get(key) or min(counts, key=lambda s: (-counts[s], s))
                for key, counts in seen.items()}
    return {song: [spelling[k] for k in keys] for song, keys in resolved.items()}


@dataclass(frozen=True)
class GenreScore:
    """One genre found in the library: ``songs`` carrying it; cross-validated ``precision``,
    ``recall`` and ``f1`` at the write threshold (``None`` when it was not cross-validated);
    ``learned``, or left out for ``reason``; ``caveat``: why the scores are not to be trusted
    (``"noisy: 4 songs"`` when it has fewer than :data:`MIN_CV_SONGS` songs), else
    ``None``."""

    genre: str
    songs: int
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    learned: bool = False
    reason: str | None = None
    caveat: str | None = None


@dataclass
class LearnReport:
    """What :func:`learn_genres` learned.

    ``songs``: songs learned from (with an embedding); ``from_tags`` / ``from_labels``: how
    many of them carry genre tags / labels (a song may have both). ``genres``: every genre
    found, learned or not, most songs first. ``predicted``: track ids given learned genres;
    ``failed``: ``(path, reason)`` of songs that could not be listened to. ``folds``, ``seed``,
    ``threshold``, ``min_examples``, ``min_f1``: how it was measured and decided.
    """

    songs: int
    from_tags: int
    from_labels: int
    genres: list[GenreScore]
    predicted: list[int] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    folds: int = 0
    seed: int = 0
    threshold: float = THRESHOLD
    min_examples: int = MIN_EXAMPLES
    min_f1: float = MIN_F1

    @property
    def learned(self) -> list[str]:
        """The genres predicted."""
        return [g.genre for g in self.genres if g.learned]

    @property
    def left_out(self) -> list[GenreScore]:
        """The genres not predicted, each with its reason."""
        return [g for g in self.genres if not g.learned]

    @property
    def reason(self) -> str:
        """Where a learned genre comes from, in words: ``learned from your tags: 412 songs``
        (``your labels``, ``your tags and labels``)."""
        sources = " and ".join(name for name, n in (("tags", self.from_tags),
                                                    ("labels", self.from_labels)) if n)
        return f"learned from your {sources or 'tags'}: {self.songs} songs"

    def to_dict(self) -> dict:
        """JSON-ready: every field, plus ``reason`` and ``learned``."""
        out = asdict(self)
        out["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        return out | {"reason": self.reason, "learned": self.learned}


def _written_by_earmark(catalog: Catalog) -> dict[int, set[str]]:
    """Track id -> genre keys of values earmark wrote into a file that had none (journal rows
    not undone): a file's own genre is the user's, a filled one is only earmark's guess."""
    written: dict[int, set[str]] = {}
    for entry in journal.entries(catalog):
        if entry.track_id is not None and not entry.old and entry.new:
            written.setdefault(entry.track_id, set()).update(genre_key(v) for v in entry.new)
    return written


def _tagged_genres(catalog: Catalog) -> dict[int, list[str]]:
    """Track id -> genre values of every playable song that carries some of its own."""
    written = _written_by_earmark(catalog)
    songs = {}
    for track in tracks.iter_tracks(catalog):
        values = track.tags.get("genres") or []
        own = [v for v in values if genre_key(v) not in written.get(track.id, set())]
        if own:
            songs[track.id] = own
    return songs


def _album_artist_groups(found: dict[int, tracks.Track]) -> dict[int, str | None]:
    """Track id -> a grouping key shared by every song linked to it through a common artist
    or album (a compilation joins its artists), or ``None`` for a song with neither (the
    splits then group it by its file name, see :func:`earmark.data.group_keys`)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    links = {}
    for track_id, track in found.items():
        nodes = [f"{kind}:{value.strip().casefold()}" for kind, value in
                 (("artist", track.artist), ("album", track.album)) if value and value.strip()]
        for node in nodes[1:]:
            parent[root(node)] = root(nodes[0])
        links[track_id] = nodes[0] if nodes else None
    return {track_id: root(node) if node else None for track_id, node in links.items()}


def library_examples(
    catalog: Catalog, aliases: Mapping[str, str] | None = None, canonical: Sequence[str] = (),
    parents: Mapping[str, str] | None = None,
) -> tuple[LabelledSet, set[int], set[int]]:
    """The catalog's songs with genres, as a multi-label set: ``(data, tagged, labelled)``.
    ``data.artists`` holds each song's album/artist group (see the module docstring);
    ``tagged`` / ``labelled`` are the ids of the songs with genre tags / labels."""
    tagged = _tagged_genres(catalog)
    labelled = load_labelled(catalog, "genre", kind="multi")
    labels = dict(zip(labelled.track_ids, labelled.targets, strict=True))
    ids = sorted(set(tagged) | set(labels))
    genres = normalise_genres({i: [*tagged.get(i, []), *labels.get(i, [])] for i in ids},
                              aliases, canonical, parents)
    found = tracks.tracks_by_id(catalog, ids)
    ids = [i for i in ids if i in found and genres[i]]
    groups = _album_artist_groups({i: found[i] for i in ids})
    data = LabelledSet(
        track_ids=ids, paths=[found[i].path for i in ids], targets=[genres[i] for i in ids],
        kind="multi", classes=sorted({g for i in ids for g in genres[i]}),
        artists=[groups[i] for i in ids], splits=[None] * len(ids), task="genre")
    return data, set(tagged), set(labels)


@contextmanager
def _rare_genres_expected() -> Iterator[None]:
    """Silence scikit-learn's warning that a class has fewer songs than folds: expected here
    (five songs teach a genre), and it would only alarm the user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        yield


def _head_params(data: LabelledSet) -> dict[str, str]:
    """The head's hyper-parameters for ``data``: nearest centroids for a single-label set of
    small genres (see :data:`SMALL_GENRE_SONGS`), the default logistic head otherwise."""
    if data.kind != "single":
        return {}
    songs = np.median(_multi(data).y().sum(axis=0))
    return {"classifier": "centroid"} if songs < SMALL_GENRE_SONGS else {}


def _cross_validated(X: np.ndarray, data: LabelledSet, folds: int, seed: int,
                     threshold: float) -> tuple[int, dict[str, tuple[float, float, float]]]:
    """``(folds used, {genre: (precision, recall, f1)})`` of out-of-fold outputs at
    ``threshold`` (single-label: the top genre only, as it is written); no scores when the
    songs form fewer than two groups."""
    n_groups = len(set(group_keys(data.paths, data.artists)))
    # Stratified folds need a stratum (a song's rarest genre) with a song for each fold.
    _, per_stratum = np.unique(stratify_labels(data.y(), data.kind), return_counts=True)
    n_splits = min(folds, n_groups, int(per_stratum.max()))
    if n_splits < 2:
        return 0, {}
    with _rare_genres_expected():
        output = cross_validate(X, data, "head", n_splits=n_splits, seed=seed,
                                hyper=_head_params(data)).output
    y = _multi(data).y().astype(bool)
    output = output[:, : y.shape[1]]
    if data.kind == "single":
        output = np.where(output == output.max(axis=1, keepdims=True), output, 0.0)
    predicted = output >= threshold
    per_genre = counted_scores((predicted & y).sum(axis=0), predicted.sum(axis=0),
                               y.sum(axis=0))
    return n_splits, {genre: (float(per_genre["precision"][j]), float(per_genre["recall"][j]),
                              float(per_genre["f1"][j]))
                      for j, genre in enumerate(data.classes)}


def _only_classes(data: LabelledSet, keep: list[str]) -> LabelledSet:
    """``data`` with its genres limited to ``keep`` (songs without one stay, as negatives):
    single-label when every song then has exactly one genre, else multi-label."""
    wanted = set(keep)
    targets = [[g for g in t if g in wanted] for t in data.targets]
    kind = "single" if all(len(t) == 1 for t in targets) else "multi"
    return replace(data, targets=targets, kind=kind, classes=sorted(wanted))


def _multi(data: LabelledSet) -> LabelledSet:
    """``data`` as a multi-label set (0/1 columns whatever its kind)."""
    return replace(data, kind="multi")


def noisy_scores(songs: int) -> str | None:
    """The caveat for cross-validated scores of a genre with ``songs`` songs: under
    :data:`MIN_CV_SONGS` (``"noisy: 4 songs"``, explained by :data:`NOISY_SCORES`),
    else ``None``."""
    return f"noisy: {songs} songs" if songs < MIN_CV_SONGS else None


def fit_library_genres(
    X: np.ndarray, data: LabelledSet, *, min_examples: int = MIN_EXAMPLES,
    min_f1: float = MIN_F1, threshold: float = THRESHOLD, folds: int = FOLDS, seed: int = 0,
) -> tuple[object | None, list[GenreScore], int]:
    """Decide which genres of ``data`` can be learned and fit the head on them.

    Parameters
    ----------
    X : song embeddings ``(n, dim)``, rows in the order of ``data`` (multi-label).
    min_examples, min_f1, threshold, folds, seed : see :func:`learn_genres`.

    Returns
    -------
    (estimator, scores, folds)
        The fitted head (single-label when each song has one learned genre, else
        multi-label; nearest centroids for small single-label genres; see the module
        docstring) whose columns are the learned genres in sorted
        order
        (``None`` when no genre could be learned), a :class:`GenreScore` per genre of
        ``data`` (most songs first) and the number of folds cross-validated.
    """
    counts = dict(zip(data.classes, _multi(data).y().sum(axis=0).tolist(), strict=True))
    reasons = {}
    for genre, n in counts.items():
        if n < min_examples:
            reasons[genre] = f"only {n} song{'s' * (n != 1)} (at least {min_examples} needed)"
        elif n == len(data):
            reasons[genre] = "every song learned from has it: nothing to tell it apart from"
    candidates = [g for g in data.classes if g not in reasons]
    n_folds, cv = (0, {})
    if candidates:
        n_folds, cv = _cross_validated(X, _only_classes(data, candidates), folds, seed,
                                       threshold)
        if not n_folds:
            reasons |= {g: "the songs with genres form fewer than 2 album/artist groups: "
                           "nothing to cross-validate on" for g in candidates}
    for genre, (_, _, f1) in cv.items():
        if f1 < min_f1 and counts[genre] >= MIN_CV_SONGS:
            reasons[genre] = f"cross-validated F1 {f1:.2f} is below the floor {min_f1:.2f}"
    keep = [g for g in candidates if g not in reasons]
    scores = [GenreScore(g, int(counts[g]), *cv.get(g, (None, None, None)),
                         learned=g in keep, reason=reasons.get(g),
                         caveat=noisy_scores(int(counts[g])) if g in cv else None)
              for g in sorted(data.classes, key=lambda g: (-counts[g], g))]
    if not keep:
        return None, scores, n_folds
    kept = _only_classes(data, keep)
    estimator = make_estimator("head", kept.kind, seed, **_head_params(kept))
    with _rare_genres_expected():
        fit_estimator(estimator, X, kept.y(), group_keys(kept.paths, kept.artists), len(keep))
    return estimator, scores, n_folds


def predict_genres(estimator, genres: list[str], X: np.ndarray) -> list[list[list]]:
    """Per song of ``X`` ``(n, dim)``: ``[[genre, confidence 0..1], ...]``, most confident
    first (the payload :class:`earmark.tagging.sources.StoredPredictions` reads)."""
    output = estimator_output(estimator, estimator.kind, X)
    return [[[genres[j], round(float(row[j]), 5)] for j in np.argsort(-row)] for row in output]


def learn_genres(
    catalog: Catalog, paths: Sequence[str | Path] | None = None, *,
    aliases: Mapping[str, str] | None = None, canonical: Sequence[str] = (),
    parents: Mapping[str, str] | None = None, min_examples: int = MIN_EXAMPLES,
    min_f1: float = MIN_F1, threshold: float = THRESHOLD, folds: int = FOLDS, seed: int = 0,
    stages: Stages = no_progress, engine: Engine | None = None,
) -> LearnReport:
    """Learn the catalog's genres and store predictions for the songs without any.

    Parameters
    ----------
    paths : music files or folders to fill (scanned first, so their tags count); ``None``:
        every song in the catalog. The training data are always the whole catalog's.
    aliases, canonical, parents : the genre vocabulary (see :func:`normalise_genres`).
    min_examples : a genre needs at least this many songs.
    min_f1 : a genre (of at least :data:`MIN_CV_SONGS` songs) whose cross-validated F1 at
        ``threshold`` is lower is not predicted.
    threshold : the confidence (0..1) at which precision and recall are measured.
    folds : cross-validation folds (at most the number of album/artist groups).
    seed : seeds the folds and the head.
    stages : progress per stage (``reading files``, ``listening``, ``learning``).

    Returns
    -------
    LearnReport
        Predictions are stored (see the module docstring) for :attr:`LearnReport.predicted`.

    Raises
    ------
    EarmarkError
        When no song in the catalog carries a genre (tag or label).
    """
    if paths is not None:
        with stages("reading files") as progress:
            scan(catalog, paths, verify=False, engine=engine, progress=progress)
    data, tagged, labelled = library_examples(catalog, aliases, canonical, parents)
    if not len(data):
        raise EarmarkError("no song in the catalog carries a genre to learn from: scan songs "
                           "with genre tags, or label some with `earmark label FILE... GENRE`")
    scope = (tracks.select_tracks(catalog, [str(p) for p in paths]) if paths is not None
             else list(tracks.iter_tracks(catalog)))
    examples = set(data.track_ids)
    targets = [t.id for t in scope if t.id not in examples]
    inputs = default_inputs("head")
    with stages(f"listening ({inputs['embedding_model']})") as progress:
        failed = ensure_embeddings(catalog, inputs, data.track_ids + targets, progress, engine)
    ids, matrix = load_embeddings(catalog, inputs["embedding_model"], data.track_ids + targets)
    row = {t: i for i, t in enumerate(ids)}
    data = data.subset([i for i, t in enumerate(data.track_ids) if t in row])
    X = matrix[[row[t] for t in data.track_ids]] if len(data) else np.zeros((0, 0))
    with stages("learning"):
        estimator, scores, n_folds = fit_library_genres(
            X, data, min_examples=min_examples, min_f1=min_f1, threshold=threshold,
            folds=folds, seed=seed)
    report = LearnReport(
        songs=len(data), from_tags=len(tagged.intersection(data.track_ids)),
        from_labels=len(labelled.intersection(data.track_ids)), genres=scores, failed=failed,
        folds=n_folds, seed=seed, threshold=threshold, min_examples=min_examples,
        min_f1=min_f1)
    predictable = [t for t in targets if t in row]
    if estimator is not None and predictable:
        payloads = predict_genres(estimator, sorted(report.learned),
                                  matrix[[row[t] for t in predictable]])
        for track_id, payload in zip(predictable, payloads, strict=True):
            store_predictions(catalog, track_id, LEARNED_MODEL,
                              {"genres": payload, "reason": report.reason})
        report.predicted = predictable
    return report


@dataclass(frozen=True)
class LabelItem(Outcome):
    """What :func:`label_songs` did with one file: ``labelled`` (the label is new),
    ``removed``, ``unchanged`` (``reason`` says why) or ``failed``; ``genre`` as stored."""

    STATUSES: ClassVar[frozenset[str]] = frozenset({"labelled", "removed", "unchanged",
                                                    "failed"})

    genre: str | None = None


def label_songs(
    catalog: Catalog, paths: Sequence[str | Path], genre: str, *, remove: bool = False,
    aliases: Mapping[str, str] | None = None, canonical: Sequence[str] = (),
) -> list[LabelItem]:
    """Give songs a genre label of your own (dataset :data:`USER_LABELS`), or take it off.

    Labels join the songs' genre tags when :func:`learn_genres` learns: five songs teach a
    genre. ``genre`` is spelled as the vocabulary says (``aliases``, ``canonical``: see
    :func:`normalise_genres`). ``paths`` are files or folders (``~`` expanded); new or
    changed files are added to the catalog first, unless ``remove``. Never raises for a bad
    file: its item says why. Raises ``ValueError`` for an empty genre name.
    """
    if not genre_key(genre):
        raise ValueError(f"{genre!r} is not a genre name")
    name = normalise_genres({0: [genre]}, aliases, canonical)[0][0]
    items = []
    for path, problem in find_audio_files(paths):
        if problem:
            if problem != FOLDER_LOOP:
                items.append(LabelItem(path, "failed", problem, name))
            continue
        items.append(_label_one(catalog, path, name, remove))
    return items


def _label_one(catalog: Catalog, path: str, genre: str, remove: bool) -> LabelItem:
    try:
        track = tracks.get_track(catalog, path) if remove else add_file(catalog, path)
    except (OSError, EarmarkError) as exc:
        return LabelItem(path, "failed", str(exc), genre)
    if track is None:
        return LabelItem(path, "unchanged", "not in the catalog, so it has no label", genre)
    if remove:
        done = remove_label(catalog, track.id, USER_LABELS, "genre", genre)
        return LabelItem(track.path, "removed" if done else "unchanged",
                         None if done else f"it had no label {genre!r}", genre)
    if track.status != "ok":
        return LabelItem(track.path, "failed", f"not playable: {track.error}", genre)
    if add_label(catalog, track.id, USER_LABELS, "genre", genre):
        return LabelItem(track.path, "labelled", None, genre)
    return LabelItem(track.path, "unchanged", f"already labelled {genre!r}", genre)


def user_labels(catalog: Catalog) -> list[tuple[str, str]]:
    """``(path, genre)`` of every label given with :func:`label_songs`, by path."""
    return dataset_labels(catalog, USER_LABELS, "genre")
