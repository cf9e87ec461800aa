"""Figures written to files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_taggram(
    taggram: np.ndarray,
    tags: tuple[str, ...] | list[str],
    out: str | Path,
    *,
    title: str = "",
    start: float = 0.0,
    patch_seconds: float = 3.0,
) -> Path:
    """Save a tags x time heat map of ``taggram`` ``(n_patches, n_tags)`` probabilities as PNG.

    Tags are ordered by their mean probability over the song, the likeliest at the top.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(-taggram.mean(axis=0))
    n_patches, n_tags = taggram.shape
    fig, ax = plt.subplots(figsize=(max(6.0, 0.25 * n_patches + 3), 0.22 * n_tags + 1.5))
    image = ax.imshow(taggram[:, order].T, aspect="auto", interpolation="nearest",
                      cmap="magma", vmin=0.0, vmax=1.0,
                      extent=(start, start + n_patches * patch_seconds, n_tags - 0.5, -0.5))
    ax.set_yticks(range(n_tags))
    ax.set_yticklabels([tags[i] for i in order], fontsize=7)
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="probability", fraction=0.03)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
