"""Libraries of 100,000 songs (issue 16): how fast full-length songs are analysed, and what
sampling them costs in quality.

One function per section, each printing one markdown table, so sections can be added (the
100,000-row catalog half comes from another part of the issue) and run alone:

* :func:`section_sampling_quality` - sampled analysis (the default) against ``--full`` on the
  same songs: taste AUC, grouped-CV genre accuracy of the default head, top-10 ``similar``
  overlap, top-5 tag sets, and the correlation of both halves of the embedding;
* :func:`section_throughput` - seconds per song and songs per hour, sampled vs ``--full``, one
  tagger and both, with where the time goes, against the ``ffmpeg`` decode floor measured in
  the same run.

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
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from earmark.settings import settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GTZAN = ROOT.parent / "shared" / "data" / "gtzan-mini-dev"
ASC_MUSIC = Path("/usr/share/games/asc/music")
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="quality,throughput")
    args = parser.parse_args(argv)
    print(long_song_library())
    del args


if __name__ == "__main__":
    main()
