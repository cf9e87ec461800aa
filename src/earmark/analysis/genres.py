"""Zero-shot genres: the pretrained taggers' tags mapped to genres, combined, calibrated.

Three steps, each a small pure function:

1. :func:`genre_from_tags` maps one tagger's whole-song tag probabilities to *evidence* per
   genre through :data:`GENRE_TAGS`: the largest ``weight * probability`` over the genre's tags
   in that tagger's vocabulary (MSD: 50 Last.fm tags; MTT: 50 MagnaTagATune tags).
2. :func:`combine_evidence` averages the taggers' evidence per genre, weighted by
   :data:`VOCABULARY_WEIGHTS` over the taggers whose vocabulary can express the genre (MSD
   alone says jazz, blues, hip-hop; MTT alone classical, new age, Indian).
3. :class:`GenreCalibration` turns the evidence into probabilities that the genre is the song's
   genre: ``softmax(slope * logit(evidence) + bias)`` over every genre (temperature scaling
   with a bias per genre, "vector scaling" in Guo et al. 2017). The biases of the genres no
   labelled clip teaches are 0 and the others sum to 0, so calibration cannot learn "genres
   outside the labelled set never happen".

The shipped parameters (:data:`CALIBRATIONS`) were fitted by ``bench/bench_genre.py`` on the
only labelled audio here: the 48 shared GTZAN dev clips whose genre both vocabularies cover
(``/work/shared/data/gtzan-mini-dev``, 6 clips each of blues, classical, country, hip-hop,
jazz, metal, pop, rock; reggae and disco are in neither vocabulary). That is small: the bench
reports accuracy and expected calibration error from 6-fold cross-validation (fit on five
folds, score the held-out one), not from the fit shown here. The mapping weights and the
MSD:MTT weighting (0.7:0.3) were chosen by looking at the same clips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from earmark.models.registry import MSD_TAGS, MTT_TAGS

#: Tag vocabulary name -> its tags, in model output order.
VOCABULARIES: dict[str, tuple[str, ...]] = {"MSD": MSD_TAGS, "MTT": MTT_TAGS}

#: Genre -> vocabulary -> {tag: weight}. Weight 1 marks a tag that *is* the genre (or a
#: sub-genre of it); lower weights mark indirect evidence (an instrument, sound or mood typical
#: of the genre). A genre's evidence from one tagger is the largest ``weight * probability``
#: over its tags, so strongly correlated tags ("rock", "classic rock", "hard rock") do not add
#: up. Opera and choral music count as classical, techno as electronic.
GENRE_TAGS: dict[str, dict[str, dict[str, float]]] = {
    "rock": {"MSD": {"rock": 1.0, "classic rock": 1.0, "hard rock": 1.0, "alternative rock": 1.0,
                     "indie rock": 1.0, "Progressive rock": 1.0},
             "MTT": {"rock": 1.0}},
    "alternative/indie": {"MSD": {"alternative": 1.0, "indie": 1.0, "alternative rock": 1.0,
                                  "indie rock": 1.0, "indie pop": 1.0}},
    "pop": {"MSD": {"pop": 1.0, "indie pop": 1.0}, "MTT": {"pop": 1.0}},
    "electronic": {"MSD": {"electronic": 1.0, "electronica": 1.0, "electro": 1.0, "House": 1.0},
                   "MTT": {"electronic": 1.0, "techno": 1.0, "synth": 0.5}},
    "dance": {"MSD": {"dance": 1.0, "House": 1.0, "electro": 0.7, "party": 0.6},
              "MTT": {"dance": 1.0, "techno": 0.7}},
    "jazz": {"MSD": {"jazz": 1.0}},
    "metal": {"MSD": {"metal": 1.0, "heavy metal": 1.0, "hard rock": 0.5},
              "MTT": {"metal": 1.0}},
    "hip-hop": {"MSD": {"Hip-Hop": 1.0}},
    "blues": {"MSD": {"blues": 1.0}},
    "country": {"MSD": {"country": 1.0}, "MTT": {"country": 1.0}},
    "folk": {"MSD": {"folk": 1.0, "acoustic": 0.5}},
    "soul/r&b": {"MSD": {"soul": 1.0, "rnb": 1.0}},
    "funk": {"MSD": {"funk": 1.0}},
    "punk": {"MSD": {"punk": 1.0}},
    "ambient": {"MSD": {"ambient": 1.0, "chillout": 0.6}, "MTT": {"ambient": 1.0}},
    "experimental": {"MSD": {"experimental": 1.0}, "MTT": {"weird": 0.5}},
    "easy listening": {"MSD": {"easy listening": 1.0}},
    "classical": {"MTT": {"classical": 1.0, "classic": 1.0, "opera": 1.0, "choral": 1.0,
                          "choir": 0.8, "harpsichord": 0.8, "strings": 0.5, "violin": 0.5,
                          "cello": 0.5}},
    "new age": {"MTT": {"new age": 1.0}},
    "world/indian": {"MTT": {"indian": 1.0, "sitar": 1.0}},
}

#: How much each vocabulary's evidence counts where both can express a genre: Last.fm's tags
#: are the richer genre vocabulary, MagnaTagATune's "rock" also fires on metal and punk.
VOCABULARY_WEIGHTS: dict[str, float] = {"MSD": 0.7, "MTT": 0.3}

#: The genres every vocabulary together can express, in :data:`GENRE_TAGS` order.
GENRES: tuple[str, ...] = tuple(GENRE_TAGS)


def vocabulary_of(tags: Sequence[str]) -> str:
    """``"MSD"`` or ``"MTT"``: the vocabulary ``tags`` is (in model output order).

    Raises ``ValueError`` for any other list of tags.
    """
    for name, vocabulary in VOCABULARIES.items():
        if tuple(tags) == vocabulary:
            return name
    raise ValueError("tags are neither the MSD nor the MTT vocabulary in model order")


def genre_from_tags(
    tag_probabilities: np.ndarray, tags: Sequence[str]
) -> list[tuple[str, float]]:
    """One tagger's genre evidence, through :data:`GENRE_TAGS` (uncalibrated).

    Parameters
    ----------
    tag_probabilities : ``(n_tags,)`` whole-song probabilities (e.g. from
        :func:`earmark.analysis.songs.song_tags`).
    tags : their names, in the same order (``model.tags``): the MSD or MTT vocabulary.

    Returns
    -------
    list of (genre, evidence)
        Every genre this vocabulary can express, most evident first; values in [0, 1].

    Raises ``ValueError`` for a shape that does not match ``tags`` or an unknown vocabulary.
    """
    probs = np.asarray(tag_probabilities, dtype=np.float64)
    if probs.shape != (len(tags),):
        raise ValueError(f"expected {len(tags)} tag probabilities, got shape {probs.shape}")
    vocabulary = vocabulary_of(tags)
    index = {tag: i for i, tag in enumerate(tags)}
    genres = [(genre, float(max(w * probs[index[t]] for t, w in by_vocab[vocabulary].items())))
              for genre, by_vocab in GENRE_TAGS.items() if vocabulary in by_vocab]
    return sorted(genres, key=lambda item: -item[1])


def combine_evidence(evidence: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Vocabulary -> {genre: evidence} of several taggers -> one evidence per genre in [0, 1]:
    the :data:`VOCABULARY_WEIGHTS`-weighted mean over the taggers that express the genre."""
    combined = {}
    for genre in GENRES:
        parts = [(VOCABULARY_WEIGHTS[v], scores[genre]) for v, scores in evidence.items()
                 if genre in scores]
        if parts:
            combined[genre] = sum(w * s for w, s in parts) / sum(w for w, _ in parts)
    return combined


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class GenreCalibration:
    """``softmax(slope * logit(evidence) + bias)`` over the genres a configuration expresses.

    ``bias`` holds the genres labelled data taught (zero-mean); every other genre's bias is 0.
    """

    slope: float = 1.0
    bias: Mapping[str, float] = field(default_factory=dict)

    def __call__(self, evidence: Mapping[str, float]) -> list[tuple[str, float]]:
        """Genre -> evidence in [0, 1] -> ``[(genre, probability)]``, most probable first; the
        probabilities sum to 1 over the genres given."""
        genres = list(evidence)
        if not genres:
            return []
        z = self.slope * _logit(np.array([evidence[g] for g in genres], dtype=np.float64))
        z += np.array([self.bias.get(g, 0.0) for g in genres])
        p = np.exp(z - z.max())
        p /= p.sum()
        return sorted(zip(genres, p.tolist(), strict=True), key=lambda item: -item[1])

    @classmethod
    def fit(cls, evidence: Sequence[Mapping[str, float]], labels: Sequence[str],
            l2: float = 0.1) -> GenreCalibration:
        """Fit slope and biases by maximum likelihood with an L2 penalty ``l2`` on the biases.

        ``evidence``: per song, genre -> evidence (the same genres for every song);
        ``labels``: each song's true genre. Songs whose genre is not among the genres given
        (this tagger cannot express it) teach nothing and are left out. Only the genres among
        the remaining labels get a bias, constrained to sum to 0.
        """
        from scipy.optimize import minimize
        from scipy.special import logsumexp

        genres = list(evidence[0])
        kept = [i for i, label in enumerate(labels) if label in evidence[0]]
        evidence, labels = [evidence[i] for i in kept], [labels[i] for i in kept]
        taught = sorted(set(labels))
        cols = [genres.index(g) for g in taught]
        L = _logit(np.array([[e[g] for g in genres] for e in evidence], dtype=np.float64))
        y = np.array([genres.index(label) for label in labels])

        def biases(theta: np.ndarray) -> np.ndarray:
            b = np.zeros(len(genres))
            b[cols] = theta[1:] - theta[1:].mean()
            return b

        def loss(theta: np.ndarray) -> float:
            b = biases(theta)
            z = theta[0] * L + b
            logp = z - logsumexp(z, axis=1, keepdims=True)
            return -logp[np.arange(len(y)), y].sum() + l2 * float((b ** 2).sum())

        theta = minimize(loss, np.r_[1.0, np.zeros(len(cols))], method="L-BFGS-B").x
        b = biases(theta)
        return cls(round(float(theta[0]), 4), {g: round(float(b[c]), 4)
                                               for g, c in zip(taught, cols, strict=True)})


