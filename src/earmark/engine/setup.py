"""One set-up for every process that runs earmark's work: the command line, a web server and
an engine's workers call :func:`configure` first, so none of them depends on an import's side
effect."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from earmark.settings import settings


@dataclass(frozen=True)
class ProcessSetup:
    """What :func:`configure` set: OpenMP's ``wait_policy``, the ``threads`` each torch
    operation may use (``None``: torch's own default), and the process's ``device`` preference
    and ``engine`` from the settings (``device`` ``None``: the best available, chosen when the
    first network loads)."""

    wait_policy: str
    threads: int | None
    device: str | None
    engine: str


_current: ProcessSetup | None = None


def configure(*, threads: int | None = None) -> ProcessSetup:
    """Set this process up for earmark's work and say what was set; call it before torch is
    imported. Calling it again changes nothing unless ``threads`` differs.

    * ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already chose a policy: OpenMP threads
      that spin while waiting steal the cores from decoding (and from every other process on
      a busy machine); musicnn measured 3-10x slower under load with the default policy. OpenMP
      reads it once, when torch is first imported.
    * ``threads``: torch's intra-op threads for this process (``OMP_NUM_THREADS`` for torch not
      yet imported, ``torch.set_num_threads`` for torch already imported); an engine's worker
      passes 1, as its processes fill the cores. ``None`` leaves torch's default.
    * The settings are read (:func:`earmark.settings.settings`), so a bad ``EARMARK_*`` value
      fails here, at start-up, with :class:`~earmark.settings.SettingsError`, and the device
      preference (``EARMARK_DEVICE``) is the one :func:`earmark.engine.device.pick_device`
      then uses.
    """
    global _current
    chosen = settings()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch = sys.modules.get("torch")  # importing it here would cost every command 1.5 s
        if torch is not None:
            torch.set_num_threads(threads)
    elif _current is not None:
        threads = _current.threads
    _current = ProcessSetup(os.environ["OMP_WAIT_POLICY"], threads, chosen.device, chosen.engine)
    return _current
