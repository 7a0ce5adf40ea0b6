"""Curvature operators, Lanczos, Hutchinson/XTrace and SLQ against exact answers.

References: dense autodiff Hessians (``jax.hessian``) and ``numpy.linalg.eigh`` of small
networks, and quadratic landscapes L(θ) = ½ θᵀAθ whose Hessian A has a chosen spectrum.
Statistical checks use fixed keys and bounds of four standard errors (or exact results where
the estimator is exact: Rademacher probes on a diagonal matrix, XTrace on a low-rank one).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from landform.curvature import (
    CurvatureOperator,
    curvature_operator,
    diagonal,
    hutchinson,
    hvp,
    spectral_density,
    top_eigenvalues,
    trace,
    trace_of_square,
)
from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.flat import ravel
from landform.landscape import Landscape

# ---------------------------------------------------------------- helpers


def quadratic(eigenvalues, seed=0):
    """L(θ) = ½ θᵀAθ with A = Q diag(eigenvalues) Qᵀ for a random rotation Q; returns (landscape, A)."""
    eigenvalues = np.asarray(eigenvalues, np.float64)
    n = eigenvalues.size
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    a = (q * eigenvalues) @ q.T
    a32 = jnp.asarray(a, jnp.float32)
    landscape = Landscape.from_function(lambda t: 0.5 * t @ (a32 @ t), n, theta=jnp.zeros(n))
    return landscape, a


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
    np.testing.assert_allclose(operator @ v, operator.matvec(v))
    # several vectors at a time give the same products as one at a time
    block = jax.random.normal(jax.random.key(2), (5, landscape.dim))
    np.testing.assert_allclose(operator.matmat(block), np.stack([operator.matvec(b) for b in block]), atol=1e-5 * scale)


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
    np.testing.assert_allclose(layers["Dense_1"].dense(), second.dense(), atol=1e-6)
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


# ---------------------------------------------------------------- traces


def test_rademacher_probes_give_the_exact_trace_and_diagonal_of_a_diagonal_hessian():
    values = np.linspace(-1.0, 3.0, 20)
    a = jnp.asarray(values, jnp.float32)
    landscape = Landscape.from_function(lambda t: 0.5 * jnp.sum(a * t * t), 20, theta=jnp.zeros(20))
    estimate = hutchinson(landscape, 7, diagonal=True)
    assert estimate.trace.value == pytest.approx(values.sum(), abs=1e-4)
    assert estimate.trace.standard_error == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(estimate.diagonal.value, values, atol=1e-5)
    assert estimate.trace_of_square.value == pytest.approx(np.sum(values**2), rel=1e-5)


def test_hutchinson_trace_and_its_standard_error_against_the_exact_variance():
    spectrum = np.linspace(-2.0, 8.0, 50)
    landscape, a = quadratic(spectrum, seed=1)
    probes = 400
    estimate = hutchinson(landscape, probes, key=3)
    exact_trace = spectrum.sum()
    assert abs(estimate.trace.value - exact_trace) < 4 * estimate.trace.standard_error
    # Var(vᵀAv) = 2(‖A‖_F² − Σ A_ii²) for Rademacher v. The sample std of 400 quadratic forms
    # has a relative error of about 1/sqrt(2·400)·sqrt(1 + excess kurtosis/2) ≈ 5 %: allow 15 %.
    exact_error = np.sqrt(2 * (np.sum(a**2) - np.sum(np.diag(a) ** 2)) / probes)
    assert estimate.trace.standard_error == pytest.approx(exact_error, rel=0.15)
    assert abs(estimate.trace_of_square.value - np.sum(spectrum**2)) < 4 * estimate.trace_of_square.standard_error
    same = trace(landscape, probes, key=3)
    assert same.value == pytest.approx(estimate.trace.value)  # probe i depends on (key, i) only
    square = trace_of_square(landscape, probes, key=3)
    assert square.value == pytest.approx(estimate.trace_of_square.value)


def test_probe_estimates_do_not_depend_on_the_chunk_width():
    landscape, *_ = small_network()
    wide = curvature_operator(landscape, width=16)
    narrow = curvature_operator(landscape, width=1)
    a, b = trace(wide, 30, key=5), trace(narrow, 30, key=5)
    assert a.value == pytest.approx(b.value, rel=1e-5)
    assert a.standard_error == pytest.approx(b.standard_error, rel=1e-4)


def test_hutchinson_diagonal_of_a_dense_matrix_lies_within_its_errors():
    spectrum = np.linspace(0.5, 5.0, 40)
    landscape, a = quadratic(spectrum, seed=2)
    estimate = diagonal(landscape, 300, key=1)
    standardised = (estimate.value - np.diag(a)) / estimate.standard_error
    assert np.all(np.abs(standardised) < 4.5)
    assert 0.5 < np.mean(standardised**2) < 1.6  # standardised errors of about unit variance


def test_xtrace_is_exact_on_low_rank_and_beats_hutchinson_on_a_decaying_spectrum():
    low_rank = np.concatenate([[9.0, 6.0, 4.0, 2.0, 1.0], np.zeros(95)])
    landscape, _ = quadratic(low_rank, seed=4)
    estimate = trace(landscape, 10, method="xtrace")
    assert estimate.value == pytest.approx(low_rank.sum(), rel=1e-4)
    np.testing.assert_allclose(
        diagonal(landscape, 10, method="xtrace").value, np.diag(quadratic(low_rank, seed=4)[1]), atol=1e-4
    )
    decaying = 10.0 * 0.6 ** np.arange(100)
    landscape, _ = quadratic(decaying, seed=5)
    reduced = trace(landscape, 20, method="xtrace", key=2)
    plain = trace(landscape, 20, key=2)
    assert abs(reduced.value - decaying.sum()) < 4 * reduced.standard_error
    assert reduced.standard_error < 0.05 * plain.standard_error
    with pytest.raises(ConfigError):
        trace(landscape, 20, method="girard")
    with pytest.raises(ConfigError, match="probes"):
        trace(landscape, 101, method="xtrace")


# ---------------------------------------------------------------- spectral density


def test_slq_quadrature_reproduces_the_moments_of_each_probe_exactly():
    spectrum = np.linspace(-1.0, 4.0, 50)
    landscape, a = quadratic(spectrum, seed=6)
    steps, probes, key = 5, 4, jax.random.key(7)
    density = spectral_density(landscape, probes=probes, iterations=steps, key=key)
    for i in range(probes):
        v = np.asarray(jax.random.rademacher(jax.random.fold_in(key, i), (50,), jnp.float32), np.float64)
        v /= np.linalg.norm(v)
        for power in range(2 * steps):  # Gauss quadrature with m nodes is exact up to degree 2m − 1
            exact = v @ np.linalg.matrix_power(a, power) @ v
            quadrature = np.sum(density.weights[i] * density.nodes[i] ** power)
            assert quadrature == pytest.approx(exact, rel=2e-4, abs=2e-4 * 4.0**power)


def test_slq_density_puts_each_cluster_s_share_of_eigenvalues_under_it():
    rng = np.random.default_rng(8)
    spectrum = np.concatenate([rng.uniform(0.9, 1.1, 30), rng.uniform(9.5, 10.5, 70)])
    landscape, _ = quadratic(spectrum, seed=8)
    density = spectral_density(landscape, probes=20, iterations=30, width=0.05, key=1)
    spacing = density.grid[1] - density.grid[0]
    assert density.density.sum() * spacing == pytest.approx(1.0, abs=1e-3)
    low = density.grid < 5.0
    per_probe = density.weights * (density.nodes < 5.0)
    mass = per_probe.sum(axis=1)
    assert density.density[low].sum() * spacing == pytest.approx(mass.mean(), abs=1e-3)
    assert abs(mass.mean() - 0.3) < 4 * mass.std(ddof=1) / np.sqrt(len(mass))
    value, error = density.trace_of()
    assert abs(value - spectrum.sum()) < 4 * error
    assert np.all(density.standard_error >= 0)


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
