"""Planes and 1-D slices through parameter space, and the loss of every nested landscape on them.

**Planes.** Three points θ0, θ1, θ2 ∈ R^n span the plane

    θ(a, b) = θ0 + a·(θ1 − θ0) + b·(θ2 − θ0)             (affine coordinates)

in which θ0 sits at (0, 0), θ1 at (1, 0) and θ2 at (0, 1). It is computed in the barycentric
form θ(a, b) = (1 − a − b)·θ0 + a·θ1 + b·θ2, so the three points are reproduced bit for bit at
their anchors. The orthonormal version (Garipov et al. 2018, "Loss Surfaces, Mode Connectivity,
and Fast Ensembling of DNNs"; the plots of Li et al. 2018, "Visualizing the Loss Landscape of
Neural Nets") uses Gram–Schmidt directions

    u = (θ1 − θ0) / ‖θ1 − θ0‖,   v = w / ‖w‖ with w = (θ2 − θ0) − ⟨θ2 − θ0, u⟩·u,
    θ(x, y) = θ0 + x·u + y·v,

so distances in the picture are true Euclidean distances in parameter space: θ0 sits at (0, 0),
θ1 at (‖θ1 − θ0‖, 0) and θ2 at (⟨θ2 − θ0, u⟩, ‖w‖).

**Nested landscapes.** For examples ordered once and nested landscapes of the first k examples,
L_k(θ) = (1/k) Σ_{i≤k} ℓ_i(θ). One evaluation of the per-example losses ℓ_i at a grid point gives
every L_k there (:meth:`landform.landscape.Landscape.prefix_losses_batch`), which is how the
minima-volume study (Fan, Sandlund, Ko 2025, arXiv 2511.04808) looks at one plane in many
landscapes.

**Slices.** The loss along θ(t) = θ + t·d (:func:`direction_losses`) or along the straight line
θ(t) = (1 − t)·θA + t·θB between two points (:func:`interpolation_losses`; Goodfellow et al.
2015, "Qualitatively characterizing neural network optimization problems").

Everything here is pure: results are NamedTuples of NumPy arrays; nothing is read, written or
printed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, ShapeError
from landform.landscape import Landscape, prefix_means
from landform.progress import track

PLANE_KINDS = ("affine", "orthonormal")
DEFAULT_RANGE = (-0.5, 1.5)
DEFAULT_RESOLUTION = 41


# ============================================================================ planes


class Plane(NamedTuple):
    """A plane θ(a, b) = Σ_j c_j(a, b)·vectors[j] with (c_0, c_1, c_2) = mixing @ (1, a, b).

    Affine planes keep the three points as ``vectors`` and ``mixing`` maps (1, a, b) to the
    barycentric weights (1 − a − b, a, b); orthonormal planes keep (θ0, u, v) and ``mixing`` is
    the identity. ``anchors`` holds the (a, b) coordinates of θ0, θ1, θ2 (rows). Build one with
    :func:`plane_through`.
    """

    vectors: jax.Array  # (3, n)
    mixing: jax.Array  # (3, 3)
    anchors: np.ndarray  # (3, 2)
    kind: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def origin(self) -> jax.Array:
        """θ(0, 0) = θ0."""
        return self.vectors[0]

    @property
    def basis(self) -> jax.Array:
        """The two directions (∂θ/∂a, ∂θ/∂b), shape (2, n)."""
        m = self.mixing.astype(self.vectors.dtype)
        return m[:, 1:].T @ self.vectors


def plane_through(theta0: jax.Array, theta1: jax.Array, theta2: jax.Array, *, kind: str = "affine") -> Plane:
    """The plane through θ0, θ1, θ2 (see the module docstring for both coordinate systems).

    ``kind`` is "affine" (θ0, θ1, θ2 at (0, 0), (1, 0), (0, 1)) or "orthonormal" (Gram–Schmidt
    directions, distances true to parameter space). Raises :class:`ConfigError` if the points
    are (numerically) collinear, since they then span no plane.
    """
    if kind not in PLANE_KINDS:
        raise ConfigError(f"unknown plane kind {kind!r}; use one of {', '.join(PLANE_KINDS)}")
    points = [jnp.asarray(t) for t in (theta0, theta1, theta2)]
    shapes = {tuple(p.shape) for p in points}
    if len(shapes) != 1 or points[0].ndim != 1:
        raise ShapeError(
            f"the three points must be flat vectors of one length; got shapes {[tuple(p.shape) for p in points]}"
        )
    dtype = jnp.result_type(*points)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.float32
    vectors = jnp.stack(points).astype(dtype)
    # Gram–Schmidt in float64 on the host: exact enough to judge collinearity and build u, v.
    host = np.asarray(vectors, dtype=np.float64)
    d1, d2 = host[1] - host[0], host[2] - host[0]
    n1 = float(np.linalg.norm(d1))
    if n1 == 0.0:
        raise ConfigError("θ0 and θ1 are the same point; three distinct, non-collinear points span a plane")
    u = d1 / n1
    along = float(d2 @ u)
    w = d2 - along * u
    nw = float(np.linalg.norm(w))
    scale = max(n1, float(np.linalg.norm(d2)))
    if nw <= 1e-6 * scale:
        raise ConfigError(
            "θ0, θ1 and θ2 are (numerically) collinear and span no plane; choose three points that "
            "do not lie on one line"
        )
    if kind == "affine":
        mixing = jnp.asarray([[1.0, -1.0, -1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype)
        anchors = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        return Plane(vectors, mixing, anchors, kind)
    v = w / nw
    basis = jnp.asarray(np.stack([host[0], u, v]), dtype)
    anchors = np.array([[0.0, 0.0], [n1, 0.0], [along, nw]])
    return Plane(basis, jnp.eye(3, dtype=dtype), anchors, kind)


# Landscape.prefix_losses_batch is per_example_batch followed by prefix_means; the prefix means
# are jitted here (sizes static) so that they compile once instead of op by op.
_prefix_means = jax.jit(prefix_means, static_argnums=1)


@jax.jit
def _points(vectors: jax.Array, mixing: jax.Array, ab: jax.Array) -> jax.Array:
    """Rows θ(a_p, b_p) for coordinates ``ab`` (P, 2)."""
    # Elementwise products, not matrix products: no reduced-precision dot (TF32 on GPUs) and
    # θ0, θ1, θ2 come back bit for bit at their anchors (weights exactly 0 and 1 there).
    a, b = ab[:, :1], ab[:, 1:]
    weights = [mixing[j, 0] + mixing[j, 1] * a + mixing[j, 2] * b for j in range(3)]  # 3 × (P, 1)
    return weights[0] * vectors[0] + weights[1] * vectors[1] + weights[2] * vectors[2]


def _mixed(vectors: jax.Array, mixing: jax.Array, column: int) -> jax.Array:
    """Σ_j mixing[j, column]·vectors[j], elementwise (no reduced-precision dot)."""
    return mixing[0, column] * vectors[0] + mixing[1, column] * vectors[1] + mixing[2, column] * vectors[2]


def plane_points(plane: Plane, a: Any, b: Any) -> jax.Array:
    """θ(a, b) for coordinates of any (broadcastable) shape S: an array of shape S + (n,)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    dtype = plane.vectors.dtype
    ab = jnp.asarray(np.stack([a.ravel(), b.ravel()], axis=1), dtype)
    return _points(plane.vectors, plane.mixing.astype(dtype), ab).reshape(a.shape + (plane.dim,))


