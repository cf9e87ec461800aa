"""Real-world file shapes, built from real music: the odd files people's libraries hold.

Importable from any test module as ``realworld`` (like ``music``). Each function makes one *kind*
of file (a WMA from Windows Media Player, a VBR MP3 without a Xing header, a WAV carrying RIFF
INFO, an MP3 with both ID3v1 and ID3v2...) from the shared GTZAN clips or Debian's asc-music
songs, with ffmpeg and mutagen, so that every new kind found later is one function away.
Nothing here is copied from another project's test files.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import mutagen
import numpy as np
import pytest
from mutagen.apev2 import BINARY, APENoHeaderError, APEv2, APEValue
from mutagen.flac import FLAC
from mutagen.id3 import COMM, ID3, TCON, TDRC, TENC, TIT2, TPE1, Frames
from mutagen.mp4 import Atoms
from mutagen.ogg import OggPage

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


def metadata_args(metadata: dict[str, str] | None) -> list[str]:
    """ffmpeg ``-metadata key=value`` arguments: ffmpeg writes them in each container's own
    tag block (ASF attributes, RIFF LIST/INFO, APEv2, ID3v2...)."""
    return [arg for key, value in (metadata or {}).items()
            for arg in ("-metadata", f"{key}={value}")]


def add_apev2(path: Path, items: dict[str, str | list[str] | bytes]) -> Path:
    """Add (or extend) an APEv2 tag at the end of ``path`` with mutagen: text items (a list is
    several values, NUL-separated as APEv2 keeps them) and binary items (``bytes``, e.g.
    ``Cover Art (Front)``). On an MP3 it sits beside any ID3 tag, as foobar2000 and Mp3tag
    write it."""
    try:
        tag = APEv2(path)
    except APENoHeaderError:
        tag = APEv2()
    for key, value in items.items():
        tag[key] = APEValue(value, BINARY) if isinstance(value, bytes) else value
    tag.save(path)
    return path


def cover_png(dst: Path) -> bytes:
    """A small real PNG image (made by ffmpeg) for cover-art tags; returns its bytes."""
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", dst)
    return dst.read_bytes()


def ffprobe_tags(path: Path) -> dict[str, str]:
    """The container tags FFmpeg reads from ``path``, keys lower-cased: an independent check
    of what earmark reads."""
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("ffprobe (Debian package ffmpeg) is needed to check tags")
    out = subprocess.run([exe, "-v", "error", "-show_entries", "format_tags", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    tags = json.loads(out).get("format", {}).get("tags", {})
    return {key.lower(): value for key, value in tags.items()}


# --- audio verdicts (decode, truncation, silence) --------------------------------------------


def id3v1_tag(title: str = "Late Set", genre: int = 17) -> bytes:
    """An ID3v1.1 tag (128 bytes: ``TAG``, title, artist, album, year, comment, genre)."""
    return (b"TAG" + title.encode("latin-1").ljust(30, b"\0") + b"Artist".ljust(30, b"\0")
            + b"Album".ljust(30, b"\0") + b"2001" + bytes(30) + bytes([genre]))


def lyrics3v2_tag(lyrics: str = "hello") -> bytes:
    """A Lyrics3 v2.00 tag as Winamp-era taggers put before ID3v1: ``LYRICSBEGIN``, fields
    (3-letter id, 5-digit size, value), the 6-digit size of all that, ``LYRICS200``."""
    text = lyrics.encode("latin-1")
    body = b"LYRICSBEGIN" + b"IND0000210" + b"LYR" + str(len(text)).zfill(5).encode() + text
    return body + str(len(body)).zfill(6).encode() + b"LYRICS200"


def lyrics3v1_tag(lyrics: str = "[00:01]hello") -> bytes:
    """A Lyrics3 v1 tag: ``LYRICSBEGIN``, up to 5100 bytes of lyrics, ``LYRICSEND``."""
    return b"LYRICSBEGIN" + lyrics.encode("latin-1") + b"LYRICSEND"


def apev2_tag(tmp: Path, items: dict[str, str] | None = None) -> bytes:
    """The bytes of an APEv2 tag (header, items, footer) as mutagen writes it."""
    tag = APEv2()
    for key, value in (items or {"Genre": "Blues", "Title": "Late Set"}).items():
        tag[key] = value
    tmp.write_bytes(b"")
    tag.save(tmp)
    return tmp.read_bytes()


def with_appended(src: Path, dst: Path, *blocks: bytes) -> Path:
    """``src`` with ``blocks`` (tags, junk) appended in order, as taggers and broken
    downloads leave a bare MP3 or AAC stream."""
    dst.write_bytes(src.read_bytes() + b"".join(blocks))
    return dst


def junk(n_bytes: int = 3000, seed: int = 2) -> bytes:
    """Random bytes, as an interrupted download resumed at the wrong offset appends."""
    return np.random.default_rng(seed).bytes(n_bytes)


def ogg_page_offsets(path: Path) -> list[tuple[int, bool]]:
    """``(byte offset, end of stream flag)`` of each Ogg page, read with mutagen."""
    return [(page.offset, page.last) for page in _ogg_pages(path)]


def cut_at_page(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """``src`` (Ogg) cut exactly where the page nearest ``keep`` of its bytes starts: what a
    copy or download interrupted between two pages leaves."""
    size = src.stat().st_size
    offsets = [offset for offset, _ in ogg_page_offsets(src)]
    at = min(offsets[1:], key=lambda offset: abs(offset - keep * size))
    dst.write_bytes(src.read_bytes()[:at])
    return dst


def mp4_cut_before_moov(src: Path, dst: Path) -> Path:
    """``src`` (an MP4 whose index, the ``moov`` atom, comes after the audio, as FFmpeg and
    many download tools write it) cut part-way through its audio: a truncated download."""
    with open(src, "rb") as handle:
        atoms = {atom.name: atom for atom in Atoms(handle).atoms}
    assert atoms[b"moov"].offset > atoms[b"mdat"].offset, "moov must come after the audio"
    mdat = atoms[b"mdat"]
    return cut_short(src, dst, keep=(mdat.offset + mdat.length / 2) / src.stat().st_size)



def vbr_mp3_without_xing(dst: Path, src: Path, *, silence_before: float = 0.0,
                         seconds: float | None = None, start: float = 0.0) -> Path:
    """``src`` re-encoded as VBR MP3 (LAME ``-q:a 4``) without a Xing/Info header, so FFmpeg
    can only estimate its length from the first frames' bit rate; ``silence_before`` seconds of
    digital silence first make the estimate run far too long (silent frames are tiny)."""
    span = ["-t", str(seconds)] if seconds is not None else []
    delay = (["-af", f"adelay=delays={int(silence_before * 1000)}:all=1"]
             if silence_before else [])
    ffmpeg("-ss", str(start), *span, "-i", src, *delay, "-c:a", "libmp3lame", "-q:a", "4",
           "-write_xing", "0", dst)
    return dst


def cut_short(src: Path, dst: Path, keep: float = 2 / 3, extra: int = 7) -> Path:
    """The first ``keep`` of ``src``'s bytes plus ``extra``, as ``head -c`` or an interrupted
    copy or download leaves a file."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep) + extra])
    return dst


