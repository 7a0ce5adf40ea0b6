"""Dataset manipulations of the minima-volume study (Fan, Sandlund, Ko 2025, arXiv 2511.04808).

The study trains on *nested* training sets: a base set B and an ordered pool of additions A,
level q being B ∪ A[:q]. Additions may be ordinary examples, examples with poisoned labels or
pure-noise examples; the base may be class-imbalanced. Every function here is pure and seeded,
operates on :class:`~landform.data.base.Split` (or label arrays) and never touches test data:
draw from the training split and keep the test split as it is.

Nested levels are stored as ONE concatenated split (B first, then A in order) plus the level
sizes |B| + q, so every level is a prefix and a landscape can evaluate all levels at once as
prefix means of one per-example evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from landform.data.base import Dataset, Split
from landform.data.common import generator
from landform.errors import ConfigError, DataError

# Streams of a seed used by each manipulation, so one seed given to several manipulations
# still draws independent numbers.
_DRAW, _POISON, _NOISE, _IMBALANCE, _BALANCE = 10, 11, 12, 13, 14


@dataclass(frozen=True)
class NestedSplit:
    """Nested training sets as prefixes of one split.

    ``split`` is B followed by A (in order, as far as the largest level needs);
    ``level_sizes`` are ``|B|`` + q_k, non-decreasing; level k is ``split[:level_sizes[k]]``.
    ``indices`` are the row indices into the split the examples were drawn from (``-1`` for
    examples that came from elsewhere, such as generated noise), or ``None`` if unknown.
    """

    split: Split
    base_size: int
    level_sizes: tuple[int, ...]
    indices: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.level_sizes)

    def level(self, k: int) -> Split:
        """Level ``k``: the first ``level_sizes[k]`` examples (B ∪ A[:q_k])."""
        return self.split.take(slice(0, self.level_sizes[k]))

    @property
    def base(self) -> Split:
        return self.split.take(slice(0, self.base_size))

    @property
    def additions(self) -> Split:
        return self.split.take(slice(self.base_size, None))


def nest(
    base: Split,
    additions: Split,
    level_sizes: Sequence[int],
    indices: np.ndarray | None = None,
) -> NestedSplit:
    """Nested levels B ∪ A[:q] from a base split and an ordered additions split.

    ``level_sizes`` are total sizes ``|B|`` + q, non-decreasing, each between ``|B|`` and ``|B|`` + ``|A|``.
    Additions beyond the largest level are dropped. ``indices`` (optional) label the rows of
    B followed by A with their origin.
    """
    sizes = tuple(int(s) for s in level_sizes)
    if not sizes:
        raise ConfigError("level_sizes is empty; give at least one level size")
    if any(b < a for a, b in zip(sizes, sizes[1:])):
        raise ConfigError(f"level_sizes must be non-decreasing, got {list(sizes)}")
    if sizes[0] < len(base) or sizes[-1] > len(base) + len(additions):
        raise ConfigError(
            f"level sizes {list(sizes)} must lie between the base size {len(base)} and base plus "
            f"additions {len(base) + len(additions)}"
        )
    if base.x.shape[1:] != additions.x.shape[1:] or base.y.shape[1:] != additions.y.shape[1:]:
        raise DataError(
            f"base and additions differ in example shape: x {base.x.shape[1:]} vs "
            f"{additions.x.shape[1:]}, y {base.y.shape[1:]} vs {additions.y.shape[1:]}"
        )
    used = sizes[-1] - len(base)
    split = Split.concatenate([base, additions.take(slice(0, used))])
    if indices is not None:
        indices = np.asarray(indices)[: sizes[-1]]
        if len(indices) != len(split):
            raise ConfigError(f"{len(indices)} indices for {len(split)} nested examples")
    return NestedSplit(split, len(base), sizes, indices)


def draw_base_and_additions(
    count: int, base_size: int, additions_size: int, seed: int, exclude=None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a base set and an ordered additions pool drawn without replacement.

    From the rows 0 .. count - 1 (minus ``exclude``), a permutation seeded by ``seed`` gives
    B = its first ``base_size`` entries and A = the next ``additions_size``. Because both are
    prefixes of one permutation, experiments with the same seed share B and the order of A
    whatever their largest level.
    """
    candidates = _candidates(count, exclude)
    if base_size < 0 or additions_size < 0 or base_size + additions_size > len(candidates):
        raise ConfigError(
            f"cannot draw a base of {base_size} and {additions_size} additions without "
            f"replacement from {len(candidates)} available examples"
        )
    order = candidates[generator(seed, _DRAW).permutation(len(candidates))]
    return order[:base_size], order[base_size : base_size + additions_size]


