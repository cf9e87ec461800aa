"""Libraries of 100,000 songs (issue 16): how fast full-length songs are analysed, and what
sampling them costs in quality.

One function per section, each printing one markdown table, so sections can be added (the
100,000-row catalog half comes from another part of the issue) and run alone:

* :func:`section_sampling_choice` - how many patches, where, single or contiguous: each
  sampling's quality from the ``--full`` patches at its places (a sampled run's patches are
  exactly those: ``tests/analysis/test_sampling.py``), so one full analysis scores them all;
* :func:`section_sampling_quality` - sampled analysis (the default) against ``--full`` on the
  same songs: taste AUC, grouped-CV genre accuracy of the default head, top-10 ``similar``
  overlap, top-5 tag sets, and the correlation of both halves of the embedding;
* :func:`section_throughput` - seconds per song and songs per hour, sampled vs ``--full``, one
  tagger and both, with where the time goes, against the ``ffmpeg`` decode floor measured in
  the same run.
* :func:`section_real_top_tags` - the top-5 tag agreement of 16, 24 and 32 sampled patches on
  real recordings (asc-music and the Wesnoth soundtrack, ``apt-get install
  wesnoth-1.16-music``), strict and up to ties;
* :func:`bench_ray.section_ray` - songs per minute, local engine vs Ray (a one-node cluster of
  earmark's own), on the same songs.

Songs: the asc-music songs (``/usr/share/games/asc/music``) and a generated library of
full-length songs (:func:`long_song_library`: the shared GTZAN clips of one genre joined, in
a shuffled order and repeated, into 3-6 minute tracks, re-encoded; built once with ffmpeg
into the cache folder, deterministic).

    python bench/bench_scale.py                         # every section
    python bench/bench_scale.py --sections throughput   # one
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import markdown_table, peak_memory_of  # noqa: E402
from bench_ray import section_ray  # noqa: E402
from earmark.settings import settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GTZAN = ROOT.parent / "shared" / "data" / "gtzan-mini-dev"
ASC_MUSIC = Path("/usr/share/games/asc/music")
WESNOTH_MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae",
          "rock")
# Encoders of the generated tracks, in turn: seeking differs by container.
_ENCODINGS = (("mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
              ("ogg", ["-c:a", "libvorbis", "-q:a", "5"]),
              ("m4a", ["-c:a", "aac", "-b:a", "160k"]))


def long_song_library(folder: Path | None = None, clips: Path = GTZAN) -> list[tuple[Path, str,
                                                                                     str]]:
    """Full-length songs made from the shared 30-second GTZAN clips: ``(path, genre, source)``.

    Per genre, the first three clips (by name) and the next three are two sources; each
    source gives two tracks of its three clips joined whole, shuffled anew each round and
    repeated up to 3-6 minutes (a song's 30-second sections come back, as choruses do),
    encoded as MP3, Ogg Vorbis or AAC in turn.
    ``source`` names the clips a track is made of: grouped cross-validation keeps a source's
    tracks on one side. Built once into ``folder`` (default the cache folder) and reused.
    """
    from earmark.audio import decode_audio

    folder = folder or settings().cache_dir / "bench" / "long-songs-v2"
    folder.mkdir(parents=True, exist_ok=True)
    songs = []
    for g, genre in enumerate(GENRES):
        files = sorted((clips / genre).glob("*.flac"))
        for s, group in enumerate((files[:3], files[3:6])):
            source = f"{genre}-{s}"
            for t in range(2):
                k = (g * 4 + s * 2 + t) % len(_ENCODINGS)
                ext, codec = _ENCODINGS[k]
                path = folder / f"{source}-{t}.{ext}"
                songs.append((path, genre, source))
                if path.exists():
                    continue
                seed = int.from_bytes(hashlib.blake2b(path.name.encode(), digest_size=4)
                                      .digest(), "little")
                rng = np.random.default_rng(seed)
                rate = 22050
                pieces = [decode_audio(clip, rate) for clip in group]
                seconds = int(rng.integers(180, 361))
                order: list[int] = []
                while sum(len(pieces[i]) for i in order) < seconds * rate:
                    order += list(rng.permutation(len(pieces)))
                audio = np.concatenate([pieces[i] for i in order])[: seconds * rate]
                with tempfile.NamedTemporaryFile(suffix=".f32") as raw:
                    raw.write(audio.astype("<f4").tobytes())
                    raw.flush()
                    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le",
                                    "-ar", str(rate), "-ac", "1", "-i", raw.name, *codec,
                                    str(path)], check=True)
    return songs



def real_songs() -> list[Path]:
    """Full-length real recordings over 100 s (so sampled): the asc-music songs and the
    Battle for Wesnoth soundtrack (Debian package ``wesnoth-1.16-music``: 41 orchestral OGG
    tracks, 28 of them over 100 s); those installed."""
    from earmark.audio import probe_audio

    found = sorted(WESNOTH_MUSIC.glob("*.ogg")) + asc_songs()
    return [p for p in found if (probe_audio(p).duration or 0.0) > 100]


def asc_songs() -> list[Path]:
    """The asc-music songs (Debian package ``asc-music``); none when it is not installed."""
    return sorted(ASC_MUSIC.glob("*.mp3"))


def _taggers(names: list[str], precision: str | None = None):
    import torch

    from earmark.analysis.embed import load_taggers

    torch.set_num_threads(2)
    return load_taggers(names, precision=precision)


def _analyse(paths: list[Path], taggers, sampling) -> tuple[list, float]:
    """Every song through ``taggers`` with ``sampling`` (``None``: every patch), as embed runs
    them (two songs at once on threads): ``(results, wall seconds)``."""
    from earmark.analysis.embed import analyse_files

    start = time.perf_counter()
    results = [result for _, result in analyse_files(paths, taggers, sampling=sampling)]
    return results, time.perf_counter() - start


#: Tags within this much of the 5th tag of ``--full`` count as tied with it in the tie-aware
#: top-5 agreement: the size of the default precision's own rounding (bfloat16 front end:
#: probabilities within 0.009 of float32's, bench/RESULTS.md "pretrained").
TIE = 0.01


def _top5_agrees(reference: np.ndarray, other: np.ndarray, tie: float = 0.0) -> bool:
    """Whether song tag probabilities ``other`` ``(n_tags,)`` have the top-5 tags of
    ``reference``; with ``tie`` > 0, a tag swapped in also counts as right when its
    ``reference`` probability is within ``tie`` of the reference's 5th (the two were tied,
    and either set is right)."""
    ours = set(np.argsort(-reference)[:5])
    theirs = set(np.argsort(-other)[:5])
    fifth = np.sort(reference)[-5]
    return ours == theirs or (tie > 0 and all(reference[t] >= fifth - tie
                                              for t in theirs - ours))


def _same_top5(reference, other, k: int, tie: float = 0.0) -> float:
    """Share of songs whose top-5 tags of tagger ``k`` in ``other`` are those of ``reference``
    (:func:`_top5_agrees`)."""
    return float(np.mean([_top5_agrees(ref.outputs[k].tag_probabilities,
                                       oth.outputs[k].tag_probabilities, tie)
                          for ref, oth in zip(reference, other, strict=True)]))


def _near_ties(song_tags: list[np.ndarray]) -> float:
    """Share of song tag probability vectors whose 5th and 6th tags are within :data:`TIE`."""
    ends = [np.sort(probs)[-6:-4] for probs in song_tags]
    return float(np.mean([fifth - sixth < TIE for sixth, fifth in ends]))


def _sampled_rows(analysis, sampling) -> np.ndarray:
    """The taggram rows of a ``--full`` analysis that ``sampling`` would analyse (a sampled
    run's patches are exactly those: ``tests/analysis/test_sampling.py``)."""
    from earmark.analysis.sampling import plan_windows

    windows = plan_windows(analysis.info.duration, analysis.info.patch_seconds, sampling)
    if windows is None:
        return np.arange(len(analysis.taggram))
    return np.concatenate([np.arange(f, f + n) for f, n in windows])


def _nearest(X: np.ndarray, n: int = 10) -> np.ndarray:
    """Each row's ``n`` most cosine-similar other rows, as ``earmark similar`` ranks them."""
    from earmark.taste.recommend import cosine_similarities

    sims = cosine_similarities(X, X)
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1, kind="stable")[:, :n]