def plane_coordinates(plane: Plane, thetas: jax.Array) -> np.ndarray:
    """(a, b) of the point of the plane closest to each θ (least squares), shape (m, 2).

    Use it to mark other points (a curve, a fourth minimum) on a plane's figure; their distance
    from the plane is ‖θ − θ(a, b)‖.
    """
    thetas = np.atleast_2d(np.asarray(thetas, np.float64))
    if thetas.shape[1] != plane.dim:
        raise ShapeError(f"points have {thetas.shape[1]} coordinates; the plane lives in R^{plane.dim}")
    basis = np.asarray(plane.basis, np.float64)  # (2, n)
    origin = np.asarray(plane.origin, np.float64)
    coords, *_ = np.linalg.lstsq(basis.T, (thetas - origin).T, rcond=None)
    return coords.T


class PlaneGrid(NamedTuple):
    """Grid coordinates: ``a`` (A,) and ``b`` (B,), point (i, j) at (a[i], b[j])."""

    a: np.ndarray
    b: np.ndarray


def plane_grid(
    resolution: int | tuple[int, int] = DEFAULT_RESOLUTION,
    a_range: tuple[float, float] = DEFAULT_RANGE,
    b_range: tuple[float, float] | None = None,
) -> PlaneGrid:
    """An evenly spaced grid: ``resolution`` points over ``a_range`` and over ``b_range``
    (default: the same as ``a_range``; default range [−0.5, 1.5], which frames θ0, θ1, θ2 of an
    affine plane with a margin of half their spacing)."""
    b_range = a_range if b_range is None else b_range
    counts = (resolution, resolution) if isinstance(resolution, (int, np.integer)) else tuple(resolution)
    if len(counts) != 2 or min(counts) < 2:
        raise ConfigError(f"resolution must be at least 2 points per axis, got {resolution}")
    for name, (low, high) in (("a_range", a_range), ("b_range", b_range)):
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"{name} must be an increasing pair of finite numbers, got {(low, high)}")
    return PlaneGrid(np.linspace(*a_range, int(counts[0])), np.linspace(*b_range, int(counts[1])))


