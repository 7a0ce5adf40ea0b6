"""The tunnel-posterior study (Dold, Kobialka, Palm, Sommer, Rügamer, Dürr 2025, "Paths and
Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382, second half).

A trained Bézier tunnel (the loss-tunnel study's ``curve`` stage, reused from a shared cache
when the same curve settings ran before) becomes a low-dimensional space for Bayesian
inference: the affine subspace of its K + 1 control points (whitened coordinates φ ∈ R^K), the
tunnel coordinates (t, ξ) around the curve in a moving frame, and tempered posteriors in the
``tunnel``, ``volume`` (φ ~ N(0, s²I)), ``line`` (t alone) and ``full`` (every weight; chains
from a deep ensemble) spaces. Each (setting, seed, space, temperature) is sampled by MCLMC, NUTS
or random-walk Metropolis (BlackJAX) and scored: validation and test LPPD, RMSE or accuracy,
PSIS-LOO on the training data, bulk/tail ESS and R-hat on φ (so spaces are comparable),
sampling time, gradient evaluations per draw, ESS per second and per gradient evaluation.
Failed chains are excluded from the estimates and counted in the table.

Stages (cached by input hash): ``data`` → ``curve`` (shared with the paths study) →
``ensemble`` (full space only) → ``sample`` (one per setting, seed, space and T: ArviZ
``InferenceData`` in ``posterior.nc``, prior draws, predictive draws) → analysis (tables,
temperature selection on validation LPPD, figures, report).

A ``grid`` varies settings within one run: dotted paths into ``data``, ``model``, ``curve``,
``posterior`` or ``sampler`` (e.g. ``curve.degree``, ``model.activation``, ``sampler.sampler``,
``posterior.t_prior``); spaces and temperatures are lists of their own.
"""

from __future__ import annotations

import copy
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from landform.bayes import (
    SamplerSettings,
    check_temperature,
    constrained_draws,
    evaluate_run,
    gaussian_likelihood,
    categorical_likelihood,
    make_posterior,
    pointwise_log_likelihood,
    predictions,
    sample_posterior,
    select_temperature,
    to_inference_data,
)
from landform.bayes.transforms import interval_log_jacobian, interval_to_unconstrained
from landform.errors import ConfigError, LandformError, NumericalError
from landform.flat import ravel
from landform.losses import get_loss
from landform.paths import CurveTrainConfig, bezier, curve_predictive, derivative, evaluate, make_curve_model
from landform.run import Figure, RunFolder, write_report
from landform.run.stages import StageResult, open_run, run_stage
from landform.run.store import load_splits
from landform.studies.config import expand_grid
from landform.studies.paths import DataSpec, _label, _Strict, curve_stage, data_stage, load_curve, make_model
from landform.subspace import FRAME_KINDS, curve_in_coordinates, curve_subspace, tunnel_map, tunnel_point
from landform.train import TrainConfig, fit_ensemble

GRID_SECTIONS = ("data", "model", "curve", "posterior", "sampler")
LEARNED_SIGMA_LOSS = "gaussian_nll_learned"


class PosteriorSpec(_Strict):
    """The spaces, temperatures, priors and likelihood (module docstring of landform.bayes.posterior)."""

    spaces: list[Literal["tunnel", "volume", "line", "full"]] = Field(default_factory=lambda: ["tunnel", "volume"], min_length=1)
    temperatures: list[float] = Field(default_factory=lambda: [1.0], min_length=1, description="T > 0: log p = log prior + log likelihood / T")
    likelihood: Literal["gaussian", "categorical"] = "gaussian"
    sigma: Literal["sampled", "trained"] | float = Field(
        "sampled", description="Gaussian σ: 'sampled' (σ ~ LogNormal(0, sigma_prior_scale)), 'trained' (the network's learned σ) or a fixed number"
    )
    sigma_prior_scale: float = Field(1.0, gt=0)
    volume_prior_scale: float = Field(1.0, gt=0, description="s of φ ~ N(0, s²I) in the volume space (1 toy, 0.5 UCI)")
    full_prior_scale: float = Field(1.0, gt=0, description="s of θ ~ N(0, s²I) in the full space")
    t_prior: Literal["arc_length", "jacobian", "none"] = "arc_length"
    xi_scale: float = Field(0.5, gt=0, description="ξ ~ N(0, xi_scale² I)")
    tube_scale: float = Field(0.1, gt=0)
    frame: Literal["rotation_minimising", "transported", "frenet"] = "rotation_minimising"
    t_lower: float = -0.1
    t_upper: float = 1.1

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: list[float]) -> list[float]:
        for temperature in value:
            try:
                check_temperature(temperature)
            except ConfigError as e:
                raise ValueError(str(e)) from None
        if len(set(value)) != len(value):
            raise ValueError(f"temperatures repeat a value: {value}")
        return [float(t) for t in value]

    @model_validator(mode="after")
    def _range(self) -> "PosteriorSpec":
        if not self.t_upper > self.t_lower:
            raise ValueError(f"the t range needs t_lower < t_upper, got [{self.t_lower}, {self.t_upper}]")
        if self.likelihood == "categorical" and self.sigma != "sampled":
            raise ValueError("sigma applies to the Gaussian likelihood only; leave it out for a categorical likelihood")
        if isinstance(self.sigma, float) and not self.sigma > 0:
            raise ValueError(f"a fixed sigma must be positive, got {self.sigma}")
        return self


