"""The minima-volume study (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize: A Loss
Landscape Perspective on Data", arXiv 2511.04808).

For each seed: build nested training sets (base B, ordered pool A, level q = B ∪ A[:q]; with
poisoned, noise or class-imbalanced variants); train one minimum per level (and per "arm", e.g.
AdamW against SAM, or per batch size; optionally keeping checkpoints) from one shared
initialisation; cast random normalised rays from each minimum and find their exit radii in every
nested landscape it lies in; estimate volumes; compute cutoffs and test metrics; draw figures
and write a report.

Stages (each cached by a hash of its inputs under ``<run>/stages`` and resumed on rerun):
``data`` (per data seed) → ``train`` (per seed, level, arm) → ``radii`` (per minimum) →
``analysis`` (tables, figures, report; always redone, it is cheap).

Outputs: ``tables/volumes.parquet|csv`` with one row per (seed, landscape level, model level,
arm, checkpoint, threshold); ``tables/cutoffs``; ``tables/ranking_stability``; figures (A) the
fixed-landscape volume against training-set size and test loss against volume, (B) each
minimum's volume across landscapes up to its cutoff, histograms of exit radii, ranking
stability (drawn from the tables by :mod:`landform.studies.volume_figures`); ``report.html``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from landform.curvature.measures import MEASURE_NAMES, check_options, measure
from landform.data import Split, load
from landform.data.manipulate import (
    imbalanced_nested,
    nested_levels,
    noise_examples,
    poison_labels,
)
from landform.errors import ConfigError
from landform.landscape import Landscape
from landform.losses import check_compatible, get_loss
from landform.models import Model
from landform.store import RunFolder, StageResult, open_run, run_stage, save_splits, write_report
from landform.studies import Study
from landform.studies.analysis import GENERALISATION_MEASURES, per_minimum, rank_correlations
from landform.studies.common import load_data, make_model
from landform.studies.config import Strict
from landform.studies.volume_figures import RadiusHistogram, volume_figures
from landform.train import TrainConfig, fit, load_trained, save_trained
from landform.volume import (
    NORMALIZATION_NAMES,
    ExitRadii,
    cutoffs,
    estimate,
    exit_radii,
    grid_radii,
    load_radii,
    random_directions,
    ranking_stability,
    save_radii,
)
from landform.volume.estimators import INTERVAL, MAX_PARETO_K, MIN_EFFECTIVE_RAYS
from landform.volume.radii import UNRESOLVED
from landform.volume.search import DEFAULT_RESOLUTION

STATISTICS = ("log_volume", "log_max_volume", "mean_log_radius", "median_radius")


# ============================================================================ configuration


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
        return any(getattr(self, name) is not False for name in MEASURE_NAMES)


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
        n = max(len(self.model), len(self.data))
        model = self.model * n if len(self.model) == 1 else self.model
        data = self.data * n if len(self.data) == 1 else self.data
        return list(zip(model, data))


class Config(Strict):
    """A minima-volume experiment (see the module docstring)."""

    study: Literal["volume"] = "volume"
    name: str
    variant: str = "paper"
    description: str = ""
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
        return [self.data.base + q for q in self.data.levels]


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


# ============================================================================ stages


def build_data(spec: NestedDataSpec, seed: int) -> tuple[Split, Split, dict]:
    """The ordered pool (B, then A) and the test split for one data seed."""
    options = dict(spec.options)
    try:
        dataset = load(spec.dataset, seed=seed, **options)
    except ConfigError as e:
        if "seed" not in str(e):
            raise
        dataset = load(spec.dataset, **options)
    train = dataset.train
    sizes = [spec.base + q for q in spec.levels]
    largest = max(sizes)
    num_classes = dataset.num_classes or int(np.max(train.y)) + 1
    if spec.manipulation == "noise":
        nested = nested_levels(train, [spec.base], seed=seed, base_size=spec.base)
        noise = noise_examples(train, largest - spec.base, num_classes, seed=seed + 7919)
        pool = Split.concatenate([nested.split, noise])
    else:
        if largest > len(train):
            raise ConfigError(
                f"the largest level needs {largest} examples but {spec.dataset!r} has {len(train)} training examples; "
                "lower the levels or the base"
            )
        if spec.manipulation == "imbalance":
            nested = imbalanced_nested(train, sizes, spec.imbalance_fraction, spec.imbalance_classes, seed)
        else:
            nested = nested_levels(train, sizes, seed=seed, base_size=spec.base)
        pool = nested.split
        if spec.manipulation == "poison":
            pool = poison_labels(pool, np.arange(spec.base, len(pool)), num_classes, seed=seed + 104729)
    test = dataset.test if spec.test_size is None else dataset.test.take(slice(0, spec.test_size))
    description = dataset.describe()
    description.update(
        {"pool_size": len(pool), "base": spec.base, "levels": spec.levels, "manipulation": spec.manipulation}
    )
    return pool, test, description


def run(
    config: Config,
    folder: str | Path,
    *,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the study into ``folder``; returns the report's path.

    ``cache`` is the folder of cached stages (default ``<folder>/stages``); runs of a sweep share
    one, so that runs differing only in later settings reuse earlier stages.
    """
    run_folder, cache = open_run(folder, config.model_dump(), cache)
    minima: list[Minimum] = []
    for model_seed, data_seed in config.seeds.pairs():
        data = _data_stage(config, cache, data_seed, log)
        minima += _train_minima(config, cache, data, model_seed, data_seed, progress, log)

    measured = []
    for index, minimum in enumerate(minima):
        log(
            f"exit radii of minimum {index + 1}/{len(minima)}: level {minimum.model_level}, arm {minimum.arm}, "
            f"{minimum.checkpoint}, seed {minimum.model_seed}"
        )
        minimum = minimum._replace(radii=_radii_stage(config, cache, minimum, log))
        if config.measures is not None and config.measures.any():
            minimum = minimum._replace(measures=_measures_stage(config, cache, minimum, log))
        measured.append(minimum)

    return _analyse(config, run_folder, measured, log)