def framing_grid(
    plane: Plane, resolution: int | tuple[int, int] = DEFAULT_RESOLUTION, margin: float = 0.5
) -> PlaneGrid:
    """A grid over the bounding box of the three anchors, widened by ``margin`` times its
    extent on each side. For an affine plane this is [−0.5, 1.5]² (the default view); for an
    orthonormal plane, the same framing in true distances."""
    low, high = plane.anchors.min(axis=0), plane.anchors.max(axis=0)
    extent = high - low
    extent = np.where(extent > 0, extent, extent.max())
    low, high = low - margin * extent, high + margin * extent
    return plane_grid(resolution, (float(low[0]), float(high[0])), (float(low[1]), float(high[1])))


# ============================================================================ evaluation


def _sizes(landscape: Landscape, sizes: Sequence[int] | None) -> tuple[int, ...]:
    if sizes is None:
        return (landscape.num_examples,)
    sizes = tuple(int(k) for k in np.atleast_1d(np.asarray(sizes)))
    if not sizes:
        raise ConfigError("give at least one landscape size")
    bad = [k for k in sizes if not 1 <= k <= landscape.num_examples]
    if bad:
        raise ConfigError(
            f"landscape sizes must lie in 1..{landscape.num_examples} (the examples of this landscape); got {bad}"
        )
    return sizes


