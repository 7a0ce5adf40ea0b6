"""The brackets of the exit-radius search: per-slot state, updates, and the next points to evaluate.

A *slot* is one (ray, landscape, threshold) triple of a chunk of rays; the search in
:mod:`landform.volume.search` keeps (m,) arrays over the m slots of a chunk. Positions along a
ray are x = log r, and the value at a point is the excess e(x) of
:func:`landform.volume.radii.excess` (e > 0 outside the set, about linear in x near a power-law
minimum, zero at the exit). Each slot keeps a bracket [xl, xh] with e(xl) ≤ 0 < e(xh) and the two
evaluated points nearest the exit (smallest |e|).

Each iteration proposes one or two points per active slot (:func:`propose`):

1. an *estimate* x̂ of the exit and its error: a secant step through the two nearest points, or,
   with one point, the common profile of earlier rays (:class:`Prior`) or a power law, or, with
   none, the median of earlier exits (or the initial radius);
2. a *safeguard*: estimates outside the bracket are discarded; without an estimate the point
   grows from lo, shrinks from hi, or bisects; the estimate stays inside the bracket and within a
   growth factor of known points; a bracket that stopped shrinking is bisected;
3. the *points*: once the estimate is accurate, points that would certify the bracket (one next to
   a bound already close, or a pair a tolerance apart around x̂), else one point at x̂ (pushed
   towards a missing bound).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from landform.volume.radii import CENSORED, OUTSIDE, RESOLVED, UNRESOLVED

ACTIVE = -1  # status of a slot still being searched
_LOG_GROWTH = math.log(10.0)  # largest step from a known point, without a bound on that side
_LOG_STEP = math.log(4.0)  # step from lo (or hi) when there is no estimate


# ============================================================================ priors


class Prior(NamedTuple):
    """What earlier rays say about the exit of a new ray, for one (landscape, threshold)."""

    median: float  # median log exit radius
    coefficients: np.ndarray  # e(Δ) ≈ a1 Δ + a2 Δ² + a3 Δ³ with Δ = x − x_exit
    error: float  # typical error of Δ predicted from one point
    curvature: float  # K in |secant error| ≈ K |x̂ − x1| |x̂ − x2|


def fit_prior(exits: np.ndarray, history: list[tuple[np.ndarray, np.ndarray]], metric: str) -> Prior | None:
    """Median exit and the common profile e(x − x_exit) of earlier rays (``history``: (Δ, e)).

    ``exits``: (R,) log exit radii of earlier resolved rays (None if R < 3). The profile is the
    least-squares cubic e ≈ a1 Δ + a2 Δ² + a3 Δ³ without constant term, fitted to the points with
    0 < |Δ| ≤ max(2·spread, 0.02) (spread: 90% quantile of |exit − median|); without enough points,
    without points beyond spread/2 (where later rays start), for accuracy, or when a1 ≤ 0, only
    the median is known (coefficients NaN, error inf).
    """
    if exits.size < 3:
        return None
    median = float(np.median(exits))
    spread = float(np.quantile(np.abs(exits - median), 0.9)) if exits.size > 1 else 0.1
    if metric != "loss" or not history:
        return Prior(median, np.array([np.nan, 0.0, 0.0]), np.inf, 2.0)
    delta = np.concatenate([h[0] for h in history])
    e = np.concatenate([h[1] for h in history])
    reach = max(2.0 * spread, 0.02)
    keep = np.isfinite(e) & (np.abs(delta) <= reach) & (np.abs(delta) > 0)
    # the profile is used from starts about ``spread`` from the exit: points much closer to it
    # alone do not determine it there (a cubic through them extrapolates wildly)
    if keep.sum() < 6 or np.max(np.abs(delta[keep])) < 0.5 * spread:
        return Prior(median, np.array([np.nan, 0.0, 0.0]), np.inf, 2.0)
    d, y = delta[keep], e[keep]
    design = np.stack([d, d * d, d * d * d], axis=1)
    coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
    if not coefficients[0] > 0:
        return Prior(median, np.array([np.nan, 0.0, 0.0]), np.inf, 2.0)
    return Prior(median, coefficients, *_profile_errors(coefficients, d, y, spread, reach))


def _profile_errors(coefficients: np.ndarray, d: np.ndarray, y: np.ndarray, spread: float, reach: float):
    """(error, curvature) of a fitted profile: the 90% quantile of |Δ predicted from e − Δ| over
    the points near the exit (|Δ| ≤ 1.5·max(spread, 0.01), all points if fewer than 3), at least
    1e-7; and K = 1.5·(|a2| + 3|a3|·min(reach, 0.05))/a1 ≈ |e''/(2e')| near the exit with a safety
    factor, clipped to [0.05, 50]."""
    predicted = invert_profile(coefficients, y)
    errors = np.abs(predicted - d)
    near = np.abs(d) <= max(spread, 0.01) * 1.5
    error = float(np.quantile(errors[near], 0.9)) if near.sum() >= 3 else float(np.quantile(errors, 0.9))
    # |e''/(2e')| near the exit, with a safety factor: the secant error constant
    curvature = 1.5 * (abs(coefficients[1]) + 3 * abs(coefficients[2]) * min(reach, 0.05)) / coefficients[0]
    return max(error, 1e-7), float(min(max(curvature, 0.05), 50.0))


def invert_profile(coefficients: np.ndarray, e: np.ndarray) -> np.ndarray:
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


# ============================================================================ state and updates


class State(NamedTuple):
    """(m,) arrays over the slots of a chunk."""

    xl: np.ndarray  # log lo (−inf: lo = 0, i.e. θ* itself)
    el: np.ndarray
    xh: np.ndarray  # log hi (+inf: no crossing found yet)
    eh: np.ndarray
    x1: np.ndarray  # the two evaluated points nearest the exit (smallest |e|)
    e1: np.ndarray
    x2: np.ndarray
    e2: np.ndarray
    status: np.ndarray  # ACTIVE or an index into STATUS_NAMES
    stalls: np.ndarray  # iterations in a row in which the bracket did not halve
    width: np.ndarray


def new_state(m: int) -> State:
    """m active slots with no bracket ([−inf, +inf]) and no points."""
    inf = np.full(m, np.inf)
    return State(
        xl=-inf.copy(),
        el=-inf.copy(),
        xh=inf.copy(),
        eh=inf.copy(),
        x1=np.full(m, np.nan),
        e1=inf.copy(),
        x2=np.full(m, np.nan),
        e2=inf.copy(),
        status=np.full(m, ACTIVE, np.int8),
        stalls=np.zeros(m, np.int64),
        width=inf.copy(),
    )


def update(state: State, slot: np.ndarray, x: np.ndarray, e: np.ndarray) -> State:
    """Fold evaluated points (slot, x, e), each (P,), into the brackets and the two nearest points."""
    new = _update_brackets(state, slot, x, e)
    fin = np.isfinite(e)
    return _nearest_two(new, slot[fin], x[fin], e[fin])


def _update_brackets(state: State, slot: np.ndarray, x: np.ndarray, e: np.ndarray) -> State:
    """New brackets from points (slot, x, e): xh = the smallest x with e > 0 if below the old xh
    (which drops a lo at or above it); xl = the largest x with e ≤ 0 below the new xh, if above
    the old xl."""
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


def _nearest_two(state: State, slot: np.ndarray, x: np.ndarray, e: np.ndarray) -> State:
    """(x1, e1), (x2, e2) of each slot: the two points of smallest |e| at distinct x among its
    current two and the finite points (slot, x, e); x2 = NaN, e2 = inf if there is only one."""
    if slot.size == 0:
        return state
    # candidates per slot: current two nearest plus this iteration's points
    order = np.lexsort((np.abs(e), slot))
    slot, x, e = slot[order], x[order], e[order]
    uniq, start, counts = np.unique(slot, return_index=True, return_counts=True)
    width = counts.max() + 2
    cx = np.full((uniq.size, width), np.nan)
    ce = np.full((uniq.size, width), np.inf)
    cx[:, 0], ce[:, 0] = state.x1[uniq], state.e1[uniq]
    cx[:, 1], ce[:, 1] = state.x2[uniq], state.e2[uniq]
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
    x1, e1, x2, e2 = state.x1.copy(), state.e1.copy(), state.x2.copy(), state.e2.copy()
    x1[uniq], e1[uniq] = bx1, be1
    x2[uniq] = np.where(has2, cx[rows, second], np.nan)
    e2[uniq] = np.where(has2, ce[rows, second], np.inf)
    return state._replace(x1=x1, e1=e1, x2=x2, e2=e2)


def track_progress(before: State, after: State, slot: np.ndarray) -> State:
    """Count iterations in which a slot's bracket did not halve (two in a row force a bisection).

    For the slots in ``slot`` with both bounds finite: stalls = 0 if xh − xl at most halved, else
    stalls + 1; a count reaching 3 starts again at 0.
    """
    with np.errstate(invalid="ignore"):
        old = np.where(np.isfinite(before.xh - before.xl), before.xh - before.xl, np.inf)
        new = after.xh - after.xl
        shrunk = np.isfinite(new) & (new <= 0.5 * old)
    touched = np.zeros(after.xl.size, bool)
    touched[slot] = True
    both = np.isfinite(after.xl) & np.isfinite(after.xh)
    stalls = np.where(touched & both, np.where(shrunk, 0, after.stalls + 1), after.stalls)
    return after._replace(stalls=np.where(stalls >= 3, 0, stalls))


def reopen(state: State, slots: np.ndarray, xl: np.ndarray, el: np.ndarray) -> State:
    """Search ``slots`` again with the lower bound (xl, el) (an earlier crossing was found below
    their exit: their xh already moved down to it): status active, no stalls, and the bracket
    ends as the two nearest points (the old ones belonged to the later crossing)."""
    new = {name: getattr(state, name).copy() for name in ("xl", "el", "x1", "e1", "x2", "e2", "status", "stalls")}
    new["xl"][slots], new["el"][slots] = xl, el
    new["status"][slots] = ACTIVE
    new["stalls"][slots] = 0
    lo_ok = np.isfinite(xl) & np.isfinite(el)
    hi_ok = np.isfinite(state.xh[slots]) & np.isfinite(state.eh[slots])
    new["x1"][slots] = np.where(hi_ok, state.xh[slots], np.where(lo_ok, xl, np.nan))
    new["e1"][slots] = np.where(hi_ok, state.eh[slots], np.where(lo_ok, el, np.inf))
    new["x2"][slots] = np.where(hi_ok & lo_ok, xl, np.nan)
    new["e2"][slots] = np.where(hi_ok & lo_ok, el, np.inf)
    return state._replace(**new)


def fill_gaps(group: np.ndarray, r: np.ndarray, upper: np.ndarray, spacing: np.ndarray):
    """Points that leave no gap wider than ``spacing[g]`` in [0, upper[g]] for each group g.

    ``group``, ``r`` (P,): the points already there (radii in [0, upper[group]]); ``upper``,
    ``spacing`` (G,). Each gap (a, b) between consecutive points (0 and upper[g] included) wider
    than spacing[g] gets the c = ceil((b − a)/spacing[g]) − 1 points a + (b − a)·j/(c + 1),
    j = 1..c (the fewest evenly spaced points that split it into parts of at most spacing[g]).
    Returns the new points as (group, r), each (P',); none where no gap is too wide.
    """
    count_groups = upper.size
    g = np.concatenate([group, np.arange(count_groups), np.arange(count_groups)])
    rr = np.concatenate([r, np.zeros(count_groups), upper])
    order = np.lexsort((rr, g))
    g, rr = g[order], rr[order]
    same = g[1:] == g[:-1]
    a, gap_group = rr[:-1][same], g[:-1][same]
    width = rr[1:][same] - a
    with np.errstate(invalid="ignore", divide="ignore"):
        parts = np.ceil(width / spacing[gap_group] * (1 - 1e-12))
    count = np.where(np.isfinite(parts) & (parts > 1), parts - 1, 0).astype(np.int64)
    gap = np.repeat(np.arange(a.size), count)
    j = np.arange(gap.size) - np.repeat(np.cumsum(count) - count, count) + 1
    return gap_group[gap], a[gap] + width[gap] * j / (count[gap] + 1)


def settle(state: State, tol_x: float, x_max: float) -> State:
    """Mark active slots whose bracket is narrow enough (xh − xl ≤ tol_x: resolved) or that
    reached x_max without a crossing (censored)."""
    active = state.status == ACTIVE
    with np.errstate(invalid="ignore"):
        done = active & np.isfinite(state.xh) & np.isfinite(state.xl) & (state.xh - state.xl <= tol_x)
    censored = active & ~np.isfinite(state.xh) & (state.xl >= x_max - 1e-12)
    status = state.status.copy()
    status[done], status[censored] = RESOLVED, CENSORED
    return state._replace(status=status)


def secant(xa, ea, xb, eb):
    """Root x̂ = xa − ea/s of the line through (xa, ea) and (xb, eb), s = (eb − ea)/(xb − xa), and
    the slope s; both NaN where the root is not finite or s ≤ 0 (broadcast shapes)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (eb - ea) / (xb - xa)
        root = xa - ea / slope
    ok = np.isfinite(root) & (slope > 0)
    return np.where(ok, root, np.nan), np.where(ok, slope, np.nan)


def final_radii(state: State, status: np.ndarray, x_max: float):
    """Radius, lower and upper bound (m,) of each slot.

    radius = exp of the secant root through the bracket ends if it lies inside the bracket, else
    of its middle; censored: max_radius; unresolved without either: hi (or lo); outside: all 0.
    """
    lower = np.where(np.isfinite(state.xl), np.exp(state.xl), 0.0)
    upper = np.exp(state.xh)
    root, _ = secant(state.xl, state.el, state.xh, state.eh)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(root) & (root >= state.xl) & (root <= state.xh)
        middle = np.where(np.isfinite(state.xl) & np.isfinite(state.xh), 0.5 * (state.xl + state.xh), np.nan)
    radii = np.exp(np.where(inside, root, middle))
    radii = np.where(status == CENSORED, np.exp(x_max), radii)
    unresolved = (status == UNRESOLVED) & ~np.isfinite(radii)
    radii = np.where(unresolved, np.where(np.isfinite(upper), upper, lower), radii)
    out = status == OUTSIDE
    return np.where(out, 0.0, radii), np.where(out, 0.0, lower), np.where(out, 0.0, upper)


# ============================================================================ proposals


class Proposal(NamedTuple):
    """Points to evaluate: slot (P,) and log radius x (P,)."""

    slot: np.ndarray
    x: np.ndarray


class _Slots(NamedTuple):
    """The active slots' view of the state and their priors: (S,) arrays over S active slots."""

    slot: np.ndarray  # index of each active slot in the state
    xl: np.ndarray
    xh: np.ndarray
    eh: np.ndarray
    x1: np.ndarray
    e1: np.ndarray
    x2: np.ndarray
    e2: np.ndarray
    stalls: np.ndarray
    has_lo: np.ndarray  # xl finite
    has_hi: np.ndarray  # xh finite
    prior: np.ndarray  # index of the slot's prior
    start: np.ndarray  # median of earlier exits, else log initial radius
    curvature: np.ndarray  # the prior's secant error constant K (2 without a prior)
    lo_edge: np.ndarray  # xl; without lo: xh − log 10 (or −inf)
    hi_edge: np.ndarray  # xh; without hi: xl + log 10 (or +inf)


class _Estimate(NamedTuple):
    """An estimate x̂ (S,) of each active slot's exit (NaN: none yet), its error (inf: unknown),
    and whether it comes from a model of evaluated points (accurate enough to certify)."""

    x: np.ndarray
    error: np.ndarray
    informed: np.ndarray


def propose(
    state: State,
    active: np.ndarray,
    priors: list[Prior | None],
    prior_index: np.ndarray,
    tol_x: float,
    x_min: float,
    x_max: float,
    metric: str,
) -> Proposal:
    """Next points for the active slots (one or two each; see the module docstring).

    ``active``: (m,) mask; ``prior_index``: (m,) index into ``priors`` of each slot.
    """
    slots = _active_slots(state, active, priors, prior_index, x_min)
    est = _secant_step(slots)
    est = _one_point_step(slots, est, priors, metric, tol_x)
    est = _start_step(slots, est)
    est = _discard_outside_bracket(slots, est, tol_x)
    fallback = _fallback_point(slots)
    est = _safeguard(slots, est, fallback, tol_x, x_max)
    est = _bisect_stalled(slots, est)
    first, second = _place_points(slots, est, tol_x)
    first, second = _keep_in_bracket(slots, first, second, fallback, x_max)
    slot = np.concatenate([slots.slot, slots.slot])
    xs = np.concatenate([first, second])
    keep = np.isfinite(xs)
    return Proposal(slot[keep], xs[keep])


def _active_slots(state: State, active: np.ndarray, priors: list[Prior | None], prior_index, x_min: float) -> _Slots:
    """The :class:`_Slots` of the active slots."""
    s = np.flatnonzero(active)
    xl, xh = state.xl[s], state.xh[s]
    has_lo, has_hi = np.isfinite(xl), np.isfinite(xh)
    pidx = prior_index[s]
    median = np.array([np.nan if p is None else p.median for p in priors])[pidx]
    curvature = np.array([2.0 if p is None else p.curvature for p in priors])[pidx]
    return _Slots(
        slot=s,
        xl=xl,
        xh=xh,
        eh=state.eh[s],
        x1=state.x1[s],
        e1=state.e1[s],
        x2=state.x2[s],
        e2=state.e2[s],
        stalls=state.stalls[s],
        has_lo=has_lo,
        has_hi=has_hi,
        prior=pidx,
        start=np.where(np.isfinite(median), median, x_min),
        curvature=curvature,
        lo_edge=np.where(has_lo, xl, np.where(has_hi, xh - _LOG_GROWTH, -np.inf)),
        hi_edge=np.where(has_hi, xh, np.where(has_lo, xl + _LOG_GROWTH, np.inf)),
    )


def _secant_step(slots: _Slots) -> _Estimate:
    """Slots with two nearest points: x̂ = the secant root through (x1, e1), (x2, e2) (where the
    slope is positive), error K·|x̂ − x1|·|x̂ − x2| (K: the prior's curvature), informed.
    Other slots: no estimate."""
    n = slots.slot.size
    x, error, informed = np.full(n, np.nan), np.full(n, np.inf), np.zeros(n, bool)
    two = np.isfinite(slots.x1) & np.isfinite(slots.x2) & np.isfinite(slots.e1) & np.isfinite(slots.e2)
    root, _ = secant(slots.x1, slots.e1, slots.x2, slots.e2)
    use = two & np.isfinite(root)
    x[use] = root[use]
    error[use] = slots.curvature[use] * np.abs(root[use] - slots.x1[use]) * np.abs(root[use] - slots.x2[use])
    informed |= use
    return _Estimate(x, error, informed)


def _one_point_step(slots: _Slots, est: _Estimate, priors: list[Prior | None], metric: str, tol_x: float):
    """Loss slots without an estimate but with one point (x1, e1).

    With a fitted profile: x̂ = x1 − Δ where a1 Δ + a2 Δ² + a3 Δ³ = e1, error = the prior's error,
    informed. Without one, the power law e ≈ 2 (x − x_exit) of a quadratic minimum: x̂ = x1 − e1/2,
    error |e1/2|/2 + tol_x, not informed. Accuracy slots are left without an estimate.
    """
    if metric != "loss":
        return est
    x, error, informed = est.x.copy(), est.error.copy(), est.informed.copy()
    one = ~np.isfinite(est.x) & np.isfinite(slots.x1) & np.isfinite(slots.e1)
    x1, e1 = slots.x1, slots.e1
    for k in np.unique(slots.prior[one]):
        prior = priors[k]
        rows = np.flatnonzero(one & (slots.prior == k))
        if prior is not None and np.isfinite(prior.coefficients[0]):
            delta = invert_profile(prior.coefficients, e1[rows])
            x[rows] = x1[rows] - delta
            error[rows] = prior.error
            informed[rows] = True
        else:
            slope = 2.0
            x[rows] = x1[rows] - e1[rows] / slope
            error[rows] = np.abs(e1[rows] / slope) * 0.5 + tol_x
    return _Estimate(x, error, informed)


def _start_step(slots: _Slots, est: _Estimate) -> _Estimate:
    """Slots with nothing yet (no estimate, no bound, no point): x̂ = the start (median of earlier
    exits, else log initial radius), error inf."""
    fresh = ~np.isfinite(est.x) & ~slots.has_lo & ~slots.has_hi & ~np.isfinite(slots.x1)
    x, error = est.x.copy(), est.error.copy()
    x[fresh] = slots.start[fresh]
    error[fresh] = np.inf
    return est._replace(x=x, error=error)


def _discard_outside_bracket(slots: _Slots, est: _Estimate, tol_x: float) -> _Estimate:
    """No estimate where x̂ < xl or x̂ > xh, or where the value at hi is not finite: the model
    does not hold there (a non-monotone ray, or a loss that is not finite beyond hi). Estimates
    beyond a bound by at most max(error, tol_x) are moved onto it instead: they say the exit is
    next to that bound (a point evaluated almost at the exit), which one more point can certify."""
    reach = np.where(np.isfinite(est.error), np.maximum(est.error, tol_x), tol_x)
    with np.errstate(invalid="ignore"):
        onto_lo = slots.has_lo & (est.x <= slots.xl) & (est.x >= slots.xl - reach)
        onto_hi = slots.has_hi & (est.x >= slots.xh) & (est.x <= slots.xh + reach)
        x = np.where(onto_lo, slots.xl, np.where(onto_hi, slots.xh, est.x))
        invalid = (
            (slots.has_lo & (x < slots.xl)) | (slots.has_hi & (x > slots.xh)) | (slots.has_hi & ~np.isfinite(slots.eh))
        )
    error = est.error.copy()
    x[invalid] = np.nan
    error[invalid] = np.inf
    return _Estimate(x, error, est.informed & ~invalid)


def _fallback_point(slots: _Slots) -> np.ndarray:
    """The point without an estimate: bisection (xl + xh)/2 with both bounds, growth xl + log 4
    from lo alone, shrinking xh − log 4 from hi alone, else the start."""
    with np.errstate(invalid="ignore"):
        middle = 0.5 * (slots.xl + slots.xh)
    return np.where(
        slots.has_lo & slots.has_hi,
        middle,
        np.where(slots.has_lo, slots.xl + _LOG_STEP, np.where(slots.has_hi, slots.xh - _LOG_STEP, slots.start)),
    )


def _safeguard(slots: _Slots, est: _Estimate, fallback: np.ndarray, tol_x: float, x_max: float) -> _Estimate:
    """x̂ (the fallback point where missing) clipped to [lo_edge + m, hi_edge − m] and to x_max,
    with the margin m = min(0.02·(xh − xl), 0.1·tol_x) inside a full bracket (else 0)."""
    x = np.where(~np.isfinite(est.x), fallback, est.x)
    with np.errstate(invalid="ignore"):
        margin = np.where(slots.has_lo & slots.has_hi, np.minimum(0.02 * (slots.xh - slots.xl), 0.1 * tol_x), 0.0)
    x = np.clip(x, slots.lo_edge + margin, slots.hi_edge - margin)
    return est._replace(x=np.minimum(x, x_max))


def _bisect_stalled(slots: _Slots, est: _Estimate) -> _Estimate:
    """Bisection x̂ = (xl + xh)/2 (error inf, uninformed) for brackets that stopped shrinking
    (two iterations in a row without halving)."""
    stalled = slots.has_lo & slots.has_hi & (slots.stalls >= 2)
    x, error = est.x.copy(), est.error.copy()
    x[stalled] = 0.5 * (slots.xl[stalled] + slots.xh[stalled])
    error[stalled] = np.inf
    return _Estimate(x, error, est.informed & ~stalled)


def _place_points(slots: _Slots, est: _Estimate, tol_x: float) -> tuple[np.ndarray, np.ndarray]:
    """First and second point (S,) of each slot (NaN: none), with the margin m = max(2.5·error,
    0.02·tol_x) and the span 0.95·tol_x.

    Informed estimates certify the bracket: lo close (x̂ + m − xl ≤ span): one point
    min(x̂ + m, xl + span); hi close (xh − (x̂ − m) ≤ span): one point max(x̂ − m, xh − span);
    else, if m ≤ 0.4·tol_x, the pair x̂ ± 0.45·tol_x. Every other slot: one search point
    (:func:`_search_point`).
    """
    x, has_lo, has_hi, xl, xh = est.x, slots.has_lo, slots.has_hi, slots.xl, slots.xh
    margin = np.maximum(2.5 * est.error, 0.02 * tol_x)
    span = 0.95 * tol_x
    lo_close = has_lo & (x + margin - xl <= span) & est.informed
    hi_close = has_hi & (xh - (x - margin) <= span) & est.informed & ~lo_close
    pair = est.informed & ~lo_close & ~hi_close & (margin <= 0.4 * tol_x)
    single = ~lo_close & ~hi_close & ~pair
    first = np.full(x.size, np.nan)
    second = np.full(x.size, np.nan)
    first[lo_close] = np.minimum(x[lo_close] + margin[lo_close], xl[lo_close] + span)
    first[hi_close] = np.maximum(x[hi_close] - margin[hi_close], xh[hi_close] - span)
    half = 0.45 * tol_x
    first[pair] = x[pair] - half
    second[pair] = x[pair] + half
    first[single] = _search_point(slots, est)[single]
    return first, second


def _search_point(slots: _Slots, est: _Estimate) -> np.ndarray:
    """One point per slot: x̂, pushed past it towards a missing bound by min(error, log 10)
    (0 if the error is unknown, or for an informed estimate: landing next to the exit lets one
    more point certify it, and a point on the same side still gives an informed secant step):
    up to min(x̂ + push, hi_edge) without hi, down to max(x̂ − push, lo_edge) with hi but
    without lo."""
    push = np.where(np.isfinite(est.error) & ~est.informed, np.minimum(est.error, _LOG_GROWTH), 0.0)
    point = est.x.copy()
    up = ~slots.has_hi
    down = slots.has_hi & ~slots.has_lo
    point[up] = np.minimum(est.x[up] + push[up], slots.hi_edge[up])
    point[down] = np.maximum(est.x[down] - push[down], slots.lo_edge[down])
    return point


def _keep_in_bracket(slots: _Slots, first: np.ndarray, second: np.ndarray, fallback: np.ndarray, x_max: float):
    """Points capped at x_max and dropped (NaN) at or beyond a bound; a slot left without any
    point gets the fallback point (capped at x_max)."""
    first = np.minimum(first, x_max)
    second = np.minimum(second, x_max)
    for points in (first, second):
        outside = (slots.has_lo & (points <= slots.xl)) | (slots.has_hi & (points >= slots.xh))
        points[outside] = np.nan
    lost = np.isnan(first) & np.isnan(second)
    first[lost] = np.minimum(fallback[lost], x_max)
    return first, second
