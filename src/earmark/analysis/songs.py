"""Whole songs through the pretrained musicnn taggers: taggrams, song tags, embeddings, genres.

(Genres: :mod:`earmark.analysis.genres`; :data:`GENRE_TAGS` and :func:`genre_from_tags` are
re-exported here.)

Every function takes a file path (streamed with :func:`earmark.audio.stream_audio`, so memory
stays flat on long mixes) or samples already in memory, cuts the model's log-mel spectrogram
into consecutive non-overlapping patches of ``model.patch_frames`` frames (3 s) exactly as the
original musicnn ``extractor`` does (a trailing part shorter than a patch is dropped), and runs
them through the model in batches under ``torch.inference_mode()``. Thread count is the caller's
business (``torch.set_num_threads``): on the CPU, that many batches run at once, each on a thread
of its own with one torch thread.

A clip shorter than one patch is zero-padded (silence) to one patch and ``info.padded`` says so;
outputs are finite for any input, silence included, but meaningless for silence: ``info.silent``
says when the analysed audio was silent (callers then report no tags or genres), and
``info.downmix`` when its channels cancelled in the mono mix and the loudest one was analysed
(:class:`earmark.audio.Downmix`).

With a ``sampling`` (:mod:`earmark.analysis.sampling`), a file longer than 30 s is analysed
from windows of patches spread over it, each decoded by seeking
(:func:`earmark.audio.spans.decode_spans`); the patches are those of the whole-song analysis
at the same places, and ``info.sampling`` says how the song was analysed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from queue import Queue

import numpy as np
import soxr
import torch

from earmark.analysis.genres import GENRE_TAGS, genre_from_tags
from earmark.analysis.sampling import FULL, Sampling, plan_windows
from earmark.audio import Downmix, probe_audio, stream_audio
from earmark.audio.spans import decode_spans
from earmark.engine.local import map_threads
from earmark.errors import ModelError
from earmark.features import MelParams, log_mel
from earmark.models.musicnn import MusicnnTagger

__all__ = ["GENRE_TAGS", "HANDED_PATCHES", "DecodedSong", "SongAnalysis", "SongHeard", "SongInfo",
           "analyse_decoded", "analyse_song", "analyse_song_models", "decode_song",
           "embedding_from_patches", "genre_from_tags", "song_embedding", "song_taggram",
           "song_tags"]


@dataclass(frozen=True)
class SongInfo:
    """How a song was analysed.

    Attributes
    ----------
    model : model name, e.g. ``"MSD_musicnn"``.
    source : the file path, or ``None`` for samples passed in memory.
    start, duration : the analysed span in seconds (``duration`` is the audio actually there,
        before any padding; for a sampled song, the length the file states).
    patch_seconds : length of one patch (one taggram row) in seconds.
    n_patches : number of patches (taggram rows); of a sampled song, the patches analysed.
    padded : the audio was shorter than one patch and was zero-padded to one.
    silent : no sample of the analysed audio reached -60 dBFS
        (:data:`earmark.audio.decode.SILENCE_PEAK`): the outputs describe nothing.
    downmix : a note when the mono mix was not the channel mean (the channels cancel), else
        ``None``.
    sampling : ``"full"`` (every patch) or the :attr:`Sampling.spec` of the windows analysed
        (``"sampled:8x2"``).
    """

    model: str
    source: str | None
    start: float
    duration: float
    patch_seconds: float
    n_patches: int
    padded: bool
    silent: bool
    downmix: str | None
    sampling: str = FULL

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SongHeard:
    """What a song's analysis heard, whatever the model: the :class:`SongInfo` fields but
    ``model`` and ``n_patches`` (see there)."""

    source: str | None
    start: float
    duration: float
    patch_seconds: float
    padded: bool
    silent: bool
    downmix: str | None
    sampling: str = FULL


@dataclass(frozen=True)
class SongAnalysis:
    """Per-patch outputs of one song: ``taggram`` ``(n_patches, n_tags)`` probabilities and
    ``embeddings`` ``(n_patches, d)`` penultimate-layer activations, both float32."""

    taggram: np.ndarray
    embeddings: np.ndarray
    tags: tuple[str, ...]
    info: SongInfo


Source = str | Path | np.ndarray


def _in_memory_samples(
    source: np.ndarray, sample_rate: int, start: float | None, duration: float | None,
    sr: int | None, downmix: Downmix,
) -> np.ndarray:
    """Mono float32 samples at ``sample_rate`` covering ``[start, start + duration)`` seconds,
    mixed down by ``downmix`` as a decoded file would be."""
    audio = np.asarray(source, dtype=np.float32)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be (n,) or (channels, n), not {audio.shape}")
    rate = sr or sample_rate
    begin = int(round((start or 0.0) * rate))
    end = None if duration is None else begin + int(round(duration * rate))
    audio = downmix(np.atleast_2d(audio)[:, begin:end])[0]
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate, quality="HQ").astype(np.float32)
    return audio


def _prefetched(blocks: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Run a block iterator in a thread, ``depth`` blocks ahead: decoding (PyAV and soxr release
    the GIL) overlaps the network working on the previous block."""
    queue: Queue = Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for block in blocks:
                queue.put(block)
            queue.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    while True:
        item = queue.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