class EnsembleSpec(_Strict):
    """Full-space chains start from a deep ensemble of ``num_chains`` networks trained with these settings."""

    train: dict[str, Any] = Field(description="TrainConfig fields for the ensemble members")


class EvaluationSpec(_Strict):
    loo: bool = Field(True, description="PSIS-LOO on the training data")
    batch_size: int = Field(64, ge=1, description="draws evaluated at a time for predictive metrics")
    predictive_draws: int = Field(60, ge=1, description="posterior draws kept for the predictive figure (1-D regression)")
    prior_draws: int = Field(2000, ge=10, description="prior draws kept for the coverage figure")
    log_likelihood_limit: int = Field(5_000_000, ge=0, description="store the training log-likelihoods in posterior.nc when chains × draws × N is at most this")


class Config(_Strict):
    study: Literal["tunnels"] = "tunnels"
    name: str
    variant: str = "paper"
    description: str = ""
    data: DataSpec
    model: dict[str, Any] = Field(description="a model spec for landform.models.build; input_shape comes from the data")
    learned_sigma: float | None = Field(None, gt=0, description="wrap the model with a learned σ (initial value) for regression")
    loss: str = Field(description="the curve-training loss (gaussian_nll_learned, cross_entropy, ...)")
    curve: dict[str, Any] = Field(default_factory=dict, description="CurveTrainConfig fields")
    posterior: PosteriorSpec = Field(default_factory=PosteriorSpec)
    sampler: dict[str, Any] = Field(default_factory=dict, description="SamplerSettings fields (sampler, num_chains, num_warmup, num_draws, thinning, ...)")
    ensemble: EnsembleSpec | None = None
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="settings varied within the study (dotted paths into data, model, curve, posterior or sampler)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in value.items():
            if path.split(".")[0] not in GRID_SECTIONS:
                raise ValueError(f"grid field {path!r} must start with one of {', '.join(s + '.' for s in GRID_SECTIONS)}")
            if path in ("posterior.spaces", "posterior.temperatures"):
                raise ValueError(f"{path} is a list of its own (every value is run); set it under 'posterior', not in the grid")
            if not values:
                raise ValueError(f"grid field {path!r} has no values")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Config":
        get_loss(self.loss)
        try:  # SamplerSettings raises UnknownNameError (a KeyError), which pydantic would not wrap
            settings = self.settings()
        except LandformError as e:
            raise ValueError(str(e)) from None
        for setting in settings:
            curve = CurveTrainConfig.model_validate({**setting["curve"], "seed": 0})
            posterior = setting["posterior"]
            if "tunnel" in posterior.spaces and curve.degree < 2:
                raise ValueError(
                    f"tunnel coordinates need K >= 2 (the position t and K − 1 offsets); curve.degree = {curve.degree}. "
                    "Use the 'line' or 'volume' space for K = 1"
                )
            if "full" in posterior.spaces and self.ensemble is None:
                raise ValueError("the 'full' space starts its chains from a deep ensemble: add ensemble: {train: {...}}")
            if posterior.likelihood == "gaussian" and posterior.sigma == "trained" and self.learned_sigma is None:
                raise ValueError("sigma: trained reads σ from the network; it needs learned_sigma")
        if self.ensemble is not None:
            TrainConfig.model_validate(self.ensemble.train)
        return self

    def settings(self) -> list[dict[str, Any]]:
        """Every grid combination: dicts with 'data', 'model', 'curve', 'posterior' (a
        PosteriorSpec), 'sampler' (SamplerSettings) and 'labels'."""
        base = {
            "data": self.data.model_dump(),
            "model": copy.deepcopy(self.model),
            "curve": copy.deepcopy(self.curve),
            "posterior": self.posterior.model_dump(),
            "sampler": copy.deepcopy(self.sampler),
        }
        out = []
        for setting, labels in expand_grid(base, self.grid):
            setting["data"] = DataSpec.model_validate(setting["data"])
            setting["posterior"] = PosteriorSpec.model_validate(setting["posterior"])
            setting["sampler"] = SamplerSettings(**setting["sampler"])
            setting["labels"] = labels
            out.append(setting)
        return out


# ============================================================================ building posteriors