def _block_width(landscape: Landscape, examples: int, total: int) -> int:
    """Points per evaluation block: a power of two that keeps the points (m, n) and their
    per-example values (m, N) within an eighth of the landscape's memory budget."""
    budget = max(landscape.memory_budget // 8, 1 << 20)
    width = max(1, min(256, budget // (4 * (2 * landscape.dim + examples))))
    width = 1 << int(math.floor(math.log2(width)))
    return int(min(width, 1 << int(math.ceil(math.log2(max(total, 1))))))


def _evaluate_coordinates(
    landscape: Landscape,
    vectors: jax.Array,
    mixing: jax.Array,
    ab: np.ndarray,
    sizes: tuple[int, ...],
    metric: str,
    progress: Any,
    description: str,
) -> np.ndarray:
    """Prefix means (P, len(sizes)) at the points ``mixing``-combined from ``ab`` (P, 2).

    Points are generated and evaluated in equal-width blocks (the last one padded), so one shape
    is compiled; only the first max(sizes) examples are evaluated. When the landscape reuses its
    first layer (:meth:`Landscape.span`), the points are evaluated as origin + a·u + b·v of the
    plane's origin and two directions, so the first layer's products are computed once for the
    whole grid; its values equal plain evaluation up to float rounding.
    """
    if vectors.shape[1] != landscape.dim:
        raise ShapeError(f"the points live in R^{vectors.shape[1]} but the landscape has {landscape.dim} parameters")
    largest = max(sizes)
    target = landscape
    if largest < landscape.num_examples and landscape.x is not None:
        target = landscape.subset(largest)
    dtype = vectors.dtype
    mixing = mixing.astype(dtype)
    total = ab.shape[0]
    width = _block_width(target, target.num_examples, total)
    span = None
    if target.reuses_first_layer and target.span_bytes(2) <= target.memory_budget // 2:
        origin, u, v = (_mixed(vectors, mixing, k) for k in range(3))  # θ(0, 0), ∂θ/∂a, ∂θ/∂b
        span = target.span(origin, jnp.stack([u, v]))
        rows = jnp.tile(jnp.arange(2, dtype=jnp.int32)[None], (width, 1))
    out = np.empty((total, len(sizes)), dtype=np.float64)
    with track(progress, description, total) as bar:
        for start in range(0, total, width):
            block = ab[start : start + width]
            count = block.shape[0]
            if count < width:
                block = np.concatenate([block, np.repeat(block[-1:], width - count, axis=0)])
            coordinates = jnp.asarray(block, dtype)
            if span is None:
                per_example = target.per_example_batch(_points(vectors, mixing, coordinates), metric=metric)
            else:
                per_example = span.per_example(rows, coordinates, metric=metric)
            values = _prefix_means(per_example, sizes)
            out[start : start + count] = np.asarray(values, dtype=np.float64)[:count]
            bar.advance(count)
    return out


class PlaneLosses(NamedTuple):
    """The loss of each nested landscape on a grid over a plane.

    ``losses[k, j, i]`` is L_{sizes[k]}(θ(a[i], b[j])): rows follow b (the vertical axis), as
    ``contourf(a, b, losses[k])`` expects. ``anchors`` are the (a, b) of θ0, θ1, θ2 and
    ``anchor_losses[k, p]`` the loss of landscape k at θ_p.
    """

    a: np.ndarray  # (A,)
    b: np.ndarray  # (B,)
    sizes: tuple[int, ...]
    losses: np.ndarray  # (K, B, A)
    anchors: np.ndarray  # (3, 2)
    anchor_losses: np.ndarray  # (K, 3)
    kind: str
    metric: str


def plane_losses(
    landscape: Landscape,
    plane: Plane,
    sizes: Sequence[int] | None = None,
    *,
    grid: PlaneGrid | int | None = None,
    metric: str = "loss",
    progress: Any = None,
) -> PlaneLosses:
    """L_k(θ(a, b)) for every nested landscape k in ``sizes`` at every point of ``grid``.

    One per-example evaluation per grid point gives all k at once (prefix means of the first k
    examples; default ``sizes``: all examples). ``grid`` is a :class:`PlaneGrid`, a resolution
    (then the grid frames the three anchors, see :func:`framing_grid`), or ``None`` (41 × 41
    framing points). ``metric`` "correct" gives accuracies instead of losses.
    """
    sizes = _sizes(landscape, sizes)
    if not isinstance(grid, PlaneGrid):  # None, a resolution, or (resolution_a, resolution_b)
        grid = framing_grid(plane, DEFAULT_RESOLUTION if grid is None else grid)
    a, b = np.asarray(grid.a, np.float64), np.asarray(grid.b, np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.size < 1 or b.size < 1:
        raise ShapeError(f"grid coordinates must be 1-D; got a {a.shape}, b {b.shape}")
    ga, gb = np.meshgrid(a, b)  # (B, A)
    ab = np.concatenate([np.stack([ga.ravel(), gb.ravel()], axis=1), plane.anchors])
    values = _evaluate_coordinates(
        landscape, plane.vectors, plane.mixing, ab, sizes, metric, progress, f"plane ({b.size}×{a.size} points)"
    )
    grid_values, anchor_values = values[: ga.size], values[ga.size :]
    losses = grid_values.T.reshape(len(sizes), b.size, a.size)
    return PlaneLosses(a, b, sizes, losses, np.array(plane.anchors), anchor_values.T.copy(), plane.kind, metric)


# ============================================================================ 1-D slices


class SliceLosses(NamedTuple):
    """The loss of each nested landscape along a line: ``losses[k, p]`` = L_{sizes[k]}(θ(t[p]))."""

    t: np.ndarray  # (T,)
    sizes: tuple[int, ...]
    losses: np.ndarray  # (K, T)
    metric: str


def _line(
    landscape: Landscape,
    start: jax.Array,
    direction: jax.Array,
    t: Any,
    sizes: Sequence[int] | None,
    metric: str,
    progress: Any,
    interpolate_to: jax.Array | None = None,
) -> SliceLosses:
    sizes = _sizes(landscape, sizes)
    t = np.asarray(t, np.float64)
    if t.ndim != 1 or t.size < 1:
        raise ShapeError(f"t must be a 1-D array of positions, got shape {t.shape}")
    start = jnp.asarray(start)
    other = direction if interpolate_to is None else interpolate_to
    other = jnp.asarray(other)
    if start.shape != (landscape.dim,) or other.shape != (landscape.dim,):
        raise ShapeError(
            f"the slice's vectors have shapes {tuple(start.shape)} and {tuple(other.shape)}; "
            f"this landscape expects ({landscape.dim},)"
        )
    dtype = jnp.result_type(start, other)
    if interpolate_to is None:  # θ + t·d, as the plane (θ, d, ·) with weights (1, t, 0)
        mixing = jnp.eye(3, dtype=dtype)
    else:  # (1 − t)·θA + t·θB, exact at t = 0 and t = 1
        mixing = jnp.asarray([[1.0, -1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype)
    vectors = jnp.stack([start, other, jnp.zeros_like(start)]).astype(dtype)
    ab = np.stack([t, np.zeros_like(t)], axis=1)
    values = _evaluate_coordinates(landscape, vectors, mixing, ab, sizes, metric, progress, f"slice ({t.size} points)")
    return SliceLosses(t, sizes, values.T.copy(), metric)


def direction_losses(
    landscape: Landscape,
    theta: jax.Array,
    direction: jax.Array,
    t: Any = None,
    sizes: Sequence[int] | None = None,
    *,
    metric: str = "loss",
    progress: Any = None,
) -> SliceLosses:
    """L_k(θ + t·d) for each t (default 51 points in [−1, 1]) and nested landscape k."""
    t = np.linspace(-1.0, 1.0, 51) if t is None else t
    return _line(landscape, theta, direction, t, sizes, metric, progress)


def interpolation_losses(
    landscape: Landscape,
    theta_a: jax.Array,
    theta_b: jax.Array,
    t: Any = None,
    sizes: Sequence[int] | None = None,
    *,
    metric: str = "loss",
    progress: Any = None,
) -> SliceLosses:
    """L_k((1 − t)·θA + t·θB) for each t (default 61 points in [−0.25, 1.25]) and nested
    landscape k: the linear interpolation between two minima (Goodfellow et al. 2015)."""
    t = np.linspace(-0.25, 1.25, 61) if t is None else t
    return _line(landscape, theta_a, theta_b, t, sizes, metric, progress, interpolate_to=theta_b)
