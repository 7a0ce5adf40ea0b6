"""Curves, their geometry and curve training (landform.paths).

Numerical checks are against exact answers: autodiff of the curve for the hand derivatives,
closed forms for a straight line and a parabola, and an independent scipy integration of a
cubic's length and curvature.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate

from landform.data.base import Split
from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.flat import leaf_slices, ravel
from landform.models import Model, lenet5, mlp, tabular_mlp, with_learned_sigma
from landform.paths import (
    Curve,
    CurveTrainConfig,
    arc_length,
    arc_length_table,
    arc_length_weights,
    ascending_biases,
    barrier_height,
    bezier,
    chord,
    curvature,
    curve_geometry,
    curve_predictive,
    derivative,
    evaluate,
    evaluate_curve,
    fit_curve,
    functional_diversity,
    has_convolution,
    init_control_points,
    make_curve,
    make_curve_model,
    mean_curvature,
    network_parameters,
    polychain,
    polygon_length,
    quadrature,
    resolve_loop,
    speed,
    t_at_fraction,
    t_at_length,
    total_curvature,
    turning_angles,
)

TS = [0.0, 1.0, -0.1, 1.1, 0.37, 0.5]


def random_points(seed, count, dim, dtype=np.float64):
    """Control points from NumPy (reference computations stay outside JAX)."""
    return np.random.default_rng(seed).normal(size=(count, dim)).astype(dtype)


# ---------------------------------------------------------------------------------------------
# curves


@pytest.mark.parametrize("degree", [1, 4, 10])
def test_bezier_derivatives_match_autodiff(degree):
    with jax.enable_x64(True):
        points = random_points(degree, degree + 1, 7)
        ts = np.asarray(TS)

        @jax.jit
        def compare(points):
            curve = bezier(points)
            f = lambda s: evaluate(curve, s)  # noqa: E731
            autodiff = [
                jax.vmap(g)(ts)
                for g in (jax.jacfwd(f), jax.jacfwd(jax.jacfwd(f)), jax.jacfwd(jax.jacfwd(jax.jacfwd(f))))
            ]
            hand = [derivative(curve, ts, order) for order in (1, 2, 3)]
            return autodiff, hand, evaluate(curve, ts), jnp.stack([evaluate(curve, t) for t in ts])

        autodiff, hand, together, one_by_one = compare(points)
        scale = 1 + float(np.max(np.abs(points))) * degree**3
        for a, h in zip(autodiff, hand):
            np.testing.assert_allclose(h, a, atol=1e-11 * scale)
        np.testing.assert_allclose(together, one_by_one, atol=1e-13)
        curve = bezier(points)
        # the ends are the end control points; derivatives above the degree vanish
        np.testing.assert_allclose(evaluate(curve, 0.0), points[0], atol=0)
        np.testing.assert_allclose(evaluate(curve, 1.0), points[-1], atol=0)
        np.testing.assert_allclose(derivative(curve, ts, degree + 1), np.zeros((len(TS), 7)))
        # the basis-matrix form gives the same derivatives
        from landform.paths import basis

        np.testing.assert_allclose(basis("bezier", degree, ts, 2) @ points, hand[1], atol=1e-11 * scale)


def test_gradients_with_respect_to_control_points_are_finite_at_the_ends():
    points = random_points(0, 6, 5, np.float32)
    t = np.array([0.0, 1.0, -0.1, 1.1], np.float32)

    def total(p):
        curve = bezier(p)
        return (
            jnp.sum(evaluate(curve, t) ** 2)
            + jnp.sum(derivative(curve, t, 2))
            + jnp.sum(speed(curve, t))
            + jnp.sum(curvature(curve, t))
            + curve_geometry(curve).length
        )

    gradient, by_t = jax.jit(
        lambda p: (jax.grad(total)(p), jax.vmap(jax.grad(lambda s: jnp.sum(evaluate(bezier(p), s))))(t))
    )(points)
    assert np.all(np.isfinite(gradient)) and np.all(np.isfinite(by_t))


@jax.jit
def measure(curve, t):
    """Geometry, speed and curvature of a curve in one compiled call."""
    return curve_geometry(curve), speed(curve, t), curvature(curve, t)


def test_polychain_is_piecewise_linear_with_matching_derivative():
    with jax.enable_x64(True):
        points = random_points(3, 5, 4)
        curve = polychain(points)
        ts = np.array([0.1, 0.3, 0.62, 0.9, -0.1, 1.1, 0.0])

        @jax.jit
        def compare(curve):
            autodiff = jax.vmap(jax.jacfwd(lambda s: evaluate(curve, s)))(ts)
            return autodiff, derivative(curve, ts, 1), derivative(curve, ts, 2), evaluate(curve, jnp.linspace(0, 1, 5))

        autodiff, first, second, at_joints = compare(curve)
        np.testing.assert_allclose(first, autodiff, atol=1e-12)
        np.testing.assert_allclose(second, 0)
        np.testing.assert_allclose(at_joints, points, atol=1e-14)
        np.testing.assert_allclose(evaluate(curve, 0.625), (points[2] + points[3]) / 2, atol=1e-14)
        # length is the polygon, exactly; no curvature inside the segments
        geometry, _, kappa = measure(curve, ts)
        np.testing.assert_allclose(geometry.length, geometry.polygon_length, rtol=1e-14)
        assert float(geometry.length_error) == 0 and np.all(kappa == 0)
        # inverse arc length is exact
        table = arc_length_table(curve)
        s = np.linspace(0, float(table.length), 9)
        t = np.asarray(t_at_length(curve, s, table))
        steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
        cumulative = np.concatenate([[0.0], np.cumsum(steps)])
        index = np.clip(np.floor(t * 4).astype(int), 0, 3)
        recovered = cumulative[index] + (t * 4 - index) * steps[index]
        np.testing.assert_allclose(recovered, s, atol=1e-12)
        angles = turning_angles(curve)
        first_turn = math.acos(np.dot(points[1] - points[0], points[2] - points[1]) / (steps[0] * steps[1]))
        assert angles.shape == (3,) and abs(float(angles[0]) - first_turn) < 1e-12


def test_bad_curves_raise_typed_errors():
    with pytest.raises(ConfigError, match="K >= 1"):
        bezier(np.ones((1, 4)))
    with pytest.raises(ShapeError):
        bezier(np.ones(4))
    with pytest.raises(UnknownNameError):
        make_curve(np.ones((3, 4)), "spline")


# ---------------------------------------------------------------------------------------------
# geometry against known answers


def test_straight_line_has_length_chord_and_zero_curvature():
    t = np.linspace(0, 1, 33)
    start, end = random_points(4, 2, 30)
    # collinear control points, unevenly spaced (non-uniform speed, still a straight line)
    fractions = np.array([0.0, 0.1, 0.5, 0.55, 0.9, 1.0])[:, None]
    points = (1 - fractions) * start + fractions * end
    chord_length = np.linalg.norm(end - start)
    with jax.enable_x64(True):
        geometry, _, kappa = measure(bezier(points), t)
        np.testing.assert_allclose(geometry.length, chord_length, rtol=1e-12)
        np.testing.assert_allclose(geometry.chord, chord_length, rtol=1e-14)
        assert float(geometry.length_error) < 1e-12
        assert float(np.max(kappa)) < 1e-10 and float(geometry.mean_curvature) < 1e-10
        # evenly spaced control points: constant speed = chord
        even = np.linspace(0, 1, 6)[:, None]
        geometry, speeds, _ = measure(bezier((1 - even) * start + even * end), t)
        np.testing.assert_allclose(speeds, chord_length, rtol=1e-12)
    # float32 too, to a float32 tolerance
    geometry, _, _ = measure(bezier(points.astype(np.float32)), t.astype(np.float32))
    np.testing.assert_allclose(geometry.length, geometry.chord, rtol=1e-5)
    assert float(geometry.mean_curvature) < 1e-3


def test_parabola_length_and_curvature_closed_form():
    # b(t) = (2t - 1, (2t - 1)^2): the parabola y = x² for x in [-1, 1]
    with jax.enable_x64(True):
        curve = bezier(np.array([[-1.0, 1.0], [0.0, -1.0], [1.0, 1.0]]))
        t = np.linspace(0, 1, 11)
        x = 2 * t - 1
        np.testing.assert_allclose(evaluate(curve, t), np.stack([x, x**2], axis=1), atol=1e-14)
        geometry, speeds, kappa = measure(curve, t)
        np.testing.assert_allclose(geometry.length, math.sqrt(5) + math.asinh(2) / 2, rtol=1e-12)
        np.testing.assert_allclose(speeds, 2 * np.sqrt(1 + 4 * x**2), rtol=1e-13)
        np.testing.assert_allclose(kappa, 2 / (1 + 4 * x**2) ** 1.5, rtol=1e-12)
        np.testing.assert_allclose(geometry.mean_curvature, 2 / math.sqrt(5), rtol=1e-10)
        np.testing.assert_allclose(geometry.total_curvature, 2 * math.atan(2), rtol=1e-9)
        # the single-figure functions agree with curve_geometry
        np.testing.assert_allclose(mean_curvature(curve).value, geometry.mean_curvature, rtol=1e-14)
        np.testing.assert_allclose(total_curvature(curve, 32, 8), geometry.total_curvature, rtol=1e-14)
        np.testing.assert_allclose(arc_length(curve).value, geometry.length, rtol=1e-14)
        np.testing.assert_allclose(chord(curve), 2.0, rtol=1e-15)
        np.testing.assert_allclose(polygon_length(curve), 2 * math.sqrt(5), rtol=1e-15)
        # inverse arc length: length of y = x² from -1 to X is F(X) - F(-1)
        F = lambda X: X / 2 * math.sqrt(1 + 4 * X**2) + math.asinh(2 * X) / 4  # noqa: E731
        X = np.array([-0.7, -0.2, 0.0, 0.4, 0.95])
        found = t_at_length(curve, np.array([F(v) - F(-1) for v in X]))
        np.testing.assert_allclose(found, (X + 1) / 2, atol=1e-10)


def test_cubic_helix_matches_independent_integration():
    p = np.array([[1.0, 0.0, 0.0], [1.0, 0.55, 0.3], [0.55, 1.0, 0.6], [0.0, 1.0, 0.9]])

    def first(t):
        return 3 * ((1 - t) ** 2 * (p[1] - p[0]) + 2 * t * (1 - t) * (p[2] - p[1]) + t**2 * (p[3] - p[2]))

    def second(t):
        return 6 * ((1 - t) * (p[2] - 2 * p[1] + p[0]) + t * (p[3] - 2 * p[2] + p[1]))

    def kappa(t):
        v, a = first(t), second(t)
        return np.linalg.norm(np.cross(v, a)) / np.linalg.norm(v) ** 3

    length, _ = integrate.quad(lambda t: np.linalg.norm(first(t)), 0, 1, epsabs=1e-13, epsrel=1e-13)
    mean_kappa, _ = integrate.quad(kappa, 0, 1, epsabs=1e-13, epsrel=1e-13)
    t = np.array([0.0, 0.3, 1.0])
    with jax.enable_x64(True):
        geometry, _, curvatures = measure(bezier(p), t)
        np.testing.assert_allclose(geometry.length, length, rtol=1e-12)
        assert float(geometry.length_error) < 1e-10
        np.testing.assert_allclose(geometry.mean_curvature, mean_kappa, rtol=1e-10)
        np.testing.assert_allclose(curvatures, [kappa(v) for v in t], rtol=1e-12)
    geometry, _, _ = measure(bezier(p.astype(np.float32)), t.astype(np.float32))
    np.testing.assert_allclose(geometry.length, length, rtol=1e-5)
    np.testing.assert_allclose(geometry.mean_curvature, mean_kappa, rtol=1e-4)


@pytest.mark.parametrize("degree", [2, 5, 10])
def test_length_lies_between_chord_and_polygon(degree):
    points = np.random.default_rng(degree).normal(size=(8, degree + 1, 50)).astype(np.float32)
    geometry = jax.jit(jax.vmap(lambda p: curve_geometry(Curve("bezier", p))))(points)
    assert np.all(geometry.chord <= geometry.length * (1 + 1e-5))
    assert np.all(geometry.length <= geometry.polygon_length * (1 + 1e-5))
    assert np.all(geometry.length_error < 1e-4 * geometry.length)
    assert np.all(np.isfinite(geometry.mean_curvature)) and np.all(geometry.mean_curvature > 0)


def test_spread_of_control_points():
    curve = bezier(np.array([[1.0, 1.0], [3.0, 1.0], [1.0, 1.0], [3.0, 1.0]], np.float32))
    geometry, _, _ = measure(curve, np.zeros(2, np.float32))
    np.testing.assert_allclose(geometry.gyration_radius, 1.0)
    np.testing.assert_allclose(geometry.centre_norm, math.sqrt(5), rtol=1e-6)


def test_zero_speed_gives_infinite_curvature_not_nan():
    t = np.linspace(0, 1, 5, dtype=np.float32)
    point = bezier(np.ones((4, 3), np.float32))  # all control points coincide
    geometry, speeds, kappa = measure(point, t)
    assert np.all(np.isinf(kappa)) and np.all(speeds == 0)
    assert float(geometry.length) == 0.0 and not np.isnan(geometry.mean_curvature)
    gradient = jax.jit(jax.grad(lambda p: jnp.sum(speed(bezier(p), t)) + curve_geometry(bezier(p)).length))(
        np.ones((4, 3), np.float32)
    )
    assert np.all(np.isfinite(gradient))
    # a cusp: b(t) = (u², u³) with u = 2t − 1 stops at t = 1/2
    cusp = bezier(np.array([[1.0, -1.0], [-1 / 3, 1.0], [-1 / 3, -1.0], [1.0, 1.0]], np.float32))
    u = 2 * t - 1
    np.testing.assert_allclose(evaluate(cusp, t), np.stack([u**2, u**3], axis=1), atol=1e-6)
    _, speeds, kappa = measure(cusp, t)
    assert float(speeds[2]) == 0.0 and np.isinf(kappa[2]) and np.all(np.isfinite(np.asarray(kappa)[[0, 1, 3, 4]]))


def numpy_velocity(points, t):
    """b'(t) of a Bézier curve, written out in NumPy (independent of the library)."""
    degree = len(points) - 1
    steps = np.diff(points, axis=0)
    weights = [math.comb(degree - 1, j) * t**j * (1 - t) ** (degree - 1 - j) for j in range(degree)]
    return degree * np.tensordot(weights, steps, axes=1)


