"""musicnn benchmark: earmark's PyTorch port against the original TensorFlow musicnn.

The same files go through

* ours: ``earmark.analysis.songs.song_tags(path, model)`` with the model from
  ``earmark.models.musicnn.load_musicnn`` loaded once (decode with PyAV + soxr, torch mel front
  end, network under ``torch.inference_mode``) in float32 and in bfloat16, ``--threads`` torch
  threads (2) and ``OMP_WAIT_POLICY=PASSIVE``; for a folder,
  ``earmark.analysis.embed.analyse_files`` (one song per core on threads sharing the model, what
  ``earmark tags/genre/embed`` run);
* the original: ``musicnn.extractor.extractor(path, model)`` (librosa decode and mel, TF1 graph
  built and checkpoint restored on every call, as ``musicnn``'s own ``top_tags`` does), run by
  the side environment's interpreter (``--side-python``, TensorFlow 2.15 CPU with 2 intra-op
  threads) in a subprocess, one file after another as its API allows.

The two alternate call by call (the machine's 2 cores are shared with whatever else runs, so
both see the same load). Three tables:

1. per file (one song at a time: latency), the best of ``--repeats`` wall and CPU times (all
   threads of the process) after one untimed warm-up round;
2. a folder of ``--folder-clips`` GTZAN clips (2 per genre by default 20), seconds per clip as
   wall time over the whole folder, best of ``--repeats``;
3. model load: ours from the safetensors cache (and the one-time checkpoint conversion), the
   original's graph build + checkpoint restore that every ``extractor`` call pays.

Each row says whether the whole-song top-5 tags agree (same order, same set, or the overlap)
and the largest probability difference.

Run from the repository root::

    python bench/bench_musicnn.py                       # about 6 minutes
    python bench/bench_musicnn.py --models MSD_musicnn --repeats 1 --folder-clips 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import markdown_table

# libgomp's default is to spin while waiting for work; on a machine whose 2 cores are also busy
# with other processes, spinning threads steal the time of the one holding the work and torch
# with 2 threads runs several times slower than with 1. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

GTZAN = Path(os.environ.get("EARMARK_SHARED", Path(__file__).resolve().parents[2] / "shared"))
GTZAN = GTZAN / "data" / "gtzan-mini-dev"
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")
CLIPS = [GTZAN / g / f"{g}.00000.flac" for g in ("blues", "classical", "jazz", "metal", "rock")]
PRECISIONS = ("float32", "bfloat16")
SONG = Path("/usr/share/games/asc/music/machine_wars.mp3")

# Runs in the side environment as a server: one JSON request per input line ("load" or "tag"),
# one JSON answer per output line, so that its calls can alternate with ours.
ORIGINAL_SERVER = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
start = time.perf_counter()
import tensorflow as tf
from musicnn import extractor, models
answer = sys.stdout
sys.stdout = open(os.devnull, "w")  # extractor prints progress
answer.write(json.dumps({"import_s": time.perf_counter() - start}) + "\n"); answer.flush()
folder = os.path.dirname(models.__file__)
for line in sys.stdin:
    request = json.loads(line)
    model = request["model"]
    t, cpu = time.perf_counter(), time.process_time()
    if request["what"] == "load":  # what every extractor call does before computing
        tf.compat.v1.reset_default_graph()
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
        models.define_model(x, tf.compat.v1.placeholder(tf.bool), model, 50)
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, folder + "/" + model + "/")
        reply = {"seconds": time.perf_counter() - t}
    else:
        taggram, _ = extractor.extractor(request["path"], model=model, extract_features=False)
        reply = {"seconds": time.perf_counter() - t, "cpu": time.process_time() - cpu,
                 "tags": taggram.mean(axis=0).tolist()}
    answer.write(json.dumps(reply) + "\n"); answer.flush()
"""