class _PatchCutter:
    """Cuts a stream of samples into spans of whole patches.

    Frame ``t`` of a centred STFT starts at sample ``t * hop`` of the audio padded by
    ``n_fft // 2`` zeros on both sides, so patch ``i`` needs padded samples
    ``[i * frames * hop, (i + 1) * frames * hop - hop + n_fft)``: an uncentred STFT of such a span
    gives exactly the patch's frames. Spans of up to ``batch`` patches are yielded as soon as the
    stream has their samples, keeping only ``n_fft - hop`` samples of overlap, so memory does not
    grow with the song. As in the original musicnn, a trailing part shorter than a patch is
    dropped; a song shorter than one patch is zero-padded to one (``padded`` then says so).
    ``seen`` counts the samples of the stream, once it is exhausted.
    """

    def __init__(self, n_fft: int, hop: int, frames: int, batch: int, center: bool):
        self.n_fft, self.hop, self.frames, self.batch = n_fft, hop, frames, batch
        self.edge = n_fft // 2 if center else 0
        self.seen = 0
        self.padded = False

    def _need(self, count: int) -> int:
        return (count * self.frames - 1) * self.hop + self.n_fft

    def spans(self, blocks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, int]]:
        """Yield ``(samples, n_patches)`` spans in order."""
        step = self.frames * self.hop
        buffer = np.zeros(self.edge, np.float32)
        emitted = 0
        for block in blocks:
            self.seen += len(block)
            buffer = np.concatenate([buffer, block])
            while len(buffer) >= self._need(self.batch):
                yield buffer[: self._need(self.batch)], self.batch
                emitted += self.batch
                buffer = buffer[self.batch * step :]
        buffer = np.concatenate([buffer, np.zeros(self.edge, np.float32)])
        n_frames = 1 + (len(buffer) - self.n_fft) // self.hop if len(buffer) >= self.n_fft else 0
        count = n_frames // self.frames
        if emitted == 0 and count == 0:
            self.padded = True
            buffer = np.pad(buffer, (0, self._need(1) - len(buffer)))
            count = 1
        for first in range(0, count, self.batch):
            part = min(self.batch, count - first)
            yield buffer[first * step : first * step + self._need(part)], part

    def windows(self, path: str, windows: Sequence[tuple[int, int]], sample_rate: int,
                downmix: Downmix) -> list[list[tuple[np.ndarray, int]]] | None:
        """Batches of up to ``batch`` patches covering the ``(first patch, count)`` windows
        of the whole-song patch grid, each window decoded by seeking; a batch is a list of
        ``(samples, n_patches)`` spans, the same spans :meth:`spans` yields for those patches
        (a batch may join several windows: one network call for them all). ``None`` when the
        audio ends before a window does (its length was only estimated, and too long)."""
        step = self.frames * self.hop
        decoded = decode_spans(path, [(first * step - self.edge, self._need(count))
                                      for first, count in windows], sample_rate,
                               downmix=downmix)
        batches: list[list[tuple[np.ndarray, int]]] = [[]]
        room = self.batch
        for samples, (_, count) in zip(decoded, windows, strict=True):
            if len(samples) < self._need(count):
                return None
            first = 0
            while first < count:
                if room == 0:
                    batches.append([])
                    room = self.batch
                part = min(room, count - first)
                batches[-1].append((samples[first * step : first * step + self._need(part)],
                                    part))
                first, room = first + part, room - part
        return batches