def test_arc_length_weighting_equals_sampling_by_inverse_arc_length():
    points = random_points(7, 6, 3) * np.array([3.0, 1.0, 0.5])
    direction = np.array([0.7, -1.3, 0.4])
    nodes, weights = quadrature(64, 8)
    count = 4000
    fractions = (np.arange(count) + 0.5) / count
    targets = np.array([0.0, 0.3, 1.7, 2.9]) / 3

    def f(x):
        return jnp.sin(x @ direction) + x[..., 0] ** 2

    @jax.jit
    def compare(curve):
        values = f(evaluate(curve, nodes))
        # E_t[f(b(t)) w(t)] by quadrature over t ...
        weighted = jnp.sum(weights * values * arc_length_weights(curve, nodes, 32, 8))
        # ... and E_s[f(b(t(s)))] by the midpoint rule in arc length
        by_length = jnp.mean(f(evaluate(curve, t_at_fraction(curve, fractions))))
        plain = jnp.sum(weights * values)
        length = arc_length(curve).value
        return weighted, by_length, plain, length, t_at_length(curve, targets * length)

    with jax.enable_x64(True):
        weighted, by_length, plain, length, found = compare(bezier(points))
    np.testing.assert_allclose(weighted, by_length, rtol=1e-6, atol=1e-7)
    # the weighting matters here: the curve's speed is far from constant
    assert abs(float(plain - weighted)) > 1e-3
    # the inverse is an inverse: the length of b on [0, t(s)] is s
    for fraction, t_value in zip(targets, np.asarray(found)):
        part, _ = integrate.quad(lambda u: np.linalg.norm(numpy_velocity(points, u)), 0, t_value, epsabs=1e-12)
        np.testing.assert_allclose(part, fraction * float(length), atol=1e-9)


