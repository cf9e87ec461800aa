"""Decoding benchmark: earmark's decode + resample + log-mel against librosa and the ffmpeg floor.

Three full-length real songs (Debian's asc-music MP3s, 22.05 kHz stereo) and each of them
transcoded to 44.1 kHz stereo MP3, FLAC and M4A go through

* ours: ``earmark.audio.decode_audio(path, 16000)`` then
  ``earmark.features.log_mel(y, MUSICNN_MEL)``;
* librosa: ``librosa.load(path, sr=16000)`` then ``librosa.feature.melspectrogram`` with the same
  STFT and mel settings and the same ``log10(1 + 10000 x)`` compression;
* the floor: ``ffmpeg -i FILE -ac 1 -ar 16000 -f f32le -`` in a subprocess, output discarded.

It prints markdown tables (wall and CPU seconds per minute of audio, median of the repeats after
a warm-up), then a folder run using both cores, the peak memory of streaming a file of over an
hour, and the cost of soxr's quality settings on resampling alone. Transcoded files live in a
cache folder outside the repository (``EARMARK_BENCH_CACHE`` or the user cache dir), built once.

Run from the repository root::

    python bench/bench_decode.py            # 6 minutes on 2 busy cores, after the first build
    python bench/bench_decode.py --profile  # cProfile of our pipeline on one song
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from statistics import median

import numpy as np

from _util import Timing, markdown_table, peak_rss_of, timed

# earmark (torch) and librosa are imported inside the functions that use them: every measured
# child process then loads only its own pipeline, so its memory and start-up are its own.

ASC_MUSIC = Path("/usr/share/games/asc/music")
SR = 16000
N_FFT, HOP, N_MELS = 512, 256, 96  # MUSICNN_MEL's STFT and mel sizes, given to librosa too
HOUR_MINUTES = 65.0

# (file suffix, ffmpeg output arguments); codecs and bit rates as in tests/conftest.py.
TRANSCODES = {
    "mp3 44.1k": (".mp3", ["-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"]),
    "flac 44.1k": (".flac", ["-ar", "44100", "-ac", "2", "-c:a", "flac"]),
    "m4a 44.1k": (".m4a", ["-ar", "44100", "-ac", "2", "-c:a", "aac", "-b:a", "128k"]),
}
ORIGINAL = "mp3 22.05k (original)"
FORMAT_ORDER = [ORIGINAL, *TRANSCODES]


@dataclass(frozen=True)
class Song:
    label: str
    path: Path
    fmt: str
    minutes: float


def cache_dir() -> Path:
    """Folder for the transcoded files, outside the repository."""
    if "EARMARK_BENCH_CACHE" in os.environ:
        return Path(os.environ["EARMARK_BENCH_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("earmark")) / "bench"


def _ffmpeg(args: list[str], dst: Path) -> None:
    """Run ffmpeg into a temporary name and rename, so an interrupted build is never cached."""
    tmp = dst.with_name(".part-" + dst.name)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args, str(tmp)], check=True)
    tmp.rename(dst)


def _minutes(path: Path) -> float:
    from earmark.audio import probe_audio

    return probe_audio(path).duration / 60.0


def prepare_songs(cache: Path) -> list[Song]:
    """The asc-music songs plus their 44.1 kHz stereo MP3/FLAC/M4A transcodes (built once)."""
    originals = sorted(ASC_MUSIC.glob("*.mp3"))
    if not originals:
        sys.exit("asc-music is not installed (apt-get install asc-music)")
    cache.mkdir(parents=True, exist_ok=True)
    songs = []
    for src in originals:
        songs.append(Song(src.stem, src, ORIGINAL, _minutes(src)))
        for fmt, (suffix, args) in TRANSCODES.items():
            dst = cache / f"{src.stem}-44k{suffix}"
            if not dst.exists():
                _ffmpeg(["-i", str(src), "-map", "0:a", *args], dst)
            songs.append(Song(src.stem, dst, fmt, _minutes(dst)))
    return songs


def prepare_hour_file(cache: Path, originals: list[Path]) -> Path:
    """The asc songs concatenated in a loop to at least ``HOUR_MINUTES``, 44.1 kHz stereo MP3."""
    dst = cache / f"asc-loop-{HOUR_MINUTES:.0f}min.mp3"
    if dst.exists():
        return dst
    loop_minutes = sum(_minutes(p) for p in originals)
    loops = int(np.ceil(HOUR_MINUTES / loop_minutes))
    listing = cache / "asc-loop.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in originals * loops))
    _ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0:a",
             *TRANSCODES["mp3 44.1k"][1]], dst)
    return dst


# --- the pipelines (module level so that child processes can run them) ------------------------


def ours(path: Path) -> int:
    """Decode, resample to 16 kHz and log-mel with earmark; number of mel frames."""
    from earmark.audio import decode_audio
    from earmark.features import MUSICNN_MEL, log_mel

    return log_mel(decode_audio(path, SR), MUSICNN_MEL).shape[-1]


def librosa_pipeline(path: Path) -> int:
    """The same work with librosa (soundfile, or audioread for M4A; soxr_hq); mel frames."""
    import librosa

    with warnings.catch_warnings():
        # M4A falls back to audioread, which warns on every call.
        warnings.simplefilter("ignore")
        y, _ = librosa.load(path, sr=SR)
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    return np.log10(1.0 + 10000.0 * mel).shape[-1]


def ffmpeg_floor(path: Path) -> None:
    """Decode, mix to mono and resample to 16 kHz with the ffmpeg CLI, output discarded."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SR),
         "-f", "f32le", "-"],
        stdout=subprocess.DEVNULL, check=True,
    )


