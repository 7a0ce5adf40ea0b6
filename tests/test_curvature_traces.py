"""Traces, diagonals and spectral densities of the curvature against exact answers.

Quadratic landscapes L(θ) = ½ θᵀAθ whose Hessian A has a chosen spectrum. Statistical checks use
fixed keys and bounds of four standard errors, or exact results where the estimator is exact
(Rademacher probes on a diagonal matrix, XTrace on a low-rank one, Gauss quadrature on
polynomials of low degree).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from quadratics import quadratic

from landform.curvature import curvature_operator, diagonal, hutchinson, spectral_density, trace, trace_of_square
from landform.errors import ConfigError
from landform.landscape import Landscape

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
    landscape, _ = quadratic(np.linspace(0.5, 3.0, 12), seed=9)
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
    low_rank = np.concatenate([[9.0, 6.0, 4.0, 2.0, 1.0], np.zeros(55)])
    landscape, a = quadratic(low_rank, seed=4)
    estimate = trace(landscape, 10, method="xtrace")
    assert estimate.value == pytest.approx(low_rank.sum(), rel=1e-4)
    np.testing.assert_allclose(diagonal(landscape, 10, method="xtrace").value, np.diag(a), atol=1e-4)
    decaying = 10.0 * 0.6 ** np.arange(60)
    landscape, _ = quadratic(decaying, seed=5)
    reduced = trace(landscape, 20, method="xtrace", key=2)
    plain = trace(landscape, 20, key=2)
    assert abs(reduced.value - decaying.sum()) < 4 * reduced.standard_error
    assert reduced.standard_error < 0.05 * plain.standard_error
    with pytest.raises(ConfigError):
        trace(landscape, 20, method="girard")
    with pytest.raises(ConfigError, match="probes"):
        trace(landscape, 61, method="xtrace")


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
    spectrum = np.concatenate([rng.uniform(0.9, 1.1, 18), rng.uniform(9.5, 10.5, 42)])
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