# ---------------------------------------------------------------------------------------------
# permutation symmetry


def test_ascending_biases_are_sorted_and_invertible():
    model = tabular_mlp((1,), 2, 8, 1)
    params = model.init(jax.random.key(0))
    slices = {s.path: s for s in leaf_slices(params)}
    theta = np.random.default_rng(1).normal(size=(3, sum(s.size for s in slices.values()))).astype(np.float32)
    first = ascending_biases(params, "first")
    hidden = ascending_biases(params, "hidden")
    assert first.leaves == ("params/Dense_0/bias",)
    assert hidden.leaves == ("params/Dense_0/bias", "params/Dense_1/bias")
    constrained = np.asarray(jax.jit(hidden.constrain)(theta))
    for path in hidden.leaves:
        assert np.all(np.diff(constrained[:, slices[path].start : slices[path].stop], axis=1) > 0)
    # only those biases change; the first bias of a layer is kept as it is
    changed = np.flatnonzero((constrained != theta).any(axis=0))
    allowed = set()
    for path in hidden.leaves:
        allowed |= set(range(slices[path].start + 1, slices[path].stop))
    assert set(changed.tolist()) <= allowed and len(changed) >= 12
    np.testing.assert_allclose(jax.jit(hidden.unconstrain)(constrained), theta, atol=1e-5)
    with pytest.raises(ConfigError):
        ascending_biases(params, "middle")