def analyse_song(
    source: Source,
    model: MusicnnTagger,
    start: float | None = None,
    duration: float | None = None,
    *,
    sr: int | None = None,
    batch_size: int | None = None,
    block_seconds: float = 6.0,
    sampling: Sampling | None = None,
) -> SongAnalysis:
    """Tag probabilities and embeddings of every 3-second patch of a song.

    Parameters
    ----------
    source : audio file path, or samples ``(n,)`` / ``(channels, n)`` at ``sr`` Hz.
    model : a tagger from :func:`earmark.models.musicnn.load_musicnn`.
    start, duration : seconds; analyse only this span (default: the whole song).
    sr : sample rate of in-memory ``source`` (default: the model's, 16 kHz); ignored for paths.
    batch_size : patches per forward pass; default :data:`MIN_CALL_PATCHES` (4) on the CPU
        (whose front end works through patches one at a time anyway, in cache-sized slices),
        32 on a GPU. A pass over fewer patches is padded to :data:`MIN_CALL_PATCHES`.
    block_seconds : a file is decoded this many seconds at a time (in a thread, ahead of the
        network), so a two-hour mix needs no more memory than a song, and the network starts
        on a song's first seconds while the rest is still being decoded.
    sampling : analyse a file longer than 30 s from these windows of patches
        (:func:`earmark.analysis.sampling.plan_windows`; the taggram then has the sampled
        patches' rows only); ``None`` (default), a ``start``/``duration`` span, samples in
        memory, or a file whose estimated length proves too long: every patch.

    On the CPU, batches are spread over ``torch.get_num_threads()`` threads that each run torch
    on one thread, which uses several cores far better than torch's own threads do on these
    small convolutions; results are the same and in order.
    """
    return analyse_song_models(source, [model], start, duration, sr=sr, batch_size=batch_size,
                               block_seconds=block_seconds, sampling=sampling)[0]


def analyse_song_models(
    source: Source,
    models: Sequence[MusicnnTagger],
    start: float | None = None,
    duration: float | None = None,
    *,
    sr: int | None = None,
    batch_size: int | None = None,
    block_seconds: float = 6.0,
    sampling: Sampling | None = None,
) -> list[SongAnalysis]:
    """:func:`analyse_song` for several taggers at once: the song is decoded once and each
    patch's log-mel spectrogram computed once, then fed to every model (MSD_musicnn and
    MTT_musicnn share the front end, :data:`earmark.features.MUSICNN_MEL`, and the 187-frame
    patch). Returns one :class:`SongAnalysis` per model, in the order given.

    Raises :class:`~earmark.errors.ModelError` when the models differ in front end, patch
    length or device (they could not share the spectrogram), or take a centred front end
    padded other than with zeros.
    """
    _check_shared(models)
    first = models[0]
    params, frames, device = first.mel_params, first.patch_frames, first.device
    downmix = Downmix()  # the channel mean, as librosa (and so musicnn) mixes
    hop, n_fft = params.hop_length, params.n_fft
    on_cpu = device.type == "cpu"
    cutter = _PatchCutter(n_fft, hop, frames, batch_size or (MIN_CALL_PATCHES if on_cpu else 32),
                          params.center)
    patch_seconds = frames * hop / params.sample_rate
    is_file = isinstance(source, (str, Path))
    windows, spans, stated = None, None, None
    if sampling is not None and is_file and start is None and duration is None:
        # A length estimated from the bit rate (an MP3 without a Xing header) places the
        # windows too: exact for constant bit rates; when it is too long, a window comes back
        # short and the song is analysed whole instead.
        stated = probe_audio(source).duration or 0.0
        windows = plan_windows(stated, patch_seconds, sampling)
    if windows is not None:
        spans = cutter.windows(str(source), windows, params.sample_rate, downmix)
        if spans is None:
            windows, downmix = None, Downmix()
    if spans is None and is_file:
        spans = ([piece] for piece in cutter.spans(_prefetched(stream_audio(
            source, params.sample_rate, offset=start or 0.0, duration=duration,
            block_seconds=block_seconds, downmix=downmix))))
    elif spans is None:
        spans = ([piece] for piece in cutter.spans([_in_memory_samples(
            source, params.sample_rate, start, duration, sr, downmix)]))

    # One song's patches share this process's threads, as torch's intra-op threads would: an
    # engine spreads whole songs, not the parts of one.
    batches = list(map_threads(partial(_run_batch, models), spans,
                               workers=torch.get_num_threads() if on_cpu else 1))
    return _analyses(models, batches, SongHeard(
        source=str(source) if is_file else None,
        start=float(start or 0.0),
        duration=cutter.seen / params.sample_rate if windows is None else stated,
        patch_seconds=patch_seconds,
        padded=cutter.padded,
        silent=downmix.silent,
        downmix=downmix.note,
        sampling=FULL if windows is None else sampling.spec,
    ))