def _data_stage(config: Config, cache: Path, data_seed: int, log) -> SeedData:
    """The pool and test split of ``data_seed`` (``data.npz``, ``dataset.json``), cached."""
    inputs = {"data": config.data.model_dump(), "seed": data_seed}

    def compute(out: Path) -> dict:
        pool, test, description = build_data(config.data, data_seed)
        save_splits(out / "data.npz", {"pool": pool, "test": test})
        (out / "dataset.json").write_text(json.dumps(description, default=str))
        return {"pool": len(pool), "test": len(test)}

    stage = run_stage(cache, "data", inputs, compute, log=log)
    saved = load_data(stage)
    description = json.loads((stage.folder / "dataset.json").read_text())
    return SeedData(stage, saved["pool"], saved["test"], description)


def _train_minima(
    config: Config, cache: Path, data: SeedData, model_seed: int, data_seed: int, progress, log
) -> list[Minimum]:
    """Train (or find cached) the minima of every arm and level from the initialisation of
    ``model_seed``; one :class:`Minimum` per saved checkpoint."""
    model = make_model(config.model, data.pool.x.shape[1:])
    initial = model.init(jax.random.key(model_seed))
    check_compatible(get_loss(config.loss), jax.eval_shape(model.apply, initial, data.pool.x[:1]).shape, data.pool.y)
    minima = []
    for arm in config.arms:
        train_config = config.train_config(arm, model_seed)
        for level, size in zip(config.data.levels, config.sizes):
            stage = _train_stage(config, cache, data, model, initial, train_config, size, model_seed, progress, log)
            labels = ["final"] + [
                f"epoch{epoch}" for epoch in sorted(config.checkpoints) if (stage.folder / f"epoch{epoch}").exists()
            ]
            for label in labels:
                minima.append(Minimum(model_seed, data_seed, arm.label, level, size, label, stage, data.stage))
    return minima


