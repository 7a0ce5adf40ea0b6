"""Geometry of curves in parameter space: length, bounds, spread, curvature, arc length.

For a curve b: [0, 1] → R^n with control points θ_0..θ_K (Dold et al. 2025, "Paths and Ambient
Spaces in Neural Loss Landscapes", arXiv 2503.03382, measure how long and how curved a loss
tunnel is):

- speed        v(t) = ‖b'(t)‖
- arc length   S = ∫_0^1 ‖b'(t)‖ dt, by composite Gauss–Legendre quadrature (``intervals`` equal
  subintervals, ``nodes`` points each); the error estimate is |S_2m - S_m|, the change when the
  number of subintervals doubles (the finer value is returned). For a polychain S is the exact
  polygon length.
- chord        ‖θ_K - θ_0‖ and control-polygon length P = Σ_j ‖θ_{j+1} - θ_j‖; for a Bézier
  curve chord ≤ S ≤ P (a straight segment is shortest; the curve is the limit of
  de Casteljau polygons, each no longer than the previous one). For a polychain S = P.
- gyration radius  R_g = (1/(K+1)) Σ_j ‖θ_j - θ̄‖, the mean distance of the control points from
  their mean θ̄ = (1/(K+1)) Σ_j θ_j (a mean distance, not the root-mean-square of mechanics);
  centre norm ‖θ̄‖.
- curvature    κ(t) = sqrt(‖b'‖² ‖b''‖² - (b'·b'')²) / ‖b'‖³, computed in the equivalent stable
  form κ = ‖b''_⊥‖ / ‖b'‖² with b''_⊥ = b'' - (b'·b''/‖b'‖²) b' (the component of the
  acceleration across the curve; the difference of squares would lose half the digits for
  nearly straight curves); mean curvature ∫_0^1 κ(t) dt (uniform in t, as in the paper) and,
  for reference, total curvature ∫_0^1 κ(t) ‖b'(t)‖ dt = ∫ κ ds (radians turned).
  **Zero speed**: where b'(t) = 0 exactly the curvature is undefined (at a cusp it diverges);
  :func:`curvature` returns +inf there, never NaN, and its gradients stay finite. A mean over
  quadrature nodes that hit such a point is then +inf. A polychain has κ = 0 inside its
  segments; its turning happens at the joints (:func:`turning_angles`).
- inverse arc length  t(s) with ∫_0^{t(s)} ‖b'‖ = s: monotone (piecewise linear) interpolation
  of the cumulative arc length tabulated on a fine grid (:func:`arc_length_table`), refined by
  safeguarded Newton steps t ← t - (s(t) - s)/‖b'(t)‖ with s(t) integrated by Gauss–Legendre
  inside the grid cell (each step stays inside the cell that brackets the root).
- arc-length weights  w(t) = ‖b'(t)‖ / S: E_{t~U(0,1)}[f(b(t)) w(t)] = E_{s~U(0,S)}[f(b(t(s)))],
  the expectation uniform in arc length written as a reweighting of uniform t.

Every function is pure and ``jit``-able (quadrature sizes are Python integers). Points of the
curve are computed a chunk of t values at a time (basis (T, K+1) @ control points (K+1, n)) so
that the working memory stays bounded for curves with millions of coordinates.
"""

from __future__ import annotations

from functools import cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError
from landform.paths.curves import Curve, derivative

# Largest number of array elements a chunk of curve points may hold (b' and b'' for a chunk).
_CHUNK_ELEMENTS = 1 << 23


class Estimate(NamedTuple):
    """A numerical estimate and an estimate of its absolute error."""

    value: jax.Array
    error: jax.Array


class ArcLengthTable(NamedTuple):
    """Cumulative arc length ``s`` (non-decreasing, s[0] = 0) at increasing parameters ``t``."""

    t: jax.Array
    s: jax.Array

    @property
    def length(self) -> jax.Array:
        return self.s[-1]


