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
stability; ``report.html``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
from landform.models import build
from landform.run import Figure, RunFolder, write_report
from landform.views.figures import log_ticks
from landform.run.stages import StageResult, open_run, run_stage
from landform.run.store import load_splits, save_splits
from landform.train import TrainConfig, fit, load_trained, save_trained
from landform.volume import (
    NORMALIZATION_NAMES,
    ExitRadii,
    RadiusSettings,
    cutoffs,
    estimate,
    exit_radii,
    grid_radii,
    random_directions,
    ranking_stability,
)

STATISTICS = ("log_volume", "log_max_volume", "mean_log_radius", "median_radius")


# ============================================================================ configuration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
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


class VolumeSpec(_Strict):
    """How rays are cast and exit radii found."""

    directions: int = Field(gt=0, description="random directions per minimum")
    normalization: str = "filter"
    biases: Literal["zero", "keep"] = "zero"
    perturb: str = "all"
    thresholds: list[float] = Field(min_length=1)
    metric: Literal["loss", "correct"] = "loss"
    method: Literal["search", "grid"] = "search"
    tolerance: float = Field(1e-3, gt=0, lt=1)
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


class Arm(_Strict):
    """A training variant applied at every level (e.g. SAM against AdamW, or a batch size)."""

    label: str
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the train settings")


class Seeds(_Strict):
    """Model seeds (initialisation, directions) and data seeds, paired position by position."""

    model: list[int] = Field(default_factory=lambda: [0], min_length=1)
    data: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @model_validator(mode="after")
    def _pairs(self) -> "Seeds":
        if len(self.model) != len(self.data) and 1 not in (len(self.model), len(self.data)):
            raise ValueError("give as many model seeds as data seeds (or one of either)")
        return self

    def pairs(self) -> list[tuple[int, int]]:
        n = max(len(self.model), len(self.data))
        model = self.model * n if len(self.model) == 1 else self.model
        data = self.data * n if len(self.data) == 1 else self.data
        return list(zip(model, data))


class Config(_Strict):
    """A minima-volume experiment (see the module docstring)."""

    study: Literal["volume"] = "volume"
    name: str
    variant: str = "paper"
    description: str = ""
    data: DataSpec
    model: dict[str, Any] = Field(description="a model spec for landform.models.build; input_shape is taken from the data")
    loss: str
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig fields")
    arms: list[Arm] = Field(default_factory=lambda: [Arm(label="default")], min_length=1)
    checkpoints: list[int] = Field(default_factory=list, description="epochs whose parameters are measured too (grokking)")
    volume: VolumeSpec
    seeds: Seeds = Field(default_factory=Seeds)
    figure_landscape: int = Field(0, description="the level q of the fixed landscape of figure A")

    @model_validator(mode="after")
    def _consistent(self) -> "Config":
        get_loss(self.loss)  # unknown loss names fail here, before any work
        for arm in self.arms:
            try:
                TrainConfig.model_validate({**self.train, **arm.train})
            except Exception as e:  # noqa: BLE001 - re-raised as a config error with context
                raise ValueError(f"train settings of arm {arm.label!r} are invalid: {e}") from None
        if self.figure_landscape not in self.data.levels:
            raise ValueError(f"figure_landscape {self.figure_landscape} is not one of the levels {self.data.levels}")
        if len({a.label for a in self.arms}) != len(self.arms):
            raise ValueError("arm labels must be distinct")
        return self

    def train_config(self, arm: Arm, seed: int) -> TrainConfig:
        settings = {**self.train, **arm.train, "seed": seed}
        if self.checkpoints:
            settings["checkpoint_epochs"] = sorted(set(self.checkpoints))
        return TrainConfig.model_validate(settings)

    @property
    def sizes(self) -> list[int]:
        return [self.data.base + q for q in self.data.levels]


# ============================================================================ stages


def build_data(spec: DataSpec, seed: int) -> tuple[Split, Split, dict]:
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
    description.update({"pool_size": len(pool), "base": spec.base, "levels": spec.levels, "manipulation": spec.manipulation})
    return pool, test, description


