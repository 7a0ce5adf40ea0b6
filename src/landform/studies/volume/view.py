"""A classic view of a trained minimum, from a volume run folder or a checkpoint: finding the
minimum and its data (and how it was trained, to train it again with its trajectory recorded),
then drawing it with :mod:`landform.views.view` (``landform view``; ``landform curvature``
measures the same minimum).

Three kinds (``landform view RUN_OR_CHECKPOINT --kind ...``): ``random`` (the plane and slices
along filter-normalised random directions, Li et al. 2018), ``pca`` (the plane of the training
trajectory's first two principal components, the path drawn on it) and ``minima`` (the plane
through three minima of a volume run; Fan, Sandlund, Ko 2025, arXiv 2511.04808).

Where the minimum and its data come from:

- a volume run folder (``landform run`` of a volume config): the minimum of ``level`` (default:
  the smallest trained level) for ``model_seed`` and ``arm``, on its own training examples
  (the first base + q of the run's ordered pool);
- a trained-model folder (:func:`landform.train.save_trained`; ``theta.npy`` + ``model.json``):
  inside a volume run's train stage its data and training are found there; elsewhere pass the
  data (a dataset name or an ``.npz`` with ``x`` and ``y``).

The trajectory for ``pca``: a file given by ``trajectory`` (or ``trajectory.npz`` beside
``theta.npy``, as :func:`landform.views.save_trajectory` writes it); otherwise, for a minimum of
a volume run, the stored run holds no trajectory, so the minimum is trained again from its stored
initialisation seed, data and training config with recording on (as long as the original
training; said in the log, compared with the stored minimum, and kept in the output folder so
that the next view reuses it). The run folder's files are those of
:mod:`landform.studies.volume.layout`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from landform.errors import ConfigError
from landform.flat import ravel
from landform.landscape import Landscape
from landform.studies.volume import layout
from landform.studies.volume.layout import TRAJECTORY_FILE
from landform.studies.volume.runs import (
    RunFolderError,
    available_minima,
    find_minimum,
    load_pool,
    load_three_minima,
    read_volume_run,
)
from landform.views.view import (
    VIEW_KINDS,
    ViewResult,
    load_trajectory,
    minima_view,
    pca_view,
    random_view,
    save_trajectory,
)


class Retraining(NamedTuple):
    """How a stored minimum was trained, to train it again with its trajectory recorded."""

    model: Any
    initial: Any  # parameters at initialisation
    x: np.ndarray
    y: np.ndarray
    loss: str
    config: Any  # TrainConfig
    checkpoint: str  # "final" or "epoch<e>": where the stored minimum sits on the run


class ViewSource(NamedTuple):
    """A trained minimum and the data of its landscape.

    ``label`` names its files (e.g. ``seed3_level0``); ``folder`` is the default output folder;
    ``retraining`` says how to train it again (``None`` when that is unknown); ``trajectory``
    is where a recorded trajectory is looked for.
    """

    model: Any
    params: Any
    x: np.ndarray
    y: np.ndarray
    loss: str
    label: str
    folder: Path
    retraining: Retraining | None
    trajectory: Path | None
    run: Any = None  # VolumeRun, for --kind minima
    model_seed: int | None = None
    arm: str | None = None

    @property
    def theta(self) -> jax.Array:
        """The minimum's flat parameter vector."""
        return ravel(self.params)[0]

    def landscape(self, examples: int | None = None, **options: Any) -> Landscape:
        """The landscape of the minimum's data (the first ``examples``, default all)."""
        x, y = self.x, self.y
        if examples is not None:
            if not 1 <= examples <= len(x):
                raise ConfigError(f"examples must lie in 1..{len(x)} (the data of this minimum), got {examples}")
            x, y = x[:examples], y[:examples]
        return _landscape(self.model, self.params, x, y, self.loss, **options)


def _landscape(model, params, x, y, loss, **options) -> Landscape:
    """The landscape of a landform model; grids reuse its first layer when it has one."""
    options.setdefault("first_layer", getattr(model, "first_layer", None))
    return Landscape.from_apply(model.apply, params, x, y, loss, expected_input_shape=model.input_shape, **options)


# ============================================================================ sources


