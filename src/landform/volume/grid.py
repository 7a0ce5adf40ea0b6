"""Exit radii by the paper's grid protocol (Fan, Sandlund, Ko 2025, arXiv 2511.04808).

Coefficients c_0 < c_1 < ... < c_{P−1} (default 100 points ``linspace(0, max_radius, 100)``);
the radius of ray i is the first c_j with L(θ* + c_j·d_i) > τ (accuracy: < τ). Batched over
rays and grid points, or one direction at a time and one landscape at a time as the paper's code
does (to measure its cost). The conventions (outside, censored, non-finite values) are those of
:mod:`landform.volume.radii`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from landform.directions import Directions
from landform.errors import ConfigError
from landform.landscape import Landscape
from landform.volume.radii import (
    CENSORED,
    OUTSIDE,
    RESOLVED,
    UNRESOLVED,
    Evaluator,
    ExitRadii,
    RadiusSettings,
    ascending_sizes,
    assemble,
    center_values,
    check_common,
    chunk_size_for,
    direction_block,
    excess,
)

__all__ = ["grid_radii"]


def grid_radii(
    landscape: Landscape,
    directions: Directions,
    indices: int | Sequence[int] | np.ndarray,
    thresholds: float | Sequence[float],
    *,
    theta: jax.Array | None = None,
    sizes: Sequence[int] | None = None,
    metric: str = "loss",
    coefficients: Sequence[float] | np.ndarray | None = None,
    max_radius: float = 1.0,
    num_points: int = 100,
    one_at_a_time: bool = False,
    chunk_size: int | None = None,
) -> ExitRadii:
    """Exit radii by the paper's grid protocol (Fan, Sandlund, Ko 2025, arXiv 2511.04808).

    For coefficients c_0 < c_1 < ... < c_{P−1} (default ``linspace(0, max_radius, num_points)``),
    the radius of ray i is the first c_j with L(θ* + c_j·d_i) > τ (accuracy: < τ), so it
    overestimates the exit by less than one grid step; the bracket [c_{j−1}, c_j] is returned in
    ``lower``/``upper``. Rays that never cross are censored at c_{P−1} (the paper's code drops
    them); if L(θ*) > τ the status is "outside" (the paper reports −∞).

    ``one_at_a_time=True`` evaluates as the paper's code does: one direction at a time and each
    landscape separately, every grid point evaluated (a Python loop over directions, kept only
    to measure that protocol's cost). Otherwise all grid points of a chunk of rays are evaluated
    together on the largest landscape, and smaller nested landscapes are prefix means.
    """
    indices, thresholds, sizes, theta = check_common(landscape, directions, indices, thresholds, sizes, metric, theta)
    grid = _coefficients(coefficients, max_radius, num_points)
    asc, q_of = ascending_sizes(sizes)
    evaluator = Evaluator(landscape, asc, metric, theta)
    centers, outside_by = center_values(evaluator, thresholds, metric)
    chunk = chunk_size_for(landscape, landscape.dim, chunk_size, evaluator.span_bytes)
    evaluate = _one_at_a_time if one_at_a_time else _batched
    values, scale, evaluations, example_evaluations = evaluate(evaluator, directions, indices, grid, chunk)
    e = excess(values[..., None], centers[None, None, :, None], thresholds[None, None, None, :], metric)  # (K,P,Q,T)
    per_ray = _first_crossings(grid, e, outside_by)
    settings = RadiusSettings(
        method="grid",
        metric=metric,
        tolerance=float("nan"),
        max_radius=float(grid[-1]),
        initial_radius=float("nan"),
        chunk_size=chunk,
        max_iterations=0,
        coefficients=tuple(grid.tolist()),
    )
    return assemble(
        directions,
        scale,
        q_of,
        per_ray,
        evaluations,
        example_evaluations,
        centers,
        outside_by,
        indices,
        sizes,
        thresholds,
        0,
        settings,
    )


def _coefficients(coefficients, max_radius: float, num_points: int) -> np.ndarray:
    """(P,) the grid: ``coefficients`` if given, else linspace(0, max_radius, num_points); checked
    to be non-negative and strictly increasing."""
    if coefficients is None:
        if not max_radius > 0 or num_points < 2:
            raise ConfigError(f"need max_radius > 0 and num_points ≥ 2, got {max_radius}, {num_points}")
        coefficients = np.linspace(0.0, float(max_radius), int(num_points))
    grid = np.asarray(coefficients, dtype=np.float64).reshape(-1)
    if grid.size == 0 or (grid < 0).any() or (np.diff(grid) <= 0).any():
        raise ConfigError("grid coefficients must be non-negative and strictly increasing")
    return grid


def _batched(evaluator: Evaluator, directions: Directions, indices: np.ndarray, grid: np.ndarray, chunk: int):
    """Values (K, P, Q) of every grid point of every ray, a chunk of rays at a time, each point
    evaluated once on the largest landscape (smaller ones are its prefix means); also the sphere
    scales (K,), evaluations (K,) = P and example evaluations (K,) = P·n_max."""
    K, P, Q = indices.size, grid.size, len(evaluator.sizes)
    values = np.empty((K, P, Q))
    scale = np.zeros(K)
    for start in range(0, K, chunk):
        idx = indices[start : start + chunk]
        dirs, scale[start : start + idx.size] = direction_block(directions, idx, min(chunk, K))
        rows = np.repeat(np.arange(idx.size), P)
        out = evaluator(dirs, rows, np.tile(grid, idx.size), np.full(rows.size, Q - 1))
        values[start : start + idx.size] = out.reshape(idx.size, P, Q)
    evaluations = np.full(K, P, np.int64)
    example_evaluations = np.full(K, P * evaluator.sizes[-1], np.int64)
    return values, scale, evaluations, example_evaluations


def _one_at_a_time(evaluator: Evaluator, directions: Directions, indices: np.ndarray, grid: np.ndarray, chunk: int):
    """As :func:`_batched`, but as the paper's code does: a loop over directions, each landscape
    evaluated separately at every grid point (evaluations P·Q, example evaluations P·Σ n_q)."""
    K, P, Q = indices.size, grid.size, len(evaluator.sizes)
    values = np.empty((K, P, Q))
    scale = np.zeros(K)
    for start in range(0, K, chunk):
        idx = indices[start : start + chunk]
        dirs, scale[start : start + idx.size] = direction_block(directions, idx, idx.size)
        for row in range(idx.size):  # the paper's loop over directions, kept to replicate its cost
            for q in range(Q):
                out = evaluator(dirs, np.full(P, row), grid, np.full(P, q))
                values[start + row, :, q] = out[:, q]
    evaluations = np.full(K, P * Q, np.int64)
    example_evaluations = np.full(K, P * sum(evaluator.sizes), np.int64)
    return values, scale, evaluations, example_evaluations


def _first_crossings(grid: np.ndarray, e: np.ndarray, outside_by: np.ndarray):
    """Radii, lower, upper (K, Q, T) and status from the excess e (K, P, Q, T) at the grid points.

    radius = c_j for the first j with e > 0, bracket [c_{j−1}, c_j] (lower 0 when j = 0); no
    crossing: censored, radius = lower = c_{P−1}, upper = inf; θ* outside (outside_by (Q, T) > 0):
    status outside, radius = lower = upper = 0. A crossing at the first positive grid point
    (lower bound 0) is "unresolved": the grid says only that the exit lies somewhere in (0, c_j],
    so the radius (c_j) may overestimate it by any factor; choose a smaller ``max_radius``.
    """
    K, _, Q, T = e.shape
    crossed = e > 0
    any_cross = crossed.any(axis=1)
    first = np.argmax(crossed, axis=1)  # (K, Q, T)
    radii = grid[first]
    lower = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    upper = radii.copy()
    status = np.full((K, Q, T), RESOLVED, np.int8)
    status[~any_cross] = CENSORED
    status[any_cross & (lower <= 0)] = UNRESOLVED
    radii = np.where(any_cross, radii, grid[-1])
    lower = np.where(any_cross, lower, grid[-1])
    upper = np.where(any_cross, upper, np.inf)
    out_mask = np.broadcast_to(outside_by[None] > 0, status.shape)
    status[out_mask] = OUTSIDE
    radii, lower, upper = (np.where(out_mask, 0.0, a) for a in (radii, lower, upper))
    return radii, lower, upper, status
