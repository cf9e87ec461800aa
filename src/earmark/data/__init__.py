"""Labelled data: importers that put labelled music into the catalog, and honest splits."""

from earmark.data.dataset import LabelledSet, load_labelled, set_labels
from earmark.data.importers import (
    ImportReport,
    Listing,
    find_split_lists,
    import_csv,
    import_fma,
    import_folders,
    import_gtzan,
    import_jamendo,
    import_mtt,
)
from earmark.data.splits import cv_folds, group_keys, holdout_split

__all__ = [
    "ImportReport",
    "LabelledSet",
    "Listing",
    "cv_folds",
    "find_split_lists",
    "group_keys",
    "holdout_split",
    "import_csv",
    "import_fma",
    "import_folders",
    "import_gtzan",
    "import_jamendo",
    "import_mtt",
    "load_labelled",
    "set_labels",
]
