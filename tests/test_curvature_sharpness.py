"""Sharpness against exact answers: quadratics (closed forms) and a rescaled ReLU network.

For L(θ) = ½ θᵀAθ at θ* = 0:
- average case with T = I: E[½ ρ² uᵀAu] = ½ ρ² tr(A), with standard deviation ½ ρ² sqrt(2 tr(A²));
- worst case, p = 2: max_{‖u‖≤ρ} ½ uᵀAu = ½ ρ² λ_max (A positive semi-definite);
- worst case, p = ∞, A diagonal and non-negative: the corner u = ±ρ gives ½ ρ² tr(A).
A ReLU network whose first layer (weights and bias) is multiplied by α and second layer's
weights divided by α computes the same function; adaptive sharpness (T = |θ*|) is unchanged,
plain sharpness (T = I) is not (Andriushchenko et al. 2023; Dinh et al. 2017).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from quadratics import quadratic

from landform.curvature import adaptive_sharpness, average_sharpness, worst_sharpness
from landform.errors import ConfigError, UnknownNameError
from landform.flat import ravel
from landform.landscape import Landscape
from landform.volume import random_directions


def relu_network(alpha=1.0):
    """A 4-8-3 ReLU network on random data, its first layer scaled by α and second by 1/α."""
    keys = jax.random.split(jax.random.key(0), 6)
    x = jax.random.normal(keys[0], (64, 4))
    y = jax.random.randint(keys[1], (64,), 0, 3)
    params = {
        "Dense_0": {"kernel": alpha * jax.random.normal(keys[2], (4, 8)), "bias": alpha * 0.3 * jnp.ones(8)},
        "Dense_1": {"kernel": jax.random.normal(keys[4], (8, 3)) / alpha, "bias": 0.1 * jnp.arange(3.0)},
    }

    def apply(p, x):
        hidden = jax.nn.relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
        return hidden @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]

    return Landscape.from_apply(apply, params, x, y, "cross_entropy")


def test_average_sharpness_of_a_quadratic_and_its_standard_error():
    spectrum = np.linspace(0.1, 4.0, 30)
    landscape, _ = quadratic(spectrum)
    radius, samples = 0.3, 400
    result = average_sharpness(landscape, radius, samples=samples, key=1)
    exact = 0.5 * radius**2 * spectrum.sum()
    assert abs(result.value - exact) < 4 * result.standard_error
    # the sample std of 400 draws of a weighted chi-square is within ~10 % of the exact one
    exact_error = 0.5 * radius**2 * np.sqrt(2 * np.sum(spectrum**2)) / np.sqrt(samples)
    assert result.standard_error == pytest.approx(exact_error, rel=0.2)
    assert result.samples.shape == (samples,) and result.kind == "average"
    assert result.loss_at_center == 0.0


def test_worst_case_sharpness_of_a_quadratic_in_l2_and_linf():
    spectrum = np.concatenate([[5.0, 2.5], np.linspace(0.1, 1.0, 18)])
    landscape, _ = quadratic(spectrum, seed=2)
    radius = 0.5
    l2 = worst_sharpness(landscape, radius, steps=30)
    assert l2.value == pytest.approx(0.5 * radius**2 * 5.0, rel=1e-3)
    assert np.linalg.norm(l2.perturbation) == pytest.approx(radius, rel=1e-4)
    diagonal = np.linspace(0.5, 2.0, 10)
    a = jnp.asarray(diagonal, jnp.float32)
    box = Landscape.from_function(lambda t: 0.5 * jnp.sum(a * t * t), 10, theta=jnp.zeros(10))
    linf = worst_sharpness(box, radius, norm="linf", steps=10)
    assert linf.value == pytest.approx(0.5 * radius**2 * diagonal.sum(), rel=1e-5)
    np.testing.assert_allclose(np.abs(linf.perturbation), radius, rtol=1e-6)
    # Keskar et al.'s box: |δ_j| ≤ ε(|θ*_j| + 1); at θ* = 0 the same corner, reported relative to 1 + L(θ*)
    keskar = worst_sharpness(box, radius, norm="linf", normalization="keskar", steps=10)
    assert keskar.relative == pytest.approx(100 * 0.5 * radius**2 * diagonal.sum(), rel=1e-5)


def test_adaptive_sharpness_is_unchanged_by_rescaling_a_relu_network_and_plain_sharpness_is_not():
    original, rescaled = relu_network(1.0), relu_network(4.0)
    assert float(original.loss(original.theta)) == pytest.approx(float(rescaled.loss(rescaled.theta)), rel=1e-5)
    adaptive = [adaptive_sharpness(landscape, 0.5, steps=10, key=3).value for landscape in (original, rescaled)]
    assert adaptive[0] > 1e-3
    assert adaptive[1] == pytest.approx(adaptive[0], rel=1e-3)
    plain = [worst_sharpness(landscape, 0.5, steps=10, key=3).value for landscape in (original, rescaled)]
    assert abs(plain[1] - plain[0]) > 0.1 * plain[0]
    kwargs = dict(samples=20, key=4)
    elementwise = [
        average_sharpness(landscape, 0.3, normalization="elementwise", **kwargs).value
        for landscape in (original, rescaled)
    ]
    assert elementwise[1] == pytest.approx(elementwise[0], rel=1e-3)
    isotropic = [average_sharpness(landscape, 0.3, **kwargs).value for landscape in (original, rescaled)]
    assert abs(isotropic[1] - isotropic[0]) > 0.1 * isotropic[0]


def test_normalised_average_sharpness_perturbs_along_the_volume_directions():
    landscape = relu_network()
    theta, unravel = ravel(landscape.unravel(landscape.theta))
    key = jax.random.key(5)
    result = average_sharpness(landscape, 0.05, samples=6, normalization="filter_scale", perturb="weights", key=key)
    directions = random_directions(key, theta, unravel(theta), normalization="filter_scale", perturb="weights")
    expected = landscape.loss_batch(theta[None] + 0.05 * directions.batch(np.arange(6))) - landscape.loss(theta)
    np.testing.assert_allclose(result.samples, expected, rtol=1e-4, atol=1e-7)


def test_sharpness_arguments_are_checked():
    landscape, _ = quadratic(np.ones(4))
    with pytest.raises(ConfigError, match="radius"):
        average_sharpness(landscape, 0.0)
    with pytest.raises(UnknownNameError):
        average_sharpness(landscape, 0.1, normalization="keskar")
    with pytest.raises(UnknownNameError):
        worst_sharpness(landscape, 0.1, norm="l1")
    with pytest.raises(ConfigError, match="layout"):
        average_sharpness(landscape, 0.1, normalization="filter")


def test_worst_case_gradients_are_those_of_the_full_data_loss():
    # the ascent of a cross-entropy network reaches at least the loss of a random point of the ball
    landscape = relu_network()
    worst = worst_sharpness(landscape, 0.2, steps=15, key=1)
    average = average_sharpness(landscape, 0.2 / np.sqrt(landscape.dim), samples=50, key=1)
    assert worst.value > average.value + 4 * average.standard_error
    theta = landscape.theta
    unravel = landscape.unravel
    x, y = landscape.x, landscape.y

    def loss(t):
        p = unravel(t)
        hidden = jax.nn.relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
        return optax.softmax_cross_entropy_with_integer_labels(
            hidden @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"], y
        ).mean()

    assert float(loss(theta + jnp.asarray(worst.perturbation))) - float(loss(theta)) == pytest.approx(
        worst.value, rel=1e-4
    )