def _save_radii(folder: Path, result: ExitRadii) -> None:
    arrays = {k: np.asarray(getattr(result, k)) for k in ("radii", "sphere_radii", "lower", "upper", "status", "censored", "evaluations", "example_evaluations", "center_values", "outside_by", "indices")}
    np.savez(folder / "radii.npz", **arrays)
    meta = {
        "sizes": list(result.sizes),
        "thresholds": list(result.thresholds),
        "dimension": result.dimension,
        "log_jacobian": result.log_jacobian,
        "iterations": result.iterations,
        "settings": result.settings._asdict(),
    }
    (folder / "radii.json").write_text(json.dumps(meta, default=float))


def load_radii(folder: Path) -> ExitRadii:
    with np.load(folder / "radii.npz") as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads((folder / "radii.json").read_text())
    settings = meta.pop("settings")
    if settings.get("coefficients") is not None:
        settings["coefficients"] = tuple(settings["coefficients"])
    return ExitRadii(
        **arrays,
        sizes=tuple(meta["sizes"]),
        thresholds=tuple(meta["thresholds"]),
        dimension=int(meta["dimension"]),
        log_jacobian=float(meta["log_jacobian"]),
        iterations=int(meta["iterations"]),
        settings=RadiusSettings(**settings),
    )


def _model_for(config: Config, input_shape) -> Any:
    spec = {**config.model, "input_shape": list(input_shape)}
    return build(spec)


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
    loss = get_loss(config.loss)
    minima: list[dict] = []

    for model_seed, data_seed in config.seeds.pairs():
        data_inputs = {"data": config.data.model_dump(), "seed": data_seed}

        def make_data(out: Path) -> dict:
            pool, test, description = build_data(config.data, data_seed)
            save_splits(out / "data.npz", {"pool": pool, "test": test})
            (out / "dataset.json").write_text(json.dumps(description, default=str))
            return {"pool": len(pool), "test": len(test)}

        data_stage = run_stage(cache, "data", data_inputs, make_data, log=log)
        saved = load_splits(data_stage.folder / "data.npz")
        pool, test = saved["pool"], saved["test"]
        description = json.loads((data_stage.folder / "dataset.json").read_text())
        model = _model_for(config, pool.x.shape[1:])
        initial = model.init(jax.random.key(model_seed))
        check_compatible(loss, jax.eval_shape(model.apply, initial, pool.x[:1]).shape, pool.y)

        for arm in config.arms:
            train_config = config.train_config(arm, model_seed)
            for level, size in zip(config.data.levels, config.sizes):
                train_inputs = {"data": data_stage.key, "model": model.spec, "loss": config.loss, "train": train_config.model_dump(), "size": size, "model_seed": model_seed}

                def make_minimum(out: Path, size=size, train_config=train_config) -> dict:
                    log(f"  training on {size} examples (seed {model_seed}, {train_config.epochs} epochs)")
                    result = fit(model, initial, pool.take(slice(0, size)), loss, train_config, test=test, progress=progress)
                    saved = {"final": result.params, **{f"epoch{e}": p for e, p in result.checkpoints.items()}}
                    for label, params in saved.items():
                        save_trained(out / label, model, params, config=train_config, dataset_description=description, history=result.history, extra={"size": size, "stopped_early": result.stopped_early, "reason": result.reason})
                    return {"epochs_run": result.epochs_run, "reason": result.reason, "train_loss": result.history["train_loss"][-1]}

                train_stage = run_stage(cache, "train", train_inputs, make_minimum, log=log)
                labels = ["final"] + [f"epoch{e}" for e in sorted(config.checkpoints) if (train_stage.folder / f"epoch{e}").exists()]
                for label in labels:
                    minima.append(
                        {
                            "model_seed": model_seed,
                            "data_seed": data_seed,
                            "arm": arm.label,
                            "model_level": level,
                            "model_examples": size,
                            "checkpoint": label,
                            "train_stage": train_stage,
                            "data_stage": data_stage,
                        }
                    )

    # radii for every minimum
    for index, minimum in enumerate(minima):
        log(f"exit radii of minimum {index + 1}/{len(minima)}: level {minimum['model_level']}, arm {minimum['arm']}, {minimum['checkpoint']}, seed {minimum['model_seed']}")
        minimum["radii_stage"] = _radii_stage(config, cache, minimum, log)

    return _analyse(config, run_folder, minima, log)


