"""Exit radii: how far each random ray from θ* stays inside the τ-sublevel set of a landscape.

For a landscape L, a centre θ*, a threshold τ and a direction d, the exit radius is

    r(d) = min { r > 0 : L(θ* + r·d) > τ },

the quantity the minima-volume method (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize: A
Loss Landscape Perspective on Data", arXiv 2511.04808) measures for thousands of random,
filter-normalised directions around each trained minimum, in several nested landscapes at once.
With the accuracy variant (``metric="correct"``) the exit is the first radius where the mean
accuracy drops *below* the level τ.

Two protocols measure it, each in its own module and both returning :class:`ExitRadii`:

- :func:`landform.volume.search.exit_radii` (the default): a bracketing root finder, vectorised in
  lockstep over every (ray, landscape, threshold) triple, that checks below each exit for an
  earlier crossing (first crossings up to a stated ``resolution``).
- :func:`landform.volume.grid.grid_radii`: the paper's protocol, the first of a fixed grid of
  radii where the ray is outside.

This module holds what they share: the result and its settings, :func:`save_radii` and
:func:`load_radii`, the checks of their inputs, and the evaluator of points θ* + r·d on nested
landscapes (a point evaluated on the n_q leading examples gives the value of every landscape of
at most n_q examples as prefix means, as in :meth:`landform.landscape.Landscape.prefix_losses_batch`).

Conventions shared by both protocols:

- If L(θ*) > τ on a landscape, θ* is not inside the τ-sublevel set: those entries get radius 0,
  status ``"outside"``, and :attr:`ExitRadii.outside_by` says by how much (L(θ*) − τ; for
  accuracy, τ − accuracy(θ*)). No −∞ and no silent drop.
- A ray still inside at ``max_radius`` is right-censored: radius = ``max_radius`` (a lower bound),
  status ``"censored"``, counted and kept.
- A loss that is NaN or infinite counts as outside the set.
- Cost: every evaluation of a ray is counted (:attr:`ExitRadii.evaluations`, and
  :attr:`ExitRadii.example_evaluations` weighted by the examples used).
"""

from __future__ import annotations

import io
import json
import math
import types
import typing
import weakref
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.directions import Directions
from landform.errors import ConfigError, NumericalError, ShapeError
from landform.files import atomic_write_bytes, atomic_write_text
from landform.landscape import Landscape, Span

__all__ = ["METRIC_NAMES", "STATUS_NAMES", "ExitRadii", "RadiusSettings", "load_radii", "save_radii"]

STATUS_NAMES = ("resolved", "censored", "outside", "unresolved")
RESOLVED, CENSORED, OUTSIDE, UNRESOLVED = 0, 1, 2, 3
METRIC_NAMES = ("loss", "correct")
ARRAYS_FILE, META_FILE = "radii.npz", "radii.json"


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
    # search only: no excursion outside the set wider than resolution × the exit radius is
    # missed below the exit; None: not checked (the grid protocol, results saved before)
    resolution: float | None = None


