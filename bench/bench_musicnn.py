"""musicnn benchmark: earmark's PyTorch port against the original TensorFlow musicnn.

The same files go through

* ours: ``earmark.pretrained.song_tags(path, model)`` with the model from
  ``earmark.models.musicnn.load_musicnn`` loaded once (decode with PyAV + soxr, torch mel front
  end, batched network under ``torch.inference_mode``), ``--threads`` torch threads (2) and
  ``OMP_WAIT_POLICY=PASSIVE``;
* the original: ``musicnn.extractor.extractor(path, model)`` (librosa decode and mel, TF1 graph
  built and checkpoint restored on every call, as ``musicnn``'s own ``top_tags`` does), run by
  the side environment's interpreter (``--side-python``, TensorFlow 2.15 CPU) in a subprocess.

The two alternate call by call (the machine's 2 cores are shared with whatever else runs, so
both see the same load), and each file reports the best of ``--repeats`` wall and CPU times
(all threads of the process) after one untimed warm-up round, their ratios, and whether the
whole-song top-5 tags agree (same order, same set, or the overlap). Model load is timed apart:
ours from the safetensors cache (and the one-time checkpoint conversion), the original's graph
build + checkpoint restore that every ``extractor`` call pays.

Run from the repository root::

    python bench/bench_musicnn.py                       # about 5 minutes on a busy machine
    python bench/bench_musicnn.py --models MSD_musicnn --repeats 1
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
CLIPS = [GTZAN / g / f"{g}.00000.flac" for g in ("blues", "classical", "jazz", "metal", "rock")]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side-python", default="/work/sidenv/bin/python",
                        help="interpreter of an environment with tensorflow and musicnn")
    parser.add_argument("--models", nargs="+", default=["MSD_musicnn", "MTT_musicnn"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads for ours (TensorFlow gets 2 intra-op threads)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()

    files = [f for f in [*CLIPS, SONG] if f.exists()]
    if not files:
        sys.exit("no benchmark audio: shared GTZAN clips and asc-music are both missing")
    load_before = os.getloadavg()
    original = Original(args.side_python)

    import torch

    from earmark.audio import probe_audio
    from earmark.models.musicnn import load_musicnn
    from earmark.pretrained import song_tags

    results: dict = {}
    loads = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EARMARK_CACHE_DIR"] = cache
        torch.set_num_threads(args.threads)
        for name in args.models:
            start = time.perf_counter()
            model = load_musicnn(name)
            convert = time.perf_counter() - start
            ours_load, theirs_load = [], []
            for _ in range(args.repeats + 1):  # alternate, so both see the same machine load
                theirs_load.append(original.ask(what="load", model=name)["seconds"])
                start = time.perf_counter()
                load_musicnn(name)
                ours_load.append(time.perf_counter() - start)
            loads.append([name, min(theirs_load[1:]), min(ours_load[1:]),
                          min(theirs_load[1:]) / min(ours_load[1:]), convert])
            for path in files:
                ours_wall, ours_cpu, theirs_wall, theirs_cpu = [], [], [], []
                for _ in range(args.repeats + 1):  # the first round is a warm-up
                    theirs = original.ask(what="tag", model=name, path=str(path))
                    theirs_wall.append(theirs["seconds"])
                    theirs_cpu.append(theirs["cpu"])
                    start, cpu = time.perf_counter(), time.process_time()
                    probs, tags, _ = song_tags(path, model)
                    ours_wall.append(time.perf_counter() - start)
                    ours_cpu.append(time.process_time() - cpu)
                results[name, path] = (
                    [min(v[1:]) for v in (theirs_wall, ours_wall, theirs_cpu, ours_cpu)],
                    probs.tolist(), theirs["tags"], tags,
                )
    original.close()
    load_after = os.getloadavg()

    rows = []
    for (name, path), (seconds, mine, theirs, tags) in results.items():
        theirs_wall, ours_wall, theirs_cpu, ours_cpu = seconds
        rows.append([
            name, path.name, round(probe_audio(path).duration or 0.0, 1),
            theirs_wall, ours_wall, theirs_wall / ours_wall,
            theirs_cpu, ours_cpu, theirs_cpu / ours_cpu,
            agreement(top5(mine, tags), top5(theirs, tags)),
            max(abs(a - b) for a, b in zip(mine, theirs, strict=True)),
        ])
    report = [
        markdown_table(rows, ["model", "file", "audio s", "original s", "earmark s", "speed-up",
                              "original CPU s", "earmark CPU s", "CPU ratio", "top-5 agree",
                              "max |Δp|"]),
        markdown_table(loads, ["model", "original build+restore s", "earmark load s",
                               "speed-up", "earmark first conversion s"]),
        f"Original `import tensorflow, musicnn`: {original.import_s:.2f} s. "
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{args.threads} threads, TensorFlow with 2 intra-op threads. Load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (the cores are shared with "
        "other work, so CPU seconds compare the work done better than wall seconds).",
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
