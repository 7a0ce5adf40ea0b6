"""Minima volumes: directions, exit radii, estimators and cutoffs, against exact answers."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.errors import ConfigError, UnknownNameError
from landform.flat import leaf_slices, ravel
from landform.landscape import Landscape
from landform.volume import (
    NORMALIZATION_NAMES,
    STATUS_NAMES,
    ExitRadii,
    bootstrap_interval,
    cutoffs,
    estimate,
    exit_radii,
    grid_radii,
    landscape_cutoffs,
    load_radii,
    log_max_volume,
    log_unit_ball_volume,
    log_volume,
    mean_log_radius,
    median_radius,
    random_directions,
    ranking_stability,
    running_mean,
    save_radii,
)

# ---------------------------------------------------------------- helpers

N = 30  # dimension of most analytic landscapes (one size: fewer compilations)


def quadratic(a):
    """L(θ) = ½ Σ a_j θ_j²: the τ-sublevel set is an ellipsoid with semi-axes sqrt(2τ/a_j)."""
    a = jnp.asarray(a, jnp.float32)
    return Landscape.from_function(lambda th: 0.5 * jnp.sum(a * th * th), a.shape[0], theta=jnp.zeros(a.shape[0]))


def exact_quadratic_radius(a, directions, tau):
    """Exit radius along d: ½ r² Σ a d² = τ."""
    return np.sqrt(2 * tau / (np.asarray(directions, np.float64) ** 2 @ np.asarray(a, np.float64)))


def log_ellipsoid_volume(a, tau):
    a = np.asarray(a, np.float64)
    return log_unit_ball_volume(a.size) + np.sum(0.5 * np.log(2 * tau / a))


def unit_directions(n, k, seed):
    g = np.random.default_rng(seed).normal(size=(k, n))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def tiny_mlp(key, sizes=(4, 8, 3)):
    params = {}
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        k = jax.random.fold_in(key, i)
        params[f"layer{i}"] = {"bias": 0.1 * jnp.ones(n), "kernel": jax.random.normal(k, (m, n)) / math.sqrt(m)}
    return params


def apply_tiny_mlp(params, x):
    n = len(params)
    for i in range(n):
        x = x @ params[f"layer{i}"]["kernel"] + params[f"layer{i}"]["bias"]
        if i < n - 1:
            x = jnp.tanh(x)
    return x


@pytest.fixture(scope="module")
def mlp_landscape():
    """A small trained classifier: per-example losses over an ordered pool of 120 examples."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int32) + (x[:, 2] > 1.0).astype(np.int32)
    params = tiny_mlp(jax.random.key(0))
    theta, unravel = ravel(params)
    loss = lambda th: jnp.mean(  # noqa: E731
        -jax.nn.log_softmax(apply_tiny_mlp(unravel(th), x))[jnp.arange(120), y]
    )
    step = jax.jit(lambda th: th - 0.5 * jax.grad(loss)(th))
    for _ in range(300):
        theta = step(theta)
    params = unravel(theta)
    return Landscape.from_apply(apply_tiny_mlp, params, x, y, "cross_entropy"), params


# ---------------------------------------------------------------- directions


def test_direction_i_depends_only_on_key_and_i():
    n = N
    d = random_directions(jax.random.key(3), jnp.zeros(n), normalization="none")
    ten = np.asarray(d.batch(np.arange(10)))
    hundred = np.asarray(d.batch(np.arange(100)))
    np.testing.assert_allclose(ten, hundred[:10], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d.direction(7)), ten[7], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(d.direction))(jnp.arange(3))), ten[:3], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d.gaussians([5, 1])), ten[[5, 1]], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d.batch([42, 3]))[1], ten[3], rtol=1e-6)
    expected = jax.random.normal(jax.random.fold_in(jax.random.key(3), 5), (n,))
    np.testing.assert_allclose(ten[5], np.asarray(expected), rtol=1e-6)
    assert not np.allclose(ten[0], ten[1])
    np.testing.assert_allclose(np.asarray(d.sphere_scale([0, 1])), np.linalg.norm(ten[:2], axis=1), rtol=1e-5)


def _layered_params():
    key = jax.random.key(1)
    return {
        "conv": {"kernel": jax.random.normal(jax.random.fold_in(key, 0), (3, 3, 2, 5)), "bias": jnp.arange(5.0) + 1},
        "dense": {"kernel": jax.random.normal(jax.random.fold_in(key, 1), (6, 4)), "bias": jnp.ones(4)},
    }


