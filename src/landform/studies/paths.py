"""The loss-tunnel study (Dold, Kobialka, Palm, Sommer, Rügamer, Dürr 2025, "Paths and Ambient
Spaces in Neural Loss Landscapes", arXiv 2503.03382; mode connectivity after Garipov et al. 2018).

Train Bézier curves (or polychains) of K+1 free control points so that every network on the
curve has low loss; measure each curve's length, bounds, gyration radius and curvature; evaluate
loss, NLL and accuracy along the curve on train, validation and test data. A ``grid`` of settings
(degree K, activation, depth, t-sampling, samples per step, weight decay, optimiser, ...) times a
list of seeds is trained in one run, so one config file reproduces one figure of the paper.

With ``ends`` the study trains two independent minima first and joins them by a curve whose ends
stay fixed (mode connectivity), and compares the loss along it with the straight line.

Stages (cached by input hash): ``data`` → ``ends`` (mode connectivity only) → ``curve`` (one per
setting and seed; reusable by the tunnel-sampling study) → analysis (tables, figures, report).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from landform.data import Split, load
from landform.flat import ravel
from landform.losses import check_compatible, get_loss
from landform.models import build, with_learned_sigma
from landform.paths import (
    CurveTrainConfig,
    curve_geometry,
    curve_predictive,
    evaluate_curve,
    fit_curve,
    make_curve,
    make_curve_model,
)
from landform.run import Figure, RunFolder, write_report
from landform.run.stages import StageResult, open_run, run_stage
from landform.run.store import load_splits, save_splits
from landform.studies.config import expand_grid
from landform.train import TrainConfig, fit
from landform.views.figures import log_ticks

SPLITS = ("train", "validation", "test")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    dataset: str
    options: dict[str, Any] = Field(default_factory=dict)
    validation_fraction: float = Field(
        0.0, ge=0, lt=1, description="hold out this fraction of train as validation when the dataset has none"
    )
    train_size: int | None = Field(None, gt=0, description="use only the first train_size training examples")
    test_size: int | None = Field(None, gt=0)


class EndsSpec(_Strict):
    """Mode connectivity: train two minima with these settings and keep them as fixed ends."""

    train: dict[str, Any] = Field(description="TrainConfig fields for the two end minima")
    seeds: tuple[int, int] = (101, 202)


class Config(_Strict):
    study: Literal["paths"] = "paths"
    name: str
    variant: str = "paper"
    description: str = ""
    data: DataSpec
    model: dict[str, Any] = Field(description="a model spec for landform.models.build; input_shape comes from the data")
    learned_sigma: float | None = Field(None, gt=0, description="wrap the model with a learned σ (initial value) for regression")
    loss: str
    curve: dict[str, Any] = Field(default_factory=dict, description="CurveTrainConfig fields")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="settings varied within the study: dotted paths into 'model' or 'curve' (e.g. curve.degree, model.activation) and their values",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    ends: EndsSpec | None = None
    evaluation_points: int = Field(21, ge=3, description="values of t for the evaluation along each curve")
    fit_group: str | None = Field(None, description="grid field whose values get one power-law fit each in the length figure (e.g. model.hidden)")

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in value.items():
            if path.split(".")[0] not in ("data", "model", "curve"):
                raise ValueError(f"grid field {path!r} must start with 'data.', 'model.' or 'curve.'")
            if not values:
                raise ValueError(f"grid field {path!r} has no values")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Config":
        get_loss(self.loss)
        for setting in self.settings():
            curve = CurveTrainConfig.model_validate({**setting["curve"], "seed": 0})
            if curve.degree < 1:
                raise ValueError("curve.degree (K) must be at least 1")
            if self.ends is not None and curve.degree < 2:
                raise ValueError("a curve with fixed ends needs degree K >= 2 (one free control point)")
        if self.ends is not None:
            TrainConfig.model_validate(self.ends.train)
        if self.fit_group is not None and self.fit_group not in self.grid:
            raise ValueError(f"fit_group {self.fit_group!r} is not a grid field ({', '.join(self.grid) or 'none'})")
        return self

    def settings(self) -> list[dict[str, Any]]:
        """Every combination of the grid: dicts with 'data', 'model', 'curve' and 'labels'."""
        base = {"data": self.data.model_dump(), "model": copy.deepcopy(self.model), "curve": copy.deepcopy(self.curve)}
        out = []
        for setting, labels in expand_grid(base, self.grid):
            setting["data"] = DataSpec.model_validate(setting["data"])
            setting["labels"] = labels
            out.append(setting)
        return out


# ============================================================================ data and models


def build_splits(spec: DataSpec, seed: int = 0) -> tuple[dict[str, Split], dict]:
    dataset = load(spec.dataset, **spec.options)
    splits = {name: dataset[name] for name in SPLITS if name in dataset.splits}
    if spec.train_size is not None:
        splits["train"] = splits["train"].take(slice(0, spec.train_size))
    if "validation" not in splits and spec.validation_fraction > 0:
        train = splits["train"]
        order = np.random.default_rng(seed).permutation(len(train))
        count = max(1, int(round(spec.validation_fraction * len(train))))
        splits["validation"], splits["train"] = train.take(order[:count]), train.take(order[count:])
    if spec.test_size is not None and "test" in splits:
        splits["test"] = splits["test"].take(slice(0, spec.test_size))
    return splits, dataset.describe()


def make_model(model_spec: dict, input_shape, learned_sigma: float | None):
    model = build({**model_spec, "input_shape": list(input_shape)})
    return with_learned_sigma(model, learned_sigma) if learned_sigma else model


def data_stage(cache: Path, spec: DataSpec, log) -> StageResult:
    def compute(out: Path) -> dict:
        splits, description = build_splits(spec)
        save_splits(out / "data.npz", splits)
        (out / "dataset.json").write_text(json.dumps(description, default=str))
        return {name: len(split) for name, split in splits.items()}

    return run_stage(cache, "data", {"data": spec.model_dump()}, compute, log=log)


def curve_stage(
    cache: Path,
    data: StageResult,
    model_spec: dict,
    learned_sigma: float | None,
    loss_name: str,
    curve_settings: dict,
    seed: int,
    *,
    ends: StageResult | None = None,
    progress: Any = None,
    log: Callable[[str], None] = print,
) -> StageResult:
    """Train one curve (cached). The tunnel-sampling study calls this too, so a curve trained
    once is reused when the same settings come up again in the same cache."""
    inputs = {
        "data": data.key,
        "model": model_spec,
        "learned_sigma": learned_sigma,
        "loss": loss_name,
        "curve": curve_settings,
        "seed": seed,
        "ends": None if ends is None else ends.key,
    }

    def compute(out: Path) -> dict:
        splits = load_splits(data.folder / "data.npz")
        train = splits["train"]
        model = make_model(model_spec, train.x.shape[1:], learned_sigma)
        check_compatible(get_loss(loss_name), jax.eval_shape(model.apply, model.init(jax.random.key(0)), train.x[:1]).shape, train.y)
        config = CurveTrainConfig.model_validate({**curve_settings, "loss": loss_name, "seed": seed})
        end_points = None
        if ends is not None:
            end_points = tuple(jnp.asarray(np.load(ends.folder / f"end{i}.npy")) for i in (0, 1))
        log(f"  training a {config.kind} curve of degree {config.degree} ({config.steps} steps, seed {seed})")
        result = fit_curve(model, train, config, validation=splits.get("validation"), ends=end_points, progress=progress)
        np.save(out / "control_points.npy", np.asarray(result.curve.control_points))
        (out / "curve.json").write_text(json.dumps({"kind": result.curve.kind, "model": model.spec, "loss": loss_name, "config": config.model_dump()}, default=str))
        pd.DataFrame(result.history).to_parquet(out / "history.parquet", index=False)
        return {"status": result.status, "reason": result.reason, "best_step": int(result.best_step), "steps_run": int(result.steps_run)}

    return run_stage(cache, "curve", inputs, compute, log=log)


def load_curve(stage: StageResult):
    """(curve, model, loss name, config dict) of a trained curve stage."""
    meta = json.loads((stage.folder / "curve.json").read_text())
    curve = make_curve(jnp.asarray(np.load(stage.folder / "control_points.npy")), meta["kind"])
    return curve, build(meta["model"]), meta["loss"], meta["config"]


def ends_stage(cache: Path, data: StageResult, config: Config, log, progress) -> StageResult:
    spec = config.ends
    inputs = {"data": data.key, "model": config.model, "learned_sigma": config.learned_sigma, "loss": config.loss, "train": spec.train, "seeds": list(spec.seeds)}

    def compute(out: Path) -> dict:
        splits = load_splits(data.folder / "data.npz")
        model = make_model(config.model, splits["train"].x.shape[1:], config.learned_sigma)
        summary = {}
        for i, seed in enumerate(spec.seeds):
            log(f"  training end minimum {i + 1}/2 (seed {seed})")
            train_config = TrainConfig.model_validate({**spec.train, "seed": seed})
            result = fit(model, model.init(jax.random.key(seed)), splits["train"], config.loss, train_config, test=splits.get("test"), progress=progress)
            np.save(out / f"end{i}.npy", np.asarray(ravel(result.params)[0]))
            summary[f"end{i}_train_loss"] = result.history["train_loss"][-1]
        return summary

    return run_stage(cache, "ends", inputs, compute, log=log)


# ============================================================================ the study


def run(
    config: Config,
    folder: str | Path,
    *,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
) -> Path:
    run_folder, cache = open_run(folder, config.model_dump(), cache)
    settings = config.settings()
    trained = []
    for index, setting in enumerate(settings):
        data = data_stage(cache, setting["data"], log)
        ends = ends_stage(cache, data, config, log, progress) if config.ends is not None else None
        for seed in config.seeds:
            log(f"curve {len(trained) + 1}/{len(settings) * len(config.seeds)}: {setting['labels'] or 'base settings'}, seed {seed}")
            stage = curve_stage(cache, data, setting["model"], config.learned_sigma, config.loss, setting["curve"], seed, ends=ends, progress=progress, log=log)
            trained.append({"setting": index, "labels": setting["labels"], "seed": seed, "stage": stage, "data": data})
    return _analyse(config, run_folder, trained, log)


def _analyse(config: Config, run_folder: RunFolder, trained: list[dict], log) -> Path:
    rows, along, histories = [], [], []
    predictive = None
    t_grid = np.linspace(0.0, 1.0, config.evaluation_points)
    for item in trained:
        splits = load_splits(item["data"].folder / "data.npz")
        curve, model, loss_name, curve_config = load_curve(item["stage"])
        curve_model = make_curve_model(model, symmetry=curve_config.get("symmetry"))
        geometry = jax.device_get(curve_geometry(curve))
        evaluation = evaluate_curve(curve_model, curve, splits, loss_name, t_grid)
        summary = json.loads((item["stage"].folder / "_stage.json").read_text())["summary"]
        labels = {k: _label(v) for k, v in item["labels"].items()}
        row = {**labels, "setting": item["setting"], "seed": item["seed"], "degree": curve.degree, "kind": curve.kind, "parameters": int(curve.dim), **{k: float(v) for k, v in geometry._asdict().items()}, "status": summary["status"], "steps_run": summary["steps_run"], "best_step": summary["best_step"]}
        for name, metrics in evaluation.splits.items():
            row[f"{name}_loss_mean"] = float(np.mean(metrics.loss))
            row[f"{name}_loss_max"] = float(np.max(metrics.loss))
            row[f"{name}_nll_mean"] = float(np.mean(metrics.nll))
            row[f"{name}_barrier"] = float(metrics.barrier)
            row[f"{name}_diversity"] = float(metrics.diversity.mean_pairwise_distance)
            if np.isfinite(metrics.accuracy).any():
                row[f"{name}_accuracy_mean"] = float(np.nanmean(metrics.accuracy))
            if np.isfinite(metrics.rmse).any():
                row[f"{name}_rmse_mean"] = float(np.nanmean(metrics.rmse))
            for j, t in enumerate(evaluation.t):
                along.append({**labels, "setting": item["setting"], "seed": item["seed"], "curve": "trained", "split": name, "t": float(t), "loss": float(metrics.loss[j]), "nll": float(metrics.nll[j]), "accuracy": float(metrics.accuracy[j]), "rmse": float(metrics.rmse[j])})
        if config.ends is not None:
            line = make_curve(jnp.stack([curve.control_points[0], curve.control_points[-1]]), "bezier")
            straight = evaluate_curve(curve_model, line, splits, loss_name, t_grid)
            for name, metrics in straight.splits.items():
                row[f"{name}_line_barrier"] = float(metrics.barrier)
                row[f"{name}_line_loss_max"] = float(np.max(metrics.loss))
                for j, t in enumerate(straight.t):
                    along.append({**labels, "setting": item["setting"], "seed": item["seed"], "curve": "straight line", "split": name, "t": float(t), "loss": float(metrics.loss[j]), "nll": float(metrics.nll[j]), "accuracy": float(metrics.accuracy[j]), "rmse": float(metrics.rmse[j])})
        rows.append(row)
        history = pd.read_parquet(item["stage"].folder / "history.parquet")
        for key, value in labels.items():
            history[key] = value
        history["setting"], history["seed"] = item["setting"], item["seed"]
        histories.append(history)
        if predictive is None and np.prod(splits["train"].x.shape[1:]) == 1 and loss_name.startswith("gaussian"):
            x = np.linspace(splits["train"].x.min() - 0.5, splits["train"].x.max() + 0.5, 200)[:, None].astype(np.float32)
            predictive = (item, curve_predictive(curve_model, curve, x, t=40, loss=loss_name), splits)
    table = pd.DataFrame(rows)
    along_table = pd.DataFrame(along)
    history_table = pd.concat(histories, ignore_index=True)
    run_folder.write_table("curves", table)
    run_folder.write_table("along_curve", along_table)
    run_folder.write_table("history", history_table)
    fits = length_fits(table, config)
    if not fits.empty:
        run_folder.write_table("length_fits", fits)
    figures = _figures(config, run_folder, table, along_table, history_table, fits, predictive)
    summary_columns = [c for c in [*config.grid, "degree", "seed", "length", "chord", "polygon_length", "gyration_radius", "mean_curvature", "train_loss_max", "validation_loss_max", "test_loss_mean", "test_rmse_mean", "test_accuracy_mean", "test_barrier", "test_line_barrier", "status"] if c in table.columns]
    notes = []
    failed = table[table.status != "completed"]
    if len(failed):
        notes.append(f"{len(failed)} curve(s) stopped early (non-finite loss); their last good control points were kept and evaluated.")
    report = write_report(
        run_folder.path("report.html"),
        title=f"Loss tunnels: {config.name} ({config.variant})",
        summary=f"{config.description or config.name}: {len(trained)} curves ({len(config.settings())} setting(s) × {len(config.seeds)} seed(s)).",
        notes=notes,
        config=config.model_dump(),
        tables={"curves": table[summary_columns], **({"power-law fits of length against K": fits} if not fits.empty else {})},
        figures=figures,
    )
    log(f"report: {report}")
    return report


def _label(value: Any) -> Any:
    """Grid values as table cells (lists become strings such as '16x16x16')."""
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return value


def power_law(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares fit of log y = log a + b log x: returns (a, b, R²)."""
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if ok.sum() < 2 or len(np.unique(x[ok])) < 2:
        return float("nan"), float("nan"), float("nan")
    lx, ly = np.log(x[ok]), np.log(y[ok])
    b, log_a = np.polyfit(lx, ly, 1)
    residual = ly - (log_a + b * lx)
    r2 = 1.0 - residual.var() / ly.var() if ly.var() > 0 else 1.0
    return float(np.exp(log_a)), float(b), float(r2)


