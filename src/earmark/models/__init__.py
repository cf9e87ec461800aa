"""Models: pretrained musicnn taggers (PyTorch ports of the published weights) and their I/O."""

from earmark.models.musicnn import MODEL_NAMES, MusicnnTagger, load_musicnn
from earmark.models.tf_checkpoint import read_checkpoint

__all__ = ["MODEL_NAMES", "MusicnnTagger", "load_musicnn", "read_checkpoint"]