@pytest.mark.parametrize("biases", ["zero", "keep"])
def test_filter_normalisation_gives_each_unit_the_norm_of_its_unit_in_theta(biases):
    params = _layered_params()
    theta, unravel = ravel(params)
    d = random_directions(jax.random.key(0), theta, params, normalization="filter", biases=biases)
    vectors = d.batch(np.arange(3))
    gaussians = np.asarray(d.gaussians(np.arange(3)))
    slices = {s.path: s for s in leaf_slices(params)}
    for i in range(3):
        tree = unravel(vectors[i])
        # Flax dense kernel (in, out): each column is one unit
        np.testing.assert_allclose(
            np.linalg.norm(tree["dense"]["kernel"], axis=0),
            np.linalg.norm(params["dense"]["kernel"], axis=0),
            rtol=1e-5,
        )
        # Flax conv kernel (h, w, in, out): each filter is all weights of one output channel
        np.testing.assert_allclose(
            np.linalg.norm(np.asarray(tree["conv"]["kernel"]).reshape(-1, 5), axis=0),
            np.linalg.norm(np.asarray(params["conv"]["kernel"]).reshape(-1, 5), axis=0),
            rtol=1e-5,
        )
        for name in ("conv", "dense"):
            s = slices[f"{name}/bias"]
            if biases == "zero":
                np.testing.assert_array_equal(tree[name]["bias"], 0.0)
            else:
                np.testing.assert_allclose(tree[name]["bias"], gaussians[i, s.start : s.stop], rtol=1e-6)
    weights = 3 * 3 * 2 * 5 + 6 * 4
    assert d.dimension == (weights if biases == "zero" else weights + 9)


def test_filter_normalisation_with_units_on_axis_zero():
    params = {"linear": {"weight": jax.random.normal(jax.random.key(2), (4, 6))}}  # PyTorch (out, in)
    theta, unravel = ravel(params)
    d = random_directions(jax.random.key(0), theta, params, normalization="filter", unit_axis=0)
    tree = unravel(d.batch([0])[0])
    np.testing.assert_allclose(
        np.linalg.norm(tree["linear"]["weight"], axis=1), np.linalg.norm(params["linear"]["weight"], axis=1), rtol=1e-5
    )


def test_filter_scale_layer_and_selection():
    params = _layered_params()
    theta, unravel = ravel(params)
    slices = {s.path: s for s in leaf_slices(params)}
    # filter_scale: g times the unit's norm, no division; 1-D tensors unscaled
    d = random_directions(jax.random.key(0), theta, params, normalization="filter_scale")
    g = np.asarray(d.gaussians([0])[0])
    tree = unravel(d.batch([0])[0])
    s = slices["dense/kernel"]
    unit_norm = np.linalg.norm(np.asarray(params["dense"]["kernel"]), axis=0)
    np.testing.assert_allclose(tree["dense"]["kernel"], g[s.start : s.stop].reshape(6, 4) * unit_norm, rtol=1e-5)
    s = slices["dense/bias"]
    np.testing.assert_allclose(tree["dense"]["bias"], g[s.start : s.stop], rtol=1e-6)
    assert d.log_jacobian == pytest.approx(
        6 * np.sum(np.log(unit_norm))
        + 18 * np.sum(np.log(np.linalg.norm(np.asarray(params["conv"]["kernel"]).reshape(-1, 5), axis=0))),
        rel=1e-6,
    )
    # layer: each tensor has the norm of θ*'s tensor
    d = random_directions(jax.random.key(0), theta, params, normalization="layer")
    tree = unravel(d.batch([1])[0])
    for name in ("conv", "dense"):
        assert float(jnp.linalg.norm(tree[name]["kernel"])) == pytest.approx(
            float(jnp.linalg.norm(params[name]["kernel"])), rel=1e-5
        )
    # which entries are perturbed
    d = random_directions(jax.random.key(0), theta, params, normalization="none", perturb="weights")
    tree = unravel(d.batch([0])[0])
    assert np.all(np.asarray(tree["dense"]["bias"]) == 0) and np.all(np.asarray(tree["conv"]["kernel"]) != 0)
    d = random_directions(jax.random.key(0), theta, params, normalization="none", perturb=r"^dense/")
    tree = unravel(d.batch([0])[0])
    assert np.all(np.asarray(tree["conv"]["kernel"]) == 0) and np.all(np.asarray(tree["dense"]["bias"]) != 0)
    assert d.dimension == 6 * 4 + 4
    np.testing.assert_array_equal(np.asarray(d.mask) != 0, np.asarray(d.batch([0])[0]) != 0)


def test_direction_errors():
    theta = jnp.zeros(N)
    with pytest.raises(UnknownNameError) as error:
        random_directions(jax.random.key(0), theta, normalization="filtre")
    for name in NORMALIZATION_NAMES:
        assert name in str(error.value)
    with pytest.raises(UnknownNameError):
        random_directions(jax.random.key(0), theta, normalization="none", biases="drop")
    with pytest.raises(ConfigError, match="layout"):
        random_directions(jax.random.key(0), theta, normalization="filter")
    with pytest.raises(ConfigError, match="no parameters are perturbed"):
        random_directions(jax.random.key(0), theta, normalization="none", perturb="weights")


# ---------------------------------------------------------------- exit radii


