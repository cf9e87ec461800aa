"""Labelled data, pure: the labelled-set shape every trainer consumes and honest splits.

Reading labels from the catalog is :mod:`earmark.catalog.labels`; importing labelled
collections is :mod:`earmark.ingest.importers`.
"""

from earmark.data.dataset import LabelledSet

_SPLITS = ("cv_folds", "group_keys", "holdout_split", "missing_classes")

__all__ = ["LabelledSet", *_SPLITS]


def __getattr__(name: str):
    # The splits need scikit-learn, which the command line must not import at start-up (the
    # catalog reads LabelledSet from here): load them on first use (PEP 562).
    if name in _SPLITS:
        from earmark.data import splits

        return getattr(splits, name)
    raise AttributeError(f"module 'earmark.data' has no attribute {name!r}")
