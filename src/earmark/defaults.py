"""Defaults shared across earmark, in a module that imports nothing heavy (the command line
reads them at start-up)."""

#: The pretrained model whose embeddings taste models and trained heads use.
EMBEDDING_MODEL = "MSD_musicnn"

#: Days after which a rating counts half in the taste model (tastes drift).
TASTE_HALF_LIFE_DAYS = 365.0

#: Arithmetic of musicnn's convolutions and dense layers (``earmark.models.musicnn``).
#: ``"float32"`` reproduces the original to 1e-6. ``"bfloat16"`` (under ``torch.autocast``,
#: accumulating in float32) runs the front end in about half the time on hardware with native
#: bfloat16 dot products (x86 AVX512-BF16 or AMX, CUDA compute capability 8+) and moves
#: probabilities by at most ~0.01, keeping the top tags (the parity tests bound both).
#: ``"auto"`` picks bfloat16 where it is native and float32 elsewhere (where bfloat16 would be
#: emulated, hence slower).
PRECISIONS = ("auto", "float32", "bfloat16")
