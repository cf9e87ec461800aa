"""Networks trained on audio: the short-chunk residual CNN, and the training loop they share.

:class:`ShortChunkResNet` is the short-chunk CNN with residual blocks of Won et al. (2020,
"Evaluation of CNN-based automatic music tagging models"): 3.69 s chunks (59,049 samples at
16 kHz) through :data:`~earmark.features.SHORTCHUNK_MEL`, seven residual 3x3 conv blocks with
2x2 max pooling, global max pooling, then two dense layers.

:class:`AudioNetEstimator` turns any such network into a scikit-learn style estimator over
*file paths* (:class:`AudioNetClassifier` or :class:`AudioNetRegressor`, with the network from
a part such as :class:`ShortChunkNet`): ``fit(paths, y)`` trains on random chunks of each song
with on-the-fly augmentation (:mod:`earmark.features.augment`), class weights, early stopping on
a validation split, per-epoch checkpoints and resume; ``predict_proba(paths)`` averages the
probabilities of every chunk of a song, and ``predict_proba(chunks)`` with a float
``(n, n_samples)`` array scores chunks directly. It runs on CUDA, Apple MPS or the CPU
(:func:`earmark.engine.device.pick_device`).

A network's front end (mel parameters and chunk length) is part of the fitted model: ``fit``
takes the network's preset (:attr:`ShortChunkNet.mel_params`, :attr:`~ShortChunkNet
.chunk_samples`), :meth:`AudioNetEstimator.front_end_inputs` writes it into the model card, and
:meth:`~AudioNetEstimator.load_state` restores it from there, so a saved model keeps the input
it was trained on whatever the preset becomes.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)
from torch import nn

from earmark.audio import decode_audio, probe_audio, song_chunks
from earmark.engine.device import pick_device
from earmark.errors import ModelError
from earmark.features import SHORTCHUNK_MEL, MelFrontEnd, MelParams, augment
from earmark.models.contract import (
    NONE,
    check_params,
    encode_classes,
    flag,
    options,
    real,
    store_params,
    text,
    whole,
)
from earmark.models.outputs import hard_predictions
from earmark.models.selection import selection_score

#: Samples per chunk of the short-chunk CNN (3^10, 3.69 s at 16 kHz).
CHUNK_SAMPLES = 59049
#: Channels of the residual blocks of :class:`ShortChunkResNet`, in multiples of its width.
_WIDTHS = (1, 1, 2, 2, 2, 2, 4)
#: Each block ends in a 2x2 max pooling, so the input needs 2^7 mel bands and frames.
POOLINGS = len(_WIDTHS)


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
        channels = [m * width for m in _WIDTHS]
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


class AudioNetEstimator(BaseEstimator):
    """Training loop and song-level prediction shared by the networks that read audio.

    A concrete model combines a network part (:meth:`_build`, the preset front end
    :attr:`mel_params` and :attr:`chunk_samples`, :meth:`_check_front_end`), e.g.
    :class:`ShortChunkNet`, with a task part, :class:`AudioNetClassifier` or
    :class:`AudioNetRegressor`. Hyper-parameters (shared; each concrete model's ``__init__``
    takes them, with its own defaults, and stores them with
    :func:`~earmark.models.contract.store_params`):

    Parameters
    ----------
    epochs : maximum passes over the training songs.
    chunks_per_song : random chunks drawn from each song per epoch.
    batch_size, lr, weight_decay : Adam optimisation (batches of at least 2: batch norm).
    patience : stop after this many epochs without a better validation score.
    augment : random gain, time shift, SpecAugment masks, plus ``pitch``/``stretch`` when
        non-zero (semitones / tempo spread) and ``mixup`` when ``mixup_alpha > 0``.
    device : ``"cpu"``, ``"cuda"``, ``"mps"``; ``None`` picks the best available.
    checkpoint : a file written after every epoch; with ``resume`` training continues there.
    seed : seeds initialisation, chunk choice and augmentation.

    Attributes
    ----------
    mel_params_, chunk_samples_ : the front end the network reads: ``MelParams`` and samples
        per chunk at ``mel_params_.sample_rate``.
    net_ : the trained ``torch.nn.Module``; ``n_outputs_`` its output width.
    history_ : per-epoch ``{"epoch", "loss", "valid"}``.
    valid_output_ : outputs for ``X_valid`` of the kept weights (``None`` after a resume).
    """

    kind: str
    #: The front end new models are trained on (each network sets its own).
    mel_params: ClassVar[MelParams]
    chunk_samples: ClassVar[int]
    #: Keys of a model card's ``inputs`` besides ``mel`` and ``chunk_seconds`` that this
    #: network's cards may hold (informational: they do not change its input).
    card_inputs: ClassVar[tuple[str, ...]] = ()

    parameter_rules = {
        "epochs": whole(1), "chunks_per_song": whole(1), "batch_size": whole(2),
        "lr": real(above=0), "weight_decay": real(0), "patience": whole(1),
        "augment": flag(), "pitch": real(0), "stretch": real(0, below=1),
        "mixup_alpha": real(0), "device": text() | NONE, "checkpoint": text() | NONE,
        "resume": flag(), "seed": whole(0),
    }

    # -- what the network part provides -------------------------------------------------------
    def _build(self, n_outputs: int) -> nn.Module:
        raise NotImplementedError

    def _trainable(self, net: nn.Module) -> list[nn.Parameter] | list[dict]:
        """What the optimiser updates: parameters, or Adam parameter groups."""
        return list(net.parameters())

    def _check_front_end(self, net: nn.Module, mel: MelParams, chunk_samples: int) -> None:
        """Raise :class:`~earmark.errors.ModelError` if ``net`` cannot read this front end."""

    def _features(self, audio: torch.Tensor, device: torch.device) -> torch.Tensor:
        return standardise(MelFrontEnd(self.mel_params_)(audio.to(device)))

    # -- what the task part provides ----------------------------------------------------------
    def _encode(self, y: np.ndarray, n_classes: int | None) -> tuple[np.ndarray, int]:
        """Checked targets and the output width."""
        raise NotImplementedError

    def _target(self, y: np.ndarray, width: int) -> torch.Tensor:
        return torch.as_tensor(y, dtype=torch.float32).reshape(len(y), width)

    def _loss(self, y: np.ndarray, width: int, device: torch.device):
        raise NotImplementedError

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        return logits

    # -- the front end ----------------------------------------------------------------------------
    @classmethod
    def front_end_inputs(cls) -> dict:
        """The model card ``inputs`` of a network trained now: its preset front end,
        ``{"mel": MelParams.to_dict(), "chunk_seconds": seconds}``."""
        return {"mel": cls.mel_params.to_dict(),
                "chunk_seconds": cls.chunk_samples / cls.mel_params.sample_rate}

    def _card_front_end(self, inputs: dict) -> tuple[MelParams, int]:
        """``(mel_params, chunk_samples)`` from a model card's ``inputs``; raises
        :class:`~earmark.errors.ModelError` for unknown keys, a missing or unusable front end,
        or impossible values."""
        name = type(self).__name__
        unknown = set(inputs) - {"mel", "chunk_seconds", *self.card_inputs}
        if unknown:
            raise ModelError(f"the model card's inputs {sorted(unknown)} are unknown to {name}; "
                             "this earmark cannot honour them")
        if "mel" not in inputs or "chunk_seconds" not in inputs:
            raise ModelError(f"the model card does not say which front end the {name} was "
                             "trained on (inputs 'mel' and 'chunk_seconds')")
        try:
            mel = MelParams.from_dict(inputs["mel"])
        except (TypeError, ValueError) as exc:
            raise ModelError(f"the model card's mel front end cannot be used: {exc}") from exc
        seconds = inputs["chunk_seconds"]
        nyquist = mel.sample_rate / 2 if isinstance(mel.sample_rate, int) else 0
        problems = [
            "sample_rate must be a whole number of Hz > 0" if not whole(1).accepts(
                mel.sample_rate) else "",
            "chunk_seconds must be a number > 0" if not real(above=0).accepts(seconds) else "",
            f"fmax must be above fmin and at most half the sample rate ({nyquist:g} Hz)"
            if nyquist and not mel.fmin < (mel.fmax or nyquist) <= nyquist else "",
            "win_length must be at most n_fft" if (mel.win_length or 0) > mel.n_fft else "",
        ]
        problems = [p for p in problems if p]
        if problems:
            raise ModelError(f"the model card's front end is impossible: {'; '.join(problems)}")
        return mel, round(seconds * mel.sample_rate)

    # -- data ---------------------------------------------------------------------------------
    def _random_chunks(self, paths: list[str], durations: list[float],
                       rng: np.random.Generator) -> torch.Tensor:
        """One random chunk ``(n_samples,)`` of each song, decoded on the fly."""
        rate = self.mel_params_.sample_rate
        seconds = self.chunk_samples_ / rate
        out = []
        for path, duration in zip(paths, durations, strict=True):
            start = float(rng.uniform(0.0, max(0.0, duration - seconds)))
            audio = decode_audio(path, rate, offset=start, duration=seconds)
            out.append(np.pad(audio, (0, max(0, self.chunk_samples_ - len(audio))))
                       [: self.chunk_samples_])
        return torch.from_numpy(np.stack(out))

    def _augment_audio(self, audio: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        audio = augment.random_gain(audio, -6.0, 6.0, g)
        audio = augment.time_shift(audio, self.chunk_samples_ // 8, g)
        if self.pitch:
            audio = augment.pitch_shift(audio, self.pitch, g)
        if self.stretch:
            audio = augment.time_stretch(audio, 1 - self.stretch, 1 + self.stretch, g)
        return audio

    # -- fitting -------------------------------------------------------------------------------
    def _fit(self, X, y, n_classes: int | None, X_valid, y_valid, progress
             ) -> AudioNetEstimator:
        """The training loop behind the task parts' ``fit``."""
        check_params(self)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        y, width = self._encode(np.asarray(y), n_classes)
        paths = self._songs(X, y)
        self.mel_params_, self.chunk_samples_ = self.mel_params, self.chunk_samples
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
        return self

    def _songs(self, X, y: np.ndarray) -> list[str]:
        """The song paths of ``X``, checked against the targets ``y``: a network decodes its
        own training audio, so ``X`` holds file paths ``(n,)``; raises ``ValueError``
        otherwise."""
        if issparse(X):
            raise TypeError(f"{type(self).__name__} trains on song files: sparse input is not "
                            "supported")
        paths = np.asarray(X, dtype=object)
        if paths.ndim != 1 or not len(paths) or not all(
                isinstance(p, str | os.PathLike) for p in paths):
            raise ValueError(f"{type(self).__name__} trains on song files: X must be a non-empty "
                             f"sequence of paths (n,), not {type(X).__name__} of shape "
                             f"{np.shape(X)}")
        check_consistent_length(paths, y)
        return [str(p) for p in paths]

    def _save_checkpoint(self, net, optimiser, g, rng, state) -> None:
        path = Path(self.checkpoint)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({"net": net.state_dict(), "optimiser": optimiser.state_dict(),
                    "generator": g.get_state(), "torch_rng": torch.get_rng_state(),
                    "rng": rng.bit_generator.state,
                    "state": state}, tmp)
        os.replace(tmp, path)

    # -- prediction -----------------------------------------------------------------------------
    def _chunk_outputs(self, chunks: np.ndarray | torch.Tensor) -> np.ndarray:
        """Outputs ``(n, k)`` of audio chunks ``(n, chunk_samples_)``."""
        device = next(self.net_.parameters()).device
        chunks = torch.as_tensor(np.asarray(chunks, dtype=np.float32))
        outs = []
        self.net_.eval()
        with torch.inference_mode():
            for first in range(0, len(chunks), 32):
                logits = self.net_(self._features(chunks[first:first + 32], device)).float()
                outs.append(self._activate(logits).cpu().numpy())
        return np.concatenate(outs) if outs else np.zeros((0, self.n_outputs_))

    def _song_outputs(self, paths: list[str]) -> np.ndarray:
        rate = self.mel_params_.sample_rate
        rows = []
        for path in paths:
            chunks = song_chunks(decode_audio(path, rate), self.chunk_samples_)
            rows.append(self._chunk_outputs(chunks).mean(axis=0))
        return np.stack(rows)

    def _output(self, X) -> np.ndarray:
        """Outputs ``(n, k)`` of songs (paths ``(n,)``) or chunks (audio ``(n, samples)``)."""
        check_is_fitted(self, "net_")
        X = np.asarray(X)
        if X.dtype == object or X.dtype.kind in "US":
            return self._song_outputs([str(p) for p in X])
        if X.ndim != 2:
            raise ValueError(f"expected song paths (n,) or audio chunks (n, samples), not an "
                             f"array of shape {X.shape}")
        return self._chunk_outputs(check_array(X, dtype=np.float32))

    # -- persistence ------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """The network's weights (for safetensors)."""
        return {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}

    def fitted_info(self) -> dict:
        """The output width and training history (for the model card)."""
        return {"n_outputs": int(self.n_outputs_), "history": getattr(self, "history_", [])}

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict
                   ) -> AudioNetEstimator:
        """Restore a trained network from :meth:`state`, :meth:`fitted_info` and the model
        card's ``inputs``, whose front end it reads from now on (not the preset). Raises
        :class:`~earmark.errors.ModelError` when the card's front end cannot be honoured or
        the weights do not fit the network."""
        mel, chunk_samples = self._card_front_end(inputs)
        self.n_outputs_ = int(fitted["n_outputs"])
        net = self._build(self.n_outputs_)
        try:
            net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        except RuntimeError as exc:
            raise ModelError(f"weights do not fit the network: {exc}") from exc
        self._check_front_end(net, mel, chunk_samples)
        self.mel_params_, self.chunk_samples_ = mel, chunk_samples
        self.net_ = net.to(pick_device(self.device)).eval()
        self.history_ = fitted.get("history", [])
        return self