def _radii_stage(config: Config, cache: Path, minimum: dict, log) -> StageResult:
    spec = config.volume
    inputs = {"minimum": minimum["train_stage"].key, "checkpoint": minimum["checkpoint"], "volume": spec.model_dump(exclude={"bootstrap", "include_ball"}), "levels": config.sizes, "model_seed": minimum["model_seed"]}

    def compute(out: Path) -> dict:
        model, params, _ = load_trained(minimum["train_stage"].folder / minimum["checkpoint"])
        pool = load_splits(minimum["data_stage"].folder / "data.npz")["pool"]
        landscape = Landscape.from_apply(model.apply, params, pool.x, pool.y, config.loss)
        theta = landscape.theta
        # each minimum in the landscapes of its own level and below, and, with "up_to_cutoff",
        # in larger landscapes as long as it is inside the largest threshold's set
        centre = np.asarray(landscape.prefix_losses(theta, config.sizes))
        sizes = [k for k, value in zip(config.sizes, centre) if k <= minimum["model_examples"] or (spec.landscapes == "up_to_cutoff" and value <= max(spec.thresholds))]
        per_example = np.asarray(landscape.per_example(theta))
        np.save(out / "per_example.npy", per_example)
        directions = random_directions(
            jax.random.fold_in(jax.random.key(minimum["model_seed"]), 1),
            theta,
            params,
            normalization=spec.normalization,
            biases=spec.biases,
            perturb=spec.perturb,
            unit_axis=model.unit_axis,
        )
        common = {"sizes": sizes, "metric": spec.metric}
        if spec.method == "grid":
            result = grid_radii(landscape, directions, spec.directions, spec.thresholds, max_radius=spec.max_radius, num_points=spec.grid_points, **common)
        else:
            result = exit_radii(landscape, directions, spec.directions, spec.thresholds, tolerance=spec.tolerance, max_radius=spec.max_radius, **common)
        _save_radii(out, result)
        return {"evaluations_per_ray": float(np.mean(result.evaluations)), "censored": int(result.censored.sum()), "sizes": sizes}

    return run_stage(cache, "radii", inputs, compute, log=log)


# ============================================================================ analysis