def test_radii_match_the_analytic_exit_radius_of_a_quadratic():
    a = np.geomspace(0.2, 5.0, N)
    landscape = quadratic(a)
    d = random_directions(jax.random.key(0), jnp.zeros(N), normalization="none")
    result = exit_radii(landscape, d, 60, [0.05, 0.5], tolerance=1e-3)
    vectors = np.asarray(d.batch(np.arange(60)))
    for t, tau in enumerate([0.05, 0.5]):
        exact = exact_quadratic_radius(a, vectors, tau)
        assert np.all(result.status[:, 0, t] == 0)
        np.testing.assert_allclose(result.radii[:, 0, t], exact, rtol=1e-3)
        assert np.all(result.lower[:, 0, t] <= exact * (1 + 1e-5)) and np.all(
            result.upper[:, 0, t] >= exact * (1 - 1e-5)
        )
        assert np.all(result.upper[:, 0, t] <= result.lower[:, 0, t] * (1 + 1e-3) + 1e-12)
        # sphere radius = Euclidean distance to the exit for raw Gaussian directions
        np.testing.assert_allclose(result.sphere_radii[:, 0, t], exact * np.linalg.norm(vectors, axis=1), rtol=1e-3)
    assert result.radii.shape == (60, 1, 2)
    assert result.evaluations.shape == (60,) and np.all(result.evaluations >= 2)
    # after the pilot rays, the concentration of exits makes each ray cheap: a few evaluations per
    # exit, plus the first-crossing check at the default resolution 0.15 (points every 0.15·lo
    # below the larger exit: about 6 below the smaller one, which serve both, and 4 between them)
    assert result.evaluations[20:].mean() <= 18


def test_radii_of_a_non_quadratic_landscape():
    # L = q + q², q = ½ Σ a θ²: exit where q = (sqrt(1 + 4τ) − 1) / 2
    a = jnp.asarray(np.linspace(0.5, 2.0, N), jnp.float32)
    landscape = Landscape.from_function(lambda th: (q := 0.5 * jnp.sum(a * th * th)) + q * q, N, theta=jnp.zeros(N))
    d = random_directions(jax.random.key(1), jnp.zeros(N), normalization="none")
    result = exit_radii(landscape, d, 40, 2.0)
    q = (math.sqrt(1 + 8.0) - 1) / 2
    exact = exact_quadratic_radius(a, d.batch(np.arange(40)), q)
    np.testing.assert_allclose(result.radii[:, 0, 0], exact, rtol=1e-3)


def test_censored_rays_are_flagged_counted_and_kept():
    # L depends on θ_0 only: rays with small d_0 leave late
    landscape = Landscape.from_function(lambda th: th[0] ** 2, N, theta=jnp.zeros(N))
    d = random_directions(jax.random.key(2), jnp.zeros(N), normalization="none")
    vectors = np.asarray(d.batch(np.arange(50)))
    exact = 0.5 / np.abs(vectors[:, 0])  # exit where (r d_0)² = 0.25
    result = exit_radii(landscape, d, 50, 0.25, max_radius=2.0)
    late = exact > 2.0
    assert late.any() and (~late).any()
    np.testing.assert_array_equal(result.censored[:, 0, 0], late)
    assert result.num_censored[0, 0] == late.sum()
    np.testing.assert_allclose(result.radii[late, 0, 0], 2.0)
    np.testing.assert_allclose(result.radii[~late, 0, 0], exact[~late], rtol=1e-3)
    assert set(result.status_names()[late, 0, 0]) == {"censored"}
    volume = estimate(result, num_resamples=50)
    assert volume.is_lower_bound[0, 0] and volume.num_censored[0, 0] == late.sum()


def test_non_finite_losses_count_as_outside_and_verify_finds_the_first_crossing():
    # the loss is NaN beyond ‖θ‖² = 0.05: the ray leaves the set there
    landscape = Landscape.from_function(
        lambda th: jnp.where(jnp.sum(th * th) > 0.05, jnp.nan, jnp.sum(th * th)), N, theta=jnp.zeros(N)
    )
    d = random_directions(jax.random.key(3), jnp.zeros(N), normalization="none")
    norms = np.linalg.norm(np.asarray(d.batch(np.arange(12))), axis=1)
    result = exit_radii(landscape, d, 12, 0.2)
    np.testing.assert_allclose(result.radii[:, 0, 0] * norms, math.sqrt(0.05), rtol=1e-3)
    # a bump: L(r) = r² + 0.5 exp(−(r − 0.3)²/0.001) first exceeds 0.2 near r = 0.263, dips
    # below it after the bump and leaves for good at r = sqrt(0.2)
    bump = lambda th: (r := jnp.sqrt(jnp.sum(th * th))) ** 2 + 0.5 * jnp.exp(-((r - 0.3) ** 2) / 0.001)  # noqa: E731
    landscape = Landscape.from_function(bump, N, theta=jnp.zeros(N))
    grid_r = np.linspace(0.0, 0.5, 200001)
    values = grid_r**2 + 0.5 * np.exp(-((grid_r - 0.3) ** 2) / 0.001)
    first = grid_r[np.argmax(values > 0.2)]
    checked = exit_radii(landscape, d, 12, 0.2, verify=8)
    np.testing.assert_allclose(checked.radii[:, 0, 0] * norms, first, rtol=1e-3)


def _bump_profile(r):
    """The radial profile of the issue's example: ½ r² + 2 exp(−((r − 1)/0.1)²)."""
    return 0.5 * r**2 + 2.0 * np.exp(-(((r - 1.0) / 0.1) ** 2))