def _train_stage(
    config: Config,
    cache: Path,
    data: SeedData,
    model: Model,
    initial: Any,
    train_config: TrainConfig,
    size: int,
    model_seed: int,
    progress,
    log,
) -> StageResult:
    """The minimum trained from ``initial`` on the first ``size`` examples of the pool: one
    saved model per checkpoint (``final``, ``epoch<e>``), cached."""
    inputs = {
        "data": data.stage.key,
        "model": model.spec,
        "loss": config.loss,
        "train": train_config.model_dump(),
        "size": size,
        "model_seed": model_seed,
    }

    def compute(out: Path) -> dict:
        log(f"  training on {size} examples (seed {model_seed}, {train_config.epochs} epochs)")
        result = fit(
            model,
            initial,
            data.pool.take(slice(0, size)),
            get_loss(config.loss),
            train_config,
            test=data.test,
            progress=progress,
        )
        saved = {"final": result.params, **{f"epoch{epoch}": params for epoch, params in result.checkpoints.items()}}
        extra = {"size": size, "stopped_early": result.stopped_early, "reason": result.reason}
        for label, params in saved.items():
            save_trained(
                out / label,
                model,
                params,
                config=train_config,
                dataset_description=data.description,
                history=result.history,
                extra=extra,
            )
        return {
            "epochs_run": result.epochs_run,
            "reason": result.reason,
            "train_loss": result.history["train_loss"][-1],
        }

    return run_stage(cache, "train", inputs, compute, log=log)


def _radii_stage(config: Config, cache: Path, minimum: Minimum, log) -> StageResult:
    """The exit radii of ``minimum`` in the landscapes it is measured in (``radii.npz``,
    ``radii.json``) and its per-example training losses (``per_example.npy``), cached."""
    spec = config.volume
    inputs = {
        "minimum": minimum.train.key,
        "checkpoint": minimum.checkpoint,
        "volume": spec.model_dump(exclude={"bootstrap", "include_ball"}),
        "levels": config.sizes,
        "model_seed": minimum.model_seed,
    }

    def compute(out: Path) -> dict:
        model, params, _ = load_trained(minimum.train.folder / minimum.checkpoint)
        pool = load_data(minimum.data)["pool"]
        landscape = Landscape.from_apply(
            model.apply, params, pool.x, pool.y, config.loss, first_layer=model.first_layer
        )
        theta = landscape.theta
        centre = np.asarray(landscape.prefix_losses(theta, config.sizes))
        sizes = _measured_sizes(config, centre, minimum.model_examples)
        np.save(out / "per_example.npy", np.asarray(landscape.per_example(theta)))
        directions = random_directions(
            jax.random.fold_in(jax.random.key(minimum.model_seed), 1),
            theta,
            params,
            normalization=spec.normalization,
            biases=spec.biases,
            perturb=spec.perturb,
            unit_axis=model.unit_axis,
        )
        result = _cast_rays(spec, landscape, directions, sizes)
        save_radii(out, result)
        return {
            "evaluations_per_ray": float(np.mean(result.evaluations)),
            "censored": int(result.censored.sum()),
            "sizes": sizes,
        }

    return run_stage(cache, "radii", inputs, compute, log=log)


def _measures_stage(config: Config, cache: Path, minimum: Minimum, log) -> StageResult:
    """The curvature measures of ``minimum`` (``measures.json``: landscape size → {column: value}),
    in its own training set or in every landscape of its radii stage, cached."""
    spec = config.measures
    if spec.landscapes == "own":
        sizes = [minimum.model_examples]
    else:
        sizes = [int(size) for size in load_radii(minimum.radii.folder).sizes]
    inputs = {
        "minimum": minimum.train.key,
        "checkpoint": minimum.checkpoint,
        "measures": spec.model_dump(exclude={"correlation_resamples"}),
        "sizes": sizes,
        "model_seed": minimum.model_seed,
    }

    def compute(out: Path) -> dict:
        model, params, _ = load_trained(minimum.train.folder / minimum.checkpoint)
        pool = load_data(minimum.data)["pool"]
        records = {}
        for size in sizes:
            log(f"  curvature measures in the {size}-example landscape")
            landscape = Landscape.from_apply(model.apply, params, pool.x[:size], pool.y[:size], config.loss)
            key = jax.random.fold_in(jax.random.key(minimum.model_seed), 2)
            records[str(size)] = measure(landscape, unit_axis=model.unit_axis, key=key, **spec.options())
        (out / "measures.json").write_text(json.dumps(records))
        return {"sizes": sizes, **{f"{k}_own": v for k, v in records[str(sizes[-1])].items()}}

    return run_stage(cache, "measures", inputs, compute, log=log)


