"""Zero-shot genres on the shared GTZAN dev clips: MSD alone vs MSD+MTT, calibration, speed.

The only labelled audio here is ``/work/shared/data/gtzan-mini-dev`` (60 clips, 6 per genre).
Reggae and disco are in neither tagger's vocabulary, so accuracy is over the 48 others. Every
score of a calibrated configuration is cross-validated: 6 folds by clip number (clips with
neighbouring numbers often share an artist, so each fold holds one number of every genre), the
calibration (:class:`earmark.analysis.genres.GenreCalibration`) fitted on five folds and scored
on the sixth. The parameters to ship (``CALIBRATIONS`` in ``earmark/analysis/genres.py``) are
then fitted on all 48 clips and printed. The mapping and the MSD:MTT weights were chosen on the
same clips, so the figures are optimistic for other music.

    python bench/bench_genre.py        # tables on stdout, bench/genre_reliability.png

Tag probabilities (float32) are cached in ``.cache/bench_genre/`` (never committed): a rerun
only re-times the taggers.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import markdown_table  # noqa: E402
from earmark.analysis.genres import (  # noqa: E402
    GenreCalibration,
    combination_name,
    song_evidence,
)
from earmark.models.registry import ZERO_SHOT_MODELS, pretrained  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "data" / "gtzan-mini-dev"
CACHE = ROOT / ".cache" / "bench_genre"
#: GTZAN folder -> earmark genre; reggae and disco have none.
COVERED = {"blues": "blues", "classical": "classical", "country": "country",
           "hiphop": "hip-hop", "jazz": "jazz", "metal": "metal", "pop": "pop", "rock": "rock"}
CONFIGS = {"MSD alone": ("MSD_musicnn",), "MTT alone": ("MTT_musicnn",),
           "MSD+MTT": ZERO_SHOT_MODELS}
L2 = 0.1
FOLDS = 6


def clips() -> list[Path]:
    return sorted(CLIPS.glob("*/*.flac"))


def tag_probabilities() -> dict[str, np.ndarray]:
    """Model name -> ``(n_clips, 50)`` whole-song probabilities of every clip (cached)."""
    cache = CACHE / "tags.npz"
    files = [str(p) for p in clips()]
    if cache.is_file():
        data = np.load(cache)
        if list(data["files"]) == files:
            return {m: data[m] for m in ZERO_SHOT_MODELS}
    from earmark.analysis.embed import analyse_files
    from earmark.models.musicnn import load_musicnn

    taggers = [load_musicnn(m, precision="float32") for m in ZERO_SHOT_MODELS]
    results = [r for _, r in analyse_files(files, taggers)]
    out = {o.model: np.stack([r.outputs[k].tag_probabilities for r in results])
           for k, o in enumerate(results[0].outputs)}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(cache, files=np.array(files), **out)
    return out


def evidence(probs: dict[str, np.ndarray], models: tuple[str, ...]) -> list[dict[str, float]]:
    """Per clip, genre -> combined evidence of ``models``, as earmark computes it for a song
    (:func:`earmark.analysis.genres.song_evidence`)."""
    tags = {m: pretrained(m).tags for m in models}
    return [song_evidence({m: (probs[m][i], tags[m]) for m in models})[0]
            for i in range(len(next(iter(probs.values()))))]


def cross_validated(ev: list[dict[str, float]], labels: list[str], numbers: list[int]
                    ) -> list[list[tuple[str, float]]]:
    """Held-out calibrated genres of every clip (fold = clip number mod :data:`FOLDS`)."""
    out: list = [None] * len(ev)
    for fold in range(FOLDS):
        train = [i for i, n in enumerate(numbers) if n % FOLDS != fold]
        calibration = GenreCalibration.fit([ev[i] for i in train], [labels[i] for i in train],
                                           L2)
        for i, n in enumerate(numbers):
            if n % FOLDS == fold:
                out[i] = calibration(ev[i])
    return out


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of top-1 confidences over ``bins`` equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    return float(sum(abs(confidence[which == b].mean() - correct[which == b].mean())
                     * (which == b).mean() for b in range(bins) if (which == b).any()))


def _covered() -> tuple[list[int], list[str], list[int]]:
    files = clips()
    idx = [i for i, p in enumerate(files) if p.parent.name in COVERED]
    return (idx, [COVERED[files[i].parent.name] for i in idx],
            [int(files[i].stem.split(".")[-1]) for i in idx])


def section_zero_shot() -> dict:
    """Top-1 and ECE per configuration (raw evidence, and calibrated under CV), the
    coverage/precision curve and the reliability diagram of MSD+MTT; prints the fits."""
    probs = tag_probabilities()
    idx, labels, numbers = _covered()
    rows, fits, held = [], {}, {}
    for config, models in CONFIGS.items():
        every = evidence(probs, models)
        ev = [every[i] for i in idx]
        raw_top = [max(e, key=e.get) for e in ev]
        predictions = cross_validated(ev, labels, numbers)
        top = [p[0] for p in predictions]
        correct = np.array([g == y for (g, _), y in zip(top, labels, strict=True)])
        confidence = np.array([c for _, c in top])
        classical = sum(c for c, y in zip(correct, labels, strict=True) if y == "classical")
        raw = np.mean([g == y for g, y in zip(raw_top, labels, strict=True)])
        rows.append([config, f"{raw:.3f}",
                     f"{correct.mean():.3f} ({correct.sum()}/{len(correct)})",
                     f"{classical}/6", f"{ece(confidence, correct):.3f}"])
        fits[combination_name(models)] = GenreCalibration.fit(ev, labels, L2)
        held[config] = (confidence, correct)
    print("## Zero-shot genres, 48 covered GTZAN dev clips (6-fold CV of the calibration)\n")
    print(markdown_table(rows, ["taggers", "top-1 raw evidence", "top-1 calibrated (CV)",
                                "classical right", "ECE (CV)"]))
    confidence, correct = held["MSD+MTT"]
    curve = []
    for threshold in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        kept = confidence >= threshold
        precision = correct[kept].mean() if kept.any() else float("nan")
        curve.append([f"{threshold:.1f}", f"{kept.mean():.3f}", f"{precision:.3f}"])
    print("\n## MSD+MTT: coverage and precision of the top genre over the threshold (CV)\n")
    print(markdown_table(curve, ["min confidence", "coverage", "precision"]))
    _reliability(confidence, correct, ROOT / "bench" / "genre_reliability.png")
    print("\nShipped calibrations (fitted on all 48 clips):")
    for name, fit in fits.items():
        print(f"    {name!r}: GenreCalibration({fit.slope}, {dict(fit.bias)}),")
    return fits


def _reliability(confidence: np.ndarray, correct: np.ndarray, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, 9)
    centres = [(edges[b] + edges[b + 1]) / 2 for b in range(10) if (which == b).any()]
    accuracy = [correct[which == b].mean() for b in range(10) if (which == b).any()]
    counts = [int((which == b).sum()) for b in range(10) if (which == b).any()]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.bar(centres, accuracy, width=0.09, alpha=0.7, label="accuracy in bin")
    for x, a, n in zip(centres, accuracy, counts, strict=True):
        ax.text(x, a + 0.02, str(n), ha="center", fontsize=8)
    ax.set(xlabel="top-1 confidence (MSD+MTT, calibrated, held-out fold)",
           ylabel="fraction correct", xlim=(0, 1), ylim=(0, 1.08),
           title=f"Zero-shot genres, 48 GTZAN clips, ECE {ece(confidence, correct):.3f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"\nreliability diagram: {out.relative_to(ROOT)}")


def section_speed(n: int = 12) -> None:
    """Seconds per song for MSD alone and MSD+MTT on one decode (float32, this machine)."""
    from earmark.analysis.embed import analyse_files
    from earmark.models.musicnn import load_musicnn

    files = [str(p) for p in clips()[:n]]
    taggers = [load_musicnn(m, precision="float32") for m in ZERO_SHOT_MODELS]
    list(analyse_files(files[:2], taggers))  # warm up
    rows, seconds = [], {}
    for label, models in (("MSD alone", taggers[:1]), ("MSD+MTT", taggers)):
        start = time.perf_counter()
        list(analyse_files(files, models))
        seconds[label] = (time.perf_counter() - start) / len(files)
        rows.append([label, f"{seconds[label]:.3f}"])
    rows.append(["ratio", f"{seconds['MSD+MTT'] / seconds['MSD alone']:.2f}x"])
    print(f"\n## Seconds per 30 s clip ({n} clips, float32)\n")
    print(markdown_table(rows, ["taggers", "s/song"]))


def main() -> None:
    section_zero_shot()
    section_speed()
    for module in ("bench_genre_learn", "bench_genre_albums"):
        if (Path(__file__).parent / f"{module}.py").is_file():
            text = importlib.import_module(module).section()  # albums returns its markdown
            if text:
                print(text)


if __name__ == "__main__":
    main()
