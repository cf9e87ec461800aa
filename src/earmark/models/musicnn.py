"""musicnn's published taggers (Pons & Serra, 2019) in PyTorch, with their original weights.

The four models released in the ``musicnn`` 0.1.0 package (MagnaTagATune and Million Song
Dataset, each as *musicnn* and as a *vgg* baseline) are rebuilt here layer for layer. Their
TensorFlow 1 checkpoints are read from the installed ``musicnn`` package files (the package is
located, never imported, so TensorFlow is not needed) and converted once to a safetensors file in
earmark's cache, from which later loads take a fraction of a second.

Input of every model: patches of musicnn's log-mel front end, :data:`MUSICNN_PARAMS`, shaped
``(batch, n_mels=96, n_frames)``; ``n_frames`` is 187 (3 s at 16 kHz with hop 256) for the vgg
models and any length >= 1 for musicnn (it was trained on 187).

Layout notes for whoever checks this against the TensorFlow code: TF works in NHWC with
H = time and W = mel band, so conv kernels ``(kh, kw, in, out)`` become torch's
``(out, in, kh, kw)``; TF's 'same' padding puts the extra row of an even kernel *after* the input
(``(k - 1) // 2`` before, ``k // 2`` after); batch norm runs with the moving statistics and TF's
epsilon 1e-3; and the back end flattens ``concat([max, mean], axis=-1)`` of shape
``(753, 2)``, so pooled features are interleaved max/mean per channel.

Speed: 80 % of musicnn's arithmetic is in its two timbral convs, which have a single input
channel, a shape oneDNN runs far below the CPU's peak. The front end therefore stacks shifted
copies of the spectrogram as input channels (band shifts for the timbral kernels, time shifts
for the temporal ones), which gives the same sums from convs oneDNN runs near peak; it pools
over the bands before ReLU and batch norm (which commute with the max), convolves each patch
on its own and 64 frames at a time so that feature maps are pooled while they are in cache, and
can run in bfloat16 (see :data:`earmark.settings.PRECISIONS`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from earmark.errors import ModelError
from earmark.features import MUSICNN_MEL, MelParams
from earmark.models.registry import pretrained
from earmark.models.tf_checkpoint import read_checkpoint
from earmark.settings import PRECISIONS, settings

#: The front end all four models were trained on: librosa mel power (16 kHz, n_fft 512, hop 256,
#: 96 Slaney bands), rounded to float16, then ``log10(1 + 10000 x)``.
MUSICNN_PARAMS: MelParams = MUSICNN_MEL

#: Frames per patch the models were trained on: 3 s at 16 kHz, hop 256.
PATCH_FRAMES = 187



def native_bfloat16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 dot products in hardware."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    try:
        features = torch._C._cpu._get_cpu_capability()
    except (AttributeError, RuntimeError):  # private API: absent means "don't know"
        return False
    return bool(features.get("avx512_bf16") or features.get("amx_bf16"))


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """``precision`` with ``"auto"`` replaced by what suits ``device``."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision

_TF_BN_EPSILON = 1e-3
# Bump when the module layout or the conversion changes, so stale cache files are rebuilt.
_CACHE_FORMAT = "1"