def _check_shared(models: Sequence[MusicnnTagger]) -> None:
    """Raise :class:`ModelError` unless ``models`` (at least one) can share one decode and one
    mel spectrogram: the same front end, patch length and device, and a zero-padded front end
    (:class:`_PatchCutter` pads a centred STFT with zeros)."""
    if not models:
        raise ModelError("analysing a song needs at least one model")
    first = models[0]
    params, frames, device = first.mel_params, first.patch_frames, first.device
    for other in models[1:]:
        if (other.mel_params, other.patch_frames, other.device) != (params, frames, device):
            raise ModelError(f"{first.name} and {other.name} do not share a front end, patch "
                             "length and device: analyse them separately")
    if params.center and params.pad_mode != "constant":
        raise ModelError(f"{first.name}: patch-wise analysis needs a zero-padded front end")


#: At most this many patches of one song are handed over decoded (:func:`decode_song`): more
#: than a sampled song's (16) or a whole-analysed song's under about 100 s (33), and a longer
#: song analysed whole is streamed by :func:`analyse_song_models` instead, so memory stays flat.
HANDED_PATCHES = 40


@dataclass(frozen=True)
class DecodedSong:
    """A song's patches decoded and cut, ready for the network (:func:`analyse_decoded`):
    ``spans`` are ``(samples, n_patches)`` as :class:`_PatchCutter` cuts them (the samples of
    each span's patches at the model's rate, mono float32), ``heard`` how the song was heard."""

    spans: list[tuple[np.ndarray, int]]
    heard: SongHeard

    @property
    def n_patches(self) -> int:
        return sum(count for _, count in self.spans)


def decode_song(path: str | Path, params: MelParams, frames: int, sampling: Sampling | None,
                *, most: int = HANDED_PATCHES) -> DecodedSong | None:
    """Decode the patches of ``path`` that :func:`analyse_song_models` would analyse with
    ``sampling`` (the windows of a long song, by seeking; every patch of a short one), for a
    front end ``params`` and patches of ``frames`` frames: the decoding half of the analysis,
    which an engine's worker processes run while the network works on other songs.

    Returns ``None`` when the song is analysed whole and has more than ``most`` patches
    (``sampling`` ``None`` and a long song, or a length only estimated and too long): analyse
    it with :func:`analyse_song_models`, which streams it. Raises
    :class:`~earmark.errors.AudioError` when the file cannot be decoded.
    """
    path = str(path)
    downmix = Downmix()
    cutter = _PatchCutter(params.n_fft, params.hop_length, frames, most + 1, params.center)
    patch_seconds = frames * params.hop_length / params.sample_rate
    stated = probe_audio(path).duration or 0.0
    windows = plan_windows(stated, patch_seconds, sampling) if sampling is not None else None
    if windows is not None:
        batches = cutter.windows(path, windows, params.sample_rate, downmix)
        if batches is None:
            return None
        spans = [span for batch in batches for span in batch]
    else:
        spans = []
        for span in cutter.spans(stream_audio(path, params.sample_rate, block_seconds=6.0,
                                              downmix=downmix)):
            spans.append(span)
            if sum(count for _, count in spans) > most:
                return None
    return DecodedSong(spans, SongHeard(
        source=path, start=0.0,
        duration=cutter.seen / params.sample_rate if windows is None else stated,
        patch_seconds=patch_seconds, padded=cutter.padded, silent=downmix.silent,
        downmix=downmix.note, sampling=FULL if windows is None else sampling.spec))


def analyse_decoded(songs: Sequence[DecodedSong], models: Sequence[MusicnnTagger]
                    ) -> list[list[SongAnalysis]]:
    """The network on the patches of several decoded songs at once (:func:`decode_song`):
    one call per model for all of them, so a GPU gets full batches and a CPU pays the call's
    overhead once. Returns per song one :class:`SongAnalysis` per model, as
    :func:`analyse_song_models` does for the same song (to float rounding: a patch's outputs
    do not depend on the other patches of its call).

    Raises :class:`~earmark.errors.ModelError` as :func:`analyse_song_models` does.
    """
    _check_shared(models)
    outputs = _run_batch(models, [span for song in songs for span in song.spans])
    analyses, row = [], 0
    for song in songs:
        end = row + song.n_patches
        analyses.append(_analyses(models, [[(p[row:end], e[row:end]) for p, e in outputs]],
                                  song.heard))
        row = end
    return analyses


