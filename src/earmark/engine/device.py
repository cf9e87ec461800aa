"""Where torch work runs: the best accelerator present, or the CPU."""

from __future__ import annotations

import torch

from earmark.settings import settings


def pick_device(preference: str | None = None) -> torch.device:
    """``preference`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``), else the settings'
    ``device`` (``EARMARK_DEVICE``), else the best available: CUDA, then Apple's MPS, then the
    CPU.

    Raises :class:`ValueError` when the device asked for is not available.
    """
    preference = preference or settings().device
    if preference:
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("CUDA was requested but no CUDA device is available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError("MPS was requested but is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