#: Shipped calibrations by tagger combination (:func:`combination_name`), fitted by
#: ``python bench/bench_genre.py`` on all 48 covered GTZAN dev clips (see the module docstring;
#: its cross-validated scores are in bench/RESULTS.md). A combination not listed here (the vgg
#: baselines) gets slope 1 and no biases: a softmax of the raw evidence.
CALIBRATIONS: dict[str, GenreCalibration] = {
    "MSD_musicnn": GenreCalibration(2.1261, {
        "blues": -0.3737, "country": 1.6496, "hip-hop": 0.9652, "jazz": -2.6359,
        "metal": 1.3513, "pop": -0.226, "rock": -0.7304}),
    "MTT_musicnn": GenreCalibration(1.0767, {
        "classical": -3.3218, "country": 1.5006, "metal": 2.3878, "pop": -0.039,
        "rock": -0.5276}),
    "MSD_musicnn+MTT_musicnn": GenreCalibration(2.1372, {
        "blues": 0.193, "classical": -3.9158, "country": 2.1343, "hip-hop": 1.4477,
        "jazz": -1.6859, "metal": 2.3762, "pop": -0.0112, "rock": -0.5384}),
}


def combination_name(models: Sequence[str]) -> str:
    """``["MSD_musicnn", "MTT_musicnn"]`` -> ``"MSD_musicnn+MTT_musicnn"``: the name combined
    genres are stored under in the catalog."""
    return "+".join(models)