def build_posterior(space: str, temperature: float, spec: PosteriorSpec, curve_stage_result: StageResult, train, *, ensemble_points=None):
    """The tempered posterior of ``space`` around the trained curve of a curve stage; returns
    (posterior, pieces) with pieces = {"subspace", "tunnel" (or None), "curve_phi",
    "curve_model", "curve", "loss"}."""
    curve, model, loss_name, curve_config = load_curve(curve_stage_result)
    curve_model = make_curve_model(model, symmetry=curve_config.get("symmetry"))
    if spec.likelihood == "categorical":
        likelihood = categorical_likelihood()
        predict = curve_model.apply
    else:
        network_sigma = get_loss(loss_name).name == LEARNED_SIGMA_LOSS  # outputs (mean, log σ)
        if spec.sigma == "trained":
            likelihood = gaussian_likelihood("network")
            predict = curve_model.apply
        else:
            likelihood = gaussian_likelihood(None if spec.sigma == "sampled" else float(spec.sigma), spec.sigma_prior_scale)
            predict = (lambda theta, x: curve_model.apply(theta, x)[:, :-1]) if network_sigma else curve_model.apply
    subspace = curve_subspace(curve)
    curve_phi = curve_in_coordinates(subspace, curve)
    tunnel = None
    if space == "tunnel":
        tunnel = tunnel_map(curve_phi, spec.frame, tube_scale=spec.tube_scale, lower=spec.t_lower, upper=spec.t_upper)
    options: dict[str, Any] = {"likelihood": likelihood, "temperature": temperature}
    if space == "tunnel":
        options.update(t_prior=spec.t_prior, xi_scale=spec.xi_scale)
    elif space == "line":
        options.update(t_prior=spec.t_prior, lower=spec.t_lower, upper=spec.t_upper)
    elif space == "volume":
        options.update(prior_scale=spec.volume_prior_scale)
    else:
        options.update(prior_scale=spec.full_prior_scale, initial_points=ensemble_points)
    posterior = make_posterior(space, predict, train.x, train.y, subspace=subspace, tunnel=tunnel, curve=curve_phi, dimension=subspace.ambient_dimension, **options)
    pieces = {"subspace": subspace, "tunnel": tunnel, "curve_phi": curve_phi, "curve_model": curve_model, "curve": curve, "loss": loss_name}
    return posterior, pieces


def prior_coordinates(space: str, spec: PosteriorSpec, pieces: dict, count: int, seed: int = 0) -> np.ndarray | None:
    """``count`` draws of the prior in φ coordinates (None for the full space): φ ~ N(0, s²I)
    (volume); t from its prior on (t_lower, t_upper) and ξ ~ N(0, xi_scale²I) mapped through the
    tunnel (tunnel; the "jacobian" t prior is drawn as its arc-length part); c(t) (line)."""
    rng = np.random.default_rng(seed)
    curve_phi = pieces["curve_phi"]
    if space == "volume":
        return spec.volume_prior_scale * rng.standard_normal((count, curve_phi.dim)).astype(np.float32)
    if space == "full":
        return None
    grid = np.linspace(spec.t_lower, spec.t_upper, 4097)
    if spec.t_prior == "none":
        t = rng.uniform(spec.t_lower, spec.t_upper, count)
    else:
        speed = np.linalg.norm(np.asarray(derivative(curve_phi, jnp.asarray(grid, jnp.float32), 1)), axis=-1)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(grid))])
        t = np.interp(rng.uniform(0, cdf[-1], count), cdf, grid)
    t = t.astype(np.float32)
    if space == "line":
        return np.asarray(evaluate(curve_phi, jnp.asarray(t)))
    xi = spec.xi_scale * rng.standard_normal((count, curve_phi.dim - 1)).astype(np.float32)
    return np.asarray(tunnel_point(pieces["tunnel"], jnp.concatenate([jnp.asarray(t)[:, None], jnp.asarray(xi)], axis=1)))


# ============================================================================ stages


def ensemble_stage(cache: Path, data: StageResult, setting: dict, config: Config, size: int, seed: int, log, progress) -> StageResult:
    """A deep ensemble of ``size`` networks (full-space starting points), cached."""
    inputs = {"data": data.key, "model": setting["model"], "learned_sigma": config.learned_sigma, "loss": config.loss, "train": config.ensemble.train, "size": size, "seed": seed}

    def compute(out: Path) -> dict:
        splits = load_splits(data.folder / "data.npz")
        model = make_model(setting["model"], splits["train"].x.shape[1:], config.learned_sigma)
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.arange(size))
        stack = jax.vmap(model.init)(keys)
        log(f"  training a deep ensemble of {size} networks (full-space starting points)")
        result = fit_ensemble(model, stack, splits["train"], config.loss, TrainConfig.model_validate({**config.ensemble.train, "seed": seed}), progress=progress)
        points = np.stack([np.asarray(ravel(jax.tree_util.tree_map(lambda leaf: leaf[i], result.params))[0]) for i in range(size)])
        np.save(out / "points.npy", points)
        return {"members": size, "stopped_early": int(sum(result.stopped_early))}

    return run_stage(cache, "ensemble", inputs, compute, log=log)


def _sampling_key(seed: int, space: str, temperature: float) -> jax.Array:
    tag = zlib.crc32(json.dumps([space, round(float(temperature), 10)]).encode()) & 0x7FFFFFFF
    return jax.random.fold_in(jax.random.key(seed), tag)


