"""The nearest-centroid embedding head (``EmbeddingHead(classifier="centroid")``): cosine
similarity to each class's mean of standardised, L2-normalised embeddings, softmaxed at a
fixed temperature."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestCentroid
from sklearn.preprocessing import StandardScaler, normalize
from sklearn.utils.estimator_checks import check_estimator

from earmark.models.heads import CENTROID_TEMPERATURE, EmbeddingHead
from earmark.models.outputs import softmax


def _clusters(per_class: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three genres as clusters in 16 dimensions ``(3 * per_class, 16)``, labels by name.
    The centres (the same for every ``seed``) differ in every dimension, as embeddings do:
    a dimension of pure noise would weigh as much as a telling one once standardised."""
    centres = np.random.default_rng(99).normal(scale=3.0, size=(3, 16))
    rng = np.random.default_rng(seed)
    X = np.vstack([centre + rng.normal(size=(per_class, 16)) for centre in centres])
    return X, np.repeat(np.array(["Jazz", "Metal", "Reggae"]), per_class)


def test_centroid_head_gives_probabilities_per_class_and_the_right_class():
    X, y = _clusters()
    test_X, test_y = _clusters(seed=1)
    head = EmbeddingHead(classifier="centroid").fit(X, y)
    p = head.predict_proba(test_X)
    assert p.shape == (24, 3) and list(head.classes_) == ["Jazz", "Metal", "Reggae"]
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (head.predict(test_X) == test_y).all()
    # Calibrated: on clusters this clear, the right class is confidently first.
    assert p[np.arange(24), np.searchsorted(head.classes_, test_y)].min() > 0.5


def test_centroid_head_is_a_softmax_over_cosines_to_scikit_learns_centroids():
    X, y = _clusters()
    head = EmbeddingHead(classifier="centroid", calibrate=False).fit(X, y)
    z = normalize(StandardScaler().fit(X).transform(X))
    centroids = normalize(NearestCentroid().fit(z, y).centroids_)
    np.testing.assert_allclose(head.predict_proba(X), softmax(z @ centroids.T), atol=1e-9)
    assert head.temperature_ == 1.0


def test_centroid_head_divides_the_cosines_by_the_fixed_temperature_whatever_the_songs():
    # However few or noisy the songs, no inner cross-validation fits a temperature (on 2-3
    # songs a class one used to come out far too flat): the cosines are divided by 0.1.
    for per_class, seed in ((3, 0), (8, 1)):
        X, y = _clusters(per_class, seed)
        X[::2] += np.random.default_rng(seed).normal(scale=4.0, size=X[::2].shape)
        head = EmbeddingHead(classifier="centroid").fit(X, y)
        z = normalize(StandardScaler().fit(X).transform(X))
        centroids = normalize(NearestCentroid().fit(z, y).centroids_)
        assert head.temperature_ == CENTROID_TEMPERATURE == 0.1
        np.testing.assert_allclose(head.predict_proba(X),
                                   softmax(z @ centroids.T / CENTROID_TEMPERATURE), atol=1e-9)


def test_centroid_head_restored_from_its_arrays_predicts_the_same():
    X, y = _clusters()
    head = EmbeddingHead(classifier="centroid").fit(X, y, n_classes=None)
    restored = EmbeddingHead(classifier="centroid").load_state(head.state(),
                                                               head.fitted_info(), {})
    np.testing.assert_allclose(restored.predict_proba(X), head.predict_proba(X))


def test_centroid_head_is_single_label_only():
    X, y = _clusters()
    Y = np.eye(3, dtype=int)[np.searchsorted(["Jazz", "Metal", "Reggae"], y)]
    with pytest.raises(ValueError, match="single-label only"):
        EmbeddingHead(kind="multi", classifier="centroid").fit(X, Y)


def test_centroid_head_keeps_scikit_learns_estimator_contract():
    check_estimator(EmbeddingHead(classifier="centroid"), expected_failed_checks={
        "check_class_weight_classifiers": "centroids are not weighted by class"})