def ours_streamed(path: Path) -> tuple[int, float]:
    """Log-mel of a whole file block by block with ``stream_audio``: (mel frames, wall seconds).

    Frames are those of a non-centred STFT over the whole signal (each block carries the
    samples the next frame needs). Each block's log-mel is dropped once counted, as a consumer
    that summarises it would do: keeping an hour of log-mel frames would itself cost ~90 MB.
    One torch thread: a 10 s block is too small to share, and two threads on a busy machine
    wait on each other.
    """
    import torch

    from earmark.audio import stream_audio
    from earmark.features import MUSICNN_MEL, log_mel

    torch.set_num_threads(1)
    start = time.perf_counter()
    params = MUSICNN_MEL.with_(center=False)
    carry = np.zeros(0, np.float32)
    frames = 0
    for block in stream_audio(path, SR, block_seconds=10.0):
        x = np.concatenate([carry, block])
        n = 0 if len(x) < params.n_fft else 1 + (len(x) - params.n_fft) // params.hop_length
        if n:
            frames += log_mel(x[: (n - 1) * params.hop_length + params.n_fft], params).shape[-1]
        carry = x[n * params.hop_length :]
    return frames, time.perf_counter() - start


def librosa_whole(path: Path) -> tuple[int, float]:
    """The librosa pipeline on a whole file: (mel frames, wall seconds)."""
    start = time.perf_counter()
    frames = librosa_pipeline(path)
    return frames, time.perf_counter() - start


def import_ours() -> None:
    """Load earmark's audio and feature modules only: the fixed memory cost of our pipeline."""
    import earmark.audio
    import earmark.features  # noqa: F401


def import_librosa() -> None:
    """Load librosa with its mel code only: the fixed memory cost of the librosa pipeline."""
    import librosa.feature

    librosa.feature.melspectrogram(y=np.zeros(SR, np.float32), sr=SR)


def _one_thread() -> None:
    """Pool initializer: one BLAS/OpenMP thread per process, since the processes fill the cores."""
    import threadpoolctl

    threadpoolctl.threadpool_limits(1)


def _torch_one_thread() -> None:
    """:func:`_one_thread` for torch's intra-op pool as well."""
    import torch

    torch.set_num_threads(1)
    _one_thread()


# --- the measurements -----------------------------------------------------------------------