def _analyse(config: Config, run_folder: RunFolder, minima: list[dict], log) -> Path:
    spec = config.volume
    level_of = dict(zip(config.sizes, config.data.levels))
    rows, cutoff_rows, histograms = [], [], []
    stability_inputs: dict[tuple, list] = {}
    for minimum in minima:
        result = load_radii(minimum["radii_stage"].folder)
        per_example = np.load(minimum["radii_stage"].folder / "per_example.npy")
        model, params, meta = load_trained(minimum["train_stage"].folder / minimum["checkpoint"])
        test = load_splits(minimum["data_stage"].folder / "data.npz")["test"]
        test_landscape = Landscape.from_apply(model.apply, params, test.x, test.y, config.loss)
        test_loss = float(test_landscape.loss(test_landscape.theta))
        test_accuracy = float(test_landscape.accuracy(test_landscape.theta)) if get_loss(config.loss).accuracy_kind else float("nan")
        estimates = {s: estimate(result, statistic=s, include_ball=spec.include_ball, num_resamples=max(spec.bootstrap, 1), seed=minimum["model_seed"]) for s in STATISTICS}
        cut = {tau: cutoffs(per_example[None], tau, training_sizes=[minimum["model_examples"]]) for tau in spec.thresholds}
        key = {k: minimum[k] for k in ("model_seed", "data_seed", "arm", "model_level", "model_examples", "checkpoint")}
        for t, tau in enumerate(result.thresholds):
            c = cut[tau]
            cutoff_rows.append({**key, "threshold": tau, "cutoff_examples": int(c.cutoff[0]), "leaves_pool": bool(c.leaves[0])})
        for q, size in enumerate(result.sizes):
            train_loss = float(result.center_values[q])
            for t, tau in enumerate(result.thresholds):
                outside = bool(result.outside_by[q, t] > 0)
                row = {
                    **key,
                    "landscape_level": level_of[size],
                    "landscape_examples": size,
                    "threshold": tau,
                    "status": "outside" if outside else ("censored" if result.censored[:, q, t].any() else "inside"),
                    "outside_by": float(max(result.outside_by[q, t], 0.0)),
                    "train_loss": train_loss,
                    "test_loss": test_loss,
                    "test_accuracy": test_accuracy,
                    "cutoff_examples": int(cut[tau].cutoff[0]),
                    "parameters": int(result.dimension),
                    "directions": int(result.radii.shape[0]),
                    "censored": int(result.censored[:, q, t].sum()),
                    "evaluations_per_ray": float(np.mean(result.evaluations)),
                }
                for name, est in estimates.items():
                    value = float(est.value[q, t])
                    # never a silent -inf: outside rows get NaN and the status says why
                    row[name] = value if np.isfinite(value) and not outside else float("nan")
                    row[f"{name}_low"] = float(est.lower[q, t]) if not outside else float("nan")
                    row[f"{name}_high"] = float(est.upper[q, t]) if not outside else float("nan")
                    row[f"{name}_is_lower_bound"] = bool(est.is_lower_bound[q, t])
                rows.append(row)
                if not outside:
                    stability_inputs.setdefault((minimum["model_seed"], minimum["arm"], minimum["checkpoint"], size, tau), []).append((minimum["model_level"], result.sphere_radii[:, q, t], result.dimension))
                    if size == minimum["model_examples"] and t == 0:
                        histograms.append((minimum["model_level"], minimum["model_seed"], minimum["arm"], minimum["checkpoint"], result.radii[:, q, t]))
    table = pd.DataFrame(rows)
    run_folder.write_table("volumes", table)
    cutoff_table = pd.DataFrame(cutoff_rows)
    run_folder.write_table("cutoffs", cutoff_table)
    stability = _stability(stability_inputs, config)
    run_folder.write_table("ranking_stability", stability)

    figures = _figures(config, run_folder, table, stability, histograms)
    notes = []
    outside = table[table.status == "outside"]
    if len(outside):
        notes.append(f"{len(outside)} (minimum, landscape, threshold) rows are outside the τ-sublevel set (their loss at the minimum exceeds τ); their volumes are left empty and the status column says so.")
    if table.censored.sum():
        notes.append(f"{int(table.censored.sum())} rays did not cross the threshold up to r_max={spec.max_radius} and are right-censored; estimates with censored rays are lower bounds.")
    summary = (
        f"{config.description or config.name} — variant {config.variant}: {len(minima)} minima "
        f"({len(config.seeds.pairs())} seed pair(s), {len(config.arms)} arm(s), levels {config.data.levels}), "
        f"{spec.directions} {spec.normalization}-normalised directions each, thresholds {spec.thresholds}."
    )
    headline = table[(table.landscape_level == config.figure_landscape) & (table.threshold == spec.thresholds[0])]
    columns = ["model_seed", "arm", "checkpoint", "model_examples", "log_volume", "log_volume_low", "log_volume_high", "test_loss", "test_accuracy", "status"]
    report = write_report(
        run_folder.path("report.html"),
        title=f"Minima volume: {config.name} ({config.variant})",
        summary=summary,
        notes=notes,
        config=config.model_dump(),
        tables={f"volumes in the {config.data.base + config.figure_landscape}-example landscape, τ={spec.thresholds[0]}": headline[columns], "all volumes": table},
        figures=figures,
    )
    log(f"report: {report}")
    return report