class ExitRadii(NamedTuple):
    """Exit radii of K rays in Q nested landscapes at T thresholds.

    Attributes:
        radii: (K, Q, T) radius along d_i: the exit point is θ* + r·d_i.
        sphere_radii: (K, Q, T) ρ = r · ‖v_i‖, the radius of the pulled-back set along the unit
            direction v_i/‖v_i‖ (see :mod:`landform.directions`; for ``none`` the
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
        log_jacobian: log ``|det D|`` of the direction normalisation (see ``directions``).
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


# ============================================================================ files


def save_radii(folder: str | Path, result: ExitRadii) -> None:
    """Write ``result`` into ``folder``: its array fields into ``radii.npz`` (one entry per field),
    every other field into ``radii.json`` (NamedTuples such as the settings as objects). Each file
    is written atomically (:mod:`landform.files`), so a reader never sees half a file; ``folder``
    is created if missing."""
    folder = Path(folder)
    hints = typing.get_type_hints(ExitRadii)
    arrays = {f: np.asarray(getattr(result, f)) for f in ExitRadii._fields if hints[f] is np.ndarray}
    meta = {f: _to_json(getattr(result, f)) for f in ExitRadii._fields if f not in arrays}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(folder / ARRAYS_FILE, buffer.getvalue())
    atomic_write_text(folder / META_FILE, json.dumps(meta, default=float))


def load_radii(folder: str | Path) -> ExitRadii:
    """The :class:`ExitRadii` that :func:`save_radii` wrote into ``folder`` (also the files of the
    volume study written before it existed: same names and keys). JSON values are converted to
    the types the fields declare (lists to tuples, objects to NamedTuples, missing NamedTuple
    fields take their defaults)."""
    folder = Path(folder)
    hints = typing.get_type_hints(ExitRadii)
    meta = json.loads((folder / META_FILE).read_text())
    fields = {}
    with np.load(folder / ARRAYS_FILE) as data:
        for f in ExitRadii._fields:
            fields[f] = data[f] if hints[f] is np.ndarray else _from_json(hints[f], meta[f])
    return ExitRadii(**fields)


def _to_json(value):
    """``value`` as JSON data: NamedTuples as objects (field → value), tuples as lists."""
    if hasattr(value, "_asdict"):
        return {k: _to_json(v) for k, v in value._asdict().items()}
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    return value


def _from_json(hint, value):
    """``value`` read from JSON as the type ``hint`` declares: optional, tuple[X, ...], NamedTuple
    (from an object), or a scalar type (str, int, float)."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return _from_json(inner, value)
    if origin is tuple:
        return tuple(_from_json(args[0], v) for v in value)
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        inner = typing.get_type_hints(hint)
        return hint(**{k: _from_json(inner[k], v) for k, v in value.items()})
    return hint(value)


# ============================================================================ input checks


def check_common(landscape, directions, indices, thresholds, sizes, metric, theta):
    """The inputs both protocols share, checked and normalised: indices (K,) int64, thresholds
    (T,) float64, sizes as a tuple of ints (caller's order) and θ* (n,)."""
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
        raise ConfigError(
            f"landscape sizes must lie in 1..{landscape.num_examples} (its number of examples); got {bad or sizes}"
        )
    theta = landscape.theta if theta is None else jnp.asarray(theta)
    if theta is None:
        raise ConfigError("no centre θ*: pass theta=..., or build the landscape from the trained parameters")
    if theta.shape != (landscape.dim,):
        raise ShapeError(f"θ* has shape {tuple(theta.shape)}; this landscape expects ({landscape.dim},)")
    if directions.size != landscape.dim:
        raise ShapeError(f"directions have length {directions.size} but the landscape has {landscape.dim} parameters")
    return indices, thresholds, sizes, theta


