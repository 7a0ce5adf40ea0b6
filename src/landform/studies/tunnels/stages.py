"""The tunnel-posterior study's stages: a deep ensemble (full-space starting points) and one
``sample`` stage per setting, seed, space and temperature (sampled, scored and saved)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landform.bayes import (
    CurvePosterior,
    constrained_draws,
    curve_posterior,
    evaluate_run,
    pointwise_log_likelihood,
    predictions,
    prior_coordinates,
    sample_posterior,
    to_inference_data,
)
from landform.bayes import space as space_of
from landform.data import Split
from landform.errors import NumericalError
from landform.flat import ravel
from landform.store import StageResult, run_stage
from landform.studies.common import load_curve, load_data, make_model
from landform.studies.tunnels.config import Config, EvaluationSpec, PosteriorSetting, PosteriorSpec
from landform.train import TrainConfig, fit_ensemble


def build_run_posterior(
    space: str,
    temperature: float,
    setting: PosteriorSetting,
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
    cache: Path, data: StageResult, setting: PosteriorSetting, config: Config, size: int, seed: int, log, progress
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
    setting: PosteriorSetting,
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
    setting: PosteriorSetting,
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
    if space_of(space).needs_ensemble:  # chains start from the ensemble's members
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
    posterior_record = posterior if space_of(space).records_constrained else None
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
