"""Predictive metrics and sampling diagnostics for posterior draws.

For S posterior draws θ_s (the valid chains' draws, see :mod:`landform.bayes.samplers`) and
test examples (x_i, y_i), i = 1..N, with the untempered likelihood p(y | x, θ):

- log pointwise predictive density (Gelman, Hwang, Vehtari 2014, "Understanding predictive
  information criteria for Bayesian models"), reported per test point:

      LPPD = (1/N) Σ_i log( (1/S) Σ_s p(y_i | x_i, θ_s) )
           = (1/N) Σ_i [ logsumexp_s log p(y_i | x_i, θ_s) − log S ];

- RMSE of the posterior-predictive mean ȳ_i = (1/S) Σ_s f(x_i; θ_s):
  sqrt((1/N) Σ_i ‖y_i − ȳ_i‖² / d);
- accuracy of argmax_c (1/S) Σ_s softmax(f(x_i; θ_s))_c;
- PSIS-LOO on the training data (Vehtari, Gelman, Gabry 2017, "Practical Bayesian model
  evaluation using leave-one-out cross-validation and WAIC") for the tempered posterior
  π_T(θ) ∝ p(θ) Π_j p(y_j | θ)^(1/T) the draws come from. Leaving example i out multiplies π_T
  by p(y_i | θ)^(−1/T), so the importance ratios are r_si = p(y_i | θ_s)^(−1/T) (not 1/p, which
  is right only at T = 1) and

      elpd_loo,i = log Σ_s w̃_si p(y_i | θ_s),   w̃_si = PSIS-smoothed r_si / Σ_s' (smoothed r_s'i),

  an estimate of log ∫ p(y_i | θ) π_T,−i(θ) dθ. The log-ratios −(1/T) log p(y_i | θ_s) are
  smoothed by ArviZ's PSIS (``arviz_stats``; Vehtari, Simpson, Gelman, Yao, Gabry 2024, "Pareto smoothed
  importance sampling"); reported are elpd_loo, its standard error, p_loo = Σ_i lppd_i −
  elpd_loo (lppd_i of the tempered draws), the Pareto k̂ diagnostics against ArviZ's
  sample-size threshold min(1 − 1/log10 S, 0.7);
- bulk and tail effective sample sizes and rank-normalised split R-hat (Vehtari, Gelman,
  Simpson, Carpenter, Bürkner 2021) by ArviZ (``arviz_stats``), computed on the
  subspace coordinates φ for every space (tunnel draws (t, ξ) are mapped to φ first; the full
  space uses θ), so spaces are comparable; the worst (minimum ESS, maximum R-hat) over
  coordinates is reported, and the median ESS;
- efficiency: ESS per second of sampling (the timed draws phase, compilation excluded), ESS
  per gradient evaluation, gradient evaluations per draw. Random-walk Metropolis uses no
  gradients; its rows report density evaluations (``evaluation_kind`` = "density").

Choosing the temperature on validation LPPD across runs is a table analysis:
:func:`landform.studies.analysis.select_best`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from arviz_stats.base import array_stats

from landform.bayes.posterior import check_temperature
from landform.bayes.records import chains_of
from landform.bayes.samplers import SamplingResult
from landform.errors import ConfigError, ShapeError

# ---------------------------------------------------------------------------------------------
# per-draw evaluations


def _map_draws(fn, positions, batch_size: int):
    positions = jnp.asarray(positions)
    leading = positions.shape[:-1]
    flat = positions.reshape(-1, positions.shape[-1])
    out = jax.lax.map(fn, flat, batch_size=min(batch_size, flat.shape[0]))
    return jax.tree_util.tree_map(lambda leaf: leaf.reshape(leading + leaf.shape[1:]), out)


@partial(jax.jit, static_argnums=(0, 4))
def _pointwise(posterior, draws, x, y, batch_size):
    return _map_draws(lambda z: posterior.pointwise_log_likelihood(z, x, y), draws, batch_size)


@partial(jax.jit, static_argnums=(0, 4))
def _score(posterior, draws, x, y, batch_size):
    """Per draw: (log p(y_i | x_i, θ) per example, predictive mean or probabilities)."""
    return _map_draws(
        lambda z: (posterior.pointwise_log_likelihood(z, x, y), posterior.predict(z, x)), draws, batch_size
    )


@partial(jax.jit, static_argnums=(0, 3))
def _predict(posterior, draws, x, batch_size):
    return _map_draws(lambda z: posterior.predict(z, x), draws, batch_size)


@partial(jax.jit, static_argnums=(0, 2))
def _coordinates(posterior, draws, batch_size):
    return _map_draws(posterior.coordinates, draws, batch_size)


def _flat_call(fn, positions, *arguments):
    """``fn`` on the draws flattened to (S, d) (one compiled program per S), reshaped back."""
    positions = np.asarray(positions)
    flat = positions.reshape(-1, positions.shape[-1])
    out = np.asarray(fn(jnp.asarray(flat), *arguments))
    return out.reshape(positions.shape[:-1] + out.shape[1:])


def pointwise_log_likelihood(posterior, positions, x, y, *, batch_size: int = 64) -> np.ndarray:
    """log p(y_i | x_i, θ(z)) for every draw z in ``positions`` (..., d): shape (..., N).
    Untempered. Draws are evaluated ``batch_size`` at a time (``lax.map``)."""
    return _flat_call(lambda draws: _pointwise(posterior, draws, jnp.asarray(x), jnp.asarray(y), batch_size), positions)


def predictions(posterior, positions, x, *, batch_size: int = 64) -> np.ndarray:
    """The predictive mean (regression) or class probabilities (classification) of every
    draw: shape (..., N, d or C)."""
    return _flat_call(lambda draws: _predict(posterior, draws, jnp.asarray(x), batch_size), positions)


def lppd(log_likelihood) -> float:
    """(1/N) Σ_i [logsumexp_s ℓ_si − log S] for ℓ of shape (..., N), leading axes = draws."""
    values = np.asarray(log_likelihood, np.float64)
    if values.ndim < 2:
        raise ShapeError(f"log-likelihoods need shape (draws..., N), got {values.shape}")
    flat = values.reshape(-1, values.shape[-1])
    from scipy.special import logsumexp

    return float(np.mean(logsumexp(flat, axis=0) - math.log(flat.shape[0])))


def rmse(prediction, y) -> float:
    """sqrt(mean((y − ȳ)²)) over examples and output dimensions."""
    prediction = np.asarray(prediction, np.float64)
    y = np.asarray(y, np.float64).reshape(prediction.shape)
    return float(np.sqrt(np.mean((prediction - y) ** 2)))


def accuracy(probabilities, y) -> float:
    """Fraction of examples whose label is the argmax of the mean predictive probabilities."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(y).reshape(probabilities.shape[0]).astype(int)
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def scores(posterior, positions, x, y, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per-example log-likelihoods (..., N) and predictions (..., N, d or C) of every draw in
    ``positions`` (..., d), from one forward pass per draw (one compiled program)."""
    positions = np.asarray(positions)
    flat = jnp.asarray(positions.reshape(-1, positions.shape[-1]))
    values, predicted = _score(posterior, flat, jnp.asarray(x), jnp.asarray(y), batch_size)
    leading = positions.shape[:-1]
    return np.asarray(values).reshape(leading + values.shape[1:]), np.asarray(predicted).reshape(
        leading + predicted.shape[1:]
    )


def _metrics(kind: str, log_likelihood, predicted, y, prefix: str) -> dict[str, float]:
    draws = np.asarray(predicted).reshape((-1,) + np.asarray(predicted).shape[-2:])
    mean = np.mean(draws, axis=0)
    out = {f"{prefix}lppd": lppd(np.asarray(log_likelihood).reshape(draws.shape[0], -1))}
    if kind == "categorical":
        out[f"{prefix}accuracy"] = accuracy(mean, y)
    else:
        out[f"{prefix}rmse"] = rmse(mean, y)
    return out


def predictive_metrics(
    posterior, result: SamplingResult, x, y, *, batch_size: int = 64, prefix: str = ""
) -> dict[str, float]:
    """LPPD per point and RMSE (Gaussian) or accuracy (categorical) of the valid chains'
    draws on (x, y); keys are prefixed with ``prefix`` (e.g. ``"test_"``)."""
    positions = result.positions[chains_of(result)]
    values, predicted = scores(posterior, positions, x, y, batch_size=batch_size)
    return _metrics(posterior.likelihood.kind, values, predicted, y, prefix)


def relative_efficiency(log_likelihood, *, temperature: float = 1.0) -> float:
    """The relative efficiency r_eff = ESS / S of PSIS-LOO for the posterior at temperature T,
    averaged over points: the MCMC effective sample size of the reciprocal importance ratios
    1/r_si = p(y_i | θ_s)^(1/T) divided by the number of draws S, as in ``relative_eff`` of the
    R package loo (``exp(-log_ratios)``; ``exp(log_lik)`` at T = 1). It accounts for
    autocorrelated MCMC draws in PSIS (1 for independent draws). Computed by ArviZ's ESS
    (``arviz_stats``, method "mean", chains kept apart) on exp(ℓ_si/T − max_s ℓ_si/T) for draws
    ℓ (C, D, N)."""
    temperature = check_temperature(temperature)
    values = np.asarray(log_likelihood, np.float64) / temperature
    if values.ndim != 3:
        raise ShapeError(f"log-likelihoods for r_eff need shape (chains, draws, N), got {values.shape}")
    scaled = np.exp(values - values.max(axis=(0, 1), keepdims=True))
    ess = np.asarray(array_stats.ess(scaled, chain_axis=0, draw_axis=1, method="mean"))
    ess = ess[np.isfinite(ess)]
    if ess.size == 0:
        return 1.0
    return float(np.clip(np.mean(ess) / (values.shape[0] * values.shape[1]), 1e-3, None))


def good_pareto_k(draws: int) -> float:
    """ArviZ's sample-size-dependent threshold for the Pareto k̂ of S draws,
    min(1 − 1/log10 S, 0.7) (Vehtari et al. 2024): above it PSIS estimates are unreliable."""
    return float(min(1.0 - 1.0 / math.log10(draws), 0.7))


def loo(log_likelihood, *, temperature: float | None = None, reff: float | None = None) -> dict[str, Any]:
    """PSIS-LOO of the tempered posterior at ``temperature`` T from pointwise log-likelihoods
    ℓ_si = log p(y_i | θ_s) (untempered) of its draws, shape (C, D, N).

    Importance ratios log r_si = −ℓ_si / T, smoothed by ArviZ's PSIS (``arviz_stats``) with ``reff``
    (default :func:`relative_efficiency` at T); elpd_loo,i = logsumexp_s(log w̃_si + ℓ_si) with
    normalised smoothed weights w̃. Returns elpd_loo (sum over points), elpd_loo_se
    (sqrt(N · var_i elpd_loo,i)), p_loo (Σ_i lppd_i − elpd_loo, lppd_i = logsumexp_s ℓ_si −
    log S), pareto_k_max, pareto_k_threshold (:func:`good_pareto_k` of S = C·D),
    pareto_k_bad_count (points with k̂ above it), reff, and the pointwise values
    ``loo_pointwise`` and ``pareto_k`` (arrays of N). With fewer than 25 draws no tail can be
    fitted: the ratios are used unsmoothed and every k̂ is +inf (flagged as bad).

    ``temperature`` has no default: the log-likelihoods do not say which posterior their draws
    come from, and the untempered ratios 1/p are wrong for T ≠ 1. Pass 1.0 for an untempered
    posterior.
    """
    if temperature is None:
        raise ConfigError(
            "PSIS-LOO needs the temperature T of the posterior the draws come from (the importance "
            "ratios are p(y_i | θ)^(-1/T)); pass temperature=posterior.temperature, or 1.0 for an "
            "untempered posterior"
        )
    temperature = check_temperature(temperature)
    values = np.asarray(log_likelihood, np.float64)
    if values.ndim != 3:
        raise ShapeError(f"log-likelihoods for LOO need shape (chains, draws, N), got {values.shape}")
    if reff is None:
        reff = relative_efficiency(values, temperature=temperature)
    draws = values.shape[0] * values.shape[1]
    flat = values.reshape(draws, -1).T  # (N, S): psislw smooths along the last axis
    import warnings

    from scipy.special import logsumexp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            # psislw takes tempered log-likelihoods ℓ/T and smooths the ratios −ℓ/T; normalised log weights
            log_weights, k = array_stats.psislw(flat / temperature, r_eff=reff)
        except ValueError:  # fewer than 5 draws in the tail (S < 25): nothing to smooth, k̂ = +inf
            ratios = -flat / temperature
            log_weights = ratios - logsumexp(ratios, axis=-1, keepdims=True)
            k = np.full(flat.shape[0], np.inf)
    pointwise = logsumexp(np.asarray(log_weights) + flat, axis=-1)
    k = np.asarray(k, np.float64)
    threshold = good_pareto_k(draws)
    lppd_sum = float(np.sum(logsumexp(flat, axis=-1) - math.log(draws)))
    elpd = float(np.sum(pointwise))
    return {
        "elpd_loo": elpd,
        "elpd_loo_se": float(math.sqrt(pointwise.size * np.var(pointwise))),
        "p_loo": lppd_sum - elpd,
        "pareto_k_max": float(np.max(k)),
        "pareto_k_threshold": threshold,
        "pareto_k_bad_count": int(np.sum(k > threshold)),
        "reff": float(reff),
        "loo_pointwise": pointwise,
        "pareto_k": k,
    }


# ---------------------------------------------------------------------------------------------
# diagnostics


def coordinate_draws(
    posterior, result: SamplingResult, *, include_failed: bool = False, batch_size: int = 256
) -> np.ndarray:
    """The draws in comparison coordinates (φ, or θ for the full space): (C, D, k). Without a
    posterior, the sampler's own coordinates."""
    positions = result.positions[chains_of(result, include_failed)]
    if posterior is None:
        return positions
    return _flat_call(lambda draws: _coordinates(posterior, draws, batch_size), positions)


#: Default convergence rule: largest R-hat at most this ...
RHAT_LIMIT = 1.01
#: ... and smallest bulk ESS at least this (Vehtari, Gelman, Simpson, Carpenter, Bürkner 2021,
#: "Rank-normalization, folding, and localization: an improved R-hat", Bayesian Analysis).
ESS_LIMIT = 400.0


def convergence(draws, *, rhat_limit: float = RHAT_LIMIT, ess_limit: float = ESS_LIMIT) -> dict[str, Any]:
    """Bulk/tail ESS (minimum and median over coordinates) and the largest R-hat of draws
    (C, D, k), by ArviZ's ESS and rank-normalised R-hat (``arviz_stats``), and ``converged``: R-hat_max ≤ ``rhat_limit``
    and ESS_bulk_min ≥ ``ess_limit``. With one chain R-hat is undefined (NaN), and the run
    does not count as converged: convergence cannot be assessed from one chain."""
    draws = np.asarray(draws, np.float64)
    if draws.ndim != 3:
        raise ShapeError(f"draws for diagnostics need shape (chains, draws, coordinates), got {draws.shape}")
    axes = {"chain_axis": 0, "draw_axis": 1}
    bulk = np.atleast_1d(array_stats.ess(draws, method="bulk", **axes))
    # tail ESS at the 5 % and 95 % quantiles, as Vehtari et al. (2021) define it
    tail = np.atleast_1d(array_stats.ess(draws, method="tail", prob=(0.05, 0.95), **axes))
    rhat = np.atleast_1d(array_stats.rhat(draws, **axes))
    rhat_max, ess_min = float(np.max(rhat)), float(np.min(bulk))
    return {
        "ess_bulk_min": ess_min,
        "ess_bulk_median": float(np.median(bulk)),
        "ess_tail_min": float(np.min(tail)),
        "rhat_max": rhat_max,
        "converged": bool(np.isfinite(rhat_max) and rhat_max <= rhat_limit and ess_min >= ess_limit),
    }


def efficiency(result: SamplingResult, ess: float) -> dict[str, Any]:
    """Work and speed of the draws phase of the valid chains, for an ESS value ``ess``."""
    chains = chains_of(result)
    gradients = float(np.sum(result.gradient_evaluations[chains]))
    densities = float(np.sum(result.density_evaluations[chains]))
    draws = len(chains) * result.positions.shape[1]
    kind = "gradient" if gradients > 0 else "density"
    evaluations = gradients if gradients > 0 else densities
    seconds = result.sampling_seconds
    return {
        "sampling_seconds": seconds,
        "warmup_seconds": result.warmup_seconds,
        "compile_seconds": result.compile_seconds,
        "evaluation_kind": kind,
        "gradient_evaluations": gradients,
        "warmup_gradient_evaluations": float(np.sum(result.warmup_gradient_evaluations[chains])),
        "evaluations_per_draw": evaluations / draws,
        "gradient_evaluations_per_draw": gradients / draws,
        "ess_per_second": ess / seconds if seconds > 0 else float("inf"),
        "ess_per_evaluation": ess / evaluations if evaluations > 0 else float("inf"),
        "ess_per_gradient_evaluation": ess / gradients if gradients > 0 else float("nan"),
    }


def _run_temperature(posterior, result: SamplingResult, temperature: float | None) -> float:
    """The temperature the draws were sampled at: ``temperature`` when given, else the
    posterior's; checked against the one :func:`sample_posterior` recorded with the draws."""
    recorded = result.settings.get("posterior_temperature")
    chosen = temperature if temperature is not None else getattr(posterior, "temperature", None)
    if chosen is None:
        chosen = recorded
    if chosen is None:
        raise ConfigError(
            "the temperature of the run is unknown (the posterior has no temperature and the draws "
            "record none); pass temperature=T, the temperature the draws were sampled at"
        )
    chosen = check_temperature(chosen)
    if recorded is not None and not math.isclose(float(recorded), chosen, rel_tol=1e-9):
        raise ConfigError(
            f"the draws were sampled at temperature {float(recorded)}, but temperature {chosen} was "
            f"given for their evaluation; pass the temperature the draws were sampled at"
        )
    return chosen


def evaluate_run(
    posterior,
    result: SamplingResult,
    *,
    test=None,
    validation=None,
    train=None,
    train_log_likelihood=None,
    temperature: float | None = None,
    batch_size: int = 64,
    rhat_limit: float = RHAT_LIMIT,
    ess_limit: float = ESS_LIMIT,
) -> dict[str, Any]:
    """One tidy row describing a run: chain counts, convergence on φ (``converged`` by the rule
    of :func:`convergence` with ``rhat_limit`` and ``ess_limit``), efficiency, test and
    validation metrics (``test``/``validation``: (x, y) pairs), and PSIS-LOO (:func:`loo`) of
    the tempered posterior on ``train``, or on ``train_log_likelihood`` (the valid chains'
    pointwise values (C, D, N), when the caller has them already).

    ``temperature``: the T the draws were sampled at (π_T ∝ prior · likelihood^(1/T)); by
    default ``posterior.temperature``. A :class:`ConfigError` is raised when it cannot be
    determined, or when it differs from the temperature recorded with the draws. The LOO
    columns are train_elpd_loo, train_elpd_loo_se, train_p_loo, train_pareto_k_max,
    train_pareto_k_threshold, train_pareto_k_bad_count and train_reff.

    Raises :class:`NumericalError` (via :func:`chains_of`) when every chain failed, so a table
    never holds silent NaNs for a failed run: catch it and record the failure instead.
    """
    temperature = _run_temperature(posterior, result, temperature)
    row: dict[str, Any] = {
        "space": posterior.space,
        "sampler": result.settings.get("sampler"),
        "temperature": temperature,
        "chains": result.num_chains,
        "chains_failed": result.num_failed,
        "draws_per_chain": result.positions.shape[1],
        "failures": "; ".join(f"chain {i}: {r}" for i, r in enumerate(result.failures) if r),
    }
    diagnostics = convergence(coordinate_draws(posterior, result), rhat_limit=rhat_limit, ess_limit=ess_limit)
    row.update(diagnostics)
    row.update(efficiency(result, diagnostics["ess_bulk_min"]))

    def add_loo(values):
        out = loo(values, temperature=temperature)
        out.pop("loo_pointwise")
        out.pop("pareto_k")
        row.update({f"train_{k}": v for k, v in out.items()})

    if train_log_likelihood is not None:
        train = None
        add_loo(np.asarray(train_log_likelihood))
    # every split in one pass (one compiled program), then cut apart
    parts = [
        (name, data)
        for name, data in (("test", test), ("validation", validation), ("train", train))
        if data is not None
    ]
    if parts:
        positions = result.positions[chains_of(result)]
        xs = [np.asarray(x) for _, (x, _) in parts]
        ys = [np.asarray(y) for _, (_, y) in parts]
        values, predicted = scores(posterior, positions, np.concatenate(xs), np.concatenate(ys), batch_size=batch_size)
        start = 0
        for (name, _), y in zip(parts, ys):
            stop = start + len(y)
            if name == "train":
                add_loo(values[..., start:stop])
            else:
                row.update(
                    _metrics(
                        posterior.likelihood.kind, values[..., start:stop], predicted[..., start:stop, :], y, f"{name}_"
                    )
                )
            start = stop
    return row