def chunk_size_for(landscape: Landscape, dim: int, chunk_size: int | None, span_bytes: int = 0) -> int:
    """Directions generated and evaluated together: ``chunk_size`` if given (checked), else as
    many as fit 4 float32 copies (and, when the landscape reuses its first layer, the
    ``span_bytes`` of first-layer outputs kept per direction) in the memory budget, between 1 and
    256."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
        return int(chunk_size)
    return int(max(1, min(256, landscape.memory_budget // (4 * 4 * max(dim, 1) + span_bytes))))


def ascending_sizes(sizes: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray]:
    """The distinct sizes in ascending order (the evaluator's order) and, for each of the caller's
    sizes, its position q in that order."""
    asc = tuple(sorted(set(sizes)))
    return asc, np.array([asc.index(k) for k in sizes])


# ============================================================================ evaluation


def _host_prefix_means(values: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """Means of the first k values of each row, for each k in ``sizes`` (ascending), in float64."""
    sums = np.cumsum(values, axis=1)[:, np.asarray(sizes) - 1]
    return sums / np.asarray(sizes, dtype=np.float64)


_SUBSETS: weakref.WeakKeyDictionary[Landscape, dict[int, Landscape]] = weakref.WeakKeyDictionary()


def _subset(landscape: Landscape, size: int) -> Landscape:
    """``landscape.subset(size)``, cached so that repeated calls reuse its compiled functions."""
    if size == landscape.num_examples:
        return landscape
    cache = _SUBSETS.setdefault(landscape, {})
    if size not in cache:
        cache[size] = landscape.subset(size)
    return cache[size]


class Evaluator:
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
        self._span: tuple[jax.Array, Span] | None = None

    @property
    def span_bytes(self) -> int:
        """Memory kept per direction of a chunk when the landscape reuses its first layer."""
        return self.landscapes[-1].span_bytes(1)

    def _span_of(self, dirs: jax.Array) -> Span:
        """The span of a chunk's directions through θ* on the largest landscape (built once per chunk)."""
        if self._span is None or self._span[0] is not dirs:
            self._span = None  # free the previous chunk's first-layer outputs first
            self._span = (dirs, self.landscapes[-1].span(self.theta, dirs))
        return self._span[1]

    def center(self) -> np.ndarray:
        """(Q,) the values at θ* on every landscape."""
        values = self._values(len(self.sizes) - 1, self.theta[None])
        return values[0]

    def _values(self, level: int, thetas: jax.Array) -> np.ndarray:
        per_example = self.landscapes[level].per_example_batch(thetas, metric=self.metric)
        return _host_prefix_means(np.asarray(per_example, dtype=np.float64), self.sizes[: level + 1])

    def __call__(self, dirs: jax.Array, rows: np.ndarray, radii: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Values (P, Q) at θ* + radii[p]·dirs[rows[p]], NaN beyond each point's level."""
        out = np.full((rows.shape[0], len(self.sizes)), np.nan)
        span = self._span_of(dirs)
        for level in np.unique(levels):
            which = np.flatnonzero(levels == level)
            # blocks of 8^j points (at most 3 shapes compiled per landscape, no padding)
            start, width = 0, self.block
            while start < which.size:
                while width > which.size - start:
                    width //= 8
                part = which[start : start + width]
                per_example = span.per_example(rows[part], radii[part], metric=self.metric, size=self.sizes[int(level)])
                out[part, : level + 1] = _host_prefix_means(
                    np.asarray(per_example, dtype=np.float64), self.sizes[: int(level) + 1]
                )
                start += width
        return out


def center_values(evaluator: Evaluator, thresholds: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(Q,) the values at θ* (ascending sizes) and (Q, T) by how much θ* is outside each set:
    L(θ*) − τ for losses, τ − accuracy(θ*) for accuracy. Raises if a value at θ* is not finite."""
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


def direction_block(directions: Directions, indices: np.ndarray, width: int) -> tuple[jax.Array, np.ndarray]:
    """Directions (padded with zero rows to ``width``, so few shapes are compiled) and sphere scales."""
    dirs, scales = directions.generate(indices)
    if width > indices.size:
        dirs = jnp.concatenate([dirs, jnp.zeros((width - indices.size, dirs.shape[1]), dirs.dtype)])
    return dirs, np.asarray(scales, dtype=np.float64)


def excess(values: np.ndarray, centers: np.ndarray, thresholds: np.ndarray, metric: str) -> np.ndarray:
    """e > 0 outside the set, e ≤ 0 inside (broadcast shapes; NaN values give +inf).

    Losses: e = log(f − f0) − log(τ − f0), with f − f0 floored at 1e-9·(τ − f0) and e kept > 0
    exactly where f > τ. Accuracy: e = τ − f.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "loss":
            room = thresholds - centers
            floor = np.maximum(room, 1e-30) * 1e-9
            e = np.log(np.maximum(values - centers, floor)) - np.log(np.maximum(room, 1e-30))
            e = np.where(values > thresholds, np.maximum(e, 1e-12), np.minimum(e, 0.0))
        else:
            e = thresholds - values
    return np.where(np.isnan(values), np.inf, e)


# ============================================================================ the result


def assemble(
    directions: Directions,
    scale: np.ndarray,
    q_of: np.ndarray,
    per_ray: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    evaluations: np.ndarray,
    example_evaluations: np.ndarray,
    centers: np.ndarray,
    outside_by: np.ndarray,
    indices: np.ndarray,
    sizes: tuple[int, ...],
    thresholds: np.ndarray,
    iterations: int,
    settings: RadiusSettings,
) -> ExitRadii:
    """The result of either protocol: (K, Q, T) arrays (radii, lower, upper, status in ascending
    size order) put back in the order of ``sizes``, with sphere radii r·scale_i and the censored
    mask derived from the status."""
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