def _measure_columns(config: Config, minimum: Minimum) -> Callable[[int], dict[str, Any]]:
    """landscape size → the curvature columns of that row of ``minimum`` (none without measures)."""
    if minimum.measures is None:
        return lambda size: {}
    records = json.loads((minimum.measures.folder / "measures.json").read_text())
    if config.measures.landscapes == "own":
        own = records[str(minimum.model_examples)]
        return lambda size: {"measure_examples": minimum.model_examples, **own}
    return lambda size: {"measure_examples": size, **records[str(size)]}


def _measured_sizes(config: Config, centre: np.ndarray, model_examples: int) -> list[int]:
    """The landscapes a minimum is measured in: those of its own level and below, and, with
    ``landscapes: up_to_cutoff``, larger ones as long as its loss there (``centre``, one per
    landscape) is inside the largest threshold's set."""
    spec = config.volume
    return [
        size
        for size, value in zip(config.sizes, centre)
        if size <= model_examples or (spec.landscapes == "up_to_cutoff" and value <= max(spec.thresholds))
    ]


def _cast_rays(spec: VolumeSpec, landscape: Landscape, directions: Any, sizes: list[int]) -> ExitRadii:
    """The exit radii of ``spec.directions`` rays along ``directions`` in the landscapes of ``sizes``."""
    common = {"sizes": sizes, "metric": spec.metric}
    if spec.method == "grid":
        return grid_radii(
            landscape,
            directions,
            spec.directions,
            spec.thresholds,
            max_radius=spec.max_radius,
            num_points=spec.grid_points,
            **common,
        )
    return exit_radii(
        landscape,
        directions,
        spec.directions,
        spec.thresholds,
        tolerance=spec.tolerance,
        max_radius=spec.max_radius,
        resolution=spec.resolution,
        **common,
    )


# ============================================================================ analysis


class StabilityMember(NamedTuple):
    """One minimum's sphere radii in one landscape at one threshold, for the ranking stability
    of the minima of one seed, arm and checkpoint."""

    model_level: int
    sphere_radii: np.ndarray  # (K,)
    dimension: int


class MinimumTables(NamedTuple):
    """What one minimum adds to the tables and figures."""

    volumes: list[dict[str, Any]]  # rows of ``volumes``: one per landscape and threshold
    cutoffs: list[dict[str, Any]]  # rows of ``cutoffs``: one per threshold
    stability: list[tuple[tuple, StabilityMember]]  # (seed, arm, checkpoint, landscape size, τ), member
    histograms: list[RadiusHistogram]  # its exit radii in its own landscape at the smallest τ


