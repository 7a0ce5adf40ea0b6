"""Curvature operators (Hessian and Gauss–Newton products) and Lanczos against exact answers.

References: dense autodiff Hessians (``jax.hessian``, ``jax.jacobian``) and ``numpy.linalg.eigh``
of small networks, and quadratic landscapes L(θ) = ½ θᵀAθ whose Hessian A has a chosen
spectrum. Traces, diagonals and densities are in ``test_curvature_traces.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from quadratics import quadratic

from landform.curvature import (
    CurvatureOperator,
    curvature_operator,
    hvp,
    top_eigenvalues,
    trace,
)
from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.flat import ravel
from landform.landscape import Landscape

# ---------------------------------------------------------------- helpers


def apply(params, x):
    hidden = jnp.tanh(x @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"])
    return hidden @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"]


def small_network(examples=37, memory_budget=1 << 30):
    """A 3-6-3 tanh network on random data; returns (landscape, params, x, y). 45 parameters."""
    keys = jax.random.split(jax.random.key(0), 6)
    x = jax.random.normal(keys[0], (examples, 3))
    y = jax.random.randint(keys[1], (examples,), 0, 3)
    params = {
        "Dense_0": {"kernel": jax.random.normal(keys[2], (3, 6)), "bias": 0.1 * jax.random.normal(keys[3], (6,))},
        "Dense_1": {"kernel": jax.random.normal(keys[4], (6, 3)), "bias": 0.1 * jax.random.normal(keys[5], (3,))},
    }
    landscape = Landscape.from_apply(apply, params, x, y, "cross_entropy", memory_budget=memory_budget)
    return landscape, params, x, y


def dense_hessian(params, x, y):
    theta, unravel = ravel(params)

    def loss(t):
        return optax.softmax_cross_entropy_with_integer_labels(apply(unravel(t), x), y).mean()

    return np.asarray(jax.jit(jax.hessian(loss))(theta), np.float64)


# ---------------------------------------------------------------- the operator


def test_chunked_hessian_products_equal_the_dense_hessian():
    landscape, params, x, y = small_network(memory_budget=200_000)
    operator = curvature_operator(landscape)
    assert operator.objective.chunked and landscape.num_examples % operator.examples != 0  # padded chunks
    reference = dense_hessian(params, x, y)
    scale = np.abs(reference).max()
    np.testing.assert_allclose(operator.dense(), reference, atol=2e-5 * scale)
    v = jax.random.normal(jax.random.key(1), (landscape.dim,))
    np.testing.assert_allclose(hvp(landscape, v), reference @ np.asarray(v), atol=5e-5 * scale * np.abs(v).max())
    # several vectors at a time (dense() above) give the same products as one at a time
    np.testing.assert_allclose(operator @ v, operator.dense() @ v, atol=5e-5 * scale * np.abs(v).max())


def test_parameter_subsets_and_layers_are_blocks_of_the_hessian():
    landscape, params, x, y = small_network()
    reference = dense_hessian(params, x, y)
    operator = curvature_operator(landscape)
    slices = {s.path: s for s in operator.slices}
    second = curvature_operator(landscape, parameters="Dense_1")
    block = np.r_[slices["Dense_1/bias"].start : slices["Dense_1/kernel"].stop]
    assert second.size == block.size == 21
    np.testing.assert_allclose(second.dense(), reference[np.ix_(block, block)], atol=1e-5)
    weights = curvature_operator(landscape, parameters="weights")
    kernels = np.concatenate([np.arange(slices[p].start, slices[p].stop) for p in ("Dense_0/kernel", "Dense_1/kernel")])
    np.testing.assert_allclose(weights.dense(), reference[np.ix_(kernels, kernels)], atol=1e-5)
    layers = operator.layers()
    assert list(layers) == ["Dense_0", "Dense_1"]
    np.testing.assert_array_equal(layers["Dense_1"].indices, second.indices)
    assert layers["Dense_0"].paths == ("Dense_0/bias", "Dense_0/kernel")
    assert {name: op.size for name, op in operator.layers(by="leaf").items()} == {
        "Dense_0/bias": 6,
        "Dense_0/kernel": 18,
        "Dense_1/bias": 3,
        "Dense_1/kernel": 18,
    }


def test_gauss_newton_is_jacobian_transpose_times_output_curvature_times_jacobian():
    landscape, params, x, y = small_network(memory_budget=200_000)
    theta, unravel = ravel(params)
    jacobian = np.asarray(jax.jit(jax.jacobian(lambda t: apply(unravel(t), x)))(theta), np.float64)  # (N, 3, n)
    p = np.asarray(jax.nn.softmax(apply(params, x)), np.float64)
    output_hessian = np.stack([np.diag(row) - np.outer(row, row) for row in p])  # of softmax cross-entropy
    reference = np.einsum("nai,nab,nbj->ij", jacobian, output_hessian, jacobian) / x.shape[0]
    operator = curvature_operator(landscape, kind="gauss_newton", apply=apply)
    np.testing.assert_allclose(operator.dense(), reference, atol=2e-5 * np.abs(reference).max())
    assert np.linalg.eigvalsh(np.asarray(operator.dense(), np.float64)).min() > -1e-5  # positive semi-definite


def test_gauss_newton_equals_the_hessian_of_a_linear_least_squares_model():
    x = jax.random.normal(jax.random.key(0), (50, 4))
    y = jax.random.normal(jax.random.key(1), (50, 2))
    params = {"w": jax.random.normal(jax.random.key(2), (4, 2))}
    landscape = Landscape.from_apply(lambda p, x: x @ p["w"], params, x, y, "mse")
    hessian = curvature_operator(landscape).dense()
    gauss_newton = curvature_operator(landscape, kind="gauss_newton", apply=lambda p, x: x @ p["w"]).dense()
    np.testing.assert_allclose(gauss_newton, hessian, atol=1e-5)


def test_operator_errors_say_what_to_do():
    landscape, *_ = small_network()
    with pytest.raises(UnknownNameError):
        curvature_operator(landscape, kind="fisher")
    with pytest.raises(ConfigError, match="pass `apply`"):
        curvature_operator(landscape, kind="gauss_newton")
    with pytest.raises(ConfigError, match="no parameters are selected"):
        curvature_operator(landscape, parameters="Conv")
    with pytest.raises(ConfigError, match="regular expression"):
        curvature_operator(landscape, parameters="Dense_[")
    with pytest.raises(ShapeError):
        curvature_operator(landscape).matvec(jnp.zeros(3))
    function = Landscape.from_function(lambda t: jnp.sum(t**2), 3)
    with pytest.raises(ConfigError, match="no θ"):
        curvature_operator(function)
    with pytest.raises(TypeError):
        top_eigenvalues("not a landscape")


# ---------------------------------------------------------------- Lanczos


def test_top_eigenvalues_of_a_known_spectrum_and_their_eigenvectors():
    spectrum = np.concatenate([[10.0, 7.0, 5.0], np.linspace(0.01, 1.0, 57)])
    landscape, a = quadratic(spectrum)
    pairs = top_eigenvalues(landscape, 3, iterations=40)
    np.testing.assert_allclose(pairs.values, [10.0, 7.0, 5.0], rtol=1e-4)
    assert pairs.converged.all()
    exact_vectors = np.linalg.eigh(a)[1][:, ::-1][:, :3]
    cosines = np.abs(np.sum(np.asarray(pairs.vectors, np.float64) * exact_vectors.T, axis=1))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-4)
    bottom = top_eigenvalues(landscape, 2, iterations=60, which="smallest")
    np.testing.assert_allclose(bottom.values, spectrum[3:5], atol=1e-4)


def test_lanczos_residuals_are_the_true_residuals_and_bound_the_error():
    # A dense spectrum and few steps: the Ritz values have not converged, so the bound matters.
    spectrum = np.linspace(0.0, 10.0, 200) ** 1.5
    landscape, a = quadratic(spectrum, seed=3)
    pairs = top_eigenvalues(landscape, 4, iterations=8)
    vectors = np.asarray(pairs.vectors, np.float64)
    true_residuals = np.linalg.norm(vectors @ a - pairs.values[:, None] * vectors, axis=1)
    assert true_residuals.min() > 1e-2  # not converged
    np.testing.assert_allclose(pairs.residuals, true_residuals, rtol=2e-3)
    nearest = np.min(np.abs(spectrum[None, :] - pairs.values[:, None]), axis=1)
    assert np.all(nearest <= pairs.residuals * (1 + 1e-4))
    assert not pairs.converged.all()


def test_top_eigenvalues_of_a_small_network_match_a_dense_eigendecomposition():
    landscape, params, x, y = small_network()
    exact = np.linalg.eigvalsh(dense_hessian(params, x, y))
    pairs = top_eigenvalues(landscape, 3, iterations=landscape.dim)
    np.testing.assert_allclose(pairs.values, exact[::-1][:3], rtol=1e-3, atol=1e-5)
    bottom = top_eigenvalues(landscape, 1, iterations=landscape.dim, which="smallest")
    np.testing.assert_allclose(bottom.values, exact[:1], atol=1e-4 * abs(exact).max())
    with pytest.raises(ConfigError):
        top_eigenvalues(landscape, landscape.dim + 1)


def test_operator_is_reused_by_every_estimator():
    landscape, *_ = small_network()
    operator = curvature_operator(landscape)
    assert isinstance(operator, CurvatureOperator)
    with pytest.raises(ConfigError, match="already an operator"):
        trace(operator, 10, parameters="Dense_0")


@pytest.mark.slow  # importing and initialising Flax and Equinox models takes ~8 s on a shared 2-core machine
def test_flax_and_equinox_models_have_their_dense_hessian_s_top_eigenvalue():
    import equinox as eqx
    import flax.linen as nn

    from landform import landscape_from

    x = jax.random.normal(jax.random.key(0), (20, 3))
    y = jax.random.randint(jax.random.key(1), (20,), 0, 2)
    linen = nn.Sequential([nn.Dense(4), nn.tanh, nn.Dense(2)])
    variables = linen.init(jax.random.key(2), x)
    module = eqx.nn.MLP(3, 2, 4, 1, activation=jnp.tanh, key=jax.random.key(3))
    for landscape in (landscape_from(linen, variables, x, y), landscape_from(module, None, x, y)):
        operator = curvature_operator(landscape)  # its dense matrix is checked against jax.hessian above
        exact = np.linalg.eigvalsh(np.asarray(operator.dense(), np.float64))
        pairs = top_eigenvalues(operator, 1, iterations=landscape.dim)
        assert pairs.values[0] == pytest.approx(exact[-1], rel=1e-3)
