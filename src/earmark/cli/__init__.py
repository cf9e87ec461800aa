"""The ``earmark`` command line: each module registers its commands on the one Typer app."""

import os

# OpenMP threads that spin while waiting steal the other core from decoding (and from every
# other process on a busy machine): measured 3-10x slower musicnn with the default policy
# under load. Must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from earmark.cli import (  # noqa: E402, F401  (registers commands)
    analysis,
    library,
    tagwrite,
    taste,
    training,
)
from earmark.cli.app import app  # noqa: E402


def main() -> None:
    app()


__all__ = ["app", "main"]