# ---------------------------------------------------------------------------------------------
# training


def toy_regression(count=70, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (count, 1)).astype(np.float32)
    y = (np.sin(3 * x[:, 0]) + 0.1 * rng.normal(size=count)).astype(np.float32)
    return Split(x, y)


def grid_losses(result, split, curve):
    evaluation = evaluate_curve(result.curve_model, curve, {"data": split}, result.loss, 11)
    return evaluation.splits["data"].loss


def test_training_lowers_the_loss_along_the_whole_curve():
    train = toy_regression()
    model = with_learned_sigma(tabular_mlp((1,), 2, 16, 1))
    config = CurveTrainConfig(degree=4, steps=800, samples_per_step=8, learning_rate=1e-2, validate_every=200)
    result = fit_curve(model, train, config)
    assert result.status == "completed"
    initial = bezier(init_control_points(model, jax.random.fold_in(jax.random.key(0), 0), 4))
    before = grid_losses(result, train, initial)
    after = grid_losses(result, train, result.curve)
    assert np.all(np.isfinite(after))
    # Gaussian NLL with σ = 0.05 at initialisation is large everywhere; afterwards every network
    # on the curve fits the sine far better than any initial one
    assert after.max() < 0.1 * before.min()
    assert after.max() < 0.5
    assert result.history["validation_loss"][-1] < result.history["validation_loss"][0]
    assert len(result.history["length"]) == 5 and result.history["step"] == [0, 200, 400, 600, 800]
    # evaluation summary
    evaluation = evaluate_curve(result.curve_model, result.curve, {"train": train}, result.loss, 21)
    split = evaluation.splits["train"]
    assert split.barrier >= 0 and np.all(np.isnan(split.accuracy)) and np.all(split.rmse < 1)
    np.testing.assert_array_equal(split.nll, split.loss)
    assert split.diversity.mean_pairwise_distance > 0 and math.isnan(split.diversity.disagreement)
    predictive = curve_predictive(result.curve_model, result.curve, np.linspace(-2, 2, 30), t=5)
    assert predictive.mean.shape == (5, 30, 1) and predictive.sigma.shape == (5, 30, 1)
    assert np.all(predictive.sigma > 0)
    # the plotting helpers draw on an Axes they are given
    from matplotlib.figure import Figure

    from landform.paths.plots import plot_curve_predictive, plot_loss_along_curve

    figure = Figure()
    axes = figure.add_subplot()
    plot_curve_predictive(axes, predictive, x_data=train.x, y_data=train.y, show_sigma=True)
    assert len(axes.lines) == 5
    plot_loss_along_curve(figure.add_subplot(2, 1, 2), evaluation)