def _genre_accuracy(X: np.ndarray, genres: np.ndarray, sources: np.ndarray) -> float:
    """Grouped 5-fold CV accuracy of the default head (a source's tracks on one side)."""
    from sklearn.model_selection import GroupKFold

    from earmark.models.heads import EmbeddingHead

    right = 0
    for train, test in GroupKFold(5).split(X, genres, sources):
        head = EmbeddingHead().fit(X[train], genres[train], groups=sources[train])
        right += int(np.sum(head.predict(X[test]) == genres[test]))
    return right / len(genres)


def _taste_auc(X: np.ndarray, liked: np.ndarray, sources: np.ndarray, seeds: int = 20,
               ratings: int = 20) -> float:
    """Mean held-out ROC-AUC after ``ratings`` random ratings, as bench_taste measures it."""
    from bench_taste import holdout, learning_curve

    aucs = []
    for seed in range(seeds):
        pool, test = holdout(liked, sources, np.random.default_rng(seed))
        aucs.append(learning_curve(X, liked, pool, test, "random", [ratings], 2, seed)[-1])
    return float(np.mean(aucs))


def section_sampling_quality(songs: list[tuple[Path, str, str]], asc: list[Path],
                             sampling) -> str:
    """Sampled (the default) against ``--full`` on the same songs: the issue's four quality
    criteria, and how close each half of the MSD embedding stays."""
    paths = [p for p, _, _ in songs] + asc
    taggers = _taggers(["MSD_musicnn", "MTT_musicnn"])
    full, full_s = _analyse(paths, taggers, None)
    sampled, sampled_s = _analyse(paths, taggers, sampling)
    # The reference's own noise: --full again in float32 (the default precision runs the front
    # end in bfloat16 where the CPU has it), to show how often rounding alone swaps a tag.
    full32, _ = _analyse(paths, _taggers(["MSD_musicnn", "MTT_musicnn"], "float32"), None)
    emb_f = np.stack([r.embedding for r in full])
    emb_s = np.stack([r.embedding for r in sampled])
    d = emb_f.shape[1] // 2

    def r(half: slice) -> np.ndarray:
        return np.array([np.corrcoef(a[half], b[half])[0, 1] for a, b in zip(emb_f, emb_s,
                                                                            strict=True)])

    lib = slice(0, len(songs))
    genres = np.array([g for _, g, _ in songs])
    sources = np.array([s for _, _, s in songs])
    liked = np.isin(genres, ["jazz", "classical", "blues"]).astype(int)
    near_f, near_s = _nearest(emb_f), _nearest(emb_s)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(near_f, near_s, strict=True)])
    rows = [
        ["taste AUC, 20 ratings (jazz/classical/blues liked)", _taste_auc(emb_f[lib], liked,
         sources), _taste_auc(emb_s[lib], liked, sources), "within 0.01"],
        ["genre accuracy, default head, grouped 5-fold CV",
         _genre_accuracy(emb_f[lib], genres, sources),
         _genre_accuracy(emb_s[lib], genres, sources), "within 1 point"],
        ["top-10 similar overlap (all songs)", 1.0, float(overlap), ">= 0.80"],
    ]
    for k, name in enumerate(("MSD", "MTT")):
        rows.append([f"same top-5 {name} tags", 1.0, _same_top5(full, sampled, k), ">= 0.90"])
        rows.append([f"same top-5 {name} tags, --full float32 instead of sampled (reference)",
                     1.0, _same_top5(full, full32, k), "-"])
        rows.append([f"same top-5 {name} tags up to ties within {TIE} of the 5th", 1.0,
                     _same_top5(full, sampled, k, TIE), "-"])
    rows.append([f"song-tagger pairs whose 5th and 6th --full tags are within {TIE}", "-",
                 _near_ties([r.outputs[k].tag_probabilities for r in full for k in range(2)]),
                 "-"])
    for label, half in (("mean", slice(0, d)), ("max", slice(d, None))):
        values = r(half)
        rows.append([f"r of the embedding's {label} half: mean (min)", 1.0,
                     f"{values.mean():.4f} ({values.min():.4f})", "-"])
    minutes = sum(res.duration for res in full) / 60
    rows.append(["seconds analysing (both taggers)", full_s, sampled_s,
                 f"{len(paths)} songs, {minutes:.0f} min"])
    return (f"### Sampled ({sampling.spec}) vs --full, {len(songs)} generated + {len(asc)} "
            f"asc songs\n\n" + markdown_table(rows, ["measure", "--full", "sampled", "goal"]))