def _analyse(config: Config, run_folder: RunFolder, minima: list[Minimum], log) -> Path:
    level_of = dict(zip(config.sizes, config.data.levels))
    rows, cutoff_rows, histograms = [], [], []
    stability_inputs: dict[tuple, list[StabilityMember]] = {}
    for minimum in minima:
        tables = _measure_minimum(config, minimum, level_of)
        rows += tables.volumes
        cutoff_rows += tables.cutoffs
        histograms += tables.histograms
        for group, member in tables.stability:
            stability_inputs.setdefault(group, []).append(member)
    table = pd.DataFrame(rows)
    run_folder.write_table("volumes", table)
    cutoff_table = pd.DataFrame(cutoff_rows)
    run_folder.write_table("cutoffs", cutoff_table)
    stability = _stability(stability_inputs)
    run_folder.write_table("ranking_stability", stability)
    correlations = None
    if config.measures is not None:
        # which measure of a minimum, in its own landscape at the smallest τ, predicts its generalisation
        own = per_minimum(table, config.volume.thresholds[0])
        correlations = rank_correlations(own, resamples=config.measures.correlation_resamples, seed=0)
        run_folder.write_table("rank_correlations", correlations)

    figures = volume_figures(
        run_folder,
        table,
        stability,
        histograms,
        threshold=config.volume.thresholds[0],
        fixed_examples=config.data.base + config.figure_landscape,
        correlations=correlations,
    )
    return _report(config, run_folder, table, figures, len(minima), log, correlations)


def _measure_minimum(config: Config, minimum: Minimum, level_of: dict[int, int]) -> MinimumTables:
    """The volume estimates, cutoffs and test metrics of one minimum, from its radii stage."""
    spec = config.volume
    result = load_radii(minimum.radii.folder)
    per_example = np.load(minimum.radii.folder / "per_example.npy")
    test_loss, test_accuracy = _test_metrics(config, minimum)
    estimates = {
        s: estimate(
            result,
            statistic=s,
            include_ball=spec.include_ball,
            num_resamples=max(spec.bootstrap, 1),
            seed=minimum.model_seed,
        )
        for s in STATISTICS
    }
    cutoff_of = {
        tau: cutoffs(per_example[None], tau, training_sizes=[minimum.model_examples]) for tau in spec.thresholds
    }
    key = minimum.identity()
    measure_columns = _measure_columns(config, minimum)
    tables = MinimumTables([], [], [], [])
    for tau in result.thresholds:
        cutoff = cutoff_of[tau]
        tables.cutoffs.append(
            {**key, "threshold": tau, "cutoff_examples": int(cutoff.cutoff[0]), "leaves_pool": bool(cutoff.leaves[0])}
        )
    for q, size in enumerate(result.sizes):
        train_loss = float(result.center_values[q])
        for t, tau in enumerate(result.thresholds):
            outside = bool(result.outside_by[q, t] > 0)
            row = {
                **key,
                "landscape_level": level_of[size],
                "landscape_examples": size,
                "threshold": tau,
                "status": _status(result, q, t, outside),
                "outside_by": float(max(result.outside_by[q, t], 0.0)),
                "train_loss": train_loss,
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "cutoff_examples": int(cutoff_of[tau].cutoff[0]),
                "parameters": int(result.dimension),
                "directions": int(result.radii.shape[0]),
                "censored": int(result.censored[:, q, t].sum()),
                "unresolved": int((result.status[:, q, t] == UNRESOLVED).sum()),
                "evaluations_per_ray": float(np.mean(result.evaluations)),
                **_estimate_columns(estimates, q, t, outside),
                **measure_columns(size),
            }
            tables.volumes.append(row)
            if outside:
                continue
            group = (minimum.model_seed, minimum.arm, minimum.checkpoint, size, tau)
            tables.stability.append(
                (group, StabilityMember(minimum.model_level, result.sphere_radii[:, q, t], result.dimension))
            )
            if size == minimum.model_examples and t == 0:
                histogram = RadiusHistogram(
                    minimum.model_level, minimum.model_seed, minimum.arm, minimum.checkpoint, result.radii[:, q, t]
                )
                tables.histograms.append(histogram)
    return tables


def _test_metrics(config: Config, minimum: Minimum) -> tuple[float, float]:
    """Test loss and test accuracy (NaN for losses without one) of a minimum."""
    model, params, _ = load_trained(minimum.train.folder / minimum.checkpoint)
    test = load_data(minimum.data)["test"]
    landscape = Landscape.from_apply(model.apply, params, test.x, test.y, config.loss)
    test_loss = float(landscape.loss(landscape.theta))
    test_accuracy = float(landscape.accuracy(landscape.theta)) if get_loss(config.loss).accuracy_kind else float("nan")
    return test_loss, test_accuracy


