"""Finite, named basin measures, and the ray estimator's log-volume of a membership function.

Let S = {θ : L(θ) ≤ τ} and θ* ∈ S. Its star domain about θ* is
star(S) = {θ : θ* + t(θ − θ*) ∈ S for all t ∈ [0, 1]} (= S when S is star-shaped about θ*, as
every exact body of :mod:`landform.volume.bodies` is). Two finite measures of it:

- the capped volume  Vol_R(S) = Vol(star(S) ∩ {θ : ‖(θ − θ*)/w‖ ≤ R}), w a per-coordinate metric
  (``cap_scale``; 1 for Euclidean): finite for every S; equal to Vol(star(S)) when that is bounded
  and lies within the cap. :func:`capped_log_volume`.
- the prior mass  M_σ(S) = ∫_{star(S)} N(θ; 0, diag σ²) dθ, with σ per coordinate (per layer:
  broadcast each layer's σ over its entries; EleutherAI's basin-volume measures basins under such
  a Gaussian prior): finite, in [0, 1]. :func:`prior_log_mass`.

Both are estimated by tethered annealing (:func:`landform.volume.annealing.tethered_log_volume`);
with ``cap=None`` the uncapped volume is estimated and a set whose tether ladder finds no
tether-free end (E_k‖z‖² still growing like n/k) is reported unbounded, log-volume +inf.

:func:`sublevel_membership` builds the membership function these need from a loss of one flat
vector; ``segment_checks`` > 0 also tests that many points of the segment from θ*, a
necessary condition for the star domain (exact for star-shaped S with 0 checks).
:func:`paper_ray_log_volume` is the minima-volume paper's estimator (Fan, Sandlund, Ko 2025) on exit
radii found by bisection on membership (or given in closed form): the negative control.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError
from landform.volume.annealing import AnnealingSettings, BasinEstimate, TetherPreconditioner, tethered_log_volume
from landform.volume.estimators import log_volume


def sublevel_membership(loss: Callable, threshold: float, center=None, *, segment_checks: int = 0) -> Callable:
    """θ ↦ L(θ) ≤ τ for θ on the last axis (batches allowed); ``loss`` maps one flat vector to a
    scalar and must be traceable by JAX. With ``segment_checks`` = m > 0 and a ``center`` θ*, also
    L(θ* + (j/(m+1))(θ − θ*)) ≤ τ for j = 1..m."""
    if segment_checks and center is None:
        raise ConfigError("segment checks need the center θ* of the star domain")
    tau = float(threshold)

    def single(theta):
        ok = loss(theta) <= tau
        if segment_checks:
            c = jnp.asarray(center, theta.dtype)
            fractions = jnp.arange(1, segment_checks + 1, dtype=theta.dtype) / (segment_checks + 1)
            ok = ok & jnp.all(jax.vmap(lambda t: loss(c + t * (theta - c)) <= tau)(fractions))
        return ok

    def inside(theta):
        flat = theta.reshape(-1, theta.shape[-1])
        return jax.vmap(single)(flat).reshape(theta.shape[:-1])

    return inside


def capped_log_volume(
    inside: Callable,
    center,
    cap: float,
    *,
    cap_scale=None,
    precondition: TetherPreconditioner | None = None,
    curvature_product: Callable | None = None,
    settings: AnnealingSettings = AnnealingSettings(),
    key: jax.Array | int = 0,
) -> BasinEstimate:
    """log Vol_R(S) = log Vol(star(S) ∩ {‖(θ − θ*)/w‖ ≤ R}) by tethered annealing (see the module
    docstring). ``unbounded`` in the result says that samples reached the cap: the set extends to
    R in some directions (rays that do not exit within R), so the measure depends on R."""
    if not cap > 0:
        raise ConfigError(f"the cap radius must be positive, got {cap}")
    return tethered_log_volume(
        inside, center, precondition=precondition, cap=cap, cap_scale=cap_scale,
        curvature_product=curvature_product, settings=settings, key=key,
    )  # fmt: skip


def prior_log_mass(
    inside: Callable,
    center,
    prior_scale,
    *,
    precondition: TetherPreconditioner | None = None,
    settings: AnnealingSettings = AnnealingSettings(),
    key: jax.Array | int = 0,
) -> BasinEstimate:
    """log M_σ(S) = log ∫_{star(S)} N(θ; 0, diag σ²) dθ by tethered annealing with the prior as the
    base measure (diagonal preconditioners only)."""
    return tethered_log_volume(
        inside, center, precondition=precondition, prior_scale=prior_scale, settings=settings, key=key
    )


def bisection_exit_radii(
    inside: Callable, center, directions, *, max_radius: float, iterations: int = 60
) -> np.ndarray:
    """Exit radii r_i = sup{r ≤ R : θ* + r·u_i ∈ S} (first crossing is not resolved: bisection
    assumes S is star-shaped about θ*) for unit rows u_i, in float64; R where still inside at R."""
    with jax.enable_x64(True):
        c = jnp.asarray(center, jnp.float64)
        u = jnp.asarray(directions, jnp.float64)

        @jax.jit
        def radii(u):
            def one(d):
                def body(_, bracket):
                    lo, hi = bracket
                    mid = 0.5 * (lo + hi)
                    ok = inside(c + mid * d)
                    return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

                at_cap = inside(c + max_radius * d)
                lo, _ = jax.lax.fori_loop(0, iterations, body, (0.0, max_radius))
                return jnp.where(at_cap, max_radius, lo)

            return jax.lax.map(one, u, batch_size=64)

        return np.asarray(radii(u), np.float64)


def isotropic_directions(count: int, dimension: int, key: jax.Array | int = 0) -> np.ndarray:
    """``count`` unit vectors uniform on the sphere, direction i from fold_in(key, i)."""
    key = jax.random.key(key) if isinstance(key, int) else key
    with jax.enable_x64(True):
        g = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (dimension,), jnp.float64))(
            jnp.arange(count)
        )
        return np.asarray(g / jnp.linalg.norm(g, axis=1, keepdims=True))


def paper_ray_log_volume(radii, dimension: int) -> float:
    """The ray estimator log V̂ = log V_n + logsumexp_i(n log ρ_i) − log K on sphere radii ρ_i
    (:func:`landform.volume.estimators.log_volume` with the unit ball): the negative control."""
    radii = np.asarray(radii, np.float64)
    if np.isinf(radii).any():
        return math.inf
    return float(log_volume(radii, dimension, include_ball=True))