def section_sampling_choice(songs: list[tuple[Path, str, str]], asc: list[Path],
                            choices: list) -> str:
    """Each sampling of ``choices`` scored against ``--full`` from one full analysis: the
    patches it would analyse, pooled as the analysis pools them."""
    from earmark.analysis.songs import analyse_song_models, embedding_from_patches

    taggers = _taggers(["MSD_musicnn", "MTT_musicnn"])
    paths = [p for p, _, _ in songs] + asc
    full = [analyse_song_models(str(p), taggers) for p in paths]
    lib = slice(0, len(songs))
    genres = np.array([g for _, g, _ in songs])
    sources = np.array([s for _, _, s in songs])
    liked = np.isin(genres, ["jazz", "classical", "blues"]).astype(int)

    def pooled(rows_of) -> tuple[np.ndarray, list[list[frozenset]]]:
        X, tops = [], []
        for analyses in full:
            rows = rows_of(analyses[0])
            X.append(embedding_from_patches(analyses[0].embeddings[rows]))
            tops.append([frozenset(np.argsort(-a.taggram[rows].mean(0))[:5]) for a in analyses])
        return np.stack(X), tops

    X_f, top_f = pooled(lambda a: slice(None))
    near_f = _nearest(X_f)
    auc_f = _taste_auc(X_f[lib], liked, sources)
    acc_f = _genre_accuracy(X_f[lib], genres, sources)
    rows = []
    for sampling in choices:
        X_s, top_s = pooled(lambda a, sampling=sampling: _sampled_rows(a, sampling))
        d = X_s.shape[1] // 2
        r_max = [np.corrcoef(a[d:], b[d:])[0, 1] for a, b in zip(X_f, X_s, strict=True)]
        near_s = _nearest(X_s)
        rows.append([
            sampling.spec, sampling.windows * sampling.patches,
            _taste_auc(X_s[lib], liked, sources) - auc_f,
            (_genre_accuracy(X_s[lib], genres, sources) - acc_f) * 100,
            float(np.mean([len(set(a) & set(b)) / 10
                           for a, b in zip(near_f, near_s, strict=True)])),
            *[float(np.mean([f[k] == s[k] for f, s in zip(top_f, top_s, strict=True)]))
              for k in range(2)],
            f"{np.mean(r_max):.3f} ({np.min(r_max):.3f})"])
    near = _near_ties([a.taggram.mean(0) for analyses in full for a in analyses])
    return (f"### Choosing the sampling: {len(songs)} generated + {len(asc)} asc songs, "
            f"from their --full patches\n\n" + markdown_table(rows, [
                "sampling", "patches", "taste AUC - full", "genre acc - full (points)",
                "similar top-10 overlap", "same top-5 MSD", "same top-5 MTT",
                "r max half: mean (min)"]) +
            f"\n\nIn --full, the 5th and 6th tags are within {TIE} on {near:.0%} of "
            f"song-tagger pairs.")


