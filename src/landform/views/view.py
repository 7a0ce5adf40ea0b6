"""The classic landscape views of a minimum, drawn and written to files: pure geometry on a
given :class:`landform.landscape.Landscape`.

Three kinds (``landform view RUN_OR_CHECKPOINT --kind ...``, which finds the minimum and its
data with :func:`landform.studies.volume.landscape_view`):

- ``random`` (:func:`random_view`): the plane θ* + a·d1 + b·d2 along two filter-normalised random
  directions and the 1-D slices θ* + t·d1, θ* + t·d2 (Li et al. 2018, "Visualizing the Loss
  Landscape of Neural Nets"; :mod:`landform.views.random`);
- ``pca`` (:func:`pca_view`): the plane of the first two principal components of the minimum's
  training trajectory, the optimiser's path drawn on it (Li et al. 2018, section 7;
  :mod:`landform.views.trajectory`);
- ``minima`` (:func:`minima_view`): the plane through three minima (Fan, Sandlund, Ko 2025,
  arXiv 2511.04808; :func:`landform.views.plane_through`), in each one's own landscape.

Each writes contour figures on a log colour scale, a surface figure, and an ``.npz`` of the grid
(readable by :func:`landform.views.load_plane_losses`, plus the kind's extras). Trajectories are
read and written by :func:`save_trajectory` and :func:`load_trajectory`.

The loading half that lived here (:class:`ViewSource`, :func:`load_view_source`,
:func:`landscape_view`, :func:`record_trajectory`, ...) reads volume run folders and retrains,
so it moved up to :mod:`landform.studies.volume.view`; its old names here still work for one
release, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError
from landform.files import atomic_path, atomic_write_bytes
from landform.landscape import Landscape
from landform.views.planes import PlaneLosses, framing_grid, plane_grid, plane_losses, plane_through
from landform.views.random import RANDOM_RANGE, random_plane_losses, random_slice_losses
from landform.views.trajectory import path_grid, pca_plane
from landform.views.video import save_plane_losses

VIEW_KINDS = ("random", "pca", "minima")


class ViewResult(NamedTuple):
    """What a view wrote (``{name: path}``) and what it measured (``summary``)."""

    written: dict[str, Path]
    summary: dict[str, Any]


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


def random_view(
    landscape: Landscape,
    out: Path,
    label: str,
    *,
    resolution: int = 31,
    range_: tuple[float, float] | None = None,
    normalization: str = "filter",
    seed: int = 0,
    unit_axis: Any = None,
    progress: Any = None,
) -> ViewResult:
    """The random plane and two slices through ``landscape``'s centre (directions of
    ``normalization``, direction i from ``fold_in(key(seed), i)``; ``unit_axis`` as the model
    says), written under ``out`` as ``random_<label>*``; ``range_`` the coordinates of both axes
    (default :data:`landform.views.RANDOM_RANGE`)."""
    theta = jnp.asarray(landscape.theta)
    description = f"{landscape.num_examples}-example landscape"
    written: dict[str, Path] = {}
    a_range = RANDOM_RANGE if range_ is None else tuple(range_)
    _, losses = random_plane_losses(
        landscape,
        theta,
        key=seed,
        resolution=resolution,
        a_range=a_range,
        normalization=normalization,
        unit_axis=unit_axis,
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
            unit_axis=unit_axis,
            progress=progress,
        )[1]
        for i in range(2)
    ]
    stem = out / f"random_{label}"
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
    return ViewResult(written, summary)


def pca_view(
    landscape: Landscape,
    recorded: Any,
    out: Path,
    label: str,
    *,
    resolution: int = 31,
    range_: tuple[float, float] | None = None,
    progress: Any = None,
    log: Callable[[str], None] = lambda message: None,
) -> ViewResult:
    """The plane of the first two principal components of the trajectory ``recorded`` (a
    :class:`landform.train.Trajectory` ending at, or near, ``landscape``'s centre), with the
    path drawn on it, written under ``out`` as ``pca_<label>*``; ``range_`` the coordinates of
    both axes (default: framing the path)."""
    theta = jnp.asarray(landscape.theta)
    description = f"{landscape.num_examples}-example landscape"
    written: dict[str, Path] = {}
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
    stem = out / f"pca_{label}"
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


def minima_view(
    landscape: Landscape,
    thetas: Any,
    sizes: Sequence[int],
    out: Path,
    *,
    levels: Sequence[int],
    seed: int,
    labels: Sequence[str],
    resolution: int = 31,
    range_: tuple[float, float] | None = None,
    orthonormal: bool = False,
    progress: Any = None,
    log: Callable[[str], None] = lambda message: None,
) -> ViewResult:
    """The plane through the three points ``thetas`` (3, n), in each nested landscape of
    ``sizes`` of ``landscape``, written under ``out`` as ``minima_seed<seed>_levels<q0>-<q1>-<q2>*``
    (``levels`` and ``seed`` name the files, ``labels`` the points); affine coordinates, or true
    distances with ``orthonormal``; ``range_`` the coordinates of both axes (default: framing
    the points)."""
    from landform.views.figures import new_figure, plot_plane, shared_norm, surface_figure

    sizes = list(sizes)
    plane = plane_through(*thetas, kind="orthonormal" if orthonormal else "affine")
    grid = framing_grid(plane, resolution) if range_ is None else plane_grid(resolution, tuple(range_))
    log(f"plane through the minima of levels {', '.join(map(str, levels))} (seed {seed}), landscapes {sizes}")
    losses = plane_losses(landscape, plane, sizes, grid=grid, progress=progress)
    stem = out / f"minima_seed{seed}_levels{'-'.join(map(str, levels))}"
    labels = list(labels)
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


#: Names that moved to :mod:`landform.studies.volume.view` (they load run folders and retrain).
_MOVED = {
    "TRAJECTORY_FILE",
    "Retraining",
    "ViewSource",
    "landscape_view",
    "load_view_source",
    "record_trajectory",
    "retraining_epochs",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        warnings.warn(
            f"landform.views.view.{name} moved to landform.studies.volume.view.{name}; the old path goes in the "
            "next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("landform.studies.volume.view"), name)
    raise AttributeError(f"module 'landform.views.view' has no attribute {name!r}")


__all__ = [
    "VIEW_KINDS",
    "ViewResult",
    "load_trajectory",
    "minima_view",
    "pca_view",
    "random_view",
    "save_trajectory",
]