def _stability(groups: dict, config: Config) -> pd.DataFrame:
    """Ranking stability of the minima of one seed, arm and checkpoint in each landscape."""
    rows = []
    for (seed, arm, checkpoint, size, tau), members in groups.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda m: m[0])
        radii = np.stack([m[1] for m in members])  # (M, K)
        dimension = members[0][2]
        k_max = radii.shape[1]
        subset_sizes = sorted({k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if k <= k_max} | {k_max})
        result = ranking_stability(radii, dimension, subset_sizes, num_draws=200, seed=seed)
        for k, p in zip(result.subset_sizes, result.probability):
            rows.append({"model_seed": seed, "arm": arm, "checkpoint": checkpoint, "landscape_examples": size, "threshold": tau, "directions": int(k), "probability": float(p), "models": len(members)})
    return pd.DataFrame(rows, columns=["model_seed", "arm", "checkpoint", "landscape_examples", "threshold", "directions", "probability", "models"])


def power_law_fit(x: np.ndarray, log_volume: np.ndarray) -> tuple[float, float]:
    """Least-squares fit of log V = a + b·log x; returns (a, b)."""
    ok = np.isfinite(log_volume) & (x > 0)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    b, a = np.polyfit(np.log(x[ok]), log_volume[ok], 1)
    return float(a), float(b)


