"""Models: the registry of pretrained taggers (:mod:`.registry`), musicnn in PyTorch (ports of
the published weights), heads, the classic baseline, ``nets/``, and saving and loading them.

Import the modules themselves: this package imports nothing, so the command line can read the
registry without loading torch.
"""
