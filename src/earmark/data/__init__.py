"""Labelled data, pure: the labelled-set shape every trainer consumes and honest splits.

Reading labels from the catalog is :mod:`earmark.catalog.labels`; importing labelled
collections is :mod:`earmark.ingest.importers`.
"""

from earmark.data.dataset import LabelledSet
from earmark.data.splits import cv_folds, group_keys, holdout_split

__all__ = ["LabelledSet", "cv_folds", "group_keys", "holdout_split"]
