"""Cutoffs: the landscape size at which a trained minimum leaves the τ-sublevel set.

The minima-volume study (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize: A Loss
Landscape Perspective on Data", arXiv 2511.04808) orders its data pool as the base set B followed
by the additional set A, and its nested landscapes are prefixes of that pool. For a model θ_m
and the per-example losses ℓ_1(θ_m), ..., ℓ_N(θ_m) over the ordered pool, the running mean

    L_k(θ_m) = (1/k) Σ_{i ≤ k} ℓ_i(θ_m),   k = 1..N,

is the loss of θ_m in the landscape of the first k examples. The model's cutoff is the first
landscape size at which it is no longer inside the τ-sublevel set:

    cutoff_m = min { k ≥ k_0 : L_k(θ_m) > τ },

with k_0 the model's own training size (``from_training_size=True``, the default: a model is
followed from the landscape it was trained on to larger ones) or k_0 = 1 (any prefix). If the
running mean never exceeds τ the model never leaves: cutoff −1 and ``leaves`` False.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from landform.errors import ConfigError, ShapeError


class Cutoffs(NamedTuple):
    """Cutoffs of M models.

    Attributes:
        running_mean: (M, N) L_k(θ_m) for k = 1..N (column k−1), in float64.
        cutoff: (M,) the first k ≥ k_0 with L_k > τ, or −1 if none.
        leaves: (M,) whether the model leaves the τ-sublevel set within the pool.
        start: (M,) k_0 used for each model.
        threshold: τ.
    """

    running_mean: np.ndarray
    cutoff: np.ndarray
    leaves: np.ndarray
    start: np.ndarray
    threshold: float


def running_mean(per_example) -> np.ndarray:
    """(1/k) Σ_{i≤k} ℓ_i along the last axis, accumulated in float64."""
    values = np.asarray(per_example, dtype=np.float64)
    k = np.arange(1, values.shape[-1] + 1, dtype=np.float64)
    return np.cumsum(values, axis=-1) / k


def cutoffs(
    per_example,
    threshold: float,
    *,
    training_sizes: Sequence[int] | int | None = None,
    from_training_size: bool = True,
) -> Cutoffs:
    """Cutoffs from per-example losses of M models over the ordered pool (see the module docstring).

    Args:
        per_example: (M, N) or (N,) per-example losses ℓ_i(θ_m), pool order (B then A).
        threshold: τ.
        training_sizes: k_0 per model (or one for all); required when ``from_training_size``.
        from_training_size: search from each model's training size (True) or from k = 1.
    """
    values = np.asarray(per_example, dtype=np.float64)
    if values.ndim == 1:
        values = values[None]
    if values.ndim != 2 or values.shape[1] == 0:
        raise ShapeError(f"per-example losses must have shape (models, examples), got {values.shape}")
    m, n = values.shape
    if not np.isfinite(threshold):
        raise ConfigError(f"threshold must be a finite number, got {threshold}")
    if from_training_size:
        if training_sizes is None:
            raise ConfigError(
                "from_training_size=True needs each model's training size (training_sizes=...); "
                "pass from_training_size=False to search every prefix"
            )
        start = np.broadcast_to(np.asarray(training_sizes, dtype=np.int64), (m,)).copy()
        if (start < 1).any() or (start > n).any():
            raise ConfigError(f"training sizes must lie in 1..{n} (the pool size), got {start.tolist()}")
    else:
        start = np.ones(m, np.int64)
    curve = running_mean(values)
    k = np.arange(1, n + 1)
    above = (curve > threshold) & (k[None, :] >= start[:, None])
    leaves = above.any(axis=1)
    cutoff = np.where(leaves, np.argmax(above, axis=1) + 1, -1)
    return Cutoffs(curve, cutoff.astype(np.int64), leaves, start, float(threshold))


def landscape_cutoffs(
    landscape,
    thetas,
    threshold: float,
    *,
    training_sizes: Sequence[int] | int | None = None,
    from_training_size: bool = True,
) -> Cutoffs:
    """Cutoffs of models ``thetas`` (M, n) on a landscape whose examples are the ordered pool.

    One batched evaluation of the per-example losses (:meth:`Landscape.per_example_batch`), then
    :func:`cutoffs`.
    """
    per_example = jax.device_get(landscape.per_example_batch(thetas))
    return cutoffs(per_example, threshold, training_sizes=training_sizes, from_training_size=from_training_size)
