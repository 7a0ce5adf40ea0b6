"""The stages of the minima-volume study (:mod:`landform.studies.volume`): ``data`` (per data
seed) → ``train`` (per seed, level, arm) → ``radii`` (per minimum) → ``measures`` (per minimum,
when the config asks for curvature measures) → ``reference`` (per minimum, when the config has
a ``reference:`` block), each cached by a hash of its inputs; then the
analysis (:func:`landform.studies.volume.tables.analyse`), always redone. The stages' names and
files are those of :mod:`landform.studies.volume.layout`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from landform.curvature.measures import measure
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
from landform.store import StageResult, open_run, run_stage, save_splits
from landform.studies.common import make_model
from landform.studies.volume import layout
from landform.studies.volume.config import Config, NestedDataSpec, VolumeSpec
from landform.studies.volume.minimum import Minimum, SeedData
from landform.studies.volume.reference import reference_stage
from landform.studies.volume.tables import analyse
from landform.train import TrainConfig, fit, load_trained, save_trained
from landform.volume import ExitRadii, exit_radii, grid_radii, load_radii, random_directions, save_radii


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
        if config.reference is not None:
            minimum = minimum._replace(reference=reference_stage(config, cache, minimum, log))
        measured.append(minimum)

    return analyse(config, run_folder, measured, log)


def _data_stage(config: Config, cache: Path, data_seed: int, log) -> SeedData:
    """The pool and test split of ``data_seed`` (``data.npz``, ``dataset.json``), cached."""
    inputs = {"data": config.data.model_dump(), "seed": data_seed}

    def compute(out: Path) -> dict:
        pool, test, description = build_data(config.data, data_seed)
        save_splits(layout.data_file(out), {layout.POOL: pool, layout.TEST: test})
        (out / layout.DATASET_FILE).write_text(json.dumps(description, default=str))
        return {"pool": len(pool), "test": len(test)}

    stage = run_stage(cache, layout.DATA_STAGE, inputs, compute, log=log)
    saved = layout.load_stage_splits(stage.folder)
    description = json.loads((stage.folder / layout.DATASET_FILE).read_text())
    return SeedData(stage, saved[layout.POOL], saved[layout.TEST], description)


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
            labels = [layout.FINAL] + [
                layout.checkpoint_label(epoch)
                for epoch in sorted(config.checkpoints)
                if (stage.folder / layout.checkpoint_label(epoch)).exists()
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
        saved = {
            layout.FINAL: result.params,
            **{layout.checkpoint_label(epoch): params for epoch, params in result.checkpoints.items()},
        }
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

    return run_stage(cache, layout.TRAIN_STAGE, inputs, compute, log=log)


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
        pool = layout.load_stage_splits(minimum.data.folder)[layout.POOL]
        landscape = Landscape.from_apply(
            model.apply, params, pool.x, pool.y, config.loss, first_layer=model.first_layer
        )
        theta = landscape.theta
        centre = np.asarray(landscape.prefix_losses(theta, config.sizes))
        sizes = _measured_sizes(config, centre, minimum.model_examples)
        np.save(out / layout.PER_EXAMPLE_FILE, np.asarray(landscape.per_example(theta)))
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

    return run_stage(cache, layout.RADII_STAGE, inputs, compute, log=log)


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
        pool = layout.load_stage_splits(minimum.data.folder)[layout.POOL]
        records = {}
        for size in sizes:
            log(f"  curvature measures in the {size}-example landscape")
            landscape = Landscape.from_apply(model.apply, params, pool.x[:size], pool.y[:size], config.loss)
            key = jax.random.fold_in(jax.random.key(minimum.model_seed), 2)
            records[str(size)] = measure(landscape, unit_axis=model.unit_axis, key=key, **spec.options())
        (out / layout.MEASURES_FILE).write_text(json.dumps(records))
        return {"sizes": sizes, **{f"{k}_own": v for k, v in records[str(sizes[-1])].items()}}

    return run_stage(cache, layout.MEASURES_STAGE, inputs, compute, log=log)


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


__all__ = ["Minimum", "SeedData", "build_data", "run"]