def _stage_inputs(folder: Path) -> dict[str, Any] | None:
    """The inputs of the volume train stage holding checkpoint ``folder``, if it is one."""
    marker = layout.marker(layout.train_stage_of(folder))
    inputs = marker.get("inputs") if marker is not None else None
    if isinstance(inputs, dict) and {"data", "size", "model", "train", "model_seed"} <= set(inputs):
        return inputs
    return None


def _retraining(inputs: dict[str, Any], x: np.ndarray, y: np.ndarray, loss: str, checkpoint: str) -> Retraining | None:
    """The recipe of a volume train stage: init from ``model_seed``, the stored training config."""
    from landform.models import build
    from landform.train import TrainConfig

    try:
        model = build(inputs["model"])
        config = TrainConfig.model_validate(inputs["train"])
    except Exception:  # noqa: BLE001 - an old or foreign stage: no retraining, a clear error later
        return None
    initial = model.init(jax.random.key(int(inputs["model_seed"])))
    size = int(inputs["size"])
    return Retraining(model, initial, x[:size], y[:size], str(inputs.get("loss", loss)), config, checkpoint)


def _load_data_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            for xs, ys in (("x", "y"), (layout.POOL_X, layout.POOL_Y), ("train_x", "train_y")):
                if xs in data and ys in data:
                    return data[xs], data[ys]
            names = sorted(data.files)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the data file {str(path)!r}: {error}") from None
    raise ConfigError(f"{str(path)!r} holds {names}; give an .npz with arrays 'x' and 'y' (or pool_x, pool_y)")


def _named_data(name: str, model) -> tuple[np.ndarray, np.ndarray, str]:
    """The training split of a registered dataset, shaped for ``model``, and its default loss."""
    from landform.data import load

    dataset = load(name)
    x, y = dataset.train.x, dataset.train.y
    shape = model.input_shape
    if shape is not None and tuple(x.shape[1:]) != tuple(shape) and int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        x = x.reshape((len(x), *shape))  # e.g. flat MNIST for a convolutional model
    loss = {"regression": "mse", "binary": "binary_cross_entropy"}.get(dataset.task, "cross_entropy")
    return x, y, loss


def load_view_source(
    path: str | os.PathLike,
    *,
    level: int | None = None,
    model_seed: int | None = None,
    arm: str | None = None,
    data: str | os.PathLike | None = None,
    loss: str | None = None,
) -> ViewSource:
    """The minimum and data behind a view: from a volume run folder (the minimum of ``level``,
    default the smallest trained one, of ``model_seed`` and ``arm``) or a trained-model folder
    (see the module docstring; ``data`` is a dataset name or an ``.npz`` file, needed for a
    checkpoint outside a volume run, and ``loss`` overrides the loss)."""
    from landform.train import load_trained

    path = Path(path)
    if not path.is_dir():
        raise RunFolderError(
            f"{str(path)!r} does not exist; pass a volume run folder (the --out of 'landform run') or a "
            "trained-model folder (theta.npy and model.json, written by save_trained)"
        )
    if (path / layout.CONFIG_FILE).is_file():
        run = read_volume_run(path)
        seed = run.seed_pairs[0][0] if model_seed is None else int(model_seed)
        if level is None:
            levels = sorted(q for s, q in available_minima(run) if s == seed)
            if not levels:
                raise RunFolderError(f"run {str(path)!r} has no trained minimum for seed {seed} yet; finish the run")
            level = levels[0]
        minimum = find_minimum(run, int(level), model_seed=seed, arm=arm)
        model, params, _ = load_trained(minimum.model_folder)
        x, y = load_pool(minimum)
        loss = loss or run.loss
        inputs = _stage_inputs(minimum.model_folder)
        retraining = None if inputs is None else _retraining(inputs, x, y, loss, minimum.checkpoint)
        suffix = "" if len(run.arms) == 1 else f"_{minimum.arm}"
        return ViewSource(
            model,
            params,
            x[: minimum.size],
            y[: minimum.size],
            loss,
            f"seed{seed}_level{minimum.level}{suffix}",
            run.folder / layout.FIGURES / "views",
            retraining,
            minimum.model_folder / TRAJECTORY_FILE,
            run,
            seed,
            minimum.arm,
        )
    if not (path / "model.json").is_file():
        raise RunFolderError(
            f"{str(path)!r} is neither a run folder (config.json) nor a trained-model folder (model.json); "
            "pass the --out of 'landform run' or a folder written by save_trained"
        )
    model, params, metadata = load_trained(path)
    inputs = _stage_inputs(path)
    retraining = None
    if data is not None:
        data_path = Path(data)
        if data_path.suffix == ".npz" or data_path.is_file():
            x, y = _load_data_file(data_path)
            default_loss = "cross_entropy"
        else:
            x, y, default_loss = _named_data(str(data), model)
    elif inputs is not None:
        data_file = layout.data_file(layout.stage_folder(path.parent.parent, layout.DATA_STAGE, inputs["data"]))
        if not data_file.is_file():
            raise RunFolderError(f"the data stage of {str(path)!r} ({str(data_file)!r}) is missing; pass --data")
        x, y = _load_data_file(data_file)
        x, y = x[: int(inputs["size"])], y[: int(inputs["size"])]
        default_loss = str(inputs.get("loss", "cross_entropy"))
        retraining = _retraining(inputs, x, y, loss or default_loss, path.name)
    else:
        recorded = (metadata.get("dataset") or {}).get("name")
        raise ConfigError(
            f"the trained model in {str(path)!r} does not say where its data are; pass the data: a dataset "
            f"name (--data {recorded or 'mnist'}) or an .npz file with arrays x and y"
        )
    loss = loss or default_loss
    label = path.name if inputs is None else f"{path.parent.name}_{path.name}"
    return ViewSource(model, params, x, y, loss, label, path / "views", retraining, path / TRAJECTORY_FILE)