def overwrite_middle(src: Path, dst: Path, n_bytes: int = 4000, seed: int = 1) -> Path:
    """``src`` with ``n_bytes`` in the middle replaced by random bytes (a bad disk block)."""
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid : mid + n_bytes] = np.random.default_rng(seed).bytes(n_bytes)
    dst.write_bytes(bytes(data))
    return dst


def _ogg_pages(path: Path) -> list[OggPage]:
    pages = []
    with open(path, "rb") as handle:
        while True:
            try:
                pages.append(OggPage(handle))
            except EOFError:
                return pages


def vorbis_multipage_setup(dst: Path, *, page_size: int = 500, short_packet: int = 0,
                           short_by: int = 4, seconds: float = 4.13, **kwargs) -> Path:
    """An Ogg Vorbis excerpt of real music whose comment and setup headers are spread over
    several small pages (as some taggers and encoders write them), with audio packet
    ``short_packet`` ending ``short_by`` bytes early. Vorbis lets a packet end early (the
    missing bits read as zeros), so every sample still decodes, but FFmpeg's decoder logs
    "Overread N bits": the shape of a file earmark wrongly called damaged."""
    src = encode(dst.with_name(dst.stem + ".src.ogg"), ["-c:a", "libvorbis", "-q:a", "4"],
                 seconds=seconds, **kwargs)
    pages = _ogg_pages(src)
    src.unlink()
    # ffmpeg's muxer puts the identification header on page 0 and the comment and setup
    # headers together on page 1; audio starts on page 2.
    headers = OggPage.to_packets(pages[1:2])
    header_pages = OggPage.from_packets(headers, sequence=1, default_size=page_size,
                                        wiggle_room=0)
    for page in header_pages:
        page.serial = pages[0].serial
        page.position = -1  # no packet ends on this page...
    header_pages[-1].position = 0  # ...except on the last header page
    out = [pages[0], *header_pages]
    index = 0
    for page in pages[2:]:
        for i, packet in enumerate(page.packets):
            if index == short_packet and (i < len(page.packets) - 1 or page.complete):
                page.packets[i] = packet[:-short_by]
            index += 1
        page.sequence = len(out)
        out.append(page)
    dst.write_bytes(b"".join(page.write() for page in out))
    return dst


