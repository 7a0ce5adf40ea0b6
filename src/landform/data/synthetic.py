"""Synthetic classification sets: two interleaved spirals and modular addition.

Both are generated, need no files and are deterministic given their seed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from landform.data.base import Dataset, Split
from landform.data.common import checked, generator
from landform.errors import ConfigError


def spiral_points(t: np.ndarray) -> np.ndarray:
    """The noiseless spiral of class 0: (-1.5 t cos t, 1.5 t sin t), shape (N, 2)."""
    t = np.asarray(t, dtype=np.float64)
    return np.stack([-1.5 * t * np.cos(t), 1.5 * t * np.sin(t)], axis=1)


def _spirals(count: int, noise: float, random: np.random.Generator) -> Split:
    half = (count + 1) // 2
    t = np.sqrt(random.uniform(0.0, 1.0, size=half)) * 1.7 * 2.0 * np.pi
    class_zero = spiral_points(t) + noise * random.standard_normal((half, 2))
    # for an odd count the mirror image of the last class-0 point is left out
    x = np.concatenate([class_zero, -class_zero[: count - half]]).astype(np.float32)
    y = np.concatenate([np.zeros(half, np.int32), np.ones(count - half, np.int32)])
    order = random.permutation(count)
    return Split(x[order], y[order])


def swiss_roll(n_train: int = 10_000, n_test: int = 2_000, noise: float = 0.3, seed: int = 0) -> Dataset:
    """Two interleaved spirals ("swiss roll"), a binary task (Fan et al. 2025, arXiv 2511.04808).

    t = sqrt(U) * 1.7 * 2 pi with U ~ Uniform(0, 1); class 0 is
    (-1.5 t cos t, 1.5 t sin t) + N(0, noise^2 I) and class 1 is its negation (each noisy class-0
    point mirrored through the origin). Classes are balanced (for an odd size class 0 has one
    example more) and the examples are shuffled. The training pool comes from stream 0 of ``seed`` and the test set
    from stream 1, so they are independent and the test set does not change with ``n_train``.
    Labels are int32 in {0, 1}; ``task="binary"``, ``num_classes=2``.
    """
    for label, count in (("n_train", n_train), ("n_test", n_test)):
        if count < 2:
            raise ConfigError(f"{label} must be at least 2 (one example per class), got {count}")
    if noise < 0:
        raise ConfigError(f"noise must be non-negative, got {noise!r}")
    return checked(
        Dataset(
            name="swiss_roll",
            task="binary",
            splits={
                "train": _spirals(n_train, noise, generator(seed, 0)),
                "test": _spirals(n_test, noise, generator(seed, 1)),
            },
            num_classes=2,
            seed=seed,
            info={
                "source": "synthetic: two spirals, t = sqrt(U) * 1.7 * 2 pi (Fan et al. 2025)",
                "noise": noise,
                "normalization": None,
            },
        )
    )


def modular_addition_order(p: int = 97, seed: int = 0) -> np.ndarray:
    """The seeded order of the p^2 pairs: a permutation of 0 .. p^2 - 1, pair i = (i // p, i % p).

    :func:`modular_addition` puts the first ``round(train_fraction * p^2)`` pairs of this order in
    the training split, in this order, so nested training sets are prefixes of it.
    """
    return generator(seed, 0).permutation(p * p)


def modular_addition_pairs(p: int = 97) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (a, b) in row-major order: a = i // p, b = i % p for i = 0 .. p^2 - 1."""
    index = np.arange(p * p)
    return index // p, index % p


def modular_addition(
    p: int = 97,
    train_fraction: float = 0.3,
    seed: int = 0,
    target: Literal["class", "onehot"] = "class",
) -> Dataset:
    """Modular addition: predict (a + b) mod p from one-hot(a) || one-hot(b).

    Inputs are float32 of dimension 2p. With ``target="class"`` the target is the int32 class
    (a + b) mod p (``task="classification"``, ``num_classes=p``); with ``target="onehot"`` it is
    the float32 one-hot vector of that class for a mean-squared-error loss
    (``task="regression"``). The p^2 pairs are ordered by :func:`modular_addition_order`; the
    first round(train_fraction * p^2) form the training split (in that order) and the rest the
    test split, so the two are disjoint. The pair indices (a * p + b) of the training split, in
    order, are ``modular_addition_order(p, seed)[:len(dataset.train)]``; any prefix of the
    training split is a nested training set.
    """
    if p < 2:
        raise ConfigError(f"p must be at least 2, got {p}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    if target not in ("class", "onehot"):
        raise ConfigError(f"target must be 'class' or 'onehot', got {target!r}")
    order = modular_addition_order(p, seed)
    train_size = int(round(train_fraction * p * p))
    if not 0 < train_size < p * p:
        raise ConfigError(f"train_fraction={train_fraction} leaves an empty train or test split for p={p}")
    a, b = modular_addition_pairs(p)
    a, b = a[order], b[order]
    identity = np.eye(p, dtype=np.float32)
    x = np.concatenate([identity[a], identity[b]], axis=1)
    labels = ((a + b) % p).astype(np.int32)
    y = labels if target == "class" else identity[labels]
    pool = Split(x, y)
    return checked(
        Dataset(
            name="modular_addition",
            task="classification" if target == "class" else "regression",
            splits={
                "train": pool.take(slice(0, train_size)),
                "test": pool.take(slice(train_size, None)),
            },
            num_classes=p,
            seed=seed,
            info={
                "source": "synthetic: (a + b) mod p on one-hot pairs",
                "p": p,
                "train_fraction": train_fraction,
                "target": target,
                "normalization": None,
            },
        )
    )
