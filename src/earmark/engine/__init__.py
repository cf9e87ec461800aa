"""How work is spread: per-item functions over processes or threads, behind one seam.

Knows nothing of music. :class:`Engine` is the seam every batch uses (scan, embed, predict,
training's song vectors); :class:`LocalEngine` (:mod:`.local`) runs on this machine and is the
default, and :class:`~earmark.engine.ray.RayEngine` (:mod:`.ray`, imported only when
chosen: Ray is an optional extra) runs on a Ray cluster; :func:`configure` sets a process up;
:mod:`.device` picks where torch work runs; :mod:`.files` lets a worker read the files its
driver sent as bytes.
"""

from earmark.engine.base import Engine, TrialRunner
from earmark.engine.local import LocalEngine, usable_cores
from earmark.engine.setup import ProcessSetup, configure
from earmark.settings import settings


def default_engine(workers: int | None = None) -> Engine:
    """The engine the settings name (``EARMARK_ENGINE``, default ``local``) with ``workers``
    (default the settings' ``EARMARK_WORKERS``, else one per core, or the Ray cluster's CPUs):
    what a batch uses when its caller passes none.

    ``ray`` is the process's one :class:`~earmark.engine.ray.RayEngine` on the settings'
    ``ray_address`` (``EARMARK_RAY_ADDRESS``; none: a local cluster of its own), shared by
    every batch of the command, so a cluster is started (or reached) once.
    """
    chosen = settings()
    workers = workers or chosen.workers
    # Settings only accept the engines of settings.ENGINES; each gets its branch here.
    if chosen.engine == "local":
        return LocalEngine(workers)
    if chosen.engine == "ray":
        from earmark.engine.ray import shared_engine  # Ray is an optional extra
        return shared_engine(chosen.ray_address, workers)
    raise NotImplementedError(f"engine {chosen.engine!r}")


__all__ = ["Engine", "LocalEngine", "ProcessSetup", "TrialRunner", "configure",
           "default_engine", "usable_cores"]
