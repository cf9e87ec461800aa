"""Defaults shared across earmark, in a module that imports nothing heavy (the command line
reads them at start-up)."""

#: The pretrained model whose embeddings taste models and trained heads use.
EMBEDDING_MODEL = "MSD_musicnn"

#: Days after which a rating counts half in the taste model (tastes drift).
TASTE_HALF_LIFE_DAYS = 365.0