def song_evidence(outputs: Mapping[str, tuple[np.ndarray, Sequence[str]]]
                  ) -> tuple[dict[str, float], list[str]]:
    """A song's combined genre evidence (uncalibrated) from one or more taggers: steps 1 and 2
    of the module, what :class:`GenreCalibration` is fitted on and applied to.

    ``outputs``: model name -> (whole-song tag probabilities ``(n_tags,)``, tag names), in
    the taggers' order. Returns ``({genre: evidence}, the names of the taggers used)``: those
    of the MSD and MTT vocabularies, the others are left out.
    """
    evidence, used = {}, []
    for name, (probs, tags) in outputs.items():
        try:
            vocabulary = vocabulary_of(tags)
        except ValueError:
            continue
        evidence[vocabulary] = dict(genre_from_tags(probs, tags))
        used.append(name)
    return combine_evidence(evidence), used


def zero_shot_genres(outputs: Mapping[str, tuple[np.ndarray, Sequence[str]]]
                     ) -> list[tuple[str, float]]:
    """Calibrated genres of a song from one or more taggers.

    ``outputs``: as :func:`song_evidence` takes them. Returns ``[(genre, probability)]``,
    most probable first, probabilities summing to 1, under the :data:`CALIBRATIONS` of the
    taggers used.
    """
    combined, used = song_evidence(outputs)
    return CALIBRATIONS.get(combination_name(used), GenreCalibration())(combined)