class AudioNetClassifier(ClassifierMixin, AudioNetEstimator):
    """The classification part of a network estimator: targets, loss and probabilities.

    Parameters (besides :class:`AudioNetEstimator`'s)
    ----------
    kind : ``"single"``, ``"multi"`` or ``"binary"``.
    class_weight : ``"balanced"`` weighs classes by inverse frequency in the loss.
    """

    parameter_rules = {"kind": options("single", "multi", "binary",
                                       hint="values: the network's regressor"),
                       "class_weight": options("balanced", None)}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = tags.target_tags.multi_output = self.kind == "multi"
        return tags

    def fit(self, X, y, groups=None, n_classes: int | None = None, X_valid=None,
            y_valid=None, progress=None) -> AudioNetClassifier:
        """Train on songs ``X`` (paths ``(n,)``) with labels ``y`` ``(n,)`` (multi: 0/1
        ``(n, k)``; with ``n_classes``, class indices); ``X_valid``/``y_valid`` (indices)
        drive early stopping (without them the last epoch is kept); ``progress(done, total,
        label)`` is called after every batch. ``valid_output_`` then holds the kept weights'
        outputs for ``X_valid`` (as :meth:`predict_proba` gives them), so callers need not
        decode the validation songs again. ``groups`` is accepted for a common signature.
        Raises ``ValueError`` for bad parameters or targets."""
        return self._fit(X, y, n_classes, X_valid, y_valid, progress)

    def _encode(self, y: np.ndarray, n_classes: int | None) -> tuple[np.ndarray, int]:
        if self.kind == "multi":
            if y.ndim != 2 or not np.isin(y, (0, 1)).all():
                raise ValueError(f"a multi-label {type(self).__name__} needs 0/1 targets of "
                                 "shape (n, n_tags)")
            self.classes_ = np.arange(y.shape[1])
            return y, y.shape[1]
        y = encode_classes(self, y, n_classes, binary=self.kind == "binary")
        return y, 1 if self.kind == "binary" else len(self.classes_)

    def _target(self, y: np.ndarray, width: int) -> torch.Tensor:
        if self.kind == "single":
            return F.one_hot(torch.as_tensor(y), width).float()
        return super()._target(y, width)

    def _loss(self, y: np.ndarray, width: int, device: torch.device):
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

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        if self.kind == "single":
            return torch.softmax(logits, dim=1)
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1) if self.kind == "binary" else p

    def predict_proba(self, X) -> np.ndarray:
        """Song probabilities for paths ``(n,)`` (mean over chunks), or chunk probabilities
        for audio ``(n, chunk_samples_)`` at the front end's rate."""
        return self._output(X)

    def predict(self, X) -> np.ndarray:
        """Labels ``(n,)`` (from :attr:`classes_`), or 0/1 tags ``(n, k)`` at 0.5 (multi)."""
        decisions = hard_predictions(self._output(X), self.kind)
        return decisions if self.kind == "multi" else self.classes_[decisions]

    def load_state(self, state: dict[str, np.ndarray], fitted: dict, inputs: dict
                   ) -> AudioNetClassifier:
        super().load_state(state, fitted, inputs)
        self.classes_ = np.arange(2 if self.kind == "binary" else self.n_outputs_)
        return self


