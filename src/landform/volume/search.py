"""Exit radii by a bracketing root finder, vectorised in lockstep over (ray, landscape, threshold).

Each triple (a *slot*) keeps its own bracket [lo, hi] with L(θ* + lo·d) ≤ τ < L(θ* + hi·d) and is
resolved when hi/lo ≤ 1 + tolerance; it then reports an interpolated radius inside the bracket, so
its relative error is below the tolerance. Points are chosen in x = log r on the excess
e(x) = log(L − L(θ*)) − log(τ − L(θ*)) (zero at the exit, about linear in x near a power-law
minimum): secant steps on the two points nearest the exit, safeguarded by the bracket and by
bisection when a bracket stops shrinking; once the estimate is accurate, a pair of points a
tolerance apart around it (or one point next to a bound already close) certifies the bracket (the
steps are in :mod:`landform.volume.bracket`).

Rays are processed in chunks; exit radii of one minimum concentrate, so after a first pilot chunk
found by geometric bracketing from a small radius, each later ray starts at the median of the
earlier exits and its next point comes from the *common profile* e(x − x_exit) fitted to the
earlier rays' evaluations. Every evaluation of a ray on n_q examples updates the brackets of all
thresholds and of all landscapes of at most n_q examples (nested landscapes are prefix means of one
evaluation); points needed only by a smaller landscape are evaluated on that landscape's examples
alone.

- First crossings. The exit radius is the *first* r with L > τ, but a search that jumps (growth
  steps, secant steps, a start at earlier rays' exits) can bracket a later crossing when the ray
  leaves the set, re-enters it and leaves again. So once a slot is resolved, its interval [0, lo]
  is checked: points are added below lo until the radii evaluated there (all inside the set),
  0 and lo leave no gap wider than ``resolution``·lo; these points go into the same batched
  evaluations as the other slots' search steps, and every point already evaluated on the ray
  counts. A point found outside the set means an earlier crossing: the slot is searched again
  below the first such point, then checked again. The result is the first crossing up to
  ``resolution``: only a stretch outside the set narrower than ``resolution``·lo can lie below
  the reported exit (see :func:`exit_radii`). Checking costs about ceil(1/resolution) − 1
  evaluations per ray and threshold (any k points below lo leave a gap of at least lo/(k + 1)).
- Cost: on a trained MNIST MLP (235k parameters) rays after the pilot need about 4 evaluations of
  the 6,000-example landscape to find the exit at tolerance 1e-3, plus the check (about 5 more at
  the default resolution 0.15: 9.9 per ray in all, 5.0 at 0.5), against 100 for the paper's grid
  (see ``benchmarks/volume_vs_grid.py``: 40× faster than the grid protocol on that landscape at
  0.15, 38× at 0.5, in one run on a shared machine).
  When the model's first layer is reused along rays (:class:`landform.landscape.Span`), the first
  evaluation of a ray costs about one full evaluation and every further one only the rest of the
  network (15 % for that MLP; ``benchmarks/first_layer_reuse.py``).
- Accuracy of a log-volume: log V = n·log ρ + ..., so a relative radius error ε moves it by about
  n·ε; the reported radius is interpolated inside the certified bracket and is usually far more
  accurate than the tolerance, but for volume comparisons in n dimensions choose tolerances with
  n·tolerance in mind.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.directions import Directions
from landform.errors import ConfigError
from landform.landscape import Landscape
from landform.volume.bracket import (
    ACTIVE,
    Prior,
    Proposal,
    State,
    fill_gaps,
    final_radii,
    fit_prior,
    new_state,
    propose,
    reopen,
    settle,
    track_progress,
    update,
)
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

__all__ = ["exit_radii"]

DEFAULT_RESOLUTION = 0.15
"""Default ``resolution`` of :func:`exit_radii`: an excursion outside the set narrower than 15 % of
the exit radius may be missed below it. 0.5 (the earlier default) missed the first crossing on
about 40 % of the rays of L(r) = ½r² + 2·exp(−((r − 1)/0.1)²), τ = 1, whose excursion spans 17 %
of the later exit; 0.15 finds it on every ray at about 6 check evaluations per ray."""


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
    resolution: float = DEFAULT_RESOLUTION,
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
        max_iterations: per chunk; triples not resolved and checked by then get status
            "unresolved".
        resolution: the guarantee that the reported radius is the *first* crossing, as a fraction
            of the exit radius, in (0, 1]. For every resolved ray (and every censored one, with
            lo = max_radius) the radii evaluated below its lower bound lo are all inside the set
            and, with 0 and lo, leave no gap wider than resolution·lo. Hence any stretch of the
            ray outside the set below the reported exit (the ray left the set, came back and left
            again) is narrower than resolution·lo: every wider one is found, and the search
            restarts below it. With the default 0.15 (:data:`DEFAULT_RESOLUTION`), a ray that
            leaves the set for more than 15 % of its exit radius before its later exit reports
            the earlier crossing (0.5, the earlier default, missed a re-entry spanning 17 % of
            the exit radius on about 40 % of the rays). Costs about
            ceil(1/resolution) − 1 evaluations per ray and threshold (fewer where the search's own
            points already fill the gaps); 1 turns the check off and trusts the crossing found,
            as the grid protocol trusts its grid.
        verify: if > 0, also evaluate ``verify`` radii evenly spaced below the exit
            (lo·j/(verify + 1)) once per search of a ray, in the same batch as its check; one
            found outside the set restarts the search below it, as for ``resolution``.

    Returns:
        :class:`ExitRadii` with shape (K, Q, T) arrays, Q = len(sizes), T = len(thresholds).
    """
    indices, thresholds, sizes, theta = check_common(landscape, directions, indices, thresholds, sizes, metric, theta)
    if not 0 < tolerance < 1:
        raise ConfigError(f"tolerance must be in (0, 1), got {tolerance}")
    if not max_radius > 0:
        raise ConfigError(f"max_radius must be positive, got {max_radius}")
    asc, q_of = ascending_sizes(sizes)
    evaluator = Evaluator(landscape, asc, metric, theta)
    centers, outside_by = center_values(evaluator, thresholds, metric)
    chunk = chunk_size_for(landscape, landscape.dim, chunk_size, evaluator.span_bytes)
    if initial_radius is None:
        initial_radius = _default_initial_radius(directions, indices, theta)
    if not initial_radius > 0:
        raise ConfigError(f"initial_radius must be positive, got {initial_radius}")
    if verify < 0:
        raise ConfigError(f"verify must be a non-negative number of points, got {verify}")
    if not 0 < resolution <= 1:
        raise ConfigError(
            f"resolution must be in (0, 1] (a fraction of the exit radius; 1 turns the check off), got {resolution}"
        )
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
        resolution=float(resolution),
        verify=int(verify),
    )
    per_ray, scale, evaluations, example_evaluations, iterations = _search_in_chunks(search, directions, indices, chunk)
    settings = RadiusSettings(
        method="search",
        metric=metric,
        tolerance=float(tolerance),
        max_radius=float(max_radius),
        initial_radius=float(initial_radius),
        chunk_size=chunk,
        max_iterations=int(max_iterations),
        coefficients=None,
        verify=int(verify),
        resolution=float(resolution),
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
        iterations,
        settings,
    )