@pytest.mark.parametrize("n", [2, 10, 30])
def test_every_ray_reports_the_first_crossing_of_a_bump(n):
    # L(θ) = ½‖θ‖² + 2 exp(−((‖θ‖ − 1)/0.1)²), τ = 1: every ray leaves the set at ‖θ‖ = 0.8905,
    # re-enters it after the bump (near 1.131) and leaves for good at sqrt(2) = 1.4142. The
    # stretch outside spans 0.24, 17 % of the later exit: resolution 0.15 is sure to find it
    from scipy.optimize import brentq

    first = brentq(lambda r: _bump_profile(r) - 1.0, 0.5, 0.99)
    back_in = brentq(lambda r: _bump_profile(r) - 1.0, 1.01, 1.3)
    assert first == pytest.approx(0.8905, abs=1e-4) and (back_in - first) / math.sqrt(2) > 0.16
    bump = lambda th: 0.5 * jnp.sum(th * th) + 2.0 * jnp.exp(-(((jnp.sqrt(jnp.sum(th * th)) - 1.0) / 0.1) ** 2))  # noqa: E731
    landscape = Landscape.from_function(bump, n, theta=jnp.zeros(n))
    d = random_directions(jax.random.key(n), jnp.zeros(n), normalization="none")
    norms = np.linalg.norm(np.asarray(d.batch(np.arange(200))), axis=1)
    result = exit_radii(landscape, d, 200, 1.0, resolution=0.15)
    assert np.all(result.status == 0)
    # every ray, the 8 pilot rays included, at the first crossing to the tolerance
    np.testing.assert_allclose(result.radii[:, 0, 0] * norms, first, rtol=1e-3)
    assert np.all(result.lower[:, 0, 0] * norms <= first * (1 + 1e-6))
    assert np.all(result.upper[:, 0, 0] * norms >= first * (1 - 1e-6))
    assert result.settings.resolution == 0.15
    if n == 10:  # without the check the search reports the later exit on some rays
        unchecked = exit_radii(landscape, d, 200, 1.0, resolution=1.0)
        assert np.any(np.abs(unchecked.radii[:, 0, 0] * norms - math.sqrt(2)) < 1e-2)


def test_the_default_resolution_reports_the_first_crossing_of_the_bump_on_every_ray():
    # the example at default settings: L(θ) = ½‖θ‖² + 2 exp(−((‖θ‖ − 1)/0.1)²), τ = 1,
    # n = 10, normalization "none". L crosses τ on the way up the bump (r₁ ≈ 0.8905), dips below
    # it after the bump and leaves for good near sqrt(2); the default must report r₁ on every ray
    from scipy.optimize import brentq

    # r₁ by bisection in float64 to 1e-15, after checking on a fine grid that nothing crosses
    # before it (a sign change of L − τ on [0, 0.99] only at r₁)
    first = brentq(lambda r: _bump_profile(r) - 1.0, 0.5, 0.99, xtol=1e-15, rtol=1e-15)
    grid_r = np.linspace(0.0, first, 1_000_001)
    assert np.all(_bump_profile(grid_r[:-1]) < 1.0) and _bump_profile(first * (1 + 1e-12)) > 1.0
    n, k = 10, 500
    bump = lambda th: 0.5 * jnp.sum(th * th) + 2.0 * jnp.exp(-(((jnp.sqrt(jnp.sum(th * th)) - 1.0) / 0.1) ** 2))  # noqa: E731
    landscape = Landscape.from_function(bump, n, theta=jnp.zeros(n))
    d = random_directions(jax.random.key(19), jnp.zeros(n), normalization="none")
    norms = np.linalg.norm(np.asarray(d.batch(np.arange(k)), np.float64), axis=1)
    result = exit_radii(landscape, d, k, 1.0)
    assert np.all(result.status == 0)
    # every ray's bracket holds r₁ and its radius is r₁ to the default tolerance (1e-3)
    assert np.all(result.lower[:, 0, 0] * norms <= first * (1 + 1e-6))
    assert np.all(result.upper[:, 0, 0] * norms >= first * (1 - 1e-6))
    np.testing.assert_allclose(result.radii[:, 0, 0] * norms, first, rtol=1e-3)
    # the earlier default, 0.5, reports the later exit on a good share of these rays
    coarse = exit_radii(landscape, d, k, 1.0, resolution=0.5)
    assert np.mean(np.abs(coarse.radii[:, 0, 0] * norms / first - 1) > 1e-2) > 0.1


def band_classifier(n, band, exits):
    """Two classes, label 0 for every example; example i is classified correctly at θ iff
    r = ‖θ‖ lies outside ``band`` = (a, b) and below exits[i]: its accuracy drops to 0 on the band
    of radii and recovers, then falls example by example."""
    a, b = band

    def apply(params, x):
        r = jnp.sqrt(jnp.sum(params["w"] ** 2))
        margin = jnp.minimum(x[:, 0] - r, jnp.maximum(r - b, a - r))  # > 0: correct
        return jnp.stack([margin, -margin], axis=1)

    x = np.asarray(exits, np.float32)[:, None]
    return Landscape.from_apply(apply, {"w": jnp.zeros(n)}, x, np.zeros(len(exits), np.int32), "cross_entropy")


