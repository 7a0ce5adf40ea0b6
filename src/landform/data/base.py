"""Dataset containers shared by every loader and manipulation.

A :class:`Split` is a pair of arrays (inputs ``x``, targets ``y``) with the examples along the
first axis. A :class:`Dataset` is a named set of splits plus metadata. Arrays are NumPy
(float32 inputs; int32 class labels or float32 regression targets); JAX converts them on use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from landform.errors import DataError, ShapeError, check_finite

Task = Literal["classification", "binary", "regression", "language"]


@dataclass(frozen=True)
class Split:
    """Inputs ``x`` of shape (N, ...) and targets ``y`` of shape (N,) or (N, d)."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ShapeError(
                f"inputs and targets disagree on the number of examples: x has shape "
                f"{tuple(np.shape(self.x))}, y has shape {tuple(np.shape(self.y))}"
            )

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index) -> Split:
        """The examples at ``index`` (an integer array, slice or boolean mask)."""
        return Split(self.x[index], self.y[index])

    def check_finite(self, name: str = "split") -> Split:
        check_finite(f"{name} inputs", self.x)
        check_finite(f"{name} targets", self.y)
        return self

    @staticmethod
    def concatenate(splits: list[Split]) -> Split:
        return Split(np.concatenate([s.x for s in splits]), np.concatenate([s.y for s in splits]))


def check_split(split: Any, name: str) -> Split:
    """``split`` if it is a non-empty :class:`Split` of finite values; else a :class:`DataError`
    naming it (``name``: "train", "validation", ...)."""
    if not isinstance(split, Split):
        raise DataError(f"the {name} data must be a landform.data.Split, got {type(split).__name__}")
    if len(split) == 0:
        raise DataError(f"the {name} split is empty; give at least one example")
    return split.check_finite(name)


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its splits and what produced them.

    ``splits`` maps split names ("train", "validation", "test", ...) to :class:`Split`.
    ``info`` records the source, normalisation and any statistics needed to map predictions
    back to original units (for example ``target_mean`` and ``target_std``).
    """

    name: str
    task: Task
    splits: dict[str, Split]
    num_classes: int | None = None
    seed: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, split: str) -> Split:
        try:
            return self.splits[split]
        except KeyError:
            raise DataError(
                f"dataset {self.name!r} has no split {split!r}; its splits are {sorted(self.splits)}"
            ) from None

    @property
    def train(self) -> Split:
        return self["train"]

    @property
    def test(self) -> Split:
        return self["test"]

    @property
    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.splits.values())).x.shape[1:])

    def replace(self, **changes) -> Dataset:
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable description (name, task, sizes, seed, info)."""
        return {
            "name": self.name,
            "task": self.task,
            "num_classes": self.num_classes,
            "seed": self.seed,
            "sizes": self.sizes,
            "input_shape": list(self.input_shape),
            "info": _jsonable(self.info),
        }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
