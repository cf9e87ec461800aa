"""Saving and loading trained models: safetensors weights + a JSON model card.

A trained model is an estimator (any of :data:`MODEL_TYPES`) plus its :class:`ModelCard`: the
labels, the task, how songs become inputs (embedding model, mel front end ``MelParams.to_dict()``
or descriptor settings, chunk length), hyper-parameters, training data, metrics and seed.
``save_model(model, "genres.safetensors")`` writes ``genres.safetensors`` (the fitted arrays,
with the card also in its metadata, so the file alone is enough) and ``genres.json`` (the card,
for people). :func:`load_model` takes either path, or the stem, and rebuilds the estimator
through the :class:`~earmark.models.contract.Trainable` protocol that every trainable estimator
follows (the taste model's included).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from earmark.errors import ModelError

if TYPE_CHECKING:  # the contract imports scikit-learn, which reading a model does not need
    from earmark.models.contract import Trainable

#: model type -> ``(classifier, regressor)`` as "module:Class" (imported on demand, so loading
#: a head does not import the CNNs). The card's ``kind`` picks one: ``"regression"`` the
#: regressor, any other kind the classifier.
MODEL_TYPES: dict[str, tuple[str, str]] = {
    "head": ("earmark.models.heads:EmbeddingHead", "earmark.models.heads:EmbeddingHeadRegressor"),
    "classic": ("earmark.models.classic:DescriptorSVM", "earmark.models.classic:DescriptorSVR"),
    "shortchunk": ("earmark.models.nets.shortchunk:ShortChunkClassifier",
                   "earmark.models.nets.shortchunk:ShortChunkRegressor"),
    "finetune": ("earmark.models.nets.finetune:MusicnnFineTuned",
                 "earmark.models.nets.finetune:MusicnnFineTunedRegressor"),
}
#: 2: classifiers and regressors are separate estimators, and networks read their front end
#: from ``inputs``. A format-1 card kept a regression model under its classifier, with
#: parameters a regression ignored; they are dropped when it loads.
CARD_FORMAT = 2


def estimator_class(model_type: str, kind: str = "single",
                    types: Mapping[str, tuple[str, str]] = MODEL_TYPES) -> type:
    """The estimator class for a model type and task ``kind`` (``"regression"`` gives the
    regressor); ``types`` maps model types as :data:`MODEL_TYPES` does. Raises
    :class:`~earmark.errors.ModelError` for an unknown model type."""
    if model_type not in types:
        raise ModelError(f"unknown model type {model_type!r}; one of {', '.join(types)}")
    module, name = types[model_type][kind == "regression"].split(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class ModelCard:
    """What a trained model is and how it was made.

    Attributes
    ----------
    model_type : a key of :data:`MODEL_TYPES`.
    task : the label task (``"genre"``, ``"tags"``, ``"like"``, ``"stars"``, ...).
    kind : ``"single"``, ``"multi"``, ``"binary"`` or ``"regression"``.
    labels : output names in column order.
    inputs : how a song becomes model input: ``embedding_model`` (heads), ``mel`` (a
        ``MelParams.to_dict()``, networks), ``descriptors`` (classic), and ``chunk_seconds``.
    hyperparameters : the estimator's ``get_params()``.
    fitted : choices made while fitting (e.g. the selected ``C``).
    thresholds : per-label decision thresholds (multi-label: tuned on validation).
    training : the training data summary, split and seed.
    metrics : validation or cross-validation scores.
    seed : the seed of the run.
    """

    model_type: str
    task: str
    kind: str
    labels: list[str]
    inputs: dict
    hyperparameters: dict
    fitted: dict = field(default_factory=dict)
    thresholds: list[float] | None = None
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    seed: int = 0
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    earmark_version: str = field(default_factory=lambda: _version())
    format: int = CARD_FORMAT

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelCard:
        if data.get("format", CARD_FORMAT) > CARD_FORMAT:
            raise ModelError("model card is newer than this earmark; upgrade earmark")
        return cls(**data)


def _version() -> str:
    try:
        return version("earmark")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class TrainedModel:
    """A fitted estimator and its card."""

    estimator: Trainable
    card: ModelCard


def model_files(path: str | Path) -> tuple[Path, Path]:
    """``(weights, card)`` paths of a model given as either file or the stem, ``~`` expanded."""
    path = Path(path).expanduser()
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_model(model: TrainedModel, path: str | Path) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json``; returns the safetensors path.

    Both are written to temporary files first and renamed, so a crash never leaves a
    half-written model where a good one was.
    """
    weights, card_path = model_files(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    card = json.dumps(model.card.to_dict(), indent=2, ensure_ascii=False, default=_jsonable)
    state = {k: np.ascontiguousarray(v) for k, v in model.estimator.state().items()}
    for target, write in ((weights, lambda p: save_file(state, p, metadata={"card": card})),
                          (card_path, lambda p: Path(p).write_text(card + "\n"))):
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    return weights


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def read_model(path: str | Path) -> tuple[dict[str, np.ndarray], ModelCard]:
    """The fitted arrays and the card of a model saved by :func:`save_model` (give the
    .safetensors, the .json or the stem), without building its estimator: what a caller that
    applies the arrays itself needs (the taste model's scoring, which then never imports
    scikit-learn). Raises :class:`~earmark.errors.ModelError` for missing or damaged files."""
    weights, card_path = model_files(path)
    if not weights.is_file():
        raise ModelError(f"no model weights at {weights}")
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}
            embedded = (handle.metadata() or {}).get("card")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read model {weights}: {exc}") from exc
    text = card_path.read_text() if card_path.is_file() else embedded
    if text is None:
        raise ModelError(f"{weights} has no model card")
    try:
        card = ModelCard.from_dict(json.loads(text))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"damaged model card for {weights}: {exc}") from exc
    return state, card


def load_model(path: str | Path, types: Mapping[str, tuple[str, str]] = MODEL_TYPES
               ) -> TrainedModel:
    """Load a model saved by :func:`save_model` (give the .safetensors, the .json or the stem).

    ``types``: the model types this caller takes, as :data:`MODEL_TYPES` (the taste model
    passes its own). The estimator is rebuilt from the card's hyper-parameters and restored
    with :meth:`~earmark.models.contract.Trainable.load_state`. Raises
    :class:`~earmark.errors.ModelError` for missing or damaged files, an unknown model type,
    hyper-parameters the estimator does not take, or inputs it cannot honour.
    """
    state, card = read_model(path)
    weights = model_files(path)[0]
    cls = estimator_class(card.model_type, card.kind, types)
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in card.hyperparameters.items()}
    if card.format < 2:
        takes = inspect.signature(cls).parameters
        params = {k: v for k, v in params.items() if k in takes}
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ModelError(f"the card of {weights} has hyper-parameters {cls.__name__} does not "
                         f"take: {exc}") from exc
    try:
        estimator.load_state(state, card.fitted, card.inputs)
    except (KeyError, IndexError, ValueError) as exc:
        raise ModelError(f"{weights} does not hold a fitted {cls.__name__} (missing or "
                         f"misshapen {exc})") from exc
    return TrainedModel(estimator, card)