def nested_levels(split: Split, level_sizes: Sequence[int], seed: int, base_size: int | None = None) -> NestedSplit:
    """Nested training sets drawn at random from ``split`` (usually a dataset's train split).

    B has ``base_size`` examples (default: the smallest level size) and A has
    max(level_sizes) - ``|B|``, drawn by :func:`draw_base_and_additions` with ``seed``.
    """
    sizes = [int(s) for s in level_sizes]
    if not sizes:
        raise ConfigError("level_sizes is empty; give at least one level size")
    base_size = sizes[0] if base_size is None else int(base_size)
    base, additions = draw_base_and_additions(len(split), base_size, max(sizes) - base_size, seed)
    return nest(split.take(base), split.take(additions), sizes, np.concatenate([base, additions]))


def nested_from_indices(
    split: Split, base: np.ndarray, additions: np.ndarray, level_sizes: Sequence[int]
) -> NestedSplit:
    """Nested levels from explicit row indices of ``split`` for B and the ordered A."""
    base, additions = np.asarray(base, dtype=np.int64), np.asarray(additions, dtype=np.int64)
    if np.intersect1d(base, additions).size:
        raise ConfigError("base and additions share examples; they must be disjoint")
    return nest(split.take(base), split.take(additions), level_sizes, np.concatenate([base, additions]))


def class_labels(split: Split) -> np.ndarray:
    """Integer class labels of ``split``: y itself, or argmax over the last axis of one-hot y."""
    y = np.asarray(split.y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1).astype(np.int64)
    labels = y.reshape(len(y))
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise DataError("the targets are not class labels (they have fractional values)")
    return labels.astype(np.int64)


def poison_labels(split: Split, indices, num_classes: int, seed: int) -> Split:
    """A copy of ``split`` whose examples at ``indices`` carry a uniformly random WRONG label.

    New label = (y + k) mod C with k ~ Uniform{1, ..., C - 1}: uniform over the C - 1 wrong
    classes and never the true one (label noise of Fan et al. 2025). ``indices`` must be
    distinct. One-hot targets (N, C) are poisoned as one-hot targets.
    """
    if num_classes < 2:
        raise ConfigError(f"poisoning needs at least 2 classes, got num_classes={num_classes}")
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size and (indices.min() < -len(split) or indices.max() >= len(split)):
        raise ConfigError(f"poison indices out of range for a split of {len(split)} examples")
    indices = indices % max(len(split), 1)
    if np.unique(indices).size != indices.size:
        raise ConfigError("poison indices must be distinct (a repeated index could undo itself)")
    labels = class_labels(split)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"labels lie outside 0 .. {num_classes - 1}")
    shift = generator(seed, _POISON).integers(1, num_classes, size=indices.size)
    poisoned = labels.copy()
    poisoned[indices] = (labels[indices] + shift) % num_classes
    y = np.asarray(split.y)
    if y.ndim == 2 and y.shape[1] > 1:
        new_y = np.eye(num_classes, dtype=y.dtype)[poisoned]
    else:
        new_y = poisoned.astype(y.dtype).reshape(y.shape)
    return Split(split.x, new_y)


def noise_examples(split: Split, count: int, num_classes: int, seed: int) -> Split:
    """``count`` pure-noise examples shaped like ``split``'s inputs (Fan et al. 2025).

    x ~ N(m, s^2) elementwise, with m and s the mean and standard deviation over all input
    values of ``split``; labels ~ Uniform{0, ..., C - 1}, int32. Seeded by ``seed``.
    """
    if count < 0 or num_classes < 1:
        raise ConfigError(f"need count >= 0 and num_classes >= 1, got {count}, {num_classes}")
    values = np.asarray(split.x)
    mean, std = float(values.mean(dtype=np.float64)), float(values.std(dtype=np.float64))
    random = generator(seed, _NOISE)
    x = random.normal(mean, std, size=(int(count),) + values.shape[1:]).astype(np.float32)
    y = random.integers(0, num_classes, size=int(count)).astype(np.int32)
    return Split(x, y)