def test_fixed_ends_stay_exactly_fixed_with_arc_length_sampling_and_minibatches():
    train = toy_regression(64, seed=1)
    model = with_learned_sigma(tabular_mlp((1,), 2, 16, 1))
    start = ravel(model.init(jax.random.key(10)))[0]
    end = ravel(model.init(jax.random.key(11)))[0]
    config = CurveTrainConfig(
        degree=3,
        steps=60,
        samples_per_step=4,
        t_sampling="arc_length",
        batch_size=16,
        learning_rate=1e-2,
        validate_every=30,
        init_noise=0.01,
        loop="python",  # the form used for convolutional models on CPU
    )
    result = fit_curve(model, train, config, ends=(start, end))
    for curve in (result.curve, result.last_curve):
        np.testing.assert_array_equal(curve.control_points[0], start)
        np.testing.assert_array_equal(curve.control_points[-1], end)
    assert result.status == "completed"
    straight = (1 - jnp.linspace(0, 1, 4)[:, None]) * start + jnp.linspace(0, 1, 4)[:, None] * end
    assert float(jnp.max(jnp.abs(result.last_curve.control_points[1:-1] - straight[1:-1]))) > 1e-3
    assert (
        result.history["train_loss"][-1] < result.history["train_loss"][1]
        or result.history["validation_loss"][-1] < result.history["validation_loss"][0]
    )


