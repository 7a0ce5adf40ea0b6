"""Tunnel coordinates: a position along the curve plus offsets across it.

Dold et al. 2025 ("Paths and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382)
sample the posterior of a network around a trained loss tunnel in coordinates that follow the
tunnel. With the curve c(t) in the K whitened coordinates φ of the control-point subspace
(:mod:`landform.subspace.affine`) and orthonormal normals e_1(t)..e_{K−1}(t) of a moving frame
(:mod:`landform.subspace.frames`), the tunnel coordinates λ = (t, ξ), ξ ∈ R^(K−1), map to

    φ(t, ξ) = c(t) + s · Σ_i ξ_i e_i(t),        θ = μ + φ · B,

with the tube scale s (0.1 in the paper). Change of variables: the Jacobian ∂φ/∂λ has columns
∂φ/∂t = c'(t) + s Σ_i ξ_i e_i'(t) and ∂φ/∂ξ_i = s e_i(t). In the orthonormal basis
(T, e_1..e_{K−1}) of the frame the last K−1 columns are s times unit vectors, so

    |det ∂φ/∂λ| = s^(K−1) · |T(t) · ∂φ/∂t|,

one forward-mode derivative in t (:func:`tunnel_log_jacobian`); :func:`tunnel_jacobian` gives
the full K×K matrix by ``jax.jacfwd`` for checks. At ξ = 0 this is s^(K−1) ‖c'(t)‖, the
arc-length element times the cross-section's volume.

The map is only a change of coordinates where the curve has non-zero speed: :func:`tunnel_map`
refuses curves with ‖c'(t)‖ ≈ 0 anywhere on its t grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, NumericalError, ShapeError
from landform.paths.curves import Curve, derivative, evaluate
from landform.paths.geometry import quadrature
from landform.subspace.affine import Subspace, curve_in_coordinates, curve_subspace
from landform.subspace.frames import (
    DEFAULT_EPSILON,
    DEFAULT_LOWER,
    DEFAULT_POINTS,
    DEFAULT_UPPER,
    Frame,
    MovingFrame,
    moving_frame,
)

_HIGHEST = jax.lax.Precision.HIGHEST


@dataclass(frozen=True)
class TunnelMap:
    """The map λ = (t, ξ) ↦ φ(t, ξ) = c(t) + tube_scale · Σ_i ξ_i e_i(t).

    ``frame`` holds the curve c (in φ coordinates) and its moving frame; ``length`` is
    S = ∫_lower^upper ‖c'(t)‖ dt over the tunnel's t range [``lower``, ``upper``]. A pytree
    (``lower``, ``upper`` and ``tube_scale`` are static), so it passes through ``jit``.
    """

    frame: MovingFrame
    length: jax.Array
    tube_scale: float
    lower: float
    upper: float

    @property
    def curve(self) -> Curve:
        return self.frame.curve

    @property
    def dimension(self) -> int:
        """K: the number of tunnel coordinates (1 + K−1 offsets)."""
        return self.frame.curve.dim


jax.tree_util.register_dataclass(
    TunnelMap, data_fields=["frame", "length"], meta_fields=["tube_scale", "lower", "upper"]
)


def speed_on_interval(curve: Curve, lower: float, upper: float, intervals: int = 16, nodes: int = 8) -> jax.Array:
    """∫_lower^upper ‖c'(t)‖ dt by composite Gauss–Legendre quadrature (exact up to the
    smoothness of ‖c'‖)."""
    points, weights = quadrature(intervals, nodes, lower, upper)
    dtype = curve.control_points.dtype
    velocity = derivative(curve, jnp.asarray(points, dtype), 1)
    return jnp.sum(jnp.asarray(weights, dtype) * jnp.sqrt(jnp.sum(velocity * velocity, axis=-1)))


def check_speed(curve: Curve, lower: float, upper: float, points: int, tolerance: float) -> None:
    """Raise :class:`NumericalError` if ‖c'(t)‖ ≤ tolerance · (mean speed) at any of ``points``
    equally spaced t in [lower, upper] (a cusp or a turning point of the parametrisation)."""
    grid = np.linspace(lower, upper, points)
    velocity = np.asarray(derivative(curve, jnp.asarray(grid, curve.control_points.dtype), 1))
    speeds = np.sqrt(np.sum(velocity.astype(np.float64) ** 2, axis=-1))
    if not np.isfinite(speeds).all():
        raise NumericalError("the curve's velocity is not finite on the t grid; check the control points")
    typical = float(np.mean(speeds))
    worst = int(np.argmin(speeds))
    if typical <= 0 or speeds[worst] <= tolerance * typical:
        raise NumericalError(
            f"the curve has (almost) zero speed ‖c'(t)‖ = {speeds[worst]:.3g} at t = {grid[worst]:.4f} "
            f"(mean speed {typical:.3g}); tunnel coordinates are singular there. Retrain the curve, "
            f"or restrict the t range [{lower}, {upper}] to avoid the point"
        )


