"""Whole songs through the pretrained musicnn taggers: taggrams, song tags, embeddings, genres.

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
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Queue

import numpy as np
import soxr
import torch

from earmark.audio import Downmix, stream_audio
from earmark.engine.local import map_threads
from earmark.errors import ModelError
from earmark.features import log_mel
from earmark.models.musicnn import MusicnnTagger


@dataclass(frozen=True)
class SongInfo:
    """How a song was analysed.

    Attributes
    ----------
    model : model name, e.g. ``"MSD_musicnn"``.
    source : the file path, or ``None`` for samples passed in memory.
    start, duration : the analysed span in seconds (``duration`` is the audio actually there,
        before any padding).
    patch_seconds : length of one patch (one taggram row) in seconds.
    n_patches : number of patches (taggram rows).
    padded : the audio was shorter than one patch and was zero-padded to one.
    silent : no sample of the analysed audio reached -60 dBFS
        (:data:`earmark.audio.decode.SILENCE_PEAK`): the outputs describe nothing.
    downmix : a note when the mono mix was not the channel mean (the channels cancel), else
        ``None``.
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

    def to_dict(self) -> dict:
        return asdict(self)


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


def analyse_song(
    source: Source,
    model: MusicnnTagger,
    start: float | None = None,
    duration: float | None = None,
    *,
    sr: int | None = None,
    batch_size: int | None = None,
    block_seconds: float = 6.0,
) -> SongAnalysis:
    """Tag probabilities and embeddings of every 3-second patch of a song.

    Parameters
    ----------
    source : audio file path, or samples ``(n,)`` / ``(channels, n)`` at ``sr`` Hz.
    model : a tagger from :func:`earmark.models.musicnn.load_musicnn`.
    start, duration : seconds; analyse only this span (default: the whole song).
    sr : sample rate of in-memory ``source`` (default: the model's, 16 kHz); ignored for paths.
    batch_size : patches per forward pass; default 2 on the CPU (whose front end works through
        patches one at a time anyway, in cache-sized slices), 32 on a GPU.
    block_seconds : a file is decoded this many seconds at a time (in a thread, ahead of the
        network), so a two-hour mix needs no more memory than a song, and the network starts
        on a song's first seconds while the rest is still being decoded.

    On the CPU, batches are spread over ``torch.get_num_threads()`` threads that each run torch
    on one thread, which uses several cores far better than torch's own threads do on these
    small convolutions; results are the same and in order.
    """
    params = model.mel_params
    if params.center and params.pad_mode != "constant":
        raise ModelError(f"{model.name}: patch-wise analysis needs a zero-padded front end")
    downmix = Downmix()  # the channel mean, as librosa (and so musicnn) mixes
    if isinstance(source, (str, Path)):
        blocks = _prefetched(stream_audio(source, params.sample_rate, offset=start or 0.0,
                                          duration=duration, block_seconds=block_seconds,
                                          downmix=downmix))
    else:
        blocks = iter([_in_memory_samples(source, params.sample_rate, start, duration, sr,
                                          downmix)])
    hop, n_fft, frames = params.hop_length, params.n_fft, model.patch_frames
    uncentred = params.with_(center=False)
    device = model.device
    on_cpu = device.type == "cpu"
    cutter = _PatchCutter(n_fft, hop, frames, batch_size or (2 if on_cpu else 32), params.center)

    def run(span_and_count: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
        span, count = span_and_count
        with torch.inference_mode():  # per thread
            mel = log_mel(span, uncentred, device=device)  # (n_mels, count * frames)
            p, e = model(mel.reshape(mel.shape[0], count, frames).transpose(0, 1))
        return p.float().cpu().numpy(), e.float().cpu().numpy()

    # One song's patches share this process's threads, as torch's intra-op threads would: an
    # engine spreads whole songs, not the parts of one.
    outputs = list(map_threads(run, cutter.spans(blocks),
                               workers=torch.get_num_threads() if on_cpu else 1))
    probs, embeds = [p for p, _ in outputs], [e for _, e in outputs]
    info = SongInfo(
        model=model.name,
        source=str(source) if isinstance(source, (str, Path)) else None,
        start=float(start or 0.0),
        duration=cutter.seen / params.sample_rate,
        patch_seconds=frames * hop / params.sample_rate,
        n_patches=sum(len(x) for x in probs),
        padded=cutter.padded,
        silent=downmix.silent,
        downmix=downmix.note,
    )
    return SongAnalysis(np.concatenate(probs), np.concatenate(embeds), tuple(model.tags), info)


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


#: Genre -> {tag: weight}. A genre's confidence is the largest ``weight * probability`` over its
#: tags present in the model's vocabulary, so it reads like a probability and strongly correlated
#: tags ("rock", "classic rock", "hard rock") do not add up. Weight 1 marks a tag that *is* the
#: genre (or a sub-genre of it); lower weights mark indirect evidence (a sound or mood typical of
#: the genre). The MSD vocabulary (Last.fm tags) covers most genres; MagnaTagATune's adds
#: classical, opera/choral, new age and Indian music but has no jazz, blues, hip-hop or folk.
GENRE_TAGS: dict[str, dict[str, float]] = {
    "rock": {"rock": 1.0, "classic rock": 1.0, "hard rock": 1.0, "alternative rock": 1.0,
             "indie rock": 1.0, "Progressive rock": 1.0},
    "alternative/indie": {"alternative": 1.0, "indie": 1.0, "alternative rock": 1.0,
                          "indie rock": 1.0, "indie pop": 1.0},
    "pop": {"pop": 1.0, "indie pop": 1.0},
    "electronic": {"electronic": 1.0, "electronica": 1.0, "electro": 1.0, "techno": 1.0,
                   "House": 1.0, "synth": 0.5},
    "dance": {"dance": 1.0, "House": 1.0, "electro": 0.7, "party": 0.6, "techno": 0.7},
    "jazz": {"jazz": 1.0},
    "metal": {"metal": 1.0, "heavy metal": 1.0, "hard rock": 0.5},
    "hip-hop": {"Hip-Hop": 1.0},
    "blues": {"blues": 1.0},
    "country": {"country": 1.0},
    "folk": {"folk": 1.0, "acoustic": 0.5},
    "soul/r&b": {"soul": 1.0, "rnb": 1.0},
    "funk": {"funk": 1.0},
    "punk": {"punk": 1.0},
    "ambient": {"ambient": 1.0, "chillout": 0.6, "new age": 0.6},
    "experimental": {"experimental": 1.0, "weird": 0.5},
    "easy listening": {"easy listening": 1.0},
    "classical": {"classical": 1.0, "classic": 1.0, "opera": 1.0, "choral": 0.9,
                  "harpsichord": 0.8, "strings": 0.5, "violin": 0.5, "cello": 0.5},
    "new age": {"new age": 1.0},
    "world/indian": {"indian": 1.0, "sitar": 1.0},
}


def genre_from_tags(
    tag_probabilities: np.ndarray, tags: list[str] | tuple[str, ...]
) -> list[tuple[str, float]]:
    """Map tag probabilities to genre confidences through :data:`GENRE_TAGS`.

    Parameters
    ----------
    tag_probabilities : ``(n_tags,)`` whole-song probabilities (e.g. from :func:`song_tags`).
    tags : their names, in the same order (``model.tags``).

    Returns
    -------
    list of (genre, confidence)
        Every genre the vocabulary can express, most confident first; confidences in [0, 1].
    """
    probs = np.asarray(tag_probabilities, dtype=np.float64)
    if probs.shape != (len(tags),):
        raise ValueError(f"expected {len(tags)} tag probabilities, got shape {probs.shape}")
    index = {tag: i for i, tag in enumerate(tags)}
    genres = []
    for genre, weights in GENRE_TAGS.items():
        scores = [w * probs[index[tag]] for tag, w in weights.items() if tag in index]
        if scores:
            genres.append((genre, float(max(scores))))
    return sorted(genres, key=lambda item: -item[1])
