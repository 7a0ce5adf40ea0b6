"""The local learning coefficient against exact answers.

Both toys have a closed-form (or one-dimensional-quadrature) value of the estimator's target at
finite n, E_w[nβ(L_n(w) − L_n(w*))] under the tethered posterior p(w) ∝ exp(−nβ L_n(w) −
(γ/2)‖w − w*‖²), and a known limit as nβ → ∞ (the learning coefficient λ):

- linear regression with d = 5 weights and squared error: L_n − L_n(w*) = ½ Δᵀ H Δ exactly, so
  the posterior is Gaussian and the target is ½ Σ_i nβ h_i / (nβ h_i + γ) (h_i the eigenvalues of
  H), which tends to the regular value λ = d/2.
- L(w) = (w₁w₂)² in 2-D (w* = 0), whose RLCT is 1/2 with multiplicity 2. Given w₁ the posterior
  of w₂ is Gaussian with precision a(w₁) = 2nβ w₁² + γ, so the target is a 1-D integral over w₁.
  The multiplicity makes the target approach 1/2 only like 1/2 − 1/log(nβ/γ²): at n = 10⁴ and
  γ = 1 it is 0.391, which the test states.

Tolerances. SGLD's error has two parts: Monte-Carlo error, measured by the spread over chains
(8–16 chains, standard error ≈ 0.06 for the regression and ≈ 0.01 for the singular toy with the
settings below), and the Euler discretisation, which inflates the variance along a direction of
curvature a by 1/(1 − εa/2): below 2.5 % with the default step size, and below 1 % at the
stiffest point the singular chains visit. The regression allows 0.15 (≈ 2.5 standard errors +
the 2.5 % bias of 2.5), the singular toy 0.05 (5 standard errors, its bias is negligible).
"""

import math
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from landform.curvature import LLCWarning, llc_figure, local_learning_coefficient
from landform.errors import ConfigError
from landform.landscape import Landscape


def regression(n=1000, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ rng.normal(size=d) + 0.5 * rng.normal(size=n)).astype(np.float32)[:, None]
    w_star = np.linalg.lstsq(x.astype(np.float64), y.astype(np.float64), rcond=None)[0].ravel()
    landscape = Landscape.from_apply(
        lambda p, x: x @ p["w"][:, None], {"w": jnp.asarray(w_star, jnp.float32)}, x, y, "mse"
    )
    hessian = 2 * x.astype(np.float64).T @ x.astype(np.float64) / n
    return landscape, np.linalg.eigvalsh(hessian)


def regression_target(eigenvalues, nbeta, gamma):
    return 0.5 * float(np.sum(nbeta * eigenvalues / (nbeta * eigenvalues + gamma)))


def singular_target(nbeta, gamma):
    """E[nβ (w₁w₂)²] under p ∝ exp(−nβ(w₁w₂)² − γ‖w‖²/2), by quadrature over w₁."""

    def precision(w):
        return 2 * nbeta * w**2 + gamma

    def marginal(w):  # ∫ exp(...) dw₂ up to a constant
        return np.exp(-0.5 * gamma * w**2) / np.sqrt(precision(w))

    normaliser = integrate.quad(marginal, -np.inf, np.inf, limit=200)[0]
    moment = integrate.quad(lambda w: marginal(w) * nbeta * w**2 / precision(w), -np.inf, np.inf, limit=200)[0]
    return moment / normaliser


def test_linear_regression_has_the_regular_learning_coefficient():
    landscape, eigenvalues = regression()
    n = landscape.num_examples
    nbeta = n / math.log(n)
    estimate = local_learning_coefficient(landscape, chains=8, steps=3000, gamma=1.0, key=0)
    target = regression_target(eigenvalues, nbeta, 1.0)
    assert target == pytest.approx(2.5, abs=0.02)  # d/2, up to the tether
    assert estimate.llc == pytest.approx(target, abs=0.15)
    assert estimate.standard_error < 0.1
    assert estimate.beta == pytest.approx(1 / math.log(n))
    assert estimate.loss_traces.shape == (8, 3000) and estimate.burn_in == 750
    assert not estimate.flagged and estimate.messages == ()
    # minibatch gradients (and minibatch losses in the estimator) agree within the same tolerance
    minibatch = local_learning_coefficient(landscape, chains=8, steps=3000, gamma=1.0, batch_size=200, key=1)
    assert minibatch.llc == pytest.approx(target, abs=0.2)


def test_singular_toy_approaches_its_rlct_of_one_half():
    n, gamma = 10_000, 1.0
    landscape = Landscape.from_function(lambda w: (w[0] * w[1]) ** 2, 2, theta=jnp.zeros(2))
    estimate = local_learning_coefficient(
        landscape, chains=16, steps=100_000, step_size=1e-5, gamma=gamma, num_examples=n, key=0
    )
    target = singular_target(n / math.log(n), gamma)
    assert target == pytest.approx(0.391, abs=1e-3)
    assert estimate.llc == pytest.approx(target, abs=0.05)
    # within the multiplicity's 1/log(nβ/γ²) ≈ 0.14 of the RLCT 1/2, and far from the regular d/2 = 1
    assert 0.5 - 1 / math.log(n / math.log(n) / gamma**2) - 0.05 < estimate.llc < 0.5
    assert not estimate.flagged


def test_a_point_that_is_not_a_minimum_gives_a_negative_estimate_and_warnings():
    landscape = Landscape.from_function(lambda w: 0.5 * jnp.sum(w**2), 3, theta=jnp.ones(3))
    with pytest.warns(LLCWarning) as caught:
        estimate = local_learning_coefficient(
            landscape, chains=2, steps=400, burn_in=0, step_size=1e-4, gamma=0.0, num_examples=100
        )
    assert estimate.negative and estimate.llc < 0
    assert estimate.drifting.all()  # the chains slide downhill from w*
    assert estimate.flagged
    assert any("negative" in str(w.message) for w in caught) and any("drift" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet = local_learning_coefficient(
            landscape, chains=2, steps=400, burn_in=0, step_size=1e-4, gamma=0.0, num_examples=100, warn=False
        )
    assert quiet.negative and quiet.messages == tuple(str(w.message) for w in caught)


def test_a_step_size_that_is_too_large_is_reported_as_divergence():
    landscape = Landscape.from_function(lambda w: 0.5 * jnp.sum(w**2), 2, theta=jnp.zeros(2))
    with pytest.warns(LLCWarning, match="non-finite"):
        estimate = local_learning_coefficient(landscape, chains=2, steps=300, step_size=1.0, num_examples=1000)
    assert estimate.diverged and estimate.flagged


def test_llc_figure_draws_one_trace_per_chain():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    landscape = Landscape.from_function(lambda w: 0.5 * jnp.sum(w**2), 2, theta=jnp.zeros(2))
    estimate = local_learning_coefficient(landscape, chains=3, steps=2000, num_examples=100)
    figure = llc_figure(estimate)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 3 + 1  # three chains and L(w*)
    np.testing.assert_allclose(lines[1].get_ydata(), estimate.loss_traces[1])
    plt.close(figure)


def test_llc_arguments_are_checked():
    landscape = Landscape.from_function(lambda w: jnp.sum(w**2), 2, theta=jnp.zeros(2))
    with pytest.raises(ConfigError, match="num_examples"):
        local_learning_coefficient(landscape)
    with pytest.raises(ConfigError, match="burn_in"):
        local_learning_coefficient(landscape, num_examples=10, steps=10, burn_in=9)
    with pytest.raises(ConfigError, match="minibatches"):
        local_learning_coefficient(landscape, num_examples=10, batch_size=2)
