"""How work is spread: per-item functions over processes or threads, behind one seam.

Knows nothing of music. :class:`Engine` is the seam every batch uses (scan, embed, predict,
training's song vectors); :class:`LocalEngine` (:mod:`.local`) runs on this machine and is the
default; :func:`configure` sets a process up; :mod:`.device` picks where torch work runs.
"""

from earmark.engine.base import Engine
from earmark.engine.local import LocalEngine, usable_cores
from earmark.engine.setup import ProcessSetup, configure
from earmark.settings import settings


def default_engine() -> Engine:
    """The engine the settings name (``EARMARK_ENGINE``, default ``local``) with the settings'
    ``workers`` (``EARMARK_WORKERS``, default one per core): what a batch uses when its caller
    passes none."""
    chosen = settings()
    # Settings only accept the engines of settings.ENGINES; each gets its branch here.
    if chosen.engine == "local":
        return LocalEngine(chosen.workers)
    raise NotImplementedError(f"engine {chosen.engine!r}")


__all__ = ["Engine", "LocalEngine", "ProcessSetup", "configure", "default_engine",
           "usable_cores"]
