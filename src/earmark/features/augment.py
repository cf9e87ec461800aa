"""Data augmentation for trainable networks: on the fly, reproducible from a seed.

Every function is pure: it takes a batch and a :class:`torch.Generator` and returns a new
tensor, drawing each example's random parameters from that generator only, so a training run
seeded once replays exactly. Waveform functions take ``(batch, n_samples)`` float audio;
spectrogram functions take ``(batch, n_mels, n_frames)``.

Waveform: :func:`random_crop`, :func:`time_shift`, :func:`random_gain`, :func:`pitch_shift`,
:func:`time_stretch` (phase vocoder, so pitch and tempo change independently).
Batch: :func:`mixup`. Spectrogram: :func:`spec_augment` (Park et al. 2019 frequency and time
masks).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_crop(audio: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """A random window of ``length`` samples from each example: ``(b, n) -> (b, length)``.

    Examples shorter than ``length`` are zero-padded at the end.
    """
    if audio.shape[-1] < length:
        audio = F.pad(audio, (0, length - audio.shape[-1]))
    room = audio.shape[-1] - length
    starts = torch.randint(0, room + 1, (audio.shape[0],), generator=generator)
    return torch.stack([row[s:s + length] for row, s in zip(audio, starts.tolist(), strict=True)])


def time_shift(audio: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Rotate each example by a random number of samples in ``[-max_shift, max_shift]``."""
    shifts = torch.randint(-max_shift, max_shift + 1, (audio.shape[0],), generator=generator)
    return torch.stack([torch.roll(row, s) for row, s in zip(audio, shifts.tolist(), strict=True)])


def random_gain(audio: torch.Tensor, min_db: float, max_db: float,
                generator: torch.Generator) -> torch.Tensor:
    """Scale each example by a random gain in ``[min_db, max_db]`` decibels."""
    db = _uniform(audio.shape[0], min_db, max_db, generator).to(audio.device, audio.dtype)
    return audio * (10.0 ** (db / 20.0))[:, None]


def _stretch_one(audio: torch.Tensor, rate: float, n_fft: int = 1024) -> torch.Tensor:
    """Phase-vocoder time stretch of ``(n,)`` audio: ``rate > 1`` is faster (shorter)."""
    hop = n_fft // 4
    window = torch.hann_window(n_fft, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(audio, n_fft, hop, window=window, return_complex=True)
    steps = torch.arange(0, spec.shape[-1], rate, device=audio.device, dtype=audio.dtype)
    expected = torch.linspace(0, math.pi * hop, spec.shape[0], device=audio.device,
                              dtype=audio.dtype)[:, None]
    spec = F.pad(spec, (0, 2))
    lo = steps.floor().long()
    frac = (steps - lo)[None, :]
    a, b = spec[:, lo], spec[:, lo + 1]
    magnitude = (1 - frac) * a.abs() + frac * b.abs()
    delta = b.angle() - a.angle() - expected
    delta = delta - 2 * math.pi * torch.round(delta / (2 * math.pi))
    phase = torch.cumsum(torch.cat([spec[:, :1].angle(), (delta + expected)[:, :-1]], dim=1),
                         dim=1)
    stretched = torch.polar(magnitude, phase)
    length = int(round(audio.shape[-1] / rate))
    return torch.istft(stretched, n_fft, hop, window=window, length=length)


def _fit_length(audio: torch.Tensor, length: int) -> torch.Tensor:
    return audio[:length] if audio.shape[-1] >= length else F.pad(audio, (0, length -
                                                                          audio.shape[-1]))


def time_stretch(audio: torch.Tensor, min_rate: float, max_rate: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Change each example's tempo by a random factor in ``[min_rate, max_rate]`` keeping its
    pitch; the result is cut or zero-padded back to the input length."""
    rates = _uniform(audio.shape[0], min_rate, max_rate, generator).tolist()
    return torch.stack([_fit_length(_stretch_one(row, r), audio.shape[-1])
                        for row, r in zip(audio, rates, strict=True)])


def pitch_shift(audio: torch.Tensor, max_semitones: float,
                generator: torch.Generator) -> torch.Tensor:
    """Shift each example's pitch by a random amount in ``[-max_semitones, max_semitones]``
    keeping its tempo: a phase-vocoder stretch by the pitch ratio, then resampling back."""
    steps = _uniform(audio.shape[0], -max_semitones, max_semitones, generator).tolist()
    out = []
    for row, semitones in zip(audio, steps, strict=True):
        ratio = 2.0 ** (semitones / 12.0)
        slower = _stretch_one(row, 1.0 / ratio)  # ratio times longer, same pitch
        resampled = F.interpolate(slower[None, None], size=row.shape[-1], mode="linear",
                                  align_corners=False)[0, 0]
        out.append(resampled)
    return torch.stack(out)


def mixup(x: torch.Tensor, y: torch.Tensor, alpha: float,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each example with another of the batch (Zhang et al. 2018).

    ``lam ~ Beta(alpha, alpha)`` per example; returns ``lam x + (1 - lam) x[perm]`` and the
    same mix of the targets ``y`` (one-hot / multi-hot or values, float).
    """
    n = x.shape[0]
    perm = torch.randperm(n, generator=generator)
    # torch's Beta sampler takes no generator: draw its seed from ours to stay reproducible.
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    lam = torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, n)).to(x.dtype)
    lam_x = lam.to(x.device).view(n, *([1] * (x.ndim - 1)))
    lam_y = lam.to(y.device, y.dtype).view(n, *([1] * (y.ndim - 1)))
    return lam_x * x + (1 - lam_x) * x[perm], lam_y * y + (1 - lam_y) * y[perm]


def spec_augment(spec: torch.Tensor, generator: torch.Generator, *, freq_masks: int = 2,
                 max_freq: int = 16, time_masks: int = 2, max_time: int = 24) -> torch.Tensor:
    """Mask random bands and frame spans of each ``(n_mels, n_frames)`` spectrogram with the
    example's mean value."""
    out = spec.clone()
    b, n_mels, n_frames = spec.shape
    fill = spec.mean(dim=(1, 2))
    for axis, count, widest, size in ((1, freq_masks, max_freq, n_mels),
                                      (2, time_masks, max_time, n_frames)):
        for _ in range(count):
            widths = torch.randint(0, min(widest, size) + 1, (b,), generator=generator)
            starts = (torch.rand(b, generator=generator) * (size - widths + 1)).long()
            for i, (start, width) in enumerate(zip(starts.tolist(), widths.tolist(),
                                                   strict=True)):
                if axis == 1:
                    out[i, start:start + width, :] = fill[i]
                else:
                    out[i, :, start:start + width] = fill[i]
    return out
