"""Orthonormal frames that move along a curve c: R → R^K (tangent plus K−1 normals).

Tunnel coordinates (Dold et al. 2025, "Paths and Ambient Spaces in Neural Loss Landscapes",
arXiv 2503.03382) place a point at c(t) + Σ_i ξ_i e_i(t), so they need normals e_1..e_{K−1}
across the curve at every t. A frame at t is an orthonormal basis of R^K whose first vector is
the unit tangent T(t) = c'(t)/‖c'(t)‖. Three constructions:

- **Frenet** (:func:`frenet_frame`): Gram–Schmidt of the successive derivatives c', c'', c''',
  ..., c^(K) (filled up with the standard basis e_1, e_2, ... where they are linearly
  dependent). Local and parameter-free, but the normals follow the sign of the curvature: at an
  inflection (c'' ∥ c') the first normal flips to its negative, and higher normals flip where
  the generalised curvatures change sign.
- **Transported** (:func:`transported_table`, :func:`transported_frame`), the construction of
  Dold et al. 2025: on a fine grid of t, a new cut point starts whenever the tangent has turned
  by more than 45° − ε from the tangent at the previous cut (ε = 25°: cuts every 20°). The
  first cut's normals come from Gram–Schmidt of the interior control points p_1..p_{K−1}
  relative to the first, p_j − p_0, against the tangent; each new cut re-orthogonalises
  (Gram–Schmidt) the previous cut's normals against its own tangent, and the frame at t
  re-orthogonalises the normals of the last cut at or before t against T(t). Continuous between
  cuts, with small jumps at the cuts.
- **Rotation-minimising** (:func:`rotation_minimising_table`,
  :func:`rotation_minimising_frame`): the frame whose normals do not rotate about the tangent,
  e_i' = −(e_i · T') T for every normal (so e_i' · e_j = 0 for normals i ≠ j), computed by the
  double-reflection method of Wang, Jüttler, Zheng and Liu 2008 ("Computation of rotation
  minimizing frames", ACM Transactions on Graphics 27(1)). From x_g = c(t_g) with tangent T_g
  and normals r to x_{g+1} with tangent T_{g+1}:

      v_1 = x_{g+1} − x_g,   R_1 = I − 2 v_1 v_1ᵀ / (v_1·v_1)      (reflection in the bisector)
      T^L = R_1 T_g,         v_2 = T_{g+1} − T^L,   R_2 = I − 2 v_2 v_2ᵀ / (v_2·v_2)
      r_{g+1} = R_2 R_1 r,

  Householder reflections, so the step is valid in any dimension K; R_2 R_1 is a rotation
  taking T_g to T_{g+1} exactly, and the normals stay orthonormal (to rounding; they are
  re-orthogonalised at every grid step). Only the direction of v_1 matters, so it is computed
  as the mean velocity (c(t_{g+1}) − c(t_g))/h = ∫_0^1 c'(t_g + u h) du by exact Gauss–Legendre
  quadrature: no cancellation for tiny steps, and the limit c'(t_g) for h = 0 (where the two
  reflections cancel). The frame is tabulated on a fine grid with
  ``lax.scan`` starting from the same Gram–Schmidt normals as the transported frame; at any t it
  is propagated from the last grid point t_g ≤ t by one more double reflection, which makes it
  continuous in t (the propagation reaches the next grid frame exactly). No cut-point parameter;
  its error against the exact rotation-minimising frame is O(h⁴) in the grid step h.

Frames are returned as :class:`Frame` (``tangent`` (..., K), ``normals`` (..., K−1, K)); a
:class:`MovingFrame` bundles a curve, its table and the kind, and is called with t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, UnknownNameError
from landform.paths.curves import Curve, derivative, evaluate

FRAME_KINDS = ("rotation_minimising", "transported", "frenet")
DEFAULT_LOWER, DEFAULT_UPPER = -0.1, 1.1
DEFAULT_POINTS = 2049
DEFAULT_EPSILON = 25.0  # degrees; cuts every 45° − ε = 20°

_HIGHEST = jax.lax.Precision.HIGHEST


class Frame(NamedTuple):
    """An orthonormal frame: unit ``tangent`` (..., K) and ``normals`` (..., K−1, K)."""

    tangent: jax.Array
    normals: jax.Array

    @property
    def matrix(self) -> jax.Array:
        """The frame as an orthogonal matrix (..., K, K): row 0 the tangent, rows 1.. normals."""
        return jnp.concatenate([self.tangent[..., None, :], self.normals], axis=-2)


class FrameTable(NamedTuple):
    """A frame tabulated on an equally spaced grid ``t`` (G,) from ``lower`` to ``upper``.

    ``points`` (G, K) and ``tangents`` (G, K) are c(t_g) and T(t_g). ``normals`` (G, K−1, K):
    for the rotation-minimising frame the normals at t_g; for the transported frame the
    normals of the last cut at or before t_g. ``cuts`` (G,) marks the grid points where a new cut
    starts (always the first point; never for the rotation-minimising frame).
    """

    t: jax.Array
    points: jax.Array
    tangents: jax.Array
    normals: jax.Array
    cuts: jax.Array

    @property
    def step(self) -> jax.Array:
        return self.t[1] - self.t[0]


# ---------------------------------------------------------------------------------------------
# small linear algebra


def _safe_norm(vector: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """‖v‖ with a finite (zero) gradient at v = 0."""
    squared = jnp.sum(vector * vector, axis=axis, keepdims=keepdims)
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1)), 0)


def _unit(vector: jax.Array) -> jax.Array:
    """v / ‖v‖ (zero for v = 0, with finite gradients)."""
    norm = _safe_norm(vector, keepdims=True)
    return vector / jnp.where(norm > 0, norm, 1)


def orthonormal_fill(candidates: jax.Array, tolerance: float = 1e-5) -> jax.Array:
    """Gram–Schmidt of the rows of ``candidates`` (M, K), completed with the standard basis.

    Candidates are taken in order; one whose component orthogonal to the vectors accepted so far
    is shorter than ``tolerance`` times its own length is skipped. After the candidates,
    e_1, e_2, ... fill the remaining directions. Returns K orthonormal rows (K, K); the first
    accepted candidates come first. Projections are applied twice (classical Gram–Schmidt with
    re-orthogonalisation) so the rows are orthonormal to rounding.
    """
    count, dimension = candidates.shape
    pool = jnp.concatenate([candidates, jnp.eye(dimension, dtype=candidates.dtype)], axis=0)

    def add(carry, vector):
        basis, accepted = carry
        residual = vector - jnp.matmul(jnp.matmul(basis, vector, precision=_HIGHEST), basis, precision=_HIGHEST)
        residual = residual - jnp.matmul(jnp.matmul(basis, residual, precision=_HIGHEST), basis, precision=_HIGHEST)
        length, scale = _safe_norm(residual), _safe_norm(vector)
        take = (length > tolerance * scale) & (scale > 0) & (accepted < dimension)
        row = residual / jnp.where(take, length, 1)
        index = jnp.minimum(accepted, dimension - 1)
        basis = jnp.where(take, basis.at[index].set(row), basis)
        return (basis, accepted + take.astype(accepted.dtype)), None

    start = (jnp.zeros((dimension, dimension), candidates.dtype), jnp.zeros((), jnp.int32))
    (basis, _), _ = jax.lax.scan(add, start, pool)
    return basis


def _reorthogonalise(normals: jax.Array, tangent: jax.Array) -> jax.Array:
    """Gram–Schmidt of ``normals`` (K−1, K) against ``tangent`` (and each other)."""
    return orthonormal_fill(jnp.concatenate([tangent[None], normals], axis=0))[1:]


def _reflect(vector: jax.Array, items: jax.Array) -> jax.Array:
    """The Householder reflection I − 2 v vᵀ/(v·v) applied to the rows of ``items`` (..., K);
    the identity for v = 0. Both reflections of a double-reflection step use vectors of order
    one (a mean velocity, and T_{g+1} − R_1 T_g ≈ 2 T), so no rescaling is needed."""
    squared = jnp.sum(vector * vector)
    positive = squared > 0
    coefficient = jnp.where(positive, 2 / jnp.where(positive, squared, 1), 0)
    return items - coefficient * jnp.matmul(items, vector, precision=_HIGHEST)[..., None] * vector


def double_reflection(
    chord: jax.Array,
    start_tangent: jax.Array,
    start_normals: jax.Array,
    end_tangent: jax.Array,
) -> jax.Array:
    """Normals at the end of a step from those at its start by the double-reflection method
    (Wang et al. 2008): r_1 = R_2 R_1 r_0 (module docstring). ``chord`` is any non-zero
    multiple of x_1 − x_0 (only its direction matters). Shapes (K,), (K,), (K−1, K), (K,) →
    (K−1, K)."""
    reflected = _reflect(chord, jnp.concatenate([start_tangent[None], start_normals], axis=0))
    return _reflect(end_tangent - reflected[0], reflected[1:])


def _chord_direction(curve: Curve, start: jax.Array, end: jax.Array) -> jax.Array:
    """A multiple of c(end) − c(start) without cancellation: the mean of c' over [start, end],
    (c(end) − c(start)) / (end − start) = ∫_0^1 c'(start + u (end − start)) du, by Gauss–Legendre
    quadrature that is exact for the polynomial c' of a Bézier curve. For end = start it is
    c'(start), the limit direction, so the first reflection is well defined for any step length
    (a difference of two curve points would lose all digits for tiny steps). For a polychain
    the plain difference is used (its c' jumps at the joints)."""
    if curve.kind != "bezier":
        return evaluate(curve, end) - evaluate(curve, start)
    nodes, weights = np.polynomial.legendre.leggauss(max(1, (curve.degree + 1) // 2))
    u = jnp.asarray((nodes + 1) / 2, start.dtype)
    points = start[..., None] + u * (end - start)[..., None]
    velocities = derivative(curve, points, 1)
    return jnp.einsum("...k,...kd->...d", jnp.asarray(weights / 2, start.dtype), velocities, precision=_HIGHEST)


def _tangent_and_chord(curve: Curve, start: jax.Array, end: jax.Array) -> tuple[jax.Array, jax.Array]:
    """T(end) and :func:`_chord_direction` (start, end) for scalars, from one evaluation of c'
    at end and at the quadrature nodes (fewer operations to compile inside a log density)."""
    if curve.kind != "bezier":
        return _tangent(curve, end), _chord_direction(curve, start, end)
    nodes, weights = np.polynomial.legendre.leggauss(max(1, (curve.degree + 1) // 2))
    u = jnp.asarray((nodes + 1) / 2, end.dtype)
    velocities = derivative(curve, jnp.concatenate([end[None], start + u * (end - start)]), 1)
    chord = jnp.matmul(jnp.asarray(weights / 2, end.dtype), velocities[1:], precision=_HIGHEST)
    return _unit(velocities[0]), chord


def _tangent(curve: Curve, t: jax.Array) -> jax.Array:
    return _unit(derivative(curve, t, 1))


def _over_t(fn, t, dtype):
    """Apply ``fn`` (scalar t → Frame) to every entry of ``t``: leading shape of ``t``."""
    t = jnp.asarray(t, dtype)
    flat = t.reshape(-1)
    out = jax.vmap(fn)(flat)
    return jax.tree_util.tree_map(lambda a: a.reshape(t.shape + a.shape[1:]), out)


def _dtype(curve: Curve):
    dtype = curve.control_points.dtype
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32


def _check_curve(curve: Curve) -> None:
    if curve.dim < 2:
        raise ConfigError(
            f"a moving frame needs a curve in K >= 2 dimensions (a tangent and K−1 normals); "
            f"this curve lives in {curve.dim} dimension(s)"
        )


def _check_grid(lower: float, upper: float, points: int) -> None:
    if not (math.isfinite(lower) and math.isfinite(upper) and upper > lower):
        raise ConfigError(f"the frame grid needs lower < upper, got lower={lower}, upper={upper}")
    if points < 2:
        raise ConfigError(f"the frame grid needs at least 2 points, got {points}")


def _grid(curve: Curve, lower: float, upper: float, points: int):
    dtype = _dtype(curve)
    step = (upper - lower) / (points - 1)
    t = lower + step * jnp.arange(points, dtype=dtype)
    return t, evaluate(curve, t), _tangent(curve, t)


def initial_normals(curve: Curve, tangent: jax.Array) -> jax.Array:
    """Gram–Schmidt of the interior control points relative to the first, p_j − p_0
    (j = 1..K−1), against ``tangent``; completed with the standard basis: (K−1, K)."""
    points = curve.control_points.astype(tangent.dtype)
    relative = points[1:-1] - points[0]
    return orthonormal_fill(jnp.concatenate([tangent[None], relative], axis=0))[1 : curve.dim]


def _cell(table: FrameTable, t: jax.Array) -> jax.Array:
    """Index g of the last grid point t_g ≤ t (clipped to the grid)."""
    count = table.t.shape[0]
    position = jnp.floor(jax.lax.stop_gradient((t - table.t[0]) / table.step))
    return jnp.clip(position, 0, count - 1).astype(jnp.int32)


# ---------------------------------------------------------------------------------------------
# Frenet


@partial(jax.jit, static_argnames=("tolerance",))
def frenet_frame(curve: Curve, t, tolerance: float = 1e-5) -> Frame:
    """The generalised Frenet frame at ``t``: Gram–Schmidt of c', c'', ..., c^(K), filled with
    the standard basis where the derivatives are linearly dependent (``tolerance`` relative).
    Flips at inflection points (module docstring)."""
    _check_curve(curve)
    orders = range(1, min(curve.degree, curve.dim) + 1)

    def one(s):
        candidates = jnp.stack([derivative(curve, s, order) for order in orders])
        basis = orthonormal_fill(candidates, tolerance)
        return Frame(basis[0], basis[1:])

    return _over_t(one, t, _dtype(curve))


# ---------------------------------------------------------------------------------------------
# transported frame (Dold et al. 2025)


def transported_table(
    curve: Curve,
    epsilon: float = DEFAULT_EPSILON,
    *,
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
    points: int = DEFAULT_POINTS,
) -> FrameTable:
    """Cut points and their normals for the frame of Dold et al. 2025 (module docstring).

    A cut starts at grid point t_g when the angle between T(t_g) and the tangent at the previous
    cut exceeds 45° − ``epsilon`` (degrees). The angle is atan2(‖T_g − (T_g·T_c) T_c‖, T_g·T_c),
    accurate for small angles too.
    """
    _check_curve(curve)
    _check_grid(lower, upper, points)
    if not 0 <= epsilon < 45:
        raise ConfigError(f"epsilon must lie in [0, 45) degrees (cuts every 45° − ε), got {epsilon}")
    return _transported_table(curve, float(epsilon), float(lower), float(upper), int(points))


@partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _transported_table(curve: Curve, epsilon: float, lower: float, upper: float, points: int) -> FrameTable:
    t, positions, tangents = _grid(curve, lower, upper, points)
    threshold = math.radians(45.0 - epsilon)
    first = initial_normals(curve, tangents[0])

    def step(carry, tangent):
        cut_tangent, cut_normals = carry
        cosine = jnp.dot(tangent, cut_tangent)
        sine = _safe_norm(tangent - cosine * cut_tangent)
        cut = jnp.arctan2(sine, cosine) > threshold
        normals = jnp.where(cut, _reorthogonalise(cut_normals, tangent), cut_normals)
        cut_tangent = jnp.where(cut, tangent, cut_tangent)
        return (cut_tangent, normals), (normals, cut)

    _, (normals, cuts) = jax.lax.scan(step, (tangents[0], first), tangents[1:])
    normals = jnp.concatenate([first[None], normals], axis=0)
    cuts = jnp.concatenate([jnp.ones((1,), bool), cuts])
    return FrameTable(t, positions, tangents, normals, cuts)


@jax.jit
def transported_frame(curve: Curve, table: FrameTable, t) -> Frame:
    """The transported frame at ``t``: the normals of the last cut at or before t,
    re-orthogonalised (Gram–Schmidt) against T(t)."""

    def one(s):
        tangent = _tangent(curve, s)
        return Frame(tangent, _reorthogonalise(table.normals[_cell(table, s)], tangent))

    return _over_t(one, t, table.t.dtype)


# ---------------------------------------------------------------------------------------------
# rotation-minimising frame (double reflection, Wang et al. 2008)


def rotation_minimising_table(
    curve: Curve,
    *,
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
    points: int = DEFAULT_POINTS,
) -> FrameTable:
    """The rotation-minimising frame on a grid of ``points`` values of t in [lower, upper],
    by double reflection (``lax.scan``) from the Gram–Schmidt normals of the control points."""
    _check_curve(curve)
    _check_grid(lower, upper, points)
    return _rotation_minimising_table(curve, float(lower), float(upper), int(points))


@partial(jax.jit, static_argnums=(1, 2, 3))
def _rotation_minimising_table(curve: Curve, lower: float, upper: float, points: int) -> FrameTable:
    t, positions, tangents = _grid(curve, lower, upper, points)
    first = initial_normals(curve, tangents[0])
    chords = _chord_direction(curve, t[:-1], t[1:])

    def step(normals, inputs):
        chord, start_tangent, end_tangent = inputs
        moved = double_reflection(chord, start_tangent, normals, end_tangent)
        moved = _reorthogonalise(moved, end_tangent)
        return moved, moved

    _, normals = jax.lax.scan(step, first, (chords, tangents[:-1], tangents[1:]))
    normals = jnp.concatenate([first[None], normals], axis=0)
    cuts = jnp.zeros(t.shape, bool).at[0].set(True)
    return FrameTable(t, positions, tangents, normals, cuts)


@jax.jit
def rotation_minimising_frame(curve: Curve, table: FrameTable, t) -> Frame:
    """The rotation-minimising frame at ``t``: one double reflection from the last grid point
    t_g ≤ t (continuous in t; differentiable in t between grid points)."""

    def one(s):
        g = _cell(table, s)
        tangent, chord = _tangent_and_chord(curve, table.t[g], s)
        normals = double_reflection(chord, table.tangents[g], table.normals[g], tangent)
        return Frame(tangent, normals)

    return _over_t(one, t, table.t.dtype)


# ---------------------------------------------------------------------------------------------
# one object for all kinds


@dataclass(frozen=True)
class MovingFrame:
    """A frame of kind ``kind`` along ``curve`` with its precomputed ``table`` (None for
    Frenet). A pytree (``kind`` is static), so it passes through ``jit`` and ``vmap``.
    Call it with t (scalar or array) to get a :class:`Frame`."""

    kind: str
    curve: Curve
    table: FrameTable | None

    def __call__(self, t) -> Frame:
        if self.kind == "frenet":
            return frenet_frame(self.curve, t)
        if self.kind == "transported":
            return transported_frame(self.curve, self.table, t)
        if self.kind == "rotation_minimising":
            return rotation_minimising_frame(self.curve, self.table, t)
        raise UnknownNameError("frame kind", self.kind, FRAME_KINDS)

    @property
    def dimension(self) -> int:
        return self.curve.dim


jax.tree_util.register_dataclass(MovingFrame, data_fields=["curve", "table"], meta_fields=["kind"])


def moving_frame(
    curve: Curve,
    kind: str = "rotation_minimising",
    *,
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
    points: int = DEFAULT_POINTS,
    epsilon: float = DEFAULT_EPSILON,
) -> MovingFrame:
    """A :class:`MovingFrame` of ``kind`` ("rotation_minimising", "transported" or "frenet")
    along ``curve`` (a curve in K >= 2 dimensions), tabulated on ``points`` values of t in
    [``lower``, ``upper``] (``epsilon``: the transported frame's cut parameter, degrees)."""
    if kind not in FRAME_KINDS:
        raise UnknownNameError("frame kind", kind, FRAME_KINDS)
    _check_curve(curve)
    if kind == "frenet":
        return MovingFrame(kind, curve, None)
    if kind == "transported":
        return MovingFrame(kind, curve, transported_table(curve, epsilon, lower=lower, upper=upper, points=points))
    return MovingFrame(kind, curve, rotation_minimising_table(curve, lower=lower, upper=upper, points=points))
