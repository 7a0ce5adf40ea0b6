"""One-dimensional regression with a gap, after Dold et al. 2025 (arXiv 2503.03382).

The tunnel paper samples posteriors of a small MLP on a 1-D regression problem whose training
inputs leave out a central interval, so that predictive uncertainty must grow in the gap.
:func:`toy_regression` draws such a set from a random teacher network; :func:`toy_file` reads
the fixed set used in the paper's showcase.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from landform.data.base import Dataset, Split
from landform.data.common import checked, fraction_count, generator, hold_out
from landform.data.sources import fetch
from landform.errors import ConfigError, DataError


@dataclass(frozen=True)
class TeacherNetwork:
    """A fixed ReLU MLP on polynomial features, used as the ground-truth function.

    f(x) = W_L · relu(... relu(W_1 · phi(x) + b_1) ...) + b_L with
    phi(x) = [x^p for p in powers] (default [x, x^2, x^3]). ``x`` has shape (N, 1); the output
    has shape (N, 1). Weights are (in, out) matrices.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    powers: tuple[int, ...] = (1, 2, 3)

    def features(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1, 1)
        return np.concatenate([x**power for power in self.powers], axis=1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        hidden = self.features(x)
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            hidden = np.maximum(hidden @ weight + bias, 0.0)
        return hidden @ self.weights[-1] + self.biases[-1]


def random_teacher(
    seed: int = 0,
    width: int = 16,
    depth: int = 3,
    powers: Sequence[int] = (1, 2, 3),
    limit: float = 2.0,
) -> TeacherNetwork:
    """A random :class:`TeacherNetwork` with ``depth`` hidden ReLU layers of ``width`` units.

    Drawn from ``numpy.random.default_rng((seed, 0))``: hidden weights ~ N(0, 2 / fan_in)
    (He et al. 2015), output weights ~ N(0, 1 / fan_in), biases ~ N(0, 1). The output layer is
    then rescaled so that f has mean 0 and standard deviation 1 over linspace(-limit, limit,
    201), which makes the noise level of :func:`toy_regression` a signal-to-noise ratio. The
    default architecture (3 hidden layers of 16 units, features [x, x^2, x^3]) follows the toy
    regression of Dold et al. 2025 (arXiv 2503.03382).
    """
    if depth < 1 or width < 1 or not powers:
        raise ConfigError(
            f"a teacher needs depth >= 1, width >= 1 and at least one power, got depth={depth}, "
            f"width={width}, powers={tuple(powers)}"
        )
    random = generator(seed, 0)
    sizes = [len(powers)] + [width] * depth + [1]
    weights, biases = [], []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        gain = 2.0 if layer < depth else 1.0
        weights.append(random.normal(0.0, np.sqrt(gain / fan_in), size=(fan_in, fan_out)))
        biases.append(random.normal(0.0, 1.0, size=(fan_out,)))
    teacher = TeacherNetwork(tuple(weights), tuple(biases), tuple(int(p) for p in powers))
    values = teacher(np.linspace(-limit, limit, 201))
    mean, std = float(values.mean()), float(values.std())
    if not std > 1e-12:  # every hidden unit dead on the grid: the function is constant
        std = 1.0
    weights[-1] = weights[-1] / std
    biases[-1] = (biases[-1] - mean) / std
    return TeacherNetwork(tuple(weights), tuple(biases), teacher.powers)


def gap_inputs(count: int, limit: float, gap: float) -> np.ndarray:
    """Points of linspace(-limit, limit, count) with |x| > gap, as an (N, 1) float32 array."""
    grid = np.linspace(-limit, limit, count)
    return grid[np.abs(grid) > gap].reshape(-1, 1).astype(np.float32)


def toy_regression(
    seed: int = 0,
    teacher: Callable[[np.ndarray], np.ndarray] | None = None,
    noise: float = 0.05,
    teacher_seed: int = 0,
    train_points: int = 100,
    validation_points: int = 25,
    test_points: int = 33,
    limit: float = 2.0,
    test_limit: float = 2.5,
    gap: float = 0.6,
) -> Dataset:
    """1-D regression with a gap in the training inputs (Dold et al. 2025, arXiv 2503.03382).

    y = f(x) + noise * eps with eps ~ N(0, 1), where f is ``teacher`` (default
    :func:`random_teacher` with ``teacher_seed``: 3 hidden ReLU layers of 16 units on
    [x, x^2, x^3]). Inputs:

    - train: linspace(-limit, limit, train_points) with ``|x|`` > gap (70 points by default),
    - validation: linspace(-limit, limit, validation_points) with ``|x|`` > gap (18 points),
    - test: linspace(-test_limit, test_limit, test_points) (33 points, the gap included).

    The noise of each split comes from its own stream of ``seed``; the teacher depends only on
    ``teacher_seed``, so two seeds give the same function with different noise. x and y have
    shape (N, 1), float32.
    """
    if noise < 0:
        raise ConfigError(f"noise must be non-negative, got {noise!r}")
    function = teacher if teacher is not None else random_teacher(teacher_seed)
    teacher_info = (
        "custom" if teacher is not None else {"seed": teacher_seed, "width": 16, "depth": 3, "powers": [1, 2, 3]}
    )
    inputs = {
        "train": gap_inputs(train_points, limit, gap),
        "validation": gap_inputs(validation_points, limit, gap),
        "test": np.linspace(-test_limit, test_limit, test_points).reshape(-1, 1).astype(np.float32),
    }
    splits = {}
    for stream, (name, x) in enumerate(inputs.items()):
        clean = np.asarray(function(x), dtype=np.float64).reshape(len(x), 1)
        y = clean + noise * generator(seed, stream).standard_normal(clean.shape)
        splits[name] = Split(x, y.astype(np.float32))
    return checked(
        Dataset(
            name="toy_regression",
            task="regression",
            splits=splits,
            seed=seed,
            info={
                "source": "synthetic: random ReLU teacher on polynomial features (Dold et al. 2025)",
                "teacher": teacher_info,
                "noise": noise,
                "gap": gap,
                "normalization": None,
            },
        )
    )


def toy_file(validation_fraction: float = 0.0, seed: int = 0) -> Dataset:
    """The fixed toy regression set ``toy/regression_data.npz`` (Dold et al. 2025 showcase).

    The file holds ``x`` (70, 1) with a gap around 0, ``y`` (70,), ``xt`` (33, 1), ``yt`` (33,).
    Returns train and test splits with y reshaped to (N, 1), float32; with
    ``validation_fraction`` > 0, round(fraction * 70) training examples, chosen at random with
    ``seed``, form a validation split instead. The file has no public download: copy it into
    the data folder's ``toy/`` folder.
    """
    path = fetch("toy_file", "regression_data.npz")
    with np.load(path) as archive:
        missing = {"x", "y", "xt", "yt"} - set(archive.files)
        if missing:
            raise DataError(f"{path} lacks the arrays {sorted(missing)}; it should hold x, y, xt, yt")
        x, y, xt, yt = (np.asarray(archive[k], dtype=np.float32) for k in ("x", "y", "xt", "yt"))
    train = Split(x.reshape(len(x), -1), y.reshape(len(y), -1))
    splits = {"train": train, "test": Split(xt.reshape(len(xt), -1), yt.reshape(len(yt), -1))}
    count = fraction_count(validation_fraction, len(train), "validation_fraction")
    if count:
        splits["train"], splits["validation"] = hold_out(train, count, seed)
    return checked(
        Dataset(
            name="toy_file",
            task="regression",
            splits=splits,
            seed=seed,
            info={
                "source": str(path),
                "validation_fraction": validation_fraction,
                "normalization": None,
            },
        )
    )
