"""PSIS-LOO of tempered posteriors against the exact leave-one-out predictive density.

Model: y_i ~ N(μ, σ²), σ known, μ ~ N(m0, s0²), N = 20. The tempered posterior
π_T(μ) ∝ p(μ) Π_j p(y_j | μ)^(1/T) is Gaussian with

    precision P = 1/s0² + N/(T σ²),   mean = (m0/s0² + Σ_j y_j/(T σ²)) / P.

Leaving example i out removes the factor p(y_i | μ)^(1/T), which gives the Gaussian with
P_−i = 1/s0² + (N − 1)/(T σ²) and mean_−i = (m0/s0² + (Σ_j y_j − y_i)/(T σ²)) / P_−i, so the
exact leave-one-out predictive density is p(y_i | π_T,−i) = N(y_i; mean_−i, 1/P_−i + σ²).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from landform.bayes import evaluate_run, from_draws, full_posterior, gaussian_likelihood, loo
from landform.errors import ConfigError

COUNT = 20
SIGMA = 0.8
PRIOR_MEAN = 0.5
PRIOR_SCALE = 2.0
TOLERANCE = 0.05  # nats, on the sum over the N points
# 4 chains of exact draws. The Monte Carlo error of the sum grows with T (π_T is wider); at
# T = 10 its standard deviation over seeds is about 0.038 nats with 4 × 2000 draws and 0.008
# with 4 × 25000, so 0.05 nats is more than 4 standard deviations at every T tested.
CHAINS, DRAWS = 4, 25000


def data(seed: int = 11) -> np.ndarray:
    return 1.3 + SIGMA * np.random.default_rng(seed).normal(size=COUNT)


def tempered_posterior(y, temperature, prior_mean=PRIOR_MEAN):
    """Mean and variance of π_T(μ), and of the N leave-one-out posteriors π_T,−i(μ)."""
    data_precision = 1 / (temperature * SIGMA**2)
    precision = 1 / PRIOR_SCALE**2 + y.size * data_precision
    mean = (prior_mean / PRIOR_SCALE**2 + y.sum() * data_precision) / precision
    leave_precision = 1 / PRIOR_SCALE**2 + (y.size - 1) * data_precision
    leave_mean = (prior_mean / PRIOR_SCALE**2 + (y.sum() - y) * data_precision) / leave_precision
    return mean, 1 / precision, leave_mean, 1 / leave_precision


def exact_loo(y, temperature, prior_mean=PRIOR_MEAN) -> np.ndarray:
    """log p(y_i | π_T,−i) = log N(y_i; mean_−i, var_−i + σ²) per point."""
    _, _, leave_mean, leave_variance = tempered_posterior(y, temperature, prior_mean)
    return stats.norm.logpdf(y, leave_mean, np.sqrt(leave_variance + SIGMA**2))


def exact_draws(y, temperature, seed, prior_mean=PRIOR_MEAN) -> np.ndarray:
    """CHAINS × DRAWS independent draws of μ from π_T."""
    mean, variance, _, _ = tempered_posterior(y, temperature, prior_mean)
    return mean + math.sqrt(variance) * np.random.default_rng(seed).normal(size=(CHAINS, DRAWS))


def importance_standard_error(log_likelihood, temperature) -> np.ndarray:
    """Delta-method standard error of log Σ_s w̃_s p_s (self-normalised importance sampling
    with ratios p^(−1/T), without smoothing) per point."""
    flat = log_likelihood.reshape(-1, log_likelihood.shape[-1])
    log_ratios = -flat / temperature
    weights = np.exp(log_ratios - log_ratios.max(axis=0))
    weights /= weights.sum(axis=0)
    density = np.exp(flat)
    estimate = np.sum(weights * density, axis=0)
    return np.sqrt(np.sum(weights**2 * (density - estimate) ** 2, axis=0)) / estimate


@pytest.mark.parametrize("temperature", [1.0, 3.0, 10.0])
def test_tempered_psis_loo_matches_the_exact_leave_one_out_density(temperature):
    y = data()
    draws = exact_draws(y, temperature, seed=int(temperature) + 100)
    log_likelihood = stats.norm.logpdf(y[None, None, :], draws[..., None], SIGMA)  # (C, D, N)
    exact = exact_loo(y, temperature)
    result = loo(log_likelihood, temperature=temperature)
    assert abs(result["elpd_loo"] - exact.sum()) < TOLERANCE, (result["elpd_loo"], exact.sum())
    np.testing.assert_allclose(
        result["loo_pointwise"], exact, atol=4.5 * importance_standard_error(log_likelihood, temperature).max()
    )
    # p_loo = Σ_i lppd_i − elpd_loo with the lppd of the tempered draws
    flat = log_likelihood.reshape(-1, COUNT)
    lppd_sum = np.sum(np.log(np.mean(np.exp(flat), axis=0)))
    np.testing.assert_allclose(result["p_loo"], lppd_sum - result["elpd_loo"], rtol=1e-10)
    # the diagnostics: S = 100000 draws, so ArviZ's threshold min(1 − 1/log10 S, 0.7) is 0.7
    assert result["pareto_k_threshold"] == pytest.approx(0.7)
    assert result["pareto_k"].shape == (COUNT,)
    assert result["pareto_k_max"] == pytest.approx(result["pareto_k"].max())
    assert result["pareto_k_bad_count"] == 0 and result["pareto_k_max"] < 0.5
    assert 0.8 < result["reff"] < 1.25  # independent draws


def test_untempered_ratios_miss_at_high_temperature():
    """The ratios 1/p (what ``arviz.loo`` uses) estimate a different quantity for T ≠ 1."""
    y = data()
    temperature = 10.0
    draws = exact_draws(y, temperature, seed=7)
    log_likelihood = stats.norm.logpdf(y[None, None, :], draws[..., None], SIGMA)
    exact = exact_loo(y, temperature).sum()
    untempered = loo(log_likelihood, temperature=1.0)["elpd_loo"]
    assert abs(untempered - exact) > 1.0, (untempered, exact)
    assert abs(loo(log_likelihood, temperature=temperature)["elpd_loo"] - exact) < TOLERANCE


def test_loo_needs_a_temperature_and_a_valid_one():
    log_likelihood = np.zeros((2, 50, 3))
    with pytest.raises(ConfigError, match="temperature"):
        loo(log_likelihood)
    with pytest.raises(ConfigError, match="temperature"):
        loo(log_likelihood, temperature=0.0)


def test_pareto_k_threshold_follows_the_sample_size():
    # 2 × 100 draws: min(1 − 1/log10 200, 0.7) ≈ 0.565 (ArviZ's good_k)
    y = data()
    draws = exact_draws(y, 3.0, seed=5)[:2, :100]
    log_likelihood = stats.norm.logpdf(y[None, None, :], draws[..., None], SIGMA)
    result = loo(log_likelihood, temperature=3.0)
    assert result["pareto_k_threshold"] == pytest.approx(1 - 1 / math.log10(200))
    assert result["pareto_k_bad_count"] == int(np.sum(result["pareto_k"] > result["pareto_k_threshold"]))


def conjugate_posterior(y, temperature):
    """The same model (prior mean 0) as a landform posterior over θ = μ."""
    return full_posterior(
        1,
        lambda theta, xs: jnp.broadcast_to(theta[0], (xs.shape[0], 1)),
        np.zeros((y.size, 1)),
        y[:, None],
        likelihood=gaussian_likelihood(sigma=SIGMA),
        prior_scale=PRIOR_SCALE,
        temperature=temperature,
    )


def test_evaluate_run_uses_the_posterior_temperature():
    with jax.enable_x64(True):
        y = data()
        temperature = 10.0
        posterior = conjugate_posterior(y, temperature)
        draws = exact_draws(y, temperature, seed=3, prior_mean=0.0)[..., None]
        recorded = {"posterior_temperature": temperature}
        result = from_draws(draws, settings=recorded)
        exact = exact_loo(y, temperature, prior_mean=0.0).sum()
        row = evaluate_run(posterior, result, train=(np.zeros((y.size, 1)), y[:, None]))
        assert row["temperature"] == temperature
        assert abs(row["train_elpd_loo"] - exact) < TOLERANCE, (row["train_elpd_loo"], exact)
        for column in (
            "train_elpd_loo_se",
            "train_p_loo",
            "train_pareto_k_max",
            "train_pareto_k_threshold",
            "train_reff",
        ):
            assert np.isfinite(row[column]), column
        assert row["train_pareto_k_bad_count"] == 0
        assert "train_loo_pointwise" not in row and "train_pareto_k" not in row
        # an explicit temperature that contradicts the one recorded with the draws
        with pytest.raises(ConfigError, match="sampled at temperature 10.0"):
            evaluate_run(posterior, result, train=(np.zeros((y.size, 1)), y[:, None]), temperature=1.0)


def test_converged_needs_mixed_chains_and_enough_effective_draws():
    """Independent draws of one Gaussian converge; chains stuck in different places, too few
    draws or a single chain do not."""
    from landform.bayes.metrics import convergence

    rng = np.random.default_rng(0)
    mixed = rng.standard_normal((4, 1000, 3))
    result = convergence(mixed)
    assert result["converged"] and result["rhat_max"] < 1.01 and result["ess_bulk_min"] > 400
    stuck = mixed + np.arange(4)[:, None, None]  # each chain around its own mean
    assert not convergence(stuck)["converged"]
    assert not convergence(mixed[:, :50])["converged"]  # 200 draws: ESS below 400
    assert not convergence(mixed[:1])["converged"]  # R-hat undefined for one chain
    assert convergence(mixed[:, :50], ess_limit=100)["converged"]  # the rule is configurable