def _figures(config: Config, run_folder: RunFolder, table: pd.DataFrame, stability: pd.DataFrame, histograms) -> list[Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: list[Figure] = []
    tau = config.volume.thresholds[0]
    final = table[(table.threshold == tau) & (table.checkpoint == "final")]
    arms = list(dict.fromkeys(table.arm))
    fixed_examples = config.data.base + config.figure_landscape

    # (A) fixed landscape
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    markers = "os^Dv<>"
    for a, arm in enumerate(arms):
        rows = final[(final.landscape_examples == fixed_examples) & (final.arm == arm)]
        if rows.empty:
            continue
        for seed, group in rows.groupby("model_seed"):
            group = group.sort_values("model_examples")
            left.plot(group.model_examples, group.log_volume, marker=markers[a % 7], alpha=0.35, lw=1, color=f"C{a}")
        stats = rows.groupby("model_examples").log_volume.agg(["mean", "std"]).reset_index()
        left.errorbar(stats.model_examples, stats["mean"], yerr=stats["std"].fillna(0), color=f"C{a}", lw=2.2, capsize=3, label=f"{arm}: mean ± std" if len(arms) > 1 else "mean ± std")
        own = stats[stats.model_examples == fixed_examples]
        left.scatter(own.model_examples, own["mean"], s=160, facecolors="none", edgecolors="k", zorder=5, label="the landscape's own minimum" if a == 0 else None)
        sc = right.scatter(rows.log_volume, rows.test_loss, c=np.log10(rows.model_examples), cmap="viridis", marker=markers[a % 7], label=arm if len(arms) > 1 else None)
    if left.has_data():
        log_ticks(left, sorted(final.model_examples.unique()))
    else:
        left.text(0.5, 0.5, "no minimum lies inside this landscape's τ-sublevel set", ha="center", transform=left.transAxes)
    left.set_xlabel("training examples of the minimum")
    left.set_ylabel(f"log volume in the {fixed_examples}-example landscape")
    left.set_title(f"(A) volume in a fixed landscape, τ = {tau}")
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=8)
    right.set_xlabel("log volume")
    right.set_ylabel("test loss")
    right.set_title("test loss against volume")
    if "sc" in locals():
        fig.colorbar(sc, ax=right, label="log10 training examples")
    fig.tight_layout()
    figures.append(Figure(run_folder.save_figure("A_fixed_landscape", fig), f"(A) Left: the log-volume of every minimum in the fixed {fixed_examples}-example landscape against the size of its own training set (thin: one trace per seed; thick: mean ± std; circled: the landscape's own minimum). Right: test loss against log-volume."))

    # (B) across landscapes up to the cutoff
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    arm0 = final[final.arm == arms[0]]
    inside = arm0[arm0.status != "outside"]
    norm = matplotlib.colors.Normalize(vmin=np.nanmin(final.test_accuracy) if final.test_accuracy.notna().any() else 0, vmax=np.nanmax(final.test_accuracy) if final.test_accuracy.notna().any() else 1)
    for (seed, level), group in inside.groupby(["model_seed", "model_level"]):
        group = group.sort_values("landscape_examples")
        colour = plt.cm.plasma(norm(group.test_accuracy.iloc[0])) if np.isfinite(group.test_accuracy.iloc[0]) else "grey"
        ax.plot(group.landscape_examples, group.log_volume, "-o", ms=3, color=colour, alpha=0.8)
    found = inside[inside.landscape_examples == inside.model_examples].groupby("landscape_examples").log_volume.mean()
    if not found.empty:
        ax.plot(found.index, found.values, "k--", lw=2, label="minima found by training (own landscape)")
        a, b = power_law_fit(found.index.to_numpy(float), found.to_numpy(float))
        if np.isfinite(b):
            xs = np.geomspace(found.index.min(), found.index.max(), 50)
            ax.plot(xs, a + b * np.log(xs), color="#c0392b", lw=1.2, label=f"power-law fit: V ∝ n^{b:.2f}")
    if ax.has_data():
        log_ticks(ax, sorted(table.landscape_examples.unique()))
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no minimum lies inside any landscape's τ-sublevel set", ha="center", transform=ax.transAxes)
    ax.set_xlabel("landscape size (examples)")
    ax.set_ylabel("log volume")
    ax.set_title(f"(B) each minimum across landscapes up to its cutoff, τ = {tau}")
    sm = plt.cm.ScalarMappable(norm=norm, cmap="plasma")
    fig.colorbar(sm, ax=ax, label="test accuracy")
    fig.tight_layout()
    figures.append(Figure(run_folder.save_figure("B_across_landscapes", fig), "(B) Each minimum's log-volume in every landscape it lies in (up to its cutoff), coloured by its test accuracy; dashed: the minima training finds in their own landscapes, with a power-law fit."))

    # histograms of exit radii per model
    if histograms:
        chosen = [h for h in histograms if h[1] == histograms[0][1] and h[2] == histograms[0][2] and h[3] == "final"]
        fig, ax = plt.subplots(figsize=(7, 3.8))
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(chosen)))
        for colour, (level, seed, arm, checkpoint, radii) in zip(colours, chosen):
            radii = radii[np.isfinite(radii) & (radii > 0)]
            if radii.size:
                ax.hist(radii, bins=30, histtype="step", lw=1.6, color=colour, label=f"level {level}")
        ax.set_xlabel("exit radius (own landscape)")
        ax.set_ylabel("rays")
        ax.set_title(f"exit radii per minimum (seed {chosen[0][1]}, τ = {tau})")
        ax.legend(fontsize=8)
        figures.append(Figure(run_folder.save_figure("radius_histograms", fig), "Distribution of exit radii of each minimum in its own landscape."))

    # ranking stability
    if not stability.empty:
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        rows = stability[(stability.threshold == tau) & (stability.checkpoint == "final")]
        for size, group in rows.groupby("landscape_examples"):
            curve = group.groupby("directions").probability.mean()
            ax.plot(curve.index, curve.values, "-o", ms=3, label=f"{size}-example landscape")
        if ax.has_data():
            ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("number of directions k")
        ax.set_ylabel("P(same ranking as all directions)")
        ax.set_title("ranking stability of the minima's volumes")
        ax.legend(fontsize=7)
        figures.append(Figure(run_folder.save_figure("ranking_stability", fig), "Probability that k random directions rank the minima as all directions do."))
    return figures

