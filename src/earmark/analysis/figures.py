"""Figures written to files (matplotlib, no display needed): a song's taggram, a confusion
matrix, a song's log-mel spectrogram, the library map."""

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


#: At most this many time columns in a taggram; longer songs have their patches averaged in
#: bins, so a two-hour mix draws no wider than a song.
MAX_TAGGRAM_COLUMNS = 1500
#: Widest taggram figure, inches (at 110 dpi: 1760 px).
MAX_TAGGRAM_INCHES = 16.0


def bin_patches(taggram: np.ndarray, max_columns: int = MAX_TAGGRAM_COLUMNS
                ) -> tuple[np.ndarray, int]:
    """``(binned, per)``: ``taggram`` ``(n_patches, n_tags)`` with every ``per`` consecutive
    patches averaged into one column, ``per`` the smallest that leaves at most
    ``max_columns`` columns (the last column may average fewer patches)."""
    n_patches = len(taggram)
    per = max(1, -(-n_patches // max_columns))
    if per == 1:
        return taggram, 1
    starts = np.arange(0, n_patches, per)
    counts = np.diff(np.append(starts, n_patches))
    return np.add.reduceat(taggram, starts, axis=0) / counts[:, None], per


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

    Tags are ordered by their mean probability over the song, the likeliest at the top. The
    image is at most :data:`MAX_TAGGRAM_INCHES` wide whatever the song's length: past
    :data:`MAX_TAGGRAM_COLUMNS` patches, neighbouring patches are averaged
    (:func:`bin_patches`) and the time axis still reads in seconds of the song.
    """
    plt = _pyplot()

    order = np.argsort(-taggram.mean(axis=0))
    n_patches, n_tags = taggram.shape
    binned, per = bin_patches(taggram)
    width = min(MAX_TAGGRAM_INCHES, max(6.0, 0.25 * n_patches + 3))
    fig, ax = plt.subplots(figsize=(width, 0.22 * n_tags + 1.5))
    image = ax.imshow(binned[:, order].T, aspect="auto", interpolation="nearest",
                      cmap="magma", vmin=0.0, vmax=1.0,
                      extent=(start, start + n_patches * patch_seconds, n_tags - 0.5, -0.5))
    ax.set_yticks(range(n_tags))
    ax.set_yticklabels([tags[i] for i in order], fontsize=7)
    ax.set_xlabel("time (s)" if per == 1 else
                  f"time (s); each column averages {per} patches of {patch_seconds:g} s")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="probability", fraction=0.03)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_confusion(matrix: np.ndarray, labels: list[str], path: str | Path,
                   title: str = "") -> None:
    """A confusion-matrix heat map of ``matrix`` ``(k, k)`` counts (rows = truth) with each
    count written in its cell, a colour bar and ``title`` (say which model, dataset and
    split it shows)."""
    plt = _pyplot()

    size = 2.5 + 0.5 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9, wrap=True)
    fig.colorbar(image, ax=ax, label="songs", fraction=0.046, pad=0.04)
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
    image = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma",
                      extent=(0, len(audio) / params.sample_rate, 0, mel.shape[0]))
    fig.colorbar(image, ax=ax, label="dB", fraction=0.03)
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel band")
    ax.set_title(f"{Path(audio_path).name}: {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


#: Categories a map legend names at most; the rarer ones are drawn grey as "other".
MAX_MAP_CATEGORIES = 12


def plot_map(xy: np.ndarray, values: list, out: str | Path, *, title: str = "",
             legend: str = "") -> Path:
    """Save a scatter plot of map positions ``xy`` ``(n, 2)`` as PNG, each point coloured by
    its entry of ``values``: names (a genre, a rating) get one colour each, the
    :data:`MAX_MAP_CATEGORIES` most common named in a legend and the rest grey as ``other``;
    numbers in [0, 1] (a probability) a colour scale with a colour bar titled ``legend``;
    ``None`` light grey (``unknown``)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(8, 8))
    size = max(1.0, min(20.0, 4000 / max(len(xy), 1)))
    known = [i for i, v in enumerate(values) if v is not None]
    unknown = [i for i, v in enumerate(values) if v is None]
    if unknown:
        ax.scatter(xy[unknown, 0], xy[unknown, 1], s=size, c="#cccccc", label="unknown",
                   linewidths=0)
    numeric = bool(known) and all(isinstance(values[i], int | float) for i in known)
    if numeric:
        image = ax.scatter(xy[known, 0], xy[known, 1], s=size, linewidths=0, cmap="RdYlGn",
                           c=[values[i] for i in known], vmin=0.0, vmax=1.0)
        fig.colorbar(image, ax=ax, label=legend, fraction=0.04)
    elif known:
        names, counts = np.unique([str(values[i]) for i in known], return_counts=True)
        shown = [str(n) for n in names[np.argsort(-counts, kind="stable")]][:MAX_MAP_CATEGORIES]
        colours = plt.get_cmap("tab20")
        others = [i for i in known if str(values[i]) not in shown]
        if others:
            ax.scatter(xy[others, 0], xy[others, 1], s=size, c="#888888", label="other",
                       linewidths=0)
        for k, name in enumerate(shown):
            rows = [i for i in known if str(values[i]) == name]
            ax.scatter(xy[rows, 0], xy[rows, 1], s=size, color=colours(k % 20), label=name,
                       linewidths=0)
    if unknown or (known and not numeric):
        ax.legend(title=legend, fontsize=7, markerscale=max(1.0, 6 / size), loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9, wrap=True)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
