"""Affine subspaces, moving frames and the tunnel map (landform.subspace).

Checks are against exact answers: round trips of the affine maps, orthonormality, the defining
property of a rotation-minimising frame (e_i' · e_j = 0 for normals i ≠ j, by autodiff), the
exact rotation-minimising frame of a planar curve (the normal out of the plane stays fixed), the
Frenet flip at the inflection of an S-curve, and the tunnel Jacobian against autodiff.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.errors import ConfigError, NumericalError, ShapeError, UnknownNameError
from landform.paths import bezier, derivative, evaluate
from landform.subspace import (
    FRAME_KINDS,
    curve_in_coordinates,
    curve_subspace,
    frenet_frame,
    moving_frame,
    random_subspace,
    subspace_from_points,
    transported_table,
    tunnel_from_curve,
    tunnel_jacobian,
    tunnel_log_jacobian,
    tunnel_map,
    tunnel_point,
)


def random_curve(seed: int, dimension: int, degree: int | None = None):
    """A Bézier curve of degree K = dimension (default) with random control points (float64)."""
    rng = np.random.default_rng(seed)
    degree = dimension if degree is None else degree
    steps = rng.normal(size=(degree + 1, dimension)) + np.linspace(0, 3, degree + 1)[:, None]
    return bezier(jnp.asarray(steps, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32))


def s_curve():
    return bezier(jnp.asarray([[0.0, 0.0], [1.0, 1.5], [2.0, -1.5], [3.0, 0.0]], jnp.float64))


T_VALUES = np.concatenate([np.linspace(-0.1, 1.1, 97), [0.123456, 0.5, 0.987654]])
# a dense grid for frames (finer than the tables' 2049 points, mostly off their points), and a
# pair of values just below and above the table's grid point 700, all in one array so that each
# frame is compiled for one shape
DENSE = np.concatenate([np.linspace(-0.1, 1.1, 6001), [-0.1 + 700 * 1.2 / 2048 - 1e-9, -0.1 + 700 * 1.2 / 2048 + 1e-9]])


# ---------------------------------------------------------------------------------------------
# subspaces


def test_curve_subspace_round_trips_and_whitened_control_points():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        points = jnp.asarray(rng.normal(size=(6, 40)))  # K = 5 control points in R^40
        curve = bezier(points)
        subspace = curve_subspace(curve)
        assert subspace.basis.shape == (5, 40) and subspace.dimension == 5
        # orthonormal directions, basis = diag(s) Vᵀ
        np.testing.assert_allclose(subspace.directions @ subspace.directions.T, np.eye(5), atol=1e-12)
        np.testing.assert_allclose(subspace.basis, subspace.singular_values[:, None] * subspace.directions, atol=1e-12)
        # control points: exact round trip; their coordinates are the (centred, orthonormal) U
        phi = subspace.to_coordinates(points)
        np.testing.assert_allclose(subspace.to_parameters(phi), points, atol=1e-12)
        np.testing.assert_allclose(phi.sum(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(phi.T @ phi, np.eye(5), atol=1e-12)
        # any φ round-trips; a point off the subspace is projected orthogonally
        other = jnp.asarray(rng.normal(size=(3, 5)))
        np.testing.assert_allclose(subspace.to_coordinates(subspace.to_parameters(other)), other, atol=1e-12)
        outside = jnp.asarray(rng.normal(size=40))
        residual = outside - subspace.to_parameters(subspace.to_coordinates(outside))
        np.testing.assert_allclose(subspace.directions @ residual, 0, atol=1e-12)
        # the curve in φ coordinates maps back onto the curve, also outside [0, 1]
        in_phi = curve_in_coordinates(subspace, curve)
        t = jnp.asarray(T_VALUES)
        np.testing.assert_allclose(subspace.to_parameters(evaluate(in_phi, t)), evaluate(curve, t), atol=1e-11)


def test_subspace_float32_round_trip():
    rng = np.random.default_rng(1)
    points = jnp.asarray(rng.normal(size=(11, 300)), jnp.float32)
    subspace = subspace_from_points(points)
    assert subspace.basis.dtype == jnp.float32
    back = subspace.to_parameters(subspace.to_coordinates(points))
    np.testing.assert_allclose(back, points, atol=2e-5)


def test_subspace_from_points_errors_and_dimension():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(8, 20))
    assert subspace_from_points(points, 3).dimension == 3
    with pytest.raises(ConfigError):
        subspace_from_points(points, 8)
    with pytest.raises(ShapeError):
        subspace_from_points(points[0])
    collinear = np.outer(np.arange(5.0), rng.normal(size=20))
    with pytest.raises(NumericalError, match="span only 1"):
        subspace_from_points(collinear, 2)


def test_random_subspace_orthonormal_and_indexed_by_fold_in():
    key = jax.random.key(3)
    centre = jnp.zeros(50)
    small, large = random_subspace(key, centre, 2, scale=0.5), random_subspace(key, centre, 6, scale=0.5)
    np.testing.assert_allclose(large.directions @ large.directions.T, np.eye(6), atol=1e-5)
    np.testing.assert_allclose(large.singular_values, 0.5)
    # direction i depends only on fold_in(key, i): the first directions agree
    np.testing.assert_allclose(small.directions, large.directions[:2], atol=1e-5)
    phi = jnp.asarray([0.3, -1.0, 0, 0, 2.0, 0.1])
    np.testing.assert_allclose(large.to_coordinates(large.to_parameters(phi)), phi, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# frames


@pytest.mark.parametrize("kind", FRAME_KINDS)
def test_frames_are_orthonormal(kind):
    with jax.enable_x64(True):
        curve = random_curve(3, 3)
        t = jnp.asarray(DENSE)
        frame = moving_frame(curve, kind)(t)
        gram = jnp.einsum("tij,tkj->tik", frame.matrix, frame.matrix)
        assert float(jnp.max(jnp.abs(gram - jnp.eye(3)))) < 1e-10
        velocity = derivative(curve, t, 1)
        np.testing.assert_allclose(
            frame.tangent, velocity / jnp.linalg.norm(velocity, axis=-1, keepdims=True), atol=1e-12
        )


def test_rotation_minimising_frame_orthonormal_in_float32():
    curve = bezier(random_curve(9, 9).control_points.astype(jnp.float32))
    frame = moving_frame(curve)(jnp.asarray(T_VALUES, jnp.float32))
    gram = jnp.einsum("tij,tkj->tik", frame.matrix, frame.matrix)
    assert float(jnp.max(jnp.abs(gram - jnp.eye(9)))) < 1e-6


@pytest.mark.parametrize("dimension", [2, 3, 9])
def test_rotation_minimising_frame_is_continuous_and_rotation_minimising(dimension):
    with jax.enable_x64(True):
        curve = random_curve(dimension, dimension)
        frame = moving_frame(curve, "rotation_minimising")
        values = frame(jnp.asarray(DENSE))
        gram = jnp.einsum("tij,tkj->tik", values.matrix, values.matrix)
        assert float(jnp.max(jnp.abs(gram - jnp.eye(dimension)))) < 1e-10
        # continuity: neighbouring t (a grid finer than the table's, off its points) never flip
        normals = values.normals
        dots = jnp.sum(normals[1:-2] * normals[:-3], axis=-1)
        assert float(jnp.min(dots)) > 0.999
        # across a grid point the frame is continuous to rounding
        np.testing.assert_allclose(float(frame.table.t[700]), DENSE[-1] - 1e-9, atol=1e-12)
        assert float(jnp.max(jnp.abs(normals[-2] - normals[-1]))) < 1e-6
        # rotation-minimising: e_i' · e_j = 0 for normals i ≠ j (autodiff in t)
        probe = jnp.asarray(np.random.default_rng(dimension).uniform(-0.1, 1.1, 25))  # off the grid
        derivatives = jax.jit(jax.vmap(jax.jacfwd(lambda s: frame(s).matrix)))(probe)  # (T, K, K)
        rates, tangent_rate = derivatives[:, 1:], derivatives[:, 0]
        at_probe = frame(probe)
        cross = jnp.einsum("tik,tjk->tij", rates, at_probe.normals)
        off_diagonal = cross * (1 - jnp.eye(dimension - 1))
        scale = float(jnp.max(jnp.abs(rates)))
        assert scale > 0.1
        assert float(jnp.max(jnp.abs(off_diagonal))) < 1e-6 * scale
        # the normals turn only towards the tangent: e_i' = −(e_i · T') T
        expected = -jnp.einsum("tik,tk->ti", at_probe.normals, tangent_rate)[..., None] * at_probe.tangent[:, None, :]
        np.testing.assert_allclose(rates, expected, atol=1e-6 * scale)


def test_rotation_minimising_frame_of_a_planar_curve_keeps_the_out_of_plane_normal():
    with jax.enable_x64(True):
        planar = np.zeros((4, 3))
        planar[:, :2] = [[0.0, 0.0], [1.0, 2.0], [2.0, -2.0], [3.0, 0.5]]
        # rotate the plane so that no axis is special
        rotation, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(3, 3)))
        curve = bezier(jnp.asarray(planar @ rotation.T))
        plane_normal = rotation[:, 2]
        normals = moving_frame(curve)(jnp.asarray(T_VALUES)).normals  # (T, 2, 3)
        alignment = jnp.abs(normals @ plane_normal)  # one normal is ±n, the other in the plane
        np.testing.assert_allclose(jnp.max(alignment, axis=1), 1.0, atol=1e-9)
        # and it is the same normal with the same sign everywhere
        which = int(jnp.argmax(alignment[0]))
        signs = normals[:, which] @ plane_normal
        assert float(jnp.min(signs * jnp.sign(signs[0]))) > 1 - 1e-9


def test_frenet_flips_at_an_inflection_but_the_moving_frames_do_not():
    with jax.enable_x64(True):
        curve = s_curve()  # inflection at t = 0.5
        before, after = jnp.asarray(0.45), jnp.asarray(0.55)
        frenet = frenet_frame(curve, jnp.stack([before, after])).normals[:, 0]
        assert float(frenet[0] @ frenet[1]) < -0.9
        for kind in ("rotation_minimising", "transported"):
            normals = moving_frame(curve, kind)(jnp.stack([before, after])).normals[:, 0]
            assert float(normals[0] @ normals[1]) > 0.9, kind


def test_frenet_rotates_about_the_tangent_on_a_twisted_curve():
    """The contrast to the rotation-minimising test: a curve with torsion gives e_1' · e_2 ≠ 0."""
    with jax.enable_x64(True):
        curve = bezier(jnp.asarray([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))
        probe = jnp.linspace(0.1, 0.9, 9)
        rates = jax.jit(jax.vmap(jax.jacfwd(lambda s: frenet_frame(curve, s).normals)))(probe)
        cross = jnp.einsum("tk,tk->t", rates[:, 0], frenet_frame(curve, probe).normals[:, 1])
        assert float(jnp.max(jnp.abs(cross))) > 0.1


def test_transported_frame_cuts_every_45_minus_epsilon_degrees():
    with jax.enable_x64(True):
        curve = random_curve(3, 3)
        table = transported_table(curve, 25.0)
        cut_tangents = np.asarray(table.tangents)[np.asarray(table.cuts)]
        angles = np.degrees(np.arccos(np.clip(np.sum(cut_tangents[1:] * cut_tangents[:-1], axis=1), -1, 1)))
        assert len(angles) >= 3
        step_turn = np.degrees(
            np.max(
                np.arccos(np.clip(np.sum(np.asarray(table.tangents)[1:] * np.asarray(table.tangents)[:-1], 1), -1, 1))
            )
        )
        assert np.all(angles > 20.0) and np.all(angles <= 20.0 + step_turn + 1e-9)
        finer = transported_table(curve, 35.0)
        assert int(finer.cuts.sum()) > int(table.cuts.sum())
        with pytest.raises(ConfigError):
            transported_table(curve, 50.0)


# ---------------------------------------------------------------------------------------------
# tunnel map


def test_tunnel_at_zero_offset_is_the_curve():
    with jax.enable_x64(True):
        rng = np.random.default_rng(6)
        curve = bezier(jnp.asarray(rng.normal(size=(4, 30))))  # K = 3 in R^30
        subspace, tunnel = tunnel_from_curve(curve, tube_scale=0.1)
        t = jnp.asarray(T_VALUES)
        coordinates = jnp.concatenate([t[:, None], jnp.zeros((t.shape[0], 2))], axis=1)
        phi = tunnel_point(tunnel, coordinates)
        np.testing.assert_allclose(phi, evaluate(tunnel.curve, t), atol=1e-12)
        np.testing.assert_allclose(subspace.to_parameters(phi), evaluate(curve, t), atol=1e-10)
        # offsets move across the curve by tube_scale · ξ
        offsets = jnp.asarray(rng.normal(size=(t.shape[0], 2)))
        moved = tunnel_point(tunnel, jnp.concatenate([t[:, None], offsets], axis=1)) - phi
        np.testing.assert_allclose(jnp.linalg.norm(moved, axis=1), 0.1 * jnp.linalg.norm(offsets, axis=1), atol=1e-12)
        np.testing.assert_allclose(jnp.sum(moved * tunnel.frame(t).tangent, axis=1), 0, atol=1e-12)


@pytest.mark.parametrize("kind", FRAME_KINDS)
def test_tunnel_log_jacobian_matches_autodiff(kind):
    with jax.enable_x64(True):
        curve = random_curve(3, 3)
        tunnel = tunnel_map(curve, kind, tube_scale=0.3)
        rng = np.random.default_rng(8)
        coordinates = jnp.asarray(np.column_stack([rng.uniform(-0.1, 1.1, 12), rng.normal(size=(12, 2))]))
        jacobian = tunnel_jacobian(tunnel, coordinates)
        expected = jnp.linalg.slogdet(jacobian)[1]
        np.testing.assert_allclose(tunnel_log_jacobian(tunnel, coordinates), expected, atol=1e-9)
        # at ξ = 0: s^(K−1) ‖c'(t)‖
        on_curve = coordinates.at[:, 1:].set(0)
        speeds = jnp.linalg.norm(derivative(tunnel.curve, on_curve[:, 0], 1), axis=1)
        np.testing.assert_allclose(
            tunnel_log_jacobian(tunnel, on_curve), 2 * math.log(0.3) + jnp.log(speeds), atol=1e-9
        )


def test_tunnel_errors():
    line = bezier(jnp.asarray([[0.0], [1.0], [3.0]]))
    with pytest.raises(ConfigError, match="K >= 2"):
        tunnel_map(line)
    with pytest.raises(ConfigError):
        moving_frame(line)
    # out and back: c'(t) = 0 at t = 0.5
    turning = bezier(jnp.asarray([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(NumericalError, match="zero speed"):
        tunnel_map(turning)
    curve = random_curve(9, 3)
    with pytest.raises(UnknownNameError):
        tunnel_map(curve, "parallel")
    with pytest.raises(ConfigError):
        tunnel_map(curve, tube_scale=0.0)
    with pytest.raises(ShapeError):
        tunnel_point(tunnel_map(curve), jnp.zeros(2))


def test_frame_figure_helper_draws_on_given_axes():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landform.subspace.plots import plot_frame, s_curve, twisted_curve

    figure = plt.figure()
    flat, solid = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2, projection="3d")
    plot_frame(flat, s_curve(), "frenet", arrows=4)
    plot_frame(solid, twisted_curve(), "frenet", arrows=4)
    assert len(flat.collections) == 2 and len(solid.collections) == 3  # tangent + normals
    with pytest.raises(UnknownNameError):
        plot_frame(flat, s_curve(), "bishop")
    plt.close(figure)
