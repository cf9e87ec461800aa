"""Real-world file shapes, built from real music: the odd files people's libraries hold.

Importable from any test module as ``realworld`` (like ``music``). Each function makes one *kind*
of file (a WMA from Windows Media Player, a VBR MP3 without a Xing header, a WAV carrying RIFF
INFO, an MP3 with both ID3v1 and ID3v2...) from the shared GTZAN clips or Debian's asc-music
songs, with ffmpeg and mutagen, so that every new kind found later is one function away.
Nothing here is copied from another project's test files.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from mutagen.apev2 import APEv2
from mutagen.id3 import COMM, ID3, TCON, TDRC, TENC, TIT2, TPE1

from music import gtzan_clip, require_ffmpeg


def ffmpeg(*args: str | Path) -> None:
    """Run ffmpeg quietly with ``args`` (input and output included); fails the test on error."""
    subprocess.run([require_ffmpeg(), "-nostdin", "-v", "error", "-y", *map(str, args)],
                   check=True)


def encode(dst: Path, codec_args: list[str], *, genre: str = "jazz", number: int = 4,
           seconds: float = 4.0, start: float = 5.0, extra: list[str] | None = None) -> Path:
    """A ``seconds`` excerpt of a shared GTZAN clip encoded with ffmpeg ``codec_args`` into
    ``dst`` (the container follows ``dst``'s extension unless ``extra`` holds ``-f``)."""
    ffmpeg("-ss", str(start), "-t", str(seconds), "-i", gtzan_clip(genre, number),
           *codec_args, *(extra or []), dst)
    return dst


# --- tag reading (scan) ---------------------------------------------------------------------


# --- audio verdicts (decode, truncation, silence) --------------------------------------------


# --- tag writing: containers --------------------------------------------------------------

def wma(dst: Path, **kwargs) -> Path:
    """A WMA as Windows Media Player libraries hold them: WMAv2 at 128 kb/s in ASF, with a title
    and an artist."""
    return encode(dst, ["-c:a", "wmav2", "-b:a", "128k", "-metadata", "title=Late Set",
                        "-metadata", "artist=Trio"], **kwargs)


def wavpack(dst: Path, **kwargs) -> Path:
    """A lossless WavPack file (``.wv``) whose title FFmpeg wrote as an APEv2 tag."""
    return encode(dst, ["-c:a", "wavpack", "-metadata", "title=Late Set"], **kwargs)


def true_audio(dst: Path, **kwargs) -> Path:
    """A lossless True Audio file (``.tta``) whose title FFmpeg wrote as an APEv2 tag."""
    return encode(dst, ["-c:a", "tta", "-metadata", "title=Late Set"], **kwargs)


def musepack(dst: Path, **kwargs) -> Path:
    """A Musepack SV8 file (``.mpc``) made by mpcenc (Debian package musepack-tools), untagged.

    mpcenc takes 32, 37.8, 44.1 or 48 kHz only, so the clip is resampled to 44.1 kHz first.
    """
    mpcenc = shutil.which("mpcenc")
    if mpcenc is None:
        pytest.skip("mpcenc (Debian package musepack-tools) is needed to make Musepack files")
    pcm = dst.with_name(dst.stem + ".mpcenc-input.wav")
    encode(pcm, ["-c:a", "pcm_s16le", "-ar", "44100"], **kwargs)
    subprocess.run([mpcenc, "--silent", "--overwrite", str(pcm), str(dst)], check=True,
                   capture_output=True)
    pcm.unlink()
    return dst


def wav_with_info(dst: Path, *, genre: str | None = "Country", **kwargs) -> Path:
    """A WAV whose tags FFmpeg wrote as a RIFF LIST/INFO chunk: a title, and ``genre`` (IGNR)
    unless it is ``None``."""
    meta = ["-metadata", "title=Late Set"] + (["-metadata", f"genre={genre}"] if genre else [])
    return encode(dst, ["-c:a", "pcm_s16le", *meta], **kwargs)


def mp3_id3v1_ffmpeg(dst: Path, **kwargs) -> Path:
    """An MP3 with an ID3v2.4 and an ID3v1 tag, both written by FFmpeg (``-write_id3v1 1``)."""
    return encode(dst, ["-c:a", "libmp3lame", "-b:a", "128k", "-write_id3v1", "1",
                        "-metadata", "title=Late Set", "-metadata", "artist=Trio"], **kwargs)


def mp3_id3v1_itunes(dst: Path, *, seconds: float = 0.5, cut: int = 100,
                     **kwargs) -> Path:
    """A small MP3 shaped like the iTunes ones that could not be tagged: an ID3v2.4 tag with
    iTunes' frames (``COMM:iTunNORM``, ``COMM:iTunSMPB``, ``TENC``, ``TDRC``) and no padding,
    an ID3v1 tag, and a last MPEG frame cut short by ``cut`` bytes, so that the ID3v1 tag
    follows a partial frame (0: whole frames)."""
    encode(dst, ["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "0",
                 "-write_id3v1", "0"], seconds=seconds, **kwargs)
    if cut:
        dst.write_bytes(dst.read_bytes()[:-cut])
    tags = ID3()
    tags.add(TIT2(encoding=3, text=["Late Set"]))
    tags.add(TPE1(encoding=3, text=["Trio"]))
    tags.add(TDRC(encoding=3, text=["2009"]))
    tags.add(TENC(encoding=3, text=["iTunes 12.9.0.164"]))
    tags.add(COMM(encoding=0, lang="eng", desc="iTunNORM",
                  text=[" 00000263 00000250 00001F3A 00001CA3 00004B4D"]))
    tags.add(COMM(encoding=0, lang="eng", desc="iTunSMPB",
                  text=[" 00000000 00000210 00000A3C 0000000000005A30 00000000"]))
    tags.save(dst, v1=2, v2_version=4, padding=lambda info: 0)
    return dst


def mp3_with_apev2_genre(dst: Path, genre: str = "Blues", **kwargs) -> Path:
    """An MP3 whose ID3v2 tag has a title but no genre, and whose genre sits in an APEv2 tag at
    the end (as foobar2000 and Mp3tag can write it)."""
    mp3_id3v1_ffmpeg(dst, **kwargs)
    ape = APEv2()
    ape["Genre"] = genre
    ape.save(dst)
    return dst


def mp3_with_second_id3v2(dst: Path, genre: str = "Blues", **kwargs) -> Path:
    """An MP3 with two leading ID3v2 tags: the first holds the title, the second the genre (what
    a tool that prepends a new tag instead of updating the old one leaves behind)."""
    encode(dst, ["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "0",
                 "-write_id3v1", "0"], **kwargs)
    blocks = []
    for frame in (TIT2(encoding=3, text=["Late Set"]), TCON(encoding=3, text=[genre])):
        alone = dst.with_name(dst.name + ".tag")
        alone.write_bytes(b"")
        tags = ID3()
        tags.add(frame)
        tags.save(alone, padding=lambda info: 0)
        blocks.append(alone.read_bytes())
        alone.unlink()
    dst.write_bytes(b"".join(blocks) + dst.read_bytes())
    return dst



# --- tag writing: journal and undo -------------------------------------------------------------