def bench_per_file(songs: list[Song], repeats: int) -> str:
    """Seconds per minute of audio for each song and format, methods interleaved per repeat."""
    import torch

    default_threads = torch.get_num_threads()

    def ours_one_thread(path: Path) -> int:
        torch.set_num_threads(1)
        try:
            return ours(path)
        finally:
            torch.set_num_threads(default_threads)

    methods: dict[str, Callable[[Path], object]] = {
        "floor": ffmpeg_floor, "ours": ours, "ours1": ours_one_thread, "librosa": librosa_pipeline,
    }
    results: dict[tuple[Path, str], list[Timing]] = {}
    for song in songs:
        for fn in methods.values():
            fn(song.path)
        for _ in range(repeats):
            # Interleaved so that load from other users of the machine hits every method alike.
            for name, fn in methods.items():
                results.setdefault((song.path, name), []).extend(
                    timed(partial(fn, song.path), repeats=1, warmup=0)
                )

    def row(label: str, fmt: str, group: list[Song]) -> list:
        minutes = sum(s.minutes for s in group)
        wall = {name: sum(median(t.wall for t in results[(s.path, name)]) for s in group) / minutes
                for name in methods}
        cpu = {name: sum(median(t.cpu for t in results[(s.path, name)]) for s in group) / minutes
               for name in methods}
        return [label, fmt, minutes, wall["floor"], wall["ours"], wall["ours1"], wall["librosa"],
                wall["ours"] / wall["floor"], wall["librosa"] / wall["ours"],
                wall["ours1"] / wall["ours"], cpu["ours"] / cpu["floor"],
                cpu["librosa"] / cpu["ours"]]

    headers = ["song", "format", "min", "floor s/min", "ours s/min", "ours 1-thread s/min",
               "librosa s/min", "ours/floor", "librosa/ours", "1-thread/default",
               "CPU ours/floor", "CPU librosa/ours"]
    per_file = [row(s.label, s.fmt, [s]) for s in songs]
    per_format = [row(f"**{fmt}**", "", [s for s in songs if s.fmt == fmt])
                  for fmt in FORMAT_ORDER]
    per_format.append(row("**all**", "", songs))
    within = sum(1 for r in per_file if r[7] <= 1.3)
    return (
        f"### Per file: wall seconds per minute of audio, median of {repeats} after a warm-up "
        f"(torch default threads = {default_threads}); CPU = user + system seconds, ffmpeg's "
        "included\n\n"
        + markdown_table(per_file, headers)
        + "\n\n### Per format (sum of medians / sum of minutes)\n\n"
        + markdown_table(per_format, headers)
        + f"\n\nGoal ours/floor <= 1.3 (wall): {within} of {len(per_file)} files.\n"
    )


def _run_folder(fn: Callable[[Path], object], paths: list[Path], processes: int,
                initializer: Callable[[], None] | None) -> None:
    """Process ``paths`` in ``processes`` fresh (spawned) worker processes.

    Worker start-up and imports are part of the run: a user pays them too.
    """
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn"),
                             initializer=initializer) as pool:
        list(pool.map(fn, paths))


def _run_folder_engine(fn: Callable[[Path], object], paths: list[Path], processes: int,
                       _: object) -> None:
    """Process ``paths`` with earmark's own engine (:func:`earmark.engine.map_files`): workers
    forked from a server that imports torch and earmark once. Starting the server (and its
    imports) is part of the run."""
    from earmark.engine.local import map_files

    list(map_files(fn, paths, workers=processes))


