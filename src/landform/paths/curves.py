"""Curves in parameter space: Bézier curves and polygonal chains through K+1 control points.

A curve maps t ∈ [0, 1] to a parameter vector b(t) ∈ R^n. Both families are linear in their
control points θ_0..θ_K (an array of shape (K+1, n)):

    b(t) = Σ_j φ_j(t) θ_j,

so the points at T values of t are one matrix product, basis (T, K+1) @ control points
(K+1, n), and curves with millions of coordinates stay cheap.

Bézier curve of degree K (Bernstein basis; Garipov et al. 2018, "Loss Surfaces, Mode
Connectivity, and Fast Ensembling of DNNs"; Dold et al. 2025, "Paths and Ambient Spaces in
Neural Loss Landscapes", arXiv 2503.03382, where all K+1 control points are free):

    b(t)      = Σ_{j=0}^{K} B_j^K(t) θ_j,      B_j^K(t) = C(K, j) t^j (1 - t)^(K-j)
    b^(r)(t)  = K! / (K-r)! · Σ_{i=0}^{K-r} B_i^(K-r)(t) Δ^r θ_i,
    Δ^r θ_i   = Σ_{m=0}^{r} (-1)^(r-m) C(r, m) θ_{i+m}      (r-th forward difference),

so b'(t) = K Σ_i B_i^(K-1)(t) (θ_{i+1} - θ_i) and b''(t) = K (K-1) Σ_i B_i^(K-2)(t)
(θ_{i+2} - 2 θ_{i+1} + θ_i). Powers are integer powers, which are exact at t = 0
and t = 1, defined for t slightly outside [0, 1] (the polynomial continues), and have NaN-free
derivatives everywhere (no 0^0 or log 0).

Polygonal chain ("polychain", Garipov et al. 2018): piecewise linear through the control points
with the uniform parametrisation, segment i on [i/K, (i+1)/K]:

    b(t) = θ_i + (K t - i)(θ_{i+1} - θ_i),   b'(t) = K (θ_{i+1} - θ_i),   b''(t) = 0,

with i = clip(floor(K t), 0, K - 1); outside [0, 1] the first and last segments are extended.
At a joint (t = i/K, 0 < i < K) the derivative is the one of the segment that starts there
(of the last segment at t = 1). The second derivative is zero everywhere: the turning at the
joints is not a derivative (see :func:`landform.paths.geometry.turning_angles`).

A :class:`Curve` is a pytree whose only leaf is ``control_points`` (``kind`` is static), so it
passes through ``jax.jit``, ``jax.grad`` and ``jax.vmap``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, ShapeError, UnknownNameError

CURVE_KINDS = ("bezier", "polychain")

_HIGHEST = jax.lax.Precision.HIGHEST


@dataclass(frozen=True)
class Curve:
    """A curve through ``control_points`` θ_0..θ_K (shape (K+1, n)) of family ``kind``.

    Build one with :func:`bezier`, :func:`polychain` or :func:`make_curve`, which check the
    arguments; the class itself does not (so that JAX can rebuild it from traced leaves).
    """

    kind: str
    control_points: jax.Array

    @property
    def degree(self) -> int:
        """K: the number of control points minus one."""
        return self.control_points.shape[0] - 1

    @property
    def dim(self) -> int:
        """n: the dimension of the space the curve lives in."""
        return self.control_points.shape[1]

    def replace(self, control_points: jax.Array) -> Curve:
        """The same family through other control points."""
        return Curve(self.kind, control_points)


jax.tree_util.register_dataclass(Curve, data_fields=["control_points"], meta_fields=["kind"])


def make_curve(control_points, kind: str = "bezier") -> Curve:
    """A :class:`Curve` of family ``kind`` ("bezier" or "polychain") through ``control_points``.

    Raises :class:`UnknownNameError` for an unknown kind, :class:`ShapeError` unless the control
    points are a 2-D array (K+1, n) of floats, and :class:`ConfigError` if K < 1 (a curve needs
    at least two control points).
    """
    if kind not in CURVE_KINDS:
        raise UnknownNameError("curve kind", kind, CURVE_KINDS)
    points = jnp.asarray(control_points)
    if points.ndim != 2:
        raise ShapeError(
            f"control points must be an array of shape (K+1, n) (one row per control point), "
            f"got shape {tuple(points.shape)}"
        )
    if points.shape[0] < 2:
        raise ConfigError(
            f"a curve needs degree K >= 1, i.e. at least two control points; got "
            f"{points.shape[0]} (K = {points.shape[0] - 1})"
        )
    if not jnp.issubdtype(points.dtype, jnp.floating):
        points = points.astype(jnp.float32)
    return Curve(kind, points)


def bezier(control_points) -> Curve:
    """The Bézier curve b(t) = Σ_j C(K,j) t^j (1-t)^(K-j) θ_j through ``control_points``."""
    return make_curve(control_points, "bezier")


def polychain(control_points) -> Curve:
    """The polygonal chain through ``control_points``, uniform in t over its K segments."""
    return make_curve(control_points, "polychain")


def check_dimension(curve: Curve, dim: int, what: str = "the model") -> None:
    """Raise :class:`ShapeError` unless the curve's points have ``dim`` coordinates."""
    if curve.control_points.ndim != 2 or curve.dim != dim:
        raise ShapeError(
            f"control points have shape {tuple(curve.control_points.shape)}, i.e. "
            f"{curve.control_points.shape[-1]} coordinates each, but {what} has {dim} parameters; "
            f"expected shape (K+1, {dim})"
        )


