"""The classic landscape views of a trained minimum, from a run folder or a checkpoint, to files.

Three kinds (``landform view RUN_OR_CHECKPOINT --kind ...``):

- ``random``: the plane θ* + a·d1 + b·d2 along two filter-normalised random directions and the
  1-D slices θ* + t·d1, θ* + t·d2 (Li et al. 2018, "Visualizing the Loss Landscape of Neural
  Nets"; :mod:`landform.views.random`);
- ``pca``: the plane of the first two principal components of the minimum's training trajectory,
  the optimiser's path drawn on it (Li et al. 2018, section 7; :mod:`landform.views.trajectory`);
- ``minima``: the plane through three minima of a volume run (Fan, Sandlund, Ko 2025,
  arXiv 2511.04808; :func:`landform.views.plane_through`), each minimum's own landscape.

Each writes contour figures on a log colour scale, a surface figure, and an ``.npz`` of the grid
(readable by :func:`landform.views.load_plane_losses`, plus the kind's extras).

Where the minimum and its data come from:

- a volume run folder (``landform run`` of a volume config): the minimum of ``level`` (default:
  the smallest trained level) for ``model_seed`` and ``arm``, on its own training examples
  (the first base + q of the run's ordered pool);
- a trained-model folder (:func:`landform.train.save_trained`; ``theta.npy`` + ``model.json``):
  inside a volume run's train stage its data and training are found there; elsewhere pass the
  data (a dataset name or an ``.npz`` with ``x`` and ``y``).

The trajectory for ``pca``: a file given by ``trajectory`` (or ``trajectory.npz`` beside
``theta.npy``, as :func:`save_trajectory` writes it); otherwise, for a minimum of a volume run,
the stored run holds no trajectory, so the minimum is trained again from its stored
initialisation seed, data and training config with recording on (as long as the original
training; said in the log, compared with the stored minimum, and kept in the output folder so
that the next view reuses it).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError
from landform.files import atomic_path, atomic_write_bytes
from landform.flat import ravel
from landform.landscape import Landscape
from landform.views.planes import PlaneLosses, framing_grid, plane_grid, plane_losses, plane_through
from landform.views.random import RANDOM_RANGE, random_plane_losses, random_slice_losses
from landform.views.runs import (
    RunFolderError,
    available_minima,
    find_minimum,
    load_pool,
    load_three_minima,
    read_volume_run,
)
from landform.views.trajectory import path_grid, pca_plane
from landform.views.video import save_plane_losses

VIEW_KINDS = ("random", "pca", "minima")
TRAJECTORY_FILE = "trajectory.npz"


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
    try:
        marker = json.loads((folder.parent / "_stage.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    inputs = marker.get("inputs") if isinstance(marker, dict) else None
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
            for xs, ys in (("x", "y"), ("pool_x", "pool_y"), ("train_x", "train_y")):
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
    if (path / "config.json").is_file():
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
            run.folder / "figures" / "views",
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
        data_file = path.parent.parent / f"data-{inputs['data']}" / "data.npz"
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


def save_trajectory(path: str | os.PathLike, trajectory) -> Path:
    """Write a :class:`landform.train.Trajectory` (``epochs``, ``thetas``) as an ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, epochs=np.asarray(trajectory.epochs), thetas=np.asarray(trajectory.thetas))
    return atomic_write_bytes(path, buffer.getvalue())


def load_trajectory(path: str | os.PathLike):
    """Read a file written by :func:`save_trajectory` (or any ``.npz`` with ``thetas`` (T, n) and
    optionally ``epochs``) as a :class:`landform.train.Trajectory`."""
    from landform.train.loop import Trajectory

    try:
        with np.load(path, allow_pickle=False) as data:
            thetas = data["thetas"]
            epochs = data["epochs"] if "epochs" in data else np.arange(len(thetas))
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(
            f"cannot read a trajectory from {str(path)!r} ({error}); write one with "
            "landform.views.save_trajectory(path, fit(..., record_every=k).trajectory)"
        ) from None
    return Trajectory(np.asarray(epochs), np.asarray(thetas))


