"""Exit radii: how far each random ray from θ* stays inside the τ-sublevel set of a landscape.

For a landscape L, a centre θ*, a threshold τ and a direction d, the exit radius is

    r(d) = min { r > 0 : L(θ* + r·d) > τ },

the quantity the minima-volume method (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize: A
Loss Landscape Perspective on Data", arXiv 2511.04808) measures for thousands of random,
filter-normalised directions around each trained minimum, in several nested landscapes at once.
With the accuracy variant (``metric="correct"``) the exit is the first radius where the mean
accuracy drops *below* the level τ.

Two protocols are provided:

- :func:`exit_radii` (the default): a bracketing root finder, vectorised in lockstep over every
  (ray, landscape, threshold) triple. Each triple keeps its own bracket [lo, hi] with
  L(θ* + lo·d) ≤ τ < L(θ* + hi·d) and is resolved when hi/lo ≤ 1 + tolerance; it then reports an
  interpolated radius inside the bracket, so its relative error is below the tolerance. Points are
  chosen in x = log r on the excess e(x) = log(L − L(θ*)) − log(τ − L(θ*)) (zero at the exit,
  about linear in x near a power-law minimum): secant steps on the two points nearest the exit,
  safeguarded by the bracket and by bisection when a bracket stops shrinking; once the estimate is
  accurate, a pair of points a tolerance apart around it (or one point next to a bound already
  close) certifies the bracket. Rays are processed in chunks; exit radii of one minimum
  concentrate, so after a first pilot chunk found by geometric bracketing from a small radius,
  each later ray starts at the median of the earlier exits and its next point comes from the
  *common profile* e(x − x_exit) fitted to the earlier rays' evaluations. Every evaluation of a ray
  on n_q examples updates the brackets of all thresholds and of all landscapes of at most n_q
  examples (nested landscapes are prefix means of one evaluation, as in
  :meth:`landform.landscape.Landscape.prefix_losses_batch`); points needed only by a smaller
  landscape are evaluated on that landscape's examples alone.
- :func:`grid_radii`: the paper's protocol. Coefficients c_0 < c_1 < ... (default 100 points
  ``linspace(0, max_radius, 100)``), radius = first c_j with L(θ* + c_j·d) > τ. Batched over
  rays and grid points, or one direction at a time and one landscape at a time as the paper's
  code does (to measure its cost).

Conventions shared by both:

- If L(θ*) > τ on a landscape, θ* is not inside the τ-sublevel set: those entries get radius 0,
  status ``"outside"``, and :attr:`ExitRadii.outside_by` says by how much (L(θ*) − τ; for
  accuracy, τ − accuracy(θ*)). No −∞ and no silent drop.
- A ray still inside at ``max_radius`` is right-censored: radius = ``max_radius`` (a lower bound),
  status ``"censored"``, counted and kept.
- A loss that is NaN or infinite counts as outside the set.
- The search reports the crossing it brackets. Starting from earlier rays' exits, it assumes (as
  the grid protocol does between its grid points) that the loss does not leave and re-enter the
  set below that bracket; ``verify=m`` checks m points below each exit and resumes the search
  where an earlier crossing shows up.
- Cost: every evaluation of a ray is counted (:attr:`ExitRadii.evaluations`, and
  :attr:`ExitRadii.example_evaluations` weighted by the examples used). On a trained MNIST MLP
  (235k parameters) rays after the pilot need about 4 evaluations of the 6,000-example
  landscape at tolerance 1e-3, against 100 for the paper's grid (see
  ``benchmarks/volume_vs_grid.py``).
- Accuracy of a log-volume: log V = n·log ρ + ..., so a relative radius error ε moves it by about
  n·ε; the reported radius is interpolated inside the certified bracket and is usually far more
  accurate than the tolerance, but for volume comparisons in n dimensions choose tolerances with
  n·tolerance in mind.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, NumericalError, ShapeError
from landform.landscape import Landscape
from landform.volume.directions import Directions

STATUS_NAMES = ("resolved", "censored", "outside", "unresolved")
RESOLVED, CENSORED, OUTSIDE, UNRESOLVED = 0, 1, 2, 3
_ACTIVE = -1
METRIC_NAMES = ("loss", "correct")


class RadiusSettings(NamedTuple):
    """How exit radii were measured (stored with every result)."""

    method: str  # "search" or "grid"
    metric: str
    tolerance: float
    max_radius: float
    initial_radius: float
    chunk_size: int
    max_iterations: int
    coefficients: tuple[float, ...] | None  # grid protocol only
    verify: int = 0  # points checked below each exit (search only)


class ExitRadii(NamedTuple):
    """Exit radii of K rays in Q nested landscapes at T thresholds.

    Attributes:
        radii: (K, Q, T) radius along d_i: the exit point is θ* + r·d_i.
        sphere_radii: (K, Q, T) ρ = r · ‖v_i‖, the radius of the pulled-back set along the unit
            direction v_i/‖v_i‖ (see :mod:`landform.volume.directions`; for ``none`` the
            Euclidean distance, for ``filter_scale`` the paper's "coefficient × perturbation
            norm"). This is what :mod:`landform.volume.estimators` takes.
        lower, upper: (K, Q, T) the final bracket (upper = inf for censored rays).
        status: (K, Q, T) index into :data:`STATUS_NAMES`.
        censored: (K, Q, T) True where the ray did not cross up to ``max_radius``.
        evaluations: (K,) parameter vectors evaluated for each ray.
        example_evaluations: (K,) Σ over those evaluations of the examples they used.
        center_values: (Q,) L(θ*) (or accuracy at θ*) on each landscape.
        outside_by: (Q, T) L(θ*) − τ (accuracy: τ − accuracy(θ*)); > 0 means θ* is outside.
        indices: (K,) the direction indices i.
        sizes: (Q,) number of examples of each landscape (in the order given).
        thresholds: (T,) the thresholds τ.
        dimension: n, the number of perturbed parameters (the dimension of the volume).
        log_jacobian: log |det D| of the direction normalisation (see ``directions``).
        iterations: number of lockstep iterations used (summed over chunks).
        settings: :class:`RadiusSettings`.
    """

    radii: np.ndarray
    sphere_radii: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    status: np.ndarray
    censored: np.ndarray
    evaluations: np.ndarray
    example_evaluations: np.ndarray
    center_values: np.ndarray
    outside_by: np.ndarray
    indices: np.ndarray
    sizes: tuple[int, ...]
    thresholds: tuple[float, ...]
    dimension: int
    log_jacobian: float
    iterations: int
    settings: RadiusSettings

    @property
    def num_censored(self) -> np.ndarray:
        """(Q, T) number of censored rays per landscape and threshold."""
        return self.censored.sum(axis=0)

    @property
    def is_outside(self) -> np.ndarray:
        """(Q, T) True where θ* is not inside the τ-sublevel set of that landscape."""
        return self.outside_by > 0

    def status_names(self) -> np.ndarray:
        """``status`` as strings."""
        return np.asarray(STATUS_NAMES, dtype=object)[self.status]


# ============================================================================ evaluation


@jax.jit
def _points(theta: jax.Array, dirs: jax.Array, rows: jax.Array, radii: jax.Array) -> jax.Array:
    """θ* + radii[p] · dirs[rows[p]] for each point p."""
    return theta[None] + radii[:, None] * dirs[rows]


def _host_prefix_means(values: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """Means of the first k values of each row, for each k in ``sizes`` (ascending), in float64."""
    sums = np.cumsum(values, axis=1)[:, np.asarray(sizes) - 1]
    return sums / np.asarray(sizes, dtype=np.float64)

_SUBSETS: "weakref.WeakKeyDictionary[Landscape, dict[int, Landscape]]" = weakref.WeakKeyDictionary()


def _subset(landscape: Landscape, size: int) -> Landscape:
    """``landscape.subset(size)``, cached so that repeated calls reuse its compiled functions."""
    if size == landscape.num_examples:
        return landscape
    cache = _SUBSETS.setdefault(landscape, {})
    if size not in cache:
        cache[size] = landscape.subset(size)
    return cache[size]


class _Evaluator:
    """Evaluates points θ* + r·d_row for a chunk of directions, on nested prefixes of examples.

    Points needed by landscape q are evaluated on its n_q examples (sizes ascending) and give
    the prefix values of every landscape q' ≤ q. Batches are split into blocks of 1, 8 or 64
    points so that few shapes are ever compiled.
    """

    def __init__(self, landscape: Landscape, sizes: tuple[int, ...], metric: str, theta: jax.Array):
        self.sizes = sizes
        self.metric = metric
        self.theta = theta
        self.landscapes = [_subset(landscape, k) for k in sizes]
        n = int(theta.shape[0])
        budget = max(landscape.memory_budget // 8, 1 << 20)
        self.block = int(8 ** max(0, min(2, math.floor(math.log(max(1, budget // (4 * n)), 8)))))

    def center(self) -> np.ndarray:
        values = self._values(len(self.sizes) - 1, self.theta[None])
        return values[0]

    def _values(self, level: int, thetas: jax.Array) -> np.ndarray:
        per_example = self.landscapes[level].per_example_batch(thetas, metric=self.metric)
        return _host_prefix_means(np.asarray(per_example, dtype=np.float64), self.sizes[: level + 1])

    def __call__(self, dirs: jax.Array, rows: np.ndarray, radii: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Values (P, Q) at θ* + radii[p]·dirs[rows[p]], NaN beyond each point's level."""
        out = np.full((rows.shape[0], len(self.sizes)), np.nan)
        for level in np.unique(levels):
            which = np.flatnonzero(levels == level)
            # blocks of 8^j points (at most 3 shapes compiled per landscape, no padding)
            start, width = 0, self.block
            while start < which.size:
                while width > which.size - start:
                    width //= 8
                part = which[start : start + width]
                thetas = _points(
                    self.theta,
                    dirs,
                    jnp.asarray(rows[part], jnp.int32),
                    jnp.asarray(radii[part], self.theta.dtype),
                )
                out[part, : level + 1] = self._values(int(level), thetas)
                start += width
        return out


def _direction_block(directions: Directions, indices: np.ndarray, width: int) -> tuple[jax.Array, jax.Array]:
    """Directions (padded with zero rows to ``width``, so few shapes are compiled) and sphere scales."""
    dirs, scales = directions.generate(indices)
    if width > indices.size:
        dirs = jnp.concatenate([dirs, jnp.zeros((width - indices.size, dirs.shape[1]), dirs.dtype)])
    return dirs, np.asarray(scales, dtype=np.float64)


def _excess(values: np.ndarray, centers: np.ndarray, thresholds: np.ndarray, metric: str) -> np.ndarray:
    """e > 0 outside the set, e ≤ 0 inside; for losses log(f − f0) − log(τ − f0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "loss":
            room = thresholds - centers
            floor = np.maximum(room, 1e-30) * 1e-9
            e = np.log(np.maximum(values - centers, floor)) - np.log(np.maximum(room, 1e-30))
            e = np.where(values > thresholds, np.maximum(e, 1e-12), np.minimum(e, 0.0))
        else:
            e = thresholds - values
    return np.where(np.isnan(values), np.inf, e)


# ============================================================================ priors


class _Prior(NamedTuple):
    """What earlier rays say about the exit of a new ray, for one (landscape, threshold)."""

    median: float  # median log exit radius
    coefficients: np.ndarray  # e(Δ) ≈ a1 Δ + a2 Δ² + a3 Δ³ with Δ = x − x_exit
    error: float  # typical error of Δ predicted from one point
    curvature: float  # K in |secant error| ≈ K |x̂ − x1| |x̂ − x2|


def _fit_prior(exits: np.ndarray, history: list[tuple[np.ndarray, np.ndarray]], metric: str) -> _Prior | None:
    """Median exit and the common profile e(x − x_exit) of earlier rays (``history``: (Δ, e))."""
    if exits.size < 3:
        return None
    median = float(np.median(exits))
    spread = float(np.quantile(np.abs(exits - median), 0.9)) if exits.size > 1 else 0.1
    if metric != "loss" or not history:
        return _Prior(median, np.array([np.nan, 0.0, 0.0]), np.inf, 2.0)
    delta = np.concatenate([h[0] for h in history])
    e = np.concatenate([h[1] for h in history])
    reach = max(2.0 * spread, 0.02)
    keep = np.isfinite(e) & (np.abs(delta) <= reach) & (np.abs(delta) > 0)
    if keep.sum() < 6:
        return _Prior(median, np.array([np.nan, 0.0, 0.0]), np.inf, 2.0)
    d, y = delta[keep], e[keep]
    design = np.stack([d, d * d, d * d * d], axis=1)
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    if not coefficients[0] > 0:
        return _Prior(median, np.array([np.nan, 0.0, 0.0]), np.inf, 2.0)
    predicted = _invert_profile(coefficients, y)
    errors = np.abs(predicted - d)
    near = np.abs(d) <= max(spread, 0.01) * 1.5
    error = float(np.quantile(errors[near], 0.9)) if near.sum() >= 3 else float(np.quantile(errors, 0.9))
    # |e''/(2e')| near the exit, with a safety factor: the secant error constant
    curvature = 1.5 * (abs(coefficients[1]) + 3 * abs(coefficients[2]) * min(reach, 0.05)) / coefficients[0]
    return _Prior(median, coefficients, max(error, 1e-7), float(min(max(curvature, 0.05), 50.0)))


def _invert_profile(coefficients: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Δ with a1 Δ + a2 Δ² + a3 Δ³ = e (Newton from the linear solution, kept near it)."""
    a1, a2, a3 = coefficients
    delta = e / a1
    bound = np.abs(delta) * 2 + 1e-3
    for _ in range(8):
        value = a1 * delta + a2 * delta**2 + a3 * delta**3 - e
        slope = a1 + 2 * a2 * delta + 3 * a3 * delta**2
        step = np.where(slope > 0.2 * a1, value / np.where(slope > 0, slope, 1.0), 0.0)
        delta = np.clip(delta - step, -bound, bound)
    return delta


# ============================================================================ the search


class _State(NamedTuple):
    xl: np.ndarray  # log lo (−inf: lo = 0, i.e. θ* itself)
    el: np.ndarray
    xh: np.ndarray  # log hi (+inf: no crossing found yet)
    eh: np.ndarray
    x1: np.ndarray  # the two evaluated points nearest the exit (smallest |e|)
    e1: np.ndarray
    x2: np.ndarray
    e2: np.ndarray
    status: np.ndarray
    stalls: np.ndarray
    width: np.ndarray


def _new_state(m: int) -> _State:
    inf = np.full(m, np.inf)
    return _State(
        xl=-inf.copy(), el=-inf.copy(), xh=inf.copy(), eh=inf.copy(),
        x1=np.full(m, np.nan), e1=inf.copy(), x2=np.full(m, np.nan), e2=inf.copy(),
        status=np.full(m, _ACTIVE, np.int8), stalls=np.zeros(m, np.int64), width=inf.copy(),
    )


def _update(state: _State, slot: np.ndarray, x: np.ndarray, e: np.ndarray) -> _State:
    """Fold evaluated points (slot, x, e) into the brackets and the two nearest points."""
    new = _update_brackets(state, slot, x, e)
    fin = np.isfinite(e)
    slot, x, e = slot[fin], x[fin], e[fin]
    if slot.size == 0:
        return new
    # candidates per slot: current two nearest plus this iteration's points
    order = np.lexsort((np.abs(e), slot))
    slot, x, e = slot[order], x[order], e[order]
    uniq, start, counts = np.unique(slot, return_index=True, return_counts=True)
    width = counts.max() + 2
    cx = np.full((uniq.size, width), np.nan)
    ce = np.full((uniq.size, width), np.inf)
    cx[:, 0], ce[:, 0] = new.x1[uniq], new.e1[uniq]
    cx[:, 1], ce[:, 1] = new.x2[uniq], new.e2[uniq]
    rank = np.arange(slot.size) - np.repeat(start, counts)
    row = np.repeat(np.arange(uniq.size), counts)
    cx[row, rank + 2], ce[row, rank + 2] = x, e
    magnitude = np.where(np.isnan(cx), np.inf, np.abs(ce))
    first = np.argmin(magnitude, axis=1)
    rows = np.arange(uniq.size)
    bx1, be1 = cx[rows, first], ce[rows, first]
    same = (cx == bx1[:, None]) | np.isnan(cx)
    magnitude2 = np.where(same, np.inf, magnitude)
    second = np.argmin(magnitude2, axis=1)
    has2 = np.isfinite(magnitude2[rows, second])
    x1, e1, x2, e2 = new.x1.copy(), new.e1.copy(), new.x2.copy(), new.e2.copy()
    x1[uniq], e1[uniq] = bx1, be1
    x2[uniq] = np.where(has2, cx[rows, second], np.nan)
    e2[uniq] = np.where(has2, ce[rows, second], np.inf)
    return new._replace(x1=x1, e1=e1, x2=x2, e2=e2)


def _update_brackets(state: _State, slot: np.ndarray, x: np.ndarray, e: np.ndarray) -> _State:
    xl, el, xh, eh = state.xl.copy(), state.el.copy(), state.xh.copy(), state.eh.copy()
    order = np.lexsort((x, slot))
    slot, x, e = slot[order], x[order], e[order]
    out = e > 0
    if out.any():
        s_out, first = np.unique(slot[out], return_index=True)
        cand_x, cand_e = x[out][first], e[out][first]
        better = cand_x < xh[s_out]
        s_b = s_out[better]
        xh[s_b], eh[s_b] = cand_x[better], cand_e[better]
        broken = s_b[xl[s_b] >= xh[s_b]]
        xl[broken], el[broken] = -np.inf, -np.inf
    inside = (e <= 0) & (x < xh[slot])
    if inside.any():
        s_in, x_in, e_in = slot[inside][::-1], x[inside][::-1], e[inside][::-1]
        s_u, last = np.unique(s_in, return_index=True)
        cand_x, cand_e = x_in[last], e_in[last]
        better = cand_x > xl[s_u]
        xl[s_u[better]], el[s_u[better]] = cand_x[better], cand_e[better]
    return state._replace(xl=xl, el=el, xh=xh, eh=eh)


class _Proposal(NamedTuple):
    slot: np.ndarray
    x: np.ndarray


def _secant(xa, ea, xb, eb):
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (eb - ea) / (xb - xa)
        root = xa - ea / slope
    ok = np.isfinite(root) & (slope > 0)
    return np.where(ok, root, np.nan), np.where(ok, slope, np.nan)


def _propose(
    state: _State,
    active: np.ndarray,
    priors: list[_Prior | None],
    prior_index: np.ndarray,
    tol_x: float,
    x_min: float,
    x_max: float,
    metric: str,
) -> _Proposal:
    """Next points for the active slots (one or two each)."""
    s = np.flatnonzero(active)
    xl, xh = state.xl[s], state.xh[s]
    x1, e1, x2, e2 = state.x1[s], state.e1[s], state.x2[s], state.e2[s]
    has_lo, has_hi = np.isfinite(xl), np.isfinite(xh)
    pidx = prior_index[s]
    median = np.array([np.nan if p is None else p.median for p in priors])[pidx]
    p_curv = np.array([2.0 if p is None else p.curvature for p in priors])[pidx]
    p_slope = np.array([np.nan if p is None else p.coefficients[0] for p in priors])[pidx]
    log_growth = math.log(10.0)

    estimate = np.full(s.size, np.nan)
    error = np.full(s.size, np.inf)
    informed = np.zeros(s.size, bool)

    # (1) two points: secant through the two nearest the exit
    two = np.isfinite(x1) & np.isfinite(x2) & np.isfinite(e1) & np.isfinite(e2)
    root, _ = _secant(x1, e1, x2, e2)
    use = two & np.isfinite(root)
    estimate[use] = root[use]
    error[use] = p_curv[use] * np.abs(root[use] - x1[use]) * np.abs(root[use] - x2[use])
    informed |= use
    # (2) one point: the common profile of earlier rays, else a power law e ≈ p (x − x_exit)
    one = ~use & np.isfinite(x1) & np.isfinite(e1)
    if one.any():
        for k in np.unique(pidx[one]):
            prior = priors[k]
            rows = np.flatnonzero(one & (pidx == k))
            if prior is not None and np.isfinite(prior.coefficients[0]) and metric == "loss":
                delta = _invert_profile(prior.coefficients, e1[rows])
                estimate[rows] = x1[rows] - delta
                error[rows] = prior.error
                informed[rows] = True
            elif metric == "loss":
                slope = 2.0 if prior is None or not np.isfinite(p_slope[rows[0]]) else p_slope[rows[0]]
                estimate[rows] = x1[rows] - e1[rows] / slope
                error[rows] = np.abs(e1[rows] / slope) * 0.5 + tol_x
    # (3) nothing yet: the median of earlier exits, or the initial radius
    none_yet = ~np.isfinite(estimate)
    start = np.where(np.isfinite(median), median, x_min)
    fresh = none_yet & ~has_lo & ~has_hi & ~np.isfinite(x1)
    estimate[fresh] = start[fresh]
    error[fresh] = np.inf

    # an estimate outside the bracket means the model does not hold here (a non-monotone ray, or
    # a loss that is not finite beyond hi): fall back to growth or bisection
    with np.errstate(invalid="ignore"):
        invalid = (has_lo & (estimate <= xl)) | (has_hi & (estimate >= xh)) | (has_hi & ~np.isfinite(state.eh[s]))
    estimate[invalid] = np.nan
    error[invalid] = np.inf
    informed &= ~invalid

    # keep the estimate inside the bracket and within a growth factor of known points
    width = xh - xl
    lo_edge = np.where(has_lo, xl, np.where(has_hi, xh - log_growth, -np.inf))
    hi_edge = np.where(has_hi, xh, np.where(has_lo, xl + log_growth, np.inf))
    bad = ~np.isfinite(estimate)
    # no estimate: grow from lo, shrink from hi, or bisect
    with np.errstate(invalid="ignore"):
        middle = 0.5 * (xl + xh)
    fallback = np.where(
        has_lo & has_hi,
        middle,
        np.where(has_lo, xl + math.log(4.0), np.where(has_hi, xh - math.log(4.0), start)),
    )
    estimate = np.where(bad, fallback, estimate)
    with np.errstate(invalid="ignore"):
        margin_in = np.where(has_lo & has_hi, np.minimum(0.02 * width, 0.1 * tol_x), 0.0)
    estimate = np.clip(estimate, lo_edge + margin_in, hi_edge - margin_in)
    estimate = np.minimum(estimate, x_max)
    # bracket stopped shrinking: bisect
    stalled = has_lo & has_hi & (state.stalls[s] >= 2)
    estimate[stalled] = 0.5 * (xl[stalled] + xh[stalled])
    error[stalled] = np.inf
    informed &= ~stalled

    # choose points
    margin = np.maximum(2.5 * error, 0.02 * tol_x)
    span = 0.95 * tol_x
    lo_close = has_lo & (estimate + margin - xl <= span) & informed
    hi_close = has_hi & (xh - (estimate - margin) <= span) & informed & ~lo_close
    pair = informed & ~lo_close & ~hi_close & (margin <= 0.4 * tol_x)
    single = ~lo_close & ~hi_close & ~pair

    first = np.full(s.size, np.nan)
    second = np.full(s.size, np.nan)
    first[lo_close] = np.minimum(estimate[lo_close] + margin[lo_close], xl[lo_close] + span)
    first[hi_close] = np.maximum(estimate[hi_close] - margin[hi_close], xh[hi_close] - span)
    half = 0.45 * tol_x
    first[pair] = estimate[pair] - half
    second[pair] = estimate[pair] + half
    # a single point: the estimate, pushed past it towards a missing bound when uninformed
    push = np.where(np.isfinite(error), np.minimum(error, log_growth), 0.0)
    single_x = estimate.copy()
    up = single & ~has_hi
    down = single & has_hi & ~has_lo
    single_x[up] = np.minimum(estimate[up] + push[up], hi_edge[up])
    single_x[down] = np.maximum(estimate[down] - push[down], lo_edge[down])
    first[single] = single_x[single]
    # never beyond max_radius, never outside the bracket
    first = np.minimum(first, x_max)
    second = np.minimum(second, x_max)
    for points in (first, second):
        outside = (has_lo & (points <= xl)) | (has_hi & (points >= xh))
        points[outside] = np.nan
    # every active slot gets at least one point: bisect, grow from lo, shrink from hi
    lost = np.isnan(first) & np.isnan(second)
    first[lost] = np.minimum(fallback[lost], x_max)
    first[lost & has_lo & ~has_hi] = np.minimum(xl[lost & has_lo & ~has_hi] + math.log(4.0), x_max)
    slots = np.concatenate([s, s])
    xs = np.concatenate([first, second])
    keep = np.isfinite(xs)
    return _Proposal(slots[keep], xs[keep])


def _dedupe(ray: np.ndarray, x: np.ndarray, level: np.ndarray, close: float):
    """Merge points of one ray closer than ``close`` (in log r), keeping the largest level."""
    order = np.lexsort((x, ray))
    ray, x, level = ray[order], x[order], level[order]
    new_cluster = np.ones(ray.size, bool)
    new_cluster[1:] = (ray[1:] != ray[:-1]) | (np.diff(x) > close)
    cluster = np.cumsum(new_cluster) - 1
    pick = np.lexsort((-level, cluster))
    _, first = np.unique(cluster[pick], return_index=True)
    keep = pick[first]  # the point of each cluster with the largest level serves them all
    return ray[keep], x[keep], level[keep]


def _check_common(landscape, directions, indices, thresholds, sizes, metric, theta):
    if not isinstance(landscape, Landscape):
        raise ConfigError(f"expected a landform Landscape, got {type(landscape).__name__}")
    if not isinstance(directions, Directions):
        raise ConfigError(
            f"expected Directions from landform.volume.random_directions, got {type(directions).__name__}"
        )
    if metric not in METRIC_NAMES:
        raise ConfigError(f"unknown metric {metric!r}; use one of {METRIC_NAMES}")
    indices = np.asarray(indices, dtype=np.int64).reshape(-1) if not np.isscalar(indices) else np.arange(int(indices))
    if indices.size == 0:
        raise ConfigError(
            "no directions to measure: pass a positive number of directions (e.g. 1000) or a non-empty list of indices"
        )
    if (indices < 0).any():
        raise ConfigError("direction indices must be non-negative")
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if thresholds.ndim != 1 or thresholds.size == 0 or not np.isfinite(thresholds).all():
        raise ConfigError(f"thresholds must be one or more finite numbers, got {thresholds!r}")
    if sizes is None:
        sizes = (landscape.num_examples,)
    sizes = tuple(int(k) for k in np.atleast_1d(sizes))
    bad = [k for k in sizes if not 1 <= k <= landscape.num_examples]
    if bad or not sizes:
        raise ConfigError(f"landscape sizes must lie in 1..{landscape.num_examples} (its number of examples); got {bad or sizes}")
    theta = landscape.theta if theta is None else jnp.asarray(theta)
    if theta is None:
        raise ConfigError("no centre θ*: pass theta=..., or build the landscape from the trained parameters")
    if theta.shape != (landscape.dim,):
        raise ShapeError(f"θ* has shape {tuple(theta.shape)}; this landscape expects ({landscape.dim},)")
    if directions.size != landscape.dim:
        raise ShapeError(f"directions have length {directions.size} but the landscape has {landscape.dim} parameters")
    return indices, thresholds, sizes, theta


def _chunk_size(landscape: Landscape, dim: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
        return int(chunk_size)
    return int(max(1, min(256, landscape.memory_budget // (4 * 4 * max(dim, 1)))))


def _center(evaluator: _Evaluator, thresholds: np.ndarray, metric: str):
    centers = evaluator.center()  # (Q,) in ascending size order
    if not np.isfinite(centers).all():
        raise NumericalError(
            f"the {metric} at θ* is not finite ({centers.tolist()}); check the trained parameters and the data"
        )
    if metric == "loss":
        outside_by = centers[:, None] - thresholds[None, :]
    else:
        outside_by = thresholds[None, :] - centers[:, None]
    return centers, outside_by


def _chunks(count: int, chunk: int):
    """(start, stop, width) of each chunk of rays: a pilot of 8, then 4× larger up to ``chunk``."""
    start, width = 0, min(8, chunk)
    while start < count:
        yield start, min(count, start + width), width
        start += width
        width = min(chunk, width * 4)


class _ChunkResult(NamedTuple):
    radii: np.ndarray  # (m,) per slot (ray-major, then landscape, then threshold)
    lower: np.ndarray
    upper: np.ndarray
    status: np.ndarray
    evaluations: np.ndarray  # (k,) per ray
    example_evaluations: np.ndarray
    iterations: int
    record_slot: np.ndarray  # every (slot, x, e) evaluated, for the priors of later chunks
    record_x: np.ndarray
    record_e: np.ndarray


_VERIFY_ROUNDS = 3


class _Books(NamedTuple):
    """Per-chunk bookkeeping: which ray and landscape each slot is, and what was evaluated."""

    ray_slot: np.ndarray
    q_slot: np.ndarray
    evaluations: np.ndarray
    example_evaluations: np.ndarray
    records: list


class _Search(NamedTuple):
    """The lockstep search over all (ray, landscape, threshold) slots of one chunk of rays."""

    evaluator: _Evaluator
    centers: np.ndarray  # (Q,)
    thresholds: np.ndarray  # (T,)
    outside: np.ndarray  # (Q*T,) θ* outside the set
    metric: str
    tol_x: float
    x_min: float
    x_max: float
    max_iterations: int
    verify: int

    def run(self, dirs: jax.Array, k: int, priors: list[_Prior | None]) -> _ChunkResult:
        Q, T = self.centers.size, self.thresholds.size
        m = k * Q * T
        qt = np.tile(np.arange(Q * T), k)
        state = _new_state(m)
        state.status[np.tile(self.outside, k)] = OUTSIDE
        books = _Books(
            ray_slot=np.repeat(np.arange(k), Q * T),
            q_slot=qt // T,
            evaluations=np.zeros(k, np.int64),
            example_evaluations=np.zeros(k, np.int64),
            records=[],
        )
        iterations = 0
        for round_ in range(1 + (_VERIFY_ROUNDS if self.verify else 0)):
            if round_ > 0:  # look below each exit for an earlier crossing
                state, found = self._verify(state, dirs, books)
                if not found:
                    break
            while iterations < self.max_iterations:
                state = self._settle(state)
                active = state.status == _ACTIVE
                if not active.any():
                    break
                iterations += 1
                proposal = _propose(state, active, priors, qt, self.tol_x, self.x_min, self.x_max, self.metric)
                ray, x, level = _dedupe(
                    books.ray_slot[proposal.slot], proposal.x, books.q_slot[proposal.slot], 0.02 * self.tol_x
                )
                slot, xs, es = self._evaluate(dirs, ray, x, level, books, state.status == _ACTIVE)
                state = _track_progress(state, _update(state, slot, xs, es), slot)
        state = self._settle(state)
        status = state.status.copy()
        status[status == _ACTIVE] = UNRESOLVED
        radii, lower, upper = _final_radii(state, status, self.x_max)
        empty = np.zeros(0)
        record = [np.concatenate([r[i] for r in books.records]) if books.records else empty for i in range(3)]
        return _ChunkResult(
            radii, lower, upper, status, books.evaluations, books.example_evaluations, iterations,
            record[0].astype(np.int64), record[1], record[2],
        )

    def _evaluate(self, dirs, ray, x, level, books: "_Books", live: np.ndarray):
        """Evaluate points (ray, log r, level); return the (slot, x, e) they give to live slots.

        A point evaluated on n_q examples informs every threshold of every landscape q' ≤ q.
        """
        Q, T = self.centers.size, self.thresholds.size
        values = self.evaluator(dirs, ray, np.exp(x), level)  # (P, Q), NaN above each level
        np.add.at(books.evaluations, ray, 1)
        np.add.at(books.example_evaluations, ray, np.asarray(self.evaluator.sizes)[level])
        e = _excess(values[:, :, None], self.centers[None, :, None], self.thresholds[None, None, :], self.metric)
        slot = ray[:, None, None] * (Q * T) + np.arange(Q)[None, :, None] * T + np.arange(T)[None, None, :]
        covered = np.broadcast_to((np.arange(Q)[None, :] <= level[:, None])[:, :, None], e.shape).copy()
        covered &= live[slot]
        slot, xs, es = slot[covered], np.broadcast_to(x[:, None, None], e.shape)[covered], e[covered]
        books.records.append((slot, xs, es))
        return slot, xs, es

    def _verify(self, state: _State, dirs, books: "_Books") -> tuple[_State, bool]:
        """Evaluate ``verify`` points r = lo·j/(verify+1) below each resolved or censored ray's lo;
        reopen the slots where one of them is already outside (an earlier crossing)."""
        finished = (state.status == RESOLVED) | (state.status == CENSORED)
        resolved = np.flatnonzero(finished)
        if resolved.size == 0:
            return state, False
        fractions = np.arange(1, self.verify + 1) / (self.verify + 1)
        slot = np.repeat(resolved, fractions.size)
        x = state.xl[slot] + np.log(np.tile(fractions, resolved.size))
        ray, x, level = _dedupe(books.ray_slot[slot], x, books.q_slot[slot], 0.02 * self.tol_x)
        slots, xs, es = self._evaluate(dirs, ray, x, level, books, finished)
        reopen = np.unique(slots[es > 0])
        if reopen.size == 0:
            return state, False
        status = state.status.copy()
        status[reopen] = _ACTIVE
        state = state._replace(status=status)
        mine = np.isin(slots, reopen)
        state = _update(state, slots[mine], xs[mine], es[mine])
        # the nearest points were those of the later crossing: forget them
        for name in ("x1", "x2"):
            getattr(state, name)[reopen] = np.nan
        for name in ("e1", "e2"):
            getattr(state, name)[reopen] = np.inf
        return state, True

    def _settle(self, state: _State) -> _State:
        """Mark slots whose bracket is narrow enough (resolved) or that reached max_radius (censored)."""
        active = state.status == _ACTIVE
        with np.errstate(invalid="ignore"):
            done = active & np.isfinite(state.xh) & np.isfinite(state.xl) & (state.xh - state.xl <= self.tol_x)
        censored = active & ~np.isfinite(state.xh) & (state.xl >= self.x_max - 1e-12)
        status = state.status.copy()
        status[done], status[censored] = RESOLVED, CENSORED
        return state._replace(status=status)


def _track_progress(before: _State, after: _State, slot: np.ndarray) -> _State:
    """Count iterations in which a slot's bracket did not halve (two in a row force a bisection)."""
    with np.errstate(invalid="ignore"):
        old = np.where(np.isfinite(before.xh - before.xl), before.xh - before.xl, np.inf)
        new = after.xh - after.xl
        shrunk = np.isfinite(new) & (new <= 0.5 * old)
    touched = np.zeros(after.xl.size, bool)
    touched[slot] = True
    both = np.isfinite(after.xl) & np.isfinite(after.xh)
    stalls = np.where(touched & both, np.where(shrunk, 0, after.stalls + 1), after.stalls)
    return after._replace(stalls=np.where(stalls >= 3, 0, stalls))


def _final_radii(state: _State, status: np.ndarray, x_max: float):
    """Radius (interpolated inside the final bracket), lower and upper bounds of each slot."""
    lower = np.where(np.isfinite(state.xl), np.exp(state.xl), 0.0)
    upper = np.exp(state.xh)
    root, _ = _secant(state.xl, state.el, state.xh, state.eh)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(root) & (root >= state.xl) & (root <= state.xh)
        middle = np.where(np.isfinite(state.xl) & np.isfinite(state.xh), 0.5 * (state.xl + state.xh), np.nan)
    radii = np.exp(np.where(inside, root, middle))
    radii = np.where(status == CENSORED, np.exp(x_max), radii)
    unresolved = (status == UNRESOLVED) & ~np.isfinite(radii)
    radii = np.where(unresolved, np.where(np.isfinite(upper), upper, lower), radii)
    out = status == OUTSIDE
    return np.where(out, 0.0, radii), np.where(out, 0.0, lower), np.where(out, 0.0, upper)


def exit_radii(
    landscape: Landscape,
    directions: Directions,
    indices: int | Sequence[int] | np.ndarray,
    thresholds: float | Sequence[float],
    *,
    theta: jax.Array | None = None,
    sizes: Sequence[int] | None = None,
    metric: str = "loss",
    tolerance: float = 1e-3,
    max_radius: float = 1e3,
    initial_radius: float | None = None,
    chunk_size: int | None = None,
    max_iterations: int = 100,
    verify: int = 0,
) -> ExitRadii:
    """Exit radii of rays θ* + r·d_i by a bracketing root finder (see the module docstring).

    Args:
        landscape: the landscape of the largest dataset (its examples are the ordered pool).
        directions: from :func:`landform.volume.random_directions`.
        indices: a number K of directions (indices 0..K−1) or explicit direction indices.
        thresholds: τ, one or several (loss levels; accuracy levels with ``metric="correct"``).
        theta: θ* (default ``landscape.theta``).
        sizes: the nested landscapes as numbers of leading examples (default: all examples).
        metric: "loss" (exit where L > τ) or "correct" (exit where accuracy < τ).
        tolerance: relative width of the final bracket: hi ≤ (1 + tolerance)·lo.
        max_radius: rays still inside here are censored.
        initial_radius: first radius of the pilot rays (default 1e-3·max(‖θ*‖, 1)/‖d_0‖).
        chunk_size: directions generated and searched together (default from the memory budget).
        max_iterations: per chunk; triples not resolved by then get status "unresolved".
        verify: if > 0, after a ray is resolved, evaluate it at ``verify`` radii evenly spaced
            below the exit (lo·j/(verify+1)); if one is already outside the set, the ray left it
            earlier (a non-monotone loss along the ray) and the search resumes below that point
            (up to three rounds). Costs ``verify`` evaluations per ray and round; 0 trusts the
            first crossing found, as the grid protocol trusts its grid.

    Returns:
        :class:`ExitRadii` with shape (K, Q, T) arrays, Q = len(sizes), T = len(thresholds).
    """
    indices, thresholds, sizes, theta = _check_common(landscape, directions, indices, thresholds, sizes, metric, theta)
    if not 0 < tolerance < 1:
        raise ConfigError(f"tolerance must be in (0, 1), got {tolerance}")
    if not max_radius > 0:
        raise ConfigError(f"max_radius must be positive, got {max_radius}")
    asc = tuple(sorted(set(sizes)))
    q_of = np.array([asc.index(k) for k in sizes])
    Q, T, K = len(asc), thresholds.size, indices.size
    evaluator = _Evaluator(landscape, asc, metric, theta)
    centers, outside_by = _center(evaluator, thresholds, metric)
    chunk = _chunk_size(landscape, landscape.dim, chunk_size)
    if initial_radius is None:
        d0 = float(jnp.linalg.norm(directions.batch(indices[:1])[0]))
        initial_radius = 1e-3 * max(float(jnp.linalg.norm(theta)), 1.0) / max(d0, 1e-30)
    if not initial_radius > 0:
        raise ConfigError(f"initial_radius must be positive, got {initial_radius}")
    if verify < 0:
        raise ConfigError(f"verify must be a non-negative number of points, got {verify}")
    search = _Search(
        evaluator=evaluator,
        centers=centers,
        thresholds=thresholds,
        outside=(outside_by > 0).reshape(-1),
        metric=metric,
        tol_x=math.log1p(tolerance),
        x_min=math.log(min(initial_radius, max_radius)),
        x_max=math.log(max_radius),
        max_iterations=max_iterations,
        verify=int(verify),
    )

    radii, lower, upper = (np.zeros((K, Q, T)) for _ in range(3))
    status = np.zeros((K, Q, T), np.int8)
    scale = np.zeros(K)
    evaluations = np.zeros(K, np.int64)
    example_evaluations = np.zeros(K, np.int64)
    exits: list[list[np.ndarray]] = [[] for _ in range(Q * T)]
    history: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(Q * T)]
    iterations = 0
    for start, stop, width in _chunks(K, chunk):
        dirs, scale[start:stop] = _direction_block(directions, indices[start:stop], width)
        priors = [
            _fit_prior(np.concatenate(exits[j]) if exits[j] else np.zeros(0), history[j], metric) for j in range(Q * T)
        ]
        out = search.run(dirs, stop - start, priors)
        shape = (stop - start, Q, T)
        radii[start:stop] = out.radii.reshape(shape)
        lower[start:stop] = out.lower.reshape(shape)
        upper[start:stop] = out.upper.reshape(shape)
        status[start:stop] = out.status.reshape(shape)
        evaluations[start:stop] = out.evaluations
        example_evaluations[start:stop] = out.example_evaluations
        iterations += out.iterations
        # what this chunk teaches the next ones: exits and the profile e(x − x_exit) per (q, t)
        log_exit = np.log(np.maximum(out.radii, 1e-300))
        for j in range(Q * T):
            mine = (out.status == RESOLVED) & (np.arange(out.status.size) % (Q * T) == j)
            if mine.any():
                exits[j].append(log_exit[mine])
                sel = mine[out.record_slot]
                history[j].append((out.record_x[sel] - log_exit[out.record_slot[sel]], out.record_e[sel]))

    # back to the caller's order of sizes
    settings = RadiusSettings(
        "search", metric, float(tolerance), float(max_radius), float(initial_radius), chunk, int(max_iterations), None, int(verify)
    )
    return _assemble(
        directions, scale, q_of, (radii, lower, upper, status), evaluations, example_evaluations,
        centers, outside_by, indices, sizes, thresholds, iterations, settings,
    )


# ============================================================================ the paper's grid


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
    indices, thresholds, sizes, theta = _check_common(landscape, directions, indices, thresholds, sizes, metric, theta)
    if coefficients is None:
        if not max_radius > 0 or num_points < 2:
            raise ConfigError(f"need max_radius > 0 and num_points ≥ 2, got {max_radius}, {num_points}")
        coefficients = np.linspace(0.0, float(max_radius), int(num_points))
    grid = np.asarray(coefficients, dtype=np.float64).reshape(-1)
    if grid.size == 0 or (grid < 0).any() or (np.diff(grid) <= 0).any():
        raise ConfigError("grid coefficients must be non-negative and strictly increasing")
    asc = tuple(sorted(set(sizes)))
    q_of = np.array([asc.index(k) for k in sizes])
    Q, T, K, P = len(asc), thresholds.size, indices.size, grid.size
    evaluator = _Evaluator(landscape, asc, metric, theta)
    centers, outside_by = _center(evaluator, thresholds, metric)
    chunk = _chunk_size(landscape, landscape.dim, chunk_size)
    values = np.empty((K, P, Q))
    scale = np.zeros(K)
    evaluations = np.zeros(K, np.int64)
    example_evaluations = np.zeros(K, np.int64)
    if one_at_a_time:
        for start in range(0, K, chunk):
            idx = indices[start : start + chunk]
            dirs, scale[start : start + idx.size] = _direction_block(directions, idx, idx.size)
            for row in range(idx.size):  # the paper's loop over directions, kept to replicate its cost
                for q in range(Q):
                    out = evaluator(dirs, np.full(P, row), grid, np.full(P, q))
                    values[start + row, :, q] = out[:, q]
        evaluations[:] = P * Q
        example_evaluations[:] = P * sum(asc)
    else:
        for start in range(0, K, chunk):
            idx = indices[start : start + chunk]
            dirs, scale[start : start + idx.size] = _direction_block(directions, idx, min(chunk, K))
            rows = np.repeat(np.arange(idx.size), P)
            out = evaluator(dirs, rows, np.tile(grid, idx.size), np.full(rows.size, Q - 1))
            values[start : start + idx.size] = out.reshape(idx.size, P, Q)
        evaluations[:] = P
        example_evaluations[:] = P * asc[-1]
    e = _excess(values[..., None], centers[None, None, :, None], thresholds[None, None, None, :], metric)  # (K,P,Q,T)
    crossed = e > 0
    any_cross = crossed.any(axis=1)
    first = np.argmax(crossed, axis=1)  # (K, Q, T)
    radii = grid[first]
    lower = np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0)
    upper = radii.copy()
    status = np.full((K, Q, T), RESOLVED, np.int8)
    status[~any_cross] = CENSORED
    radii = np.where(any_cross, radii, grid[-1])
    lower = np.where(any_cross, lower, grid[-1])
    upper = np.where(any_cross, upper, np.inf)
    out_mask = np.broadcast_to(outside_by[None] > 0, status.shape)
    status[out_mask] = OUTSIDE
    radii, lower, upper = (np.where(out_mask, 0.0, a) for a in (radii, lower, upper))
    settings = RadiusSettings("grid", metric, float("nan"), float(grid[-1]), float("nan"), chunk, 0, tuple(grid.tolist()))
    return _assemble(
        directions, scale, q_of, (radii, lower, upper, status), evaluations, example_evaluations,
        centers, outside_by, indices, sizes, thresholds, 0, settings,
    )


def _assemble(directions, scale, q_of, per_ray, evaluations, example_evaluations, centers, outside_by, indices, sizes, thresholds, iterations, settings) -> ExitRadii:
    """The result of either protocol: (K, Q, T) arrays put back in the order of ``sizes``, with
    the radii on the unit sphere and the censored mask derived from them."""
    radii, lower, upper, status = (a[:, q_of, :] for a in per_ray)
    return ExitRadii(
        radii=radii,
        sphere_radii=radii * scale[:, None, None],
        lower=lower,
        upper=upper,
        status=status,
        censored=status == CENSORED,
        evaluations=evaluations,
        example_evaluations=example_evaluations,
        center_values=centers[q_of],
        outside_by=outside_by[q_of],
        indices=indices,
        sizes=sizes,
        thresholds=tuple(float(t) for t in thresholds),
        dimension=directions.dimension,
        log_jacobian=directions.log_jacobian,
        iterations=iterations,
        settings=settings,
    )