def _default_initial_radius(directions: Directions, indices: np.ndarray, theta: jax.Array) -> float:
    """1e-3 · max(‖θ*‖, 1) / ‖d_0‖, with d_0 the first direction measured."""
    d0 = float(jnp.linalg.norm(directions.batch(indices[:1])[0]))
    return 1e-3 * max(float(jnp.linalg.norm(theta)), 1.0) / max(d0, 1e-30)


def _chunks(count: int, chunk: int) -> Iterator[tuple[int, int, int]]:
    """(start, stop, width) of each chunk of rays: a pilot of 8, then 4× larger up to ``chunk``."""
    start, width = 0, min(8, chunk)
    while start < count:
        yield start, min(count, start + width), width
        start += width
        width = min(chunk, width * 4)


def _search_in_chunks(search: _Search, directions: Directions, indices: np.ndarray, chunk: int):
    """Search all K rays chunk by chunk, each chunk starting from what the earlier ones taught.

    Returns (radii, lower, upper, status) as (K, Q, T) arrays in ascending size order, the sphere
    scales (K,), evaluations (K,), example evaluations (K,) and the total number of iterations.
    """
    Q, T, K = search.centers.size, search.thresholds.size, indices.size
    radii, lower, upper = (np.zeros((K, Q, T)) for _ in range(3))
    status = np.zeros((K, Q, T), np.int8)
    scale = np.zeros(K)
    evaluations = np.zeros(K, np.int64)
    example_evaluations = np.zeros(K, np.int64)
    experience = _Experience(Q * T, search.metric)
    iterations = 0
    for start, stop, width in _chunks(K, chunk):
        dirs, scale[start:stop] = direction_block(directions, indices[start:stop], width)
        out = search.run(dirs, stop - start, experience.priors())
        shape = (stop - start, Q, T)
        radii[start:stop] = out.radii.reshape(shape)
        lower[start:stop] = out.lower.reshape(shape)
        upper[start:stop] = out.upper.reshape(shape)
        status[start:stop] = out.status.reshape(shape)
        evaluations[start:stop] = out.evaluations
        example_evaluations[start:stop] = out.example_evaluations
        iterations += out.iterations
        experience.learn(out)
    return (radii, lower, upper, status), scale, evaluations, example_evaluations, iterations


