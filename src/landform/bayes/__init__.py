"""Bayesian inference in the spaces around loss tunnels (Dold et al. 2025, "Paths and Ambient
Spaces in Neural Loss Landscapes", arXiv 2503.03382).

- :mod:`~landform.bayes.transforms`: constrained ↔ unconstrained maps with log-Jacobians.
- :mod:`~landform.bayes.posterior`: the tempered posterior record and the Gaussian or
  categorical likelihoods.
- :mod:`~landform.bayes.spaces`: the ``volume``, ``tunnel``, ``line`` and ``full`` spaces, one
  module and one :class:`PosteriorSpace` record each, looked up by name (:func:`space`,
  :func:`make_posterior`); the arc-length prior on t (:class:`ArcLengthPrior`).
- :mod:`~landform.bayes.curve`: the posterior of a space around a trained curve, built from the
  curve, its network and the data in one call (:func:`curve_posterior`), and prior draws in φ
  (:func:`prior_coordinates`).
- :mod:`~landform.bayes.samplers`: MCLMC, NUTS and random-walk Metropolis through BlackJAX,
  several chains, failed-chain detection (:func:`sample`, :func:`sample_posterior`).
- :mod:`~landform.bayes.records`: results as ArviZ 1.x ``DataTree`` records (:func:`to_inference_data`,
  :func:`load_posterior`).
- :mod:`~landform.bayes.metrics`: LPPD, RMSE, accuracy, PSIS-LOO, ESS and R-hat on φ,
  efficiency, convergence.

The tunnel map itself lives in :mod:`landform.subspace.tunnel` and is re-exported here.
"""

from landform.bayes.curve import (
    LEARNED_SIGMA_LOSS,
    CurvePosterior,
    CurvePosteriorSettings,
    curve_likelihood,
    curve_posterior,
    prior_coordinates,
)
from landform.bayes.metrics import (
    accuracy,
    convergence,
    coordinate_draws,
    efficiency,
    evaluate_run,
    loo,
    lppd,
    pointwise_log_likelihood,
    predictions,
    predictive_metrics,
    relative_efficiency,
    rmse,
)
from landform.bayes.posterior import (
    LIKELIHOODS,
    T_PRIORS,
    Likelihood,
    Posterior,
    categorical_likelihood,
    check_temperature,
    gaussian_likelihood,
)
from landform.bayes.records import chains_of, constrained_draws, load_posterior, to_inference_data
from landform.bayes.samplers import (
    CHAIN_METHODS,
    MCLMC_INTEGRATORS,
    SAMPLER_NAMES,
    ChainDraws,
    SamplerSettings,
    SamplingResult,
    Tuning,
    from_draws,
    rwm_target_acceptance,
    sample,
    sample_posterior,
)
from landform.bayes.spaces import (
    SPACES,
    ArcLengthPrior,
    PosteriorSpace,
    arc_length_prior,
    full_posterior,
    line_posterior,
    make_posterior,
    space,
    tunnel_posterior,
    volume_posterior,
)
from landform.bayes.transforms import (
    interval_from_unconstrained,
    interval_log_jacobian,
    interval_to_unconstrained,
    positive_from_unconstrained,
    positive_log_jacobian,
    positive_to_unconstrained,
)
from landform.subspace.tunnel import TunnelMap, tunnel_from_curve, tunnel_log_jacobian, tunnel_map, tunnel_point

__all__ = [
    "CHAIN_METHODS",
    "LEARNED_SIGMA_LOSS",
    "LIKELIHOODS",
    "MCLMC_INTEGRATORS",
    "SAMPLER_NAMES",
    "SPACES",
    "T_PRIORS",
    "ArcLengthPrior",
    "ChainDraws",
    "CurvePosterior",
    "CurvePosteriorSettings",
    "Likelihood",
    "Posterior",
    "PosteriorSpace",
    "SamplerSettings",
    "SamplingResult",
    "Tuning",
    "TunnelMap",
    "accuracy",
    "arc_length_prior",
    "categorical_likelihood",
    "chains_of",
    "check_temperature",
    "constrained_draws",
    "convergence",
    "coordinate_draws",
    "curve_likelihood",
    "curve_posterior",
    "efficiency",
    "evaluate_run",
    "from_draws",
    "full_posterior",
    "gaussian_likelihood",
    "interval_from_unconstrained",
    "interval_log_jacobian",
    "interval_to_unconstrained",
    "line_posterior",
    "loo",
    "lppd",
    "make_posterior",
    "pointwise_log_likelihood",
    "positive_from_unconstrained",
    "positive_log_jacobian",
    "positive_to_unconstrained",
    "predictions",
    "predictive_metrics",
    "prior_coordinates",
    "relative_efficiency",
    "rmse",
    "rwm_target_acceptance",
    "sample",
    "sample_posterior",
    "space",
    "to_inference_data",
    "load_posterior",
    "tunnel_from_curve",
    "tunnel_log_jacobian",
    "tunnel_map",
    "tunnel_point",
    "tunnel_posterior",
    "volume_posterior",
]