@pytest.mark.parametrize(
    "band, exits, resolution",
    [
        # (b − a) / final exit = 0.9 / 1.58 = 0.57 > 0.15, the default resolution
        ((0.4, 1.3), 1.5 + 0.02 * np.arange(10), None),
        # 0.1 / 1.2 = 0.083 > 0.05
        ((0.5, 0.6), 1.0 + 0.05 * np.arange(10), 0.05),
    ],
)
def test_accuracy_that_drops_on_a_band_and_recovers_exits_at_the_band(band, exits, resolution):
    # accuracy 1 below the band, 0 on it, 1 after it, then 1 − k/10 past the k-th example exit:
    # at level 0.55 the ray first leaves at ‖θ‖ = a, and for good at the fifth example exit
    n = N
    landscape = band_classifier(n, band, exits)
    d = random_directions(jax.random.key(11), jnp.zeros(n), normalization="none")
    dirs = np.asarray(d.batch(np.arange(40)))
    norms = np.linalg.norm(dirs, axis=1)
    options = {} if resolution is None else {"resolution": resolution}
    result = exit_radii(landscape, d, 40, 0.55, metric="correct", **options)
    assert result.center_values[0] == 1.0 and np.all(result.status == 0)
    np.testing.assert_allclose(result.radii[:, 0, 0] * norms, band[0], rtol=1e-3)
    below = landscape.accuracy_batch(result.lower[:, 0, 0][:, None] * dirs)
    above = landscape.accuracy_batch(result.upper[:, 0, 0][:, None] * dirs)
    np.testing.assert_array_equal(np.asarray(below), 1.0)
    np.testing.assert_array_equal(np.asarray(above), 0.0)
    if resolution is None:  # without the check the search jumps over the band on some rays
        unchecked = exit_radii(landscape, d, 40, 0.55, metric="correct", resolution=1.0)
        assert np.any(np.abs(unchecked.radii[:, 0, 0] * norms - exits[4]) < 1e-2)


def test_resolution_must_be_a_fraction_of_the_radius():
    landscape = quadratic(np.ones(N))
    d = random_directions(jax.random.key(0), jnp.zeros(N), normalization="none")
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ConfigError, match="resolution"):
            exit_radii(landscape, d, 2, 0.1, resolution=bad)


def test_minimum_outside_the_sublevel_set_is_explicit():
    landscape = Landscape.from_function(lambda th: 0.3 + jnp.sum(th * th), N, theta=jnp.zeros(N))
    d = random_directions(jax.random.key(0), jnp.zeros(N), normalization="none")
    result = exit_radii(landscape, d, 8, [0.1, 1.3])
    np.testing.assert_allclose(result.outside_by[0], [0.2, -1.0], atol=1e-6)
    assert result.is_outside[0].tolist() == [True, False]
    assert set(result.status_names()[:, 0, 0]) == {"outside"}
    np.testing.assert_array_equal(result.radii[:, 0, 0], 0.0)
    np.testing.assert_allclose(
        result.radii[:, 0, 1] ** 2 * np.sum(np.asarray(d.batch(np.arange(8))) ** 2, axis=1), 1.0, rtol=3e-3
    )
    volume = estimate(result, num_resamples=20)
    assert volume.is_outside[0].tolist() == [True, False]
    assert volume.value[0, 0] == -np.inf and np.isfinite(volume.value[0, 1])
    grid = grid_radii(landscape, d, 4, [0.1, 1.3], max_radius=3.0)
    assert set(grid.status_names()[:, 0, 0]) == {"outside"} and grid.is_outside[0, 0]


def test_no_directions_is_a_clear_error():
    landscape = quadratic(np.ones(N))
    d = random_directions(jax.random.key(0), jnp.zeros(N), normalization="none")
    for call in (exit_radii, grid_radii):
        with pytest.raises(ConfigError, match="no directions"):
            call(landscape, d, 0, 0.1)
        with pytest.raises(ConfigError, match="no directions"):
            call(landscape, d, [], 0.1)


def test_radii_do_not_depend_on_chunks_or_on_how_many_directions_are_drawn():
    a = np.linspace(0.5, 1.5, N)
    landscape = quadratic(a)
    d = random_directions(jax.random.key(4), jnp.zeros(N), normalization="none")
    few = exit_radii(landscape, d, 10, 0.1, tolerance=1e-4)
    many = exit_radii(landscape, d, 40, 0.1, tolerance=1e-4, chunk_size=7)
    exact = exact_quadratic_radius(a, d.batch(np.arange(40)), 0.1)
    np.testing.assert_allclose(few.radii[:, 0, 0], many.radii[:10, 0, 0], rtol=2e-4)
    np.testing.assert_allclose(many.radii[:, 0, 0], exact, rtol=1e-4)
    picked = exit_radii(landscape, d, [12, 3], 0.1, tolerance=1e-4)
    np.testing.assert_allclose(picked.radii[:, 0, 0], exact[[12, 3]], rtol=1e-4)
    np.testing.assert_array_equal(picked.indices, [12, 3])


