"""Planes and 1-D slices along random directions around one point (Li et al. 2018).

Li, Xu, Taylor, Studer, Goldstein 2018 ("Visualizing the Loss Landscape of Neural Nets",
NeurIPS) draw Gaussian directions d1, d2 and rescale them unit by unit (filter normalisation),
so that each unit's block of d has the norm of the same unit in θ*:

    d_u = ‖θ*_u‖ · g_u / ‖g_u‖,

and plot the loss over the plane and the line

    θ(a, b) = θ* + a·d1 + b·d2,        θ(t) = θ* + t·d1,

for a, b, t in [−1, 1] (a coordinate of 1 moves every unit by its own norm). Rescaling one unit
of a ReLU network by c > 0 and the next by 1/c leaves the function unchanged; filter
normalisation makes the picture unchanged too, which is why it is the usual choice.

The directions come from :func:`landform.volume.random_directions` (direction i from
``fold_in(key, i)``; normalisations "filter", "filter_scale", "layer" and "none" as documented
there). Without a parameter layout (a :meth:`Landscape.from_function` landscape has no layers)
there are no units to normalise by, and the directions are Gaussian directions rescaled to unit
norm, d_i = g_i / ‖g_i‖ (a coordinate of 1 is then a step of Euclidean length 1).

Evaluation goes through :func:`landform.views.plane_losses` and
:func:`landform.views.direction_losses`: grid points in blocks, per-example losses chunked within
the landscape's memory budget, every nested landscape from one evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landform.directions import random_directions
from landform.errors import ConfigError, ShapeError
from landform.flat import LeafSlice, leaf_slices
from landform.landscape import Landscape
from landform.views.planes import Plane, PlaneGrid, PlaneLosses, SliceLosses, direction_losses, plane_grid, plane_losses

RANDOM_RANGE = (-1.0, 1.0)
VIEW_NORMALIZATIONS = ("filter", "filter_scale", "layer", "none")


def _key(key: jax.Array | int) -> jax.Array:
    if isinstance(key, (int, np.integer)):
        return jax.random.key(int(key))
    return key


def _layout(theta: jax.Array, layout: Any) -> list[LeafSlice] | None:
    """The leaf layout of θ: ``None``, a pytree, ``leaf_slices`` or a :class:`Landscape` (its
    ``unravel``; ``None`` for a landscape built from a function)."""
    if isinstance(layout, Landscape):
        return None if layout.unravel is None else leaf_slices(layout.unravel(theta))
    if layout is None:
        return None
    if isinstance(layout, Sequence) and layout and all(isinstance(s, LeafSlice) for s in layout):
        return list(layout)
    return leaf_slices(layout)


def view_directions(
    theta: jax.Array,
    layout: Any = None,
    *,
    key: jax.Array | int = 0,
    count: int = 2,
    normalization: str = "filter",
    biases: str = "zero",
    perturb: str = "all",
    unit_axis: int = -1,
) -> jax.Array:
    """``count`` random directions around θ, shape (count, n); direction i from ``fold_in(key, i)``.

    ``layout`` is the parameter pytree θ was raveled from, its ``leaf_slices``, or a
    :class:`Landscape` (whose ``unravel`` gives it). With a layout the directions are normalised
    as ``normalization`` says (default "filter", Li et al. 2018; see
    :mod:`landform.directions` for "filter_scale", "layer", "none", ``biases``,
    ``perturb`` and ``unit_axis``: -1 for Flax and landform models, 0 for Equinox). Without one
    (a plain function of θ) they are unit-norm Gaussian directions g_i / ‖g_i‖, whatever
    ``normalization`` says.
    """
    theta = jnp.asarray(theta)
    if theta.ndim != 1:
        raise ShapeError(f"θ must be a flat vector, got shape {tuple(theta.shape)}; ravel the parameters first")
    if count < 1:
        raise ConfigError(f"count must be at least 1, got {count}")
    slices = _layout(theta, layout)
    key = _key(key)
    if slices is None:
        family = random_directions(key, theta, None, normalization="none")
        gaussians = family.batch(np.arange(count))
        return gaussians / jnp.linalg.norm(gaussians, axis=1, keepdims=True)
    family = random_directions(
        key, theta, slices, normalization=normalization, biases=biases, perturb=perturb, unit_axis=unit_axis
    )
    return family.batch(np.arange(count))


def random_plane(
    theta: jax.Array,
    layout: Any = None,
    *,
    key: jax.Array | int = 0,
    normalization: str = "filter",
    biases: str = "zero",
    perturb: str = "all",
    unit_axis: int = -1,
) -> Plane:
    """The plane θ(a, b) = θ + a·d1 + b·d2 through θ along two random directions (kind "random").

    d1, d2 are :func:`view_directions` 0 and 1 (filter-normalised by default, unit-norm Gaussian
    without a layout). θ is the only anchor, at (0, 0).
    """
    directions = view_directions(
        theta,
        layout,
        key=key,
        count=2,
        normalization=normalization,
        biases=biases,
        perturb=perturb,
        unit_axis=unit_axis,
    )
    theta = jnp.asarray(theta)
    dtype = jnp.result_type(theta, directions)
    vectors = jnp.concatenate([theta[None], directions]).astype(dtype)
    return Plane(vectors, jnp.eye(3, dtype=dtype), np.zeros((1, 2)), "random")


def random_plane_losses(
    landscape: Landscape,
    theta: jax.Array | None = None,
    *,
    key: jax.Array | int = 0,
    resolution: int | tuple[int, int] = 31,
    a_range: tuple[float, float] = RANDOM_RANGE,
    b_range: tuple[float, float] | None = None,
    normalization: str = "filter",
    biases: str = "zero",
    perturb: str = "all",
    unit_axis: int = -1,
    layout: Any = None,
    sizes: Sequence[int] | None = None,
    metric: str = "loss",
    progress: Any = None,
) -> tuple[Plane, PlaneLosses]:
    """L(θ + a·d1 + b·d2) on a ``resolution``² grid over ``a_range`` × ``b_range`` (default
    [−1, 1]², Li et al. 2018's view): the plane (:func:`random_plane`) and its losses
    (:func:`landform.views.plane_losses`).

    ``theta`` defaults to the landscape's own θ*; ``layout`` to the landscape (its ``unravel``),
    so filter normalisation needs nothing more for a model's landscape.
    """
    theta = _centre(landscape, theta)
    plane = random_plane(
        theta,
        landscape if layout is None else layout,
        key=key,
        normalization=normalization,
        biases=biases,
        perturb=perturb,
        unit_axis=unit_axis,
    )
    grid = plane_grid(resolution, a_range, b_range)
    return plane, plane_losses(landscape, plane, sizes, grid=grid, metric=metric, progress=progress)


def random_slice_losses(
    landscape: Landscape,
    theta: jax.Array | None = None,
    *,
    key: jax.Array | int = 0,
    index: int = 0,
    t: Any = None,
    normalization: str = "filter",
    biases: str = "zero",
    perturb: str = "all",
    unit_axis: int = -1,
    layout: Any = None,
    sizes: Sequence[int] | None = None,
    metric: str = "loss",
    progress: Any = None,
) -> tuple[jax.Array, SliceLosses]:
    """L(θ + t·d) along random direction ``index`` (:func:`view_directions`; direction 0 is the
    a-axis of :func:`random_plane` with the same key, 1 its b-axis) for each t (default 51
    points in [−1, 1]): the direction and its :class:`SliceLosses`."""
    theta = _centre(landscape, theta)
    if index < 0:
        raise ConfigError(f"index must be a non-negative direction number, got {index}")
    directions = view_directions(
        theta,
        landscape if layout is None else layout,
        key=key,
        count=index + 1,
        normalization=normalization,
        biases=biases,
        perturb=perturb,
        unit_axis=unit_axis,
    )
    direction = directions[index]
    t = np.linspace(*RANDOM_RANGE, 51) if t is None else t
    return direction, direction_losses(landscape, theta, direction, t, sizes, metric=metric, progress=progress)


def _centre(landscape: Landscape, theta: jax.Array | None) -> jax.Array:
    if theta is None:
        if landscape.theta is None:
            raise ConfigError("this landscape has no θ* of its own (built from a function); pass theta")
        return jnp.asarray(landscape.theta)
    theta = jnp.asarray(theta)
    if theta.shape != (landscape.dim,):
        raise ShapeError(f"θ has shape {tuple(theta.shape)}; this landscape expects ({landscape.dim},)")
    return theta


__all__ = [
    "RANDOM_RANGE",
    "VIEW_NORMALIZATIONS",
    "PlaneGrid",
    "random_plane",
    "random_plane_losses",
    "random_slice_losses",
    "view_directions",
]