def record_trajectory(retraining: Retraining, record_every: int = 1, progress: Any = None):
    """Train the minimum again as ``retraining`` says, recording θ every ``record_every`` epochs;
    the :class:`landform.train.Trajectory` up to the stored checkpoint's epoch."""
    from landform.data.base import Split
    from landform.train import fit
    from landform.train.loop import Trajectory

    config = retraining.config
    if retraining.checkpoint.startswith("epoch"):  # a checkpoint of the run: stop there
        config = config.model_copy(update={"epochs": int(retraining.checkpoint[len("epoch") :])})
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
    if retraining.checkpoint.startswith("epoch"):
        return int(retraining.checkpoint[len("epoch") :])
    return int(retraining.config.epochs)


# ============================================================================ writing


def _save_figure(path: Path, figure) -> Path:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=figure.dpi, format=path.suffix.lstrip("."))
    return path


def _plane_and_surface(
    written: dict[str, Path], stem: Path, losses: PlaneLosses, title: str, path: np.ndarray | None = None, **labels
) -> None:
    from landform.views.figures import plane_figure, plot_path, surface_figure

    figure = plane_figure(losses, title=title, **labels)
    if path is not None:
        ax = figure.axes[0]
        plot_path(ax, path)
        ax.legend(loc="upper right", fontsize=8)
    written["plane"] = _save_figure(stem.with_suffix(".png"), figure)
    surface = surface_figure(losses, title=title, **labels)
    written["surface"] = _save_figure(stem.with_name(stem.name + "_surface.png"), surface)


# ============================================================================ the views