def test_grid_protocol_matches_a_hand_computed_case():
    # L = ‖θ‖², direction d = g (raw Gaussian): L(c d) = c² ‖g‖²; exit where c ‖g‖ > sqrt(τ)
    landscape = Landscape.from_function(lambda th: jnp.sum(th * th), N, theta=jnp.zeros(N))
    d = random_directions(jax.random.key(5), jnp.zeros(N), normalization="none")
    norms = np.linalg.norm(np.asarray(d.batch(np.arange(6))), axis=1)
    grid = np.linspace(0.0, 1.0, 11)
    tau = float(N)  # exits near c = sqrt(N)/‖g‖ ≈ 1: about half the rays cross within the grid
    values = (grid[None, :] * norms[:, None]) ** 2
    first = np.argmax(values > tau, axis=1)
    never = ~(values > tau).any(axis=1)
    expected = np.where(never, grid[-1], grid[first])
    result = grid_radii(landscape, d, 6, tau, coefficients=grid)
    np.testing.assert_allclose(result.radii[:, 0, 0], expected)
    assert never.any() and (~never).any()
    np.testing.assert_array_equal(result.censored[:, 0, 0], never)
    np.testing.assert_array_equal(result.evaluations, 11)
    one = grid_radii(landscape, d, 6, tau, coefficients=grid, one_at_a_time=True)
    np.testing.assert_array_equal(one.radii, result.radii)
    default = grid_radii(landscape, d, 6, tau, max_radius=1.0, num_points=11)
    np.testing.assert_allclose(default.radii, result.radii)
    assert set(result.status_names()[:, 0, 0]) == {"resolved", "censored"}


def test_a_grid_too_coarse_for_the_exits_flags_them_unresolved():
    """Every exit below the first positive grid point: the grid only bounds it by (0, c_1]."""
    landscape = Landscape.from_function(lambda th: jnp.sum(th * th), N, theta=jnp.zeros(N))
    d = random_directions(jax.random.key(5), jnp.zeros(N), normalization="none")
    tau = float(N)  # exits near c ≈ 1, below the first grid point 500/99
    coarse = grid_radii(landscape, d, 6, tau, max_radius=500.0, num_points=100)
    assert set(coarse.status_names()[:, 0, 0]) == {"unresolved"}
    np.testing.assert_allclose(coarse.radii[:, 0, 0], 500.0 / 99)
    np.testing.assert_array_equal(coarse.lower[:, 0, 0], 0.0)


def test_nested_landscapes_equal_separate_computations(mlp_landscape):
    landscape, params = mlp_landscape
    theta = landscape.theta
    d = random_directions(jax.random.key(6), theta, params, normalization="filter")
    sizes = [120, 40]  # any order
    taus = [0.3, 0.6]
    nested = exit_radii(landscape, d, 10, taus, sizes=sizes)
    assert nested.radii.shape == (10, 2, 2)
    assert np.all(nested.status == 0)
    separate = {120: landscape, 40: landscape.subset(40)}
    for q, k in enumerate(sizes):
        alone = exit_radii(separate[k], d, 10, taus)
        np.testing.assert_allclose(nested.center_values[q], alone.center_values[0], rtol=1e-5)
        np.testing.assert_allclose(nested.radii[:, q, :], alone.radii[:, 0, :], rtol=2e-3)
    grid_nested = grid_radii(landscape, d, 5, taus, sizes=sizes, max_radius=3.0, num_points=40)
    for q, k in enumerate(sizes):
        alone = grid_radii(separate[k], d, 5, taus, max_radius=3.0, num_points=40)
        np.testing.assert_allclose(grid_nested.radii[:, q, :], alone.radii[:, 0, :])
        assert np.all(grid_nested.lower[:, q, :] <= nested.radii[:5, q, :] * (1 + 2e-3))
        assert np.all(grid_nested.upper[:, q, :] >= nested.radii[:5, q, :] * (1 - 2e-3))


def test_accuracy_threshold_variant(mlp_landscape):
    landscape, params = mlp_landscape
    theta = landscape.theta
    d = random_directions(jax.random.key(7), theta, params, normalization="filter")
    level = 0.705  # not a multiple of 1/120: no ties with the accuracy of 120 examples
    result = exit_radii(landscape, d, 6, level, metric="correct", tolerance=1e-2)
    assert result.center_values[0] > level and np.all(result.status == 0)
    dirs = np.asarray(d.batch(np.arange(6)))
    below = landscape.accuracy_batch(theta[None] + result.lower[:, 0, 0][:, None] * dirs)
    above = landscape.accuracy_batch(theta[None] + result.upper[:, 0, 0][:, None] * dirs)
    assert np.all(np.asarray(below) >= level) and np.all(np.asarray(above) < level)
    assert np.all(result.upper[:, 0, 0] <= result.lower[:, 0, 0] * 1.01 + 1e-12)


# ---------------------------------------------------------------- estimators


