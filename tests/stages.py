"""A recording progress reporter for tests, importable from any test module as ``stages``
(helpers cannot live in conftest.py: pytest registers every one under the name ``conftest``)."""

from __future__ import annotations

from contextlib import contextmanager


class RecordedStages:
    """A real :data:`earmark.types.Stages`: records each stage and its last progress call."""

    def __init__(self):
        self.seen: dict[str, tuple[int, int]] = {}

    @contextmanager
    def __call__(self, description: str):
        self.seen[description] = (0, 0)

        def progress(done: int, total: int, label: str = "") -> None:
            self.seen[description] = (done, total)

        yield progress
