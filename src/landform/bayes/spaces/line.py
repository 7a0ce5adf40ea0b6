"""The ``line`` space: the position t ∈ (lower, upper) on the curve alone, φ = c(t), with the
tunnel's t prior ("jacobian" is the arc-length factor in one dimension; Dold et al. 2025,
arXiv 2503.03382)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from landform.bayes.posterior import Likelihood, Posterior, _assemble, _check_t_prior, _uniform_t
from landform.bayes.spaces.arc_length import arc_length_prior
from landform.bayes.spaces.base import AroundCurve, PosteriorSpace, need
from landform.bayes.transforms import interval_from_unconstrained, interval_log_jacobian, interval_to_unconstrained
from landform.errors import ConfigError, ShapeError
from landform.paths.curves import Curve, evaluate
from landform.subspace.affine import Subspace
from landform.subspace.frames import DEFAULT_LOWER, DEFAULT_POINTS, DEFAULT_UPPER
from landform.subspace.tunnel import check_speed


def coordinate_names(dimension: int) -> tuple[str, ...]:
    """``t_unconstrained`` alone, whatever K."""
    return ("t_unconstrained",)


def line_posterior(
    subspace: Subspace,
    curve: Curve,
    predict: Callable,
    x,
    y,
    *,
    likelihood: Likelihood | str | None = None,
    temperature: float = 1.0,
    t_prior: str = "arc_length",
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
    speed_tolerance: float = 1e-3,
) -> Posterior:
    """The posterior over the position t ∈ (lower, upper) on the curve alone, φ = c(t)
    (``curve`` in φ coordinates); t prior as for the tunnel ("jacobian" = "arc_length")."""
    _check_t_prior(t_prior)
    if not upper > lower:
        raise ConfigError(f"the t range needs lower < upper, got [{lower}, {upper}]")
    if curve.dim != subspace.dimension:
        raise ShapeError(f"the curve has {curve.dim} coordinates, the subspace {subspace.dimension}")
    check_speed(curve, lower, upper, DEFAULT_POINTS, speed_tolerance)
    position = arc_length_prior("arc_length" if t_prior == "jacobian" else t_prior, curve, lower, upper)

    def t_of(core):
        return interval_from_unconstrained(core[..., 0], lower, upper)

    def log_prior(core):
        return interval_log_jacobian(core[..., 0], lower, upper) + position.log_density(t_of(core))

    def phi(core):
        return evaluate(curve, t_of(core))

    def unconstrain(values):
        t = jnp.asarray(values["t"], subspace.basis.dtype)
        return interval_to_unconstrained(t, lower, upper)[..., None]

    return _assemble(
        space="line",
        core_names=coordinate_names(subspace.dimension),
        core_log_prior=log_prior,
        core_to_parameters=lambda core: subspace.to_parameters(phi(core)),
        core_coordinates=phi,
        core_constrain=lambda core: {"t": t_of(core), "phi": phi(core)},
        core_unconstrain=unconstrain,
        predict=predict,
        x=x,
        y=y,
        likelihood=likelihood,
        temperature=temperature,
        settings={"t_prior": t_prior, "t_lower": lower, "t_upper": upper},
        default_core_values=lambda key, count: {"t": _uniform_t(key, count, subspace.basis.dtype)},
    )


def _around_curve(inputs: AroundCurve) -> Posterior:
    settings = inputs.settings
    return line_posterior(
        inputs.subspace,
        inputs.curve_phi,
        inputs.predict,
        inputs.x,
        inputs.y,
        t_prior=settings.t_prior,
        lower=settings.t_lower,
        upper=settings.t_upper,
        likelihood=inputs.likelihood,
        temperature=inputs.temperature,
    )


def _from_pieces(predict, x, y, *, subspace=None, tunnel=None, curve=None, dimension=None, **options) -> Posterior:
    line_curve = curve if curve is not None else (tunnel.curve if tunnel is not None else None)
    if tunnel is not None:
        options.setdefault("lower", tunnel.lower)
        options.setdefault("upper", tunnel.upper)
    return line_posterior(
        need("line", "a subspace", subspace), need("line", "a curve (or tunnel)", line_curve), predict, x, y, **options
    )


def _prior_draws(settings, curve_phi: Curve, tunnel, count: int, rng: np.random.Generator) -> np.ndarray:
    """φ = c(t), t from its prior ("jacobian" drawn as arc length)."""
    kind = "none" if settings.t_prior == "none" else "arc_length"
    t = arc_length_prior(kind, curve_phi, settings.t_lower, settings.t_upper).sample(rng, count)
    return np.asarray(evaluate(curve_phi, jnp.asarray(t)))


#: The line space's record.
SPACE = PosteriorSpace(
    name="line",
    coordinate="phi",
    coordinate_names=coordinate_names,
    needs_tunnel=False,
    needs_ensemble=False,
    records_constrained=True,
    posterior=line_posterior,
    around_curve=_around_curve,
    from_pieces=_from_pieces,
    prior_draws=_prior_draws,
)
