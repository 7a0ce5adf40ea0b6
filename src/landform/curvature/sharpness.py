"""Sharpness: how much the loss rises under perturbations of a given size around θ*.

With a diagonal scaling T (the normalisation) and a radius ρ (Andriushchenko, Croce, Müller,
Hein, Flammarion 2023, "A modern look at the relationship between sharpness and
generalization", ICML):

- average-case: S_avg(ρ) = E_{u ~ N(0, I)}[L(θ* + ρ T u)] − L(θ*), estimated from S random
  perturbations with its Monte-Carlo standard error std / sqrt(S);
- worst-case: S_max(ρ) = max_{‖u‖_p ≤ ρ} L(θ* + T u) − L(θ*), p = 2 or ∞, found by projected
  gradient ascent in u (a lower bound on the maximum; the best point seen is kept).

Normalisations (T):

- ``none``: T = I, plain sharpness; not invariant to reparametrisations that leave the
  network's function unchanged (Dinh, Pascanu, Bengio, Bengio 2017, "Sharp minima can
  generalize for deep nets").
- ``elementwise``: T = diag(|θ*|), adaptive sharpness (Kwon, Kim, Park, Choi 2021, "ASAM";
  Andriushchenko et al. 2023). If a network is rescaled by a positive diagonal map that keeps
  its function (a ReLU layer's incoming weights and bias times α, the next layer's weights
  divided by α), T rescales with it and the adaptive sharpness is unchanged.
- ``keskar``: T = diag(|θ*| + 1) with p = ∞, the box of Keskar, Mudigere, Nocedal,
  Smelyanskiy, Tang 2017 ("On large-batch training for deep learning: generalization gap and
  sharp minima", ICLR); :attr:`Sharpness.relative` is their 100·S_max / (1 + L(θ*)).
- the volume normalisations ``filter_scale`` (T = diag of the norm of each entry's unit, the
  minima-volume paper's scaling, filter-wise adaptive sharpness), and for the average case also
  ``filter`` and ``layer`` (Li et al. 2018's renormalised directions, not a diagonal T): the
  perturbation is ρ·d with d the random direction of :func:`landform.volume.random_directions`,
  so sharpness and exit radii are measured along the same directions. ``perturb`` selects the
  parameters as for volume directions.

:func:`adaptive_sharpness` is the worst case with ``elementwise`` scaling.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.curvature.operator import as_key, loss_and_gradient
from landform.directions import NORMALIZATION_NAMES, Directions, random_directions
from landform.errors import ConfigError, NumericalError, UnknownNameError
from landform.landscape import Landscape

AVERAGE_NORMALIZATIONS = ("none", "elementwise", "filter_scale", "filter", "layer")
WORST_NORMALIZATIONS = ("none", "elementwise", "keskar", "filter_scale")
NORM_NAMES = ("l2", "linf")
GROUP = 64  # perturbed vectors evaluated per call in the average case


class Sharpness(NamedTuple):
    """A sharpness measurement.

    Attributes:
        value: S, the loss increase (mean over perturbations, or the largest found).
        standard_error: Monte-Carlo standard error of the average case (NaN for the worst case).
        loss_at_center: L(θ*).
        radius: ρ (the scale of the perturbations).
        normalization: the scaling T (see the module docstring).
        kind: "average" or "worst".
        samples: average case: the loss increase of each perturbation; worst case: the loss
            increase at each ascent step (restarts one after the other).
        perturbation: worst case: the perturbation δ = T u that reached ``value`` (n,); else None.
        norm: "l2" or "linf" (worst case), "gaussian" (average case).
    """

    value: float
    standard_error: float
    loss_at_center: float
    radius: float
    normalization: str
    kind: str
    samples: np.ndarray
    perturbation: np.ndarray | None
    norm: str

    @property
    def relative(self) -> float:
        """100 · S / (1 + L(θ*)): Keskar et al.'s (2017) ε-sharpness."""
        return 100.0 * self.value / (1.0 + self.loss_at_center)


def _theta(landscape: Landscape, theta) -> jax.Array:
    theta = landscape.theta if theta is None else theta
    if theta is None:
        raise ConfigError("this landscape has no θ* to measure sharpness at: pass `theta`")
    return jnp.asarray(theta)


def _layout(landscape: Landscape, theta: jax.Array, layout: Any) -> Any:
    if layout is None and landscape.unravel is not None:
        return landscape.unravel(theta)
    return layout