# ============================================================================ trajectories


def record_trajectory(retraining: Retraining, record_every: int = 1, progress: Any = None):
    """Train the minimum again as ``retraining`` says, recording θ every ``record_every`` epochs;
    the :class:`landform.train.Trajectory` up to the stored checkpoint's epoch."""
    from landform.data.base import Split
    from landform.train import fit
    from landform.train.loop import Trajectory

    config = retraining.config
    epoch = layout.checkpoint_epoch(retraining.checkpoint)
    if epoch is not None:  # a checkpoint of the run: stop there
        config = config.model_copy(update={"epochs": epoch})
    result = fit(
        retraining.model,
        retraining.initial,
        Split(retraining.x, retraining.y),
        retraining.loss,
        config,
        progress=progress,
        record_every=record_every,
    )
    trajectory = result.trajectory
    return Trajectory(trajectory.epochs, trajectory.thetas)


def _trajectory_for(
    source: ViewSource,
    trajectory: str | os.PathLike | None,
    out: Path,
    record_every: int,
    progress: Any,
    log: Callable[[str], None],
):
    if trajectory is not None:
        log(f"trajectory: {trajectory}")
        return load_trajectory(trajectory)
    cached = out / f"trajectory_{source.label}_every{record_every}.npz"
    for candidate in (source.trajectory, cached):
        if candidate is not None and candidate.is_file():
            log(f"trajectory: {candidate} (recorded earlier)")
            return load_trajectory(candidate)
    if source.retraining is None:
        raise ConfigError(
            f"no training trajectory of {source.label!r} is stored; record one with "
            "fit(..., record_every=k), save it with landform.views.save_trajectory and pass it with --trajectory "
            f"(or put it beside theta.npy as {TRAJECTORY_FILE})"
        )
    epochs = retraining_epochs(source.retraining)
    log(
        f"the stored run holds no training trajectory: training the minimum again ({epochs} epochs from its "
        f"initialisation seed, data and training config) with θ recorded every {record_every} epoch(s)"
    )
    recorded = record_trajectory(source.retraining, record_every, progress)
    save_trajectory(cached, recorded)
    log(f"trajectory kept: {cached}")
    return recorded


def retraining_epochs(retraining: Retraining) -> int:
    """The epochs that training ``retraining`` again takes: up to its checkpoint's epoch, or all."""
    epoch = layout.checkpoint_epoch(retraining.checkpoint)
    return int(retraining.config.epochs) if epoch is None else epoch


