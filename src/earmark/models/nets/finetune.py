"""musicnn fine-tuned on your labels: the pretrained tagger with a new output layer.

:class:`MusicnnFineTuned` (classification) and :class:`MusicnnFineTunedRegressor` start from a
published musicnn model (:func:`earmark.models.musicnn.load_musicnn`), replace its 50-tag output
by one for your labels and train with a low learning rate: only the penultimate dense layer and
the new output (``train_layers="last"``, the default: fast, safe with little data) or every
layer (``"all"``); the new output layer learns ten times faster than the pretrained layers.
Batch-norm statistics stay the pretrained ones. Input is musicnn's own front end
(:data:`earmark.models.musicnn.MUSICNN_PARAMS`), in 3 s patches, without per-example
standardisation, since the pretrained weights expect its raw log-compressed values.
Training, augmentation, early stopping and checkpoints are those of
:class:`earmark.models.nets.shortchunk.AudioNetEstimator`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from earmark.errors import ModelError
from earmark.features import MelParams, log_mel
from earmark.models.contract import options, store_params
from earmark.models.musicnn import MUSICNN_PARAMS, PATCH_FRAMES, MusicnnTagger, load_musicnn
from earmark.models.nets.shortchunk import AudioNetClassifier, AudioNetRegressor
from earmark.models.registry import PRETRAINED


class FineTunedNet(nn.Module):
    """A pretrained tagger's layers up to its embedding, then a new linear output."""

    def __init__(self, base: MusicnnTagger, n_outputs: int):
        super().__init__()
        self.base = base
        self.out = nn.Linear(base.embedding_dim, n_outputs)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        _, embedding = self.base.logits_and_embedding(mel)
        return self.out(embedding)


class MusicnnFineTuning:
    """The network part of the fine-tuned models: ``base`` (``"MSD_musicnn"`` or
    ``"MTT_musicnn"``) with a new output, trained on ``train_layers`` (``"last"``: the dense
    embedding layer and the new output; ``"all"``)."""

    mel_params: ClassVar[MelParams] = MUSICNN_PARAMS
    #: 188 frames: the 187-frame patch musicnn was trained on, rounded to whole hops.
    chunk_samples: ClassVar[int] = PATCH_FRAMES * MUSICNN_PARAMS.hop_length
    #: Cards of fine-tuned models also name the pretrained model they started from.
    card_inputs: ClassVar[tuple[str, ...]] = ("base_model",)
    # The VGG baselines have no dense embedding layer to fine-tune.
    parameter_rules = {"base": options(*(m.name for m in PRETRAINED.values()
                                         if m.architecture == "musicnn")),
                       "train_layers": options("last", "all")}
    base: str
    train_layers: str
    lr: float

    def _build(self, n_outputs: int) -> nn.Module:
        return FineTunedNet(load_musicnn(self.base), n_outputs)

    def _trainable(self, net: FineTunedNet) -> list[dict]:
        # The new output layer starts from random weights and must move far; the pretrained
        # layers only need nudging. So the output learns ten times faster than ``lr``.
        if self.train_layers == "all":
            body = list(net.base.parameters())
        else:
            body = list(net.base.dense.parameters())
            for p in net.base.parameters():
                p.requires_grad_(False)
            for p in body:
                p.requires_grad_(True)
        return [{"params": body, "lr": self.lr},
                {"params": list(net.out.parameters()), "lr": 10 * self.lr}]

    def _check_front_end(self, net: FineTunedNet, mel: MelParams, chunk_samples: int) -> None:
        # The timbral filters span fixed fractions of the bands the base was trained on, so
        # another band count would run, but read every filter at the wrong frequencies.
        bands = net.base.mel_params.n_mels
        if mel.n_mels != bands:
            raise ModelError(f"the model card's front end has {mel.n_mels} mel bands; the "
                             f"weights of {self.base} take {bands}")

    def _features(self, audio: torch.Tensor, device: torch.device) -> torch.Tensor:
        return log_mel(audio.to(device), self.mel_params_, device=device)


class MusicnnFineTuned(MusicnnFineTuning, AudioNetClassifier):
    """Fine-tune ``base`` on new labels (classification). Parameters as
    :class:`MusicnnFineTuning`, :class:`~earmark.models.nets.shortchunk.AudioNetClassifier`
    and :class:`~earmark.models.nets.shortchunk.AudioNetEstimator`, with a lower default
    learning rate."""

    def __init__(self, kind: str = "single", base: str = "MSD_musicnn",
                 train_layers: str = "last", epochs: int = 20, chunks_per_song: int = 2,
                 batch_size: int = 16, lr: float = 1e-4, weight_decay: float = 1e-4,
                 patience: int = 5, augment: bool = True, pitch: float = 0.0,
                 stretch: float = 0.0, mixup_alpha: float = 0.0,
                 class_weight: str | None = "balanced", device: str | None = None,
                 checkpoint: str | None = None, resume: bool = False, seed: int = 0):
        store_params(self, locals())


class MusicnnFineTunedRegressor(MusicnnFineTuning, AudioNetRegressor):
    """Fine-tune ``base`` to predict a value; parameters as :class:`MusicnnFineTuned` without
    ``kind`` and ``class_weight``."""

    def __init__(self, base: str = "MSD_musicnn", train_layers: str = "last", epochs: int = 20,
                 chunks_per_song: int = 2, batch_size: int = 16, lr: float = 1e-4,
                 weight_decay: float = 1e-4, patience: int = 5, augment: bool = True,
                 pitch: float = 0.0, stretch: float = 0.0, mixup_alpha: float = 0.0,
                 device: str | None = None, checkpoint: str | None = None,
                 resume: bool = False, seed: int = 0):
        store_params(self, locals())