def _directions(key, theta, layout, normalization: str, perturb: str, unit_axis: int) -> Directions:
    base = "none" if normalization in ("elementwise", "keskar") else normalization
    if base not in NORMALIZATION_NAMES:
        raise UnknownNameError("normalization", normalization, AVERAGE_NORMALIZATIONS)
    if base != "none" and layout is None:
        raise ConfigError(
            f"normalization {normalization!r} needs the parameter layout: use a landscape built from a model "
            "or pass `layout` (the parameter pytree)"
        )
    return random_directions(key, theta, layout, normalization=base, perturb=perturb, unit_axis=unit_axis)


def _check_radius(radius: float) -> float:
    radius = float(radius)
    if not (radius > 0 and math.isfinite(radius)):
        raise ConfigError(f"the perturbation radius must be a positive number, got {radius}")
    return radius


def average_sharpness(
    landscape: Landscape,
    radius: float,
    *,
    samples: int = 100,
    normalization: str = "none",
    perturb: str = "all",
    theta: jax.Array | None = None,
    layout: Any = None,
    unit_axis: int = -1,
    key: jax.Array | int = 0,
) -> Sharpness:
    """Average-case sharpness E[L(θ* + ρ T u)] − L(θ*) over Gaussian u, with its standard error.

    Perturbation i is ρ·d_i, with d_i the volume direction i (:func:`landform.volume.random_directions`
    from ``key``) for the volume normalisations, or ``|θ*|`` ⊙ g_i (``elementwise``) with g_i that
    direction's Gaussian. See the module docstring.

    Args:
        radius: ρ.
        samples: S perturbations.
        normalization: one of :data:`AVERAGE_NORMALIZATIONS`.
        perturb: "all", "weights" or a regular expression over leaf paths.
        layout, unit_axis: the parameter layout (default: from the landscape) and the unit axis of
            weight tensors, as for volume directions.
    """
    radius = _check_radius(radius)
    if normalization not in AVERAGE_NORMALIZATIONS:
        raise UnknownNameError("normalization", normalization, AVERAGE_NORMALIZATIONS)
    if samples < 2:
        raise ConfigError(f"give at least 2 samples (for a standard error), got {samples}")
    theta = _theta(landscape, theta)
    layout = _layout(landscape, theta, layout)
    directions = _directions(as_key(key), theta, layout, normalization, perturb, unit_axis)
    scale = jnp.abs(theta) if normalization == "elementwise" else None
    center = float(landscape.loss(theta))
    losses = []
    for start in range(0, samples, GROUP):  # a loop over groups of perturbations
        batch = directions.batch(np.arange(start, min(start + GROUP, samples)))
        if scale is not None:
            batch = batch * scale[None]
        losses.append(np.asarray(landscape.loss_batch(theta[None] + radius * batch), np.float64))
    increases = np.concatenate(losses) - center
    if not np.all(np.isfinite(increases)):
        raise NumericalError(
            f"the loss is not finite at {int(np.sum(~np.isfinite(increases)))} of {samples} perturbed points: "
            f"use a smaller radius than {radius}"
        )
    return Sharpness(
        value=float(increases.mean()),
        standard_error=float(increases.std(ddof=1) / np.sqrt(samples)),
        loss_at_center=center,
        radius=radius,
        normalization=normalization,
        kind="average",
        samples=increases,
        perturbation=None,
        norm="gaussian",
    )


def _scaling(theta: jax.Array, directions: Directions, normalization: str) -> jax.Array:
    """The diagonal of T (zero on entries that are not perturbed)."""
    mask = directions.mask.astype(theta.dtype)
    if normalization == "none":
        return mask
    if normalization == "elementwise":
        return mask * jnp.abs(theta)
    if normalization == "keskar":
        return mask * (jnp.abs(theta) + 1.0)
    return directions.normalize(jnp.ones_like(theta))  # filter_scale: the per-unit norms, 1 on 1-D tensors


def _project(u: jax.Array, radius: float, norm: str) -> jax.Array:
    if norm == "linf":
        return jnp.clip(u, -radius, radius)
    length = jnp.linalg.norm(u)
    return u * jnp.minimum(1.0, radius / jnp.maximum(length, jnp.finfo(u.dtype).tiny))