class ViewResult(NamedTuple):
    """What a view wrote (``{name: path}``) and what it measured (``summary``)."""

    written: dict[str, Path]
    summary: dict[str, Any]


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
    """One view of a minimum (see the module docstring): figures and the grid written under
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
    theta = jnp.asarray(landscape.theta)
    description = f"{landscape.num_examples}-example landscape"
    log(f"minimum {source.label}: {landscape.dim} parameters, {description} ({source.loss})")
    written: dict[str, Path] = {}
    if kind == "random":
        a_range = RANDOM_RANGE if range_ is None else tuple(range_)
        _, losses = random_plane_losses(
            landscape,
            theta,
            key=seed,
            resolution=resolution,
            a_range=a_range,
            normalization=normalization,
            unit_axis=source.model.unit_axis,
            progress=progress,
        )
        t = np.linspace(*a_range, max(resolution, 51))
        slices = [
            random_slice_losses(
                landscape,
                theta,
                key=seed,
                index=i,
                t=t,
                normalization=normalization,
                unit_axis=source.model.unit_axis,
                progress=progress,
            )[1]
            for i in range(2)
        ]
        stem = out / f"random_{source.label}"
        title = f"random plane ({normalization}), {description}"
        _plane_and_surface(written, stem, losses, title)
        written["slices"] = _save_figure(stem.with_name(stem.name + "_slices.png"), _slices_figure(slices, title))
        written["grid"] = save_plane_losses(
            stem.with_suffix(".npz"),
            losses,
            t=t,
            slice_losses=np.stack([s.losses[-1] for s in slices]),
            normalization=normalization,
            seed=seed,
        )
        centre = float(losses.anchor_losses[-1, 0])
        summary = {"loss_at_minimum": centre, "max_loss": float(np.nanmax(losses.losses[-1]))}
    else:
        recorded = _trajectory_for(source, trajectory, out, record_every, progress, log)
        if recorded.thetas.ndim != 2 or recorded.thetas.shape[1] != landscape.dim:
            raise ConfigError(
                f"the trajectory has snapshots of shape {recorded.thetas.shape[1:]}, but the minimum has "
                f"{landscape.dim} parameters; pass the trajectory of this model"
            )
        stored = np.asarray(theta, np.float64)
        end = recorded.thetas[-1].astype(np.float64)
        gap = float(np.linalg.norm(end - stored) / max(float(np.linalg.norm(stored)), 1e-30))
        log(
            f"the trajectory's end vs the minimum: relative distance {gap:.2e}"
            + (" (the same point)" if gap <= 1e-4 else "; the plane is centred on the trajectory's end, not on it")
        )
        traced = pca_plane(recorded)
        grid = path_grid(traced.path, resolution) if range_ is None else plane_grid(resolution, tuple(range_))
        losses = plane_losses(landscape, traced.plane, grid=grid, progress=progress)
        ratio = traced.explained_variance_ratio
        log(
            f"principal components of {len(traced.path)} snapshots: explained variance ratios "
            f"{ratio[0]:.3f} and {ratio[1]:.3f} (together {ratio.sum():.3f})"
        )
        stem = out / f"pca_{source.label}"
        title = f"trajectory plane, {description}"
        labels = {
            "xlabel": f"principal component 1 ({100 * ratio[0]:.1f} %)",
            "ylabel": f"principal component 2 ({100 * ratio[1]:.1f} %)",
        }
        _plane_and_surface(written, stem, losses, title, traced.path, **labels)
        written["grid"] = save_plane_losses(
            stem.with_suffix(".npz"),
            losses,
            path=traced.path,
            path_epochs=recorded.epochs,
            distances=traced.distances,
            explained_variance=traced.explained_variance,
            explained_variance_ratio=ratio,
        )
        summary = {
            "explained_variance_ratio": [float(r) for r in ratio],
            "snapshots": len(traced.path),
            "end_to_minimum_relative_distance": gap,
            "loss_at_end": float(losses.anchor_losses[-1, 0]),
            "loss_at_start": float(losses.anchor_losses[-1, 1]),
        }
    return ViewResult(written, summary)


def _slices_figure(slices, title: str):
    from landform.views.figures import new_figure

    figure = new_figure((6.4, 4.2))
    ax = figure.add_subplot(1, 1, 1)
    for i, (colour, line) in enumerate(zip(("#1f77b4", "#d62728"), slices)):
        ax.plot(line.t, line.losses[-1], color=colour, label=f"θ* + t·d{i + 1}")
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")
    if slices[0].metric == "loss" and all(np.all(s.losses[-1] > 0) for s in slices):
        ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("loss")
    ax.set_title(title.replace("plane", "slices"), fontsize=10)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _minima_view(path, *, levels, resolution, range_, out, model_seed, arm, orthonormal, progress, log) -> ViewResult:
    from landform.views.figures import new_figure, plot_plane, shared_norm, surface_figure

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"--kind minima needs a volume run folder (three minima and their data); {str(folder)!r} is not one"
        )
    three = load_three_minima(folder, None if levels is None else tuple(levels), model_seed=model_seed, arm=arm)
    run, minima, seed, levels = three.run, three.minima, three.seed, three.levels
    sizes = sorted({m.size for m in minima})
    x, y = load_pool(minima[0], max(sizes))
    landscape = _landscape(three.model, three.params, x, y, run.loss)
    plane = plane_through(*three.thetas, kind="orthonormal" if orthonormal else "affine")
    grid = framing_grid(plane, resolution) if range_ is None else plane_grid(resolution, tuple(range_))
    log(f"plane through the minima of levels {', '.join(map(str, levels))} (seed {seed}), landscapes {sizes}")
    losses = plane_losses(landscape, plane, sizes, grid=grid, progress=progress)
    out = Path(out) if out is not None else run.folder / "figures" / "views"
    stem = out / f"minima_seed{seed}_levels{'-'.join(map(str, levels))}"
    labels = [f"trained on {m.size}" for m in minima]
    norm = shared_norm(losses.losses)
    figure = new_figure((5.6 * len(sizes), 5.0))
    for k in range(len(sizes)):
        ax = figure.add_subplot(1, len(sizes), k + 1)
        plot_plane(ax, losses, k, norm=norm, labels=labels, colorbar=k == len(sizes) - 1)
    figure.tight_layout()
    written = {"plane": _save_figure(stem.with_suffix(".png"), figure)}
    written["surface"] = _save_figure(stem.with_name(stem.name + "_surface.png"), surface_figure(losses, norm=norm))
    written["grid"] = save_plane_losses(stem.with_suffix(".npz"), losses, levels=np.asarray(levels))
    summary = {"anchor_losses": losses.anchor_losses.tolist(), "sizes": sizes}
    return ViewResult(written, summary)


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
