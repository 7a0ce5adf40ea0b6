"""Tempered posteriors around a trained curve (Dold, Kobialka, Palm, Sommer, Rügamer, Dürr 2025,
"Paths and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382, Section on Bayesian
inference).

A trained Bézier curve θ(t) = Σ_j B_j(t) θ_j of K + 1 control points θ_j ∈ R^n spans the affine
subspace θ = μ + φ B with whitened coordinates φ ∈ R^K (:func:`landform.subspace.curve_subspace`);
in those coordinates the curve is c(t). :func:`curve_posterior` builds, from the curve, its
network and the training data, the tempered posterior

    log p_T(z) = log prior(z) + (1/T) Σ_i log p(y_i | x_i, θ(z))

of one space (:mod:`landform.bayes.spaces`): ``tunnel`` (t and offsets ξ across the curve in
a moving frame, φ = c(t) + s_tube Σ_i ξ_i e_i(t)), ``volume`` (φ ~ N(0, s² I)), ``line``
(φ = c(t)) or ``full`` (all n weights, θ ~ N(0, s² I)). :func:`prior_coordinates` draws the
prior of a space in φ coordinates, so that prior and posterior can be compared in one plane.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from landform.bayes.posterior import LIKELIHOODS, Posterior, categorical_likelihood, gaussian_likelihood
from landform.bayes.spaces import AroundCurve
from landform.bayes.spaces import space as space_of
from landform.errors import UnknownNameError
from landform.losses import get_loss
from landform.models import Model
from landform.paths import Curve, CurveModel, make_curve_model
from landform.subspace import Subspace, TunnelMap, curve_in_coordinates, curve_subspace, tunnel_map

#: The curve-training loss whose network outputs (mean, log σ): its last output column is σ.
LEARNED_SIGMA_LOSS = "gaussian_nll_learned"


class CurvePosteriorSettings(NamedTuple):
    """The priors and likelihood of a posterior around a curve (Dold et al. 2025, arXiv 2503.03382).

    - ``likelihood``: "gaussian" or "categorical".
    - ``sigma`` (Gaussian only): "sampled" (σ ~ LogNormal(``sigma_prior_location``,
      ``sigma_prior_scale``)), "trained"
      (log σ is the network's last output column, trained with the curve) or a fixed σ > 0.
    - ``volume_prior_scale``: s of φ ~ N(0, s² I) in the volume space.
    - ``full_prior_scale``: s of θ ~ N(0, s² I) in the full space.
    - ``t_prior``: the density of t on (``t_lower``, ``t_upper``): "arc_length" ‖c'(t)‖ / S,
      "jacobian" (arc length times ``|det ∂φ/∂λ|`` in the tunnel) or "none" (uniform in t).
    - ``xi_scale``: ξ ~ N(0, xi_scale² I); ``tube_scale``: s_tube of the tunnel map;
      ``frame``: the moving frame e_i(t) ("rotation_minimising", "transported", "frenet").
    """

    likelihood: str = "gaussian"
    sigma: str | float = "sampled"
    sigma_prior_scale: float = 1.0
    volume_prior_scale: float = 1.0
    full_prior_scale: float = 1.0
    t_prior: str = "arc_length"
    xi_scale: float = 0.5
    tube_scale: float = 0.1
    frame: str = "rotation_minimising"
    t_lower: float = -0.1
    t_upper: float = 1.1
    sigma_prior_location: float = 0.0


class CurvePosterior(NamedTuple):
    """A posterior around a trained curve and the pieces it was built from.

    - ``posterior``: the tempered :class:`Posterior` of the space.
    - ``subspace``: the affine subspace θ = μ + φ B of the curve's control points (K coordinates).
    - ``tunnel``: the tunnel map (t, ξ) → φ (tunnel space), otherwise None.
    - ``curve_phi``: the curve c(t) in φ coordinates (K + 1 control points in R^K).
    - ``curve_model``: the network of every point θ of the curve (ascending biases if the curve
      was trained with a symmetry).
    - ``curve``: the trained curve in the n weights θ.
    - ``loss``: the name of the loss the curve was trained with.
    """

    posterior: Posterior
    subspace: Subspace
    tunnel: TunnelMap | None
    curve_phi: Curve
    curve_model: CurveModel
    curve: Curve
    loss: str


def curve_likelihood(settings: CurvePosteriorSettings, loss: str, curve_model: CurveModel):
    """The likelihood of ``settings`` and the prediction f(θ, x) it scores: the network's outputs,
    without the log σ column of a learned-σ network (loss ``gaussian_nll_learned``) when σ is
    sampled or fixed."""
    if settings.likelihood not in LIKELIHOODS:
        raise UnknownNameError("likelihood", settings.likelihood, LIKELIHOODS)
    if settings.likelihood == "categorical":
        return categorical_likelihood(), curve_model.apply
    network_sigma = get_loss(loss).name == LEARNED_SIGMA_LOSS  # outputs (mean, log σ)
    if settings.sigma == "trained":
        return gaussian_likelihood("network"), curve_model.apply
    sigma = None if settings.sigma == "sampled" else float(settings.sigma)
    likelihood = gaussian_likelihood(sigma, settings.sigma_prior_scale, settings.sigma_prior_location)
    if network_sigma:
        return likelihood, lambda theta, x: curve_model.apply(theta, x)[:, :-1]
    return likelihood, curve_model.apply


def curve_posterior(
    space: str,
    curve: Curve,
    model: Model,
    loss: str,
    settings: CurvePosteriorSettings,
    train_x,
    train_y,
    temperature: float,
    *,
    symmetry: str | None = None,
    ensemble_points=None,
) -> CurvePosterior:
    """The tempered posterior of ``space`` around the trained ``curve`` (Dold et al. 2025,
    arXiv 2503.03382).

    ``curve``: control points θ_j of shape (K + 1, n) in the weights of ``model`` (trained with
    ``loss`` and ``symmetry``); ``train_x``, ``train_y``: the training data of the likelihood;
    ``temperature``: T > 0 in log p_T = log prior + log likelihood / T. The subspace of the
    control points gives φ ∈ R^K and c(t); the space decides the rest (module docstring):
    ``tunnel`` (needs K >= 2), ``volume`` (chains start on c(t)), ``line`` or ``full``
    (θ ∈ R^n; chains start from ``ensemble_points`` (m, n) when given).
    Raises :class:`~landform.errors.NumericalError` for a curve that spans no K-dimensional
    subspace or stops (c'(t) = 0) in the t range.
    """
    record = space_of(space)
    curve_model = make_curve_model(model, symmetry=symmetry)
    likelihood, predict = curve_likelihood(settings, loss, curve_model)
    subspace = curve_subspace(curve)
    curve_phi = curve_in_coordinates(subspace, curve)
    tunnel = None
    if record.needs_tunnel:
        tunnel = tunnel_map(
            curve_phi, settings.frame, tube_scale=settings.tube_scale, lower=settings.t_lower, upper=settings.t_upper
        )
    inputs = AroundCurve(
        settings, subspace, curve_phi, tunnel, predict, train_x, train_y, likelihood, temperature, ensemble_points
    )
    posterior = record.around_curve(inputs)
    return CurvePosterior(posterior, subspace, tunnel, curve_phi, curve_model, curve, loss)


def prior_coordinates(
    space: str,
    settings: CurvePosteriorSettings,
    curve_phi: Curve,
    tunnel: TunnelMap | None,
    count: int,
    seed: int = 0,
) -> np.ndarray | None:
    """``count`` draws of the prior of ``space`` in φ coordinates, shape (count, K), from
    ``numpy.random.default_rng(seed)``; None for the full space (its prior lives in θ).

    - volume: φ ~ N(0, s² I), s = ``volume_prior_scale``;
    - line: φ = c(t), t from its prior on (t_lower, t_upper);
    - tunnel: φ = c(t) + s_tube Σ_i ξ_i e_i(t) through ``tunnel``, t from its prior and
      ξ ~ N(0, xi_scale² I).

    The t prior "arc_length" (and "jacobian", drawn as its arc-length part) is sampled by
    :meth:`landform.bayes.spaces.ArcLengthPrior.sample` (inverting the cumulative arc length
    S(t) = ∫_(t_lower)^t ‖c'(u)‖ du, trapezoid rule on a grid of 4097 points); "none" draws t
    uniformly (Dold et al. 2025, arXiv 2503.03382). Each space's draws are its record's
    ``prior_draws`` (:func:`landform.bayes.spaces.space`).
    """
    record = space_of(space)
    rng = np.random.default_rng(seed)
    return record.prior_draws(settings, curve_phi, tunnel, count, rng)
