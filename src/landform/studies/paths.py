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
The figures are drawn from the tables by :mod:`landform.studies.paths_figures`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pydantic import Field, PrivateAttr, field_validator, model_validator

from landform.data import Split
from landform.flat import ravel
from landform.losses import get_loss
from landform.paths import (
    CurveTrainConfig,
    curve_geometry,
    curve_predictive,
    evaluate_curve,
    make_curve,
    make_curve_model,
)
from landform.store import RunFolder, StageResult, open_run, run_stage, stage_summary, write_report
from landform.studies import Study
from landform.studies.common import (
    DataSpec,
    TrainedCurve,
    curve_stage,
    data_stage,
    label,
    load_curve,
    load_data,
    make_model,
    power_law_fit,
)
from landform.studies.config import Strict, StudyConfig, expand_grid
from landform.studies.paths_figures import CurveFunctions, paths_figures
from landform.train import TrainConfig, fit

# ============================================================================ configuration


class EndsSpec(Strict):
    """Mode connectivity: train two minima with these settings and keep them as fixed ends."""

    train: dict[str, Any] = Field(description="TrainConfig fields for the two end minima")
    seeds: tuple[int, int] = (101, 202)


class Setting(NamedTuple):
    """One combination of the config's ``grid``: the data, model and curve settings it gives.

    ``model`` and ``curve`` are kept as the config gives them (after the grid's assignments):
    they are hashed into the keys of the cached stages. ``curve_config`` is ``curve`` validated
    once, when the config is (``seed`` 0; the curve stage sets the loss and the seed).
    """

    data: DataSpec
    model: dict[str, Any]  # a model spec for landform.models.build, without input_shape
    curve: dict[str, Any]  # CurveTrainConfig fields, raw
    curve_config: CurveTrainConfig  # ``curve`` validated
    labels: dict[str, Any]  # grid field -> its value in this combination; empty without a grid


class Config(StudyConfig):
    """A loss-tunnel experiment (see the module docstring)."""

    study: Literal["paths"] = "paths"
    data: DataSpec
    model: dict[str, Any] = Field(description="a model spec for landform.models.build; input_shape comes from the data")
    learned_sigma: float | None = Field(
        None, gt=0, description="wrap the model with a learned σ (initial value) for regression"
    )
    loss: str
    curve: dict[str, Any] = Field(default_factory=dict, description="CurveTrainConfig fields")
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="settings varied within the study: dotted paths into 'model' or 'curve' "
        "(e.g. curve.degree, model.activation) and their values",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    ends: EndsSpec | None = None
    evaluation_points: int = Field(21, ge=3, description="values of t for the evaluation along each curve")
    fit_group: str | None = Field(
        None, description="grid field whose values get one power-law fit each in the length figure (e.g. model.hidden)"
    )

    # filled by the validation: the grid's settings and the end minima's train settings
    _settings: list[Setting] | None = PrivateAttr(None)
    _ends_train: TrainConfig | None = PrivateAttr(None)

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
    def _consistent(self) -> Config:
        get_loss(self.loss)
        settings = []
        for data, combination, labels in self._combinations():
            curve = CurveTrainConfig.model_validate({**combination["curve"], "seed": 0})
            if curve.degree < 1:
                raise ValueError("curve.degree (K) must be at least 1")
            if self.ends is not None and curve.degree < 2:
                raise ValueError("a curve with fixed ends needs degree K >= 2 (one free control point)")
            settings.append(Setting(data, combination["model"], combination["curve"], curve, labels))
        self._settings = settings
        if self.ends is not None:
            self._ends_train = TrainConfig.model_validate(self.ends.train)
        if self.fit_group is not None and self.fit_group not in self.grid:
            raise ValueError(f"fit_group {self.fit_group!r} is not a grid field ({', '.join(self.grid) or 'none'})")
        return self

    def _combinations(self) -> list[tuple[DataSpec, dict[str, Any], dict[str, Any]]]:
        """Every combination of the grid: (its data spec, its settings, its labels)."""
        base = {"data": self.data.model_dump(), "model": copy.deepcopy(self.model), "curve": copy.deepcopy(self.curve)}
        return [
            (DataSpec.model_validate(setting["data"]), setting, labels)
            for setting, labels in expand_grid(base, self.grid)
        ]

    def settings(self) -> list[Setting]:
        """Every combination of the grid, in the order of ``itertools.product`` over its fields."""
        if self._settings is None:  # a config built without validation
            self._consistent()
        return list(self._settings)

    def ends_train_config(self, seed: int) -> TrainConfig:
        """The train settings of the end minimum of ``seed`` (mode connectivity only)."""
        if self._ends_train is None:  # a config built without validation
            self._consistent()
        return self._ends_train.model_copy(update={"seed": seed})


