"""Figures written to files (matplotlib, no display needed): a song's taggram, a confusion
matrix, a song's log-mel spectrogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmark.audio import decode_audio
from earmark.features import SHORTCHUNK_MEL, log_mel


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed), imported on first
    use so that importing earmark does not pay for matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    plt = _pyplot()

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


def plot_confusion(matrix: np.ndarray, labels: list[str], path: str | Path) -> None:
    """A confusion-matrix heat map with counts, rows = truth."""
    plt = _pyplot()

    size = 2 + 0.5 * len(labels)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center",
                    color="white" if count > top / 2 else "black", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_spectrogram(audio_path: str, path: str | Path, title: str,
                     seconds: float = 30.0) -> None:
    """A log-mel spectrogram image of the first ``seconds`` of a song."""
    plt = _pyplot()
    params = SHORTCHUNK_MEL.with_(top_db=80.0)
    audio = decode_audio(audio_path, params.sample_rate, duration=seconds)
    mel = log_mel(audio, params).numpy()
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma",
              extent=(0, len(audio) / params.sample_rate, 0, mel.shape[0]))
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel band")
    ax.set_title(f"{Path(audio_path).name}: {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