def section_real_top_tags(songs: list[Path], choices: list) -> str:
    """The top-5 tag agreement of each sampling in ``choices`` with ``--full`` on real
    recordings (:func:`real_songs`), strict and counting ties within :data:`TIE` of the 5th,
    scored from one full analysis per song as :func:`section_sampling_choice` does."""
    from earmark.analysis.songs import analyse_song_models

    taggers = _taggers(["MSD_musicnn", "MTT_musicnn"])
    full = [analyse_song_models(str(p), taggers) for p in songs]
    rows = []
    for sampling in choices:
        same = np.zeros((2, 2))
        for analyses in full:
            rows_of = _sampled_rows(analyses[0], sampling)
            for k, analysis in enumerate(analyses):
                probs, sampled = analysis.taggram.mean(0), analysis.taggram[rows_of].mean(0)
                same[k] += (_top5_agrees(probs, sampled), _top5_agrees(probs, sampled, TIE))
        same /= len(full)
        rows.append([sampling.spec, same[0, 0], same[0, 1], same[1, 0], same[1, 1]])
    near = _near_ties([a.taggram.mean(0) for analyses in full for a in analyses])
    return (f"### Top-5 tags on {len(songs)} real recordings, sampled vs --full\n\n" +
            markdown_table(rows, ["sampling", "same top-5 MSD", f"MSD, ties within {TIE}",
                                  "same top-5 MTT", f"MTT, ties within {TIE}"]) +
            f"\n\nIn --full, the 5th and 6th tags are within {TIE} on {near:.0%} of "
            f"song-tagger pairs.")