class TrainedRun(NamedTuple):
    """One trained curve of the run: which setting and seed, and the stages that hold it."""

    setting: int  # position of its Setting in ``Config.settings()``
    labels: dict[str, Any]  # the grid values of that setting
    seed: int
    curve: StageResult  # the curve stage (control points, curve.json, history.parquet)
    data: StageResult  # the data stage it was trained on


# ============================================================================ stages


def ends_stage(cache: Path, data: StageResult, config: Config, log, progress) -> StageResult:
    """Two independent minima of ``config.ends`` (``end0.npy``, ``end1.npy``: flat parameters)."""
    spec = config.ends
    inputs = {
        "data": data.key,
        "model": config.model,
        "learned_sigma": config.learned_sigma,
        "loss": config.loss,
        "train": spec.train,
        "seeds": list(spec.seeds),
    }

    def compute(out: Path) -> dict:
        splits = load_data(data)
        model = make_model(config.model, splits["train"].x.shape[1:], config.learned_sigma)
        summary = {}
        for i, seed in enumerate(spec.seeds):
            log(f"  training end minimum {i + 1}/2 (seed {seed})")
            train_config = config.ends_train_config(seed)
            result = fit(
                model,
                model.init(jax.random.key(seed)),
                splits["train"],
                config.loss,
                train_config,
                test=splits.get("test"),
                progress=progress,
            )
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
    """Run the study into ``folder``; returns the report's path (``cache``: the stage cache,
    default ``<folder>/stages``)."""
    run_folder, cache = open_run(folder, config.model_dump(), cache)
    settings = config.settings()
    trained: list[TrainedRun] = []
    for index, setting in enumerate(settings):
        data = data_stage(cache, setting.data, log)
        ends = ends_stage(cache, data, config, log, progress) if config.ends is not None else None
        for seed in config.seeds:
            log(
                f"curve {len(trained) + 1}/{len(settings) * len(config.seeds)}: "
                f"{setting.labels or 'base settings'}, seed {seed}"
            )
            stage = curve_stage(
                cache,
                data,
                setting.model,
                config.learned_sigma,
                config.loss,
                setting.curve,
                seed,
                ends=ends,
                progress=progress,
                log=log,
            )
            trained.append(TrainedRun(index, setting.labels, seed, stage, data))
    return _analyse(config, run_folder, trained, log)


# ============================================================================ analysis


class CurveTables(NamedTuple):
    """What one trained curve adds to the tables."""

    row: dict[str, Any]  # its row of ``curves``
    along: list[dict[str, Any]]  # its rows of ``along_curve`` (trained curve, then straight line)
    history: pd.DataFrame  # its training history, labelled


def _analyse(config: Config, run_folder: RunFolder, trained: list[TrainedRun], log) -> Path:
    rows, along, histories = [], [], []
    predictive = None
    t_grid = np.linspace(0.0, 1.0, config.evaluation_points)
    for trained_run in trained:
        splits = load_data(trained_run.data)
        trained_curve = load_curve(trained_run.curve)
        curve_model = make_curve_model(trained_curve.model, symmetry=trained_curve.config.get("symmetry"))
        tables = _measure_curve(config, trained_run, trained_curve, curve_model, splits, t_grid)
        rows.append(tables.row)
        along.extend(tables.along)
        histories.append(tables.history)
        if (
            predictive is None
            and np.prod(splits["train"].x.shape[1:]) == 1
            and trained_curve.loss.startswith("gaussian")
        ):
            predictive = _curve_functions(trained_run, trained_curve, curve_model, splits)
    table = pd.DataFrame(rows)
    along_table = pd.DataFrame(along)
    history_table = pd.concat(histories, ignore_index=True)
    run_folder.write_table("curves", table)
    run_folder.write_table("along_curve", along_table)
    run_folder.write_table("history", history_table)
    fits = length_fits(table, config)
    if not fits.empty:
        run_folder.write_table("length_fits", fits)
    figures = paths_figures(
        run_folder,
        table,
        along_table,
        history_table,
        fits,
        predictive,
        grid_fields=list(config.grid),
        fit_group=config.fit_group,
        fixed_ends=config.ends is not None,
    )
    return _report(config, run_folder, table, fits, figures, len(trained), log)