class Geometry(NamedTuple):
    """Summary figures of one curve (see the module docstring for the definitions)."""

    length: jax.Array
    length_error: jax.Array
    chord: jax.Array
    polygon_length: jax.Array
    gyration_radius: jax.Array
    centre_norm: jax.Array
    mean_curvature: jax.Array
    mean_curvature_error: jax.Array
    total_curvature: jax.Array


# ---------------------------------------------------------------------------------------------
# helpers


def _safe_sqrt(squared: jax.Array) -> jax.Array:
    """sqrt with a finite (zero) gradient at 0."""
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1)), 0)


def _dtype(curve: Curve):
    dtype = curve.control_points.dtype
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32


def _as_t(curve: Curve, t) -> jax.Array:
    return jnp.asarray(t, _dtype(curve))


def _map_over_t(fn, t: jax.Array, elements_per_t: int):
    """Apply ``fn`` (a chunk of t values (c,) → pytree of (c, ...) arrays) to a 1-D ``t`` in
    chunks of at most ``_CHUNK_ELEMENTS / elements_per_t`` values (``lax.map``)."""
    count = t.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(1, elements_per_t))
    if count <= chunk:
        return fn(t)
    chunks = -(-count // chunk)
    padded = jnp.concatenate([t, jnp.broadcast_to(t[-1:], (chunks * chunk - count,))])
    out = jax.lax.map(fn, padded.reshape(chunks, chunk))
    return jax.tree_util.tree_map(lambda a: a.reshape(chunks * chunk, *a.shape[2:])[:count], out)


@cache
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    if nodes < 1:
        raise ConfigError(f"Gauss–Legendre quadrature needs at least one node, got {nodes}")
    return np.polynomial.legendre.leggauss(nodes)


def quadrature(intervals: int, nodes: int, lower: float = 0.0, upper: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre rule on [lower, upper]: points and weights, float64 NumPy arrays
    of length ``intervals * nodes``; Σ_k w_k f(x_k) ≈ ∫ f. Exact for polynomials of degree
    < 2·nodes on each subinterval."""
    if intervals < 1:
        raise ConfigError(f"quadrature needs at least one subinterval, got {intervals}")
    x, w = _legendre(nodes)
    edges = np.linspace(lower, upper, intervals + 1)
    half = np.diff(edges)[:, None] / 2
    middle = (edges[:-1] + edges[1:])[:, None] / 2
    return (middle + half * x).ravel(), (half * w).ravel()


# ---------------------------------------------------------------------------------------------
# pointwise quantities


def _speed_chunk(curve: Curve, t: jax.Array) -> jax.Array:
    velocity = derivative(curve, t, 1)
    return _safe_sqrt(jnp.sum(velocity * velocity, axis=-1))


@jax.jit
def speed(curve: Curve, t) -> jax.Array:
    """‖b'(t)‖ for a scalar t or a vector of T values (shape of ``t``)."""
    t = _as_t(curve, t)
    flat = t.reshape(-1)
    return _map_over_t(lambda c: _speed_chunk(curve, c), flat, curve.dim).reshape(t.shape)


def _curvature_chunk(curve: Curve, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    velocity = derivative(curve, t, 1)
    acceleration = derivative(curve, t, 2)
    squared = jnp.sum(velocity * velocity, axis=-1)
    moving = squared > 0
    safe = jnp.where(moving, squared, 1)
    along = jnp.sum(velocity * acceleration, axis=-1) / safe
    across = acceleration - along[:, None] * velocity
    kappa = _safe_sqrt(jnp.sum(across * across, axis=-1)) / safe
    return jnp.where(moving, kappa, jnp.inf), _safe_sqrt(squared)


@jax.jit
def curvature(curve: Curve, t) -> jax.Array:
    """κ(t) = ‖b''_⊥(t)‖ / ‖b'(t)‖² (= sqrt(‖b'‖²‖b''‖² − (b'·b'')²)/‖b'‖³); +inf where
    b'(t) = 0 (see the module docstring). Shape of ``t``."""
    t = _as_t(curve, t)
    flat = t.reshape(-1)
    kappa, _ = _map_over_t(lambda c: _curvature_chunk(curve, c), flat, 2 * curve.dim)
    return kappa.reshape(t.shape)


# ---------------------------------------------------------------------------------------------
# length and its bounds


@partial(jax.jit, static_argnames=("intervals", "nodes"))
def integrate_speed(curve: Curve, intervals: int = 8, nodes: int = 4) -> jax.Array:
    """S ≈ Σ_k w_k ‖b'(t_k)‖ on one composite Gauss–Legendre rule (differentiable in the control
    points; the training objective uses it for arc-length weights)."""
    points, weights = quadrature(intervals, nodes)
    dtype = _dtype(curve)
    return jnp.sum(jnp.asarray(weights, dtype) * speed(curve, jnp.asarray(points, dtype)))


@jax.jit
def polygon_length(curve: Curve) -> jax.Array:
    """P = Σ_j ‖θ_{j+1} − θ_j‖, the length of the control polygon."""
    steps = jnp.diff(curve.control_points, axis=0)
    return jnp.sum(_safe_sqrt(jnp.sum(steps * steps, axis=-1)))


@jax.jit
def chord(curve: Curve) -> jax.Array:
    """‖θ_K − θ_0‖, the distance between the two ends."""
    step = curve.control_points[-1] - curve.control_points[0]
    return _safe_sqrt(jnp.sum(step * step))


@partial(jax.jit, static_argnames=("intervals", "nodes"))
def arc_length(curve: Curve, intervals: int = 16, nodes: int = 8) -> Estimate:
    """S = ∫_0^1 ‖b'(t)‖ dt with an error estimate.

    Bézier: composite Gauss–Legendre with 2·``intervals`` subintervals of ``nodes`` points;
    the error is ``|S_2m − S_m|``. Polychain: the exact polygon length (error 0).
    """
    if curve.kind == "polychain":
        length = polygon_length(curve)
        return Estimate(length, jnp.zeros_like(length))
    dtype = _dtype(curve)
    (coarse_t, coarse_w), (fine_t, fine_w) = quadrature(intervals, nodes), quadrature(2 * intervals, nodes)
    speeds = speed(curve, jnp.asarray(np.concatenate([coarse_t, fine_t]), dtype))
    coarse = jnp.sum(jnp.asarray(coarse_w, dtype) * speeds[: len(coarse_w)])
    fine = jnp.sum(jnp.asarray(fine_w, dtype) * speeds[len(coarse_w) :])
    return Estimate(fine, jnp.abs(fine - coarse))


@jax.jit
def gyration_radius(curve: Curve) -> jax.Array:
    """R_g = mean_j ‖θ_j − θ̄‖: mean distance of the control points from their mean."""
    points = curve.control_points
    centred = points - jnp.mean(points, axis=0)
    return jnp.mean(_safe_sqrt(jnp.sum(centred * centred, axis=-1)))


@jax.jit
def centre_norm(curve: Curve) -> jax.Array:
    """‖θ̄‖, the norm of the mean of the control points."""
    centre = jnp.mean(curve.control_points, axis=0)
    return _safe_sqrt(jnp.sum(centre * centre))


@jax.jit
def turning_angles(curve: Curve) -> jax.Array:
    """Angles (radians, in [0, π]) between consecutive edges Δ_j = θ_{j+1} − θ_j of the control
    polygon: shape (K−1,). For a polychain these are the curve's turns at its joints.

    angle_j = atan2(‖Δ_j‖ ‖Δ_{j+1,⊥}‖, Δ_j·Δ_{j+1}) with Δ_{j+1,⊥} the part of Δ_{j+1} across
    Δ_j (stable for nearly straight polygons). A zero-length edge gives angle 0.
    """
    steps = jnp.diff(curve.control_points, axis=0)
    first, second = steps[:-1], steps[1:]
    squared = jnp.sum(first * first, axis=-1)
    safe = jnp.where(squared > 0, squared, 1)
    dot = jnp.sum(first * second, axis=-1)
    across = second - (dot / safe)[:, None] * first
    return jnp.arctan2(_safe_sqrt(squared) * _safe_sqrt(jnp.sum(across * across, axis=-1)), dot)


# ---------------------------------------------------------------------------------------------
# curvature integrals


def _integrals(curve: Curve, rules: tuple[tuple[int, int], ...]) -> list[tuple[jax.Array, jax.Array, jax.Array]]:
    """For each composite Gauss–Legendre rule (intervals, nodes): (∫ ‖b'‖ dt, ∫ κ dt,
    ∫ κ ‖b'‖ dt). b' and b'' are evaluated in one pass over the nodes of all rules."""
    dtype = _dtype(curve)
    pieces = [quadrature(intervals, nodes) for intervals, nodes in rules]
    points = np.concatenate([p for p, _ in pieces])
    kappa, speeds = _map_over_t(lambda c: _curvature_chunk(curve, c), jnp.asarray(points, dtype), 2 * curve.dim)
    turning = jnp.where(speeds > 0, kappa * speeds, 0)
    out, start = [], 0
    for _, weights in pieces:
        stop = start + len(weights)
        w = jnp.asarray(weights, dtype)
        out.append((jnp.sum(w * speeds[start:stop]), jnp.sum(w * kappa[start:stop]), jnp.sum(w * turning[start:stop])))
        start = stop
    return out


@partial(jax.jit, static_argnames=("intervals", "nodes"))
def mean_curvature(curve: Curve, intervals: int = 16, nodes: int = 8) -> Estimate:
    """∫_0^1 κ(t) dt by composite Gauss–Legendre, error ``|I_2m − I_m|`` (0 for a polychain)."""
    coarse, fine = _integrals(curve, ((intervals, nodes), (2 * intervals, nodes)))
    return Estimate(fine[1], jnp.abs(fine[1] - coarse[1]))


@partial(jax.jit, static_argnames=("intervals", "nodes"))
def total_curvature(curve: Curve, intervals: int = 32, nodes: int = 8) -> jax.Array:
    """∫_0^1 κ(t) ‖b'(t)‖ dt = ∫ κ ds, the total angle the tangent turns (radians)."""
    return _integrals(curve, ((intervals, nodes),))[0][2]


@partial(jax.jit, static_argnames=("intervals", "nodes"))
def curve_geometry(curve: Curve, intervals: int = 16, nodes: int = 8) -> Geometry:
    """Every summary figure of ``curve`` at once (``jit``-able): b' and b'' are evaluated on
    the two quadrature rules (``intervals`` and 2·``intervals`` subintervals) once each."""
    coarse, fine = _integrals(curve, ((intervals, nodes), (2 * intervals, nodes)))
    polygon = polygon_length(curve)
    if curve.kind == "polychain":
        length, length_error = polygon, jnp.zeros_like(polygon)
    else:
        length, length_error = fine[0], jnp.abs(fine[0] - coarse[0])
    return Geometry(
        length=length,
        length_error=length_error,
        chord=chord(curve),
        polygon_length=polygon,
        gyration_radius=gyration_radius(curve),
        centre_norm=centre_norm(curve),
        mean_curvature=fine[1],
        mean_curvature_error=jnp.abs(fine[1] - coarse[1]),
        total_curvature=fine[2],
    )


# ---------------------------------------------------------------------------------------------
# arc-length parametrisation


@partial(jax.jit, static_argnames=("intervals", "nodes"))
def arc_length_weights(curve: Curve, t, intervals: int = 8, nodes: int = 4) -> jax.Array:
    """w(t) = ‖b'(t)‖ / S with S from :func:`integrate_speed` (differentiable).

    E_{t~U(0,1)}[f(b(t)) w(t)] is the expectation of f uniform in arc length.
    """
    return speed(curve, t) / integrate_speed(curve, intervals, nodes)


@partial(jax.jit, static_argnames=("points", "nodes"))
def arc_length_table(curve: Curve, points: int = 257, nodes: int = 8) -> ArcLengthTable:
    """Cumulative arc length s(t_i) on ``points`` equally spaced t_i in [0, 1] (Bézier), each
    cell integrated with ``nodes``-point Gauss–Legendre; for a polychain the table holds the
    K+1 joints and is exact."""
    dtype = _dtype(curve)
    if curve.kind == "polychain":
        steps = jnp.diff(curve.control_points, axis=0)
        lengths = _safe_sqrt(jnp.sum(steps * steps, axis=-1))
        grid = jnp.linspace(0, 1, curve.degree + 1, dtype=dtype)
        return ArcLengthTable(grid, jnp.concatenate([jnp.zeros((1,), dtype), jnp.cumsum(lengths)]))
    if points < 2:
        raise ConfigError(f"an arc-length table needs at least 2 points, got {points}")
    nodes_t, weights = quadrature(points - 1, nodes)
    cells = jnp.sum(
        (jnp.asarray(weights, dtype) * speed(curve, jnp.asarray(nodes_t, dtype))).reshape(points - 1, nodes),
        axis=1,
    )
    grid = jnp.linspace(0, 1, points, dtype=dtype)
    return ArcLengthTable(grid, jnp.concatenate([jnp.zeros((1,), dtype), jnp.cumsum(cells)]))


@partial(jax.jit, static_argnames=("newton_steps", "nodes"))
def t_at_length(
    curve: Curve,
    s,
    table: ArcLengthTable | None = None,
    newton_steps: int = 3,
    nodes: int = 8,
) -> jax.Array:
    """t(s): the parameter at which the arc length from b(0) equals ``s`` (clipped to [0, S]).

    Linear interpolation of ``table`` (monotone, so it stays inside the bracketing cell), then
    ``newton_steps`` Newton steps t ← t − (s(t) − s)/‖b'(t)‖, each kept inside the cell; s(t)
    is the table value at the cell start plus a ``nodes``-point Gauss–Legendre integral. Exact
    (no Newton steps needed) for a polychain.
    """
    if table is None:
        table = arc_length_table(curve)
    dtype = _dtype(curve)
    s = jnp.asarray(s, dtype)
    shape = s.shape
    target = jnp.clip(s.reshape(-1), 0, table.s[-1])
    cells = table.t.shape[0] - 1
    index = jnp.clip(jnp.searchsorted(table.s, target, side="right") - 1, 0, cells - 1)
    t0, t1 = table.t[index], table.t[index + 1]
    s0, s1 = table.s[index], table.s[index + 1]
    width = s1 - s0
    fraction = jnp.where(width > 0, (target - s0) / jnp.where(width > 0, width, 1), 0)
    t = t0 + fraction * (t1 - t0)
    if curve.kind == "polychain":
        return t.reshape(shape)
    x, w = (jnp.asarray(a, dtype) for a in _legendre(nodes))
    for _ in range(newton_steps):
        half = (t - t0) / 2
        inner = (t0 + half)[:, None] + half[:, None] * x  # (R, nodes)
        both = jnp.concatenate([inner.reshape(-1), t])
        speeds = speed(curve, both)
        integral = half * jnp.sum(w * speeds[: inner.size].reshape(inner.shape), axis=1)
        slope = speeds[inner.size :]
        residual = s0 + integral - target
        step = jnp.where(slope > 0, residual / jnp.where(slope > 0, slope, 1), 0)
        t = jnp.clip(t - step, t0, t1)
    return t.reshape(shape)


@partial(jax.jit, static_argnames=("newton_steps",))
def t_at_fraction(curve: Curve, fraction, table: ArcLengthTable | None = None, newton_steps: int = 3) -> jax.Array:
    """t at which the arc length is ``fraction`` ∈ [0, 1] of the whole length S."""
    if table is None:
        table = arc_length_table(curve)
    return t_at_length(curve, jnp.asarray(fraction, _dtype(curve)) * table.s[-1], table, newton_steps)


@partial(jax.jit, static_argnames=("count", "newton_steps"))
def sample_t_by_length(
    key: jax.Array, curve: Curve, count: int, table: ArcLengthTable | None = None, newton_steps: int = 3
) -> jax.Array:
    """``count`` values of t whose curve points are uniform in arc length: t(S·u), u ~ U(0, 1)."""
    u = jax.random.uniform(key, (count,), _dtype(curve))
    return t_at_fraction(curve, u, table, newton_steps)