class AudioNetRegressor(RegressorMixin, AudioNetEstimator):
    """The regression part of a network estimator: one output, mean squared error."""

    kind = "regression"

    def fit(self, X, y, groups=None, X_valid=None, y_valid=None, progress=None
            ) -> AudioNetRegressor:
        """Train on songs ``X`` (paths ``(n,)``) with values ``y`` ``(n,)``; the other
        arguments as :meth:`AudioNetClassifier.fit`."""
        return self._fit(X, y, None, X_valid, y_valid, progress)

    def _encode(self, y: np.ndarray, n_classes: int | None) -> tuple[np.ndarray, int]:
        return column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64), warn=True), 1

    def _loss(self, y: np.ndarray, width: int, device: torch.device):
        return nn.MSELoss()

    def predict(self, X) -> np.ndarray:
        """Values ``(n,)`` of songs (paths ``(n,)``, mean over chunks) or of audio chunks
        ``(n, chunk_samples_)``."""
        return self._output(X)[:, 0]


class ShortChunkNet:
    """The network part of the short-chunk models: :class:`ShortChunkResNet` of ``width``
    on :data:`~earmark.features.SHORTCHUNK_MEL` chunks of :data:`CHUNK_SAMPLES`."""

    mel_params: ClassVar[MelParams] = SHORTCHUNK_MEL
    chunk_samples: ClassVar[int] = CHUNK_SAMPLES
    parameter_rules = {"width": whole(1)}
    width: int

    def _build(self, n_outputs: int) -> nn.Module:
        return ShortChunkResNet(n_outputs, self.width)

    def _check_front_end(self, net: nn.Module, mel: MelParams, chunk_samples: int) -> None:
        frames = mel.frames_for(chunk_samples / mel.sample_rate)
        least = 2 ** POOLINGS
        if mel.n_mels < least or frames < least:
            raise ModelError(f"the model card's front end gives {mel.n_mels} mel bands x "
                             f"{frames} frames; the short-chunk network pools {POOLINGS} times "
                             f"by 2, so it needs at least {least} of each")