def worst_sharpness(
    landscape: Landscape,
    radius: float,
    *,
    norm: str = "l2",
    normalization: str = "none",
    steps: int = 20,
    restarts: int = 1,
    step_size: float = 1.0,
    perturb: str = "all",
    theta: jax.Array | None = None,
    layout: Any = None,
    unit_axis: int = -1,
    key: jax.Array | int = 0,
) -> Sharpness:
    """Worst-case sharpness max_{‖u‖_p ≤ ρ} L(θ* + T u) − L(θ*) by projected gradient ascent.

    Each restart r starts from a random u with ‖u‖_p = ρ/2 (from ``fold_in(key, r)``) and takes
    ``steps`` ascent steps u ← Π(u + η_t ρ s_t), with s_t the normalised gradient (p = 2) or its
    sign (p = ∞) with respect to u, and η_t decaying from ``step_size`` to a tenth of it by a
    cosine schedule. Gradients are of the full-data loss (use ``landscape.subset(k)`` for fewer
    examples). The result is the largest increase seen: a lower bound on the maximum.

    Args:
        radius: ρ.
        norm: "l2" or "linf".
        normalization: one of :data:`WORST_NORMALIZATIONS`.
        steps, restarts, step_size: the ascent (see above).
        perturb, layout, unit_axis: as for :func:`average_sharpness`.
    """
    radius = _check_radius(radius)
    if norm not in NORM_NAMES:
        raise UnknownNameError("norm", norm, NORM_NAMES)
    if normalization not in WORST_NORMALIZATIONS:
        raise UnknownNameError("normalization", normalization, WORST_NORMALIZATIONS)
    if steps < 1 or restarts < 1 or not step_size > 0:
        raise ConfigError(
            f"steps and restarts must be at least 1 and step_size positive, got {steps}, {restarts}, {step_size}"
        )
    theta = _theta(landscape, theta)
    layout = _layout(landscape, theta, layout)
    key = as_key(key)
    directions = _directions(key, theta, layout, normalization, perturb, unit_axis)
    scaling = _scaling(theta, directions, normalization)
    mask = directions.mask.astype(theta.dtype)
    value_and_grad, data = loss_and_gradient(landscape, theta)
    center = float(value_and_grad(theta, *data)[0])
    schedule = step_size * (0.1 + 0.45 * (1 + np.cos(np.pi * np.arange(steps) / max(steps - 1, 1))))

    @jax.jit
    def ascend(key, theta, scaling, mask, schedule, *data):
        def objective(u):
            return value_and_grad(theta + scaling * u, *data)

        def restart(index):
            noise = jax.random.normal(jax.random.fold_in(key, index), theta.shape, theta.dtype) * mask
            if norm == "linf":
                u = 0.5 * radius * jnp.sign(noise)
            else:
                u = 0.5 * radius * noise / jnp.linalg.norm(noise)

            def step(carry, eta):
                u, best, best_u = carry
                value, gradient = objective(u)
                better = value > best
                best, best_u = jnp.where(better, value, best), jnp.where(better, u, best_u)
                direction = scaling * gradient
                if norm == "linf":
                    direction = jnp.sign(direction)
                else:
                    direction = direction / jnp.maximum(jnp.linalg.norm(direction), jnp.finfo(u.dtype).tiny)
                return (_project(u + eta * radius * direction, radius, norm), best, best_u), value

            start = (u, jnp.asarray(-jnp.inf, theta.dtype), u)
            (u, best, best_u), values = jax.lax.scan(step, start, schedule)
            final = objective(u)[0]  # the point after the last step
            better = final > best
            return jnp.where(better, final, best), jnp.where(better, u, best_u), jnp.append(values, final)

        return jax.lax.map(restart, jnp.arange(restarts))

    bests, points, histories = ascend(key, theta, scaling, mask, jnp.asarray(schedule, theta.dtype), *data)
    bests, histories = np.asarray(bests, np.float64), np.asarray(histories, np.float64)
    if not np.all(np.isfinite(histories)):
        raise NumericalError(f"the loss became non-finite during the ascent: use a smaller radius than {radius}")
    winner = int(np.argmax(bests))
    return Sharpness(
        value=float(bests[winner] - center),
        standard_error=float("nan"),
        loss_at_center=center,
        radius=radius,
        normalization=normalization,
        kind="worst",
        samples=histories.reshape(-1) - center,
        perturbation=np.asarray(scaling * points[winner]),
        norm=norm,
    )


def adaptive_sharpness(landscape: Landscape, radius: float, *, norm: str = "l2", **options) -> Sharpness:
    """Adaptive worst-case sharpness (Andriushchenko et al. 2023): :func:`worst_sharpness` with T = diag(``|θ*|``).

    Unchanged when a ReLU network is rescaled without changing its function (see the module
    docstring); ``options`` go to :func:`worst_sharpness`.
    """
    return worst_sharpness(landscape, radius, norm=norm, normalization="elementwise", **options)
