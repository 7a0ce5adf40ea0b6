"""The ``tunnel`` space: λ = (t, ξ) around a curve in a moving frame, φ = c(t) + s_tube Σ_i ξ_i e_i(t)
(:mod:`landform.subspace.tunnel`; Dold et al. 2025, arXiv 2503.03382).

t ∈ (a, b) is reached by the affine sigmoid t = a + (b − a) σ(u); ξ ~ N(0, s² I). The t prior
(``t_prior``) is "arc_length" (:class:`~landform.bayes.spaces.arc_length.ArcLengthPrior`),
"jacobian" ((1/(b − a)) abs(det ∂φ/∂λ), uniform in φ-volume near the curve; it also depends on
ξ and is not normalised) or "none" (uniform in t).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from landform.bayes.posterior import (
    Likelihood,
    Posterior,
    _assemble,
    _check_positive,
    _check_t_prior,
    _log_normal,
    _uniform_t,
)
from landform.bayes.spaces.arc_length import arc_length_prior
from landform.bayes.spaces.base import AroundCurve, PosteriorSpace, need
from landform.bayes.transforms import interval_from_unconstrained, interval_log_jacobian, interval_to_unconstrained
from landform.errors import ConfigError, ShapeError
from landform.paths.curves import Curve
from landform.subspace.affine import Subspace
from landform.subspace.tunnel import TunnelMap, tunnel_log_jacobian, tunnel_point


def coordinate_names(dimension: int) -> tuple[str, ...]:
    """``t_unconstrained`` and the K − 1 offsets ``xi_1`` … ``xi_(K−1)``."""
    return ("t_unconstrained",) + tuple(f"xi_{i + 1}" for i in range(dimension - 1))


def tunnel_posterior(
    subspace: Subspace,
    tunnel: TunnelMap,
    predict: Callable,
    x,
    y,
    *,
    likelihood: Likelihood | str | None = None,
    temperature: float = 1.0,
    t_prior: str = "arc_length",
    xi_scale: float = 0.5,
) -> Posterior:
    """The posterior in tunnel coordinates (t, ξ): t ~ U(lower, upper) × ``t_prior`` factor,
    ξ ~ N(0, s² I) with s = ``xi_scale``; z = (logit-scaled t, ξ) (module docstring)."""
    _check_t_prior(t_prior)
    xi_scale = _check_positive("xi_scale", xi_scale)
    if tunnel.dimension != subspace.dimension:
        raise ShapeError(
            f"the tunnel has K = {tunnel.dimension} coordinates but the subspace has {subspace.dimension}; "
            "build the tunnel from the curve in this subspace's coordinates"
        )
    lower, upper = tunnel.lower, tunnel.upper
    size = tunnel.dimension
    kind = "none" if t_prior == "jacobian" else t_prior
    position = arc_length_prior(kind, tunnel.curve, lower, upper, length=tunnel.length)

    def tunnel_coordinates(core):
        t = interval_from_unconstrained(core[..., 0], lower, upper)
        return jnp.concatenate([t[..., None], core[..., 1:]], axis=-1)

    def log_prior(core):
        lam = tunnel_coordinates(core)
        value = interval_log_jacobian(core[..., 0], lower, upper) + position.log_density(lam[..., 0])
        if t_prior == "jacobian":
            value = value + tunnel_log_jacobian(tunnel, lam)
        return value + _log_normal(core[..., 1:], xi_scale)

    def phi(core):
        return tunnel_point(tunnel, tunnel_coordinates(core))

    def constrain(core):
        lam = tunnel_coordinates(core)
        return {"t": lam[..., 0], "xi": lam[..., 1:], "phi": tunnel_point(tunnel, lam)}

    def unconstrain(values):
        t = jnp.asarray(values["t"], subspace.basis.dtype)
        xi = jnp.asarray(values["xi"], subspace.basis.dtype)
        if xi.shape[-1:] != (size - 1,):
            raise ShapeError(f"values['xi'] must have {size - 1} offsets in its last axis, got shape {tuple(xi.shape)}")
        u = interval_to_unconstrained(t, lower, upper)
        return jnp.concatenate([u[..., None], xi], axis=-1)

    def default(key, count):
        t = _uniform_t(key, count, subspace.basis.dtype)
        return {"t": t, "xi": jnp.zeros((count, size - 1), subspace.basis.dtype)}

    return _assemble(
        space="tunnel",
        core_names=coordinate_names(size),
        core_log_prior=log_prior,
        core_to_parameters=lambda core: subspace.to_parameters(phi(core)),
        core_coordinates=phi,
        core_constrain=constrain,
        core_unconstrain=unconstrain,
        predict=predict,
        x=x,
        y=y,
        likelihood=likelihood,
        temperature=temperature,
        settings={
            "t_prior": t_prior,
            "xi_scale": xi_scale,
            "tube_scale": tunnel.tube_scale,
            "frame": tunnel.frame.kind,
            "t_lower": lower,
            "t_upper": upper,
        },
        default_core_values=default,
    )


def _around_curve(inputs: AroundCurve) -> Posterior:
    settings = inputs.settings
    return tunnel_posterior(
        inputs.subspace,
        inputs.tunnel,
        inputs.predict,
        inputs.x,
        inputs.y,
        t_prior=settings.t_prior,
        xi_scale=settings.xi_scale,
        likelihood=inputs.likelihood,
        temperature=inputs.temperature,
    )


def _from_pieces(predict, x, y, *, subspace=None, tunnel=None, curve=None, dimension=None, **options) -> Posterior:
    return tunnel_posterior(
        need("tunnel", "a subspace", subspace), need("tunnel", "a tunnel map", tunnel), predict, x, y, **options
    )


def _prior_draws(settings, curve_phi: Curve, tunnel: TunnelMap | None, count: int, rng: np.random.Generator):
    """φ = c(t) + s_tube Σ_i ξ_i e_i(t): t from its prior ("jacobian" drawn as its arc-length
    part), ξ ~ N(0, xi_scale² I)."""
    if tunnel is None:
        raise ConfigError("prior draws in the tunnel space need its tunnel map; pass tunnel")
    kind = "none" if settings.t_prior == "none" else "arc_length"
    t = arc_length_prior(kind, curve_phi, settings.t_lower, settings.t_upper, length=tunnel.length).sample(rng, count)
    xi = settings.xi_scale * rng.standard_normal((count, curve_phi.dim - 1)).astype(np.float32)
    return np.asarray(tunnel_point(tunnel, jnp.concatenate([jnp.asarray(t)[:, None], jnp.asarray(xi)], axis=1)))


#: The tunnel space's record.
SPACE = PosteriorSpace(
    name="tunnel",
    coordinate="phi",
    coordinate_names=coordinate_names,
    needs_tunnel=True,
    needs_ensemble=False,
    records_constrained=True,
    posterior=tunnel_posterior,
    around_curve=_around_curve,
    from_pieces=_from_pieces,
    prior_draws=_prior_draws,
)
