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
ArviZ ``DataTree`` in ``posterior.nc``, prior draws, predictive draws) → analysis (tables,
temperature selection on validation LPPD, figures, report).

A ``grid`` varies settings within one run: dotted paths into ``data``, ``model``, ``curve``,
``posterior`` or ``sampler`` (e.g. ``curve.degree``, ``model.activation``, ``sampler.sampler``,
``posterior.t_prior``); spaces and temperatures are lists of their own.
"""

from __future__ import annotations

import copy
import functools
import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from landform.bayes import (
    CurvePosterior,
    CurvePosteriorSettings,
    SamplerSettings,
    check_temperature,
    constrained_draws,
    curve_posterior,
    evaluate_run,
    load_posterior,
    pointwise_log_likelihood,
    predictions,
    prior_coordinates,
    sample_posterior,
    to_inference_data,
)
from landform.bayes.metrics import ESS_LIMIT, RHAT_LIMIT
from landform.data import Split
from landform.errors import ConfigError, LandformError, NumericalError
from landform.flat import ravel
from landform.losses import get_loss
from landform.paths import CurveTrainConfig
from landform.store import Figure, RunFolder, StageResult, open_run, run_stage, stage_summary, write_report
from landform.studies import Study
from landform.studies import tunnels_figures as drawing
from landform.studies.analysis import select_best
from landform.studies.common import DataSpec, curve_stage, data_stage, label, load_curve, load_data, make_model
from landform.studies.config import Strict, expand_grid
from landform.train import TrainConfig, fit_ensemble

GRID_SECTIONS = ("data", "model", "curve", "posterior", "sampler")
#: Columns reported at the temperature chosen by validation LPPD, after the test LPPD and metric.
SELECTION_DIAGNOSTICS = ("ess_bulk_min", "rhat_max", "sampling_seconds", "ess_per_gradient_evaluation")
#: Columns of the report's table of posterior runs, before and after the test metric (after the grid).
SUMMARY_HEAD = ("K", "space", "temperature", "seed", "chains_failed", "validation_lppd", "test_lppd")
SUMMARY_TAIL = (
    "train_elpd_loo",
    "train_pareto_k_max",
    "train_pareto_k_bad_count",
    "converged",
    "ess_bulk_min",
    "ess_tail_min",
    "rhat_max",
    "sampling_seconds",
    "gradient_evaluations_per_draw",
    "ess_per_second",
    "ess_per_gradient_evaluation",
    "status",
)


class PosteriorSpec(Strict):
    """The spaces, temperatures, priors and likelihood (module docstring of landform.bayes.posterior)."""

    spaces: list[Literal["tunnel", "volume", "line", "full"]] = Field(
        default_factory=lambda: ["tunnel", "volume"], min_length=1
    )
    temperatures: list[float] = Field(
        default_factory=lambda: [1.0], min_length=1, description="T > 0: log p = log prior + log likelihood / T"
    )
    likelihood: Literal["gaussian", "categorical"] = "gaussian"
    sigma: Literal["sampled", "trained"] | float = Field(
        "sampled",
        description="Gaussian σ: 'sampled' (σ ~ LogNormal(sigma_prior_location, sigma_prior_scale)), "
        "'trained' (the network's learned σ) "
        "or a fixed number",
    )
    sigma_prior_scale: float = Field(1.0, gt=0)
    sigma_prior_location: float = Field(0.0, description="μ of σ ~ LogNormal(μ, sigma_prior_scale)")
    volume_prior_scale: float = Field(
        1.0,
        gt=0,
        description="s of φ ~ N(0, s²I) in the volume space (1 toy, 0.5 UCI)",
    )
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
    def _range(self) -> PosteriorSpec:
        if not self.t_upper > self.t_lower:
            raise ValueError(f"the t range needs t_lower < t_upper, got [{self.t_lower}, {self.t_upper}]")
        if self.likelihood == "categorical" and self.sigma != "sampled":
            raise ValueError("sigma applies to the Gaussian likelihood only; leave it out for a categorical likelihood")
        if isinstance(self.sigma, float) and not self.sigma > 0:
            raise ValueError(f"a fixed sigma must be positive, got {self.sigma}")
        return self

    def stage_fields(self) -> dict[str, Any]:
        """Every field but the spaces and temperatures: one sample stage's posterior settings, as
        they enter its cache key."""
        fields = {k: v for k, v in self.model_dump().items() if k not in ("spaces", "temperatures")}
        if fields["sigma_prior_location"] == 0.0:  # the default, keyed as before it existed
            del fields["sigma_prior_location"]
        return fields

    def curve_settings(self) -> CurvePosteriorSettings:
        """The settings of :func:`landform.bayes.curve_posterior` (every field but the spaces and
        temperatures)."""
        fields = {k: v for k, v in self.model_dump().items() if k not in ("spaces", "temperatures")}
        return CurvePosteriorSettings(**fields)


class EnsembleSpec(Strict):
    """Full-space chains start from a deep ensemble of ``num_chains`` networks trained with these settings."""

    train: dict[str, Any] = Field(description="TrainConfig fields for the ensemble members")


class ConvergenceSpec(Strict):
    """When a posterior run counts as converged: R-hat_max ≤ ``rhat_limit`` and the smallest bulk
    ESS ≥ ``ess_limit`` over the subspace coordinates (judged from the table, so changing the
    rule reruns nothing)."""

    rhat_limit: float = Field(RHAT_LIMIT, gt=1.0)
    ess_limit: float = Field(ESS_LIMIT, ge=0)


class EvaluationSpec(Strict):
    loo: bool = Field(True, description="PSIS-LOO on the training data")
    batch_size: int = Field(64, ge=1, description="draws evaluated at a time for predictive metrics")
    predictive_draws: int = Field(
        60, ge=1, description="posterior draws kept for the predictive figure (1-D regression)"
    )
    prior_draws: int = Field(2000, ge=10, description="prior draws kept for the coverage figure")
    log_likelihood_limit: int = Field(
        5_000_000,
        ge=0,
        description="store the training log-likelihoods in posterior.nc when chains × draws × N is at most this",
    )


class Setting(NamedTuple):
    """One combination of the grid, every section validated.

    ``curve`` is the validated :class:`CurveTrainConfig` (its ``seed`` and ``loss`` are set by the
    curve stage); ``model`` and ``curve_fields`` are the sections as the config gives them, which
    is what the stage cache keys hash. Fields are read by name as well (``setting["sampler"]``).
    """

    index: int
    data: DataSpec
    model: dict[str, Any]
    curve: CurveTrainConfig
    curve_fields: dict[str, Any]
    posterior: PosteriorSpec
    sampler: SamplerSettings
    labels: dict[str, Any]

    def title(self) -> str:
        """The grid values of this setting in one line ("base settings" without a grid)."""
        return ", ".join(f"{k}={label(v)}" for k, v in self.labels.items()) or "base settings"


class Config(Strict):
    study: Literal["tunnels"] = "tunnels"
    name: str
    variant: str = "paper"
    description: str = ""
    data: DataSpec
    model: dict[str, Any] = Field(description="a model spec for landform.models.build; input_shape comes from the data")
    learned_sigma: float | None = Field(
        None, gt=0, description="wrap the model with a learned σ (initial value) for regression"
    )
    loss: str = Field(description="the curve-training loss (gaussian_nll_learned, cross_entropy, ...)")
    curve: dict[str, Any] = Field(default_factory=dict, description="CurveTrainConfig fields")
    posterior: PosteriorSpec = Field(default_factory=PosteriorSpec)
    sampler: dict[str, Any] = Field(
        default_factory=dict,
        description="SamplerSettings fields (sampler, num_chains, num_warmup, num_draws, thinning, ...)",
    )
    ensemble: EnsembleSpec | None = None
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    convergence: ConvergenceSpec = Field(default_factory=ConvergenceSpec)
    grid: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="settings varied within the study (dotted paths into data, model, curve, posterior or sampler)",
    )
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in value.items():
            if path.split(".")[0] not in GRID_SECTIONS:
                raise ValueError(
                    f"grid field {path!r} must start with one of {', '.join(s + '.' for s in GRID_SECTIONS)}"
                )
            if path in ("posterior.spaces", "posterior.temperatures"):
                raise ValueError(
                    f"{path} is a list of its own (every value is run); set it under 'posterior', not in the grid"
                )
            if not values:
                raise ValueError(f"grid field {path!r} has no values")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        get_loss(self.loss)
        try:  # SamplerSettings raises UnknownNameError (a KeyError), which pydantic would not wrap
            settings = self.settings()
        except LandformError as e:
            raise ValueError(str(e)) from None
        for setting in settings:
            posterior = setting.posterior
            if "tunnel" in posterior.spaces and setting.curve.degree < 2:
                raise ValueError(
                    "tunnel coordinates need K >= 2 (the position t and K − 1 offsets); "
                    f"curve.degree = {setting.curve.degree}. "
                    "Use the 'line' or 'volume' space for K = 1"
                )
            if "full" in posterior.spaces and self.ensemble is None:
                raise ValueError(
                    "the 'full' space starts its chains from a deep ensemble: add ensemble: {train: {...}}"
                )
            if posterior.likelihood == "gaussian" and posterior.sigma == "trained" and self.learned_sigma is None:
                raise ValueError("sigma: trained reads σ from the network; it needs learned_sigma")
        if self.ensemble is not None:
            TrainConfig.model_validate(self.ensemble.train)
        return self

    def settings(self) -> list[Setting]:
        """Every grid combination as a :class:`Setting`, its sections validated."""
        base = {
            "data": self.data.model_dump(),
            "model": copy.deepcopy(self.model),
            "curve": copy.deepcopy(self.curve),
            "posterior": self.posterior.model_dump(),
            "sampler": copy.deepcopy(self.sampler),
        }
        out = []
        for index, (fields, labels) in enumerate(expand_grid(base, self.grid)):
            setting = Setting(
                index=index,
                data=DataSpec.model_validate(fields["data"]),
                model=fields["model"],
                curve=CurveTrainConfig.model_validate({**fields["curve"], "seed": 0}),
                curve_fields=fields["curve"],
                posterior=PosteriorSpec.model_validate(fields["posterior"]),
                sampler=SamplerSettings(**fields["sampler"]),
                labels=labels,
            )
            out.append(setting)
        return out


class PosteriorRun(NamedTuple):
    """One sampled posterior: a setting, seed, space and temperature, and the stages behind it
    (``ensemble`` only for the full space)."""

    setting: Setting
    seed: int
    space: str
    temperature: float
    data: StageResult
    curve: StageResult
    ensemble: StageResult | None
    sample: StageResult


# ============================================================================ stages


def build_run_posterior(
    space: str,
    temperature: float,
    setting: Setting,
    curve: StageResult,
    train: Split,
    ensemble_points: np.ndarray | None = None,
) -> CurvePosterior:
    """The tempered posterior of ``space`` around the trained curve of a curve stage."""
    trained = load_curve(curve)
    return curve_posterior(
        space,
        trained.curve,
        trained.model,
        trained.loss,
        setting.posterior.curve_settings(),
        train.x,
        train.y,
        temperature,
        symmetry=trained.config.get("symmetry"),
        ensemble_points=ensemble_points,
    )


def ensemble_stage(
    cache: Path, data: StageResult, setting: Setting, config: Config, size: int, seed: int, log, progress
) -> StageResult:
    """A deep ensemble of ``size`` networks (full-space starting points), cached."""
    inputs = {
        "data": data.key,
        "model": setting.model,
        "learned_sigma": config.learned_sigma,
        "loss": config.loss,
        "train": config.ensemble.train,
        "size": size,
        "seed": seed,
    }

    def compute(out: Path) -> dict:
        train = load_data(data)["train"]
        model = make_model(setting.model, train.x.shape[1:], config.learned_sigma)
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.arange(size))
        stack = jax.vmap(model.init)(keys)
        log(f"  training a deep ensemble of {size} networks (full-space starting points)")
        train_config = TrainConfig.model_validate({**config.ensemble.train, "seed": seed})
        result = fit_ensemble(model, stack, train, config.loss, train_config, progress=progress)

        def member(i: int) -> np.ndarray:  # the flat parameters of ensemble member i
            return np.asarray(ravel(jax.tree_util.tree_map(lambda leaf: leaf[i], result.params))[0])

        np.save(out / "points.npy", np.stack([member(i) for i in range(size)]))
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
    setting: Setting,
    space: str,
    temperature: float,
    seed: int,
    evaluation: EvaluationSpec,
    log,
    progress: Any = None,
) -> StageResult:
    """Sample one posterior and score it (cached): ``posterior.nc``, ``prior_phi.npy``,
    ``predictive.npz`` (1-D regression); the summary is the results-table row."""
    inputs = {
        "data": data.key,
        "curve": curve.key,
        "ensemble": None if ensemble is None else ensemble.key,
        "space": space,
        "temperature": temperature,
        "posterior": setting.posterior.stage_fields(),
        "sampler": setting.sampler.as_dict(),
        "seed": seed,
        "evaluation": evaluation.model_dump(),
    }

    def compute(out: Path) -> dict:
        splits = load_data(data)
        points = None if ensemble is None else np.load(ensemble.folder / "points.npy")
        try:
            built = build_run_posterior(space, temperature, setting, curve, splits["train"], ensemble_points=points)
        except NumericalError as e:  # a singular curve: recorded, the other runs go on
            chains = setting.sampler.num_chains
            return {"status": "failed", "reason": str(e), "chains": chains, "chains_failed": chains}
        return _sample(out, built, setting, space, temperature, seed, splits, points, evaluation, progress)

    return run_stage(cache, "sample", inputs, compute, log=log)


def _sample(
    out: Path,
    built: CurvePosterior,
    setting: Setting,
    space: str,
    temperature: float,
    seed: int,
    splits: dict[str, Split],
    points: np.ndarray | None,
    evaluation: EvaluationSpec,
    progress: Any = None,
) -> dict:
    """Sample ``built.posterior``, score the draws and save them into ``out``; the table row."""
    posterior, sampler, train = built.posterior, setting.sampler, splits["train"]
    values = None
    if space == "full":
        values = {"theta": jnp.asarray(points[np.arange(sampler.num_chains) % len(points)])}
        if posterior.likelihood.samples_sigma:
            values["sigma"] = jnp.ones((sampler.num_chains,))
    key = _sampling_key(seed, space, temperature)
    result = sample_posterior(key, posterior, sampler, values=values, progress=progress)
    row: dict[str, Any] = {"status": "completed", "dimension": posterior.dimension}
    if result.num_failed == result.num_chains:
        reason = "; ".join(sorted(set(result.failures)))
        row.update(
            {"status": "failed", "chains": result.num_chains, "chains_failed": result.num_failed, "reason": reason}
        )
        attrs = {"space": space, "temperature": temperature}
        to_inference_data(result, None, include_failed=True, attrs=attrs).to_netcdf(str(out / "posterior.nc"))
        return row
    kept = result.positions[result.valid]
    log_likelihood = None  # the training log-likelihoods: stored with the draws when small
    if result.num_chains * result.positions.shape[1] * len(train) <= evaluation.log_likelihood_limit:
        log_likelihood = pointwise_log_likelihood(posterior, kept, train.x, train.y, batch_size=evaluation.batch_size)
    row.update(_scores(posterior, result, splits, log_likelihood, evaluation, temperature))
    row["step_size"] = float(np.mean(result.step_size[result.valid]))
    row["trajectory_length"] = float(np.mean(result.trajectory_length[result.valid]))
    if posterior.likelihood.samples_sigma:
        row["sigma_mean"] = float(np.mean(constrained_draws(posterior, kept)["sigma"]))
    attrs = {"space": space, "temperature": temperature, "seed": seed}
    posterior_record = posterior if space != "full" else None
    idata = to_inference_data(result, posterior_record, log_likelihood=log_likelihood, attrs=attrs)
    idata.to_netcdf(str(out / "posterior.nc"))
    _save_prior_and_predictive(out, built, setting.posterior, space, seed, kept, train, evaluation)
    return _json_row(row)


def _scores(
    posterior, result, splits: dict[str, Split], log_likelihood, evaluation: EvaluationSpec, temperature: float
) -> dict:
    """Validation and test metrics, PSIS-LOO on the training data, convergence and efficiency."""
    train = splits["train"]
    return evaluate_run(
        posterior,
        result,
        test=(splits["test"].x, splits["test"].y) if "test" in splits else None,
        validation=(splits["validation"].x, splits["validation"].y) if "validation" in splits else None,
        train=(train.x, train.y) if evaluation.loo and log_likelihood is None else None,
        train_log_likelihood=log_likelihood if evaluation.loo else None,
        temperature=temperature,
        batch_size=evaluation.batch_size,
    )


def _save_prior_and_predictive(
    out: Path,
    built: CurvePosterior,
    spec: PosteriorSpec,
    space: str,
    seed: int,
    kept: np.ndarray,
    train: Split,
    evaluation: EvaluationSpec,
) -> None:
    """``prior_phi.npy`` (prior draws in φ, not for the full space) and, for 1-D Gaussian
    regression, ``predictive.npz`` (the predictive means of some posterior draws on a grid)."""
    prior = prior_coordinates(space, spec.curve_settings(), built.curve_phi, built.tunnel, evaluation.prior_draws, seed)
    if prior is not None:
        np.save(out / "prior_phi.npy", prior)
    x = np.asarray(train.x)
    if x.ndim == 2 and x.shape[1] == 1 and spec.likelihood == "gaussian":
        grid = np.linspace(x.min() - 0.5, x.max() + 0.5, 200, dtype=np.float32)[:, None]
        flat = kept.reshape(-1, kept.shape[-1])
        count = min(evaluation.predictive_draws, len(flat))
        chosen = flat[np.random.default_rng(seed).choice(len(flat), count, replace=False)]
        means = predictions(built.posterior, chosen, grid, batch_size=evaluation.batch_size)[..., 0]
        np.savez(out / "predictive.npz", x=grid[:, 0], mean=means)


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
    total = sum(len(s.posterior.spaces) * len(s.posterior.temperatures) for s in settings) * len(config.seeds)
    runs: list[PosteriorRun] = []
    for setting in settings:
        data = data_stage(cache, setting.data, log)
        for seed in config.seeds:
            runs += _setting_runs(cache, config, setting, data, seed, (len(runs), total), progress, log)
    return _analyse(config, run_folder, settings, runs, log)


def _setting_runs(
    cache: Path,
    config: Config,
    setting: Setting,
    data: StageResult,
    seed: int,
    counts: tuple[int, int],
    progress,
    log,
) -> list[PosteriorRun]:
    """The curve (and ensemble) of one setting and seed, then one sample stage per space and T;
    ``counts``: (posteriors sampled before, posteriors in all) for the log."""
    title = setting.title()
    log(f"curve for {title}, seed {seed}")
    curve = curve_stage(
        cache,
        data,
        setting.model,
        config.learned_sigma,
        config.loss,
        setting.curve_fields,
        seed,
        progress=progress,
        log=log,
    )
    spec = setting.posterior
    ensemble = None
    if "full" in spec.spaces:
        ensemble = ensemble_stage(cache, data, setting, config, setting.sampler.num_chains, seed, log, progress)
    runs = []
    for space in spec.spaces:
        space_ensemble = ensemble if space == "full" else None
        for temperature in spec.temperatures:
            log(
                f"posterior {counts[0] + len(runs) + 1}/{counts[1]}: {space} space, T = {temperature:g} "
                f"({title}, seed {seed})"
            )
            stage = sample_stage(
                cache, data, curve, space_ensemble, setting, space, temperature, seed, config.evaluation, log, progress
            )
            runs.append(PosteriorRun(setting, seed, space, temperature, data, curve, space_ensemble, stage))
    return runs


def _results_table(runs: list[PosteriorRun], convergence: ConvergenceSpec) -> pd.DataFrame:
    """One row per posterior run: its grid values, setting, K, seed, space, T and stage summary."""
    rows = []
    for item in runs:
        degree = int(np.load(item.curve.folder / "control_points.npy").shape[0] - 1)
        rows.append(
            {
                **{k: label(v) for k, v in item.setting.labels.items()},
                "setting": item.setting.index,
                "K": degree,
                "seed": item.seed,
                "space": item.space,
                "temperature": item.temperature,
                "sampler_name": item.setting.sampler.sampler,
                "t_prior": item.setting.posterior.t_prior,
                "curve_status": stage_summary(item.curve).get("status"),
                **stage_summary(item.sample),
            }
        )
    table = pd.DataFrame(rows)
    for column in ("chains", "chains_failed"):
        if column in table:
            table[column] = table[column].fillna(0).astype(int)
    if "rhat_max" in table:
        rhat, ess = table["rhat_max"].astype(float), table["ess_bulk_min"].astype(float)
        table["converged"] = (rhat <= convergence.rhat_limit) & (ess >= convergence.ess_limit)
    else:  # every run failed: nothing converged
        table["converged"] = False
    return table


def _selection_converged(selection: pd.DataFrame, table: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """``selection`` with ``converged``: whether every run (every seed) of the group at its chosen
    temperature converged, so that a chosen test metric resting on unmixed chains is visible."""
    if selection.empty:
        return selection
    flags = []
    for _, row in selection.iterrows():
        members = table[np.isclose(table.temperature.astype(float), float(row.temperature))]
        for name in group:
            members = members[members[name] == row[name]]
        members = members[members.status == "completed"]
        flags.append(bool(len(members)) and bool(members.converged.astype(bool).all()))
    return selection.assign(converged=flags)


def _selection_notes(selection: pd.DataFrame, group: list[str]) -> list[str]:
    """A warning for each chosen temperature whose test metrics rest on unconverged chains (a
    group without any usable run has no chosen temperature; the failed-run note covers it)."""
    if selection.empty or "converged" not in selection:
        return []
    chosen = selection[~selection.converged.astype(bool) & selection.temperature.notna()]
    if not len(chosen):
        return []
    labels = [
        ", ".join(f"{name}={row[name]}" for name in group) + f" (T = {row.temperature:g})"
        for _, row in chosen.iterrows()
    ]
    return [
        f"⚠ {len(chosen)} of {len(selection)} temperature choice(s) rest on posterior runs that did not converge: "
        + "; ".join(labels)
        + ". Their test metrics in the selection table are not to be trusted; run longer chains."
    ]


def _notes(table: pd.DataFrame, convergence: ConvergenceSpec) -> list[str]:
    """The report's notes: unconverged runs, failed chains and runs, single-chain runs, a missing
    validation split."""
    notes = []
    unconverged = table[(table.status == "completed") & ~table.converged.astype(bool)]
    if len(unconverged):
        notes.append(
            f"⚠ {len(unconverged)} of {len(table)} posterior run(s) did not converge (R-hat ≤ "
            f"{convergence.rhat_limit:g} and bulk ESS ≥ {convergence.ess_limit:g} on every coordinate): "
            "their metrics rest on unmixed chains; see the 'converged' column."
        )
    failed_chains = int(table.get("chains_failed", pd.Series(dtype=int)).sum())
    all_chains = int(table.get("chains", pd.Series(dtype=int)).sum())
    if failed_chains:
        notes.append(
            f"{failed_chains} of {all_chains} chains failed (non-finite values or too many divergences); they are "
            "excluded from every estimate and listed in the 'failures' column."
        )
    failed_runs = table[table.status == "failed"]
    if len(failed_runs):
        notes.append(
            f"{len(failed_runs)} posterior run(s) produced no usable chain; their metrics are missing (see 'reason')."
        )
    if "rhat_max" in table.columns:
        single = table[(table.status == "completed") & table.rhat_max.isna()]
        if len(single):
            notes.append(
                f"{len(single)} run(s) kept a single chain, so R-hat (which compares chains) is not defined for them."
            )
    if "validation_lppd" not in table.columns:
        notes.append(
            "The data have no validation split, so no temperature is selected; set data.validation_fraction to hold "
            "some training data out."
        )
    return notes


def _analyse(config: Config, run_folder: RunFolder, settings: list[Setting], runs: list[PosteriorRun], log) -> Path:
    table = _results_table(runs, config.convergence)
    run_folder.write_table("posteriors", table)
    metric = "test_accuracy" if config.posterior.likelihood == "categorical" else "test_rmse"
    setting_columns = [c for c in [*config.grid, "space", "K"] if c in table.columns and c != "curve.degree"]
    selection = pd.DataFrame()
    if "validation_lppd" in table.columns:
        wanted = [m for m in ("test_lppd", metric, *SELECTION_DIAGNOSTICS) if m in table.columns]
        selection = select_best(
            table, group=setting_columns, candidate="temperature", selection="validation_lppd", metrics=wanted
        )
        selection = _selection_converged(selection, table, setting_columns)
        run_folder.write_table("temperature_selection", selection)
    figures = _figures(config, run_folder, table, runs, metric, log)
    summary = [*config.grid, *SUMMARY_HEAD, metric, *SUMMARY_TAIL]
    summary_columns = [c for c in summary if c in table.columns and c != "curve.degree"]
    tables = {"posterior runs": table[summary_columns]}
    if not selection.empty:
        tables["temperature chosen by validation LPPD (mean ± std over seeds of the test metrics there)"] = selection
    temperatures = ", ".join(f"{t:g}" for t in config.posterior.temperatures)
    report = write_report(
        run_folder.path("report.html"),
        title=f"Tunnel posteriors: {config.name} ({config.variant})",
        summary=(
            f"{config.description or config.name}: {len(runs)} posterior(s) — {len(settings)} setting(s) × "
            f"{len(config.seeds)} seed(s) × spaces {', '.join(config.posterior.spaces)} × T in {{{temperatures}}}."
        ),
        notes=_notes(table, config.convergence) + _selection_notes(selection, setting_columns),
        config=config.model_dump(),
        tables=tables,
        figures=figures,
    )
    completed = table[table.status == "completed"]
    unconverged = int((~completed.converged.astype(bool)).sum())
    log(
        f"diagnostics: {unconverged} of {len(table)} posteriors unconverged "
        f"(R-hat ≤ {config.convergence.rhat_limit:g}, "
        f"bulk ESS ≥ {config.convergence.ess_limit:g}), {len(table) - len(completed)} failed"
    )
    log(f"report: {report}")
    return report


# ============================================================================ figures


def _best_temperature(rows: pd.DataFrame) -> float:
    """The temperature of the best mean validation LPPD (without one: the middle temperature)."""
    if "validation_lppd" in rows and rows.validation_lppd.notna().any():
        return float(rows.groupby("temperature").validation_lppd.mean().idxmax())
    return float(sorted(rows.temperature.unique())[len(rows.temperature.unique()) // 2])


def _run_index(runs: list[PosteriorRun], setting: int, seed: int, space: str, temperature: float) -> int:
    """The position in ``runs`` of the run with these values."""
    for index, item in enumerate(runs):
        if (item.setting.index, item.seed, item.space, item.temperature) == (setting, seed, space, temperature):
            return index
    raise LookupError(f"no posterior run for setting {setting}, seed {seed}, {space} space, T = {temperature:g}")


def _representatives(table: pd.DataFrame, runs: list[PosteriorRun]) -> dict[str, int]:
    """For the first setting and seed: per space, the run (its position) at its best validation temperature."""
    usable = table[table.status == "completed"]
    if usable.empty:
        return {}
    first = usable.iloc[0]
    chosen = {}
    for space in usable.space.unique():
        rows = usable[(usable.setting == first.setting) & (usable.seed == first.seed) & (usable.space == space)]
        if rows.empty:
            continue
        chosen[space] = _run_index(runs, first.setting, first.seed, space, _best_temperature(rows))
    return chosen


def _slice_picks(table: pd.DataFrame, runs: list[PosteriorRun]) -> list[tuple[Any, int, pd.Series]]:
    """Tunnel runs to slice: per activation (or once), the first setting and seed at the
    temperature chosen by validation LPPD, as (activation or None, run position, table row)."""
    tunnel_rows = table[(table.space == "tunnel") & (table.status == "completed")]
    if tunnel_rows.empty:
        return []
    group = "model.activation" if "model.activation" in table.columns else None
    picks = []
    for value in tunnel_rows[group].unique() if group else [None]:
        rows = tunnel_rows if group is None else tunnel_rows[tunnel_rows[group] == value]
        first = rows.iloc[0]
        rows = rows[(rows.setting == first.setting) & (rows.seed == first.seed)]
        temperature = _best_temperature(rows)
        index = _run_index(runs, first.setting, first.seed, "tunnel", temperature)
        picks.append((value, index, rows[rows.temperature == temperature].iloc[0]))
    return picks


def _coordinate_draws(folder: Path) -> np.ndarray:
    """The saved draws in the coordinates spaces are compared in: φ (θ in the full space; z
    when neither is saved), shape (chains, draws, dimension)."""
    group = load_posterior(folder / "posterior.nc").posterior
    name = "phi" if "phi" in group else ("theta" if "theta" in group else "z")
    values = np.asarray(group[name])
    return values if values.ndim == 3 else values[..., None]


def _figure_inputs(runs: list[PosteriorRun]):
    """Two cached look-ups by run position: the run's :class:`CurvePosterior` and its
    :class:`~landform.studies.tunnels_figures.FigureRun`, each built or loaded at most once."""

    @functools.cache
    def splits(index: int) -> dict[str, Split]:
        return load_data(runs[index].data)

    @functools.cache
    def built(index: int) -> CurvePosterior:
        item = runs[index]
        points = None if item.ensemble is None else np.load(item.ensemble.folder / "points.npy")
        return build_run_posterior(
            item.space, item.temperature, item.setting, item.curve, splits(index)["train"], points
        )

    @functools.cache
    def figure_run(index: int) -> drawing.FigureRun:
        item = runs[index]
        folder = item.sample.folder
        prior = np.load(folder / "prior_phi.npy") if (folder / "prior_phi.npy").exists() else None
        predictive = None
        if (folder / "predictive.npz").exists():
            with np.load(folder / "predictive.npz") as values:
                predictive = (values["x"], values["mean"])
        settings = item.setting.posterior.curve_settings()
        draws = _coordinate_draws(folder)
        return drawing.FigureRun(
            item.space, item.temperature, settings, built(index), draws, prior, predictive, splits(index)
        )

    return built, figure_run


def _figures(
    config: Config, run_folder: RunFolder, table: pd.DataFrame, runs: list[PosteriorRun], metric: str, log
) -> list[Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: list[Figure] = []
    completed = table[table.status == "completed"]
    groups = [c for c in config.grid if c != "curve.degree"]
    representatives = _representatives(table, runs)
    built, figure_run = _figure_inputs(runs)

    def attempt(name, function):
        try:
            figure = function()
            if figure is not None:
                figures.append(figure)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn is skipped and said
            log(f"figure {name} skipped: {type(e).__name__}: {e}")
        finally:
            plt.close("all")

    def chosen() -> dict[str, drawing.FigureRun]:
        return {space: figure_run(index) for space, index in representatives.items()}

    def picks() -> list[drawing.SlicePick]:
        return [drawing.SlicePick(value, figure_run(index), row) for value, index, row in _slice_picks(table, runs)]

    if not completed.empty:
        attempt(
            "metrics_against_temperature", lambda: drawing.metrics_figure(plt, run_folder, groups, completed, metric)
        )
        attempt("ess_rhat", lambda: drawing.diagnostics_figure(plt, run_folder, completed, groups))
        attempt("trace_rank", lambda: drawing.trace_rank_figure(plt, run_folder, chosen()))
        attempt("coverage", lambda: drawing.coverage_figure(plt, run_folder, chosen()))
        attempt("predictive", lambda: drawing.predictive_figure(plt, run_folder, chosen()))
        attempt("slices", lambda: drawing.slices_figure(plt, run_folder, picks()))
    attempt("frames", lambda: drawing.frames_figure(plt, run_folder, built(0).curve_phi) if runs else None)
    return figures


STUDY = Study("tunnels", Config, run)