class _ChunkResult(NamedTuple):
    """What the search of one chunk of k rays (m = k·Q·T slots) found."""

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


class _Experience:
    """What earlier chunks taught, per (landscape, threshold) j = q·T + t: the log exits of their
    resolved rays, and the points (Δ = x − x_exit, e) those rays evaluated."""

    def __init__(self, count: int, metric: str):
        self.metric = metric
        self.exits: list[list[np.ndarray]] = [[] for _ in range(count)]
        self.history: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(count)]

    def priors(self) -> list[Prior | None]:
        """The :class:`Prior` of each (landscape, threshold) (None before 3 resolved rays)."""
        return [
            fit_prior(np.concatenate(exits) if exits else np.zeros(0), history, self.metric)
            for exits, history in zip(self.exits, self.history)
        ]

    def learn(self, out: _ChunkResult) -> None:
        """Add a chunk's resolved exits and the profile e(x − x_exit) of its rays."""
        count = len(self.exits)
        log_exit = np.log(np.maximum(out.radii, 1e-300))
        for j in range(count):
            mine = (out.status == RESOLVED) & (np.arange(out.status.size) % count == j)
            if mine.any():
                self.exits[j].append(log_exit[mine])
                sel = mine[out.record_slot]
                self.history[j].append((out.record_x[sel] - log_exit[out.record_slot[sel]], out.record_e[sel]))


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


