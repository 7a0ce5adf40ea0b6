"""The prior on the position t of the tunnel and line spaces: one object for its log density,
its normaliser and its sampler (Dold et al. 2025, "Paths and Ambient Spaces in Neural Loss
Landscapes", arXiv 2503.03382).

On (lower, upper) the density of t is ‖c'(t)‖ / S with S = ∫_lower^upper ‖c'‖ dt ("arc_length":
uniform in arc length along the curve c in φ coordinates) or 1 / (upper − lower) ("none":
uniform in t). The tunnel's "jacobian" prior and the line's are built from these two by their
spaces.

Numerics, kept as they have always been: the normaliser S is composite Gauss–Legendre
quadrature (:func:`landform.subspace.speed_on_interval`), while the sampler inverts a cumulative
arc length tabulated by the trapezoid rule on 4097 equally spaced t. The two agree to quadrature
accuracy, not exactly.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import UnknownNameError
from landform.paths.curves import Curve, derivative
from landform.subspace.tunnel import speed_on_interval

#: The kinds of :class:`ArcLengthPrior`: uniform in arc length, or uniform in t.
KINDS = ("arc_length", "none")

#: Points of the grid on which the sampler tabulates the cumulative arc length S(t) = ∫ ‖c'‖.
SAMPLER_POINTS = 4097


class ArcLengthPrior(NamedTuple):
    """The prior of t on (``lower``, ``upper``) along ``curve`` (in φ coordinates).

    ``kind``: "arc_length" (density ‖c'(t)‖ / ``length``) or "none" (uniform in t);
    ``length``: the normaliser S (:meth:`normaliser`), None when not needed ("none").
    """

    kind: str
    curve: Curve
    lower: float
    upper: float
    length: jax.Array | None = None

    @staticmethod
    def normaliser(curve: Curve, lower: float, upper: float) -> jax.Array:
        """S = ∫_lower^upper ‖c'(t)‖ dt by composite Gauss–Legendre quadrature."""
        return speed_on_interval(curve, lower, upper)

    def log_density(self, t: jax.Array) -> jax.Array:
        """log p(t): log ‖c'(t)‖ − log S, or −log(upper − lower) for "none" (no Jacobian terms)."""
        if self.kind == "none":
            return jnp.full_like(t, -math.log(self.upper - self.lower))
        velocity = derivative(self.curve, t, 1)
        return 0.5 * jnp.log(jnp.sum(velocity * velocity, axis=-1)) - jnp.log(self.length)

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """``count`` positions t (float32) drawn with ``rng``: uniform in t ("none"), or by
        inverting the cumulative arc length (trapezoid rule on :data:`SAMPLER_POINTS` points)."""
        lower, upper = self.lower, self.upper
        if self.kind == "none":
            t = rng.uniform(lower, upper, count)
        else:
            grid = np.linspace(lower, upper, SAMPLER_POINTS)
            speed = np.linalg.norm(np.asarray(derivative(self.curve, jnp.asarray(grid, jnp.float32), 1)), axis=-1)
            cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(grid))])
            t = np.interp(rng.uniform(0, cumulative[-1], count), cumulative, grid)
        return t.astype(np.float32)


def arc_length_prior(
    kind: str, curve: Curve, lower: float, upper: float, *, length: jax.Array | None = None
) -> ArcLengthPrior:
    """The :class:`ArcLengthPrior` of ``kind`` ("arc_length" or "none"); the normaliser S is
    ``length`` when given (a tunnel map's, say), else computed for "arc_length"."""
    if kind not in KINDS:
        raise UnknownNameError("arc-length prior kind", kind, KINDS)
    if length is None and kind == "arc_length":
        length = ArcLengthPrior.normaliser(curve, lower, upper)
    return ArcLengthPrior(kind, curve, lower, upper, length)