def tunnel_map(
    curve: Curve,
    frame: str = "rotation_minimising",
    *,
    tube_scale: float = 0.1,
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
    points: int = DEFAULT_POINTS,
    epsilon: float = DEFAULT_EPSILON,
    speed_tolerance: float = 1e-3,
) -> TunnelMap:
    """The :class:`TunnelMap` around ``curve`` (a curve in the K subspace coordinates φ, for
    example from :func:`landform.subspace.curve_in_coordinates`).

    ``frame``: "rotation_minimising" (default), "transported" (Dold et al. 2025, cut parameter
    ``epsilon`` degrees) or "frenet"; tabulated on ``points`` values of t in [lower, upper],
    the tunnel's t range (the paper's prior support (−0.1, 1.1)).

    Raises :class:`ConfigError` if K < 2 (no offsets across a curve in one dimension) or
    ``tube_scale`` is not positive, :class:`NumericalError` if the curve has zero speed
    somewhere on the grid (:func:`check_speed`).
    """
    if curve.dim < 2:
        raise ConfigError(
            f"tunnel coordinates need a subspace of K >= 2 dimensions (the position t and K−1 "
            f"offsets); the curve lives in K = {curve.dim}. Use the 'line' space for t alone"
        )
    if not (isinstance(tube_scale, int | float) and math.isfinite(tube_scale) and tube_scale > 0):
        raise ConfigError(f"tube_scale must be a positive number, got {tube_scale!r}")
    if not upper > lower:
        raise ConfigError(f"the t range needs lower < upper, got [{lower}, {upper}]")
    check_speed(curve, lower, upper, points, speed_tolerance)
    moving = moving_frame(curve, frame, lower=lower, upper=upper, points=points, epsilon=epsilon)
    length = speed_on_interval(curve, lower, upper)
    return TunnelMap(moving, length, float(tube_scale), float(lower), float(upper))


def tunnel_from_curve(curve: Curve, frame: str = "rotation_minimising", **options) -> tuple[Subspace, TunnelMap]:
    """The subspace of a trained curve's control points (θ space) and the tunnel map around the
    curve in its coordinates: ``(curve_subspace(curve), tunnel_map(curve in φ, frame, ...))``."""
    subspace = curve_subspace(curve)
    return subspace, tunnel_map(curve_in_coordinates(subspace, curve), frame, **options)


def _split(tunnel: TunnelMap, coordinates: jax.Array) -> tuple[jax.Array, jax.Array]:
    coordinates = jnp.asarray(coordinates, tunnel.curve.control_points.dtype)
    if coordinates.shape[-1:] != (tunnel.dimension,):
        raise ShapeError(
            f"tunnel coordinates (t, ξ) have shape {tuple(coordinates.shape)}; this tunnel has "
            f"K = {tunnel.dimension} coordinates (t and {tunnel.dimension - 1} offsets), expected "
            f"shape (..., {tunnel.dimension})"
        )
    return coordinates[..., 0], coordinates[..., 1:]


def _point(tunnel: TunnelMap, t: jax.Array, offsets: jax.Array) -> jax.Array:
    frame: Frame = tunnel.frame(t)
    across = jnp.einsum("...i,...ik->...k", offsets, frame.normals, precision=_HIGHEST)
    return evaluate(tunnel.curve, t) + tunnel.tube_scale * across


@jax.jit
def tunnel_point(tunnel: TunnelMap, coordinates) -> jax.Array:
    """φ(t, ξ) = c(t) + s Σ_i ξ_i e_i(t) for coordinates λ = (t, ξ) of shape (..., K)."""
    t, offsets = _split(tunnel, coordinates)
    return _point(tunnel, t, offsets)


@jax.jit
def tunnel_jacobian(tunnel: TunnelMap, coordinates) -> jax.Array:
    """∂φ/∂λ by forward-mode autodiff: shape (..., K, K), [i, j] = ∂φ_i/∂λ_j."""
    t, offsets = _split(tunnel, coordinates)
    flat = jnp.concatenate([t[..., None], offsets], axis=-1).reshape(-1, tunnel.dimension)

    def one(lam):
        return jax.jacfwd(lambda v: _point(tunnel, v[0], v[1:]))(lam)

    return jax.vmap(one)(flat).reshape(t.shape + (tunnel.dimension, tunnel.dimension))


@jax.jit
def tunnel_log_jacobian(tunnel: TunnelMap, coordinates) -> jax.Array:
    """log ``|det ∂φ/∂λ|`` = (K−1) log s + log ``|T(t) · ∂φ/∂t|`` (module docstring): shape (...)."""
    t, offsets = _split(tunnel, coordinates)
    flat_t, flat_offsets = t.reshape(-1), offsets.reshape(-1, tunnel.dimension - 1)

    def point_and_tangent(time, offset):
        frame = tunnel.frame(time)
        across = jnp.matmul(offset, frame.normals, precision=_HIGHEST)
        return evaluate(tunnel.curve, time) + tunnel.tube_scale * across, frame.tangent

    def one(time, offset):
        (_, tangent), (velocity, _) = jax.jvp(lambda v: point_and_tangent(v, offset), (time,), (jnp.ones_like(time),))
        return jnp.log(jnp.abs(jnp.dot(tangent, velocity)))

    values = jax.vmap(one)(flat_t, flat_offsets)
    return values.reshape(t.shape) + (tunnel.dimension - 1) * math.log(tunnel.tube_scale)


@jax.jit
def tunnel_speed(tunnel: TunnelMap, t) -> jax.Array:
    """‖c'(t)‖ along the tunnel's centre curve."""
    velocity = derivative(tunnel.curve, jnp.asarray(t, tunnel.curve.control_points.dtype), 1)
    return jnp.sqrt(jnp.sum(velocity * velocity, axis=-1))
