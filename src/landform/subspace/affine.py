"""Affine subspaces of parameter space spanned by a few points.

Dold et al. 2025 ("Paths and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382) do
Bayesian inference in the K-dimensional affine subspace spanned by the K+1 control points
θ_0..θ_K ∈ R^n of a trained Bézier tunnel. With the mean μ = (1/(K+1)) Σ_j θ_j and the thin
singular value decomposition of the centred points

    [θ_0 − μ; ...; θ_K − μ] = U S Vᵀ        ((K+1) × n, singular values s_1 ≥ s_2 ≥ ...),

the subspace keeps the top K right singular vectors and uses whitened coordinates φ ∈ R^K:

    θ(φ) = μ + φ · diag(s) · Vᵀ = μ + φ · B,        B = diag(s) Vᵀ  (the rows of ``basis``),
    φ(θ) = ((θ − μ) · V) / s                      (least squares: the orthogonal projection),

so the control points themselves have coordinates φ_j = U_j (the rows of U): of order one, with
the same spread along every axis. Round trips θ → φ → θ are exact for points of the subspace and
project other points onto it.

The same construction applies to any set of points (an ensemble of trained networks, the
iterates of a training run): :func:`subspace_from_points`. For comparison
:func:`random_subspace` draws K orthonormal Gaussian directions around a given centre (direction
i from ``fold_in(key, i)``), all scaled by the same factor.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, NumericalError, ShapeError
from landform.paths.curves import Curve, make_curve

_HIGHEST = jax.lax.Precision.HIGHEST


class Subspace(NamedTuple):
    """An affine subspace θ = μ + φ · B of R^n with whitened coordinates φ ∈ R^K.

    Attributes:
        mean: μ, shape (n,).
        basis: B = diag(s) Vᵀ, shape (K, n); row i is s_i v_i.
        singular_values: s, shape (K,) (all positive).
        directions: Vᵀ, shape (K, n), orthonormal rows v_i.
    """

    mean: jax.Array
    basis: jax.Array
    singular_values: jax.Array
    directions: jax.Array

    @property
    def dimension(self) -> int:
        """K: the number of coordinates."""
        return self.basis.shape[0]

    @property
    def ambient_dimension(self) -> int:
        """n: the number of parameters."""
        return self.basis.shape[1]

    def to_parameters(self, phi) -> jax.Array:
        """θ = μ + φ · B for φ of shape (..., K): shape (..., n)."""
        return to_parameters(self, phi)

    def to_coordinates(self, theta) -> jax.Array:
        """φ = ((θ − μ) · V) / s for θ of shape (..., n): shape (..., K)."""
        return to_coordinates(self, theta)


def to_parameters(subspace: Subspace, phi) -> jax.Array:
    """θ(φ) = μ + φ · diag(s) · Vᵀ, for φ of shape (..., K); returns shape (..., n)."""
    phi = jnp.asarray(phi, subspace.basis.dtype)
    if phi.shape[-1:] != (subspace.dimension,):
        raise ShapeError(
            f"subspace coordinates have shape {tuple(phi.shape)}; this subspace has "
            f"{subspace.dimension} coordinates, expected shape (..., {subspace.dimension})"
        )
    return subspace.mean + jnp.matmul(phi, subspace.basis, precision=_HIGHEST)


def to_coordinates(subspace: Subspace, theta) -> jax.Array:
    """φ(θ) = ((θ − μ) · V) / s, the least-squares coordinates of θ (shape (..., n) → (..., K)).

    Exact for points of the subspace; other points are projected orthogonally onto it.
    """
    theta = jnp.asarray(theta, subspace.basis.dtype)
    if theta.shape[-1:] != (subspace.ambient_dimension,):
        raise ShapeError(
            f"parameter vectors have shape {tuple(theta.shape)}; this subspace lives in "
            f"R^{subspace.ambient_dimension}, expected shape (..., {subspace.ambient_dimension})"
        )
    projected = jnp.matmul(theta - subspace.mean, subspace.directions.T, precision=_HIGHEST)
    return projected / subspace.singular_values


def _top_singular(centred: np.ndarray, dimension: int, tolerance: float, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Top-``dimension`` singular values and right singular vectors (rows) of ``centred``,
    from a float64 thin SVD on the host (cost O(m² n) for m points in R^n)."""
    _, singular_values, vt = np.linalg.svd(centred, full_matrices=False)
    largest = singular_values[0] if singular_values.size else 0.0
    kept = singular_values[:dimension]
    if kept.size < dimension or largest <= 0 or kept[-1] <= tolerance * largest:
        rank = int(np.sum(singular_values > tolerance * max(largest, np.finfo(float).tiny)))
        raise NumericalError(
            f"{what} span only {rank} dimension(s) (singular values "
            f"{np.array2string(singular_values, precision=3)}), fewer than the {dimension} asked for; "
            f"use fewer dimensions or points that are not (nearly) collinear or coinciding"
        )
    return kept, vt[:dimension]


