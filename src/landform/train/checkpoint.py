"""Saving and loading trained models as a flat parameter vector plus a JSON description.

A trained-model folder holds two files:

- ``theta.npy``: θ, the parameters raveled by :func:`landform.flat.ravel` (1-D);
- ``model.json``: the model's ``spec`` (from which :func:`landform.models.build` rebuilds it),
  its name and ``unit_axis``, the number of parameters and their leaf layout, the training
  config, the dataset description, the training history and any ``extra`` JSON data.

Each file is written to a temporary name in the same folder and moved into place with
``os.replace`` (atomic on POSIX and Windows); ``model.json`` is written last, so a folder with a
``model.json`` is complete.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import LandformError
from landform.files import atomic_write_bytes, atomic_write_text
from landform.flat import leaf_slices, ravel
from landform.models.base import Model

Params = Any

FORMAT = "landform.trained/1"
THETA_FILE = "theta.npy"
MODEL_FILE = "model.json"


class CheckpointError(LandformError):
    """A trained-model folder is missing, incomplete, or cannot be rebuilt into a model."""


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):  # pydantic models (TrainConfig)
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def save_trained(
    folder: str | os.PathLike,
    model: Model,
    params: Params,
    *,
    config: Any,
    dataset_description: dict[str, Any],
    history: dict[str, list],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``theta.npy`` and ``model.json`` for ``model`` at ``params`` into ``folder``.

    ``config`` is a :class:`~landform.train.TrainConfig` (or any JSON-able dict),
    ``dataset_description`` e.g. ``Dataset.describe()``. Non-finite history values are stored
    as ``null`` / ``"inf"``. Returns the folder. The folder is created if needed; existing files
    are replaced atomically.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    theta, _ = ravel(params)
    theta = np.asarray(theta)
    description = {
        "format": FORMAT,
        "model": {"name": model.name, "spec": _jsonable(model.spec), "unit_axis": model.unit_axis},
        "num_params": int(theta.size),
        "dtype": str(theta.dtype),
        "leaves": [{"path": leaf.path, "shape": list(leaf.shape)} for leaf in leaf_slices(params)],
        "train_config": _jsonable(config),
        "dataset": _jsonable(dataset_description),
        "history": _jsonable(history),
        "extra": _jsonable(extra) if extra is not None else None,
    }
    try:
        text = json.dumps(description, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"cannot save {model.name!r}: its spec, config, dataset description, history or "
            f"extra data is not JSON-serialisable ({error}); pass plain numbers, strings, "
            "lists and dicts"
        ) from error
    buffer = io.BytesIO()
    np.save(buffer, theta, allow_pickle=False)
    atomic_write_bytes(folder / THETA_FILE, buffer.getvalue())
    atomic_write_text(folder / MODEL_FILE, text)
    return folder


def load_trained(folder: str | os.PathLike, *, model: Model | None = None) -> tuple[Model, Params, dict[str, Any]]:
    """Read a folder written by :func:`save_trained`: ``(model, params, metadata)``.

    The model is rebuilt with ``landform.models.build(spec)`` unless ``model`` is given (needed
    for adapter models, whose spec cannot rebuild them). The parameter structure comes from
    ``model.init`` (traced with ``jax.eval_shape``, nothing is computed) and θ is unravelled
    into it. ``metadata`` is the parsed ``model.json`` (``train_config``, ``dataset``,
    ``history``, ``extra``, ...); ``TrainConfig.model_validate(metadata["train_config"])``
    restores the config.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"trained-model folder {str(folder)!r} does not exist")
    missing = [name for name in (THETA_FILE, MODEL_FILE) if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(
            f"trained-model folder {str(folder)!r} is incomplete: {', '.join(missing)} missing "
            "(an interrupted save?); train and save the model again"
        )
    try:
        metadata = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
        theta = np.load(folder / THETA_FILE, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read the trained model in {str(folder)!r}: {error}") from error
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(folder / MODEL_FILE)!r} is not a landform trained-model description (expected format {FORMAT!r})"
        )
    if model is None:
        model = _rebuild(metadata["model"], folder)
    template = jax.eval_shape(model.init, jax.random.PRNGKey(0))
    structure = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), template)
    _, unravel = ravel(structure)
    if theta.ndim != 1 or theta.size != metadata["num_params"]:
        raise CheckpointError(
            f"{str(folder / THETA_FILE)!r} holds shape {theta.shape}, but model.json records "
            f"{metadata['num_params']} parameters; the folder is inconsistent"
        )
    _check_leaves(metadata.get("leaves"), leaf_slices(structure), model, folder)
    try:
        params = unravel(jnp.asarray(theta))
    except LandformError as error:
        raise CheckpointError(f"the saved parameters do not fit model {model.name!r}: {error}") from error
    return model, params, metadata


def _check_leaves(saved: list[dict] | None, expected: list, model: Model, folder: Path) -> None:
    """The saved leaves (path and shape, in flat order) must be the model's: the same number of
    parameters in another arrangement would unravel into the wrong tensors without an error."""
    if saved is None:  # written before leaves were recorded: the parameter count was checked
        return
    found = [(leaf["path"], tuple(leaf["shape"])) for leaf in saved]
    wanted = [(leaf.path, tuple(leaf.shape)) for leaf in expected]
    if found == wanted:
        return
    differences = [f"{a[0]} {a[1]} saved, {b[0]} {b[1]} expected" for a, b in zip(found, wanted) if a != b]
    if len(found) != len(wanted):
        differences.append(f"{len(found)} tensors saved, {len(wanted)} expected")
    raise CheckpointError(
        f"the parameters saved in {str(folder)!r} do not have the layout of model {model.name!r}: "
        f"{'; '.join(differences[:3])}; load it with the model it was trained with (load_trained(folder, model=...))"
    )


def _rebuild(record: dict[str, Any], folder: Path) -> Model:
    spec = record.get("spec") or {}
    hint = "pass the model itself: load_trained(folder, model=...)"
    if not spec:
        raise CheckpointError(
            f"the model saved in {str(folder)!r} ({record.get('name')!r}) has no spec to rebuild "
            f"it from (adapter models have none); {hint}"
        )
    try:
        from landform.models import build
    except ImportError as error:
        raise CheckpointError(f"landform.models.build is not available ({error}); {hint}") from error
    try:
        return build(spec)
    except Exception as error:  # noqa: BLE001 - any failure means "not rebuildable"
        raise CheckpointError(
            f"cannot rebuild the model saved in {str(folder)!r} from its spec {spec}: {error}; {hint}"
        ) from error
