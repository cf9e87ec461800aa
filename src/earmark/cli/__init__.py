"""The ``earmark`` command line: each module registers its commands on the one Typer app."""

from earmark.cli import library, pretrained, tagwrite, taste, training  # noqa: F401  (registers commands)
from earmark.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
