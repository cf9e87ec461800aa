"""One settings object: where the catalog and caches live and which defaults earmark uses.

Built once per process from the defaults below and the environment (``EARMARK_*`` variables),
then read through :func:`settings` by every layer, so no module reads the environment itself.
It imports nothing heavy: the command line reads it at start-up.

=========================== ================= ==========================================
variable                    field             default
=========================== ================= ==========================================
``EARMARK_DB``              ``catalog_path``  ``catalog.sqlite`` in the user data directory
``EARMARK_CACHE_DIR``       ``cache_dir``     the user cache directory
``EARMARK_PRECISION``       ``precision``     ``auto``
``EARMARK_ENGINE``          ``engine``        ``local``
``EARMARK_RAY_ADDRESS``     ``ray_address``   none: the ray engine starts a local cluster
``EARMARK_RAY_FILES``       ``ray_files``     ``auto``: bytes only to workers that lack a file
``EARMARK_WORKERS``         ``workers``       one per usable core
``EARMARK_DEVICE``          ``device``        the best available
=========================== ================= ==========================================

The embedding model and the taste half-life are settings too, with no variable: a library
function taking one as a parameter defaults to the same built-in value
(:data:`EMBEDDING_MODEL`, :data:`TASTE_HALF_LIFE_DAYS`), and faces (the command line, a web
app, a worker) pass what :func:`settings` says.

Tests (and a web app serving several catalogs) change them with :func:`override_settings`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from earmark.errors import EarmarkError

#: Arithmetic of musicnn's convolutions and dense layers (``earmark.models.musicnn``).
#: ``"float32"`` reproduces the original to 1e-6. ``"bfloat16"`` (under ``torch.autocast``,
#: accumulating in float32) runs the front end in about half the time on hardware with native
#: bfloat16 dot products (x86 AVX512-BF16 or AMX, CUDA compute capability 8+) and moves
#: probabilities by at most ~0.01, keeping the top tags (the parity tests bound both).
#: ``"auto"`` picks bfloat16 where it is native and float32 elsewhere (where bfloat16 would be
#: emulated, hence slower).
PRECISIONS = ("auto", "float32", "bfloat16")

#: The pretrained model whose embeddings taste models and trained heads use.
EMBEDDING_MODEL = "MSD_musicnn"

#: Days after which a rating counts half in the taste model (tastes drift).
TASTE_HALF_LIFE_DAYS = 365.0

#: Engines :func:`earmark.engine.default_engine` can build.
ENGINES = ("local", "ray")

#: How the ray engine's workers get the files they work on: ``"shared"``, at their paths
#: (every node sees the music at the same path); ``"bytes"``, sent by the driver with each
#: task; ``"auto"``, at their paths, and sent as bytes for a task whose node lacks the file
#: (or holds another version of it).
RAY_FILES = ("auto", "shared", "bytes")


class SettingsError(EarmarkError):
    """An ``EARMARK_*`` variable holds a value earmark cannot use."""


@dataclass(frozen=True)
class Settings:
    """earmark's settings (see the module docstring for the variables that set each).

    Parameters
    ----------
    catalog_path : the catalog database used when a command names none.
    cache_dir : root of earmark's caches (converted pretrained models in ``models/``).
    embedding_model : the pretrained model whose embeddings taste models and trained heads use.
    taste_half_life_days : days after which a rating counts half in the taste model (tastes
        drift).
    precision : musicnn's arithmetic, one of :data:`PRECISIONS`.
    engine : how work is spread, one of :data:`ENGINES`.
    ray_address : the Ray cluster the ``ray`` engine runs on (``"auto"`` or ``"HOST:PORT"``);
        ``None`` starts a one-node cluster on this machine for each command.
    ray_files : how the ray engine's workers get files, one of :data:`RAY_FILES`.
    workers : processes or threads the engine uses; ``None`` is one per usable core.
    device : torch device for the networks (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``);
        ``None`` picks the best available.
    """

    catalog_path: Path
    cache_dir: Path
    embedding_model: str = EMBEDDING_MODEL
    taste_half_life_days: float = TASTE_HALF_LIFE_DAYS
    precision: str = "auto"
    engine: str = "local"
    ray_address: str | None = None
    ray_files: str = "auto"
    workers: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        for name in ("precision", "engine", "ray_files", "taste_half_life_days", "workers"):
            problem = _problem(name, getattr(self, name))
            if problem:
                raise SettingsError(problem)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The defaults, overridden by the ``EARMARK_*`` variables set (and not empty) in
        ``environ`` (default: this process's environment).

        Raises :class:`SettingsError` naming the variable whose value cannot be used.
        """
        env = {k: v for k, v in (os.environ if environ is None else environ).items()
               if k.startswith("EARMARK_") and v}
        values: dict[str, object] = {
            "catalog_path": (Path(env["EARMARK_DB"]).expanduser() if "EARMARK_DB" in env else
                             Path(platformdirs.user_data_dir("earmark", appauthor=False))
                             / "catalog.sqlite"),
            "cache_dir": Path(env.get("EARMARK_CACHE_DIR")
                              or platformdirs.user_cache_dir("earmark")).expanduser(),
        }
        for variable, name, convert in _VARIABLES:
            if variable in env:
                try:
                    values[name] = convert(env[variable])
                except ValueError as exc:
                    raise SettingsError(f"${variable}={env[variable]!r}: {exc}") from exc
                problem = _problem(name, values[name])
                if problem:
                    raise SettingsError(f"${variable}: {problem}")
        return cls(**values)


def _problem(name: str, value: object) -> str | None:
    """Why ``value`` cannot be the setting ``name``, or ``None`` when it can."""
    if name == "precision" and value not in PRECISIONS:
        return f"precision must be one of {', '.join(PRECISIONS)}, not {value!r}"
    if name == "engine" and value not in ENGINES:
        return f"engine must be one of {', '.join(ENGINES)}, not {value!r}"
    if name == "ray_files" and value not in RAY_FILES:
        return f"ray files must be one of {', '.join(RAY_FILES)}, not {value!r}"
    if name == "taste_half_life_days" and not (math.isfinite(value) and value > 0):
        return f"the taste half-life must be a positive number of days, not {value!r}"
    if name == "workers" and value is not None and value < 1:
        return f"workers must be at least 1, not {value!r}"
    return None


#: ``(variable, field, converter)`` of the settings read from the environment besides the paths.
_VARIABLES = (
    ("EARMARK_PRECISION", "precision", str),
    ("EARMARK_ENGINE", "engine", str),
    ("EARMARK_RAY_ADDRESS", "ray_address", str),
    ("EARMARK_RAY_FILES", "ray_files", str),
    ("EARMARK_WORKERS", "workers", int),
    ("EARMARK_DEVICE", "device", str),
)

_current: Settings | None = None


def settings() -> Settings:
    """This process's settings: read from the environment on first use, then kept.

    Raises :class:`SettingsError` when an ``EARMARK_*`` variable holds an unusable value.
    """
    global _current
    if _current is None:
        _current = Settings.from_environ()
    return _current


@contextmanager
def override_settings(**changes: object) -> Iterator[Settings]:
    """Run the block with some settings changed (``override_settings(cache_dir=tmp)``), then
    restore the previous ones; yields the settings in force. Not for use from several threads
    at once: the settings are one per process."""
    global _current
    before = settings()
    _current = dataclasses.replace(before, **changes)
    try:
        yield _current
    finally:
        _current = before