class ShortChunkClassifier(ShortChunkNet, AudioNetClassifier):
    """The short-chunk residual CNN trained from scratch to classify (see the module
    docstring). ``width`` is the first blocks' channel count (128 in the paper); other
    parameters as :class:`AudioNetClassifier` and :class:`AudioNetEstimator`."""

    def __init__(self, kind: str = "single", width: int = 128, epochs: int = 30,
                 chunks_per_song: int = 2, batch_size: int = 16, lr: float = 1e-3,
                 weight_decay: float = 1e-4, patience: int = 5, augment: bool = True,
                 pitch: float = 0.0, stretch: float = 0.0, mixup_alpha: float = 0.0,
                 class_weight: str | None = "balanced", device: str | None = None,
                 checkpoint: str | None = None, resume: bool = False, seed: int = 0):
        store_params(self, locals())


class ShortChunkRegressor(ShortChunkNet, AudioNetRegressor):
    """The short-chunk residual CNN trained from scratch to predict a value; parameters as
    :class:`ShortChunkClassifier` without ``kind`` and ``class_weight``."""

    def __init__(self, width: int = 128, epochs: int = 30, chunks_per_song: int = 2,
                 batch_size: int = 16, lr: float = 1e-3, weight_decay: float = 1e-4,
                 patience: int = 5, augment: bool = True, pitch: float = 0.0,
                 stretch: float = 0.0, mixup_alpha: float = 0.0, device: str | None = None,
                 checkpoint: str | None = None, resume: bool = False, seed: int = 0):
        store_params(self, locals())