@pytest.mark.parametrize("n", [2, 10, 100, 1000])
def test_isotropic_volume_is_exact_in_any_dimension(n):
    # ball of radius R: every direction has ρ = R, Vol = V_n R^n, whatever the number of rays
    radius = 0.7
    radii = np.full(5, radius)
    expected = log_unit_ball_volume(n) + n * math.log(radius)
    assert log_volume(radii, n, include_ball=True) == pytest.approx(expected, rel=1e-12)
    assert log_max_volume(radii, n, include_ball=True) == pytest.approx(expected, rel=1e-12)
    assert mean_log_radius(radii) == pytest.approx(math.log(radius))
    assert median_radius(radii) == pytest.approx(radius)


def test_unit_ball_volume():
    assert math.exp(log_unit_ball_volume(2)) == pytest.approx(math.pi)
    assert math.exp(log_unit_ball_volume(3)) == pytest.approx(4 * math.pi / 3)
    assert log_unit_ball_volume(1000) == pytest.approx(500 * math.log(math.pi) - math.lgamma(501))


def test_ball_landscape_end_to_end_volume():
    # L = ‖θ‖: the τ-sublevel set is the ball of radius τ
    n, tau = N, 0.3
    landscape = Landscape.from_function(lambda th: jnp.sqrt(jnp.sum(th * th)), n, theta=jnp.zeros(n))
    d = random_directions(jax.random.key(0), jnp.zeros(n), normalization="none")
    result = exit_radii(landscape, d, 30, tau, tolerance=1e-5)
    np.testing.assert_allclose(result.sphere_radii[:, 0, 0], tau, rtol=1e-5)
    volume = estimate(result, include_ball=True, num_resamples=100)
    assert volume.value[0, 0] == pytest.approx(log_unit_ball_volume(n) + n * math.log(tau), abs=n * 2e-5)
    assert not volume.is_lower_bound[0, 0]


@pytest.mark.parametrize(
    "n, spread, k, tolerance", [(2, 8.0, 40_000, 0.02), (3, 4.0, 40_000, 0.02), (1000, 1.03, 4000, 0.03)]
)
def test_anisotropic_ellipsoid_volume_within_monte_carlo_error(n, spread, k, tolerance):
    a = np.linspace(1.0, spread, n)
    tau = 0.2
    u = unit_directions(n, k, seed=n)
    radii = exact_quadratic_radius(a, u, tau)  # ρ(u) = sqrt(2τ / Σ a u²)
    value = log_volume(radii, n, include_ball=True)
    assert value == pytest.approx(log_ellipsoid_volume(a, tau), abs=tolerance)
    low, high = bootstrap_interval(radii, n, num_resamples=200, include_ball=True)
    assert low - tolerance <= log_ellipsoid_volume(a, tau) <= high + tolerance


def test_end_to_end_volume_in_1000_dimensions():
    n, tau = 1000, 0.5
    a = np.linspace(1.0, 1.03, n)
    landscape = quadratic(a)
    d = random_directions(jax.random.key(9), jnp.zeros(n), normalization="none")
    result = exit_radii(landscape, d, 300, tau, tolerance=1e-5)
    # log V = n log ρ + ...: a radius error ε moves it by n·ε, so use a tight tolerance here
    exact = exact_quadratic_radius(a, d.batch(np.arange(300)), tau)
    np.testing.assert_allclose(result.radii[:, 0, 0], exact, rtol=2e-5)
    volume = estimate(result, include_ball=True, num_resamples=200)
    assert volume.value[0, 0] == pytest.approx(log_ellipsoid_volume(a, tau), abs=0.08)


def test_filter_scale_volume_in_parameter_space():
    # d = D g with D = diag(unit norms): log Vol = log|det D| + log V_n + log E[ρ^n]
    params = {"w": jnp.asarray([[1.0, 2.0], [0.5, 0.25], [1.0, 1.0]])}  # Flax layout: 2 units of 3 weights
    theta, _ = ravel(params)
    a = np.array([1.0, 3.0, 2.0, 0.5, 1.5, 1.0])
    landscape = Landscape.from_function(
        lambda th: 0.5 * jnp.sum(jnp.asarray(a, jnp.float32) * (th - theta) ** 2), 6, theta=theta
    )
    d = random_directions(jax.random.key(1), theta, params, normalization="filter_scale")
    result = exit_radii(landscape, d, 3000, 0.1, tolerance=1e-4)
    volume = estimate(result, include_ball=True, include_jacobian=True, num_resamples=50)
    assert volume.value[0, 0] == pytest.approx(log_ellipsoid_volume(a, 0.1), abs=0.05)


def test_bootstrap_is_seeded_and_vectorised():
    radii = np.random.default_rng(0).uniform(0.5, 1.0, size=(200, 2, 3))
    low1, high1 = bootstrap_interval(radii, 20, seed=3, num_resamples=300)
    low2, high2 = bootstrap_interval(radii, 20, seed=3, num_resamples=300)
    np.testing.assert_array_equal(low1, low2)
    assert low1.shape == (2, 3) and np.all(low1 <= log_volume(radii, 20)) and np.all(log_volume(radii, 20) <= high1)
    low3, _ = bootstrap_interval(radii, 20, seed=4, num_resamples=300)
    assert not np.array_equal(low1, low3)


