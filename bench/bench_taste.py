"""Learning curve of the taste model: ROC-AUC on unseen songs against the number of ratings,
for active selection (earmark review's strategies) versus random selection.

A simulated listener answers from labels: by default one who likes jazz, classical and blues in
the shared GTZAN mini set, or any split given as ``--liked-dir/--disliked-dir`` folders or a
``--csv`` of ``path,label`` (label like/1 or dislike/0). Each seed holds out a third of the
songs, grouped so that neighbouring clip numbers (often the same artist) stay on one side, and
rates the rest one batch at a time. Embeddings (MSD_musicnn) are computed once and cached in
``~/.cache/earmark/bench/`` (never committed).

    python bench/bench_taste.py                      # writes bench/RESULTS_taste.md + PNG
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import markdown_table  # noqa: E402
from earmark.audio import AUDIO_EXTENSIONS  # noqa: E402
from earmark.models.musicnn import resolve_precision  # noqa: E402
from earmark.settings import settings  # noqa: E402
from earmark.taste.active import STRATEGIES, select_batch  # noqa: E402
from earmark.taste.model import TasteClassifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GTZAN = ROOT.parent / "shared" / "data" / "gtzan-mini-dev"
CACHE = settings().cache_dir / "bench"


def audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)


def listener_from_genres(folder: Path, liked: list[str]) -> tuple[list[Path], np.ndarray]:
    files = audio_files(folder)
    return files, np.array([int(p.parent.name in liked) for p in files])


def listener_from_folders(liked: Path, disliked: Path) -> tuple[list[Path], np.ndarray]:
    good, bad = audio_files(liked), audio_files(disliked)
    return good + bad, np.array([1] * len(good) + [0] * len(bad))


def listener_from_csv(path: Path) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) < 2 or row[0] == "path":
                continue
            files.append((path.parent / row[0]).resolve())
            labels.append(int(row[1].strip().lower() in ("1", "like", "liked", "good")))
    return files, np.array(labels)


def neighbour_groups(files: list[Path], size: int) -> np.ndarray:
    """Group id per file: same folder and the same block of ``size`` consecutive clip numbers
    (GTZAN's neighbouring numbers often come from one artist or album)."""
    keys = []
    for path in files:
        numbers = re.findall(r"\d+", path.stem)
        block = int(numbers[-1]) // size if numbers else path.stem
        keys.append(f"{path.parent}/{block}")
    _, ids = np.unique(keys, return_inverse=True)
    return ids


def embeddings(files: list[Path], model_name: str = "MSD_musicnn") -> np.ndarray:
    """``(n, 400)`` song embeddings as ``earmark embed`` makes them (default precision),
    cached by precision, file path, size and modification time."""
    precision = resolve_precision("auto")
    key = hashlib.blake2b(digest_size=8)
    for path in files:
        st = path.stat()
        key.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    cache = CACHE / f"{model_name}-{precision}-{key.hexdigest()}.npz"
    if cache.exists():
        return np.load(cache)["X"]
    from earmark.analysis.embed import analyse_files
    from earmark.models.musicnn import load_musicnn

    model = load_musicnn(model_name, precision=precision)
    start = time.perf_counter()
    X = np.stack([result.embedding for _, result in analyse_files(files, model)])
    print(f"embedded {len(files)} songs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, X=X, paths=np.array([str(p) for p in files]))
    return X


def holdout(labels: np.ndarray, groups: np.ndarray, rng: np.random.Generator,
            fraction: float = 1 / 3) -> tuple[np.ndarray, np.ndarray]:
    """Pool and test indices: whole groups held out, both classes on both sides."""
    unique = np.unique(groups)
    for _ in range(1000):
        test_groups = rng.choice(unique, size=max(1, round(fraction * len(unique))),
                                 replace=False)
        test = np.isin(groups, test_groups)
        if len(set(labels[test])) == 2 and len(set(labels[~test])) == 2:
            return np.flatnonzero(~test), np.flatnonzero(test)
    raise SystemExit(f"cannot hold out {fraction:.0%} of {len(unique)} groups with liked and "
                     "disliked songs on both sides: use a smaller --group-size")


def learning_curve(X: np.ndarray, y: np.ndarray, pool: np.ndarray, test: np.ndarray,
                   strategy: str, sizes: list[int], batch: int, seed: int) -> list[float]:
    """Test ROC-AUC after each number of ratings in ``sizes`` (0.5 while one class only)."""
    rated: list[int] = []
    aucs = []
    model = None
    for size in sizes:
        while len(rated) < size:
            left = np.setdiff1d(pool, rated)
            k = min(batch if rated else sizes[0], size - len(rated), len(left))
            proba = model.predict_proba(X[left])[:, 1] if model is not None else None
            pick = select_batch(strategy, X[left], k, proba, X[rated] if rated else None,
                                seed=seed * 1000 + len(rated))
            rated += [int(i) for i in left[pick]]
            model = None
            if len(set(y[rated])) == 2:
                model = TasteClassifier().fit(X[rated], y[rated])
        if model is None:
            aucs.append(0.5)
        else:
            aucs.append(float(roc_auc_score(y[test], model.predict_proba(X[test])[:, 1])))
    return aucs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=GTZAN, help="folder of genre sub-folders")
    parser.add_argument("--liked", default="jazz,classical,blues",
                        help="genres (sub-folder names) the simulated listener likes")
    parser.add_argument("--liked-dir", type=Path, help="folder of liked songs")
    parser.add_argument("--disliked-dir", type=Path, help="folder of disliked songs")
    parser.add_argument("--csv", type=Path, help="CSV of path,label (like/dislike or 1/0)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", default="4,6,8,10,12,14,16,18,20,24,30")
    parser.add_argument("--batch", type=int, default=2, help="ratings between retrains")
    parser.add_argument("--group-size", type=int, default=3,
                        help="consecutive clip numbers kept together")
    parser.add_argument("--strategies", default="random,uncertain,diverse,mixed")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS_taste.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "taste_learning_curve.png")
    parser.add_argument("--append", action="store_true",
                        help="add this run's section to --out instead of replacing the file")
    args = parser.parse_args(argv)

    if args.csv:
        files, y = listener_from_csv(args.csv)
        who = f"labels from {args.csv}"
    elif args.liked_dir and args.disliked_dir:
        files, y = listener_from_folders(args.liked_dir, args.disliked_dir)
        who = f"likes {args.liked_dir}, dislikes {args.disliked_dir}"
    else:
        liked = [g.strip() for g in args.liked.split(",")]
        files, y = listener_from_genres(args.data, liked)
        who = f"likes {', '.join(liked)} in {args.data.name}"
    strategies = [s.strip() for s in args.strategies.split(",")]
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies {sorted(unknown)}; choose from {STRATEGIES}")
    sizes = [int(s) for s in args.sizes.split(",")]
    X = embeddings(files)
    groups = neighbour_groups(files, args.group_size)

    start = time.perf_counter()
    curves = {s: [] for s in strategies}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        pool, test = holdout(y, groups, rng)
        usable = [n for n in sizes if n <= len(pool)]
        for strategy in strategies:
            curves[strategy].append(learning_curve(X, y, pool, test, strategy, usable,
                                                   args.batch, seed))
    sizes = sizes[:min(len(c) for c in curves[strategies[0]])]
    mean = {s: np.array([c[:len(sizes)] for c in curves[s]]).mean(axis=0) for s in strategies}
    std = {s: np.array([c[:len(sizes)] for c in curves[s]]).std(axis=0) for s in strategies}
    seconds = time.perf_counter() - start

    rows = [[n] + [f"{mean[s][i]:.3f} ± {std[s][i]:.3f}" for s in strategies]
            for i, n in enumerate(sizes)]
    table = markdown_table(rows, ["ratings"] + strategies)
    verdicts = []
    if "random" in strategies and 10 in sizes and 20 in sizes:
        at10, at20 = sizes.index(10), sizes.index(20)
        random20 = np.array([c[at20] for c in curves["random"]])
        for s in strategies:
            if s != "random":
                # Paired by seed: both curves share the seed's held-out songs.
                diff = np.array([c[at10] for c in curves[s]]) - random20
                ok = mean[s][at10] >= mean["random"][at20]
                verdicts.append(
                    f"- {s}: AUC {mean[s][at10]:.3f} with 10 ratings vs random "
                    f"{mean['random'][at20]:.3f} with 20 → goal {'met' if ok else 'not met'} "
                    f"(paired difference {diff.mean():+.3f} ± {diff.std():.3f}; {s} at 10 "
                    f"≥ random at 20 in {int((diff >= 0).sum())} of {len(diff)} seeds)")
    _plot(sizes, mean, std, args.plot, who)
    command = "python bench/bench_taste.py " + " ".join(argv if argv is not None
                                                        else sys.argv[1:])
    report = "\n".join([
        f"## {who}",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Simulated listener: {who} ({int(y.sum())} liked, {int(len(y) - y.sum())} disliked "
        f"of {len(y)} songs). MSD_musicnn song embeddings (mean+max of the penultimate layer, "
        f"400 values, {resolve_precision('auto')} as `earmark embed` makes them on this "
        "machine), TasteClassifier defaults (logistic regression on unit-length embeddings, "
        f"Platt-calibrated). {args.seeds} seeds; each seed holds out a third of the songs in "
        f"groups of {args.group_size} neighbouring clip numbers and the simulated listener "
        f"rates the rest: first {sizes[0]} songs, then {args.batch} at a time, retraining after "
        "each batch. Cold start (one class rated) counts as AUC 0.5.",
        "",
        "Test ROC-AUC, mean ± std over seeds:",
        "",
        table,
        "",
        *verdicts,
        "",
        f"![learning curve]({args.plot.name})",
        "",
        f"Simulation time: {seconds:.0f} s on {os.cpu_count()} cores (embeddings cached).",
        "",
    ])
    if args.append and args.out.exists():
        report = args.out.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + report
    else:
        report = "# Taste model learning curves\n\n" + report
    args.out.write_text(report, encoding="utf-8")
    print(report)


def _plot(sizes: list[int], mean: dict, std: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, m in mean.items():
        ax.plot(sizes, m, marker="o", label=strategy)
        ax.fill_between(sizes, m - std[strategy], m + std[strategy], alpha=0.15)
    ax.set_xlabel("number of ratings")
    ax.set_ylabel("ROC-AUC on held-out songs")
    ax.set_title(f"taste model: {title}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