def _measure_curve(
    config: Config,
    trained_run: TrainedRun,
    trained_curve: TrainedCurve,
    curve_model,
    splits: dict[str, Split],
    t_grid: np.ndarray,
) -> CurveTables:
    """The geometry of one trained curve, its losses along ``t_grid`` on every split (and those
    of the straight line between its ends, when they are fixed) and its training history."""
    geometry = jax.device_get(curve_geometry(trained_curve.curve))
    evaluation = evaluate_curve(curve_model, trained_curve.curve, splits, trained_curve.loss, t_grid)
    summary = stage_summary(trained_run.curve)
    labels = {k: label(v) for k, v in trained_run.labels.items()}
    identity = {**labels, "setting": trained_run.setting, "seed": trained_run.seed}
    row = {
        **identity,
        "degree": trained_curve.curve.degree,
        "kind": trained_curve.curve.kind,
        "parameters": int(trained_curve.curve.dim),
        **{k: float(v) for k, v in geometry._asdict().items()},
        "status": summary["status"],
        "steps_run": summary["steps_run"],
        "best_step": summary["best_step"],
    }
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
    along = _along_rows(identity, "trained", evaluation)
    if config.ends is not None:
        control_points = trained_curve.curve.control_points
        line = make_curve(jnp.stack([control_points[0], control_points[-1]]), "bezier")
        straight = evaluate_curve(curve_model, line, splits, trained_curve.loss, t_grid)
        for name, metrics in straight.splits.items():
            row[f"{name}_line_barrier"] = float(metrics.barrier)
            row[f"{name}_line_loss_max"] = float(np.max(metrics.loss))
        along += _along_rows(identity, "straight line", straight)
    history = pd.read_parquet(trained_run.curve.folder / "history.parquet")
    for key, value in labels.items():
        history[key] = value
    history["setting"], history["seed"] = trained_run.setting, trained_run.seed
    return CurveTables(row, along, history)


def _along_rows(identity: dict[str, Any], curve: str, evaluation) -> list[dict[str, Any]]:
    """Rows of ``along_curve``: one per split and value of t of ``evaluation``."""
    return [
        {
            **identity,
            "curve": curve,
            "split": name,
            "t": float(t),
            "loss": float(metrics.loss[j]),
            "nll": float(metrics.nll[j]),
            "accuracy": float(metrics.accuracy[j]),
            "rmse": float(metrics.rmse[j]),
        }
        for name, metrics in evaluation.splits.items()
        for j, t in enumerate(evaluation.t)
    ]


def _curve_functions(
    trained_run: TrainedRun, trained_curve: TrainedCurve, curve_model, splits: dict[str, Split]
) -> CurveFunctions:
    """The regression functions of 40 networks along a curve with 1-D inputs, on 200 inputs
    spanning the training inputs (±0.5)."""
    train = splits["train"]
    x = np.linspace(train.x.min() - 0.5, train.x.max() + 0.5, 200)[:, None].astype(np.float32)
    values = curve_predictive(curve_model, trained_curve.curve, x, t=40, loss=trained_curve.loss)
    return CurveFunctions(trained_run.setting, trained_run.seed, values, train, splits.get("test"))


def length_fits(table: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Power-law fits of curve length against the degree K, one per ``fit_group`` value."""
    if table.degree.nunique() < 2:
        return pd.DataFrame()
    groups = table.groupby(config.fit_group) if config.fit_group else [("all", table)]
    rows = []
    for key, group in groups:
        prefactor, exponent, r_squared = power_law_fit(group.degree.to_numpy(float), group.length.to_numpy(float))
        rows.append(
            {
                "group": str(key),
                "prefactor": prefactor,
                "exponent": exponent,
                "r_squared": r_squared,
                "curves": len(group),
            }
        )
    return pd.DataFrame(rows)


SUMMARY_COLUMNS = (
    "degree",
    "seed",
    "length",
    "chord",
    "polygon_length",
    "gyration_radius",
    "mean_curvature",
    "train_loss_max",
    "validation_loss_max",
    "test_loss_mean",
    "test_rmse_mean",
    "test_accuracy_mean",
    "test_barrier",
    "test_line_barrier",
    "status",
)


def _report(
    config: Config, run_folder: RunFolder, table: pd.DataFrame, fits: pd.DataFrame, figures, curves: int, log
) -> Path:
    summary_columns = [column for column in [*config.grid, *SUMMARY_COLUMNS] if column in table.columns]
    notes = []
    failed = table[table.status != "completed"]
    if len(failed):
        notes.append(
            f"{len(failed)} curve(s) stopped early (non-finite loss); their last good control points were kept "
            "and evaluated."
        )
    report = write_report(
        run_folder.path("report.html"),
        title=f"Loss tunnels: {config.name} ({config.variant})",
        summary=f"{config.description or config.name}: {curves} curves "
        f"({len(config.settings())} setting(s) × {len(config.seeds)} seed(s)).",
        notes=notes,
        config=config.model_dump(),
        tables={
            "curves": table[summary_columns],
            **({"power-law fits of length against K": fits} if not fits.empty else {}),
        },
        figures=figures,
    )
    log(f"report: {report}")
    return report


STUDY = Study("paths", Config, run)
