"""The config schema of the minima-volume study (:mod:`landform.studies.volume`): the nested
data, the rays and their exit radii, the curvature measures, the training arms and the seeds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from landform.curvature.measures import MEASURE_NAMES, check_options
from landform.losses import get_loss
from landform.studies.config import Strict, StudyConfig
from landform.train import TrainConfig
from landform.volume import NORMALIZATION_NAMES
from landform.volume.search import DEFAULT_RESOLUTION


class NestedDataSpec(Strict):
    """Which data, how the nested levels are built, and the manipulation of the additions."""

    dataset: str
    options: dict[str, Any] = Field(default_factory=dict, description="options of the loader")
    base: int = Field(gt=0, description="|B|, the base set")
    levels: list[int] = Field(min_length=1, description="numbers q of additions; level q is B ∪ A[:q]")
    manipulation: Literal["none", "poison", "noise", "imbalance"] = "none"
    imbalance_fraction: float = Field(0.9, gt=0, le=1)
    imbalance_classes: list[int] = Field(default_factory=lambda: [0, 1])
    test_size: int | None = Field(None, gt=0, description="use the first test_size test examples")

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[int]) -> list[int]:
        if any(q < 0 for q in value) or sorted(set(value)) != value:
            raise ValueError("levels must be distinct, non-negative and increasing")
        return value


class VolumeSpec(Strict):
    """How rays are cast and exit radii found."""

    directions: int = Field(gt=0, description="random directions per minimum")
    normalization: str = "filter_scale"
    biases: Literal["zero", "keep"] = "zero"
    perturb: str = "all"
    thresholds: list[float] = Field(min_length=1)
    metric: Literal["loss", "correct"] = "loss"
    method: Literal["search", "grid"] = "search"
    tolerance: float = Field(1e-3, gt=0, lt=1)
    resolution: float = Field(
        DEFAULT_RESOLUTION,
        gt=0,
        le=1,
        description="first crossings: an excursion above τ below the reported exit narrower than resolution × "
        "the exit radius may be missed, every wider one is found (1: no check; see landform.volume.exit_radii)",
    )
    max_radius: float = Field(100.0, gt=0)
    grid_points: int = Field(100, ge=2)
    include_ball: bool = False
    bootstrap: int = Field(200, ge=0)
    landscapes: Literal["up_to_model", "up_to_cutoff"] = Field(
        "up_to_cutoff",
        description="measure each minimum in the landscapes of at most its own level, or in every "
        "landscape up to its cutoff (where it stops being inside the largest threshold's set)",
    )

    @field_validator("normalization")
    @classmethod
    def _normalization(cls, value: str) -> str:
        if value not in NORMALIZATION_NAMES:
            raise ValueError(f"unknown normalization {value!r}; known: {', '.join(NORMALIZATION_NAMES)}")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value: list[float]) -> list[float]:
        if any(t <= 0 for t in value):
            raise ValueError("thresholds must be positive")
        return sorted(value)


class MeasuresSpec(Strict):
    """Curvature measures of every minimum (:func:`landform.curvature.measure`), added as columns
    of the volumes table, and their rank correlation with generalisation.

    Each measure is ``true`` (its defaults), a mapping of options for its function, or ``false``.
    """

    top_eigenvalue: bool | dict[str, Any] = False
    trace: bool | dict[str, Any] = False
    average_sharpness: bool | dict[str, Any] = False
    adaptive_sharpness: bool | dict[str, Any] = False
    llc: bool | dict[str, Any] = False
    parameters: str = Field("all", description="leaves of the Hessian measures: all, weights or a regex of paths")
    landscapes: Literal["own", "measured"] = Field(
        "own",
        description="measure each minimum in its own training set (own), or in every landscape its exit radii "
        "are measured in (measured)",
    )
    correlation_resamples: int = Field(1000, ge=0, description="bootstrap draws of each Kendall τ's interval")

    @model_validator(mode="after")
    def _options(self) -> MeasuresSpec:
        for name in MEASURE_NAMES:
            check_options(name, getattr(self, name))  # unknown options fail here, before any work
        return self

    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`landform.curvature.measure`."""
        return {name: getattr(self, name) for name in MEASURE_NAMES} | {"parameters": self.parameters}

    def any(self) -> bool:
        """Whether any measure is asked for."""
        return any(getattr(self, name) is not False for name in MEASURE_NAMES)


