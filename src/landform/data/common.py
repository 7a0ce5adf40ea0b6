"""Small helpers shared by the loaders: seeded generators, held-out splits, final checks.

Randomness: stream ``k`` of seed ``s`` is ``numpy.random.default_rng((s, k))`` (NumPy's
``SeedSequence`` of the pair), so the train pool, the test set and any later draw of one loader
come from independent streams, and changing one size never changes the examples of another
split.
"""

from __future__ import annotations

import numpy as np

from landform.data.base import Dataset, Split
from landform.errors import ConfigError, DataError


def generator(seed: int, stream: int = 0) -> np.random.Generator:
    """The generator of stream ``stream`` of ``seed``: ``default_rng((seed, stream))``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng((int(seed), int(stream)))


def checked(dataset: Dataset) -> Dataset:
    """Return ``dataset`` after checking that every split holds finite numbers.

    Raises :class:`~landform.errors.DataError` naming the dataset and split otherwise, and
    when a split is empty.
    """
    for split_name, split in dataset.splits.items():
        if len(split) == 0:
            raise DataError(
                f"dataset {dataset.name!r}: split {split_name!r} is empty; "
                "choose sizes or fractions that leave examples in every split"
            )
        split.check_finite(f"dataset {dataset.name!r} split {split_name!r}")
    return dataset


def hold_out(split: Split, size: int, seed: int, stream: int = 7) -> tuple[Split, Split]:
    """Split ``split`` into (kept, held out) with ``size`` examples held out at random.

    The held-out indices are a seeded random subset; both parts keep the original order of
    their examples. Used for optional validation splits taken from a training split.
    """
    size = int(size)
    if size < 0 or size >= len(split):
        raise ConfigError(
            f"a validation split of {size} examples cannot be taken from {len(split)} "
            "training examples; choose a size between 0 and the number of training examples"
        )
    held = np.zeros(len(split), dtype=bool)
    held[generator(seed, stream).permutation(len(split))[:size]] = True
    return split.take(~held), split.take(held)


def fraction_count(fraction: float, total: int, what: str) -> int:
    """``round(fraction * total)`` after checking ``0 <= fraction < 1``."""
    if not 0.0 <= float(fraction) < 1.0:
        raise ConfigError(f"{what} must lie in [0, 1), got {fraction!r}")
    return int(round(float(fraction) * total))
