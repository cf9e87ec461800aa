"""Networks trained on audio: the short-chunk residual CNN, and the training loop they share.

:class:`ShortChunkResNet` is the short-chunk CNN with residual blocks of Won et al. (2020,
"Evaluation of CNN-based automatic music tagging models"): 3.69 s chunks (59,049 samples at
16 kHz) through :data:`~earmark.features.SHORTCHUNK_MEL`, seven residual 3x3 conv blocks with
2x2 max pooling, global max pooling, then two dense layers.

:class:`AudioNetEstimator` turns any such network into a scikit-learn style estimator over
*file paths*: ``fit(paths, y)`` trains on random chunks of each song with on-the-fly
augmentation (:mod:`earmark.features.augment`), class weights, early stopping on a validation split,
per-epoch checkpoints and resume; ``predict_proba(paths)`` averages the probabilities of every
chunk of a song, and ``predict_proba(chunks)`` with a float ``(n, n_samples)`` array scores
chunks directly. It runs on CUDA, Apple MPS or the CPU (:func:`earmark.engine.device.pick_device`).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from earmark.audio import decode_audio, probe_audio, song_chunks
from earmark.engine.device import pick_device
from earmark.errors import ModelError
from earmark.features import SHORTCHUNK_MEL, MelFrontEnd, MelParams, augment
from earmark.models.outputs import hard_predictions
from earmark.models.selection import selection_score

#: Samples per chunk of the short-chunk CNN (3^10, 3.69 s at 16 kHz).
CHUNK_SAMPLES = 59049


class _ResBlock(nn.Module):
    """Two 3x3 convs with batch norm and a (projected) shortcut, then 2x2 max pooling."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.project = None
        if channels_in != channels_out:
            self.project = nn.Sequential(nn.Conv2d(channels_in, channels_out, 1),
                                         nn.BatchNorm2d(channels_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.project is None else self.project(x)
        return F.max_pool2d(F.relu(out + shortcut), 2)


class ShortChunkResNet(nn.Module):
    """Log-mel chunks ``(batch, n_mels, n_frames)`` -> logits ``(batch, n_outputs)``.

    ``width`` is the channel count of the first blocks (128 in the paper; later blocks use
    2x and 4x); smaller widths train faster on a CPU.
    """

    def __init__(self, n_outputs: int, width: int = 128, dropout: float = 0.5):
        super().__init__()
        channels = [width, width, 2 * width, 2 * width, 2 * width, 2 * width, 4 * width]
        self.input_bn = nn.BatchNorm2d(1)
        self.blocks = nn.Sequential(*[_ResBlock(c_in, c_out) for c_in, c_out in
                                      zip([1, *channels[:-1]], channels, strict=True)])
        self.dense = nn.Linear(channels[-1], channels[-1])
        self.dense_bn = nn.BatchNorm1d(channels[-1])
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(channels[-1], n_outputs)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.input_bn(mel.unsqueeze(1)))
        x = x.amax(dim=(2, 3))
        x = self.dropout(F.relu(self.dense_bn(self.dense(x))))
        return self.output(x)


def standardise(mel: torch.Tensor) -> torch.Tensor:
    """Per-example zero mean, unit variance over ``(n_mels, n_frames)``, so a network does not
    depend on the recording level."""
    mean = mel.mean(dim=(1, 2), keepdim=True)
    std = mel.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
    return (mel - mean) / std


class AudioNetEstimator(ClassifierMixin, BaseEstimator):
    """Training loop and song-level prediction shared by the networks that read audio.

    Subclasses define :meth:`_build` (the network), :attr:`mel_params` and
    :attr:`chunk_samples`. Hyper-parameters (shared):

    Parameters
    ----------
    kind : ``"single"``, ``"multi"``, ``"binary"`` or ``"regression"``.
    epochs : maximum passes over the training songs.
    chunks_per_song : random chunks drawn from each song per epoch.
    batch_size, lr, weight_decay : Adam optimisation.
    patience : stop after this many epochs without a better validation score.
    augment : random gain, time shift, SpecAugment masks, plus ``pitch``/``stretch`` when
        non-zero (semitones / tempo spread) and ``mixup`` when ``mixup_alpha > 0``.
    class_weight : ``"balanced"`` weighs classes by inverse frequency in the loss.
    device : ``"cpu"``, ``"cuda"``, ``"mps"``; ``None`` picks the best available.
    checkpoint : a file written after every epoch; with ``resume`` training continues there.
    seed : seeds initialisation, chunk choice and augmentation.
    """

    mel_params: MelParams = SHORTCHUNK_MEL
    chunk_samples: int = CHUNK_SAMPLES

    def __init__(self, kind: str = "single", epochs: int = 30, chunks_per_song: int = 2,
                 batch_size: int = 16, lr: float = 1e-3, weight_decay: float = 1e-4,
                 patience: int = 5, augment: bool = True, pitch: float = 0.0,
                 stretch: float = 0.0, mixup_alpha: float = 0.0,
                 class_weight: str | None = "balanced", device: str | None = None,
                 checkpoint: str | None = None, resume: bool = False, seed: int = 0):
        self.kind = kind
        self.epochs = epochs
        self.chunks_per_song = chunks_per_song
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.augment = augment
        self.pitch = pitch
        self.stretch = stretch
        self.mixup_alpha = mixup_alpha
        self.class_weight = class_weight
        self.device = device
        self.checkpoint = checkpoint
        self.resume = resume
        self.seed = seed

    # -- what subclasses provide -------------------------------------------------------------
    def _build(self, n_outputs: int) -> nn.Module:
        raise NotImplementedError

    def _trainable(self, net: nn.Module) -> list[nn.Parameter] | list[dict]:
        """What the optimiser updates: parameters, or Adam parameter groups."""
        return list(net.parameters())

    # -- data ---------------------------------------------------------------------------------
    def _random_chunks(self, paths: list[str], durations: list[float],
                       rng: np.random.Generator) -> torch.Tensor:
        """One random chunk ``(n_samples,)`` of each song, decoded on the fly."""
        rate = self.mel_params.sample_rate
        seconds = self.chunk_samples / rate
        out = []
        for path, duration in zip(paths, durations, strict=True):
            start = float(rng.uniform(0.0, max(0.0, duration - seconds)))
            audio = decode_audio(path, rate, offset=start, duration=seconds)
            out.append(np.pad(audio, (0, max(0, self.chunk_samples - len(audio))))
                       [: self.chunk_samples])
        return torch.from_numpy(np.stack(out))

    def _features(self, audio: torch.Tensor, device: torch.device) -> torch.Tensor:
        return standardise(MelFrontEnd(self.mel_params)(audio.to(device)))

    def _augment_audio(self, audio: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        audio = augment.random_gain(audio, -6.0, 6.0, g)
        audio = augment.time_shift(audio, self.chunk_samples // 8, g)
        if self.pitch:
            audio = augment.pitch_shift(audio, self.pitch, g)
        if self.stretch:
            audio = augment.time_stretch(audio, 1 - self.stretch, 1 + self.stretch, g)
        return audio

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X, y, groups=None, n_classes: int | None = None, X_valid=None,
            y_valid=None, progress=None) -> AudioNetEstimator:
        """Train on songs ``X`` (paths ``(n,)``) with targets ``y``; ``X_valid``/``y_valid``
        drive early stopping (without them the last epoch is kept); ``progress(done, total,
        label)`` is called after every batch. ``valid_output_`` then holds the kept weights'
        outputs for ``X_valid`` (as :meth:`predict_proba` gives them), so callers need not
        decode the validation songs again."""
        paths = [str(p) for p in X]
        y = np.asarray(y)
        width = self._width(y, n_classes)
        self.n_outputs_ = width
        device = pick_device(self.device)
        torch.manual_seed(self.seed)
        net = self._build(width).to(device)
        optimiser = torch.optim.Adam(self._trainable(net), lr=self.lr,
                                     weight_decay=self.weight_decay)
        g = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        loss_fn = self._loss(y, width, device)
        durations = [probe_audio(p).duration or 0.0 for p in paths]
        state = {"epoch": 0, "best": -np.inf, "best_state": None, "stale": 0, "history": []}
        if self.resume and self.checkpoint and Path(self.checkpoint).is_file():
            saved = torch.load(self.checkpoint, map_location=device, weights_only=False)
            net.load_state_dict(saved["net"])
            optimiser.load_state_dict(saved["optimiser"])
            g.set_state(saved["generator"])
            torch.set_rng_state(saved["torch_rng"])  # dropout draws from torch's global RNG
            rng.bit_generator.state = saved["rng"]
            state = saved["state"]
        per_epoch = -(-len(paths) * self.chunks_per_song // self.batch_size)
        best_output = None  # validation outputs of the weights in state["best_state"]
        while state["epoch"] < self.epochs and state["stale"] < self.patience:
            net.train()
            order = np.concatenate([rng.permutation(len(paths))
                                    for _ in range(self.chunks_per_song)])
            losses = []
            for step, first in enumerate(range(0, len(order), self.batch_size), start=1):
                if progress is not None:
                    progress(state["epoch"] * per_epoch + step - 1, self.epochs * per_epoch,
                             f"epoch {state['epoch'] + 1}")
                batch = order[first:first + self.batch_size]
                if len(batch) < 2:  # batch norm needs two examples
                    continue
                audio = self._random_chunks([paths[i] for i in batch],
                                            [durations[i] for i in batch], rng)
                target = self._target(y[batch], width)
                if self.augment:
                    audio = self._augment_audio(audio, g)
                mel = self._features(audio, device)
                if self.augment:
                    mel = augment.spec_augment(mel.cpu(), g).to(device)
                if self.mixup_alpha > 0:
                    mel, target = augment.mixup(mel, target, self.mixup_alpha, g)
                loss = loss_fn(net(mel), target.to(device))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(float(loss.detach()))
            state["epoch"] += 1
            record = {"epoch": state["epoch"], "loss": float(np.mean(losses)) if losses else None}
            if X_valid is not None and len(X_valid):
                self.net_ = net
                out = self._song_outputs([str(p) for p in X_valid])
                y_valid = np.asarray(y_valid)
                score = selection_score(self.kind, y_valid, out[:, 0] if self.kind ==
                                        "regression" else out)
                record["valid"] = score
                if score > state["best"]:
                    state.update(best=score, stale=0,
                                 best_state=copy.deepcopy(net.state_dict()))
                    best_output = out
                else:
                    state["stale"] += 1
            state["history"].append(record)
            if self.checkpoint:
                self._save_checkpoint(net, optimiser, g, rng, state)
        if state["best_state"] is not None:
            net.load_state_dict(state["best_state"])
        self.net_ = net.eval()
        # What predict_proba(X_valid) would give the kept weights, for the caller's validation
        # scores; None when those weights come from an earlier run (a resumed checkpoint).
        self.valid_output_ = best_output if state["best_state"] is not None else None
        self.history_ = state["history"]
        self.classes_ = np.arange(2 if self.kind == "binary" else width)
        return self

    def _save_checkpoint(self, net, optimiser, g, rng, state) -> None:
        path = Path(self.checkpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"net": net.state_dict(), "optimiser": optimiser.state_dict(),
                    "generator": g.get_state(), "torch_rng": torch.get_rng_state(),
                    "rng": rng.bit_generator.state,
                    "state": state}, tmp)
        os.replace(tmp, path)

    def _width(self, y: np.ndarray, n_classes: int | None) -> int:
        if self.kind == "single":
            return n_classes or int(y.max()) + 1
        if self.kind == "multi":
            return y.shape[1]
        return 1

    def _target(self, y: np.ndarray, width: int) -> torch.Tensor:
        if self.kind == "single":
            return F.one_hot(torch.as_tensor(y), width).float()
        return torch.as_tensor(y, dtype=torch.float32).reshape(len(y), width)

    def _loss(self, y: np.ndarray, width: int, device: torch.device):
        if self.kind == "regression":
            return nn.MSELoss()
        if self.kind == "single":
            weight = None
            if self.class_weight == "balanced":
                counts = np.bincount(y, minlength=width).astype(np.float64)
                weight = torch.tensor(np.where(counts > 0, len(y) / (width * np.maximum(
                    counts, 1)), 0.0), dtype=torch.float32, device=device)

            def soft_cross_entropy(logits, target):
                # targets may be mixed (mixup), so cross-entropy is taken against soft labels
                per_class = -target * F.log_softmax(logits, dim=1)
                if weight is not None:
                    per_class = per_class * weight
                return per_class.sum(dim=1).mean()

            return soft_cross_entropy
        pos_weight = None
        if self.class_weight == "balanced":
            Y = y.reshape(len(y), width)
            positives = Y.sum(axis=0)
            pos_weight = torch.tensor((len(Y) - positives) / np.maximum(positives, 1),
                                      dtype=torch.float32, device=device)
        return nn.BCEWithLogitsLoss(pos_weight=pos_weight)

    # -- prediction -----------------------------------------------------------------------------
    def _chunk_outputs(self, chunks: np.ndarray | torch.Tensor) -> np.ndarray:
        """Outputs ``(n, k)`` of audio chunks ``(n, chunk_samples)``."""
        device = next(self.net_.parameters()).device
        chunks = torch.as_tensor(np.asarray(chunks, dtype=np.float32))
        outs = []
        self.net_.eval()
        with torch.inference_mode():
            for first in range(0, len(chunks), 32):
                logits = self.net_(self._features(chunks[first:first + 32], device)).float()
                outs.append(self._activate(logits).cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, self.n_outputs_))

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        if self.kind == "single":
            return torch.softmax(logits, dim=1)
        if self.kind == "binary":
            p = torch.sigmoid(logits)
            return torch.cat([1 - p, p], dim=1)
        return logits if self.kind == "regression" else torch.sigmoid(logits)

    def _song_outputs(self, paths: list[str]) -> np.ndarray:
        rate = self.mel_params.sample_rate
        rows = []
        for path in paths:
            chunks = song_chunks(decode_audio(path, rate), self.chunk_samples)
            rows.append(self._chunk_outputs(chunks).mean(axis=0))
        return np.stack(rows)

    def _output(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype == object or X.dtype.kind in "US":
            return self._song_outputs([str(p) for p in X])
        return self._chunk_outputs(X)

    def predict_proba(self, X) -> np.ndarray:
        """Song probabilities for paths ``(n,)`` (mean over chunks), or chunk probabilities
        for audio ``(n, chunk_samples)`` at the front end's rate."""
        if self.kind == "regression":
            raise ValueError("a regression model predicts values: use predict()")
        return self._output(X)

    def predict(self, X) -> np.ndarray:
        return hard_predictions(self._output(X), self.kind)

    # -- persistence ------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}

    def fitted_info(self) -> dict:
        return {"n_outputs": int(self.n_outputs_), "history": getattr(self, "history_", [])}

    def load_state(self, state: dict[str, np.ndarray], fitted: dict) -> AudioNetEstimator:
        self.n_outputs_ = int(fitted["n_outputs"])
        net = self._build(self.n_outputs_)
        try:
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        except RuntimeError as exc:
            raise ModelError(f"weights do not fit the network: {exc}") from exc
        self.net_ = net.to(pick_device(self.device)).eval()
        self.history_ = fitted.get("history", [])
        self.classes_ = np.arange(2 if self.kind == "binary" else self.n_outputs_)
        return self


class ShortChunkClassifier(AudioNetEstimator):
    """The short-chunk residual CNN trained from scratch (see the module docstring).

    ``width`` is the first blocks' channel count (128 in the paper); other parameters as
    :class:`AudioNetEstimator`.
    """

    def __init__(self, kind: str = "single", width: int = 128, epochs: int = 30,
                 chunks_per_song: int = 2, batch_size: int = 16, lr: float = 1e-3,
                 weight_decay: float = 1e-4, patience: int = 5, augment: bool = True,
                 pitch: float = 0.0, stretch: float = 0.0, mixup_alpha: float = 0.0,
                 class_weight: str | None = "balanced", device: str | None = None,
                 checkpoint: str | None = None, resume: bool = False, seed: int = 0):
        super().__init__(kind, epochs, chunks_per_song, batch_size, lr, weight_decay, patience,
                         augment, pitch, stretch, mixup_alpha, class_weight, device, checkpoint,
                         resume, seed)
        self.width = width

    def _build(self, n_outputs: int) -> nn.Module:
        return ShortChunkResNet(n_outputs, self.width)