class _Books(NamedTuple):
    """Per-chunk bookkeeping: which ray and landscape each slot is, what was evaluated, and
    which finished slots are checked below their exit."""

    ray_slot: np.ndarray  # (m,)
    q_slot: np.ndarray  # (m,)
    evaluations: np.ndarray  # (k,)
    example_evaluations: np.ndarray  # (k,)
    records: list  # (slot, x, e) of every evaluation, for every slot it covers
    checked: np.ndarray  # (m,) finished slots whose interval [0, lo] is checked
    verify_due: np.ndarray  # (m,) finished slots whose ``verify`` points are still to be evaluated

    def all_records(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (slot, x, e) so far as three arrays (the list is merged in place)."""
        if not self.records:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
        if len(self.records) > 1:
            merged = tuple(np.concatenate([r[i] for r in self.records]) for i in range(3))
            self.records[:] = [merged]
        return self.records[0]


class _Checks(NamedTuple):
    """Points planned below the exits of finished slots: (P,) ray, x = log r and level each,
    and the (m,) mask of slots found checked (no point needed)."""

    ray: np.ndarray
    x: np.ndarray
    level: np.ndarray
    checked: np.ndarray


class _Search(NamedTuple):
    """The lockstep search over all (ray, landscape, threshold) slots of one chunk of rays."""

    evaluator: Evaluator
    centers: np.ndarray  # (Q,)
    thresholds: np.ndarray  # (T,)
    outside: np.ndarray  # (Q*T,) θ* outside the set
    metric: str
    tol_x: float
    x_min: float
    x_max: float
    max_iterations: int
    resolution: float
    verify: int

    def run(self, dirs: jax.Array, k: int, priors: list[Prior | None]) -> _ChunkResult:
        """Search the k rays ``dirs[:k]`` (m = k·Q·T slots) and check below their exits."""
        Q, T = self.centers.size, self.thresholds.size
        qt = np.tile(np.arange(Q * T), k)
        state = new_state(k * Q * T)
        state.status[np.tile(self.outside, k)] = OUTSIDE
        books = _Books(
            ray_slot=np.repeat(np.arange(k), Q * T),
            q_slot=qt // T,
            evaluations=np.zeros(k, np.int64),
            example_evaluations=np.zeros(k, np.int64),
            records=[],
            checked=np.zeros(k * Q * T, bool),
            verify_due=np.ones(k * Q * T, bool),
        )
        state, iterations = self._iterate(state, dirs, books, priors, qt)
        return self._finish(state, books, iterations)

    def _iterate(self, state: State, dirs, books: _Books, priors, qt: np.ndarray):
        """Propose, evaluate and update until every slot is finished and checked, or
        ``max_iterations`` (counted over the whole chunk) is reached; returns the state and the
        number of iterations.

        Each iteration evaluates, in one batch, the next points of the active slots and the check
        points below the exits of the slots that finished (:meth:`_plan_checks`). Every value
        updates every slot it covers, finished or not: a finished slot whose ray turns out to be
        outside below its exit is searched again below the first such point (:meth:`_reopen`).
        """
        iterations = 0
        while iterations < self.max_iterations:
            state = settle(state, self.tol_x, self.x_max)
            active = state.status == ACTIVE
            checks = self._plan_checks(state, books)
            books.checked[checks.checked] = True
            if not active.any() and checks.ray.size == 0:
                break
            iterations += 1
            if active.any():
                proposal = propose(state, active, priors, qt, self.tol_x, self.x_min, self.x_max, self.metric)
            else:
                proposal = Proposal(np.zeros(0, np.int64), np.zeros(0))
            ray, x, level = _dedupe(
                np.concatenate([books.ray_slot[proposal.slot], checks.ray]),
                np.concatenate([proposal.x, checks.x]),
                np.concatenate([books.q_slot[proposal.slot], checks.level]),
                0.02 * self.tol_x,
            )
            slot, xs, es = self._evaluate(dirs, ray, x, level, books)
            live = state.status != OUTSIDE
            slot, xs, es = slot[live[slot]], xs[live[slot]], es[live[slot]]
            updated = track_progress(state, update(state, slot, xs, es), slot)
            state = self._reopen(state, updated, books)
        return state, iterations

    def _plan_checks(self, state: State, books: _Books) -> _Checks:
        """Check points below the exits of finished (resolved or censored) slots not yet checked.

        For such a slot with lower bound lo (the largest radius evaluated inside below its
        crossing; max_radius for a censored slot) the points are: its ``verify`` points
        lo·j/(verify + 1), j = 1..verify, once per search; then the fewest points that leave no gap
        wider than resolution·lo between the radii evaluated on its ray below lo, 0 and lo
        (:func:`landform.volume.bracket.fill_gaps`). All points below the upper bound of a slot are
        inside (else that bound would be lower), so a slot needing no point is checked. The points
        of one ray are planned together, slots in ascending lo: those planned for a slot serve
        the next ones (as if inside; one found outside reopens the slots it covers).
        """
        finished = (state.status == RESOLVED) | (state.status == CENSORED)
        pending = np.flatnonzero(finished & ~books.checked)
        empty = np.zeros(0, np.int64)
        if pending.size == 0:
            return _Checks(empty, np.zeros(0), empty, empty)
        lo = np.exp(state.xl[pending])
        spacing = self.resolution * lo
        ray, level = books.ray_slot[pending], books.q_slot[pending]
        # the radii evaluated below each pending slot's lo (row = position in ``pending``)
        row_of = np.full(state.xl.size, -1)
        row_of[pending] = np.arange(pending.size)
        rec_slot, rec_x, _ = books.all_records()
        mine = row_of[rec_slot] >= 0
        mine[mine] &= rec_x[mine] < state.xl[rec_slot[mine]]
        known_row, known_r = row_of[rec_slot[mine]], np.exp(rec_x[mine])
        # the verify points, once per search of a slot
        due = np.flatnonzero(books.verify_due[pending]) if self.verify else np.zeros(0, np.int64)
        books.verify_due[pending[due]] = False
        fractions = np.arange(1, self.verify + 1) / (self.verify + 1)
        plan_row = np.repeat(due, fractions.size)
        plan_r = lo[plan_row] * np.tile(fractions, due.size)
        # slots of one ray in ascending lo: rank k is the k-th pending slot of its ray
        order = np.lexsort((lo, ray))
        first_of_ray = np.ones(order.size, bool)
        first_of_ray[1:] = ray[order][1:] != ray[order][:-1]
        starts = np.flatnonzero(first_of_ray)
        rank = np.empty(order.size, np.int64)
        rank[order] = np.arange(order.size) - np.repeat(starts, np.diff(np.append(starts, order.size)))
        row_of_ray = np.full(books.evaluations.size, -1)
        for k in range(int(rank.max()) + 1):
            rows = np.flatnonzero(rank == k)
            row_of_ray[:] = -1
            row_of_ray[ray[rows]] = rows
            # planned points of the same ray that this rank's slot can use: evaluated on enough
            # examples and below its lo
            target = row_of_ray[ray[plan_row]]
            usable = (target >= 0) & (level[plan_row] >= level[np.maximum(target, 0)])
            usable[usable] &= plan_r[usable] < lo[target[usable]]
            own = np.isin(known_row, rows)
            group = np.concatenate([known_row[own], target[usable]])
            radii = np.concatenate([known_r[own], plan_r[usable]])
            index = np.full(pending.size, -1)
            index[rows] = np.arange(rows.size)
            new_group, new_r = fill_gaps(index[group], radii, lo[rows], spacing[rows])
            plan_row = np.concatenate([plan_row, rows[new_group]])
            plan_r = np.concatenate([plan_r, new_r])
        needed = np.zeros(pending.size, bool)
        needed[plan_row] = True
        return _Checks(ray[plan_row], np.log(plan_r), level[plan_row], pending[~needed])

    def _reopen(self, before: State, after: State, books: _Books) -> State:
        """Finished slots whose upper bound moved down (a point below their exit was outside)
        are searched again, from the largest radius evaluated inside below that point."""
        finished = (before.status == RESOLVED) | (before.status == CENSORED)
        with np.errstate(invalid="ignore"):
            moved = np.flatnonzero(finished & (after.xh < before.xh))
        if moved.size == 0:
            return after
        books.checked[moved] = False
        books.verify_due[moved] = True
        rec_slot, rec_x, rec_e = books.all_records()
        xl, el = np.full(moved.size, -np.inf), np.full(moved.size, -np.inf)
        row_of = np.full(after.xl.size, -1)
        row_of[moved] = np.arange(moved.size)
        row = row_of[rec_slot]
        below = row >= 0
        below[below] &= rec_x[below] < after.xh[rec_slot[below]]
        if below.any():  # every point below the new upper bound is inside: the largest is lo
            order = np.lexsort((rec_x[below], row[below]))
            rows, xs, es = row[below][order], rec_x[below][order], rec_e[below][order]
            last = np.flatnonzero(np.append(rows[1:] != rows[:-1], True))
            xl[rows[last]], el[rows[last]] = xs[last], es[last]
        return reopen(after, moved, xl, el)

    def _finish(self, state: State, books: _Books, iterations: int) -> _ChunkResult:
        """Radii and bounds of every slot (slots still active, or finished but not checked, are
        unresolved) and the records."""
        state = settle(state, self.tol_x, self.x_max)
        status = state.status.copy()
        finished = (status == RESOLVED) | (status == CENSORED)
        status[(status == ACTIVE) | (finished & ~books.checked)] = UNRESOLVED
        radii, lower, upper = final_radii(state, status, self.x_max)
        rec_slot, rec_x, rec_e = books.all_records()
        return _ChunkResult(
            radii,
            lower,
            upper,
            status,
            books.evaluations,
            books.example_evaluations,
            iterations,
            rec_slot.astype(np.int64),
            rec_x,
            rec_e,
        )

    def _evaluate(self, dirs, ray, x, level, books: _Books):
        """Evaluate points (ray, log r, level); return the (slot, x, e) they give.

        A point evaluated on n_q examples informs every threshold of every landscape q' ≤ q.
        """
        Q, T = self.centers.size, self.thresholds.size
        values = self.evaluator(dirs, ray, np.exp(x), level)  # (P, Q), NaN above each level
        np.add.at(books.evaluations, ray, 1)
        np.add.at(books.example_evaluations, ray, np.asarray(self.evaluator.sizes)[level])
        e = excess(values[:, :, None], self.centers[None, :, None], self.thresholds[None, None, :], self.metric)
        slot = ray[:, None, None] * (Q * T) + np.arange(Q)[None, :, None] * T + np.arange(T)[None, None, :]
        covered = np.broadcast_to((np.arange(Q)[None, :] <= level[:, None])[:, :, None], e.shape)
        slot, xs, es = slot[covered], np.broadcast_to(x[:, None, None], e.shape)[covered], e[covered]
        books.records.append((slot, xs, es))
        return slot, xs, es