def imbalanced_indices(
    labels, size: int, fraction: float, classes: Sequence[int], seed: int, exclude=None
) -> np.ndarray:
    """Indices of ``size`` examples, exactly round(fraction * size) of them from ``classes``.

    The rest come from the other classes; both parts are drawn uniformly without replacement
    (excluding ``exclude``) and the result is shuffled. The volume paper's imbalanced base:
    1,500 examples with 90% from classes {0, 1} (Fan et al. 2025).
    """
    labels = np.asarray(labels).reshape(-1)
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"fraction must lie in [0, 1], got {fraction!r}")
    inside_count = int(round(fraction * size))
    outside_count = int(size) - inside_count
    candidates = _candidates(len(labels), exclude)
    is_inside = np.isin(labels[candidates], np.asarray(list(classes)))
    inside, outside = candidates[is_inside], candidates[~is_inside]
    if inside_count > len(inside) or outside_count > len(outside):
        raise ConfigError(
            f"need {inside_count} examples from classes {list(classes)} and {outside_count} "
            f"from the others, but only {len(inside)} and {len(outside)} are available"
        )
    random = generator(seed, _IMBALANCE)
    chosen = np.concatenate(
        [
            random.choice(inside, inside_count, replace=False),
            random.choice(outside, outside_count, replace=False),
        ]
    )
    return chosen[random.permutation(len(chosen))]


def balanced_indices(labels, size: int, seed: int, exclude=None, classes: Sequence[int] | None = None) -> np.ndarray:
    """Indices of ``size`` examples balanced over ``classes`` (default: all present labels).

    Each class gives size // C examples and size mod C randomly chosen classes one more. The
    order interleaves the classes round by round, so that every prefix is balanced to within
    one example per class (useful as an ordered additions pool).
    """
    labels = np.asarray(labels).reshape(-1)
    candidates = _candidates(len(labels), exclude)
    classes = np.unique(labels) if classes is None else np.asarray(list(classes))
    if classes.size == 0:
        raise ConfigError("no classes to balance over")
    random = generator(seed, _BALANCE)
    counts = np.full(classes.size, int(size) // classes.size)
    counts[random.permutation(classes.size)[: int(size) % classes.size]] += 1
    picks, rounds = [], []
    for label, count in zip(classes, counts):
        pool = candidates[labels[candidates] == label]
        if count > len(pool):
            raise ConfigError(
                f"class {label} has {len(pool)} available examples, {count} are needed for a balanced set of {size}"
            )
        picks.append(random.choice(pool, count, replace=False))
        rounds.append(np.arange(count))
    picks, rounds = np.concatenate(picks), np.concatenate(rounds)
    order = np.lexsort((random.random(picks.size), rounds))
    return picks[order]


def imbalanced_nested(
    split: Split,
    level_sizes: Sequence[int],
    fraction: float,
    classes: Sequence[int],
    seed: int,
) -> NestedSplit:
    """Nested levels with an imbalanced base and balanced additions (Fan et al. 2025).

    B: level_sizes[0] examples, round(fraction * ``|B|``) from ``classes``
    (:func:`imbalanced_indices`); A: max(level_sizes) - ``|B|`` class-balanced examples from the
    rest, in prefix-balanced order (:func:`balanced_indices`). The paper's setting:
    level_sizes=(1500, 2000, 3000, 6000, 10000), fraction=0.9, classes=(0, 1).
    """
    sizes = [int(s) for s in level_sizes]
    if not sizes:
        raise ConfigError("level_sizes is empty; give at least one level size")
    labels = class_labels(split)
    base = imbalanced_indices(labels, sizes[0], fraction, classes, seed)
    additions = balanced_indices(labels, max(sizes) - sizes[0], seed, exclude=base)
    return nested_from_indices(split, base, additions, sizes)


def replace_split(dataset: Dataset, name: str, split: Split, **info) -> Dataset:
    """A copy of ``dataset`` with split ``name`` replaced (or added) and ``info`` updated."""
    return dataset.replace(splits={**dataset.splits, name: split}, info={**dataset.info, **info})


def _candidates(count: int, exclude) -> np.ndarray:
    candidates = np.arange(int(count))
    if exclude is not None and np.size(exclude):
        candidates = np.setdiff1d(candidates, np.asarray(exclude, dtype=np.int64))
    return candidates
