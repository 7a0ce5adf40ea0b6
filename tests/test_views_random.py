"""Random-direction views (Li et al. 2018): the plane θ* + a·d1 + b·d2 and the slices θ* + t·d
against the closed form of a quadratic, filter normalisation unit by unit on landform, Flax and
Equinox models, and the unit-norm fallback for plain functions."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import landform
from landform.errors import ConfigError
from landform.flat import leaf_slices, ravel
from landform.landscape import Landscape
from landform.views import random_plane, random_plane_losses, random_slice_losses, view_directions

# L_k(θ) = (1/k) Σ_{i≤k} ½ (θ − m_i)ᵀ A (θ − m_i), A = diag(a): per-example quadratics.
DIM = 5
CURVATURE = np.linspace(0.5, 3.0, DIM)
CENTRES = np.random.default_rng(0).normal(size=(4, DIM))


def quadratic_landscape() -> Landscape:
    a, m = jnp.asarray(CURVATURE, jnp.float32), jnp.asarray(CENTRES, jnp.float32)
    return Landscape.from_function(lambda t: 0.5 * jnp.sum(a * (t[None] - m) ** 2, axis=1), DIM, per_example=True)


def quadratic_loss(points: np.ndarray, k: int) -> np.ndarray:
    """Exact L_k at points (..., DIM), in float64."""
    diff = np.asarray(points, np.float64)[..., None, :] - CENTRES[:k]
    return np.mean(0.5 * np.sum(CURVATURE * diff**2, axis=-1), axis=-1)


def mlp_apply(params, x):
    hidden = jnp.tanh(x @ params["dense0"]["kernel"] + params["dense0"]["bias"])
    return hidden @ params["dense1"]["kernel"] + params["dense1"]["bias"]


def mlp_params(key, inputs=3, hidden=6, outputs=4):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "dense0": {"kernel": jax.random.normal(k1, (inputs, hidden)), "bias": 0.1 * jnp.ones(hidden)},
        "dense1": {"kernel": jax.random.normal(k2, (hidden, outputs)), "bias": jax.random.normal(k3, (outputs,))},
    }


def mlp_data(n=32, inputs=3, outputs=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, inputs)).astype(np.float32), rng.integers(0, outputs, n).astype(np.int32)


def unit_norms(block: np.ndarray, axis: int) -> np.ndarray:
    others = tuple(i for i in range(block.ndim) if i != axis % block.ndim)
    return np.sqrt(np.sum(np.asarray(block, np.float64) ** 2, axis=others))


# ---------------------------------------------------------------- closed forms


def test_random_plane_equals_the_closed_form_on_a_quadratic():
    landscape = quadratic_landscape()
    theta = jnp.asarray(CENTRES.mean(axis=0) + 0.3, jnp.float32)
    plane, losses = random_plane_losses(landscape, theta, key=7, resolution=(9, 7), sizes=[1, 2, 4])
    assert plane.kind == "random" and losses.losses.shape == (3, 7, 9)
    np.testing.assert_array_equal(losses.a, np.linspace(-1, 1, 9))
    np.testing.assert_array_equal(losses.b, np.linspace(-1, 1, 7))
    d1, d2 = (np.asarray(d, np.float64) for d in plane.basis)
    ga, gb = np.meshgrid(losses.a, losses.b)
    points = np.asarray(theta, np.float64) + ga[..., None] * d1 + gb[..., None] * d2
    for index, k in enumerate([1, 2, 4]):
        np.testing.assert_allclose(losses.losses[index], quadratic_loss(points, k), rtol=1e-5)
    np.testing.assert_allclose(losses.anchor_losses[:, 0], [quadratic_loss(theta, k) for k in (1, 2, 4)], rtol=1e-6)


def test_random_slice_is_the_parabola_of_the_quadratic():
    """Along θ + t·d: L(t) = L(θ) + t·dᵀA(θ − m̄) + ½ t²·dᵀAd for the mean m̄ of the centres."""
    landscape = quadratic_landscape()
    theta = jnp.asarray(np.linspace(-1, 1, DIM), jnp.float32)
    t = np.linspace(-2.0, 2.0, 17)
    direction, line = random_slice_losses(landscape, theta, key=3, t=t)
    d = np.asarray(direction, np.float64)
    centre = np.asarray(theta, np.float64)
    value = quadratic_loss(centre, 4)
    slope = d @ (CURVATURE * (centre - CENTRES.mean(axis=0)))
    curvature = d @ (CURVATURE * d)
    np.testing.assert_allclose(line.losses[0], value + slope * t + 0.5 * curvature * t**2, rtol=1e-5)
    # direction 0 and 1 are the a- and b-axes of the random plane with the same key
    plane = random_plane(theta, key=3)
    np.testing.assert_array_equal(np.asarray(direction), np.asarray(plane.basis[0]))
    second, _ = random_slice_losses(landscape, theta, key=3, index=1, t=t)
    np.testing.assert_array_equal(np.asarray(second), np.asarray(plane.basis[1]))


def test_plain_functions_get_unit_norm_gaussian_directions():
    theta = jnp.zeros(DIM)
    directions = np.asarray(view_directions(theta, quadratic_landscape(), key=5, count=3, normalization="filter"))
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, rtol=1e-6)
    gaussian = np.asarray(jax.random.normal(jax.random.fold_in(jax.random.key(5), 2), (DIM,)))
    np.testing.assert_allclose(directions[2], gaussian / np.linalg.norm(gaussian), rtol=1e-6)


def test_a_landscape_without_its_own_point_needs_theta():
    with pytest.raises(ConfigError, match="pass theta"):
        random_plane_losses(quadratic_landscape(), resolution=3)


# ---------------------------------------------------------------- filter normalisation on models


def test_filter_directions_match_every_unit_of_the_minimum():
    params = mlp_params(jax.random.key(0))
    theta, _ = ravel(params)
    directions = np.asarray(view_directions(theta, params, key=1, count=2))
    host = np.asarray(theta)
    for d in directions:
        for leaf in leaf_slices(params):
            block, reference = d[leaf.start : leaf.stop], host[leaf.start : leaf.stop]
            if len(leaf.shape) == 1:
                np.testing.assert_array_equal(block, 0.0)  # biases are not perturbed
            else:
                np.testing.assert_allclose(
                    unit_norms(block.reshape(leaf.shape), -1), unit_norms(reference.reshape(leaf.shape), -1), rtol=1e-5
                )


def test_model_plane_equals_direct_evaluation_and_takes_the_layout_from_the_landscape():
    params = mlp_params(jax.random.key(2))
    x, y = mlp_data()
    landscape = landform.landscape_from(mlp_apply, params, x, y)
    plane, losses = random_plane_losses(landscape, key=4, resolution=5, a_range=(-0.5, 0.5))
    theta = landscape.theta
    np.testing.assert_array_equal(np.asarray(plane.basis), np.asarray(view_directions(theta, params, key=4)))
    for i, j in [(0, 0), (2, 3), (4, 1)]:
        point = theta + losses.a[i] * plane.basis[0] + losses.b[j] * plane.basis[1]
        np.testing.assert_allclose(losses.losses[0, j, i], float(landscape.loss(point)), rtol=2e-5)
    assert math.isclose(losses.anchor_losses[0, 0], float(landscape.loss(theta)), rel_tol=1e-6)


@pytest.mark.parametrize("normalization", ["layer", "filter_scale"])
def test_other_normalisations_come_from_the_volume_directions(normalization):
    from landform.volume import random_directions

    params = mlp_params(jax.random.key(3))
    theta, _ = ravel(params)
    ours = view_directions(theta, params, key=6, normalization=normalization)
    theirs = random_directions(jax.random.key(6), theta, params, normalization=normalization).batch([0, 1])
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_flax_linen_model_plane():
    from flax import linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(4)(nn.tanh(nn.Dense(6)(x)))

    x, y = mlp_data()
    module = Net()
    variables = module.init(jax.random.key(0), x[:1])
    landscape = landform.landscape_from(module, variables, x, y)
    plane, losses = random_plane_losses(landscape, key=0, resolution=3)
    assert np.all(np.isfinite(losses.losses))
    kernels = [leaf for leaf in leaf_slices(landscape.unravel(landscape.theta)) if leaf.path.endswith("kernel")]
    d, theta = np.asarray(plane.basis[0]), np.asarray(landscape.theta)
    for leaf in kernels:  # Flax: output units on the last axis
        block = d[leaf.start : leaf.stop].reshape(leaf.shape)
        np.testing.assert_allclose(
            unit_norms(block, -1), unit_norms(theta[leaf.start : leaf.stop].reshape(leaf.shape), -1), rtol=1e-5
        )
    centre = float(landscape.loss(landscape.theta))
    np.testing.assert_allclose(losses.losses[0, 1, 1], centre, rtol=1e-6)  # (0, 0) is the grid's middle


def test_equinox_model_plane_normalises_rows():
    import equinox as eqx

    x, y = mlp_data()
    module = eqx.nn.MLP(3, 4, 6, 1, key=jax.random.key(0))
    landscape = landform.landscape_from(module, None, x, y)
    plane, losses = random_plane_losses(landscape, key=1, resolution=3, unit_axis=0)
    assert np.all(np.isfinite(losses.losses))
    weights = [leaf for leaf in leaf_slices(landscape.unravel(landscape.theta)) if len(leaf.shape) == 2]
    assert weights
    d, theta = np.asarray(plane.basis[1]), np.asarray(landscape.theta)
    for leaf in weights:  # Equinox: Linear weights are (out, in), units on axis 0
        block = d[leaf.start : leaf.stop].reshape(leaf.shape)
        np.testing.assert_allclose(
            unit_norms(block, 0), unit_norms(theta[leaf.start : leaf.stop].reshape(leaf.shape), 0), rtol=1e-5
        )


def test_grids_that_reuse_the_first_layer_equal_plain_evaluation():
    """A zoo MLP's landscape evaluates plane points through its first layer's products
    (Landscape.span); the grid equals plain evaluation up to float rounding."""
    from landform.models import build

    model = build({"name": "mlp", "input_shape": [3], "hidden": [8, 6], "outputs": 4})
    params = model.init(jax.random.key(0))
    x, y = mlp_data(n=40)
    landscape = Landscape.from_apply(model.apply, params, x, y, "cross_entropy", first_layer=model.first_layer)
    assert landscape.reuses_first_layer
    plane, reused = random_plane_losses(landscape, key=2, resolution=4, sizes=[10, 40])
    _, plain = random_plane_losses(landscape.without_first_layer(), key=2, resolution=4, sizes=[10, 40])
    np.testing.assert_allclose(reused.losses, plain.losses, rtol=1e-5)
    np.testing.assert_allclose(reused.anchor_losses, plain.anchor_losses, rtol=1e-5)
    point = landscape.theta + reused.a[3] * plane.basis[0] + reused.b[1] * plane.basis[1]
    np.testing.assert_allclose(reused.losses[1, 1, 3], float(landscape.loss(point)), rtol=1e-5)
