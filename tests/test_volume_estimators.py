"""Volume estimators' diagnostics (effective rays, Pareto k̂, the reliability rule) and the
coverage of their bootstrap intervals, against exact answers."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from landform.errors import ShapeError
from landform.volume import STATUS_NAMES, ExitRadii, RadiusSettings
from landform.volume.estimators import (
    INTERVAL,
    MIN_EFFECTIVE_RAYS,
    bootstrap_interval,
    effective_rays,
    estimate,
    log_volume,
    pareto_k,
    pareto_k_threshold,
    volume_diagnostics,
)

# ---------------------------------------------------------------- helpers

CONFIDENCE = 0.95
MISS = 1.0 - CONFIDENCE


def exit_radii_of(sphere_radii, dimension, *, status=None, outside_by=None, max_radius=10.0):
    """An :class:`ExitRadii` holding given sphere radii (K, Q, T) (directions of norm 1)."""
    sphere_radii = np.asarray(sphere_radii, dtype=np.float64)
    k, q, t = sphere_radii.shape
    status = np.zeros(sphere_radii.shape, np.int64) if status is None else np.asarray(status)
    censored = status == STATUS_NAMES.index("censored")
    settings = RadiusSettings("search", "loss", 1e-6, max_radius, 1.0, 64, 60, None)
    return ExitRadii(
        radii=sphere_radii,
        sphere_radii=sphere_radii,
        lower=sphere_radii,
        upper=np.where(censored, np.inf, sphere_radii),
        status=status,
        censored=censored,
        evaluations=np.full(k, 10),
        example_evaluations=np.full(k, 100),
        center_values=np.zeros(q),
        outside_by=np.full((q, t), -1.0) if outside_by is None else np.asarray(outside_by, np.float64),
        indices=np.arange(k),
        sizes=tuple(range(1, q + 1)),
        thresholds=tuple(float(x) for x in range(1, t + 1)),
        dimension=int(dimension),
        log_jacobian=0.0,
        iterations=1,
        settings=settings,
    )


def ellipsoid_radii(dimension, replicates, num_rays, seed):
    """Exact radial function ρ(u) = (Σ_j u_j² / s_j²)^{−1/2} of the ellipsoid with the first
    ceil(n/2) semi-axes 1.5 and the rest 1, at K uniform directions u, for R independent
    replicates: shape (K, R); and the exact log E_u[ρ(u)^n] = Σ_j log s_j (the ellipsoid's
    log-volume minus log V_n)."""
    scales = np.ones(dimension)
    scales[: math.ceil(dimension / 2)] = 1.5
    rng = np.random.default_rng(seed)
    columns = []
    for start in range(0, replicates, 100):  # chunks of replicates, to bound memory
        g = rng.standard_normal((num_rays, min(100, replicates - start), dimension))
        columns.append(np.linalg.norm(g, axis=-1) / np.sqrt(np.sum((g / scales) ** 2, axis=-1)))
    return np.concatenate(columns, axis=1), float(np.sum(np.log(scales)))


def binomial_spread(p, count):
    """Standard deviation of a fraction of ``count`` independent events of probability p."""
    return math.sqrt(p * (1.0 - p) / count)


# ---------------------------------------------------------------- exact cases


def test_a_ball_is_reliable_with_every_ray_effective_and_an_exact_estimate():
    k, n, radius = 400, 50, 0.7
    result = exit_radii_of(np.full((k, 2, 1), radius), n)
    volume = estimate(result, num_resamples=200)
    exact = n * math.log(radius)
    np.testing.assert_allclose(volume.value, exact, rtol=1e-12)
    np.testing.assert_allclose(volume.bootstrap_lower, exact, rtol=1e-12)
    np.testing.assert_allclose(volume.bootstrap_upper, exact, rtol=1e-12)
    np.testing.assert_allclose(volume.effective_rays, k, rtol=1e-12)
    assert np.all(volume.pareto_k == -np.inf)  # the largest weights tie: no tail at all
    assert volume.reliable.all() and (volume.num_unresolved == 0).all()
    # the old names of the interval still work, and the interval says what it is
    np.testing.assert_array_equal(volume.lower, volume.bootstrap_lower)
    np.testing.assert_array_equal(volume.upper, volume.bootstrap_upper)
    assert volume.interval == INTERVAL == "percentile bootstrap over directions"
    assert volume.diagnostics.reliable.all()


def test_effective_rays_against_hand_computed_weights_in_a_million_dimensions():
    # weights w = (1, 1, 1/2, 1/4) → (Σw)²/Σw² = 2.75² / 2.3125; radii ρ = w^(1/n) with n = 10⁶,
    # so that ρ^n would overflow in any direct computation if scaled up by 10
    n = 10**6
    weights = np.array([1.0, 1.0, 0.5, 0.25])
    radii = 10.0 * weights ** (1.0 / n)
    np.testing.assert_allclose(effective_rays(radii, n), 2.75**2 / 2.3125, rtol=1e-6)
    np.testing.assert_allclose(effective_rays(np.ones((7, 3)), n), 7.0)
    assert effective_rays(np.zeros((5, 2)), n).tolist() == [0.0, 0.0]


def test_pareto_k_of_pareto_distributed_weights():
    # weights with P(w > x) = x^(−1/k) (a generalized Pareto tail of shape k) for k = 0.3 and 0.8:
    # the fitted shape is within 3 standard errors (1 + k)/sqrt(M) of it, M = 3·sqrt(K) tail points
    k_rays, n = 10_000, 1
    rng = np.random.default_rng(0)
    tail = math.floor(3 * math.sqrt(k_rays))
    for shape in (0.3, 0.8):
        weights = rng.uniform(size=(k_rays, 3)) ** (-shape)
        fitted = pareto_k(weights, n)
        assert np.all(np.abs(fitted - shape) <= 3 * (1 + shape) / math.sqrt(tail)), fitted
    # too few rays to fit a tail: +inf; θ* outside (all radii 0): NaN
    assert pareto_k(rng.uniform(size=(10, 1)), 5)[0] == np.inf
    assert np.isnan(pareto_k(np.zeros((50, 1)), 5)[0])


def test_pareto_k_threshold():
    assert pareto_k_threshold(1000) == 0.5 and pareto_k_threshold(10**6) == 0.5
    assert pareto_k_threshold(50) == pytest.approx(1 - 1 / math.log10(50))
    assert pareto_k_threshold(1) == -math.inf


def test_unresolved_rays_are_counted_and_make_the_estimate_unreliable():
    k, n = 300, 4
    radii = np.full((k, 1, 3), 1.0)
    radii[:, 0, :] = 1.0 + 0.1 * np.random.default_rng(1).uniform(size=(k, 1))  # light-tailed weights
    status = np.zeros(radii.shape, np.int64)
    status[[3, 7], 0, 1] = STATUS_NAMES.index("unresolved")
    status[5, 0, 2] = STATUS_NAMES.index("censored")
    result = exit_radii_of(radii, n, status=status)
    volume = estimate(result, num_resamples=100)
    assert volume.num_unresolved[0].tolist() == [0, 2, 0]
    assert volume.num_censored[0].tolist() == [0, 0, 1]
    assert volume.reliable[0].tolist() == [True, False, True]  # censored: a lower bound, not unreliable
    assert volume.is_lower_bound[0].tolist() == [False, False, True]
    for statistic in ("mean_log_radius", "median_radius"):
        assert estimate(result, statistic=statistic, num_resamples=50).reliable[0].tolist() == [True, False, True]
    assert not estimate(result, statistic="log_max_volume", num_resamples=50).reliable.any()
    checks = volume_diagnostics(radii, n, unresolved=status == STATUS_NAMES.index("unresolved"))
    assert checks.unresolved[0].tolist() == [0, 2, 0] and checks.reliable[0].tolist() == [True, False, True]
    with pytest.raises(ShapeError):
        volume_diagnostics(radii, n, censored=np.zeros((k, 1), bool))


def test_outside_entries_have_no_effective_rays_and_are_not_reliable():
    radii = np.ones((100, 1, 2))
    radii[:, 0, 0] = 0.0
    result = exit_radii_of(
        radii, 3, status=np.where(radii == 0, STATUS_NAMES.index("outside"), 0), outside_by=[[0.2, -1.0]]
    )
    volume = estimate(result, num_resamples=50)
    np.testing.assert_allclose(volume.effective_rays[0], [0.0, 100.0], rtol=1e-12)
    assert np.isnan(volume.pareto_k[0, 0]) and volume.reliable[0].tolist() == [False, True]


def test_the_resampled_log_volume_equals_logsumexp_of_the_resampled_radii():
    # bootstrap_interval avoids materialising the resamples; its quantiles must be those of
    # the plain computation, also where resampled sums of scaled weights underflow (n = 10⁶)
    rng = np.random.default_rng(2)
    for n, shape in ((20, (300, 4, 2)), (10**6, (200, 3))):
        radii = rng.uniform(0.5, 1.5, shape)
        picks = np.random.default_rng(7).integers(0, shape[0], size=(300, shape[0]))
        plain = log_volume(radii[picks], n, axis=1, include_ball=True)
        expected = np.quantile(plain, [0.025, 0.975], axis=0)
        low, high = bootstrap_interval(radii, n, num_resamples=300, seed=7, include_ball=True)
        np.testing.assert_allclose(low, expected[0], rtol=1e-10)
        np.testing.assert_allclose(high, expected[1], rtol=1e-10)


# ---------------------------------------------------------------- the coverage study

REPLICATES = 400
RAYS = 1000


@pytest.fixture(scope="module")
def coverage():
    """Per n: (covered, reliable), one entry per replicate, for 95 % percentile bootstrap
    intervals of log E[ρ^n] on the half-stretched ellipsoid from K = 1000 exact radii."""
    out = {}
    for n in (2, 20, 50, 200):
        radii, truth = ellipsoid_radii(n, REPLICATES, RAYS, seed=n)
        result = exit_radii_of(radii[:, :, None], n)
        volume = estimate(result, num_resamples=1000, confidence=CONFIDENCE, seed=n)
        covered = (volume.bootstrap_lower[:, 0] <= truth) & (truth <= volume.bootstrap_upper[:, 0])
        # the estimator and the diagnostics agree with their definitions on these radii
        logs = n * np.log(radii)
        np.testing.assert_allclose(volume.value[:, 0], logsumexp(logs, axis=0) - math.log(RAYS), rtol=1e-12)
        scaled = np.exp(logs - logs.max(axis=0))  # w_i / max w: (Σw)²/Σw² without overflow
        np.testing.assert_allclose(volume.effective_rays[:, 0], scaled.sum(0) ** 2 / (scaled**2).sum(0), rtol=1e-9)
        out[n] = (covered, volume.reliable[:, 0])
    return out


@pytest.mark.parametrize("n", [2, 20])
def test_where_the_weights_are_light_tailed_the_rule_passes_and_intervals_cover(coverage, n):
    covered, reliable = coverage[n]
    # the rule passes (nearly) every estimate: at most 1 in 10 flagged
    assert reliable.mean() >= 0.9
    # and those it passes are covered at the nominal rate, within 3 binomial standard deviations
    count = int(reliable.sum())
    assert abs(covered[reliable].mean() - CONFIDENCE) <= 3 * binomial_spread(CONFIDENCE, count)


def test_where_intervals_do_not_cover_the_rule_flags_every_estimate(coverage):
    covered, reliable = coverage[200]
    # the observation: far below nominal (37 % at n = 200, K = 1000)
    assert covered.mean() <= CONFIDENCE - 10 * binomial_spread(CONFIDENCE, REPLICATES)
    assert reliable.mean() <= 0.01


def test_in_between_the_rule_lets_through_no_more_misses_than_nominal(coverage):
    # n = 50: the intervals cover about 89 % of the time and those the rule passes less often
    # (a sample whose tail looks light is more often one that missed the largest radii); what
    # the rule holds down is P(reliable and missed): at most the nominal 5 %, within 3 binomial
    # standard deviations, and it passes a minority (measured 11-16 % over six seeds)
    covered, reliable = coverage[50]
    assert reliable.mean() < 0.5
    assert np.mean(reliable & ~covered) <= MISS + 3 * binomial_spread(MISS, REPLICATES)


def test_few_effective_rays_are_unreliable_whatever_the_tail():
    # n = 10⁴, 100 rays: m of weight 1 (radius 1), the rest of weight 2^−1000 (radius 2^(−1000/n)).
    # K_eff = (m + (100 − m)ε)² / (m + (100 − m)ε²), ε = 2^−1000: m, to 1e-12.
    # With m = 25 the 21 largest weights tie (k̂ = −inf) and 25 rays carry the estimate: reliable.
    # With m = 9 the estimate rests on 9 rays: not reliable, whatever k̂.
    n = 10**4
    for m, reliable in ((25, True), (9, False)):
        radii = np.full(100, 2.0 ** (-1000 / n))
        radii[:m] = 1.0
        checks = volume_diagnostics(radii, n)
        np.testing.assert_allclose(checks.effective_rays, m, rtol=1e-12)
        assert bool(checks.reliable) is reliable
    assert volume_diagnostics(np.r_[np.ones(25), np.full(75, 0.5)], n).pareto_k == -np.inf
    # fewer than 25 rays: no tail of at least 5 weights can be fitted, k̂ = +inf, never reliable
    small = volume_diagnostics(np.ones(24), 3)
    assert small.pareto_k == np.inf and small.effective_rays == pytest.approx(24) and not small.reliable
    assert MIN_EFFECTIVE_RAYS == 10
