"""Maps between constrained parameters and the unconstrained coordinates samplers move in.

Samplers work on R^d; constrained quantities are reached through smooth bijections, and the
log density in the unconstrained coordinate u gains the log-Jacobian log |dx/du|
(change of variables: p_u(u) = p_x(x(u)) |dx/du|):

- an interval (a, b), e.g. the tunnel position t ∈ (−0.1, 1.1) of Dold et al. 2025
  (arXiv 2503.03382): affine sigmoid

      x = a + (b − a) σ(u),   u = logit((x − a)/(b − a)),
      log |dx/du| = log(b − a) + log σ(u) + log(1 − σ(u)) = log(b − a) − softplus(−u) − softplus(u);

- a positive number, e.g. the noise scale σ: x = exp(u), u = log x, log |dx/du| = u.

Initial positions must be mapped with the inverse maps (``*_to_unconstrained``): a constrained
value used directly as an unconstrained one is a different point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError


def interval_from_unconstrained(u, lower: float, upper: float) -> jax.Array:
    """x = a + (b − a) σ(u) ∈ (a, b)."""
    return lower + (upper - lower) * jax.nn.sigmoid(u)


def interval_to_unconstrained(x, lower: float, upper: float) -> jax.Array:
    """u = logit((x − a)/(b − a)) for x ∈ (a, b). Raises :class:`ConfigError` for concrete
    values outside the open interval (they have no unconstrained coordinate)."""
    x = jnp.asarray(x)
    if not isinstance(x, jax.core.Tracer):
        values = np.asarray(x)
        if not np.all((values > lower) & (values < upper)):
            bad = values[~((values > lower) & (values < upper))]
            raise ConfigError(
                f"values must lie strictly inside ({lower}, {upper}) to be mapped to unconstrained "
                f"coordinates; got {bad.ravel()[:5]}"
            )
    fraction = (x - lower) / (upper - lower)
    return jnp.log(fraction) - jnp.log1p(-fraction)


def interval_log_jacobian(u, lower: float, upper: float) -> jax.Array:
    """log ``|dx/du|`` = log(b − a) − softplus(u) − softplus(−u) (stable for large ``|u|``)."""
    u = jnp.asarray(u)
    return jnp.log(upper - lower) - jax.nn.softplus(u) - jax.nn.softplus(-u)


def positive_from_unconstrained(u) -> jax.Array:
    """x = exp(u) > 0."""
    return jnp.exp(u)


def positive_to_unconstrained(x) -> jax.Array:
    """u = log x for x > 0 (raises :class:`ConfigError` for concrete values ≤ 0)."""
    x = jnp.asarray(x)
    if not isinstance(x, jax.core.Tracer) and not np.all(np.asarray(x) > 0):
        raise ConfigError(f"values must be positive to be mapped to log coordinates; got {np.asarray(x).ravel()[:5]}")
    return jnp.log(x)


def positive_log_jacobian(u) -> jax.Array:
    """log ``|dx/du|`` = u for x = exp(u)."""
    return jnp.asarray(u)
