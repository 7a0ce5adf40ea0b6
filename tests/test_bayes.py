"""Posteriors, samplers, records and predictive metrics (landform.bayes).

Samplers are checked on a correlated Gaussian whose mean and covariance are known, with
tolerances from the Monte Carlo standard error (ESS-based); LPPD and PSIS-LOO on the conjugate
normal model, against a direct computation and the analytic leave-one-out predictive density;
transforms against autodiff.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from landform.bayes import (
    CurvePosteriorSettings,
    SamplerSettings,
    convergence,
    coordinate_draws,
    curve_posterior,
    evaluate_run,
    from_draws,
    full_posterior,
    gaussian_likelihood,
    interval_from_unconstrained,
    interval_log_jacobian,
    interval_to_unconstrained,
    line_posterior,
    loo,
    lppd,
    make_posterior,
    pointwise_log_likelihood,
    positive_from_unconstrained,
    positive_log_jacobian,
    positive_to_unconstrained,
    predictive_metrics,
    prior_coordinates,
    sample,
    sample_posterior,
    to_inference_data,
)
from landform.bayes.records import chains_of, load_posterior
from landform.errors import ConfigError, NumericalError, UnknownNameError
from landform.flat import ravel
from landform.paths import bezier, evaluate
from landform.subspace import curve_in_coordinates, curve_subspace, tunnel_from_curve

MEAN = np.array([1.0, -2.0, 0.5])
COVARIANCE = np.array([[1.0, 0.8, 0.2], [0.8, 2.0, -0.3], [0.2, -0.3, 0.5]])
PRECISION = np.linalg.inv(COVARIANCE)


def gaussian_log_density(z):
    centred = z - jnp.asarray(MEAN, z.dtype)
    return -0.5 * centred @ jnp.asarray(PRECISION, z.dtype) @ centred


def ess_of(values: np.ndarray) -> np.ndarray:
    """Bulk ESS per trailing coordinate of values (C, D, k) by ArviZ."""
    from arviz_stats.base import array_stats

    return np.asarray(array_stats.ess(np.asarray(values), chain_axis=0, draw_axis=1, method="bulk"))


# ---------------------------------------------------------------------------------------------
# transforms


def test_interval_and_positive_transforms_round_trip_with_autodiff_log_jacobians():
    with jax.enable_x64(True):
        lower, upper = -0.1, 1.1
        u = jnp.linspace(-30, 30, 121)
        x = interval_from_unconstrained(u, lower, upper)
        inner = jnp.abs(u) < 15
        np.testing.assert_allclose(interval_to_unconstrained(x[inner], lower, upper), u[inner], atol=1e-8)
        slope = jax.vmap(jax.grad(lambda v: interval_from_unconstrained(v, lower, upper)))(u)
        # autodiff of the sigmoid loses digits in 1 − σ(u) for large u; the closed form does not
        np.testing.assert_allclose(
            interval_log_jacobian(u[inner], lower, upper), jnp.log(slope[inner]), rtol=1e-10, atol=1e-10
        )
        far = jnp.asarray([-800.0, 800.0])
        np.testing.assert_allclose(interval_log_jacobian(far, lower, upper), math.log(1.2) - 800.0, rtol=1e-12)
        values = jnp.asarray([1e-3, 0.05, 1.0, 30.0])
        log_values = positive_to_unconstrained(values)
        np.testing.assert_allclose(positive_from_unconstrained(log_values), values, rtol=1e-12)
        slope = jax.vmap(jax.grad(positive_from_unconstrained))(log_values)
        np.testing.assert_allclose(positive_log_jacobian(log_values), jnp.log(slope), rtol=1e-12)
        with pytest.raises(ConfigError):
            interval_to_unconstrained(jnp.asarray([0.5, 1.1]), lower, upper)
        with pytest.raises(ConfigError):
            positive_to_unconstrained(jnp.asarray([0.0]))


# ---------------------------------------------------------------------------------------------
# posteriors


def linear_predict(theta, x):
    """A 'network' linear in θ = (w_1, w_2, w_3, b): w·[x, x², x³] + b."""
    features = jnp.concatenate([x, x**2, x**3], axis=-1)
    return features @ theta[:-1, None] + theta[-1]


def toy_regression(seed=0, count=40):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(count, 1))
    y = 0.7 * x - 0.2 + 0.1 * rng.normal(size=(count, 1))
    return x, y


def line_curve(degree=3, seed=0):
    """A Bézier curve of networks θ ∈ R^4 near the data-generating one (0.7, 0, 0, −0.2)."""
    rng = np.random.default_rng(seed)
    points = np.array([0.7, 0.0, 0.0, -0.2]) + 0.3 * rng.normal(size=(degree + 1, 4))
    return bezier(jnp.asarray(points))


def test_posterior_log_density_matches_a_hand_computation():
    with jax.enable_x64(True):
        x, y = toy_regression()
        rng = np.random.default_rng(1)
        points = jnp.asarray(rng.normal(size=(3, 4)))
        subspace = curve_subspace(bezier(points))
        posterior = make_posterior("volume", linear_predict, x, y, subspace=subspace, temperature=4.0, prior_scale=0.5)
        z = jnp.asarray([0.3, -0.2, math.log(0.15)])  # φ and log σ
        theta = np.asarray(subspace.to_parameters(z[:2]))
        sigma = 0.15
        prediction = np.column_stack([x, x**2, x**3]) @ theta[:-1] + theta[-1]
        log_likelihood = np.sum(stats.norm.logpdf(y[:, 0], prediction, sigma))
        log_prior = np.sum(stats.norm.logpdf(np.asarray(z[:2]), 0, 0.5)) + stats.norm.logpdf(math.log(sigma), 0, 1)
        np.testing.assert_allclose(posterior.log_likelihood(z), log_likelihood, rtol=1e-10)
        np.testing.assert_allclose(posterior.log_prior(z), log_prior, rtol=1e-10)
        np.testing.assert_allclose(posterior.log_density(z), log_prior + log_likelihood / 4.0, rtol=1e-10)
        # σ ~ LogNormal(0, 1): the density of log σ is N(0, 1) (Jacobian included)
        np.testing.assert_allclose(
            stats.lognorm.logpdf(sigma, 1.0) + math.log(sigma), stats.norm.logpdf(math.log(sigma)), rtol=1e-12
        )
        fixed = make_posterior(
            "volume", linear_predict, x, y, subspace=subspace, likelihood=gaussian_likelihood(sigma=0.15)
        )
        assert fixed.dimension == 2
        np.testing.assert_allclose(fixed.log_likelihood(z[:2]), log_likelihood, rtol=1e-10)


def test_line_prior_is_normalised_uniform_in_arc_length():
    with jax.enable_x64(True):
        x, y = toy_regression()
        curve = line_curve(3)
        subspace = curve_subspace(curve)
        in_phi = curve_in_coordinates(subspace, curve)
        posterior = line_posterior(subspace, in_phi, linear_predict, x, y, likelihood=gaussian_likelihood(0.1))
        u = jnp.linspace(-40, 40, 200001)
        density = jnp.exp(jax.vmap(posterior.log_prior)(u[:, None]))
        np.testing.assert_allclose(float(jnp.trapezoid(density, u)), 1.0, atol=1e-4)
        # the density of t is ‖c'(t)‖ / S: larger where the curve is faster
        values = posterior.constrain(jnp.asarray([[0.0], [2.0]]))
        assert values["t"].shape == (2,) and values["phi"].shape == (2, 3)


def test_tunnel_posterior_maps_constrained_starting_values():
    with jax.enable_x64(True):
        x, y = toy_regression()
        curve = line_curve(3)
        subspace, tunnel = tunnel_from_curve(curve)
        posterior = make_posterior("tunnel", linear_predict, x, y, subspace=subspace, tunnel=tunnel, t_prior="jacobian")
        values = {
            "t": jnp.asarray([0.25, 1.05]),
            "xi": jnp.asarray([[0.1, -0.2], [0.0, 0.3]]),
            "sigma": jnp.asarray([0.2, 1.5]),
        }
        z = posterior.initial_positions(values=values)
        assert z.shape == (2, 4)
        # unconstrained, not the raw values: t = 0.25 maps to logit((0.25 + 0.1) / 1.2)
        np.testing.assert_allclose(z[0, 0], math.log(0.35 / 0.85), rtol=1e-12)
        back = jax.jit(jax.vmap(posterior.constrain))(z)
        for name in ("t", "xi", "sigma"):
            np.testing.assert_allclose(back[name], values[name], rtol=1e-10)
        assert bool(jnp.all(jnp.isfinite(jax.jit(jax.vmap(posterior.log_density))(z))))
        defaults = posterior.initial_positions(jax.random.key(0), 3)
        assert defaults.shape == (3, 4)
        with pytest.raises(ConfigError):
            posterior.initial_positions(values={**values, "t": jnp.asarray([0.25, 1.2])})


def test_posterior_errors():
    x, y = toy_regression()
    curve = line_curve(3)
    subspace, tunnel = tunnel_from_curve(curve)
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError, match="temperature"):
            make_posterior("volume", linear_predict, x, y, subspace=subspace, temperature=temperature)
    with pytest.raises(UnknownNameError):
        make_posterior("sphere", linear_predict, x, y, subspace=subspace)
    with pytest.raises(UnknownNameError):
        make_posterior("tunnel", linear_predict, x, y, subspace=subspace, tunnel=tunnel, t_prior="log")
    with pytest.raises(ConfigError):
        make_posterior("tunnel", linear_predict, x, y, subspace=subspace)
    with pytest.raises(ConfigError):
        make_posterior("full", linear_predict, x, y, dimension=4).initial_positions(jax.random.key(0), 2)
    # K = 1: no tunnel coordinates
    one = curve_subspace(bezier(jnp.asarray([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])))
    with pytest.raises(ConfigError, match="K >= 2"):
        tunnel_from_curve(bezier(jnp.asarray([[0.0, 0.0], [1.0, 1.0]])))
    # a curve with a zero-speed point
    turning = bezier(jnp.asarray([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(NumericalError, match="zero speed"):
        line_posterior(one, bezier(jnp.asarray([[0.0], [1.0], [0.0]])), linear_predict, x, y)
    with pytest.raises(NumericalError, match="zero speed"):
        from landform.subspace import tunnel_map

        tunnel_map(turning)
    with pytest.raises(UnknownNameError):
        SamplerSettings(sampler="hmc")
    with pytest.raises(UnknownNameError):
        sample(jax.random.key(0), gaussian_log_density, jnp.zeros((2, 3)), sampler="gibbs", num_chains=2)
    with pytest.raises(ConfigError):
        SamplerSettings(num_warmup=5)


# ---------------------------------------------------------------------------------------------
# posteriors around a trained curve


def small_network(learned_sigma=None):
    """An MLP 1 → 3 → 1 (n = 10 weights; 11 with a learned σ) and a Bézier curve of K = 3 in it."""
    from landform.models import build, with_learned_sigma

    model = build({"name": "mlp", "hidden": [3], "outputs": 1, "input_shape": [1]})
    model = with_learned_sigma(model, learned_sigma) if learned_sigma else model
    size = int(ravel(model.init(jax.random.key(0)))[0].shape[0])
    points = np.random.default_rng(4).normal(size=(4, size))
    return model, bezier(jnp.asarray(points))


def test_curve_posterior_matches_a_hand_computation():
    """The volume posterior with a fixed σ:
    log p_T(φ) = Σ_k log N(φ_k; 0, s²) + (1/T) Σ_i log N(y_i; f(θ(φ), x_i), σ²)."""
    with jax.enable_x64(True):
        x, y = toy_regression()
        model, curve = small_network()
        settings = CurvePosteriorSettings(sigma=0.3, volume_prior_scale=0.7)
        built = curve_posterior("volume", curve, model, "mse", settings, x, y, 2.0)
        assert built.tunnel is None and built.loss == "mse" and built.curve is curve
        assert built.subspace.dimension == 3 and built.posterior.dimension == 3
        # c(t) in φ maps back onto the curve's control points
        np.testing.assert_allclose(
            built.subspace.to_parameters(built.curve_phi.control_points), curve.control_points, atol=1e-8
        )
        phi = jnp.asarray([0.2, -0.4, 0.1])
        _, unravel = ravel(model.init(jax.random.key(0)))
        theta = built.subspace.to_parameters(phi)
        prediction = np.asarray(model.apply(unravel(theta), jnp.asarray(x)))[:, 0]
        log_likelihood = np.sum(stats.norm.logpdf(y[:, 0], prediction, 0.3))
        log_prior = np.sum(stats.norm.logpdf(np.asarray(phi), 0, 0.7))
        np.testing.assert_allclose(built.posterior.log_density(phi), log_prior + log_likelihood / 2.0, rtol=1e-10)


@pytest.mark.parametrize("space", ["tunnel", "volume", "line", "full"])
def test_curve_posterior_spaces_agree_with_make_posterior(space):
    """Each space's options come from the settings: the density of make_posterior given them by hand."""
    x, y = toy_regression()
    model, curve = small_network(learned_sigma=0.1)
    settings = CurvePosteriorSettings(volume_prior_scale=0.5, full_prior_scale=2.0, t_prior="none", xi_scale=0.3)
    points = np.random.default_rng(5).normal(size=(2, 11)).astype(np.float32)
    built = curve_posterior(space, curve, model, "gaussian_nll_learned", settings, x, y, 3.0, ensemble_points=points)
    assert (built.tunnel is not None) == (space == "tunnel")
    options = {
        "tunnel": {"t_prior": "none", "xi_scale": 0.3},
        "line": {"t_prior": "none", "lower": -0.1, "upper": 1.1},
        "volume": {"prior_scale": 0.5},
        "full": {"prior_scale": 2.0, "initial_points": points},
    }[space]
    predict = lambda theta, inputs: built.curve_model.apply(theta, inputs)[:, :-1]  # without the log σ column
    pieces = {"subspace": built.subspace, "tunnel": built.tunnel, "curve": built.curve_phi}
    pieces["dimension"] = built.subspace.ambient_dimension
    reference = make_posterior(
        space, predict, x, y, likelihood=gaussian_likelihood(None), temperature=3.0, **pieces, **options
    )
    posterior = built.posterior
    assert posterior.names == reference.names and posterior.names[-1] == "log_sigma"
    z = posterior.initial_positions(jax.random.key(1), 3) + 0.01
    np.testing.assert_array_equal(jax.vmap(posterior.log_density)(z), jax.vmap(reference.log_density)(z))
    if space == "tunnel":
        assert built.tunnel.tube_scale == settings.tube_scale and built.tunnel.frame.kind == settings.frame