def sample_stage(
    cache: Path,
    data: StageResult,
    curve: StageResult,
    ensemble: StageResult | None,
    setting: dict,
    space: str,
    temperature: float,
    seed: int,
    evaluation: EvaluationSpec,
    log,
) -> StageResult:
    """Sample one posterior and score it (cached): ``posterior.nc``, ``prior_phi.npy``,
    ``predictive.npz`` (1-D regression); the summary is the results-table row."""
    spec: PosteriorSpec = setting["posterior"]
    settings: SamplerSettings = setting["sampler"]
    posterior_inputs = {k: v for k, v in spec.model_dump().items() if k not in ("spaces", "temperatures")}
    inputs = {
        "data": data.key,
        "curve": curve.key,
        "ensemble": None if ensemble is None else ensemble.key,
        "space": space,
        "temperature": temperature,
        "posterior": posterior_inputs,
        "sampler": settings.as_dict(),
        "seed": seed,
        "evaluation": evaluation.model_dump(),
    }

    def compute(out: Path) -> dict:
        splits = load_splits(data.folder / "data.npz")
        train = splits["train"]
        points = None if ensemble is None else np.load(ensemble.folder / "points.npy")
        try:
            posterior, pieces = build_posterior(space, temperature, spec, curve, train, ensemble_points=points)
        except NumericalError as e:  # a singular curve: recorded, the other runs go on
            return {"status": "failed", "reason": str(e), "chains": settings.num_chains, "chains_failed": settings.num_chains}
        values = None
        if space == "full":
            values = {"theta": jnp.asarray(points[np.arange(settings.num_chains) % len(points)])}
            if posterior.likelihood.samples_sigma:
                values["sigma"] = jnp.ones((settings.num_chains,))
        result = sample_posterior(_sampling_key(seed, space, temperature), posterior, settings, values=values)
        row: dict[str, Any] = {"status": "completed", "dimension": posterior.dimension}
        if result.num_failed == result.num_chains:
            row.update({"status": "failed", "chains": result.num_chains, "chains_failed": result.num_failed, "reason": "; ".join(sorted(set(result.failures)))})
            to_inference_data(result, None, include_failed=True, attrs={"space": space, "temperature": temperature}).to_netcdf(str(out / "posterior.nc"))
            return row
        kept = result.positions[result.valid]
        log_likelihood = None  # the training log-likelihoods: stored with the draws when small
        if result.num_chains * result.positions.shape[1] * len(train) <= evaluation.log_likelihood_limit:
            log_likelihood = pointwise_log_likelihood(posterior, kept, train.x, train.y, batch_size=evaluation.batch_size)
        row.update(
            evaluate_run(
                posterior,
                result,
                test=(splits["test"].x, splits["test"].y) if "test" in splits else None,
                validation=(splits["validation"].x, splits["validation"].y) if "validation" in splits else None,
                train=(train.x, train.y) if evaluation.loo and log_likelihood is None else None,
                train_log_likelihood=log_likelihood if evaluation.loo else None,
                batch_size=evaluation.batch_size,
            )
        )
        row["step_size"] = float(np.mean(result.step_size[result.valid]))
        row["trajectory_length"] = float(np.mean(result.trajectory_length[result.valid]))
        if posterior.likelihood.samples_sigma:
            row["sigma_mean"] = float(np.mean(constrained_draws(posterior, kept)["sigma"]))
        idata = to_inference_data(result, posterior if space != "full" else None, log_likelihood=log_likelihood, attrs={"space": space, "temperature": temperature, "seed": seed})
        idata.to_netcdf(str(out / "posterior.nc"))
        prior = prior_coordinates(space, spec, pieces, evaluation.prior_draws, seed)
        if prior is not None:
            np.save(out / "prior_phi.npy", prior)
        x = np.asarray(train.x)
        if x.ndim == 2 and x.shape[1] == 1 and spec.likelihood == "gaussian":
            grid = np.linspace(x.min() - 0.5, x.max() + 0.5, 200, dtype=np.float32)[:, None]
            flat = kept.reshape(-1, kept.shape[-1])
            chosen = flat[np.random.default_rng(seed).choice(len(flat), min(evaluation.predictive_draws, len(flat)), replace=False)]
            np.savez(out / "predictive.npz", x=grid[:, 0], mean=predictions(posterior, chosen, grid, batch_size=evaluation.batch_size)[..., 0])
        return _json_row(row)

    return run_stage(cache, "sample", inputs, compute, log=log)