class Original:
    """The original musicnn in a side-environment subprocess, called one request at a time."""

    def __init__(self, side_python: str):
        env = {**os.environ, "OMP_NUM_THREADS": "2", "TF_NUM_INTRAOP_THREADS": "2",
               "TF_NUM_INTEROP_THREADS": "2"}
        self.proc = subprocess.Popen([side_python, "-c", ORIGINAL_SERVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.import_s = self._read()["import_s"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"original musicnn exited with status {self.proc.wait()}")
        return json.loads(line)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def top5(probs, tags) -> list[str]:
    order = sorted(range(len(tags)), key=lambda i: -probs[i])
    return [tags[i] for i in order[:5]]


def agreement(ours: list[str], theirs: list[str]) -> str:
    if ours == theirs:
        return "yes (same order)"
    if set(ours) == set(theirs):
        return "yes (same set)"
    return f"{len(set(ours) & set(theirs))}/5"


def folder_clips(count: int) -> list[Path]:
    """``count`` GTZAN clips, genre by genre (clip 1 of each genre, then clip 2, ...)."""
    per_genre = [sorted((GTZAN / g).glob("*.flac"))[1:] for g in GENRES]
    clips = [clips[i] for i in range(max(map(len, per_genre), default=0))
             for clips in per_genre if i < len(clips)]
    return clips[:count]


def compare(mine: list[float], theirs: list[float], tags) -> tuple[str, float]:
    return (agreement(top5(mine, tags), top5(theirs, tags)),
            max(abs(a - b) for a, b in zip(mine, theirs, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side-python", default="/work/sidenv/bin/python",
                        help="interpreter of an environment with tensorflow and musicnn")
    parser.add_argument("--models", nargs="+", default=["MSD_musicnn", "MTT_musicnn"])
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--folder-clips", type=int, default=20,
                        help="GTZAN clips in the folder run (0: skip it)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads for ours, one file at a time (TensorFlow gets 2 "
                             "intra-op threads)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()

    files = [f for f in [*CLIPS, SONG] if f.exists()]
    folder = folder_clips(args.folder_clips)
    if not files:
        sys.exit("no benchmark audio: shared GTZAN clips and asc-music are both missing")
    load_before = os.getloadavg()
    original = Original(args.side_python)

    import torch

    from earmark.analysis.embed import analyse_files
    from earmark.analysis.songs import song_tags
    from earmark.audio import probe_audio
    from earmark.models.musicnn import load_musicnn, native_bfloat16
    from earmark.settings import override_settings

    file_rows, folder_rows, loads = [], [], []
    with tempfile.TemporaryDirectory() as cache, override_settings(cache_dir=Path(cache)):
        torch.set_num_threads(args.threads)
        for name in args.models:
            start = time.perf_counter()
            load_musicnn(name)
            convert = time.perf_counter() - start
            ours_load, theirs_load = [], []
            for _ in range(args.repeats + 1):  # alternate, so both see the same machine load
                theirs_load.append(original.ask(what="load", model=name)["seconds"])
                start = time.perf_counter()
                load_musicnn(name)
                ours_load.append(time.perf_counter() - start)
            loads.append([name, min(theirs_load[1:]), min(ours_load[1:]),
                          min(theirs_load[1:]) / min(ours_load[1:]), convert])
            models = {p: load_musicnn(name, precision=p) for p in args.precisions}
            tags = models[args.precisions[0]].tags

            for path in files:
                theirs_wall, theirs_cpu = [], []
                ours = {p: {"wall": [], "cpu": []} for p in models}
                for _ in range(args.repeats + 1):  # the first round is a warm-up
                    theirs = original.ask(what="tag", model=name, path=str(path))
                    theirs_wall.append(theirs["seconds"])
                    theirs_cpu.append(theirs["cpu"])
                    for precision, model in models.items():
                        start, cpu = time.perf_counter(), time.process_time()
                        probs, _, _ = song_tags(path, model)
                        ours[precision]["wall"].append(time.perf_counter() - start)
                        ours[precision]["cpu"].append(time.process_time() - cpu)
                        ours[precision]["probs"] = probs.tolist()
                t_wall, t_cpu = min(theirs_wall[1:]), min(theirs_cpu[1:])
                for precision, run in ours.items():
                    o_wall, o_cpu = min(run["wall"][1:]), min(run["cpu"][1:])
                    file_rows.append([
                        name, precision, path.name, round(probe_audio(path).duration or 0.0, 1),
                        t_wall, o_wall, t_wall / o_wall, t_cpu, o_cpu, t_cpu / o_cpu,
                        *compare(run["probs"], theirs["tags"], tags),
                    ])

            if folder:
                theirs_tags: dict[str, list[float]] = {}
                theirs_runs, ours_runs = [], {p: [] for p in models}
                for _ in range(args.repeats):
                    wall = cpu = 0.0
                    for path in folder:
                        reply = original.ask(what="tag", model=name, path=str(path))
                        wall, cpu = wall + reply["seconds"], cpu + reply["cpu"]
                        theirs_tags[str(path)] = reply["tags"]
                    theirs_runs.append((wall, cpu))
                    for precision, model in models.items():
                        start, cpu = time.perf_counter(), time.process_time()
                        results = list(analyse_files(folder, model))
                        ours_runs[precision].append(
                            (time.perf_counter() - start, time.process_time() - cpu, results))
                n = len(folder)
                t_wall, t_cpu = (min(v) / n for v in zip(*theirs_runs, strict=True))
                for precision, runs in ours_runs.items():
                    o_wall = min(r[0] for r in runs) / n
                    o_cpu = min(r[1] for r in runs) / n
                    verdicts = [compare(r.tag_probabilities.tolist(), theirs_tags[p], tags)
                                for p, r in runs[-1][2]]
                    same_order = sum(v == "yes (same order)" for v, _ in verdicts)
                    same_set = sum(v.startswith("yes") for v, _ in verdicts)
                    folder_rows.append([
                        name, precision, n, t_wall, o_wall, t_wall / o_wall, t_cpu, o_cpu,
                        t_cpu / o_cpu, f"{same_set}/{n} ({same_order} same order)",
                        max(d for _, d in verdicts),
                    ])
    original.close()
    load_after = os.getloadavg()

    report = [
        "#### One file at a time (latency), best of the repeats",
        markdown_table(file_rows, [
            "model", "precision", "file", "audio s", "original s", "earmark s", "speed-up",
            "original CPU s", "earmark CPU s", "CPU ratio", "top-5 agree", "max |Δp|"]),
    ]
    if folder_rows:
        report += [
            f"#### A folder of {len(folder)} GTZAN clips (30 s): seconds per clip, best of "
            f"{args.repeats} (ours: `analyse_files`, one song per core; the original: one "
            "`extractor` call per file)",
            markdown_table(folder_rows, [
                "model", "precision", "clips", "original s/clip", "earmark s/clip", "speed-up",
                "original CPU s/clip", "earmark CPU s/clip", "CPU ratio", "top-5 agree",
                "max |Δp|"]),
        ]
    report += [
        "#### Model load",
        markdown_table(loads, ["model", "original build+restore s", "earmark load s",
                               "speed-up", "earmark first conversion s"]),
        f"Original `import tensorflow, musicnn`: {original.import_s:.2f} s. "
        f"{platform.machine()}, {os.cpu_count()} cores, native bfloat16: "
        f"{'yes' if native_bfloat16() else 'no'}; torch {torch.__version__} with "
        f"{args.threads} threads for one file at a time, TensorFlow with 2 intra-op threads. "
        f"Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.",
    ]
    print("\n\n".join(report))
    if args.markdown:
        command = "python bench/bench_musicnn.py " + " ".join(sys.argv[1:])
        args.markdown.write_text(
            "## musicnn: earmark (PyTorch) vs the original (TensorFlow)\n\n"
            f"`{command.strip()}`\n\n" + "\n\n".join(report) + "\n"
        )


if __name__ == "__main__":
    main()
