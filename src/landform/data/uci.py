"""UCI regression benchmarks as used in Bayesian deep learning (Hernández-Lobato & Adams 2015).

Files ``uci/<name>.data`` hold whitespace-separated numbers, one example per row, the last
column being the target. :func:`uci` splits them at random into train / validation / test and
z-scores features and target; :func:`to_original_units` and :func:`rmse_in_original_units` undo
the target scaling for reporting.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from landform.data.base import Dataset, Split
from landform.data.common import checked, generator
from landform.data.sources import SOURCES, UCI_NAMES, fetch
from landform.errors import ConfigError, DataError, ShapeError, UnknownNameError, check_finite

ROW_COUNTS: dict[str, int] = {
    "airfoil": 1503,
    "bikesharing": 17379,
    "concrete": 1030,
    "energy": 768,
    "yacht": 308,
    "protein": 45730,
}
"""Rows of each published set; a file with another count is reported, not silently used."""


def read_uci(name: str) -> np.ndarray:
    """The raw rows of UCI set ``name`` as a float64 array (rows, features + 1).

    Raises :class:`~landform.errors.DataError` for NaN/inf values, ragged rows or a row count
    other than the published one (:data:`ROW_COUNTS`).
    """
    if name not in UCI_NAMES:
        raise UnknownNameError("UCI dataset", name, UCI_NAMES)
    path = fetch(name, f"{name}.data")
    try:
        rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise DataError(
            f"{path} is not a table of whitespace-separated numbers with equal-length rows "
            f"({error}); replace it with a clean copy"
        ) from None
    check_finite(f"UCI dataset {name!r} ({path})", rows)
    if rows.shape[1] < 2:
        raise DataError(f"{path} has {rows.shape[1]} column(s); it needs features and a target")
    expected = ROW_COUNTS.get(name)
    if expected is not None and len(rows) != expected:
        raise DataError(
            f"{path} has {len(rows)} rows but the published {name!r} set has {expected}; "
            "replace the file with the published version"
        )
    return rows


def uci(
    name: str,
    seed: int = 0,
    split: tuple[float, float, float] = (0.7, 0.1, 0.2),
    standardize: Literal["train", "full"] | None = "train",
) -> Dataset:
    """UCI regression set ``name`` (airfoil, bikesharing, concrete, energy, yacht, protein).

    The rows are permuted with ``seed``; the first round(f_train * N) form the training split,
    the next round(f_validation * N) the validation split (omitted when 0) and the rest the test
    split. Features and target are z-scored, z = (v - mean) / std, with the statistics of the
    training split (``standardize="train"``, the default, which leaks nothing from held-out
    data), of the whole file (``"full"``, what Dold et al. 2025 did) or not at all (``None``).
    Columns with zero spread keep std 1. ``info`` records ``feature_mean``, ``feature_std``,
    ``target_mean`` and ``target_std`` (identity values when not standardised).
    x is (N, d) float32, y is (N, 1) float32.
    """
    fractions = tuple(float(f) for f in split)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigError(
            f"split must be three non-negative fractions (train, validation, test) summing to 1, got {split!r}"
        )
    if standardize not in ("train", "full", None):
        raise ConfigError(f"standardize must be 'train', 'full' or None, got {standardize!r}")
    rows = read_uci(name)
    total = len(rows)
    train_size = int(round(fractions[0] * total))
    validation_size = int(round(fractions[1] * total))
    if train_size < 2 or train_size + validation_size >= total:
        raise ConfigError(f"split {split!r} leaves too few training or test rows out of {total}")
    rows = rows[generator(seed, 0).permutation(total)]
    boundaries = {
        "train": slice(0, train_size),
        "validation": slice(train_size, train_size + validation_size),
        "test": slice(train_size + validation_size, total),
    }
    if standardize is None:
        mean, std = np.zeros(rows.shape[1]), np.ones(rows.shape[1])
    else:
        reference = rows[boundaries["train"]] if standardize == "train" else rows
        mean, std = reference.mean(axis=0), reference.std(axis=0)
        std = np.where(std > 0, std, 1.0)
    scaled = (rows - mean) / std
    splits = {
        split_name: Split(scaled[part, :-1].astype(np.float32), scaled[part, -1:].astype(np.float32))
        for split_name, part in boundaries.items()
        if part.stop > part.start
    }
    return checked(
        Dataset(
            name=name,
            task="regression",
            splits=splits,
            seed=seed,
            info={
                "source": SOURCES[name].description,
                "split": list(fractions),
                "normalization": standardize,
                "feature_mean": mean[:-1],
                "feature_std": std[:-1],
                "target_mean": float(mean[-1]),
                "target_std": float(std[-1]),
            },
        )
    )


def to_original_units(dataset: Dataset, y) -> np.ndarray:
    """Targets or predictions in the units of the file: y * target_std + target_mean."""
    try:
        mean, std = dataset.info["target_mean"], dataset.info["target_std"]
    except KeyError:
        raise DataError(
            f"dataset {dataset.name!r} records no target_mean/target_std in its info; only "
            "standardised regression sets (for example from uci()) can be mapped back"
        ) from None
    return np.asarray(y) * std + mean


def rmse_in_original_units(dataset: Dataset, predictions, targets) -> float:
    """Root mean squared error in the file's units: target_std * sqrt(mean((p - t)^2)).

    ``predictions`` and ``targets`` are in standardised units (as the model sees them) and must
    hold the same number of values ((N,) and (N, 1) are both accepted).
    """
    predictions, targets = np.asarray(predictions), np.asarray(targets)
    if predictions.size != targets.size:
        raise ShapeError(
            f"predictions {predictions.shape} and targets {targets.shape} hold different numbers of values"
        )
    predictions, targets = predictions.reshape(-1), targets.reshape(-1)
    difference = to_original_units(dataset, predictions) - to_original_units(dataset, targets)
    return float(np.sqrt(np.mean(np.square(difference))))
