"""Training trajectories: ``fit(..., record_every=k)`` snapshots against the closed form of
gradient descent on a quadratic, and the principal-component plane of a trajectory
(Li et al. 2018) against planes and spectra known in advance."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.data.base import Split
from landform.errors import ConfigError
from landform.flat import ravel
from landform.landscape import Landscape
from landform.models import Model
from landform.train import TrainConfig, fit, fit_ensemble
from landform.views import path_grid, pca_plane, plane_losses, plane_points

CURVATURES = np.array([1.0, 0.5, 0.25], np.float32)
RATE = 0.2


def quadratic_model() -> Model:
    """Outputs sqrt(d·a_j/2)·θ_j, so the mse loss against zero targets is L(θ) = ½ Σ_j a_j θ_j²."""
    d = len(CURVATURES)
    scale = jnp.sqrt(d * jnp.asarray(CURVATURES) / 2)

    def apply(params, x):
        return jnp.broadcast_to(scale * params["theta"], (x.shape[0], d))

    return Model(init=lambda key: {"theta": jnp.ones(d)}, apply=apply, name="quadratic")


SPLIT = Split(np.zeros((4, 1), np.float32), np.zeros((4, 3), np.float32))
START = np.array([1.0, -2.0, 3.0], np.float32)


def gradient_descent(epoch: int) -> np.ndarray:
    """Full-batch SGD without momentum: θ_e = (1 − η·a)^e ⊙ θ_0."""
    return (1.0 - RATE * CURVATURES.astype(np.float64)) ** epoch * START


# ---------------------------------------------------------------- recording


def test_recorded_snapshots_follow_gradient_descent_and_end_at_the_result():
    config = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=RATE, epochs=10, eval_every=4)
    result = fit(quadratic_model(), {"theta": jnp.asarray(START)}, SPLIT, "mse", config, record_every=3)
    trajectory = result.trajectory
    np.testing.assert_array_equal(trajectory.epochs, [0, 3, 6, 9, 10])  # every 3rd epoch, then the last
    assert trajectory.thetas.shape == (5, 3)
    expected = np.stack([gradient_descent(e) for e in trajectory.epochs])
    np.testing.assert_allclose(trajectory.thetas, expected, rtol=1e-5)
    np.testing.assert_array_equal(trajectory.thetas[-1], np.asarray(ravel(result.params)[0]))
    # recording changes nothing else, and is off unless asked for
    plain = fit(quadratic_model(), {"theta": jnp.asarray(START)}, SPLIT, "mse", config)
    assert plain.trajectory is None
    np.testing.assert_array_equal(np.asarray(plain.params["theta"]), np.asarray(result.params["theta"]))


def test_a_diverging_run_records_up_to_the_parameters_it_returns():
    """lr·a = 100 multiplies θ by −99 per epoch until float32 overflows; the loop returns the
    last finite parameters, and the trajectory ends there too."""
    model = quadratic_model()
    config = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=100.0 / CURVATURES[0], epochs=40, eval_every=7)
    result = fit(model, {"theta": jnp.asarray(START)}, SPLIT, "mse", config, record_every=1)
    assert result.stopped_early and 0 < result.epochs_run < 40
    np.testing.assert_array_equal(result.trajectory.epochs, np.arange(result.epochs_run + 1))
    np.testing.assert_array_equal(result.trajectory.thetas[-1], np.asarray(result.params["theta"]))
    assert np.all(np.isfinite(result.trajectory.thetas))


def test_ensemble_members_have_their_own_trajectories():
    model = quadratic_model()
    config = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=RATE, epochs=5)
    stack = {"theta": jnp.stack([jnp.asarray(START), -jnp.asarray(START)])}
    result = fit_ensemble(model, stack, SPLIT, "mse", config, record_every=2)
    assert result.trajectory.thetas.shape == (4, 2, 3)  # epochs 0, 2, 4, 5
    member = result.member(1).trajectory
    np.testing.assert_array_equal(member.epochs, [0, 2, 4, 5])
    np.testing.assert_allclose(member.thetas, -np.stack([gradient_descent(e) for e in member.epochs]), rtol=1e-5)


def test_record_every_must_be_positive():
    config = TrainConfig(optimizer="sgd", learning_rate=RATE, epochs=2)
    with pytest.raises(ConfigError, match="record_every"):
        fit(quadratic_model(), {"theta": jnp.asarray(START)}, SPLIT, "mse", config, record_every=0)


# ---------------------------------------------------------------- the PCA plane


def planar_trajectory(n=40, steps=25, seed=0):
    """Snapshots θ_t = c + x_t·u + y_t·v in a known plane (u, v orthonormal)."""
    rng = np.random.default_rng(seed)
    u, v = np.linalg.qr(rng.normal(size=(n, 2)))[0].T
    t = np.linspace(0.0, 1.0, steps)
    x, y = 3.0 * (1 - t) ** 2, 0.8 * np.sin(3 * np.pi * t) * (1 - t)
    centre = rng.normal(size=n)
    thetas = centre + x[:, None] * u + y[:, None] * v
    return thetas, u, v


def test_pca_of_a_planar_trajectory_recovers_its_plane_and_path():
    thetas, u, v = planar_trajectory()
    traced = pca_plane(thetas)
    basis = np.asarray(traced.plane.basis, np.float64)
    # the same plane: projecting u and v onto the recovered basis loses nothing
    for w in (u, v):
        np.testing.assert_allclose(np.linalg.norm(basis @ w), 1.0, atol=1e-6)
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-6)
    np.testing.assert_allclose(traced.explained_variance_ratio.sum(), 1.0, atol=1e-9)
    np.testing.assert_allclose(traced.distances, 0.0, atol=1e-6)
    # the path goes through the snapshots: θ_t = θ_T + x_t·u' + y_t·v'
    rebuilt = np.asarray(plane_points(traced.plane, traced.path[:, 0], traced.path[:, 1]), np.float64)
    np.testing.assert_allclose(rebuilt, thetas, atol=1e-5)
    np.testing.assert_allclose(traced.path[-1], 0.0, atol=1e-12)  # the origin is the last snapshot
    np.testing.assert_allclose(traced.plane.anchors[1], traced.path[0])


def test_pca_variances_equal_the_covariance_spectrum():
    """A trajectory off any plane: the explained variances are the top eigenvalues of the
    sample covariance of the snapshots, and the distances the residual off their span."""
    rng = np.random.default_rng(3)
    thetas = np.cumsum(rng.normal(size=(12, 6)) * [3.0, 2.0, 1.0, 0.5, 0.2, 0.1], axis=0)
    traced = pca_plane(thetas, epochs=np.arange(12))
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(thetas, rowvar=False))
    np.testing.assert_allclose(traced.explained_variance, eigenvalues[::-1][:2], rtol=1e-10)
    np.testing.assert_allclose(traced.explained_variance_ratio, eigenvalues[::-1][:2] / eigenvalues.sum(), rtol=1e-10)
    top = eigenvectors[:, ::-1][:, :2]
    differences = thetas - thetas[-1]
    residual = differences - differences @ top @ top.T
    np.testing.assert_allclose(traced.distances, np.linalg.norm(residual, axis=1), atol=1e-10)
    assert traced.explained_variance_ratio.sum() < 1.0
    np.testing.assert_array_equal(traced.epochs, np.arange(12))


def test_pca_axes_are_oriented_and_the_input_may_be_a_training_trajectory():
    thetas, _, _ = planar_trajectory(seed=4)
    first = pca_plane(thetas)
    for j in range(2):
        assert first.path[np.argmax(np.abs(first.path[:, j])), j] > 0

    config = TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=RATE, epochs=6)
    result = fit(quadratic_model(), {"theta": jnp.asarray(START)}, SPLIT, "mse", config, record_every=1)
    traced = pca_plane(result.trajectory)
    np.testing.assert_array_equal(traced.epochs, np.arange(7))
    assert traced.path.shape == (7, 2)


def test_degenerate_trajectories_are_refused():
    with pytest.raises(ConfigError, match="at least three snapshots"):
        pca_plane(np.zeros((2, 5)))
    line = np.outer(np.linspace(0, 1, 6), np.arange(1.0, 6.0))
    with pytest.raises(ConfigError, match="one line"):
        pca_plane(line)


def test_pca_plane_losses_on_a_quadratic_equal_the_closed_form():
    """On L(θ) = ½ Σ_j a_j θ_j², the loss over the trajectory plane is ½ Σ_j a_j θ(x, y)_j²,
    and the path's grid frames every snapshot."""
    thetas, _, _ = planar_trajectory(n=6, steps=15, seed=5)
    a = np.linspace(0.5, 2.0, 6)
    landscape = Landscape.from_function(lambda t: 0.5 * jnp.sum(jnp.asarray(a, jnp.float32) * t**2), 6)
    traced = pca_plane(thetas.astype(np.float32))
    grid = path_grid(traced.path, 9)
    assert grid.a[0] < traced.path[:, 0].min() and grid.a[-1] > traced.path[:, 0].max()
    assert grid.b[0] < traced.path[:, 1].min() and grid.b[-1] > traced.path[:, 1].max()
    losses = plane_losses(landscape, traced.plane, grid=grid)
    ga, gb = np.meshgrid(grid.a, grid.b)
    basis = np.asarray(traced.plane.basis, np.float64)
    points = np.asarray(traced.plane.origin, np.float64) + ga[..., None] * basis[0] + gb[..., None] * basis[1]
    np.testing.assert_allclose(losses.losses[0], 0.5 * np.sum(a * points**2, axis=-1), rtol=2e-5, atol=1e-6)


def test_path_grid_keeps_true_proportions_when_asked():
    path = np.array([[0.0, 0.0], [4.0, 0.5], [2.0, 1.0]])
    grid = path_grid(path, 5, margin=0.0, square=True)
    assert np.isclose(np.ptp(grid.a), np.ptp(grid.b)) and np.isclose(np.ptp(grid.a), 4.0)
    with pytest.raises(ConfigError, match="no extent"):
        path_grid(np.zeros((3, 2)))


def test_jax_arrays_work_as_trajectories():
    thetas, _, _ = planar_trajectory(n=8, steps=6, seed=7)
    traced = pca_plane(jax.device_put(jnp.asarray(thetas, jnp.float32)))
    assert traced.plane.vectors.dtype == jnp.float32 and traced.path.shape == (6, 2)