class ReferenceSpec(Strict):
    """The reference basin measure of every minimum: log Vol_R(S), the volume of the star domain of
    S = {θ : L(θ) ≤ τ} about θ* within the Euclidean ball of radius R = ``cap``·‖θ*‖ in parameter
    space, estimated by tethered annealing (:func:`landform.volume.capped_log_volume`) with its
    reported error, replicas and convergence flag. Off unless the config has a ``reference:``
    block (it costs 10^5 to 10^7 loss evaluations per minimum and landscape)."""

    landscapes: Literal["own", "measured"] = Field(
        "own", description="own: each minimum's own training set; measured: every landscape of its radii"
    )
    thresholds: list[float] | None = Field(None, description="τ values (default: the volume spec's thresholds)")
    cap: float = Field(1.0, gt=0, description="cap radius R as a multiple of ‖θ*‖")
    chains: int = Field(32, ge=2)
    rungs: int = Field(24, ge=4)
    steps: int = Field(8, ge=2)
    replicas: int = Field(4, ge=2)
    rounding_passes: int = Field(2, ge=0)

    def settings(self):
        """The :class:`landform.volume.AnnealingSettings` of this spec."""
        from landform.volume import AnnealingSettings

        return AnnealingSettings(
            chains=self.chains, rungs=self.rungs, steps=self.steps, replicas=self.replicas,
            rounding_passes=self.rounding_passes,
        )  # fmt: skip


class Arm(Strict):
    """A training variant applied at every level (e.g. SAM against AdamW, or a batch size)."""

    label: str
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the train settings")


class Seeds(Strict):
    """Model seeds (initialisation, directions) and data seeds, paired position by position."""

    model: list[int] = Field(default_factory=lambda: [0], min_length=1)
    data: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @model_validator(mode="after")
    def _pairs(self) -> Seeds:
        if len(self.model) != len(self.data) and 1 not in (len(self.model), len(self.data)):
            raise ValueError("give as many model seeds as data seeds (or one of either)")
        return self

    def pairs(self) -> list[tuple[int, int]]:
        """(model seed, data seed) position by position; a single seed is paired with every other."""
        n = max(len(self.model), len(self.data))
        model = self.model * n if len(self.model) == 1 else self.model
        data = self.data * n if len(self.data) == 1 else self.data
        return list(zip(model, data))


class Config(StudyConfig):
    """A minima-volume experiment (see :mod:`landform.studies.volume`)."""

    study: Literal["volume"] = "volume"
    data: NestedDataSpec
    model: dict[str, Any] = Field(
        description="a model spec for landform.models.build; input_shape is taken from the data"
    )
    loss: str
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields")
    arms: list[Arm] = Field(default_factory=lambda: [Arm(label="default")], min_length=1)
    checkpoints: list[int] = Field(
        default_factory=list, description="epochs whose parameters are measured too (grokking)"
    )
    volume: VolumeSpec
    seeds: Seeds = Field(default_factory=Seeds)
    figure_landscape: int = Field(0, description="the level q of the fixed landscape of figure A")
    measures: MeasuresSpec | None = Field(
        None, description="curvature measures of every minimum and their rank correlation with generalisation"
    )

    reference: ReferenceSpec | None = Field(
        None,
        description="the reference basin measure (tethered annealing) of every minimum",
        exclude_if=lambda value: value is None,  # runs without it keep their config.json byte for byte
    )

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        get_loss(self.loss)  # unknown loss names fail here, before any work
        for arm in self.arms:
            try:
                TrainConfig.model_validate(self._train_settings(arm))
            except Exception as e:  # noqa: BLE001 - re-raised as a config error with context
                raise ValueError(f"train settings of arm {arm.label!r} are invalid: {e}") from None
        if self.figure_landscape not in self.data.levels:
            raise ValueError(f"figure_landscape {self.figure_landscape} is not one of the levels {self.data.levels}")
        if self.reference is not None and self.reference.thresholds:
            unknown = sorted(set(self.reference.thresholds) - set(self.volume.thresholds))
            if unknown:
                raise ValueError(
                    f"reference thresholds {unknown} are not volume thresholds {self.volume.thresholds}; the reference "
                    "sits beside the paper's estimate at the same τ"
                )
        if len({a.label for a in self.arms}) != len(self.arms):
            raise ValueError("arm labels must be distinct")
        return self

    def _train_settings(self, arm: Arm) -> dict[str, Any]:
        """The TrainConfig fields of ``arm``: the config's, the arm's overrides, the checkpoints."""
        settings = {**self.train, **arm.train}
        if self.checkpoints:
            settings["checkpoint_epochs"] = sorted(set(self.checkpoints))
        return settings

    def train_config(self, arm: Arm, seed: int) -> TrainConfig:
        """How the minima of ``arm`` are trained from the initialisation of ``seed``."""
        return TrainConfig.model_validate({**self._train_settings(arm), "seed": seed})

    @property
    def sizes(self) -> list[int]:
        """Examples of each level: base + q."""
        return [self.data.base + q for q in self.data.levels]


__all__ = ["Arm", "Config", "MeasuresSpec", "NestedDataSpec", "ReferenceSpec", "Seeds", "VolumeSpec"]