def test_ranking_stability_curve():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.8, 1.0, size=(1, 400))
    separated = np.concatenate([base, base * 1.2, base * 1.5])
    curve = ranking_stability(separated, 10, [1, 5, 400], num_draws=200)
    np.testing.assert_array_equal(curve.probability, 1.0)
    np.testing.assert_array_equal(curve.reference_order, [2, 1, 0])
    close = rng.uniform(0.8, 1.0, size=(3, 400)) * np.array([[1.0], [1.002], [1.004]])
    curve = ranking_stability(close, 10, [2, 50, 400], num_draws=300)
    assert curve.probability[-1] == 1.0
    assert curve.probability[0] < curve.probability[1] <= 1.0


# ---------------------------------------------------------------- cutoffs


def test_cutoffs_against_hand_computed_running_means():
    losses = np.array([[0.0, 0.0, 0.3, 0.0, 0.5], [0.2, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(running_mean(losses)[0], [0.0, 0.0, 0.1, 0.075, 0.16])
    any_k = cutoffs(losses, 0.1, from_training_size=False)
    np.testing.assert_array_equal(any_k.cutoff, [5, 1])  # 0.1 is not above τ = 0.1
    own = cutoffs(losses, 0.1, training_sizes=[2, 3])
    np.testing.assert_array_equal(own.cutoff, [5, -1])
    np.testing.assert_array_equal(own.leaves, [True, False])
    with pytest.raises(ConfigError, match="training size"):
        cutoffs(losses, 0.1)


def test_cutoffs_from_a_landscape(mlp_landscape):
    landscape, _ = mlp_landscape
    thetas = landscape.theta[None] + jnp.asarray([[0.0], [0.5]]) * jnp.ones((1, landscape.dim))
    result = landscape_cutoffs(landscape, thetas, 0.4, from_training_size=False)
    per_example = np.asarray(landscape.per_example_batch(thetas), np.float64)
    expected = cutoffs(per_example, 0.4, from_training_size=False)
    np.testing.assert_array_equal(result.cutoff, expected.cutoff)
    np.testing.assert_allclose(result.running_mean[:, -1], per_example.mean(axis=1), rtol=1e-6)


def test_status_names_are_stable():
    assert STATUS_NAMES == ("resolved", "censored", "outside", "unresolved")


# ---------------------------------------------------------------- saving and loading


def _assert_same_fields(loaded, result):
    """Every field equal, arrays with their dtype and NaNs in the same places."""
    assert type(loaded) is ExitRadii and loaded._fields == result._fields
    for name in ExitRadii._fields:
        a, b = getattr(loaded, name), getattr(result, name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert type(a) is type(b), name
            np.testing.assert_equal(a, b, err_msg=name)  # NaN-aware, also inside NamedTuples


def test_save_and_load_radii_round_trip_every_field(tmp_path):
    landscape = quadratic(np.linspace(0.5, 1.5, N))
    d = random_directions(jax.random.key(8), jnp.zeros(N), normalization="none")
    search = exit_radii(landscape, d, 9, [0.05, 0.2], max_radius=0.12, verify=1)  # some censored
    grid = grid_radii(landscape, d, 4, 0.1, max_radius=1.0, num_points=7)
    for name, result in (("search", search), ("grid", grid)):
        (tmp_path / name).mkdir()
        save_radii(tmp_path / name, result)
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == ["radii.json", "radii.npz"]
        _assert_same_fields(load_radii(tmp_path / name), result)
    assert load_radii(tmp_path / "grid").settings.coefficients == grid.settings.coefficients
    assert isinstance(load_radii(tmp_path / "grid").settings.coefficients, tuple)


def test_load_radii_reads_folders_written_by_the_volume_study_before(tmp_path):
    landscape = quadratic(np.linspace(0.5, 1.5, N))
    d = random_directions(jax.random.key(9), jnp.zeros(N), normalization="none")
    result = exit_radii(landscape, d, 6, [0.1, 0.3])
    # the format the volume study wrote (its former _save_radii), built by hand
    keys = (
        "radii",
        "sphere_radii",
        "lower",
        "upper",
        "status",
        "censored",
        "evaluations",
        "example_evaluations",
        "center_values",
        "outside_by",
        "indices",
    )
    old = tmp_path / "old"
    old.mkdir()
    np.savez(old / "radii.npz", **{k: np.asarray(getattr(result, k)) for k in keys})
    meta = {
        "sizes": list(result.sizes),
        "thresholds": list(result.thresholds),
        "dimension": result.dimension,
        "log_jacobian": result.log_jacobian,
        "iterations": result.iterations,
        "settings": result.settings._asdict(),
    }
    (old / "radii.json").write_text(json.dumps(meta, default=float))
    _assert_same_fields(load_radii(old), result)
    # and save_radii writes the same files with the same keys
    new = tmp_path / "new"
    new.mkdir()
    save_radii(new, result)
    with np.load(new / "radii.npz") as written:
        assert tuple(written.files) == keys
    assert json.loads((new / "radii.json").read_text()) == meta