def _dsd_bits(samples: np.ndarray) -> np.ndarray:
    """First-order sigma-delta modulation of ``samples`` in [-1, 1] to 0/1 bits: the running
    sum of ``(x + 1) / 2`` crosses an integer exactly where the modulator emits a 1."""
    level = np.cumsum((np.clip(samples, -1, 1) + 1) / 2, axis=-1)
    return np.diff(np.floor(level), axis=-1, prepend=0).astype(np.uint8)


def dsf(dst: Path, *, seconds: float = 0.1, declared_samples: int | None = None,
        genre: str = "jazz", number: int = 4, start: float = 5.0) -> Path:
    """A DSF (Sony DSD stream file, 2.8224 MHz, stereo) made from real music by sigma-delta
    modulation; ``declared_samples`` overrides the sample count its ``fmt`` chunk states (0:
    the header says the file holds no audio, a shape FFmpeg refuses with "Invalid data").

    Hand-built: FFmpeg decodes DSD but has no encoder for it. Layout: a ``DSD `` chunk, a
    52-byte ``fmt `` chunk, then a ``data`` chunk of 4096-byte blocks per channel in turn,
    least significant bit first.
    """
    rate, block = 2_822_400, 4096
    raw = subprocess.run([require_ffmpeg(), "-v", "error", "-ss", str(start), "-t", str(seconds),
                          "-i", str(gtzan_clip(genre, number)), "-ac", "2", "-ar", str(rate),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    bits = _dsd_bits(0.5 * np.frombuffer(raw, "<f4").reshape(-1, 2).T)
    packed = [np.packbits(channel, bitorder="little") for channel in bits]
    n_blocks = -(-len(packed[0]) // block)
    payload = b"".join(channel[k * block : (k + 1) * block].tobytes().ljust(block, b"\0")
                       for k in range(n_blocks) for channel in packed)
    count = bits.shape[1] if declared_samples is None else declared_samples
    fmt = b"fmt " + struct.pack("<QIIIIIIQII", 52, 1, 0, 2, 2, rate, 1, count, block, 0)
    data = b"data" + struct.pack("<Q", 12 + len(payload)) + payload
    head = b"DSD " + struct.pack("<QQQ", 28, 28 + len(fmt) + len(data), 0)
    dst.write_bytes(head + fmt + data)
    return dst


def silent(dst: Path, *, seconds: float = 6.0, codec_args: list[str] | None = None) -> Path:
    """Digital silence (every sample zero, 44.1 kHz stereo), as a ripper makes of a hidden or
    blank track; FLAC unless ``codec_args`` say otherwise."""
    ffmpeg("-f", "lavfi", "-t", str(seconds), "-i", "anullsrc=r=44100:cl=stereo",
           *(codec_args or ["-c:a", "flac"]), dst)
    return dst


def inverted_channels(dst: Path, *, genre: str = "rock", number: int = 0,
                      seconds: float = 6.0, start: float = 5.0) -> Path:
    """A stereo excerpt of a (mono) GTZAN clip whose right channel is the left one inverted:
    a miswired or badly mastered recording whose channel-mean mix is silent."""
    return encode(dst, ["-af", "pan=stereo|c0=c0|c1=-1*c0", "-c:a", "flac"], genre=genre,
                  number=number, seconds=seconds, start=start)


# --- tag writing: containers --------------------------------------------------------------

def mp3_apev2_then_id3v1(dst: Path, genre: str = "Blues", **kwargs) -> Path:
    """An MP3 laid out as foobar2000 tags it: an ID3v2.4 tag with a title in front, and at the
    end an APEv2 tag holding ``genre`` followed by an ID3v1 tag with the title (no genre).
    (mutagen's own APEv2 writer puts a new APEv2 tag after the ID3v1 tag instead:
    :func:`mp3_with_apev2_genre`.)"""
    encode(dst, ["-c:a", "libmp3lame", "-b:a", "128k", "-write_id3v1", "0",
                 "-metadata", "title=Late Set"], **kwargs)
    add_apev2(dst, {"Genre": genre})
    with open(dst, "ab") as handle:
        handle.write(mutagen.id3.MakeID3v1({"TIT2": TIT2(encoding=0, text=["Late Set"])}))
    return dst


def true_audio_with_id3v2_and_apev2(dst: Path, id3_genre: str = "Jazz",
                                    ape_genre: str = "Blues", **kwargs) -> Path:
    """A True Audio file carrying both tags, each with its own genre: FFmpeg's APEv2 tag (title
    and ``ape_genre``) at the end and, in front, an ID3v2.4 tag that mutagen's ``TrueAudio``
    wrote (``id3_genre``), as when two taggers each added their own."""
    encode(dst, ["-c:a", "tta", "-metadata", "title=Late Set", "-metadata",
                 f"genre={ape_genre}"], **kwargs)
    tags = ID3()
    tags.add(TCON(encoding=3, text=[id3_genre]))
    tags.save(dst, v1=0)
    return dst


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


def mp3_id3v1_itunes(dst: Path, *, seconds: float = 0.5, cut: int = 0, junk: int = 0,
                     **kwargs) -> Path:
    """A small MP3 shaped like iTunes' ones: an ID3v2.4 tag with iTunes' frames
    (``COMM:iTunNORM``, ``COMM:iTunSMPB``, ``TENC``, ``TDRC``) and no padding, and an ID3v1 tag.
    ``cut`` bytes cut off the last MPEG frame, or ``junk`` zero bytes after it, put the ID3v1
    tag right after something that is not a whole frame."""
    encode(dst, ["-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "0",
                 "-write_id3v1", "0"], seconds=seconds, **kwargs)
    data = dst.read_bytes()
    dst.write_bytes(data[:len(data) - cut] + bytes(junk))
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
    the very end, after FFmpeg's ID3v1 tag (where mutagen's APEv2 writer puts a new tag;
    foobar2000 puts it before ID3v1: :func:`mp3_apev2_then_id3v1`)."""
    return add_apev2(mp3_id3v1_ffmpeg(dst, **kwargs), {"Genre": genre})


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

#: ffmpeg arguments that write no tags at all: no metadata, no encoder tag, no ID3v2 in MP3.
NO_TAGS = ["-map_metadata", "-1", "-fflags", "+bitexact", "-id3v2_version", "0"]
_CODECS = {"mp3": ["-c:a", "libmp3lame", "-b:a", "128k"], "flac": ["-c:a", "flac"],
           "ogg": ["-c:a", "libvorbis", "-q:a", "4"], "opus": ["-c:a", "libopus", "-b:a", "96k"],
           "m4a": ["-c:a", "aac", "-b:a", "128k"], "wav": ["-c:a", "pcm_s16le"],
           "aiff": ["-c:a", "pcm_s16be", "-f", "aiff"]}


def untagged(dst: Path, **kwargs) -> Path:
    """A file with no tags at all, as rippers and recorders leave them, in the format of
    ``dst``'s extension: ffmpeg writes no ID3v2 (MP3), INFO (WAV) or ID3 chunk (AIFF); an Ogg
    or MP4 keeps the comment header / item list its container needs, empty; a FLAC loses its
    Vorbis comment block the way ``metaflac --remove --block-type=VORBIS_COMMENT`` does it,
    the block's bytes becoming padding. ``kwargs`` go to :func:`encode`."""
    fmt = dst.suffix.lstrip(".")
    encode(dst, _CODECS[fmt], extra=NO_TAGS if fmt == "mp3" else NO_TAGS[:4], **kwargs)
    if fmt == "flac":
        audio = FLAC(dst)
        audio.metadata_blocks[:] = [b for b in audio.metadata_blocks if b is not audio.tags]
        audio.tags = None
        audio.save()
    return dst


def id3_tagged(dst: Path, version: int, frames: dict[str, list[str]], **kwargs) -> Path:
    """An MP3, WAV or AIFF (``dst``'s extension) whose ID3v2.``version`` tag holds the text
    ``frames`` (frame id -> values) as foobar2000 and Picard write them: several values
    NUL-separated, in v2.3 too (mutagen's ``v23_sep=None``)."""
    untagged(dst, **kwargs)
    audio = mutagen.File(dst)
    audio.add_tags()
    for frame_id, values in frames.items():
        audio.tags.add(Frames[frame_id](encoding=3, text=list(values)))
    if version == 3:
        audio.tags.update_to_v23()
    audio.save(v2_version=version, v23_sep=None)
    return dst


def mp3_itunes_v23(dst: Path, **kwargs) -> Path:
    """An MP3 whose ID3v2.3 tag also holds frames only ID3v2.4 defines (a TDRC date, a TSOP
    sort name) beside iTunes' own TSO2, as iTunes writes them: saved as v2.3 without mutagen's
    v2.3 conversion, which would drop TSOP."""
    untagged(dst, **kwargs)
    audio = mutagen.File(dst)
    audio.add_tags()
    frames = {"TIT2": ["Late Set"], "TPE1": ["The Trio"], "TPE2": ["The Trio"],
              "TSOP": ["Trio, The"], "TSO2": ["Trio, The"], "TDRC": ["2004"],
              "TCON": ["Jazz"]}
    for frame_id, values in frames.items():
        audio.tags.add(Frames[frame_id](encoding=1, text=values))
    audio.save(v2_version=3, v23_sep=None)
    return dst


def m4a_gnre(dst: Path, number: int = 18, **kwargs) -> Path:
    """An M4A whose genre is iTunes' numeric ``gnre`` atom (an ID3v1 genre number counted from
    1; 18 is Rock) instead of a ``\xa9gen`` text atom.

    Made without mutagen's writer (which turns ``gnre`` into text): ffmpeg writes a two-letter
    ``\xa9gen`` atom, which is exactly as long as a ``gnre`` atom (26 bytes), and its bytes are
    rewritten in place into one: name ``gnre``, data type 0 (implicit), the number as a 16-bit
    big-endian integer. No size anywhere else in the file changes."""
    encode(dst, _CODECS["m4a"], extra=["-metadata", "genre=XX", "-fflags", "+bitexact"],
           **kwargs)
    data = bytearray(dst.read_bytes())
    atom = struct.pack(">I", 26) + b"\xa9gen" + struct.pack(">I", 18) + b"data"
    start = data.index(atom)
    assert data[start + 16:start + 26] == struct.pack(">II", 1, 0) + b"XX"
    data[start + 4:start + 8] = b"gnre"
    data[start + 16:start + 26] = struct.pack(">IIH", 0, 0, number)
    dst.write_bytes(bytes(data))
    return dst


def id3v23_as_stored(dst: Path, frames: list, raw: list[bytes] = (), **kwargs) -> Path:
    """An MP3, WAV or AIFF (``dst``'s extension) whose ID3v2.3 tag holds ``frames`` (mutagen
    frame objects) exactly as given, with no v2.3 conversion, and ``raw`` frames as stored
    (bytes: id, size, flags, data), for what mutagen cannot make: a frame id it does not know
    (``XSOP``, old MusicBrainz sort names), a damaged frame. Such tags come from Winamp, old
    iTunes and Windows Media Player (``RVAD``, ``TSIZ``, ``TYER``/``TDAT``/``TIME``...)."""
    untagged(dst, **kwargs)
    audio = mutagen.File(dst)
    audio.add_tags()
    for frame in frames:
        audio.tags.add(frame)
    # mutagen writes the frames it keeps unparsed only into a tag of the version they came
    # from: the raw ones are handed over as if read from a v2.3 tag.
    audio.tags.unknown_frames.extend(raw)
    audio.tags._unknown_v2_version = 3
    audio.save(v2_version=3, v23_sep=None)
    return dst


def raw_id3v23_frame(frame_id: str, data: bytes) -> bytes:
    """One ID3v2.3 frame as stored: 4-byte id, 4-byte big-endian size, 2 flag bytes, data."""
    return frame_id.encode("ascii") + struct.pack(">IH", len(data), 0) + data


def legacy_id3v23_frames() -> list:
    """The v2.3 frames mutagen's v2.4 translation drops or merges, as old taggers wrote them:
    relative volume (RVAD, Winamp and iTunes), size, recording dates, TYER/TDAT/TIME, the
    original year, the people list; plus a title, an artist and the genre."""
    text = {"TIT2": "Late Set", "TPE1": "Trio", "TCON": "Jazz", "TSIZ": "1830144",
            "TRDA": "March 24-25, 1997", "TYER": "1997", "TDAT": "2403", "TIME": "2130",
            "TORY": "1961"}
    return [*(Frames[frame_id](encoding=1 if frame_id == "TIT2" else 0, text=[value])
              for frame_id, value in text.items()),
            Frames["RVAD"](adjustments=[14810, -2210, 300, 300]),
            Frames["IPLS"](encoding=1, people=[["producer", "Rudy"], ["engineer", "Van"]])]


def mp3_id3v22(dst: Path, frames: dict[str, str] | None = None, **kwargs) -> Path:
    """An MP3 whose ID3v2.2 tag (three-letter frame ids, as iTunes wrote until 2003) holds the
    text ``frames`` (Latin-1). Hand-built: mutagen reads ID3v2.2 but cannot write it. Layout:
    ``ID3``, version 2.0, no flags, the tag size as a 28-bit syncsafe integer; per frame a
    3-byte id, a 3-byte big-endian size, the encoding byte 0 and the text."""
    frames = frames or {"TT2": "Late Set", "TP1": "Trio", "TAL": "Night Sessions",
                        "TYE": "1997", "TCO": "(8)"}
    untagged(dst, **kwargs)
    body = b"".join(frame_id.encode("ascii") + struct.pack(">I", len(text) + 1)[1:] + b"\0"
                    + text.encode("latin-1") for frame_id, text in frames.items())
    body += bytes(256)  # padding
    size = bytes((len(body) >> shift) & 0x7F for shift in (21, 14, 7, 0))
    dst.write_bytes(b"ID3\x02\x00\x00" + size + body + dst.read_bytes())
    return dst


#: The fields of :func:`mp3_id3v1`'s ID3v1 tag, as mutagen reads them into ID3v2 frames.
ID3V1_FIELDS = {"TIT2": "Late Set", "TPE1": "Trio", "TALB": "Night Sessions",
                "TDRC": "1997", "COMM": "ripped 2003", "TRCK": "5", "TCON": "Jazz"}


def mp3_id3v1(dst: Path, v2_frames: dict[str, list[str]] | None = None, **kwargs) -> Path:
    """An MP3 ending in an ID3v1.1 tag with every field set (:data:`ID3V1_FIELDS`), as
    Winamp-era rippers wrote them, and in front an ID3v2.4 tag holding only the text
    ``v2_frames`` (none: no ID3v2 tag at all). The ID3v1 tag is mutagen's rendering
    (``MakeID3v1``) of those fields."""
    untagged(dst, **kwargs)
    if v2_frames is not None:
        tags = ID3()
        for frame_id, values in v2_frames.items():
            tags.add(Frames[frame_id](encoding=3, text=list(values)))
        tags.save(dst, v1=0)
    v1 = {key: Frames[key](encoding=0, text=[text]) for key, text in ID3V1_FIELDS.items()
          if key != "COMM"}
    v1["COMM"] = COMM(encoding=0, lang="eng", desc="", text=[ID3V1_FIELDS["COMM"]])
    with open(dst, "ab") as handle:
        handle.write(mutagen.id3.MakeID3v1(v1))
    return dst
