"""The ``earmark`` command line: each module registers its commands on the one Typer app."""

import sys

from earmark.engine import configure
from earmark.settings import SettingsError

# Before anything imports torch: OpenMP reads its settings once (see configure).
try:
    configure()
except SettingsError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)  # a usage error, as for a bad option

from earmark.cli import (  # noqa: E402, F401  (registers commands)
    analysis,
    discover,
    labels,
    library,
    listing,
    overview,
    radio,
    serve,
    tagwrite,
    taste,
    training,
)
from earmark.cli.app import app  # noqa: E402


def main() -> None:
    # A file name that is not UTF-8 reaches print() with lone surrogates; show them as
    # \udcXX, as stderr does, rather than die on them where the locale makes stdout strict.
    sys.stdout.reconfigure(errors="backslashreplace")
    app()


__all__ = ["app", "main"]