def bench_folder(songs: list[Song], repeats: int) -> str:
    """Throughput on the whole folder of songs: pools of processes against one process."""
    # Longest first so that two workers finish together.
    paths = [s.path for s in sorted(songs, key=lambda s: -s.minutes)]
    minutes = sum(s.minutes for s in songs)
    runs = {
        "ours, earmark.engine engine, 2 processes": (ours, 2, "engine"),
        "ours, 2 spawned processes (1 torch thread each)": (ours, 2, _torch_one_thread),
        "ours, 1 process": (ours, 1, None),
        "librosa, 1 process (a user's loop)": (librosa_pipeline, 1, None),
        "librosa, 2 processes (1 BLAS thread each)": (librosa_pipeline, 2, _one_thread),
    }
    times: dict[str, list[Timing]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (fn, processes, init) in runs.items():
            run = _run_folder_engine if init == "engine" else _run_folder
            times[name] += timed(partial(run, fn, paths, processes, init), 1, warmup=0)
    wall = {name: median(t.wall for t in ts) for name, ts in times.items()}
    cpu = {name: median(t.cpu for t in ts) for name, ts in times.items()}
    base = wall["librosa, 1 process (a user's loop)"]
    base2 = wall["librosa, 2 processes (1 BLAS thread each)"]
    # The engine's workers are children of its fork server, not of this process, so
    # getrusage(RUSAGE_CHILDREN) cannot see their CPU time.
    rows = [[name, wall[name], minutes / wall[name], base / wall[name], base2 / wall[name],
             "n/a" if runs[name][2] == "engine" else cpu[name] / minutes] for name in runs]
    headers = ["run", "wall s", "min of audio / s", "x librosa 1 proc", "x librosa 2 procs",
               "CPU s/min"]
    return (
        f"### Folder: {len(paths)} files, {minutes:.1f} min of audio, median of {repeats} "
        "(worker start-up and imports included)\n\n" + markdown_table(rows, headers) + "\n"
    )


def bench_memory(hour: Path) -> str:
    """Peak RSS of a child process streaming an hour-long file, and of librosa on it."""
    minutes = _minutes(hour)
    _, ours_base = peak_rss_of(import_ours)
    (ours_frames, ours_s), ours_peak = peak_rss_of(ours_streamed, hour)
    _, lib_base = peak_rss_of(import_librosa)
    (lib_frames, lib_s), lib_peak = peak_rss_of(librosa_whole, hour)
    mb = 1 << 20
    rows = [
        ["ours: stream_audio + log_mel per 10 s block (1 torch thread)", ours_peak / mb,
         ours_base / mb, (ours_peak - ours_base) / mb, ours_s / minutes, ours_frames],
        ["librosa.load + melspectrogram (whole file)", lib_peak / mb, lib_base / mb,
         (lib_peak - lib_base) / mb, lib_s / minutes, lib_frames],
    ]
    headers = ["pipeline", "peak RSS MB", "imports only MB", "growth MB", "s/min", "mel frames"]
    return (
        f"### Peak memory: {hour.name}, {minutes:.1f} min, MP3 44.1 kHz stereo "
        "(each in a fresh spawned process; RSS high-water mark)\n\n"
        + markdown_table(rows, headers)
        + f"\n\nGoal peak < 300 MB: {'met' if ours_peak < 300 * mb else 'missed'} "
        f"({ours_peak / mb:.0f} MB).\n"
    )


def bench_soxr(songs: list[Song], repeats: int) -> str:
    """Resampling alone: soxr qualities, one call per song against decoder-sized chunks.

    CPU seconds (soxr runs in this one thread, so they are its cost whatever else the machine
    does), median of at least 5 repeats: each call is short.
    """
    import soxr

    from earmark.audio import decode_audio

    cases = [s for s in songs if s.fmt in (ORIGINAL, "flac 44.1k")][:2]
    signals = []
    for song in cases:
        y = decode_audio(song.path)
        signals.append((song, y, _native_rate(song.path)))

    def streamed(y: np.ndarray, rate: int, quality: str, chunk: int) -> None:
        stream = soxr.ResampleStream(rate, SR, 1, dtype="float32", quality=quality)
        for start in range(0, len(y), chunk):
            stream.resample_chunk(y[start : start + chunk])
        stream.resample_chunk(y[:0], last=True)

    rows = []
    for quality in ("MQ", "HQ", "VHQ"):
        row: list = [quality]
        for _, y, rate in signals:
            minutes = len(y) / rate / 60
            frame = 576 if rate < 32000 else 1152  # samples in one MP3 frame at this rate
            for call in (partial(soxr.resample, y, rate, SR, quality=quality),
                         partial(streamed, y, rate, quality, frame),
                         partial(streamed, y, rate, quality, 1 << 16)):
                row.append(median(t.cpu for t in timed(call, max(repeats, 5))) / minutes)
        rows.append(row)
    headers = ["quality"]
    for _, _, rate in signals:
        k = f"{rate / 1000:g}k"
        headers += [f"{k} one call", f"{k} per MP3 frame", f"{k} 64 Ki chunks"]
    return (
        "### soxr, resampling alone to 16 kHz (CPU s per min of mono audio; "
        f"{', '.join(f'{s.label} {s.fmt}' for s, _, _ in signals)})\n\n"
        + markdown_table(rows, headers) + "\n"
    )


def _native_rate(path: Path) -> int:
    from earmark.audio import probe_audio

    return probe_audio(path).sample_rate


def parity(song: Song) -> str:
    """How close our log-mel is to librosa's on one song: evidence that both do the same work."""
    import librosa

    from earmark.audio import decode_audio
    from earmark.features import MUSICNN_MEL, log_mel

    ours_mel = log_mel(decode_audio(song.path, SR, duration=30.0), MUSICNN_MEL).numpy()
    y, _ = librosa.load(song.path, sr=SR, duration=30.0)
    ref = np.log10(1.0 + 10000.0 * librosa.feature.melspectrogram(
        y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS))
    n = min(ours_mel.shape[-1], ref.shape[-1])
    diff = np.abs(ours_mel[:, :n] - ref[:, :n])
    return (
        f"Parity on the first 30 s of {song.label} ({song.fmt}): log-mel frames "
        f"{ours_mel.shape[-1]} vs {ref.shape[-1]}, mean |ours - librosa| = {diff.mean():.3g}, "
        f"99th pct {np.percentile(diff, 99):.3g} (values span 0..{ref.max():.2f}).\n"
    )


def environment() -> str:
    """One line on the machine and the versions measured."""
    import av
    import librosa
    import soundfile
    import soxr
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    return (
        f"{cpu}, {os.cpu_count()} cores, load average at start "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, PyAV {av.__version__} (FFmpeg "
        f"{av.ffmpeg_version_info}), soxr {soxr.__version__}, librosa {librosa.__version__}, "
        f"libsndfile {soundfile.__libsndfile_version__}, {ffmpeg.split(' Copyright')[0]} CLI.\n"
    )


def profile(song: Song) -> str:
    """cProfile of :func:`ours` on ``song`` after a warm-up, top 15 by own time."""
    import cProfile
    import io
    import pstats

    ours(song.path)
    profiler = cProfile.Profile()
    profiler.runcall(ours, song.path)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per file (median)")
    parser.add_argument("--folder-repeats", type=int, default=1, help="runs of each folder run")
    parser.add_argument("--cache", type=Path, default=None, help="folder for transcoded files")
    parser.add_argument("--only", nargs="+", default=None,
                        choices=["files", "folder", "memory", "soxr"], help="run only these parts")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of our pipeline on one 44.1 kHz MP3 and exit")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        sys.exit("the ffmpeg CLI is needed (apt-get install ffmpeg)")
    cache = args.cache or cache_dir()
    songs = prepare_songs(cache)
    if args.profile:
        print(profile(next(s for s in songs if s.fmt == "mp3 44.1k")))
        return
    parts = set(args.only or ["files", "folder", "memory", "soxr"])
    start = time.perf_counter()
    print(f"## Decoding benchmark\n\n{environment()}")
    print(parity(next(s for s in songs if s.fmt == "mp3 44.1k")))
    if "files" in parts:
        print(bench_per_file(songs, args.repeats), flush=True)
    if "folder" in parts:
        print(bench_folder(songs, args.folder_repeats), flush=True)
    if "memory" in parts:
        hour = prepare_hour_file(cache, [s.path for s in songs if s.fmt == ORIGINAL])
        print(bench_memory(hour), flush=True)
    if "soxr" in parts:
        print(bench_soxr(songs, args.repeats), flush=True)
    print(f"Bench wall time: {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
