"""Exact bodies, basin measures and tethered annealing against exact answers; the ray estimator
as the negative control."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from landform.volume import (
    AnnealingSettings,
    bisection_exit_radii,
    capped_log_volume,
    deflated_preconditioner,
    ellipsoid,
    ellipsoid_gaussian_log_mass,
    isotropic_directions,
    lp_body,
    paper_ray_log_volume,
    power_law,
    prior_log_mass,
    quartic_body,
    separable_log_volume,
    slab,
    tether_preconditioner,
    tethered_log_volume,
)
from landform.volume.bodies import log_unit_ball_volume, power_cumulants, quartic_cumulants, quartic_log_partition

SMALL = AnnealingSettings(chains=16, rungs=16, steps=8, rounding_passes=2, replicas=4, anchor_samples=512)


def test_saddlepoint_matches_closed_forms():
    n = 3000
    lam = power_law(n)
    ell = ellipsoid(lam)
    c = power_cumulants(float(np.sum(0.5 * np.log(2 * np.pi / lam))), n, 2.0)
    assert abs(separable_log_volume(c, 1.0, n) - ell.log_volume) < 1e-6
    a = np.exp(np.random.default_rng(0).uniform(-1, 1, n))
    for p in (0.5, 4.0):
        body = lp_body(a, p)
        c = power_cumulants(float(np.sum(np.log(2 * a * special.gamma(1 + 1 / p)))), n, p)
        assert abs(separable_log_volume(c, 1.0, n) - body.log_volume) < 1e-6
    # the quartic body's Bessel/quadrature cumulants reproduce both limits
    assert abs(separable_log_volume(quartic_cumulants(lam, np.zeros(n)), 1.0, n) - ell.log_volume) < 1e-6
    l4 = lp_body(np.full(n, 2.0**0.25), 4.0)  # ¼·2·y⁴ ≤ 1 ⇔ |y/2^{1/4}|⁴ ≤ 1
    assert abs(separable_log_volume(quartic_cumulants(np.zeros(n), np.full(n, 2.0)), 1.0, n) - l4.log_volume) < 1e-6


def test_quartic_partition_is_the_integral():
    y = np.linspace(-300, 300, 1_200_001)
    for lam, mu, s in ((1.0, 0.5, 5.0), (1e-3, 2.0, 5.0), (0.3, 1e-4, 5.0), (2.0, 1e-9, 1.0)):
        exact = np.log(np.trapezoid(np.exp(-s * (0.5 * lam * y**2 + 0.25 * mu * y**4)), y))
        assert abs(exact - quartic_log_partition(lam, mu, s)) < 1e-9


@pytest.mark.parametrize("name", ["ellipsoid", "l0.5", "l4", "quartic"])
def test_bodies_against_monte_carlo(name):
    n = 4
    lam = np.array([1.0, 0.5, 0.2, 0.1])
    body = {
        "ellipsoid": lambda: ellipsoid(lam, key=3),
        "l0.5": lambda: lp_body(np.sqrt(2 / lam), 0.5, key=3),
        "l4": lambda: lp_body(np.sqrt(2 / lam), 4.0, key=3),
        "quartic": lambda: quartic_body(lam, np.full(n, 0.5), key=3),
    }[name]()
    radius = 4.5  # every body lies within it (largest semi-axis √20 ≈ 4.47)
    draws = 400_000
    x = np.random.default_rng(1).uniform(-radius, radius, (draws, n))
    with jax.enable_x64(True):
        inside = np.asarray(body.contains(jnp.asarray(x)))
    p = inside.mean()
    log_mc = math.log(p) + n * math.log(2 * radius)
    assert abs(log_mc - body.log_volume) < 4 * math.sqrt((1 - p) / (p * draws))


def test_rotation_and_exit_radius():
    body = ellipsoid(power_law(60, 1e3), key=5)
    with jax.enable_x64(True):
        q = np.asarray(body.rotation.apply(jnp.eye(60))).T
        assert np.allclose(q @ q.T, np.eye(60), atol=1e-12)
        assert np.allclose(np.diag((q * body.curvature_eigenvalues) @ q.T), body.curvature_diagonal, atol=1e-12)
        u = isotropic_directions(8, 60, key=1)
        r = np.asarray(body.exit_radius(jnp.asarray(u)))
        assert np.allclose(np.asarray(body.level(jnp.asarray(r[:, None] * u))), 1.0, atol=1e-12)
        assert np.allclose(bisection_exit_radii(body.contains, np.zeros(60), u, max_radius=1e4), r, rtol=1e-9)
    # a diagonal preconditioner cannot read the axes off the coordinates
    assert np.abs(np.log(body.curvature_diagonal / body.curvature_eigenvalues)).max() > 1.0


def test_gaussian_mass():
    z = np.random.default_rng(4).normal(size=(400_000, 20))
    w = np.random.default_rng(3).uniform(0.5, 2.0, 20)
    for tau in (2.0, 5.0, 10.0):
        p = np.mean(0.5 * (z**2 * w).sum(1) <= tau)
        assert abs(math.log(p) - ellipsoid_gaussian_log_mass(w, tau)) < 4 * math.sqrt((1 - p) / (p * z.shape[0])) + 0.02
    p = np.mean((z[:, :10] ** 2).sum(1) <= 4.0)
    assert abs(ellipsoid_gaussian_log_mass(np.ones(10), 2.0) - math.log(p)) < 4 * math.sqrt((1 - p) / (p * z.shape[0]))


def test_ray_estimator_fails_where_the_spectrum_is_wide():
    """The negative control: on a rotated ellipsoid in n = 2000 with a spectrum spanning 10^6, the
    ray estimator from 1000 exact radii misses by hundreds of nats and comes with no error bar."""
    n = 2000
    body = ellipsoid(power_law(n, 1e6), key=0)
    u = isotropic_directions(1000, n, key=0)
    with jax.enable_x64(True):
        radii = np.asarray(body.exit_radius(jnp.asarray(u)))
    assert paper_ray_log_volume(radii, n) - body.log_volume < -100.0


def _preconditioned_spectrum(body, pre):
    """Eigenvalues of Pᵀ H P, densely (small n only)."""
    n = body.dimension
    with jax.enable_x64(True):
        q = np.asarray(body.rotation.apply(jnp.eye(n))).T
        p = np.asarray(pre.apply(jnp.eye(n))).T
    h = (q * body.curvature_eigenvalues) @ q.T
    return np.linalg.eigvalsh(p.T @ h @ p)


def test_deflated_preconditioner_rounds_a_rotated_spectrum():
    """The curvature diagonal of a rotated spectrum spanning 10^6 leaves Pᵀ H P spread over two
    decades in its bulk (the stiff eigenvalues leak into every diagonal entry); deflating the
    stiff end before taking the diagonal, then whitening it, brings the bulk within a factor 1.5."""
    n = 1000
    body = ellipsoid(power_law(n, 1e6), key=0)
    diagonal = _preconditioned_spectrum(body, tether_preconditioner(curvature=body.curvature_diagonal))
    lo, hi = np.quantile(diagonal, [0.01, 0.99])
    assert hi / lo > 100.0
    pre = deflated_preconditioner(body.curvature_diagonal, body.curvature_product)
    assert pre.basis.shape[1] > 0
    assert np.allclose(pre.basis.T @ pre.basis, np.eye(pre.basis.shape[1]), atol=1e-8)
    deflated = _preconditioned_spectrum(body, pre)
    lo, hi = np.quantile(deflated, [0.01, 0.99])
    assert hi / lo < 1.5
    assert deflated.max() / deflated.min() < 30.0
    # log abs(det P) is exact: Σ log eig(PᵀHP) = 2 log abs(det P) + Σ log λ
    assert abs(np.sum(np.log(deflated)) - 2 * pre.log_det - np.sum(np.log(body.curvature_eigenvalues))) < 1e-6


def _check(result, exact, bound):
    assert np.isfinite(result.log_volume)
    assert result.error <= bound, result
    assert abs(result.log_volume - exact) <= 2.0 * result.error, (result.log_volume - exact, result)


@pytest.mark.parametrize(
    "name",
    [
        "ellipsoid",
        pytest.param(
            "l0.5",
            marks=pytest.mark.xfail(
                reason="measured: −3.7 nats off with a reported error of 0.9 (n = 60, seed 0): the chains "
                "do not reach the spikes of the non-convex ℓ_0.5 body and every replica misses alike",
                strict=False,
            ),
        ),
    ],
)
def test_annealing_small_bodies(name):
    n = 60
    lam = power_law(n, 10.0)
    body = ellipsoid(lam, key=1) if name == "ellipsoid" else lp_body(np.sqrt(2 / lam), 0.5, key=1)
    pre = tether_preconditioner(curvature=body.curvature_diagonal)
    result = tethered_log_volume(body.contains, np.zeros(n), precondition=pre, settings=SMALL, key=0)
    _check(result, body.log_volume, 2.0)


def test_unbounded_and_capped():
    n = 20
    body = slab(n, key=2)
    result = tethered_log_volume(body.contains, np.zeros(n), settings=SMALL._replace(max_decades=4.0), key=0)
    assert result.unbounded and result.log_volume == math.inf
    # the cap makes it finite and the result says the set reaches the cap
    capped = capped_log_volume(body.contains, np.zeros(n), 0.5, settings=SMALL._replace(rounding_passes=1), key=0)
    assert capped.unbounded and np.isfinite(capped.log_volume)
    # a cap inside a ball: the capped volume is the smaller ball's
    ball = ellipsoid(np.ones(n), 0.5, key=2)  # radius 1
    inner = capped_log_volume(ball.contains, np.zeros(n), 0.5, settings=SMALL, key=1)
    _check(inner, log_unit_ball_volume(n) + n * math.log(0.5), 1.0)


def test_prior_mass_of_a_ball():
    n = 30
    ball = ellipsoid(np.ones(n), 0.5 * 25.0, key=0)  # radius 5 under N(0, I): mass from χ²_30
    result = prior_log_mass(ball.contains, np.zeros(n), 1.0, settings=SMALL, key=0)
    _check(result, ellipsoid_gaussian_log_mass(np.ones(n), 0.5 * 25.0), 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ellipsoid", "l0.5", "l4", "quartic"])
def test_annealing_thousands(name):
    """n = 2000, spectrum spanning 10^2 (10^6 is the benchmark's): measured, not yet passing at 10^6."""
    n = 2000
    lam = power_law(n, 1e2)
    body = {
        "ellipsoid": lambda: ellipsoid(lam),
        "l0.5": lambda: lp_body(np.sqrt(2 / lam), 0.5),
        "l4": lambda: lp_body(np.sqrt(2 / lam), 4.0),
        "quartic": lambda: quartic_body(lam, np.ones(n)),
    }[name]()
    pre = tether_preconditioner(curvature=body.curvature_diagonal)
    settings = AnnealingSettings(chains=32, rungs=32, steps=16, rounding_passes=4, replicas=4)
    result = tethered_log_volume(
        body.contains, np.zeros(n), precondition=pre, curvature_product=body.curvature_product, settings=settings
    )
    _check(result, body.log_volume, 5.0)


def test_slice_step_with_a_narrower_reference_keeps_the_target():
    """Elliptical slice sampling w.r.t. a reference s' ≠ std, with the likelihood 1_S·γ_k/γ',
    samples γ_k restricted to S: the unit ball in n = 5 under a tether of std 3 (nearly uniform),
    E‖z‖² = ∫ r^{n+1} e^{−r²/18} dr / ∫ r^{n−1} e^{−r²/18} dr over [0, 1]."""
    from scipy import integrate

    from landform.volume.annealing import SliceState, slice_step

    n, std = 5, 3.0
    exact = (
        integrate.quad(lambda r: r ** (n + 1) * math.exp(-(r**2) / (2 * std**2)), 0, 1)[0]
        / integrate.quad(lambda r: r ** (n - 1) * math.exp(-(r**2) / (2 * std**2)), 0, 1)[0]
    )
    chains, steps = 2000, 24
    with jax.enable_x64(True):
        member = lambda z: jnp.sum(z * z) <= 1.0
        for reference in (None, jnp.asarray(0.4)):

            def run(key, z, reference=reference):
                def step(state, i):
                    state = slice_step(jax.random.fold_in(key, i), state, 0.0, jnp.asarray(std), member, 48, reference)
                    return state, jnp.sum(state.position**2)

                return jax.lax.scan(step, SliceState(z, jnp.asarray(0)), jnp.arange(steps))[1]

            keys = jax.random.split(jax.random.key(3), chains)
            starts = jnp.zeros((chains, n)) + 0.01
            squares = np.asarray(jax.jit(jax.vmap(run))(keys, starts))[:, steps // 2 :]
            mean = squares.mean()
            se = squares.mean(axis=1).std() / math.sqrt(chains)
            assert abs(mean - exact) < 4 * se + 1e-3, (reference, mean, exact, se)


def test_annealing_rotated_wide_spectrum():
    """The case that was −43 nats off at n = 1000 (rotated power-law ellipsoid spanning 10^6) at a
    size the default suite affords. With the deflated preconditioner MBAR's neighbour overlap is
    near its threshold and the estimate carries a bias of about −1.5 nats that the replicas do not
    see (measured, seeds 0 and 1, 16 to 40 rungs: −0.9 to −1.6 with reported 0.36 to 0.75), but the
    doubling shift flags the run unconverged: what must hold is that a run is never reported
    converged while outside twice its error."""
    n = 300
    body = ellipsoid(power_law(n, 1e6), key=0)
    pre = deflated_preconditioner(body.curvature_diagonal, body.curvature_product, rank=32)
    result = tethered_log_volume(
        body.contains, np.zeros(n), precondition=pre, settings=SMALL._replace(rounding_passes=0), key=0
    )
    miss = result.log_volume - body.log_volume
    assert result.error <= 2.0, result
    assert not result.converged or abs(miss) <= 2.0 * result.error, (miss, result)
    # regression guard at the measured accuracy (the diagonal start was tens of nats off here)
    assert abs(miss) <= 2.5, (miss, result)
    assert np.isfinite(result.overlap) and np.isfinite(result.ti_log_volume)
