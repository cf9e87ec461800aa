"""``--engine local|ray`` and ``--address auto|HOST:PORT``: where a command's work runs.

The options set the command's settings (``EARMARK_ENGINE``, ``EARMARK_RAY_ADDRESS``) for its
whole run, so every batch it starts (a scan before embedding, training's song vectors) takes
the same engine through :func:`earmark.engine.default_engine`; the library needs no engine
argument threaded through.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import click
import typer

from earmark.engine.ray import address_problem
from earmark.settings import override_settings


class EngineName(StrEnum):
    local = "local"
    ray = "ray"


def _other(ctx: click.Context, name: str) -> object:
    """The value of option ``name`` when click has already read it (options are read in the
    order given on the command line), else ``None``."""
    return ctx.params.get(name)


def _use_engine(ctx: click.Context, _param: click.Parameter,
                value: EngineName | None) -> EngineName | None:
    if value is not None:
        if value == EngineName.local and _other(ctx, "address"):
            raise typer.BadParameter("--address needs --engine ray")
        ctx.with_resource(override_settings(engine=value.value))
    return value


def _use_address(ctx: click.Context, _param: click.Parameter,
                 value: str | None) -> str | None:
    if value is not None:
        if _other(ctx, "engine") == EngineName.local:
            raise typer.BadParameter("--address needs --engine ray")
        problem = address_problem(value)
        if problem:
            raise typer.BadParameter(problem)
        # An address names a Ray cluster: it implies the ray engine.
        ctx.with_resource(override_settings(engine="ray", ray_address=value))
    return value


EngineOption = Annotated[EngineName | None, typer.Option(
    "--engine", callback=_use_engine,
    help="Where the work runs: local (this machine; default: $EARMARK_ENGINE, else local) "
         "or ray (a Ray cluster; without --address a one-node cluster of this command's own; "
         "needs earmark[ray]).")]
AddressOption = Annotated[str | None, typer.Option(
    "--address", callback=_use_address, metavar="auto|HOST:PORT",
    help="The Ray cluster to run on: auto (the one `ray start` started on this machine) or "
         "its head's HOST:PORT (default: $EARMARK_RAY_ADDRESS); implies --engine ray.")]