class _BatchNorm(nn.Module):
    """Inference-only batch norm over dimension 1 with TF's parameter names and epsilon."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("gamma", torch.ones(channels))
        self.register_buffer("beta", torch.zeros(channels))
        self.register_buffer("moving_mean", torch.zeros(channels))
        self.register_buffer("moving_variance", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                            training=False, eps=_TF_BN_EPSILON)


class _ConvBlock(nn.Module):
    """conv -> ReLU -> batch norm, musicnn's basic unit (note: norm *after* the activation)."""

    def __init__(self, conv: nn.Module, channels: int):
        super().__init__()
        self.conv = conv
        self.bn = _BatchNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))

    def signed_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight, sign)``: the conv's weight with each channel negated where the norm's
        scale is negative, for :meth:`after_max`.

        Bias, ReLU and batch norm are monotone per channel, so they commute with a max over an
        axis, which turns into a min where the scale is negative; that min is the max of the conv
        with negated weights. So ``forward(x).amax(axis)`` equals
        ``after_max(conv(x, weight).amax(axis), sign)``: pooling first spares four passes over the
        largest feature maps.
        """
        sign = torch.where(self.bn.gamma >= 0, 1.0, -1.0)
        return self.conv.weight * sign[:, None, None, None], sign

    def after_max(self, pooled: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
        """Finish :meth:`signed_weight`: ``(batch, channels, time)`` maxima -> block output."""
        return self.bn(F.relu(pooled * sign[:, None] + self.conv.bias[:, None]))


#: Output frames per convolution call of the CPU front end: a 64-frame slice of the largest
#: feature map (64 x 59 bands x 204 channels, 3 MB) stays in the core's cache until it is pooled.
_FRONT_CHUNK = 64

#: Time shifts stacked as input channels for the temporal convs (their lengths are multiples).
_TIME_SHIFTS = 8


def _max_over_bands(maps: torch.Tensor) -> torch.Tensor:
    """``maps.amax(2)`` for ``(batch, time, bands, channels)`` maps, as a tree of pairwise maxima.

    Same result; torch's reduction kernel is several times slower on these shapes (a short
    channel axis innermost), the element-wise maximum runs at memory speed.
    """
    while maps.shape[2] > 1:
        half = maps.shape[2] // 2
        folded = torch.maximum(maps[:, :, :half], maps[:, :, half : 2 * half])
        if maps.shape[2] % 2:
            folded[:, :, :1] = torch.maximum(folded[:, :, :1], maps[:, :, 2 * half :])
        maps = folded
    return maps[:, :, 0]


def _band_max(x: torch.Tensor, weight: torch.Tensor, rows: int, dilation: int,
              chunk: int | None) -> torch.Tensor:
    """``conv2d(x, weight, dilation=(dilation, 1))`` (no bias) max-pooled over the band axis.

    ``x`` is ``(batch, k, time, bands)`` and ``weight`` ``(channels, k, kt, 1)``, both
    channels-last; returns ``(batch, channels, rows)``. On the CPU the conv runs ``chunk``
    output frames at a time and each patch on its own, so every partial map is pooled while it
    is still in cache (oneDNN also picks its fastest kernels for a batch of one); elsewhere it
    runs in one call.
    """

    def pooled(part: torch.Tensor) -> torch.Tensor:
        maps = F.conv2d(part, weight, dilation=(dilation, 1))
        return _max_over_bands(maps.permute(0, 2, 3, 1))

    if chunk is None:
        return pooled(x).transpose(1, 2)
    span = (weight.shape[2] - 1) * dilation
    patches = [
        torch.cat([pooled(x[i : i + 1, :, start : start + min(chunk, rows - start) + span])
                   for start in range(0, rows, chunk)], dim=1)
        for i in range(x.shape[0])
    ]
    return torch.cat(patches).transpose(1, 2)


def _stack_shifts(image: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """``(batch, a, b)`` image -> channels-last ``(batch, width, …)`` view whose channel ``j``
    is the image shifted by ``j`` along ``dim`` (1 = time, 2 = bands).

    A conv with one input channel, which oneDNN runs far from the CPU's peak, becomes a conv
    with ``width`` input channels and a kernel ``width`` times shorter along ``dim``, which it
    runs near the peak. Same sums, same results.
    """
    return image.unfold(dim, width, 1).contiguous().permute(0, 3, 1, 2)


class MusicnnTagger(nn.Module):
    """Common interface of the pretrained taggers.

    Attributes
    ----------
    name : model name, e.g. ``"MSD_musicnn"``.
    tags : the 50 tag names, in output order.
    mel_params : the front end whose output :meth:`forward` expects.
    patch_frames : frames per patch the model was trained on (187).
    embedding_dim : size of the embedding returned next to the probabilities.
    precision : ``"float32"`` or ``"bfloat16"`` (see :data:`earmark.settings.PRECISIONS`).
    """

    name: str
    tags: tuple[str, ...]
    mel_params: MelParams = MUSICNN_PARAMS
    patch_frames: int = PATCH_FRAMES
    embedding_dim: int
    precision: str = "float32"

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tag probabilities and embedding of each patch.

        Parameters
        ----------
        patches : ``(batch, 96, n_frames)`` log-mel patches from :data:`MUSICNN_PARAMS`.

        Returns
        -------
        probabilities : ``(batch, 50)`` sigmoid outputs, one column per tag in :attr:`tags`.
        embedding : ``(batch, embedding_dim)`` penultimate-layer activations.
        """
        with torch.autocast(patches.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == "bfloat16"):
            logits, embedding = self.logits_and_embedding(patches)
        return torch.sigmoid(logits.float()), embedding.float()

    def logits_and_embedding(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where the model's weights are."""
        return next(self.parameters()).device

    def taggram(self, patches: torch.Tensor) -> torch.Tensor:
        """``(batch, 50)`` tag probabilities of each patch."""
        return self(patches)[0]

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """``(batch, embedding_dim)`` penultimate-layer embedding of each patch."""
        return self(patches)[1]


class Musicnn(MusicnnTagger):
    """musicnn: musically motivated front end, dense residual mid end, pooled dense back end.

    Front end over the ``(time, mel)`` plane: two timbral convs spanning 7 frames x 38 or 67
    bands and three temporal convs spanning 128, 64 or 32 frames x 1 band, each max-pooled over
    the remaining mel axis (204 + 204 + 3 x 51 = 561 channels per frame). Mid end: three
    7-frame 1-d convs of ``midend`` channels, the last two residual. Back end: the 753 channels
    of front and mid end are pooled over time (max and mean), then a ``backend``-unit dense
    layer (the embedding) and the 50 logits.
    """

    def __init__(self, name: str, tags: tuple[str, ...], n_mels: int = 96, midend: int = 64,
                 backend: int = 200):
        super().__init__()
        self.name, self.tags, self.embedding_dim = name, tuple(tags), backend
        timbral, temporal = 204, 51
        self.input_bn = _BatchNorm(1)
        self.timbral = nn.ModuleList(
            _ConvBlock(nn.Conv2d(1, timbral, (7, int(fraction * n_mels))), timbral)
            for fraction in (0.4, 0.7)
        )
        self.temporal_lengths = (128, 64, 32)
        self.temporal = nn.ModuleList(
            _ConvBlock(nn.Conv2d(1, temporal, (length, 1)), temporal)
            for length in self.temporal_lengths
        )
        front = 2 * timbral + 3 * temporal
        self.midend = nn.ModuleList(
            _ConvBlock(nn.Conv1d(channels, midend, 7, padding=3), midend)
            for channels in (front, midend, midend)
        )
        pooled = 2 * (front + 3 * midend)
        self.pool_bn = _BatchNorm(pooled)
        self.dense = _ConvBlock(nn.Linear(pooled, backend), backend)
        self.output = nn.Linear(backend, len(self.tags))

    def front_end(self, patches: torch.Tensor) -> torch.Tensor:
        """``(batch, 96, time)`` patches -> ``(batch, 561, time)`` timbral and temporal
        features, each conv block max-pooled over the mel bands."""
        # (batch, mel, time) -> TF's (batch, time, mel) image, normalised *before* padding.
        image = self.input_bn(patches.transpose(1, 2).unsqueeze(1))[:, 0].contiguous()
        frames = image.shape[1]
        chunk = _FRONT_CHUNK if image.device.type == "cpu" else None
        channels_last = torch.channels_last
        features = []
        padded = F.pad(image, (0, 0, 3, 3))
        for block in self.timbral:  # kernel (7, kf) over (time, band) -> kf band shifts, (7, 1)
            weight, sign = block.signed_weight()
            shifted = _stack_shifts(padded, weight.shape[-1], dim=2)
            kernel = weight.permute(0, 3, 2, 1).contiguous(memory_format=channels_last)
            features.append(block.after_max(_band_max(shifted, kernel, frames, 1, chunk), sign))
        # Kernels (L, 1) over time, TF 'same' padding: (L - 1) // 2 frames before, L // 2 after.
        # All three read one shifted copy of the image padded for the longest.
        longest, step = max(self.temporal_lengths), _TIME_SHIFTS
        shifted = _stack_shifts(F.pad(image, (0, 0, (longest - 1) // 2, longest // 2)), step, 1)
        for length, block in zip(self.temporal_lengths, self.temporal, strict=True):
            weight, sign = block.signed_weight()
            # (C, 1, L, 1) -> (C, step, L / step, 1): tap k * step + j reads shift j, dilated.
            kernel = (weight[:, 0, :, 0].reshape(len(weight), length // step, step)
                      .permute(0, 2, 1).unsqueeze(-1).contiguous(memory_format=channels_last))
            start = (longest - 1) // 2 - (length - 1) // 2
            window = shifted[:, :, start : start + frames + length - step]
            features.append(block.after_max(_band_max(window, kernel, frames, step, chunk),
                                            sign))
        return torch.cat(features, dim=1)

    def logits_and_embedding(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        front = self.front_end(patches).float()  # (batch, 561, time)
        # The rest is 5 % of the work: float32 whatever the precision, to keep its error small.
        with torch.autocast(front.device.type, enabled=False):
            mid1 = self.midend[0](front)
            mid2 = self.midend[1](mid1) + mid1
            mid3 = self.midend[2](mid2) + mid2
            stacked = torch.cat([front, mid1, mid2, mid3], dim=1)  # (batch, 753, time)
            pooled = torch.stack([stacked.amax(dim=2), stacked.mean(dim=2)], dim=2).flatten(1)
            embedding = self.dense(self.pool_bn(pooled))
            return self.output(embedding), embedding


class MusicnnVGG(MusicnnTagger):
    """The vgg baseline: five 3x3 conv blocks of 128 channels with max pooling, then 50 logits.

    Needs exactly 187-frame patches (its last layer sees a fixed 2 x 1 x 128 map); the
    embedding is that flattened last pooling map (256 values).
    """

    def __init__(self, name: str, tags: tuple[str, ...], filters: int = 128):
        super().__init__()
        self.name, self.tags, self.embedding_dim = name, tuple(tags), 2 * filters
        self.input_bn = _BatchNorm(1)
        self.convs = nn.ModuleList(
            _ConvBlock(nn.Conv2d(1 if i == 0 else filters, filters, 3, padding=1), filters)
            for i in range(5)
        )
        # (kernel, stride) of the max pooling after each conv, in (time, mel).
        self.pools = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
                      ((4, 4), (4, 4)))
        self.output = nn.Linear(self.embedding_dim, len(self.tags))

    def logits_and_embedding(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if patches.shape[-1] != self.patch_frames:
            raise ModelError(f"{self.name} needs patches of exactly {self.patch_frames} frames, "
                             f"got {patches.shape[-1]}")
        x = self.input_bn(patches.transpose(1, 2).unsqueeze(1))
        for block, (kernel, stride) in zip(self.convs, self.pools, strict=True):
            x = F.max_pool2d(block(x), kernel, stride)
        embedding = x.permute(0, 2, 3, 1).flatten(1)  # TF flattens NHWC
        return self.output(embedding), embedding


def _build(name: str) -> MusicnnTagger:
    model = pretrained(name)
    return (MusicnnVGG if model.architecture == "vgg" else Musicnn)(model.name, model.tags)


def _tf_variable_order(model: MusicnnTagger) -> tuple[list[nn.Module], list[nn.Module], list]:
    """Batch norms, convs and dense layers in the order TF created (and numbered) them."""
    if isinstance(model, MusicnnVGG):
        norms = [model.input_bn] + [block.bn for block in model.convs]
        return norms, [block.conv for block in model.convs], [model.output]
    blocks = [*model.timbral, *model.temporal, *model.midend]
    norms = [model.input_bn] + [b.bn for b in blocks] + [model.pool_bn, model.dense.bn]
    return norms, [b.conv for b in blocks], [model.dense.conv, model.output]


def _numbered(prefix: str, index: int) -> str:
    return prefix if index == 0 else f"{prefix}_{index}"


def convert_checkpoint(name: str, tensors: dict[str, np.ndarray]) -> MusicnnTagger:
    """Build model ``name`` and fill it from a musicnn TF checkpoint's variables.

    ``tensors`` is what :func:`~earmark.models.tf_checkpoint.read_checkpoint` returns; optimizer
    slots (``…/Adam``) are ignored. Raises :class:`ModelError` if a variable is missing or has
    the wrong shape.
    """
    model = _build(name)
    norms, convs, denses = _tf_variable_order(model)
    is_vgg = isinstance(model, MusicnnVGG)
    targets: dict[str, tuple[torch.Tensor, np.ndarray]] = {}

    def want(tf_name: str, param: torch.Tensor, transform) -> None:
        if tf_name not in tensors:
            raise ModelError(f"{name} checkpoint lacks variable {tf_name!r}")
        targets[tf_name] = (param, transform(tensors[tf_name]))

    for i, bn in enumerate(norms):
        for field in ("gamma", "beta", "moving_mean", "moving_variance"):
            want(f"{_numbered('batch_normalization', i)}/{field}", getattr(bn, field), np.asarray)
    for i, conv in enumerate(convs):
        prefix = f"{i + 1}CNN" if is_vgg else _numbered("conv2d", i)
        # TF (kh, kw, in, out) -> torch Conv2d (out, in, kh, kw). The mid end's TF conv spans the
        # whole channel axis as kw with in=1, i.e. a Conv1d of (out, kw, kh).
        layout = (3, 2, 0, 1) if isinstance(conv, nn.Conv2d) else (3, 1, 0, 2)
        want(f"{prefix}/kernel", conv.weight,
             lambda k, layout=layout, conv=conv: k.transpose(layout).reshape(conv.weight.shape))
        want(f"{prefix}/bias", conv.bias, np.asarray)
    for i, dense in enumerate(denses):
        want(f"{_numbered('dense', i)}/kernel", dense.weight, np.transpose)
        want(f"{_numbered('dense', i)}/bias", dense.bias, np.asarray)
    with torch.no_grad():
        for tf_name, (param, value) in targets.items():
            if tuple(value.shape) != tuple(param.shape):
                raise ModelError(f"{name} checkpoint variable {tf_name!r} has shape "
                                 f"{value.shape}, expected {tuple(param.shape)}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))
    return model.eval()


def musicnn_package_dir() -> Path:
    """Folder of the installed ``musicnn`` package (located, not imported: it needs TensorFlow)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the pretrained musicnn weights come from the musicnn package: "
                         "install them with `pip install --no-deps musicnn==0.1.0`")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_dir() -> Path:
    """Where converted models are cached: ``models/`` in the settings' ``cache_dir``
    (``$EARMARK_CACHE_DIR`` or the user cache)."""
    return settings().cache_dir / "models"


def _metadata(model: MusicnnTagger) -> dict[str, str]:
    return {
        "format": _CACHE_FORMAT,
        "name": model.name,
        "tags": json.dumps(list(model.tags)),
        "mel_params": json.dumps(model.mel_params.to_dict()),
        "patch_frames": str(model.patch_frames),
        "source": "musicnn 0.1.0 (Pons & Serra), converted from its TensorFlow checkpoint",
    }


def _save_atomic(model: MusicnnTagger, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        state = {key: value.contiguous() for key, value in model.state_dict().items()}
        save_file(state, tmp, metadata=_metadata(model))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_cached(name: str, path: Path) -> MusicnnTagger | None:
    """The cached model, or ``None`` when the file is absent, stale or damaged."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != _CACHE_FORMAT or meta.get("name") != name:
            return None
        model = _build(name)
        if json.loads(meta["tags"]) != list(model.tags):
            return None
        params = MelParams.from_dict(json.loads(meta["mel_params"]))
        model.load_state_dict(load_file(str(path)))
    except (OSError, KeyError, ValueError, RuntimeError, SafetensorError):
        return None
    model.mel_params = params
    return model.eval()


def load_musicnn(name: str = "MSD_musicnn", device: torch.device | str | None = None,
                 precision: str = "auto") -> MusicnnTagger:
    """Load a pretrained musicnn tagger, converting its TF checkpoint on first use.

    Parameters
    ----------
    name : ``"MSD_musicnn"`` (Million Song Dataset tags: genres, eras, moods), ``"MTT_musicnn"``
        (MagnaTagATune: instruments, voice, genres), ``"MTT_vgg"`` or ``"MSD_vgg"``.
    device : where to put the model (default CPU).
    precision : ``"auto"`` (default: bfloat16 where the device has it natively, else float32),
        ``"float32"`` (the original's outputs to within 1e-6, reproducible everywhere) or
        ``"bfloat16"`` (the network about twice as fast, probabilities within ~0.01); see
        :data:`earmark.settings.PRECISIONS`.

    Returns
    -------
    MusicnnTagger
        In eval mode, with ``.tags``, ``.mel_params`` and ``.patch_frames``.

    The first call reads the checkpoint shipped in the ``musicnn`` package and writes
    ``<cache>/models/<name>.safetensors`` (see :func:`cache_dir`); later calls load that file.
    """
    name = pretrained(name).name
    precision = resolve_precision(precision, device or "cpu")
    path = cache_dir() / f"{name}.safetensors"
    model = _load_cached(name, path) if path.exists() else None
    if model is None:
        checkpoint = musicnn_package_dir() / name
        if not (checkpoint / ".index").is_file():
            raise ModelError(f"musicnn package has no {name} checkpoint in {checkpoint}")
        model = convert_checkpoint(name, read_checkpoint(f"{checkpoint}/"))
        try:
            _save_atomic(model, path)
        except OSError:
            pass  # a read-only cache only costs the conversion again next time
    model.precision = precision
    return model.to(device) if device is not None else model