# ============================================================================ the view


def landscape_view(
    path: str | os.PathLike,
    kind: str = "random",
    *,
    resolution: int = 31,
    range_: tuple[float, float] | None = None,
    normalization: str = "filter",
    seed: int = 0,
    out: str | os.PathLike | None = None,
    level: int | None = None,
    levels: Sequence[int] | None = None,
    model_seed: int | None = None,
    arm: str | None = None,
    examples: int | None = None,
    data: str | os.PathLike | None = None,
    loss: str | None = None,
    trajectory: str | os.PathLike | None = None,
    record_every: int = 1,
    orthonormal: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda message: None,
) -> ViewResult:
    """One view of a minimum (see the module docstring; drawn by :func:`landform.views.random_view`,
    :func:`landform.views.pca_view` or :func:`landform.views.minima_view`): figures and the grid written under
    ``out`` (default: ``<run>/figures/views`` or ``<checkpoint>/views``).

    ``resolution`` grid points per axis; ``range_`` the coordinates of both axes (default
    [−1, 1] for random planes; pca and minima planes frame their path or points).
    ``normalization`` and ``seed`` choose the random directions (direction i from
    ``fold_in(key(seed), i)``). ``examples`` evaluates the first examples of the minimum's data
    only. ``levels`` picks the three minima of a ``minima`` view (default: the smallest, middle
    and largest level). ``log`` receives one line per step worth telling.
    """
    if kind not in VIEW_KINDS:
        raise ConfigError(f"unknown view kind {kind!r}; use one of {', '.join(VIEW_KINDS)}")
    if resolution < 2:
        raise ConfigError(f"resolution must be at least 2 points per axis, got {resolution}")
    if kind == "minima":
        return _minima_view(
            path,
            levels=levels,
            resolution=resolution,
            range_=range_,
            out=out,
            model_seed=model_seed,
            arm=arm,
            orthonormal=orthonormal,
            progress=progress,
            log=log,
        )
    source = load_view_source(path, level=level, model_seed=model_seed, arm=arm, data=data, loss=loss)
    out = Path(out) if out is not None else source.folder
    landscape = source.landscape(examples)
    description = f"{landscape.num_examples}-example landscape"
    log(f"minimum {source.label}: {landscape.dim} parameters, {description} ({source.loss})")
    if kind == "random":
        return random_view(
            landscape,
            out,
            source.label,
            resolution=resolution,
            range_=range_,
            normalization=normalization,
            seed=seed,
            unit_axis=source.model.unit_axis,
            progress=progress,
        )
    recorded = _trajectory_for(source, trajectory, out, record_every, progress, log)
    return pca_view(
        landscape, recorded, out, source.label, resolution=resolution, range_=range_, progress=progress, log=log
    )


def _minima_view(path, *, levels, resolution, range_, out, model_seed, arm, orthonormal, progress, log) -> ViewResult:
    folder = Path(path)
    if not (folder / layout.CONFIG_FILE).is_file():
        raise ConfigError(
            f"--kind minima needs a volume run folder (three minima and their data); {str(folder)!r} is not one"
        )
    three = load_three_minima(folder, None if levels is None else tuple(levels), model_seed=model_seed, arm=arm)
    run, minima = three.run, three.minima
    sizes = sorted({m.size for m in minima})
    x, y = load_pool(minima[0], max(sizes))
    landscape = _landscape(three.model, three.params, x, y, run.loss)
    out = Path(out) if out is not None else run.folder / layout.FIGURES / "views"
    return minima_view(
        landscape,
        three.thetas,
        sizes,
        out,
        levels=three.levels,
        seed=three.seed,
        labels=[f"trained on {m.size}" for m in minima],
        resolution=resolution,
        range_=range_,
        orthonormal=orthonormal,
        progress=progress,
        log=log,
    )


__all__ = [
    "TRAJECTORY_FILE",
    "VIEW_KINDS",
    "Retraining",
    "ViewResult",
    "ViewSource",
    "landscape_view",
    "load_trajectory",
    "load_view_source",
    "record_trajectory",
    "retraining_epochs",
    "save_trajectory",
]