# ---------------------------------------------------------------------------------------------
# basis matrices


@cache
def _difference_matrix(degree: int, order: int) -> np.ndarray:
    """(K-r+1, K+1) matrix of Δ^r scaled by K!/(K-r)!: row i gives b^(r) weight of θ_j."""
    rows = degree - order + 1
    matrix = np.zeros((rows, degree + 1))
    for i in range(rows):
        for m in range(order + 1):
            matrix[i, i + m] = (-1) ** (order - m) * math.comb(order, m)
    return matrix * (math.factorial(degree) // math.factorial(degree - order))


@jax.custom_jvp
def _power(x: jax.Array, exponent: jax.Array) -> jax.Array:
    """x**n for integer n >= 0 (0**0 = 1), with derivative n x^(n-1) defined as 0 for n = 0
    at every order (no 0 · inf), also for negative x."""
    return jnp.power(x, exponent)


@_power.defjvp
def _power_jvp(primals, tangents):
    x, exponent = primals
    slope = jnp.where(exponent > 0, exponent.astype(x.dtype) * _power(x, jnp.maximum(exponent - 1, 0)), 0)
    return _power(x, exponent), slope * tangents[0]


def bernstein(degree: int, t) -> jax.Array:
    """Bernstein polynomials B_j^K(t) = C(K, j) t^j (1-t)^(K-j): shape ``(*t.shape, K+1)``.

    Integer powers only, so values and derivatives (of every order) are exact and finite at
    t = 0, t = 1 and outside [0, 1].
    """
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.float32)
    exponent = jnp.arange(degree + 1, dtype=jnp.int32)
    binomial = jnp.asarray([math.comb(degree, j) for j in range(degree + 1)], t.dtype)
    column = t[..., None]
    return binomial * _power(column, exponent) * _power(1 - column, degree - exponent)


def basis(kind: str, degree: int, t, order: int = 0) -> jax.Array:
    """The matrix Φ^(r)(t) with b^(r)(t) = Φ^(r)(t) @ control points: shape ``(*t.shape, K+1)``.

    ``order`` r = 0 gives the curve, 1 its first derivative, 2 its second, and so on.
    """
    if order < 0:
        raise ConfigError(f"derivative order must be 0 or more, got {order}")
    if degree < 1:
        raise ConfigError(f"a curve needs degree K >= 1, got K = {degree}")
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.float32)
    if kind == "bezier":
        if order > degree:
            return jnp.zeros((*t.shape, degree + 1), t.dtype)
        lower = bernstein(degree - order, t)
        if order == 0:
            return lower
        return jnp.matmul(lower, jnp.asarray(_difference_matrix(degree, order), t.dtype), precision=_HIGHEST)
    if kind == "polychain":
        scaled = t * degree
        index = jnp.clip(jnp.floor(jax.lax.stop_gradient(scaled)), 0, degree - 1).astype(jnp.int32)
        left = jax.nn.one_hot(index, degree + 1, dtype=t.dtype)
        right = jax.nn.one_hot(index + 1, degree + 1, dtype=t.dtype)
        if order == 0:
            u = (scaled - index.astype(t.dtype))[..., None]
            return left * (1 - u) + right * u
        if order == 1:
            return degree * (right - left)
        return jnp.zeros((*t.shape, degree + 1), t.dtype)
    raise UnknownNameError("curve kind", kind, CURVE_KINDS)


@jax.jit
def evaluate(curve: Curve, t) -> jax.Array:
    """b(t): shape (n,) for a scalar t, (T, n) for a vector of T values."""
    return derivative(curve, t, order=0)


@partial(jax.jit, static_argnames=("order",))
def derivative(curve: Curve, t, order: int = 1) -> jax.Array:
    """The ``order``-th derivative b^(r)(t) (order 0: the curve itself): shape ``(*t.shape, n)``.

    Computed from the r-th differences of the control points, Δ^r θ_i, weighted by the
    (non-negative on [0, 1]) Bernstein polynomials of degree K − r; equal to
    ``basis(kind, K, t, r) @ control_points`` but without cancelling the points' common part.
    """
    if order < 0:
        raise ConfigError(f"derivative order must be 0 or more, got {order}")
    points = curve.control_points
    t = jnp.asarray(t)
    dtype = jnp.result_type(t.dtype, points.dtype) if jnp.issubdtype(t.dtype, jnp.floating) else points.dtype
    t, points = t.astype(dtype), points.astype(dtype)
    degree = curve.degree
    if order == 0:
        return jnp.matmul(basis(curve.kind, degree, t, 0), points, precision=_HIGHEST)
    # Derivatives from differences of the control points, combined with non-negative weights:
    # no cancellation of the points' common part (exactly zero for coinciding points).
    if curve.kind == "bezier":
        if order > degree:
            return jnp.zeros((*t.shape, points.shape[1]), dtype)
        scale = math.factorial(degree) // math.factorial(degree - order)
        differences = jnp.diff(points, n=order, axis=0) * scale
        return jnp.matmul(bernstein(degree - order, t), differences, precision=_HIGHEST)
    if curve.kind == "polychain":
        if order > 1:
            return jnp.zeros((*t.shape, points.shape[1]), dtype)
        index = jnp.clip(jnp.floor(jax.lax.stop_gradient(t) * degree), 0, degree - 1).astype(jnp.int32)
        return degree * jnp.take(jnp.diff(points, axis=0), index, axis=0)
    raise UnknownNameError("curve kind", curve.kind, CURVE_KINDS)
