"""The ``full`` space: all n weights, θ ~ N(0, s² I) (s = 1 in Dold et al. 2025, arXiv
2503.03382); chains start from given points, the members of a deep ensemble."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from landform.bayes.posterior import Likelihood, Posterior, _assemble, _check_positive, _log_normal
from landform.bayes.spaces.base import AroundCurve, PosteriorSpace, need
from landform.errors import ConfigError, ShapeError


def coordinate_names(dimension: int) -> tuple[str, ...]:
    """``theta_1`` … ``theta_n``."""
    return tuple(f"theta_{i + 1}" for i in range(dimension))


def full_posterior(
    dimension: int,
    predict: Callable,
    x,
    y,
    *,
    likelihood: Likelihood | str | None = None,
    temperature: float = 1.0,
    prior_scale: float = 1.0,
    initial_points=None,
) -> Posterior:
    """The posterior over all n = ``dimension`` weights, θ ~ N(0, s² I) with s = ``prior_scale``.

    ``initial_points`` (m, n), e.g. a deep ensemble, are the default starting points (chain i
    starts at point i mod m).
    """
    prior_scale = _check_positive("prior_scale", prior_scale)
    if not isinstance(dimension, int | np.integer) or dimension < 1:
        raise ConfigError(f"the full space needs the number of parameters n >= 1, got {dimension!r}")
    dimension = int(dimension)
    points = None
    if initial_points is not None:
        points = jnp.asarray(initial_points)
        if points.ndim == 1:
            points = points[None]
        if points.shape[-1] != dimension:
            raise ShapeError(f"initial points have shape {tuple(points.shape)}; expected (m, {dimension})")

    default = None
    if points is not None:

        def default(key, count):
            return {"theta": points[jnp.arange(count) % points.shape[0]]}

    return _assemble(
        space="full",
        core_names=coordinate_names(dimension),
        core_log_prior=lambda theta: _log_normal(theta, prior_scale),
        core_to_parameters=lambda theta: theta,
        core_coordinates=lambda theta: theta,
        core_constrain=lambda theta: {"theta": theta},
        core_unconstrain=lambda values: jnp.asarray(values["theta"]),
        predict=predict,
        x=x,
        y=y,
        likelihood=likelihood,
        temperature=temperature,
        settings={"prior_scale": prior_scale},
        default_core_values=default,
    )


def _around_curve(inputs: AroundCurve) -> Posterior:
    return full_posterior(
        inputs.subspace.ambient_dimension,
        inputs.predict,
        inputs.x,
        inputs.y,
        prior_scale=inputs.settings.full_prior_scale,
        initial_points=inputs.ensemble_points,
        likelihood=inputs.likelihood,
        temperature=inputs.temperature,
    )


def _from_pieces(predict, x, y, *, subspace=None, tunnel=None, curve=None, dimension=None, **options) -> Posterior:
    if dimension is None and subspace is not None:
        dimension = subspace.ambient_dimension
    return full_posterior(need("full", "the number of parameters (dimension)", dimension), predict, x, y, **options)


def _prior_draws(settings, curve_phi, tunnel, count: int, rng: np.random.Generator) -> None:
    """None: the full space's prior lives in θ, not in φ."""
    return None


#: The full space's record.
SPACE = PosteriorSpace(
    name="full",
    coordinate="theta",
    coordinate_names=coordinate_names,
    needs_tunnel=False,
    needs_ensemble=True,
    records_constrained=False,
    posterior=full_posterior,
    around_curve=_around_curve,
    from_pieces=_from_pieces,
    prior_draws=_prior_draws,
)
