"""Writing genres, moods and instruments into music files, safely and reversibly.

:mod:`.policy` decides what to write, :mod:`.sources` where predictions come from,
:mod:`.plan` plans, journals and undoes batches; :mod:`earmark.tags.write` changes one file
atomically.
"""

from earmark.tagging.plan import (
    FieldChange,
    TrackPlan,
    TrackResult,
    apply_plans,
    plan_track,
    undo,
)
from earmark.tagging.policy import TagPolicy, choose_genres, load_policy
from earmark.tagging.sources import StoredPredictions, ensure_predictions

__all__ = [
    "FieldChange",
    "StoredPredictions",
    "TagPolicy",
    "TrackPlan",
    "TrackResult",
    "apply_plans",
    "choose_genres",
    "ensure_predictions",
    "load_policy",
    "plan_track",
    "undo",
]
