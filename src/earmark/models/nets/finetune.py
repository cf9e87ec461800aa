"""musicnn fine-tuned on your labels: the pretrained tagger with a new output layer.

:class:`MusicnnFineTuned` starts from a published musicnn model
(:func:`earmark.models.musicnn.load_musicnn`), replaces its 50-tag output by one for your labels
and trains with a low learning rate: only the penultimate dense layer and the new output
(``train_layers="last"``, the default: fast, safe with little data) or every layer
(``"all"``); the new output layer learns ten times faster than the pretrained layers.
Batch-norm statistics stay the pretrained ones. Input is musicnn's own front end
(:data:`earmark.models.musicnn.MUSICNN_PARAMS`), in 3 s patches, without per-example
standardisation, since the pretrained weights expect its raw log-compressed values.
Training, augmentation, early stopping and checkpoints are those of
:class:`earmark.models.nets.shortchunk.AudioNetEstimator`.
"""

from __future__ import annotations

import torch
from torch import nn

from earmark.features import log_mel
from earmark.models.musicnn import MUSICNN_PARAMS, PATCH_FRAMES, MusicnnTagger, load_musicnn
from earmark.models.nets.shortchunk import AudioNetEstimator


class FineTunedNet(nn.Module):
    """A pretrained tagger's layers up to its embedding, then a new linear output."""

    def __init__(self, base: MusicnnTagger, n_outputs: int):
        super().__init__()
        self.base = base
        self.out = nn.Linear(base.embedding_dim, n_outputs)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        _, embedding = self.base.logits_and_embedding(mel)
        return self.out(embedding)


class MusicnnFineTuned(AudioNetEstimator):
    """Fine-tune ``base`` (``"MSD_musicnn"`` or ``"MTT_musicnn"``) on new labels.

    ``train_layers`` is ``"last"`` (dense embedding layer + new output) or ``"all"``; other
    parameters as :class:`~earmark.models.nets.shortchunk.AudioNetEstimator`, with a lower default
    learning rate.
    """

    mel_params = MUSICNN_PARAMS
    #: 188 frames: the 187-frame patch musicnn was trained on, rounded to whole hops.
    chunk_samples = PATCH_FRAMES * MUSICNN_PARAMS.hop_length

    def __init__(self, kind: str = "single", base: str = "MSD_musicnn",
                 train_layers: str = "last", epochs: int = 20, chunks_per_song: int = 2,
                 batch_size: int = 16, lr: float = 1e-4, weight_decay: float = 1e-4,
                 patience: int = 5, augment: bool = True, pitch: float = 0.0,
                 stretch: float = 0.0, mixup_alpha: float = 0.0,
                 class_weight: str | None = "balanced", device: str | None = None,
                 checkpoint: str | None = None, resume: bool = False, seed: int = 0):
        super().__init__(kind, epochs, chunks_per_song, batch_size, lr, weight_decay, patience,
                         augment, pitch, stretch, mixup_alpha, class_weight, device, checkpoint,
                         resume, seed)
        self.base = base
        self.train_layers = train_layers

    def _build(self, n_outputs: int) -> nn.Module:
        if self.train_layers not in ("last", "all"):
            raise ValueError(f"train_layers must be 'last' or 'all', not {self.train_layers!r}")
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

    def _features(self, audio: torch.Tensor, device: torch.device) -> torch.Tensor:
        return log_mel(audio.to(device), self.mel_params, device=device)