def test_curve_posterior_likelihoods_and_errors():
    x, y = toy_regression()
    model, curve = small_network(learned_sigma=0.1)
    trained = curve_posterior(
        "volume", curve, model, "gaussian_nll_learned", CurvePosteriorSettings(sigma="trained"), x, y, 1.0
    )
    assert trained.posterior.likelihood.sigma == "network" and trained.posterior.dimension == 3
    labels = (x[:, 0] > 0).astype(np.int32)
    plain, plain_curve = small_network()
    categorical = CurvePosteriorSettings(likelihood="categorical")
    built = curve_posterior("line", plain_curve, plain, "cross_entropy", categorical, x, labels, 1.0)
    assert built.posterior.likelihood.kind == "categorical" and built.posterior.dimension == 1
    with pytest.raises(UnknownNameError):
        curve_posterior("sphere", curve, model, "gaussian_nll_learned", CurvePosteriorSettings(), x, y, 1.0)
    with pytest.raises(UnknownNameError):
        curve_posterior("volume", curve, model, "mse", CurvePosteriorSettings(likelihood="poisson"), x, y, 1.0)
    with pytest.raises(ConfigError, match="temperature"):
        curve_posterior("volume", curve, model, "mse", CurvePosteriorSettings(), x, y, 0.0)
    curve_phi = trained.curve_phi
    with pytest.raises(ConfigError, match="tunnel map"):
        prior_coordinates("tunnel", CurvePosteriorSettings(), curve_phi, None, 10)
    with pytest.raises(UnknownNameError):
        prior_coordinates("sphere", CurvePosteriorSettings(), curve_phi, None, 10)
    # line draws lie on the curve c(t), t in the prior's range
    draws = prior_coordinates("line", CurvePosteriorSettings(t_prior="none"), curve_phi, None, 50, seed=2)
    t = np.random.default_rng(2).uniform(-0.1, 1.1, 50).astype(np.float32)
    np.testing.assert_allclose(draws, np.asarray(evaluate(curve_phi, jnp.asarray(t))), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# samplers on a known Gaussian


def guarded_gaussian_log_density(z):
    """The Gaussian, but NaN where z_0 > 10 (9 standard deviations out: only a chain started
    there ever sees it)."""
    return jnp.where(z[0] > 10.0, jnp.nan, gaussian_log_density(z))


@pytest.mark.parametrize(
    "settings",
    [
        SamplerSettings("mclmc", num_chains=5, num_warmup=1000, num_draws=2000),
        SamplerSettings("nuts", num_chains=5, num_warmup=500, num_draws=1000),
        SamplerSettings("rwm", num_chains=5, num_warmup=1000, num_draws=2000, thinning=3),
    ],
    ids=lambda s: s.sampler,
)
def test_sampler_recovers_mean_and_covariance_and_excludes_a_failed_chain(settings):
    """Chains 0-3 start at random points, chain 4 where the log density is NaN: it must be
    detected, counted and left out, and the other four must recover the Gaussian's mean and
    covariance within 4.5 Monte Carlo standard errors (ESS-based) for each of the 9 moments."""
    start = np.random.default_rng(0).normal(size=(5, 3)) * 2
    start[4, 0] = 12.0
    result = sample(jax.random.key(11), guarded_gaussian_log_density, jnp.asarray(start), settings)
    assert result.valid.tolist() == [True, True, True, True, False], result.failures
    assert result.num_failed == 1 and "non-finite" in result.failures[4]
    assert chains_of(result).tolist() == [0, 1, 2, 3]
    draws = result.valid_positions.astype(np.float64)  # (4, D, 3)
    assert draws.shape == (4, settings.num_draws, 3)
    z = 4.5
    ess = ess_of(draws)
    assert np.all(ess > 200)
    errors = np.abs(draws.mean(axis=(0, 1)) - MEAN)
    standard_errors = draws.std(axis=(0, 1)) / np.sqrt(ess)
    assert np.all(errors < z * standard_errors), (errors, standard_errors)
    centred = draws - MEAN
    for i in range(3):
        for j in range(i, 3):
            product = centred[..., i] * centred[..., j]
            error = abs(product.mean() - COVARIANCE[i, j])
            standard_error = product.std() / np.sqrt(ess_of(product[..., None])[0])
            assert error < z * standard_error, (settings.sampler, i, j, error, standard_error)
    # statistics are recorded for the valid chains
    valid = result.valid
    if settings.sampler == "rwm":
        assert np.all(result.gradient_evaluations == 0) and np.all(result.density_evaluations == 3)
        assert 0.15 < result.acceptance[valid].mean() < 0.6
    if settings.sampler == "mclmc":
        assert np.all(result.gradient_evaluations == 2) and np.all(result.trajectory_length[valid] > 0)
        assert np.all(result.warmup_gradient_evaluations[valid] > 1000)
    if settings.sampler == "nuts":
        assert 0.6 < result.acceptance[valid].mean() < 1.0
        assert np.all((result.gradient_evaluations[valid] >= 1) & (result.gradient_evaluations[valid] <= 2**8))
    assert np.all(result.step_size[valid] > 0)
    diagnostics = convergence(coordinate_draws(None, result))
    assert diagnostics["rhat_max"] < 1.05 and np.isfinite(diagnostics["ess_tail_min"])


def test_chains_do_not_depend_on_how_they_are_batched():
    """Chain i uses fold_in(key, i): vectorised and sequential runs give the same draws."""

    def log_density(z):
        return -0.5 * jnp.sum((z - 1.0) ** 2)

    options = dict(sampler="rwm", num_chains=3, num_warmup=100, num_draws=50)
    vectorized = sample(jax.random.key(0), log_density, jnp.zeros((3, 2)), **options)
    sequential = sample(jax.random.key(0), log_density, jnp.zeros((3, 2)), chain_method="sequential", **options)
    np.testing.assert_array_equal(vectorized.positions, sequential.positions)


def test_sampling_reports_warmup_and_draws_as_progress_without_changing_draws():
    """A progress reporter hears the warm-up's steps, then the draws' (num_draws × thinning),
    and the draws are those of a silent run."""

    class Recorder:
        def __init__(self):
            self.events = []

        def start(self, description, total):
            self.events.append(("start", total))

        def advance(self, n=1, **fields):
            self.events.append(("advance", n, fields.get("phase")))

        def stop(self):
            self.events.append(("stop",))

    def log_density(z):
        return -0.5 * jnp.sum((z - 1.0) ** 2)

    options = dict(sampler="rwm", num_chains=2, num_warmup=40, num_draws=10, thinning=3)
    recorder = Recorder()
    reported = sample(jax.random.key(0), log_density, jnp.zeros((2, 2)), progress=recorder, **options)
    silent = sample(jax.random.key(0), log_density, jnp.zeros((2, 2)), **options)
    assert recorder.events == [
        ("start", 70),
        ("advance", 40, "warm-up done"),
        ("advance", 30, "draws done"),
        ("stop",),
    ]
    np.testing.assert_array_equal(reported.positions, silent.positions)


def test_one_dimensional_targets_are_padded_for_mclmc():
    """MCLMC needs two dimensions: a 1-D target gets an independent N(0, 1) coordinate (which
    leaves the marginal of the first coordinate unchanged), dropped from the draws."""
    from landform.bayes.samplers import pad_one_dimensional

    def target(z):
        return -0.5 * ((z[0] - 2.0) / 0.5) ** 2

    padded, positions = pad_one_dimensional(target, jnp.asarray([[0.3], [1.0]]))
    np.testing.assert_allclose(positions, [[0.3, 0.0], [1.0, 0.0]])
    for z in ([0.3, 0.0], [1.5, -2.0]):
        z = jnp.asarray(z)
        np.testing.assert_allclose(padded(z), target(z[:1]) - 0.5 * z[1] ** 2, rtol=1e-6)
    assert SamplerSettings("mclmc").sampler == "mclmc"


# ---------------------------------------------------------------------------------------------
# predictive metrics on the conjugate normal model


def conjugate_normal(seed=3, count=30, sigma=0.8, prior_scale=2.0):
    rng = np.random.default_rng(seed)
    y = 1.3 + sigma * rng.normal(size=count)
    precision = 1 / prior_scale**2 + count / sigma**2
    return y, sigma, prior_scale, y.sum() / sigma**2 / precision, 1 / precision


def test_lppd_and_psis_loo_on_the_conjugate_normal_model():
    with jax.enable_x64(True):
        y, sigma, prior_scale, mean, variance = conjugate_normal()
        count = y.size
        x = np.zeros((count, 1))
        posterior = full_posterior(
            1,
            lambda theta, xs: jnp.broadcast_to(theta[0], (xs.shape[0], 1)),
            x,
            y[:, None],
            likelihood=gaussian_likelihood(sigma=sigma),
            prior_scale=prior_scale,
        )
        rng = np.random.default_rng(4)
        draws = mean + math.sqrt(variance) * rng.normal(size=(4, 2000, 1))  # exact posterior draws
        log_likelihood = pointwise_log_likelihood(posterior, draws, x, y[:, None])
        assert log_likelihood.shape == (4, 2000, count)
        direct = stats.norm.logpdf(y[None, None, :], draws, sigma)
        np.testing.assert_allclose(log_likelihood, direct, rtol=1e-12)
        # LPPD: a direct NumPy computation, and the exact posterior predictive within MC error
        flat = direct.reshape(-1, count)
        np.testing.assert_allclose(lppd(log_likelihood), np.mean(np.log(np.mean(np.exp(flat), axis=0))), rtol=1e-12)
        exact = np.mean(stats.norm.logpdf(y, mean, math.sqrt(variance + sigma**2)))
        density = np.exp(flat)
        relative_errors = density.std(axis=0) / density.mean(axis=0) / math.sqrt(flat.shape[0])
        assert abs(lppd(log_likelihood) - exact) < 4.5 * np.sqrt(np.sum(relative_errors**2)) / count
        # PSIS-LOO against the analytic leave-one-out predictive densities
        leave_precision = 1 / prior_scale**2 + (count - 1) / sigma**2
        leave_mean = (y.sum() - y) / sigma**2 / leave_precision
        analytic = stats.norm.logpdf(y, leave_mean, np.sqrt(1 / leave_precision + sigma**2))
        result = loo(log_likelihood, temperature=1.0)
        assert 0.8 < result["reff"] < 1.25  # independent draws
        weights = np.exp(-flat - (-flat).max(axis=0))  # importance ratios 1 / p(y_i | θ_s)
        relative = weights.std(axis=0) / weights.mean(axis=0) / math.sqrt(flat.shape[0])
        np.testing.assert_allclose(result["loo_pointwise"], analytic, atol=4.5 * relative.max())
        assert abs(result["elpd_loo"] - analytic.sum()) < 4.5 * np.sqrt(np.sum(relative**2))
        assert result["pareto_k_max"] < 0.7
        # the posterior-predictive mean of this model is the posterior mean
        metrics = predictive_metrics(posterior, from_draws(draws), x, y[:, None], prefix="test_")
        assert set(metrics) == {"test_lppd", "test_rmse"}
        np.testing.assert_allclose(metrics["test_lppd"], lppd(log_likelihood), rtol=1e-12)
        np.testing.assert_allclose(metrics["test_rmse"], np.sqrt(np.mean((y - draws.mean()) ** 2)), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# records and a whole run


def test_tunnel_run_records_and_netcdf(tmp_path):
    x, y = toy_regression()
    curve = line_curve(3)
    subspace, tunnel = tunnel_from_curve(curve)
    posterior = make_posterior("tunnel", linear_predict, x, y, subspace=subspace, tunnel=tunnel, temperature=2.0)
    result = sample_posterior(jax.random.key(7), posterior, sampler="rwm", num_chains=2, num_warmup=300, num_draws=400)
    assert result.settings["posterior_space"] == "tunnel" and result.num_failed == 0
    row = evaluate_run(posterior, result, test=toy_regression(1), validation=toy_regression(2), train=(x, y))
    for key in (
        "ess_bulk_min",
        "ess_tail_min",
        "rhat_max",
        "test_lppd",
        "test_rmse",
        "validation_lppd",
        "train_elpd_loo",
    ):
        assert np.isfinite(row[key]), key
    assert row["evaluation_kind"] == "density" and row["chains_failed"] == 0
    # ESS is computed on φ (3 subspace coordinates), not on the sampler's (t, ξ, log σ)
    assert coordinate_draws(posterior, result).shape == (2, 400, 3)
    log_likelihood = pointwise_log_likelihood(posterior, result.positions, x, y)
    idata = to_inference_data(result, posterior, log_likelihood=log_likelihood)
    assert set(idata.children) >= {"posterior", "sample_stats", "log_likelihood"}
    assert idata.posterior["phi"].dims == ("chain", "draw", "coordinate")
    assert idata.posterior["xi"].shape == (2, 400, 2) and idata.posterior["t"].shape == (2, 400)
    assert float(idata.posterior["t"].min()) > -0.1 and float(idata.posterior["t"].max()) < 1.1
    path = tmp_path / "run.nc"
    idata.to_netcdf(str(path))
    loaded = load_posterior(path)
    np.testing.assert_allclose(loaded.posterior["phi"].values, idata.posterior["phi"].values)
    assert loaded.attrs["sampler"] == "rwm"
    # a failed chain is left out of the records and the diagnostics; all failing raises
    failed = result._replace(valid=np.array([True, False]), failures=("", "non-finite log density"))
    assert to_inference_data(failed).posterior.sizes["chain"] == 1
    assert to_inference_data(failed, include_failed=True).attrs["num_failed"] == 1
    assert coordinate_draws(None, failed).shape == (1, 400, 4)
    nothing = result._replace(valid=np.array([False, False]), failures=("diverged", "diverged"))
    with pytest.raises(NumericalError, match="all 2 chains failed"):
        evaluate_run(posterior, nothing)


def test_select_best_picks_the_temperature_of_the_best_validation_lppd():
    """The tunnels study's temperature selection (a copy in landform.bayes used ddof = 0 before)."""
    from landform.studies.analysis import select_best

    rows = []
    for space, best in (("tunnel", 10.0), ("volume", 1.0)):
        for temperature in (1.0, 10.0, 100.0):
            for seed in range(3):
                score = -abs(math.log10(temperature) - math.log10(best)) + 0.01 * seed
                rows.append(
                    {
                        "space": space,
                        "temperature": temperature,
                        "seed": seed,
                        "validation_lppd": score,
                        "test_lppd": score + seed,
                    }
                )
    rows.append(
        {"space": "tunnel", "temperature": 100.0, "seed": 3, "validation_lppd": float("nan"), "test_lppd": float("nan")}
    )
    table = select_best(pd.DataFrame(rows), group=["space"], metrics=["test_lppd"])
    chosen = table.set_index("space")
    assert chosen.loc["tunnel", "temperature"] == 10.0 and chosen.loc["volume", "temperature"] == 1.0
    assert chosen.loc["tunnel", "rows_excluded"] == 1 and chosen.loc["tunnel", "seeds"] == 3
    np.testing.assert_allclose(chosen.loc["tunnel", "test_lppd_mean"], np.mean([0.0, 1.01, 2.02]))
    np.testing.assert_allclose(chosen.loc["tunnel", "test_lppd_std"], np.std([0.0, 1.01, 2.02], ddof=1))  # over seeds


def test_sigma_prior_has_a_location():
    """σ ~ LogNormal(μ, s): the prior of u = log σ is N(μ, s²) (with the Jacobian of σ = e^u),
    and chains start at the prior's median e^μ."""
    from scipy import stats

    from landform.bayes import full_posterior, gaussian_likelihood

    x, y = np.zeros((3, 1), np.float32), np.zeros((3, 1), np.float32)
    posterior = full_posterior(
        2,
        lambda theta, inputs: inputs @ theta[:1, None],
        x,
        y,
        likelihood=gaussian_likelihood(None, 0.1, -1.0),
        initial_points=np.zeros((1, 2), np.float32),
    )
    z = jnp.asarray([0.3, -0.2, -0.85])  # θ1, θ2, u = log σ
    expected = stats.norm.logpdf([0.3, -0.2], 0, 1).sum() + stats.norm.logpdf(-0.85, -1.0, 0.1)
    np.testing.assert_allclose(posterior.log_prior(z), expected, rtol=1e-5)
    assert posterior.settings["sigma_prior_location"] == -1.0
    start = posterior.default_values(jax.random.key(0), 2)
    np.testing.assert_allclose(start["sigma"], np.exp(-1.0), rtol=1e-6)
    with pytest.raises(ConfigError, match="sigma_prior_location"):
        gaussian_likelihood(None, 1.0, float("nan"))


def test_posterior_files_written_by_arviz_0x_still_load(tmp_path):
    # tests/data/posterior_arviz0.nc was written by ArviZ 0.23's InferenceData.to_netcdf with the
    # groups landform wrote before ArviZ 1.x (tests/data/make_posterior_arviz0.py)
    import shutil
    from pathlib import Path

    from landform.bayes.metrics import loo
    from landform.studies.tunnels.figure_runs import saved_coordinate_draws

    data = Path(__file__).parent / "data"
    expected = np.load(data / "posterior_arviz0_expected.npz")
    loaded = load_posterior(data / "posterior_arviz0.nc")
    assert set(loaded.children) == {"posterior", "sample_stats", "log_likelihood"}
    np.testing.assert_array_equal(loaded.posterior["phi"].values, expected["phi"])
    assert loaded.posterior["phi"].dims == ("chain", "draw", "coordinate")
    assert loaded.attrs["sampler"] == "mclmc" and loaded.attrs["num_chains"] == 2
    np.testing.assert_array_equal(loaded.log_likelihood["y"].values, expected["y"])
    assert np.isfinite(loo(loaded.log_likelihood["y"].values, temperature=1.0)["elpd_loo"])
    # a tunnel run folder holding the old file is read as before
    shutil.copy(data / "posterior_arviz0.nc", tmp_path / "posterior.nc")
    np.testing.assert_array_equal(saved_coordinate_draws(tmp_path), expected["phi"])
