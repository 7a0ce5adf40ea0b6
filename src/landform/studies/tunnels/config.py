"""The tunnel-posterior study's config schema: the posterior, ensemble, convergence and
evaluation sections, the grid, and one :class:`PosteriorSetting` per grid combination."""

from __future__ import annotations

import copy
from typing import Any, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from landform.bayes import CurvePosteriorSettings, SamplerSettings, check_temperature
from landform.bayes import space as space_of
from landform.bayes.metrics import ESS_LIMIT, RHAT_LIMIT
from landform.errors import ConfigError, LandformError
from landform.losses import get_loss
from landform.paths import CurveTrainConfig
from landform.store import StageResult
from landform.studies.common import DataSpec, label
from landform.studies.config import Strict, StudyConfig, expand_grid
from landform.train import TrainConfig

GRID_SECTIONS = ("data", "model", "curve", "posterior", "sampler")


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
    """How the draws of each posterior run are scored and what of them is kept."""

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


class PosteriorSetting(NamedTuple):
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


class Config(StudyConfig):
    """A tunnel-posterior experiment (:mod:`landform.studies.tunnels`)."""

    study: Literal["tunnels"] = "tunnels"
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
            if any(space_of(name).needs_tunnel for name in posterior.spaces) and setting.curve.degree < 2:
                raise ValueError(
                    "tunnel coordinates need K >= 2 (the position t and K − 1 offsets); "
                    f"curve.degree = {setting.curve.degree}. "
                    "Use the 'line' or 'volume' space for K = 1"
                )
            if any(space_of(name).needs_ensemble for name in posterior.spaces) and self.ensemble is None:
                raise ValueError(
                    "the 'full' space starts its chains from a deep ensemble: add ensemble: {train: {...}}"
                )
            if posterior.likelihood == "gaussian" and posterior.sigma == "trained" and self.learned_sigma is None:
                raise ValueError("sigma: trained reads σ from the network; it needs learned_sigma")
        if self.ensemble is not None:
            TrainConfig.model_validate(self.ensemble.train)
        return self

    def settings(self) -> list[PosteriorSetting]:
        """Every grid combination as a :class:`PosteriorSetting`, its sections validated."""
        base = {
            "data": self.data.model_dump(),
            "model": copy.deepcopy(self.model),
            "curve": copy.deepcopy(self.curve),
            "posterior": self.posterior.model_dump(),
            "sampler": copy.deepcopy(self.sampler),
        }
        out = []
        for index, (fields, labels) in enumerate(expand_grid(base, self.grid)):
            setting = PosteriorSetting(
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

    setting: PosteriorSetting
    seed: int
    space: str
    temperature: float
    data: StageResult
    curve: StageResult
    ensemble: StageResult | None
    sample: StageResult