#: Patches of a network call at the least (a shorter call is padded with silent patches, whose
#: outputs are dropped): on the CPU, oneDNN convolves fewer than 4 with other kernels, whose
#: sums differ in the last float32 bits (measured up to 4e-6), so with at least 4 a patch's
#: outputs are the same bits whichever call it is in, one song's or several songs'.
MIN_CALL_PATCHES = 4


def _run_batch(models: Sequence[MusicnnTagger], batch: list[tuple[np.ndarray, int]]
               ) -> list[tuple[np.ndarray, np.ndarray]]:
    """One network call per model for the patches of a batch of ``(span, count)`` (the spans
    of :class:`_PatchCutter`, of one song or several): per model ``(probabilities (n, n_tags),
    embeddings (n, d))`` float32, rows in the order of the spans' patches."""
    first = models[0]
    uncentred, frames = first.mel_params.with_(center=False), first.patch_frames
    with torch.inference_mode():  # per thread
        patches = []
        for span, count in batch:
            mel = log_mel(span, uncentred, device=first.device)  # (n_mels, count * frames)
            patches.append(mel.reshape(mel.shape[0], count, frames).transpose(0, 1))
        joined = patches[0] if len(patches) == 1 else torch.cat(patches)
        n = len(joined)
        if n < MIN_CALL_PATCHES:
            joined = torch.cat([joined, joined.new_zeros((MIN_CALL_PATCHES - n,
                                                          *joined.shape[1:]))])
        outputs = [model(joined) for model in models]
    return [(p[:n].float().cpu().numpy(), e[:n].float().cpu().numpy()) for p, e in outputs]


def _analyses(models: Sequence[MusicnnTagger],
              batches: Sequence[list[tuple[np.ndarray, np.ndarray]]],
              heard: SongHeard) -> list[SongAnalysis]:
    """One :class:`SongAnalysis` per model from a song's :func:`_run_batch` outputs."""
    analyses = []
    for k, model in enumerate(models):
        probs = np.concatenate([batch[k][0] for batch in batches])
        embeds = np.concatenate([batch[k][1] for batch in batches])
        info = SongInfo(model=model.name, n_patches=len(probs), **asdict(heard))
        analyses.append(SongAnalysis(probs, embeds, tuple(model.tags), info))
    return analyses


def song_taggram(
    source: Source,
    model: MusicnnTagger,
    start: float | None = None,
    duration: float | None = None,
    **kwargs,
) -> tuple[np.ndarray, list[str], SongInfo]:
    """Per-patch tag probabilities: ``(taggram (n_patches, n_tags), tag names, info)``.

    Same arguments as :func:`analyse_song`; row ``i`` covers seconds
    ``[start + i * info.patch_seconds, start + (i + 1) * info.patch_seconds)``.
    """
    result = analyse_song(source, model, start, duration, **kwargs)
    return result.taggram, list(result.tags), result.info


def song_tags(
    source: Source,
    model: MusicnnTagger,
    start: float | None = None,
    duration: float | None = None,
    **kwargs,
) -> tuple[np.ndarray, list[str], SongInfo]:
    """Whole-song tag probabilities ``(n_tags,)``: the taggram averaged over patches.

    This is what musicnn's own ``top_tags`` reports. Returns ``(probabilities, tag names, info)``.
    """
    taggram, tags, info = song_taggram(source, model, start, duration, **kwargs)
    return taggram.mean(axis=0), tags, info


def song_embedding(
    source: Source,
    model: MusicnnTagger,
    start: float | None = None,
    duration: float | None = None,
    **kwargs,
) -> tuple[np.ndarray, SongInfo]:
    """Song embedding ``(2 * d,)``: mean then max over patches of the penultimate layer.

    ``d`` is ``model.embedding_dim`` (200 for the musicnn models, so 400 values).
    """
    result = analyse_song(source, model, start, duration, **kwargs)
    return embedding_from_patches(result.embeddings), result.info


def embedding_from_patches(embeddings: np.ndarray) -> np.ndarray:
    """``(n_patches, d)`` per-patch embeddings -> ``(2 * d,)`` [mean over time, max over time]."""
    return np.concatenate([embeddings.mean(axis=0), embeddings.max(axis=0)]).astype(np.float32)