def subspace_from_points(points, dimension: int | None = None, *, tolerance: float = 1e-6) -> Subspace:
    """The affine subspace of the top ``dimension`` principal directions of ``points``.

    ``points`` has shape (m, n) (an ensemble, a training trajectory, control points); μ is
    their mean and B = diag(s) Vᵀ from the thin SVD of the centred points (module docstring).
    ``dimension`` defaults to m − 1 (all the directions m points can span).

    Raises :class:`ShapeError` for anything but a 2-D array of at least two points,
    :class:`ConfigError` for a dimension outside 1..min(m − 1, n), and
    :class:`NumericalError` when the kept singular values are not all above ``tolerance``
    times the largest (the points span fewer dimensions).
    """
    array = np.asarray(points)
    if array.ndim != 2 or array.shape[0] < 2:
        raise ShapeError(f"points must be an array of shape (m, n) with m >= 2 points, got shape {tuple(array.shape)}")
    count, size = array.shape
    dimension = count - 1 if dimension is None else int(dimension)
    if not 1 <= dimension <= min(count - 1, size):
        raise ConfigError(
            f"a subspace of {count} points in R^{size} has between 1 and {min(count - 1, size)} "
            f"dimensions; got dimension = {dimension}"
        )
    if not np.isfinite(array).all():
        raise NumericalError("the points contain NaN or infinite values; a subspace needs finite points")
    dtype = jax.dtypes.canonicalize_dtype(array.dtype if np.issubdtype(array.dtype, np.floating) else np.float32)
    work = array.astype(np.float64)
    mean = work.mean(axis=0)
    singular_values, vt = _top_singular(work - mean, dimension, tolerance, f"the {count} points")
    return Subspace(
        mean=jnp.asarray(mean, dtype),
        basis=jnp.asarray(singular_values[:, None] * vt, dtype),
        singular_values=jnp.asarray(singular_values, dtype),
        directions=jnp.asarray(vt, dtype),
    )


def curve_subspace(curve: Curve, *, tolerance: float = 1e-6) -> Subspace:
    """The K-dimensional subspace of the K+1 control points of ``curve`` (Dold et al. 2025).

    A Bézier curve lies in the affine hull of its control points, so every point of the curve
    (and of its extension to t outside [0, 1]) has exact coordinates in this subspace.
    """
    return subspace_from_points(curve.control_points, curve.degree, tolerance=tolerance)


def random_subspace(key: jax.Array, mean, dimension: int, scale: float = 1.0) -> Subspace:
    """A random K-dimensional subspace through ``mean``: orthonormal directions, all scaled.

    Direction i starts as a standard Gaussian vector g_i drawn from ``fold_in(key, i)``; the
    Gram–Schmidt orthonormalisation (QR) of g_1..g_K gives Vᵀ, and s_i = ``scale`` for every i,
    so θ = μ + scale · φ · Vᵀ. Comparable with a tunnel subspace when ``scale`` is, for
    example, the root-mean-square of that subspace's singular values.
    """
    mean = jnp.asarray(mean)
    if mean.ndim != 1:
        raise ShapeError(f"the centre of a random subspace must be a flat vector (n,), got shape {tuple(mean.shape)}")
    size = mean.shape[0]
    if not 1 <= dimension <= size:
        raise ConfigError(f"a random subspace of R^{size} has between 1 and {size} dimensions; got {dimension}")
    if not scale > 0:
        raise ConfigError(f"scale must be positive, got {scale}")
    if not jnp.issubdtype(mean.dtype, jnp.floating):
        mean = mean.astype(jnp.float32)
    return _random_subspace(key, mean, int(dimension), float(scale))


@partial(jax.jit, static_argnums=(2, 3))
def _random_subspace(key: jax.Array, mean: jax.Array, dimension: int, scale: float) -> Subspace:
    dtype = mean.dtype
    gaussian = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), mean.shape, dtype))(
        jnp.arange(dimension)
    )
    q, r = jnp.linalg.qr(gaussian.T)
    # fix the signs so that each direction keeps the orientation of its Gaussian draw
    q = q * jnp.where(jnp.diagonal(r) < 0, -1.0, 1.0).astype(dtype)
    directions = q.T
    singular_values = jnp.full((dimension,), scale, dtype)
    return Subspace(mean, singular_values[:, None] * directions, singular_values, directions)


def curve_in_coordinates(subspace: Subspace, curve: Curve) -> Curve:
    """The curve in subspace coordinates: control points φ_j = φ(θ_j), a curve in R^K.

    Because φ is affine, the Bézier curve of the mapped control points is the mapped curve:
    c(t) = φ(b(t)) for every t, and b(t) = θ(c(t)) when the curve lies in the subspace.
    """
    return make_curve(to_coordinates(subspace, curve.control_points), curve.kind)


def curve_from_coordinates(subspace: Subspace, curve: Curve) -> Curve:
    """The inverse of :func:`curve_in_coordinates`: control points θ_j = θ(φ_j)."""
    return make_curve(to_parameters(subspace, curve.control_points), curve.kind)