def _embed_run(paths: list[str], models: list[str], full: bool,
               batch_patches: int | None = None) -> tuple[float, int, float]:
    """Scan ``paths`` into a fresh catalog and embed them, as ``earmark embed`` does
    (``batch_patches``: patches of several songs per network call, ``0`` one song at a time,
    ``None`` embed's default):
    ``(seconds a song after the first, songs timed, start-up seconds)``: start-up (loading
    the taggers, the first song) is left out of the rate."""
    from earmark.analysis.embed import embed_tracks
    from earmark.analysis.sampling import DEFAULT_SAMPLING
    from earmark.catalog import Catalog
    from earmark.ingest.scan import scan

    with tempfile.TemporaryDirectory() as tmp, Catalog(Path(tmp) / "c.sqlite") as catalog:
        scan(catalog, paths)
        stamps: list[float] = []
        start = time.perf_counter()
        embed_tracks(catalog, models, sampling=None if full else DEFAULT_SAMPLING,
                     batch_patches=batch_patches,
                     progress=lambda done, total, path: stamps.append(time.perf_counter()))
        # stamps[0]: before loading; stamps[1]: the first song done. Batched songs finish a
        # group at a time, stored one after another (milliseconds apart): the first group
        # ends at the first gap of over 50 ms, and only the songs after it are timed.
        first = next((k for k in range(2, len(stamps)) if stamps[k] - stamps[k - 1] > 0.05),
                     len(stamps)) - 1
        timed = max(1, len(stamps) - 1 - first)
        return (stamps[-1] - stamps[first]) / timed, timed, stamps[first] - start


def _ffmpeg_floor(paths: list[Path]) -> float:
    """Seconds ffmpeg takes to decode ``paths`` (to nothing): the decode floor."""
    start = time.perf_counter()
    for path in paths:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", str(path),
                        "-f", "null", "-"], check=True)
    return time.perf_counter() - start


def _where_time_goes(paths: list[Path], sampling) -> list[list]:
    """One sampled song at a time on one thread, step by step: probe and seek-decode, mel,
    network (MSD), catalog store: seconds a song."""
    import torch

    from earmark.analysis.sampling import plan_windows
    from earmark.audio import probe_audio
    from earmark.audio.spans import decode_spans
    from earmark.catalog import Catalog
    from earmark.catalog.embeddings import store_embedding
    from earmark.catalog.tracks import get_track
    from earmark.features import log_mel
    from earmark.ingest.scan import scan

    (tagger,) = _taggers(["MSD_musicnn"])
    torch.set_num_threads(1)
    params, frames = tagger.mel_params, tagger.patch_frames
    step, edge = frames * params.hop_length, params.n_fft // 2
    need = (frames - 1) * params.hop_length + params.n_fft
    totals = dict.fromkeys(("probe + seek + decode", "mel", "network", "catalog"), 0.0)
    with tempfile.TemporaryDirectory() as tmp, Catalog(Path(tmp) / "c.sqlite") as catalog:
        scan(catalog, [paths[0]])
        track = get_track(catalog, str(paths[0]))
        for path in paths:
            t0 = time.perf_counter()
            info = probe_audio(path)
            windows = plan_windows(info.duration or 0.0, step / params.sample_rate, sampling)
            spans = [(first * step + k * step - edge, need) for first, count in windows
                     for k in range(count)]
            audio = decode_spans(str(path), spans, params.sample_rate)
            t1 = time.perf_counter()
            with torch.inference_mode():
                mels = torch.stack([log_mel(a, params.with_(center=False)) for a in audio])
                t2 = time.perf_counter()
                _, emb = tagger(mels)
            t3 = time.perf_counter()
            vector = np.concatenate([emb.mean(0).numpy(), emb.max(0).values.numpy()])
            store_embedding(catalog, track.id, "MSD_musicnn", vector, track.content_hash,
                            analysis=sampling.spec)
            t4 = time.perf_counter()
            for key, seconds in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                totals[key] += seconds
    torch.set_num_threads(2)
    return [[key, value / len(paths)] for key, value in totals.items()]