def _status(result, q: int, t: int, outside: bool) -> str:
    """One word for a (landscape, threshold) cell: outside (θ* above τ), unresolved (some ray's
    exit could not be bracketed), censored (some ray still inside at r_max) or inside."""
    if outside:
        return "outside"
    if (result.status[:, q, t] == UNRESOLVED).any():
        return "unresolved"
    return "censored" if result.censored[:, q, t].any() else "inside"


def _estimate_columns(estimates: dict, q: int, t: int, outside: bool) -> dict[str, Any]:
    """The columns of each statistic's estimate in landscape ``q`` at threshold ``t``: the value,
    its percentile bootstrap over directions (``_low``, ``_high``), whether it is a lower bound
    (censored rays) and whether it is reliable (:func:`landform.volume.estimators.estimate`);
    for the log-volume also the effective number of rays and the Pareto k̂ of the weights.
    Never a silent -inf: outside rows get NaN and the status says why."""
    columns: dict[str, Any] = {}
    for name, statistic in estimates.items():
        value = float(statistic.value[q, t])
        columns[name] = value if np.isfinite(value) and not outside else float("nan")
        columns[f"{name}_low"] = float(statistic.lower[q, t]) if not outside else float("nan")
        columns[f"{name}_high"] = float(statistic.upper[q, t]) if not outside else float("nan")
        columns[f"{name}_is_lower_bound"] = bool(statistic.is_lower_bound[q, t])
        columns[f"{name}_reliable"] = bool(statistic.reliable[q, t])
        if name == "log_volume":
            columns["log_volume_effective_rays"] = (
                float(statistic.effective_rays[q, t]) if not outside else float("nan")
            )
            columns["log_volume_pareto_k"] = float(statistic.pareto_k[q, t]) if not outside else float("nan")
    return columns


STABILITY_COLUMNS = [
    "model_seed",
    "arm",
    "checkpoint",
    "landscape_examples",
    "threshold",
    "directions",
    "probability",
    "models",
]


def _stability(groups: dict[tuple, list[StabilityMember]]) -> pd.DataFrame:
    """Ranking stability of the minima of one seed, arm and checkpoint in each landscape."""
    rows = []
    for (seed, arm, checkpoint, size, tau), members in groups.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda member: member.model_level)
        radii = np.stack([member.sphere_radii for member in members])  # (M, K)
        dimension = members[0].dimension
        k_max = radii.shape[1]
        subset_sizes = sorted({k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if k <= k_max} | {k_max})
        result = ranking_stability(radii, dimension, subset_sizes, num_draws=200, seed=seed)
        for directions, probability in zip(result.subset_sizes, result.probability):
            rows.append(
                {
                    "model_seed": seed,
                    "arm": arm,
                    "checkpoint": checkpoint,
                    "landscape_examples": size,
                    "threshold": tau,
                    "directions": int(directions),
                    "probability": float(probability),
                    "models": len(members),
                }
            )
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


HEADLINE_COLUMNS = [
    "model_seed",
    "arm",
    "checkpoint",
    "model_examples",
    "mean_log_radius",
    "mean_log_radius_low",
    "mean_log_radius_high",
    "log_volume",
    "log_volume_low",
    "log_volume_high",
    "log_volume_effective_rays",
    "log_volume_reliable",
    "test_loss",
    "test_accuracy",
    "status",
]