def _json_row(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


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
    total = sum(len(s["posterior"].spaces) * len(s["posterior"].temperatures) for s in settings) * len(config.seeds)
    runs = []
    for index, setting in enumerate(settings):
        data = data_stage(cache, setting["data"], log)
        for seed in config.seeds:
            label = ", ".join(f"{k}={_label(v)}" for k, v in setting["labels"].items()) or "base settings"
            log(f"curve for {label}, seed {seed}")
            curve = curve_stage(cache, data, setting["model"], config.learned_sigma, config.loss, setting["curve"], seed, progress=progress, log=log)
            spec = setting["posterior"]
            ensemble = None
            if "full" in spec.spaces:
                ensemble = ensemble_stage(cache, data, setting, config, setting["sampler"].num_chains, seed, log, progress)
            for space in spec.spaces:
                for temperature in spec.temperatures:
                    log(f"posterior {len(runs) + 1}/{total}: {space} space, T = {temperature:g} ({label}, seed {seed})")
                    stage = sample_stage(cache, data, curve, ensemble if space == "full" else None, setting, space, temperature, seed, config.evaluation, log)
                    runs.append({"setting": index, "labels": setting["labels"], "seed": seed, "space": space, "temperature": temperature, "stage": stage, "curve": curve, "data": data, "spec": spec, "sampler": setting["sampler"]})
    return _analyse(config, run_folder, runs, log)


def _analyse(config: Config, run_folder: RunFolder, runs: list[dict], log) -> Path:
    rows = []
    for item in runs:
        summary = json.loads((item["stage"].folder / "_stage.json").read_text())["summary"]
        curve_summary = json.loads((item["curve"].folder / "_stage.json").read_text())["summary"]
        degree = int(np.load(item["curve"].folder / "control_points.npy").shape[0] - 1)
        labels = {k: _label(v) for k, v in item["labels"].items()}
        rows.append(
            {
                **labels,
                "setting": item["setting"],
                "K": degree,
                "seed": item["seed"],
                "space": item["space"],
                "temperature": item["temperature"],
                "sampler_name": item["sampler"].sampler,
                "t_prior": item["spec"].t_prior,
                "curve_status": curve_summary.get("status"),
                **summary,
            }
        )
    table = pd.DataFrame(rows)
    for column in ("chains", "chains_failed"):
        if column in table:
            table[column] = table[column].fillna(0).astype(int)
    run_folder.write_table("posteriors", table)
    metric = "test_accuracy" if config.posterior.likelihood == "categorical" else "test_rmse"
    setting_columns = [c for c in [*config.grid, "space", "K"] if c in table.columns and c != "curve.degree"]
    selection = pd.DataFrame()
    if "validation_lppd" in table.columns:
        wanted = [m for m in ("test_lppd", metric, "ess_bulk_min", "rhat_max", "sampling_seconds", "ess_per_gradient_evaluation") if m in table.columns]
        selection = select_temperature(table, setting_columns=setting_columns, metric_columns=wanted)
        run_folder.write_table("temperature_selection", selection)
    figures = _figures(config, run_folder, table, runs, metric, log)
    notes = []
    failed_chains = int(table.get("chains_failed", pd.Series(dtype=int)).sum())
    all_chains = int(table.get("chains", pd.Series(dtype=int)).sum())
    if failed_chains:
        notes.append(f"{failed_chains} of {all_chains} chains failed (non-finite values or too many divergences); they are excluded from every estimate and listed in the 'failures' column.")
    failed_runs = table[table.status == "failed"]
    if len(failed_runs):
        notes.append(f"{len(failed_runs)} posterior run(s) produced no usable chain; their metrics are missing (see 'reason').")
    if "rhat_max" in table.columns:
        single = table[(table.status == "completed") & table.rhat_max.isna()]
        if len(single):
            notes.append(f"{len(single)} run(s) kept a single chain, so R-hat (which compares chains) is not defined for them.")
    if "validation_lppd" not in table.columns:
        notes.append("The data have no validation split, so no temperature is selected; set data.validation_fraction to hold some training data out.")
    summary_columns = [c for c in [*config.grid, "K", "space", "temperature", "seed", "chains_failed", "validation_lppd", "test_lppd", metric, "train_elpd_loo", "train_pareto_k_max", "ess_bulk_min", "ess_tail_min", "rhat_max", "sampling_seconds", "gradient_evaluations_per_draw", "ess_per_second", "ess_per_gradient_evaluation", "status"] if c in table.columns and c != "curve.degree"]
    tables = {"posterior runs": table[summary_columns]}
    if not selection.empty:
        tables["temperature chosen by validation LPPD (mean ± std over seeds of the test metrics there)"] = selection
    report = write_report(
        run_folder.path("report.html"),
        title=f"Tunnel posteriors: {config.name} ({config.variant})",
        summary=(
            f"{config.description or config.name}: {len(runs)} posterior(s) — {len(config.settings())} setting(s) × {len(config.seeds)} seed(s) × "
            f"spaces {', '.join(config.posterior.spaces)} × T in {{{', '.join(f'{t:g}' for t in config.posterior.temperatures)}}}."
        ),
        notes=notes,
        config=config.model_dump(),
        tables=tables,
        figures=figures,
    )
    log(f"report: {report}")
    return report


# ============================================================================ figures


def _best_temperature(rows: pd.DataFrame) -> float:
    if "validation_lppd" in rows and rows.validation_lppd.notna().any():
        return float(rows.groupby("temperature").validation_lppd.mean().idxmax())
    return float(sorted(rows.temperature.unique())[len(rows.temperature.unique()) // 2])


def _representatives(table: pd.DataFrame, runs: list[dict]) -> dict[str, dict]:
    """For the first setting and seed: per space, the run at its best validation temperature."""
    usable = table[table.status == "completed"]
    if usable.empty:
        return {}
    first = usable.iloc[0]
    chosen = {}
    for space in usable.space.unique():
        rows = usable[(usable.setting == first.setting) & (usable.seed == first.seed) & (usable.space == space)]
        if rows.empty:
            continue
        temperature = _best_temperature(rows)
        for item in runs:
            if item["setting"] == first.setting and item["seed"] == first.seed and item["space"] == space and item["temperature"] == temperature:
                chosen[space] = item
    return chosen


def _figures(config: Config, run_folder: RunFolder, table: pd.DataFrame, runs: list[dict], metric: str, log) -> list[Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: list[Figure] = []
    completed = table[table.status == "completed"]
    representatives = _representatives(table, runs)

    def attempt(name, function):
        try:
            figure = function()
            if figure is not None:
                figures.append(figure)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn is skipped and said
            log(f"figure {name} skipped: {type(e).__name__}: {e}")
        finally:
            plt.close("all")

    if not completed.empty:
        attempt("metrics_against_temperature", lambda: _metrics_figure(plt, run_folder, config, completed, metric))
        attempt("ess_rhat", lambda: _diagnostics_figure(plt, run_folder, completed, config))
        attempt("trace_rank", lambda: _trace_rank_figure(plt, run_folder, representatives))
        attempt("coverage", lambda: _coverage_figure(plt, run_folder, representatives))
        attempt("predictive", lambda: _predictive_figure(plt, run_folder, representatives))
        attempt("slices", lambda: _slices_figure(plt, run_folder, config, table, runs))
    attempt("frames", lambda: _frames_figure(plt, run_folder, runs))
    return figures


def _other_labels(config: Config) -> list[str]:
    return [c for c in config.grid if c != "curve.degree"]


def _metrics_figure(plt, run_folder, config, table, metric) -> Figure | None:
    if table.temperature.nunique() < 2:
        return None
    groups = _other_labels(config)
    panels = list(table.groupby(groups, sort=True)) if groups else [((), table)]
    metrics = [m for m in ("validation_lppd", "test_lppd", metric) if m in table.columns]
    fig, axes = plt.subplots(len(panels), len(metrics), figsize=(4.2 * len(metrics), 3.4 * len(panels)), squeeze=False)
    degrees = sorted(table.K.unique())
    styles = {"tunnel": "-", "volume": "--", "line": ":", "full": "-."}
    for row, (key, rows) in enumerate(panels):
        key = key if isinstance(key, tuple) else (key,)
        title = ", ".join(f"{g.split('.')[-1]}={v}" for g, v in zip(groups, key))
        for column, name in enumerate(metrics):
            ax = axes[row, column]
            for (space, degree), group in rows.groupby(["space", "K"]):
                stats = group.groupby("temperature")[name].agg(["mean", "std"]).sort_index()
                colour = plt.cm.viridis(degrees.index(degree) / max(len(degrees) - 1, 1))
                ax.plot(stats.index, stats["mean"], styles.get(space, "-"), color=colour, marker="o", markersize=3, label=f"{space}, K={degree}")
                if group.seed.nunique() > 1:
                    ax.fill_between(stats.index, stats["mean"] - stats["std"].fillna(0), stats["mean"] + stats["std"].fillna(0), color=colour, alpha=0.12)
            ax.set_xscale("log")
            ax.set_xlabel("temperature T")
            ax.set_ylabel(name.replace("_", " "))
            ax.set_title(title or name.replace("_", " "), fontsize=9)
        axes[row, 0].legend(fontsize=6)
    fig.tight_layout()
    return Figure(run_folder.save_figure("metrics_against_temperature", fig), f"Validation and test LPPD and test {metric.split('_')[-1].upper() if 'rmse' in metric else 'accuracy'} against the posterior temperature T per space (line style) and K (colour), mean ± std over seeds.")


def _diagnostics_figure(plt, run_folder, table, config) -> Figure:
    spaces = list(table.space.unique())
    by = ["K"] + [c for c in _other_labels(config) if c in table.columns and table[c].nunique() > 1]
    groups = list(table.groupby(by, sort=True).groups)
    fields = [f for f in ("ess_bulk_min", "rhat_max", "ess_per_evaluation") if f in table.columns]
    fig, axes = plt.subplots(1, len(fields), figsize=(max(4.3, 1.1 * len(groups) + 2.2) * len(fields), 3.6), squeeze=False)
    width = 0.8 / max(len(spaces), 1)
    for ax, field in zip(axes[0], fields):
        for i, space in enumerate(spaces):
            for j, key in enumerate(groups):
                key = key if isinstance(key, tuple) else (key,)
                rows = table[table.space == space]
                for column, value in zip(by, key):
                    rows = rows[rows[column] == value]
                values = rows[field].dropna().to_numpy(float)
                if values.size == 0:
                    continue
                position = j + (i - (len(spaces) - 1) / 2) * width
                ax.scatter(np.full(values.size, position) + np.random.default_rng(j).uniform(-width / 4, width / 4, values.size), values, s=9, color=f"C{i}", alpha=0.6, label=space if j == 0 else None)
                ax.hlines(np.median(values), position - width / 2.5, position + width / 2.5, color=f"C{i}")
        labels = ["\n".join(f"{c.split('.')[-1]}={v}" for c, v in zip(by, key if isinstance(key, tuple) else (key,))) for key in groups]
        ax.set_xticks(range(len(groups)), labels, fontsize=7)
        title = {"ess_bulk_min": "smallest bulk ESS (log)", "rhat_max": "largest R-hat", "ess_per_evaluation": "bulk ESS per evaluation (log)"}[field]
        ax.set_title(title, fontsize=9)
        if field != "rhat_max":
            ax.set_yscale("log")
        else:
            ax.axhline(1.01, color="0.4", linewidth=0.8, linestyle=":")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return Figure(run_folder.save_figure("ess_rhat", fig), "Convergence per space and setting over every temperature and seed (one dot per run, bar: median): the smallest bulk ESS and the largest R-hat over the subspace coordinates φ (θ in the full space), and bulk ESS per gradient evaluation (per density evaluation for random-walk Metropolis).")


def _open_draws(item: dict):
    import arviz as az

    return az.from_netcdf(str(item["stage"].folder / "posterior.nc"))


def _phi_draws(item: dict) -> np.ndarray | None:
    idata = _open_draws(item)
    group = idata.posterior
    name = "phi" if "phi" in group else ("theta" if "theta" in group else "z")
    values = np.asarray(group[name])
    return values if values.ndim == 3 else values[..., None]


def _trace_rank_figure(plt, run_folder, representatives) -> Figure | None:
    if not representatives:
        return None
    spaces = list(representatives)
    coordinates = 3
    fig, axes = plt.subplots(len(spaces), 2 * coordinates, figsize=(2.6 * 2 * coordinates, 2.2 * len(spaces)), squeeze=False)
    for row, space in enumerate(spaces):
        draws = _phi_draws(representatives[space])
        chains, count, size = draws.shape
        ranks = pd.DataFrame(draws.reshape(chains * count, size)).rank().to_numpy().reshape(chains, count, size)
        for c in range(min(coordinates, size)):
            trace, rank = axes[row, 2 * c], axes[row, 2 * c + 1]
            for chain in range(chains):
                trace.plot(draws[chain, :, c], linewidth=0.5, alpha=0.7)
                rank.hist(ranks[chain, :, c], bins=20, histtype="step", linewidth=0.8)
            trace.set_title(f"{space}: φ{c + 1} trace", fontsize=8)
            rank.set_title(f"{space}: φ{c + 1} ranks per chain", fontsize=8)
            rank.set_yticks([])
    fig.tight_layout()
    temperatures = ", ".join(f"{s} T={representatives[s]['temperature']:g}" for s in spaces)
    return Figure(run_folder.save_figure("trace_rank", fig), f"Trace and rank plots of the first three subspace coordinates φ for the first setting and seed ({temperatures}; T chosen by validation LPPD). Flat, overlapping rank histograms mean well-mixed chains.")


def _coverage_figure(plt, run_folder, representatives) -> Figure | None:
    spaces = [s for s in representatives if s != "full"]
    if not spaces:
        return None
    fig, axes = plt.subplots(1, len(spaces), figsize=(4.2 * len(spaces), 4), squeeze=False, sharex=True, sharey=True)
    for ax, space in zip(axes[0], spaces):
        item = representatives[space]
        folder = item["stage"].folder
        posterior_phi = _phi_draws(item)
        posterior_phi = posterior_phi.reshape(-1, posterior_phi.shape[-1])
        if (folder / "prior_phi.npy").exists():
            prior = np.load(folder / "prior_phi.npy")
            ax.scatter(prior[:, 0], prior[:, 1], s=2, color="0.7", alpha=0.4, label="prior")
        step = max(1, len(posterior_phi) // 3000)
        ax.scatter(posterior_phi[::step, 0], posterior_phi[::step, 1], s=2, color="C3", alpha=0.35, label="posterior")
        curve, _, _, _ = load_curve(item["curve"])
        curve_phi = curve_in_coordinates(curve_subspace(curve), curve)
        dense = np.asarray(evaluate(curve_phi, jnp.linspace(0, 1, 200)))
        ax.plot(dense[:, 0], dense[:, 1], color="k", linewidth=1.2, label="curve c(t)")
        ax.scatter(*np.asarray(curve_phi.control_points)[:, :2].T, s=14, color="k", marker="s", label="control points")
        ax.set_xlabel("φ1")
        ax.set_ylabel("φ2")
        ax.set_title(f"{space} space, T = {item['temperature']:g}", fontsize=9)
    axes[0, 0].legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return Figure(run_folder.save_figure("coverage", fig), "Prior (grey) and posterior (red) draws projected onto the first two subspace coordinates (φ1, φ2), with the trained curve and its control points: the tunnel prior concentrates around the curve, the volume prior spreads over the whole plane.")


def _predictive_figure(plt, run_folder, representatives) -> Figure | None:
    spaces = [s for s in representatives if (representatives[s]["stage"].folder / "predictive.npz").exists()]
    if not spaces:
        return None
    fig, axes = plt.subplots(1, len(spaces), figsize=(5 * len(spaces), 3.8), squeeze=False, sharey=True)
    for ax, space in zip(axes[0], spaces):
        item = representatives[space]
        splits = load_splits(item["data"].folder / "data.npz")
        with np.load(item["stage"].folder / "predictive.npz") as values:
            x, means = values["x"], values["mean"]
        curve, model, loss, curve_config = load_curve(item["curve"])
        along = curve_predictive(make_curve_model(model, symmetry=curve_config.get("symmetry")), curve, x[:, None], t=20, loss=loss)
        for line in np.asarray(along.mean)[..., 0]:
            ax.plot(x, line, color="0.75", linewidth=0.8)
        for line in means:
            ax.plot(x, line, color="C0", linewidth=0.6, alpha=0.35)
        ax.plot(x, means.mean(axis=0), color="C3", linewidth=1.6, label="posterior mean")
        ax.scatter(splits["train"].x[:, 0], np.asarray(splits["train"].y).reshape(-1), s=9, color="k", label="train")
        if "test" in splits:
            ax.scatter(splits["test"].x[:, 0], np.asarray(splits["test"].y).reshape(-1), s=12, color="k", marker="x", label="test")
        ax.set_title(f"{space} space, T = {item['temperature']:g}", fontsize=9)
        ax.set_xlabel("x")
    axes[0, 0].set_ylabel("y")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return Figure(run_folder.save_figure("predictive_with_draws", fig), "The curve predictive: functions of 20 networks along the trained curve (grey), functions of posterior draws (blue) and their mean (red), with the training (dots) and test (crosses) data.")


def _slices_figure(plt, run_folder, config, table, runs) -> Figure | None:
    """log-posterior of the tunnel space in the (t, ξ_1) and (t, ξ_2) planes, other ξ = 0, per
    activation (or first setting), at the temperature chosen by validation LPPD."""
    tunnel_rows = table[(table.space == "tunnel") & (table.status == "completed")]
    if tunnel_rows.empty:
        return None
    group = "model.activation" if "model.activation" in table.columns else None
    picks = []
    for value in (tunnel_rows[group].unique() if group else [None]):
        rows = tunnel_rows if group is None else tunnel_rows[tunnel_rows[group] == value]
        first = rows.iloc[0]
        rows = rows[(rows.setting == first.setting) & (rows.seed == first.seed)]
        temperature = _best_temperature(rows)
        item = next(r for r in runs if r["setting"] == first.setting and r["seed"] == first.seed and r["space"] == "tunnel" and r["temperature"] == temperature)
        picks.append((value, item, rows[rows.temperature == temperature].iloc[0]))
    planes = 2
    fig, axes = plt.subplots(len(picks), planes, figsize=(4.6 * planes, 3.6 * len(picks)), squeeze=False)
    for row, (value, item, stats) in enumerate(picks):
        splits = load_splits(item["data"].folder / "data.npz")
        posterior, pieces = build_posterior("tunnel", item["temperature"], item["spec"], item["curve"], splits["train"])
        size = pieces["tunnel"].dimension
        sigma = float(stats["sigma_mean"]) if "sigma_mean" in stats and np.isfinite(stats.get("sigma_mean", np.nan)) else 1.0
        t = np.linspace(item["spec"].t_lower + 1e-3, item["spec"].t_upper - 1e-3, 81, dtype=np.float32)
        xi = np.linspace(-3 * item["spec"].xi_scale, 3 * item["spec"].xi_scale, 61, dtype=np.float32)
        for plane in range(min(planes, size - 1)):
            tt, xx = np.meshgrid(t, xi)
            offsets = np.zeros((tt.size, size - 1), np.float32)
            offsets[:, plane] = xx.ravel()
            values = {"t": jnp.asarray(tt.ravel()), "xi": jnp.asarray(offsets)}
            if posterior.likelihood.samples_sigma:
                values["sigma"] = jnp.full((tt.size,), sigma)
            z = posterior.unconstrain(values)
            density = jax.jit(jax.vmap(posterior.log_density))(z) - interval_log_jacobian(interval_to_unconstrained(values["t"], item["spec"].t_lower, item["spec"].t_upper), item["spec"].t_lower, item["spec"].t_upper)
            density = np.asarray(density).reshape(tt.shape)
            ax = axes[row, plane]
            finite = density[np.isfinite(density)]
            # colours span the upper part of the range: the steep walls at the ends of the t range
            # would otherwise take the whole colour scale
            levels = np.linspace(np.percentile(finite, 40), finite.max(), 30) if finite.size else 30
            mesh = ax.contourf(tt, xx, np.where(np.isfinite(density), density, np.nan), levels=levels, cmap="magma", extend="min")
            fig.colorbar(mesh, ax=ax, fraction=0.046)
            ax.set_xlabel("t")
            ax.set_ylabel(f"ξ{plane + 1}")
            title = f"{'' if value is None else f'{value}, '}T = {item['temperature']:g}"
            ax.set_title(f"log posterior in (t, ξ{plane + 1}): {title}", fontsize=8)
    fig.tight_layout()
    return Figure(run_folder.save_figure("log_posterior_slices", fig), "The tempered log-posterior of the tunnel space (density in t and ξ) in the (t, ξ1) and (t, ξ2) planes with the other offsets at 0" + (", per activation: ReLU networks give a rougher landscape than ELU." if len(picks) > 1 else "."))


def _frames_figure(plt, run_folder, runs) -> Figure | None:
    """The three moving frames on the trained curve projected onto (φ1, φ2) and (φ1, φ2, φ3)."""
    from landform.subspace.plots import plot_frame_comparison

    if not runs:
        return None
    curve, _, _, _ = load_curve(runs[0]["curve"])
    curve_phi = curve_in_coordinates(curve_subspace(curve), curve)
    rows = [d for d in (2, 3) if curve_phi.dim >= d]
    if not rows:
        return None
    fig = plt.figure(figsize=(4.2 * len(FRAME_KINDS), 3.8 * len(rows)))
    for r, dim in enumerate(rows):
        projected = bezier(jnp.asarray(curve_phi.control_points)[:, :dim]) if curve_phi.kind == "bezier" else None
        if projected is None:
            return None
        axes = [fig.add_subplot(len(rows), len(FRAME_KINDS), r * len(FRAME_KINDS) + i + 1, **({"projection": "3d"} if dim == 3 else {})) for i in range(len(FRAME_KINDS))]
        scale = float(np.ptp(np.asarray(evaluate(projected, jnp.linspace(0, 1, 100))), axis=0).max()) * 0.12
        plot_frame_comparison(axes, projected, FRAME_KINDS, arrow_length=scale)
    fig.tight_layout()
    return Figure(run_folder.save_figure("frames", fig), "Frenet, transported (Dold et al.) and rotation-minimising frames along the trained curve projected onto its first two and three subspace coordinates: tangent in black, normals in colour. The Frenet normals flip where the curve inflects; the rotation-minimising frame turns as little as possible.")