def section_throughput(songs: list[Path], sampling, batches: tuple[int, ...] = (16, 32, 64)
                       ) -> str:
    """Seconds a song and songs an hour, decode to stored embedding and tags (``embed`` into
    a fresh catalog, start-up excluded), sampled vs ``--full``, one tagger and both, against
    the ffmpeg decode floor of the same files; sampled also with patches of several songs in
    each network call (``batches`` patches a call, songs decoded in worker processes); then
    where a sampled song's time goes."""
    paths = [str(p) for p in songs]
    half = len(paths) // 2
    minutes = sum(_duration(p) for p in songs[half:]) / 60 / (len(songs) - half)
    floor = _ffmpeg_floor(songs[half:]) / (len(songs) - half)
    rows = [["ffmpeg decode (floor, 1 thread)", "-", floor, 3600 / floor, 1.0]]
    for models in (["MSD_musicnn"], ["MSD_musicnn", "MTT_musicnn"]):
        for full, batch in ((True, 0), (False, 0), *((False, b) for b in batches)):
            # The time embedding every song takes beyond embedding the first half, over the
            # second half: start-up and the pipeline filling (two songs or groups at once
            # from the start) cancel out.
            totals = []
            for part in (paths[:half], paths):
                per_song, timed, startup = _embed_run(part, models, full, batch)
                totals.append(startup + per_song * timed)
            n = len(paths) - half
            per_song = (totals[1] - totals[0]) / n
            rows.append([f"embed {'+'.join(m[:3] for m in models)}"
                         f"{' --full' if full else ''}"
                         f"{f' ({batch} patches a call)' if batch else ''}", n, per_song,
                         3600 / per_song, per_song / floor])
    table = markdown_table(rows, ["run", "songs timed", "s/song", "songs/hour",
                                  "x ffmpeg floor"])
    steps = markdown_table(_where_time_goes(songs, sampling), ["step (one thread)", "s/song"])
    return (f"### Throughput, the last {len(songs) - half} of {len(songs)} songs, "
            f"{minutes:.1f} min on average "
            f"({sampling.spec})\n\n{table}\n\nWhere a sampled song's time goes (MSD, one "
            f"song at a time on one thread):\n\n{steps}")


def _duration(path: Path) -> float:
    from earmark.audio import probe_audio

    return probe_audio(path).duration or 0.0


def _embed_peak(paths: list[str]) -> tuple[int, int]:
    """(peak RSS, peak RssAnon) in bytes of a fresh process embedding ``paths`` (both taggers,
    sampled): see section_memory."""
    return peak_memory_of(_embed_run, paths, ["MSD_musicnn", "MTT_musicnn"], False)[1:]


def section_memory(songs: list[Path]) -> str:
    """Peak memory of a process embedding N and 2N songs: flat when songs are streamed. Peak
    anonymous memory (RssAnon) is what the run allocates; the RSS high-water mark adds the
    resident pages of torch's mapped libraries, which vary with the page cache."""
    paths = [str(p) for p in songs]
    half = paths[: len(paths) // 2]
    rows = []
    for part in (half, paths):
        rss, anon = _embed_peak(part)
        rows.append([len(part), anon / 2**20, rss / 2**20])
    return "### Peak memory of embed (both taggers)\n\n" + markdown_table(
        rows, ["songs", "peak RssAnon (MiB)", "peak RSS incl. mapped libraries (MiB)"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="choice,quality,throughput,memory,ray",
                        help="comma-separated: choice, quality, throughput, memory, ray, "
                        "real")
    parser.add_argument("--songs", type=int, default=12,
                        help="generated songs timed in throughput and memory (quality: all)")
    args = parser.parse_args(argv)
    from earmark.analysis.sampling import DEFAULT_SAMPLING, Sampling

    library = long_song_library()
    asc = asc_songs()
    timed = asc + [p for p, _, _ in library[: args.songs]]
    choices = [Sampling(w, k) for w, k in ((8, 1), (4, 2), (12, 1), (6, 2), (4, 3), (16, 1),
                                           (8, 2), (20, 1), (24, 1), (12, 2), (32, 1))]
    sections = {
        "choice": lambda: section_sampling_choice(library, asc, choices),
        "quality": lambda: section_sampling_quality(library, asc, DEFAULT_SAMPLING),
        "throughput": lambda: section_throughput(timed, DEFAULT_SAMPLING),
        "memory": lambda: section_memory(timed),
        "ray": lambda: section_ray(timed),
        "real": lambda: section_real_top_tags(real_songs(), [Sampling(16, 1), Sampling(24, 1),
                                                             Sampling(32, 1)]),
    }
    for name in args.sections.split(","):
        print(sections[name.strip()](), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