def diagnostics_notes(table: pd.DataFrame, max_radius: float) -> list[str]:
    """The report's warnings about the estimates: unreliable log-volumes, censored and
    unresolved rays (each one line, empty when there is nothing to say)."""
    notes = []
    measured = table[table.status != "outside"]
    unreliable = measured[~measured.log_volume_reliable.astype(bool)]
    if len(unreliable):
        notes.append(
            f"⚠ {len(unreliable)} of {len(measured)} log-volumes are unreliable (log_volume_reliable = False): they "
            f"rest on fewer than {MIN_EFFECTIVE_RAYS} effective rays (weights ρ_i^n, (Σw)²/Σw²), or the weights' "
            f"Pareto k̂ exceeds {MAX_PARETO_K} (or ArviZ's sample-size threshold), or a ray is unresolved. In high "
            "dimension log V̂ is then set by the few largest rays and its low/high columns (a "
            f"{INTERVAL}) sit below the truth; compare mean_log_radius or median_radius instead."
        )
    if measured.censored.sum():
        notes.append(
            f"⚠ {int(measured.censored.sum())} rays did not cross the threshold up to r_max={max_radius} and are "
            "right-censored; estimates with censored rays are lower bounds."
        )
    if measured.unresolved.sum():
        notes.append(
            f"⚠ {int(measured.unresolved.sum())} rays ended unresolved (their exit could not be bracketed); the "
            "estimates of those cells are flagged unreliable and the status column says 'unresolved'."
        )
    return notes


def diagnostics_line(table: pd.DataFrame) -> str:
    """A one-line summary of the diagnostics for the terminal."""
    measured = table[table.status != "outside"]
    unreliable = int((~measured.log_volume_reliable.astype(bool)).sum())
    return (
        f"diagnostics: {unreliable} of {len(measured)} log-volumes unreliable, {int(measured.censored.sum())} rays "
        f"censored, {int(measured.unresolved.sum())} unresolved, {int((table.status == 'outside').sum())} cells outside"
    )


def _report(
    config: Config,
    run_folder: RunFolder,
    table: pd.DataFrame,
    figures: list,
    minima: int,
    log,
    correlations: pd.DataFrame | None = None,
) -> Path:
    spec = config.volume
    notes = []
    outside = table[table.status == "outside"]
    if len(outside):
        notes.append(
            f"{len(outside)} (minimum, landscape, threshold) rows are outside the τ-sublevel set (their loss at the "
            "minimum exceeds τ); their volumes are left empty and the status column says so."
        )
    notes += diagnostics_notes(table, spec.max_radius)
    summary = (
        f"{config.description or config.name} — variant {config.variant}: {minima} minima "
        f"({len(config.seeds.pairs())} seed pair(s), {len(config.arms)} arm(s), levels {config.data.levels}), "
        f"{spec.directions} {spec.normalization}-normalised directions each, thresholds {spec.thresholds}."
    )
    headline = table[(table.landscape_level == config.figure_landscape) & (table.threshold == spec.thresholds[0])]
    headline_title = (
        f"volumes in the {config.data.base + config.figure_landscape}-example landscape, τ={spec.thresholds[0]}"
    )
    tables = {headline_title: headline[HEADLINE_COLUMNS]}
    if correlations is not None:
        title = (
            f"rank correlation (Kendall τ, {config.measures.correlation_resamples}-draw bootstrap interval over "
            f"minima) of each measure with test loss and generalisation gap; each minimum in its own landscape, "
            f"τ={spec.thresholds[0]}"
        )
        tables[title] = correlations
        measured = [m for m in GENERALISATION_MEASURES if m in table.columns]
        if "llc_flagged" in table.columns:
            minima_rows = table.drop_duplicates(["model_seed", "data_seed", "arm", "model_level", "checkpoint"])
            flagged = int(minima_rows.llc_flagged.sum())
        else:
            flagged = 0
        if flagged:
            notes.append(
                f"⚠ the LLC of {flagged} minima is flagged (its SGLD chains drifted, diverged or were too short, or "
                "the estimate is negative): see llc_flagged in the table and take more or smaller steps."
            )
        log(f"measures: {', '.join(measured)}; rank correlations over {int(correlations.minima.max())} minima")
    tables["all volumes"] = table
    report = write_report(
        run_folder.path("report.html"),
        title=f"Minima volume: {config.name} ({config.variant})",
        summary=summary,
        notes=notes,
        config=config.model_dump(),
        tables=tables,
        figures=figures,
    )
    log(diagnostics_line(table))
    log(f"report: {report}")
    return report


STUDY = Study("volume", Config, run)