def length_fits(table: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Power-law fits of curve length against the degree K, one per ``fit_group`` value."""
    if table.degree.nunique() < 2:
        return pd.DataFrame()
    groups = table.groupby(config.fit_group) if config.fit_group else [("all", table)]
    rows = []
    for key, group in groups:
        a, b, r2 = power_law(group.degree.to_numpy(float), group.length.to_numpy(float))
        rows.append({"group": str(key), "prefactor": a, "exponent": b, "r_squared": r2, "curves": len(group)})
    return pd.DataFrame(rows)


def _figures(config, run_folder, table, along_table, history_table, fits, predictive) -> list[Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: list[Figure] = []
    group_fields = list(config.grid)

    # loss along the curve (mean over seeds) per setting, train and test
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=False)
    for ax, split in zip(axes, ("train", "test")):
        rows = along_table[(along_table.split == split)]
        for (setting, curve_kind), group in rows.groupby(["setting", "curve"]):
            mean = group.groupby("t").loss.mean()
            label = _setting_label(table, setting, group_fields)
            ax.plot(mean.index, mean.values, "--" if curve_kind == "straight line" else "-", label=f"{label} ({curve_kind})" if config.ends else label)
        ax.set_xlabel("t")
        ax.set_ylabel(f"{split} loss")
        ax.set_title(f"{split} loss along the curve (mean over seeds)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    figures.append(Figure(run_folder.save_figure("loss_along_curve", fig), "Loss of the networks along each trained curve (solid) and, for fixed ends, along the straight line between them (dashed)."))

    # length against K with power-law fits
    if table.degree.nunique() >= 2:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        groups = table.groupby(config.fit_group) if config.fit_group else [("all", table)]
        for i, (key, group) in enumerate(groups):
            ax.scatter(group.degree, group.length, s=14, alpha=0.6, color=f"C{i}")
            fit = fits[fits.group == str(key)]
            if len(fit) and np.isfinite(fit.exponent.iloc[0]):
                ks = np.geomspace(group.degree.min(), group.degree.max(), 40)
                ax.plot(ks, fit.prefactor.iloc[0] * ks ** fit.exponent.iloc[0], color=f"C{i}", label=f"{key}: S ∝ K^{fit.exponent.iloc[0]:.2f}")
        log_ticks(ax, sorted(table.degree.unique()))
        ax.set_yscale("log")
        ax.set_xlabel("degree K")
        ax.set_ylabel("arc length S")
        ax.set_title("curve length against K")
        ax.legend(fontsize=8)
        figures.append(Figure(run_folder.save_figure("length_against_degree", fig), "Arc length of the trained curves against their degree K on log-log axes, with fitted power laws."))

    # geometry during training
    fields = [f for f in ("length", "chord", "polygon_length", "gyration_radius", "mean_curvature", "validation_loss") if f in history_table.columns]
    fig, axes = plt.subplots(1, len(fields), figsize=(3.2 * len(fields), 3.2))
    for ax, field in zip(np.atleast_1d(axes), fields):
        for setting, group in history_table.groupby("setting"):
            mean = group.groupby("step")[field].mean()
            ax.plot(mean.index, mean.values, label=_setting_label(table, setting, group_fields))
        ax.set_xlabel("step")
        ax.set_title(field.replace("_", " "))
        if field in ("validation_loss",) and (history_table[field] > 0).all():
            ax.set_yscale("log")
    np.atleast_1d(axes)[0].legend(fontsize=6)
    fig.tight_layout()
    figures.append(Figure(run_folder.save_figure("geometry_during_training", fig), "Length, its lower (chord) and upper (control polygon) bounds, gyration radius, mean curvature and validation loss during training (mean over seeds)."))

    # the curve predictive for 1-D regression
    if predictive is not None:
        item, values, splits = predictive
        fig, ax = plt.subplots(figsize=(7, 4))
        from landform.paths.plots import plot_curve_predictive

        plot_curve_predictive(ax, values, x_data=splits["train"].x, y_data=splits["train"].y)
        if "test" in splits:
            ax.scatter(splits["test"].x[:, 0], np.asarray(splits["test"].y).reshape(len(splits["test"]), -1)[:, 0], s=10, c="k", marker="x", label="test")
        label = _setting_label(table, item["setting"], list(config.grid))
        ax.set_title(f"functions along a trained curve ({label}, seed {item['seed']})", fontsize=10)
        figures.append(Figure(run_folder.save_figure("curve_predictive", fig), "The regression functions of 40 networks along a trained curve (colour: t), with the training data (and test points as crosses)."))
    return figures


def _setting_label(table: pd.DataFrame, setting: int, fields: list[str]) -> str:
    rows = table[table.setting == setting]
    if not fields or rows.empty:
        return "curve"
    return ", ".join(f"{f.split('.')[-1]}={rows[f].iloc[0]}" for f in fields if f in rows.columns)
