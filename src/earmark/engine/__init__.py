"""How work is spread: per-file functions over processes or threads on this machine.

Knows nothing of music. :mod:`.local` is the single-machine engine; :mod:`.device` picks where
torch work runs.
"""

from earmark.engine.local import map_files, map_threads, torch_threads, usable_cores

__all__ = ["map_files", "map_threads", "torch_threads", "usable_cores"]
