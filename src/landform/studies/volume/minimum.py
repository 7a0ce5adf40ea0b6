"""The records of the minima-volume study (:mod:`landform.studies.volume`) that its stages hand
to its tables: one :class:`Minimum` and the stages that hold it, one data seed's :class:`SeedData`."""

from __future__ import annotations

from typing import Any, NamedTuple

from landform.data import Split
from landform.store import StageResult


class Minimum(NamedTuple):
    """One minimum of the study (the end of a training run, or one of its checkpoints) and the
    stages that hold it."""

    model_seed: int  # initialisation and directions
    data_seed: int
    arm: str  # the label of its training arm
    model_level: int  # q: it was trained on B ∪ A[:q]
    model_examples: int  # |B| + q
    checkpoint: str  # "final", or "epoch<e>" for the parameters after epoch e
    train: StageResult  # the train stage (one folder per checkpoint)
    data: StageResult  # the data stage (pool and test split)
    radii: StageResult | None = None  # the radii stage, once its exit radii are found
    measures: StageResult | None = None  # the measures stage, when the config asks for measures
    reference: StageResult | None = None  # the reference stage, when the config asks for it

    def identity(self) -> dict[str, Any]:
        """The columns that name this minimum in the tables."""
        return {
            "model_seed": self.model_seed,
            "data_seed": self.data_seed,
            "arm": self.arm,
            "model_level": self.model_level,
            "model_examples": self.model_examples,
            "checkpoint": self.checkpoint,
        }


class SeedData(NamedTuple):
    """The data of one data seed, read back from its stage."""

    stage: StageResult
    pool: Split  # B, then the ordered additions A
    test: Split
    description: dict[str, Any]  # the dataset's description, with the pool's


__all__ = ["Minimum", "SeedData"]
