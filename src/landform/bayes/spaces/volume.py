"""The ``volume`` space: the K subspace coordinates φ ~ N(0, s² I) of a curve's control points
(s = 1 for the toy problem, 0.5 for UCI in Dold et al. 2025, arXiv 2503.03382); θ = θ(φ)."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from landform.bayes.posterior import Likelihood, Posterior, _assemble, _check_positive, _log_normal, _uniform_t
from landform.bayes.spaces.base import AroundCurve, PosteriorSpace, need
from landform.paths.curves import Curve, evaluate
from landform.subspace.affine import Subspace


def coordinate_names(dimension: int) -> tuple[str, ...]:
    """``phi_1`` … ``phi_K``."""
    return tuple(f"phi_{i + 1}" for i in range(dimension))


def volume_posterior(
    subspace: Subspace,
    predict: Callable,
    x,
    y,
    *,
    likelihood: Likelihood | str | None = None,
    temperature: float = 1.0,
    prior_scale: float = 1.0,
    curve: Curve | None = None,
) -> Posterior:
    """The posterior over the K subspace coordinates φ ~ N(0, s² I) with s = ``prior_scale``.

    ``curve`` (in φ coordinates) provides default starting points c(t_i), t_i ~ U(0, 1);
    without it chains start at prior draws.
    """
    prior_scale = _check_positive("prior_scale", prior_scale)
    size = subspace.dimension

    def default(key, count):
        if curve is not None:
            return {"phi": evaluate(curve, _uniform_t(key, count, curve.control_points.dtype))}
        draws = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (size,)))(jnp.arange(count))
        return {"phi": prior_scale * draws}

    return _assemble(
        space="volume",
        core_names=coordinate_names(size),
        core_log_prior=lambda phi: _log_normal(phi, prior_scale),
        core_to_parameters=subspace.to_parameters,
        core_coordinates=lambda phi: phi,
        core_constrain=lambda phi: {"phi": phi},
        core_unconstrain=lambda values: jnp.asarray(values["phi"], subspace.basis.dtype),
        predict=predict,
        x=x,
        y=y,
        likelihood=likelihood,
        temperature=temperature,
        settings={"prior_scale": prior_scale},
        default_core_values=default,
    )


def _around_curve(inputs: AroundCurve) -> Posterior:
    return volume_posterior(
        inputs.subspace,
        inputs.predict,
        inputs.x,
        inputs.y,
        likelihood=inputs.likelihood,
        temperature=inputs.temperature,
        prior_scale=inputs.settings.volume_prior_scale,
        curve=inputs.curve_phi,
    )


def _from_pieces(predict, x, y, *, subspace=None, tunnel=None, curve=None, dimension=None, **options) -> Posterior:
    subspace = need("volume", "a subspace", subspace)
    return volume_posterior(subspace, predict, x, y, curve=curve or (tunnel.curve if tunnel else None), **options)


def _prior_draws(settings, curve_phi: Curve, tunnel, count: int, rng: np.random.Generator) -> np.ndarray:
    return settings.volume_prior_scale * rng.standard_normal((count, curve_phi.dim)).astype(np.float32)


#: The volume space's record.
SPACE = PosteriorSpace(
    name="volume",
    coordinate="phi",
    coordinate_names=coordinate_names,
    needs_tunnel=False,
    needs_ensemble=False,
    records_constrained=True,
    posterior=volume_posterior,
    around_curve=_around_curve,
    from_pieces=_from_pieces,
    prior_draws=_prior_draws,
)
