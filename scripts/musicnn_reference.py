"""Record reference outputs of the ORIGINAL musicnn (TensorFlow) for earmark's parity tests.

Run once, in a side environment that has TensorFlow (never earmark's own)::

    python3 -m venv /work/sidenv
    /work/sidenv/bin/pip install tensorflow-cpu==2.15.1 'numpy<2' librosa
    /work/sidenv/bin/pip install --no-deps musicnn==0.1.0
    /work/sidenv/bin/python scripts/musicnn_reference.py --out tests/data/musicnn_ref

For every clip and model it writes ``<clip>__<model>.npz`` with

* ``taggram`` ``(n_patches, 50)`` float32: per-patch sigmoid outputs of ``musicnn.extractor``;
* ``tags`` ``(50,)``: their mean over patches (the whole-song probabilities);
* ``penultimate`` ``(1, 200)`` for the musicnn models: the embedding (dense layer after batch
  norm) of the *first* patch only, because ``extractor`` 0.1.0 repeats the first batch's
  penultimate features for every later patch (it concatenates a stale variable);

and ``<clip>__mel.npz`` with ``mel_fp16`` ``(n_patches_kept, 187, 96)`` float16: the first patches
of the mel spectrogram musicnn fed to its network *before* ``log10(1 + 10000 x)``. It is stored as
float16 because musicnn casts the mel to float16 itself, so the values are exact and half the size;
the network input is ``np.log10(10000 * mel_fp16.astype(np.float32) + 1)``, shape (time, mel).

The audio is not copied: clips are named by path in ``clips.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

GTZAN = Path("/work/shared/data/gtzan-mini-dev")
CLIPS = {
    "rock00000": GTZAN / "rock/rock.00000.flac",
    "jazz00000": GTZAN / "jazz/jazz.00000.flac",
    "hiphop00000": GTZAN / "hiphop/hiphop.00000.flac",
    "machine_wars": Path("/usr/share/games/asc/music/machine_wars.mp3"),
}
MEL_CLIPS = ("rock00000", "jazz00000")
MODELS = ("MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg")
PATCHES_KEPT = 4
N_FRAMES = 187


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/musicnn_ref"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import librosa
    from musicnn import configuration as config
    from musicnn import extractor

    args.out.mkdir(parents=True, exist_ok=True)
    for clip, path in CLIPS.items():
        if clip in MEL_CLIPS:
            # The same computation as musicnn.extractor.batch_data, stopped before the log.
            audio, sr = librosa.load(path, sr=config.SR)
            mel = librosa.feature.melspectrogram(
                y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE,
                n_mels=config.N_MELS,
            ).T.astype(np.float16)
            n = min(PATCHES_KEPT, mel.shape[0] // N_FRAMES)
            patches = mel[: n * N_FRAMES].reshape(n, N_FRAMES, config.N_MELS)
            batch, _ = extractor.batch_data(str(path), N_FRAMES, N_FRAMES)
            log_patches = np.log10(10000 * patches.astype(np.float32) + 1)
            assert np.array_equal(log_patches, batch[:n]), "mel reconstruction differs"
            np.savez_compressed(args.out / f"{clip}__mel.npz", mel_fp16=patches)
        for model in MODELS:
            is_vgg = "vgg" in model
            taggram, labels, features = extractor.extractor(
                str(path), model=model, input_length=3, extract_features=True
            )
            out = {"taggram": taggram.astype(np.float32), "tags": taggram.mean(axis=0)}
            if not is_vgg:
                out["penultimate"] = np.asarray(features["penultimate"][:1], np.float32)
            np.savez_compressed(args.out / f"{clip}__{model}.npz", **out)
            top = np.argsort(-out["tags"])[:5]
            print(clip, model, taggram.shape, [labels[i] for i in top])
    (args.out / "clips.json").write_text(
        json.dumps({clip: str(path) for clip, path in CLIPS.items()}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
