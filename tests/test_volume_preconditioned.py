"""Preconditioned (ACG) rays and the Gaussian prior mass along rays, against exact answers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import chi2

from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.landscape import Landscape
from landform.volume import (
    LOWER_BOUND_NOTE,
    Preconditioner,
    acg_log_density,
    estimate,
    exit_radii,
    gaussian_log_mass,
    log_gammainc,
    log_unit_ball_volume,
    log_volume,
    preconditioned_directions,
    random_directions,
    ray_diagnostics,
    ray_estimate,
    ray_log_volume,
)


def ellipsoid_covariance(n, rank, seed):
    """Σ = D² + U·Uᵀ (n, n), its preconditioner and H = Σ⁻¹ (a rotated, non-diagonal ellipsoid)."""
    rng = np.random.default_rng(seed)
    diagonal = np.exp(rng.uniform(-1.5, 1.5, n))
    low_rank = rng.normal(size=(n, rank)) * 2.0 if rank else None
    pre = Preconditioner.of(diagonal, low_rank)
    sigma = np.diag(diagonal**2) + (low_rank @ low_rank.T if rank else 0.0)
    return pre, sigma, np.linalg.inv(sigma)


def log_ellipsoid_volume(hessian, tau):
    """{½ xᵀHx ≤ τ}: log V_n + Σ ½ log(2τ/λ_i)."""
    n = hessian.shape[0]
    return log_unit_ball_volume(n) + 0.5 * n * math.log(2 * tau) - 0.5 * np.linalg.slogdet(hessian)[1]


def ellipsoid_radii(hessian, units, tau):
    """Euclidean exit distance along each unit u: ½ ρ² uᵀHu = τ."""
    return np.sqrt(2 * tau / np.einsum("ki,ij,kj->k", units, hessian, units))


def acg_units(pre, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(k, pre.dimension)) * pre.diagonal
    if pre.low_rank is not None:
        x = x + rng.normal(size=(k, pre.rank)) @ pre.low_rank.T
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------- the preconditioner and the ACG density


@pytest.mark.parametrize("rank", [0, 3])
def test_preconditioner_determinant_and_quadratic_form_match_dense_algebra(rank):
    pre, sigma, hessian = ellipsoid_covariance(12, rank, seed=rank)
    assert pre.log_determinant() == pytest.approx(np.linalg.slogdet(sigma)[1], abs=1e-10)
    x = np.random.default_rng(5).normal(size=(7, 12))
    np.testing.assert_allclose(pre.quadratic(x), np.einsum("ki,ij,kj->k", x, hessian, x), rtol=1e-10)


def test_acg_density_integrates_to_one_over_the_sphere():
    # E_uniform[a_Σ(u)] = 1: uniform directions, averaged (n = 3, many draws)
    pre, _, _ = ellipsoid_covariance(3, 1, seed=2)
    g = np.random.default_rng(0).normal(size=(400_000, 3))
    density = np.exp(acg_log_density(g / np.linalg.norm(g, axis=1, keepdims=True), pre))
    assert density.mean() == pytest.approx(1.0, abs=0.02)
    # and a_Σ is the law of x/‖x‖: E_ACG[1/a_Σ(u)] = 1 too
    assert np.mean(np.exp(-acg_log_density(acg_units(pre, 400_000, 1), pre))) == pytest.approx(1.0, abs=0.02)


def test_preconditioners_from_curvature_and_adam():
    pre = Preconditioner.from_curvature(np.array([4.0, 0.0, 1.0]), damping=0.25)
    np.testing.assert_allclose(pre.diagonal, 1 / np.sqrt([4.25, 0.25, 1.25]))
    adam = Preconditioner.from_adam(np.array([16.0, 1.0]), epsilon=1e-8)
    np.testing.assert_allclose(adam.diagonal**2, 1 / (np.sqrt([16.0, 1.0]) + 1e-8))
    with pytest.raises(ConfigError, match="damping"):
        Preconditioner.from_curvature(np.array([1.0, -1.0]))
    with pytest.raises(ShapeError):
        Preconditioner.of(np.ones(3), np.ones((4, 2)))
    assert Preconditioner.isotropic(4, 2.0).log_determinant() == pytest.approx(8 * math.log(2.0))


# ---------------------------------------------------------------- ACG volumes


@pytest.mark.parametrize("rank", [0, 2])
def test_acg_with_the_inverse_hessian_is_exact_from_a_single_ray(rank):
    # ellipsoid ½ xᵀHx ≤ τ with Σ = H⁻¹: ρ(u)^n / a_Σ(u) is the same for every u (zero variance)
    n, tau = 40, 0.3
    pre, _, hessian = ellipsoid_covariance(n, rank, seed=10 + rank)
    exact = log_ellipsoid_volume(hessian, tau)
    units = acg_units(pre, 50, seed=3)
    radii = ellipsoid_radii(hessian, units, tau)
    all_rays = ray_log_volume(radii, n, log_density=acg_log_density(units, pre))
    assert all_rays.value == pytest.approx(exact, abs=1e-9)
    assert np.ptp(all_rays.log_weights) < 1e-9
    one_ray = ray_log_volume(radii[:1], n, log_density=acg_log_density(units[:1], pre))
    assert one_ray.value == pytest.approx(exact, abs=1e-9)
    assert all_rays.diagnostics.effective_rays == pytest.approx(50.0)
    assert all_rays.diagnostics.max_weight_share == pytest.approx(1 / 50)
    assert all_rays.diagnostics.pareto_k == -np.inf and all_rays.diagnostics.reliable
    # isotropic rays on the same body: log E[ρ^n] is right in expectation but far from exact here
    iso = np.random.default_rng(4).normal(size=(50, n))
    iso /= np.linalg.norm(iso, axis=1, keepdims=True)
    uniform = ray_log_volume(ellipsoid_radii(hessian, iso, tau), n)
    assert uniform.value < exact - 1.0 and uniform.diagnostics.effective_rays < 50


def test_acg_with_an_isotropic_preconditioner_is_the_existing_estimator():
    n = 25
    pre = Preconditioner.isotropic(n, 3.7)
    units = acg_units(pre, 300, seed=8)
    np.testing.assert_allclose(acg_log_density(units, pre), 0.0, atol=1e-9)
    radii = np.random.default_rng(1).uniform(0.5, 1.5, size=(300, 2, 3))
    ours = ray_log_volume(radii, n, log_density=acg_log_density(units, pre))
    np.testing.assert_allclose(ours.value, log_volume(radii, n, include_ball=True), rtol=1e-12)
    np.testing.assert_allclose(ray_log_volume(radii, n).value, ours.value, rtol=1e-12)


def test_acg_is_unbiased_for_a_mismatched_preconditioner():
    # n = 3, Σ ≠ H⁻¹: the weighted mean of ρ^n / a_Σ converges to the exact volume
    n, tau = 3, 0.5
    _, _, hessian = ellipsoid_covariance(n, 1, seed=21)
    pre = Preconditioner.from_curvature(np.diag(hessian) * np.array([2.0, 0.5, 1.0]))
    units = acg_units(pre, 200_000, seed=6)
    result = ray_log_volume(ellipsoid_radii(hessian, units, tau), n, log_density=acg_log_density(units, pre))
    assert result.value == pytest.approx(log_ellipsoid_volume(hessian, tau), abs=0.01)


def quadratic_landscape(hessian):
    h = jnp.asarray(hessian, jnp.float32)
    n = h.shape[0]
    return Landscape.from_function(lambda th: 0.5 * th @ h @ th, n, theta=jnp.zeros(n))


def test_exit_radii_along_preconditioned_directions_give_the_ellipsoid_volume():
    # end to end: rays from preconditioned_directions, searched by exit_radii; Σ = H⁻¹ makes every
    # whitened radius sqrt(2τ), and the stored log-jacobian ½ log|Σ| turns them into the volume
    n, tau, k = 16, 0.2, 24
    pre, _, hessian = ellipsoid_covariance(n, 2, seed=30)
    landscape = quadratic_landscape(hessian)
    directions = preconditioned_directions(jax.random.key(1), jnp.zeros(n), pre)
    result = exit_radii(landscape, directions, k, tau)
    assert np.all(result.status == 0)
    assert result.log_jacobian == pytest.approx(0.5 * pre.log_determinant())
    np.testing.assert_allclose(result.sphere_radii[:, 0, 0], math.sqrt(2 * tau), rtol=1e-3)
    exact = log_ellipsoid_volume(hessian, tau)
    ours = ray_log_volume(result.sphere_radii, n, log_jacobian=result.log_jacobian, censored=result.censored)
    assert ours.value[0, 0] == pytest.approx(exact, abs=n * 1e-3)
    assert ours.note == LOWER_BOUND_NOTE and not ours.is_lower_bound[0, 0]
    # the same number from Euclidean radii and the ACG density (the formula)
    x = np.asarray(directions.batch(np.arange(k)), np.float64)
    norms = np.linalg.norm(x, axis=1)
    explicit = ray_log_volume(result.radii[:, 0, 0] * norms, n, log_density=acg_log_density(x / norms[:, None], pre))
    assert explicit.value == pytest.approx(ours.value[0, 0], abs=1e-4)
    # and from the existing estimate(), which adds log V_n and the jacobian, and ray_estimate()
    existing = estimate(result, include_ball=True, include_jacobian=True, num_resamples=10)
    assert existing.value[0, 0] == pytest.approx(ours.value[0, 0], abs=1e-9)
    assert ray_estimate(result).value[0, 0] == pytest.approx(ours.value[0, 0], abs=1e-12)
    # the prior N(0, s²·H⁻¹) (the rays' own Σ, scaled): P(χ²_n ≤ 2τ/s²)
    mass = ray_estimate(result, quantity="log_gaussian_mass", prior_scale=0.9)
    assert mass.value[0, 0] == pytest.approx(chi2.logcdf(2 * tau / 0.81, n), abs=n * 1e-3)
    with pytest.raises(UnknownNameError):
        ray_estimate(result, quantity="volume")


def test_isotropic_preconditioned_directions_are_scaled_plain_gaussians():
    n = 10
    pre = Preconditioner.isotropic(n, 0.5)
    ours = preconditioned_directions(jax.random.key(3), jnp.zeros(n), pre)
    plain = random_directions(jax.random.key(3), jnp.zeros(n), normalization="none")
    d, scale = ours.generate(np.arange(5))
    g, plain_scale = plain.generate(np.arange(5))
    np.testing.assert_allclose(np.asarray(d), 0.5 * np.asarray(g), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(scale), np.asarray(plain_scale), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ours.direction(4)), np.asarray(d[4]), rtol=1e-6)
    with pytest.raises(ShapeError):
        preconditioned_directions(jax.random.key(3), jnp.zeros(n + 1), pre)


# ---------------------------------------------------------------- Gaussian prior mass


def test_log_gammainc_matches_scipy_and_the_far_tail():
    a = np.array([0.5, 5.0, 50.0, 5000.0, 50000.0])
    x = np.array([0.3, 4.0, 60.0, 4000.0, 30000.0])
    expected = chi2.logcdf(2 * x, 2 * a)
    finite = np.isfinite(expected) & (expected > -700)
    np.testing.assert_allclose(log_gammainc(a, x)[finite], expected[finite], rtol=1e-10)
    # where P underflows: against mpmath's incomplete gamma at 50 digits
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    for aa, xx in [(50000.0, 30000.0), (2000.0, 10.0), (117573.0, 100000.0)]:
        exact = float(mpmath.log(mpmath.gammainc(aa, 0, xx, regularized=True)))
        assert log_gammainc(aa, xx) == pytest.approx(exact, rel=1e-12)
    assert log_gammainc(3.0, 0.0) == -np.inf and log_gammainc(3.0, np.inf) == 0.0


@pytest.mark.parametrize("n", [2, 30, 1000])
def test_gaussian_mass_of_a_ball_is_chi_squared(n):
    # the ball ‖x‖ ≤ R (½‖x‖² ≤ τ, R = sqrt(2τ)) under N(0, σ²I): P(χ²_n ≤ R²/σ²), from any ray
    tau, sigma = 0.5, 0.8
    landscape = Landscape.from_function(lambda th: 0.5 * jnp.sum(th * th), n, theta=jnp.zeros(n))
    d = random_directions(jax.random.key(n), jnp.zeros(n), normalization="none")
    result = exit_radii(landscape, d, 12, tau)
    exact = chi2.logcdf(2 * tau / sigma**2, n)
    if not np.isfinite(exact):  # scipy underflows at n = 1000 (P ≈ e^−2736): mpmath instead
        mpmath = pytest.importorskip("mpmath")
        mpmath.mp.dps = 50
        exact = float(mpmath.log(mpmath.gammainc(n / 2, 0, tau / sigma**2, regularized=True)))
    mass = gaussian_log_mass(result.sphere_radii / sigma, n)
    same = ray_estimate(result, quantity="log_gaussian_mass", prior_scale=sigma)
    assert same.value[0, 0] == mass.value[0, 0]
    # exit radii to 1e-3 move log P by about n·1e-3 at most (the density of R² at R = 1)
    assert mass.value[0, 0] == pytest.approx(exact, abs=max(1e-3, n * 1e-3))
    exact_rays = gaussian_log_mass(np.full(3, math.sqrt(2 * tau)) / sigma, n)
    assert exact_rays.value == pytest.approx(exact, abs=1e-10)
    assert exact_rays.quantity == "log_gaussian_mass"


def test_gaussian_mass_of_an_ellipsoid_under_a_matching_prior_is_exact():
    # ½ xᵀHx ≤ τ under N(0, s²·H⁻¹): P(χ²_n ≤ 2τ/s²), exact from every preconditioned ray, and
    # in expectation from uniform rays weighted by a_C(u)
    n, tau, s = 4, 0.7, 0.9
    pre, _, hessian = ellipsoid_covariance(n, 1, seed=40)
    prior = Preconditioner.of(pre.diagonal * s, pre.low_rank * s)
    exact = chi2.logcdf(2 * tau / s**2, n)
    units = acg_units(prior, 20, seed=2)
    radii = ellipsoid_radii(hessian, units, tau)
    whitened = radii * np.sqrt(prior.quadratic(units))
    matched = gaussian_log_mass(whitened, n)
    assert matched.value == pytest.approx(exact, abs=1e-10) and np.ptp(matched.log_weights) < 1e-10
    uniform = np.random.default_rng(3).normal(size=(200_000, n))
    uniform /= np.linalg.norm(uniform, axis=1, keepdims=True)
    radii = ellipsoid_radii(hessian, uniform, tau)
    weighted = gaussian_log_mass(
        radii * np.sqrt(prior.quadratic(uniform)), n, log_weights=acg_log_density(uniform, prior)
    )
    assert weighted.value == pytest.approx(exact, abs=0.01)


def test_ray_diagnostics_of_one_dominant_ray():
    logs = np.array([0.0, -50.0, -60.0, -70.0] * 10)
    logs[7] = 100.0
    checks = ray_diagnostics(logs, unresolved=np.arange(40) == 3)
    assert checks.effective_rays == pytest.approx(1.0)
    assert checks.max_weight_share == pytest.approx(1.0)
    assert checks.unresolved == 1 and not checks.reliable and checks.num_directions == 40
    with pytest.raises(ConfigError):
        ray_diagnostics(np.zeros(0))