def test_classification_curve_with_ascending_biases():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(90, 2)).astype(np.float32)
    y = (np.argmax(x @ rng.normal(size=(2, 3)), axis=1)).astype(np.int32)
    train = Split(x, y)
    model = mlp((2,), [8], 3)
    config = CurveTrainConfig(
        degree=2, steps=150, samples_per_step=4, learning_rate=2e-2, validate_every=150, symmetry="first"
    )
    result = fit_curve(model, train, config)
    assert result.loss.name == "cross_entropy" and result.status == "completed"
    thetas = network_parameters(result.curve_model, result.curve, jnp.linspace(0, 1, 5))
    for theta in thetas:
        bias = result.curve_model.unravel(theta)["params"]["Dense_0"]["bias"]
        assert np.all(np.diff(np.asarray(bias)) > 0)
    evaluation = evaluate_curve(result.curve_model, result.curve, {"train": train}, result.loss, 5)
    split = evaluation.splits["train"]
    assert np.all((split.accuracy >= 0) & (split.accuracy <= 1)) and split.accuracy.min() > 0.6
    assert 0 <= split.diversity.disagreement <= 1
    assert result.history["validation_accuracy"][-1] > result.history["validation_accuracy"][0]


def test_nonfinite_loss_stops_and_keeps_the_last_good_control_points():
    def init(key):
        return {"w": jax.random.normal(key, (3, 1))}

    def apply(params, x):
        return x @ params["w"]

    model = Model(init=init, apply=apply, name="linear")
    rng = np.random.default_rng(3)
    train = Split(rng.normal(size=(20, 3)).astype(np.float32) * 10, rng.normal(size=(20, 1)).astype(np.float32))
    config = CurveTrainConfig(degree=2, steps=50, samples_per_step=3, loss="mse", validate_every=10)
    initial = init_control_points(model, jax.random.key(5), 2)
    result = fit_curve(model, train, config, initial_control_points=initial, optimizer=optax.sgd(1e20))
    assert result.status == "nonfinite"
    assert "non-finite" in result.reason and "step 1" in result.reason
    np.testing.assert_array_equal(result.last_curve.control_points, initial)
    assert np.all(np.isfinite(result.curve.control_points))
    assert result.steps_run == 0


def test_training_argument_errors():
    train = toy_regression(10)
    model = with_learned_sigma(tabular_mlp((1,), 1, 4, 1))
    with pytest.raises(ConfigError, match="K >= 1"):
        fit_curve(model, train, CurveTrainConfig(degree=0))
    start = ravel(model.init(jax.random.key(0)))[0]
    with pytest.raises(ConfigError, match="no free control point"):
        fit_curve(model, train, CurveTrainConfig(degree=1), ends=(start, start))
    dim = start.shape[0]
    with pytest.raises(ShapeError, match=rf"{dim + 2}.*{dim}"):
        fit_curve(model, train, CurveTrainConfig(degree=2), initial_control_points=jnp.zeros((3, dim + 2)))
    with pytest.raises(ShapeError, match=str(dim)):
        fit_curve(model, train, CurveTrainConfig(degree=2), ends=(start, jnp.zeros(dim - 1)))
    curve_model = make_curve_model(model)
    with pytest.raises(ShapeError, match=rf"{dim + 1}.*{dim}"):
        network_parameters(curve_model, bezier(jnp.zeros((3, dim + 1))), 0.5)
    with pytest.raises(ConfigError, match="with_learned_sigma"):
        fit_curve(tabular_mlp((1,), 1, 4, 1), train, CurveTrainConfig(degree=2))


def test_convolutional_models_loop_in_python_on_cpu():
    lenet = make_curve_model(lenet5())
    images = np.zeros((2, 28, 28, 1), np.float32)
    assert has_convolution(lenet, images)
    assert not has_convolution(make_curve_model(tabular_mlp((1,), 1, 4, 1)), np.zeros((2, 1), np.float32))
    expected = "python" if jax.default_backend() == "cpu" else "scan"
    assert resolve_loop("auto", lenet, images) == expected
    assert resolve_loop("scan", lenet, images) == "scan"
    with pytest.raises(ConfigError):
        resolve_loop("fast", lenet, images)


def test_barrier_and_diversity_by_hand():
    t = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    losses = np.array([1.0, 2.0, 4.0, 2.5, 3.0])
    assert barrier_height(t, losses) == pytest.approx(2.0)  # 4 - (0.5·1 + 0.5·3)
    with pytest.raises(ConfigError):
        barrier_height(t[1:], losses[1:])
    predictions = np.zeros((3, 4, 2))
    predictions[1] += 1.0  # distance sqrt(2) from the others
    predictions[2] += 2.0
    diversity = functional_diversity(predictions, classification=False)
    np.testing.assert_allclose(diversity.mean_pairwise_distance, (math.sqrt(2) * 2 + math.sqrt(8)) / 3, rtol=1e-6)
    np.testing.assert_allclose(diversity.variance, 2 * 2 / 3, rtol=1e-6)
