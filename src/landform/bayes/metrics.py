"""Predictive metrics and sampling diagnostics for posterior draws.

For S posterior draws θ_s (the valid chains' draws, see :mod:`landform.bayes.samplers`) and
test examples (x_i, y_i), i = 1..N, with the untempered likelihood p(y | x, θ):

- log pointwise predictive density (Gelman, Hwang, Vehtari 2014, "Understanding predictive
  information criteria for Bayesian models"), reported per test point:

      LPPD = (1/N) Σ_i log( (1/S) Σ_s p(y_i | x_i, θ_s) )
           = (1/N) Σ_i [ logsumexp_s log p(y_i | x_i, θ_s) − log S ];

- RMSE of the posterior-predictive mean ȳ_i = (1/S) Σ_s f(x_i; θ_s):
  sqrt((1/N) Σ_i ‖y_i − ȳ_i‖² / d);
- accuracy of argmax_c (1/S) Σ_s softmax(f(x_i; θ_s))_c;
- PSIS-LOO on the training data (Vehtari, Gelman, Gabry 2017, "Practical Bayesian model
  evaluation using leave-one-out cross-validation and WAIC"), by ``arviz.loo`` from the
  pointwise log-likelihoods: elpd_loo, its standard error, p_loo and the Pareto k̂ diagnostics;
- bulk and tail effective sample sizes and rank-normalised split R-hat (Vehtari, Gelman,
  Simpson, Carpenter, Bürkner 2021) by ``arviz.ess`` and ``arviz.rhat``, computed on the
  subspace coordinates φ for every space (tunnel draws (t, ξ) are mapped to φ first; the full
  space uses θ), so spaces are comparable; the worst (minimum ESS, maximum R-hat) over
  coordinates is reported, and the median ESS;
- efficiency: ESS per second of sampling (the timed draws phase, compilation excluded), ESS
  per gradient evaluation, gradient evaluations per draw. Random-walk Metropolis uses no
  gradients; its rows report density evaluations (``evaluation_kind`` = "density").

Temperature selection (Dold et al. 2025 tune the posterior temperature T on validation data):
:func:`select_temperature` picks, for each setting, the T with the best mean validation LPPD
over seeds and reports mean ± standard deviation over seeds of the test metrics at that T.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landform.bayes.records import chains_of, import_arviz
from landform.bayes.samplers import SamplingResult
from landform.errors import ConfigError, ShapeError


# ---------------------------------------------------------------------------------------------
# per-draw evaluations


def _map_draws(fn, positions, batch_size: int):
    positions = jnp.asarray(positions)
    leading = positions.shape[:-1]
    flat = positions.reshape(-1, positions.shape[-1])
    out = jax.lax.map(fn, flat, batch_size=min(batch_size, flat.shape[0]))
    return jax.tree_util.tree_map(lambda leaf: leaf.reshape(leading + leaf.shape[1:]), out)


@partial(jax.jit, static_argnums=(0, 4))
def _pointwise(posterior, draws, x, y, batch_size):
    return _map_draws(lambda z: posterior.pointwise_log_likelihood(z, x, y), draws, batch_size)


@partial(jax.jit, static_argnums=(0, 4))
def _score(posterior, draws, x, y, batch_size):
    """Per draw: (log p(y_i | x_i, θ) per example, predictive mean or probabilities)."""
    return _map_draws(lambda z: (posterior.pointwise_log_likelihood(z, x, y), posterior.predict(z, x)), draws, batch_size)


@partial(jax.jit, static_argnums=(0, 3))
def _predict(posterior, draws, x, batch_size):
    return _map_draws(lambda z: posterior.predict(z, x), draws, batch_size)


@partial(jax.jit, static_argnums=(0, 2))
def _coordinates(posterior, draws, batch_size):
    return _map_draws(posterior.coordinates, draws, batch_size)


def _flat_call(fn, positions, *arguments):
    """``fn`` on the draws flattened to (S, d) (one compiled program per S), reshaped back."""
    positions = np.asarray(positions)
    flat = positions.reshape(-1, positions.shape[-1])
    out = np.asarray(fn(jnp.asarray(flat), *arguments))
    return out.reshape(positions.shape[:-1] + out.shape[1:])


def pointwise_log_likelihood(posterior, positions, x, y, *, batch_size: int = 64) -> np.ndarray:
    """log p(y_i | x_i, θ(z)) for every draw z in ``positions`` (..., d): shape (..., N).
    Untempered. Draws are evaluated ``batch_size`` at a time (``lax.map``)."""
    return _flat_call(
        lambda draws: _pointwise(posterior, draws, jnp.asarray(x), jnp.asarray(y), batch_size), positions
    )


def predictions(posterior, positions, x, *, batch_size: int = 64) -> np.ndarray:
    """The predictive mean (regression) or class probabilities (classification) of every
    draw: shape (..., N, d or C)."""
    return _flat_call(lambda draws: _predict(posterior, draws, jnp.asarray(x), batch_size), positions)


def lppd(log_likelihood) -> float:
    """(1/N) Σ_i [logsumexp_s ℓ_si − log S] for ℓ of shape (..., N), leading axes = draws."""
    values = np.asarray(log_likelihood, np.float64)
    if values.ndim < 2:
        raise ShapeError(f"log-likelihoods need shape (draws..., N), got {values.shape}")
    flat = values.reshape(-1, values.shape[-1])
    from scipy.special import logsumexp

    return float(np.mean(logsumexp(flat, axis=0) - math.log(flat.shape[0])))


def rmse(prediction, y) -> float:
    """sqrt(mean((y − ȳ)²)) over examples and output dimensions."""
    prediction = np.asarray(prediction, np.float64)
    y = np.asarray(y, np.float64).reshape(prediction.shape)
    return float(np.sqrt(np.mean((prediction - y) ** 2)))


def accuracy(probabilities, y) -> float:
    """Fraction of examples whose label is the argmax of the mean predictive probabilities."""
    probabilities = np.asarray(probabilities)
    labels = np.asarray(y).reshape(probabilities.shape[0]).astype(int)
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def scores(posterior, positions, x, y, *, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per-example log-likelihoods (..., N) and predictions (..., N, d or C) of every draw in
    ``positions`` (..., d), from one forward pass per draw (one compiled program)."""
    positions = np.asarray(positions)
    flat = jnp.asarray(positions.reshape(-1, positions.shape[-1]))
    values, predicted = _score(posterior, flat, jnp.asarray(x), jnp.asarray(y), batch_size)
    leading = positions.shape[:-1]
    return np.asarray(values).reshape(leading + values.shape[1:]), np.asarray(predicted).reshape(leading + predicted.shape[1:])


def _metrics(kind: str, log_likelihood, predicted, y, prefix: str) -> dict[str, float]:
    draws = np.asarray(predicted).reshape((-1,) + np.asarray(predicted).shape[-2:])
    mean = np.mean(draws, axis=0)
    out = {f"{prefix}lppd": lppd(np.asarray(log_likelihood).reshape(draws.shape[0], -1))}
    if kind == "categorical":
        out[f"{prefix}accuracy"] = accuracy(mean, y)
    else:
        out[f"{prefix}rmse"] = rmse(mean, y)
    return out


def predictive_metrics(posterior, result: SamplingResult, x, y, *, batch_size: int = 64, prefix: str = "") -> dict[str, float]:
    """LPPD per point and RMSE (Gaussian) or accuracy (categorical) of the valid chains'
    draws on (x, y); keys are prefixed with ``prefix`` (e.g. "test_")."""
    positions = result.positions[chains_of(result)]
    values, predicted = scores(posterior, positions, x, y, batch_size=batch_size)
    return _metrics(posterior.likelihood.kind, values, predicted, y, prefix)


def relative_efficiency(log_likelihood) -> float:
    """The relative efficiency r_eff = ESS / S of the likelihood draws, averaged over points:
    the ``relative_eff(exp(log_lik))`` of the R package loo, used by PSIS to account for
    autocorrelated MCMC draws (1 for independent draws). Computed by ``arviz.ess`` (method
    "mean") on exp(ℓ_si − max_s ℓ_si) for draws (C, D, N)."""
    az = import_arviz()
    values = np.asarray(log_likelihood, np.float64)
    scaled = np.exp(values - values.max(axis=(0, 1), keepdims=True))
    ess = np.asarray(az.ess(az.convert_to_dataset({"x": scaled}), method="mean")["x"])
    ess = ess[np.isfinite(ess)]
    if ess.size == 0:
        return 1.0
    return float(np.clip(np.mean(ess) / (values.shape[0] * values.shape[1]), 1e-3, None))


def loo(log_likelihood, *, reff: float | None = None) -> dict[str, Any]:
    """PSIS-LOO by ``arviz.loo`` from pointwise log-likelihoods (C, D, N): elpd_loo (sum over
    points), its standard error, p_loo, the largest Pareto k̂, the fraction of k̂ > 0.7 and the
    pointwise values (``loo_pointwise``). ``reff`` defaults to :func:`relative_efficiency`."""
    az = import_arviz()
    values = np.asarray(log_likelihood, np.float64)
    if values.ndim != 3:
        raise ShapeError(f"log-likelihoods for LOO need shape (chains, draws, N), got {values.shape}")
    if reff is None:
        reff = relative_efficiency(values)
    idata = az.from_dict(log_likelihood={"y": values}, dims={"y": ["observation"]})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = az.loo(idata, pointwise=True, reff=reff)
    k = np.asarray(result.pareto_k)
    return {
        "elpd_loo": float(result.elpd_loo),
        "elpd_loo_se": float(result.se),
        "p_loo": float(result.p_loo),
        "pareto_k_max": float(np.max(k)),
        "pareto_k_bad_fraction": float(np.mean(k > 0.7)),
        "reff": float(reff),
        "loo_pointwise": np.asarray(result.loo_i),
    }


# ---------------------------------------------------------------------------------------------
# diagnostics


def coordinate_draws(posterior, result: SamplingResult, *, include_failed: bool = False, batch_size: int = 256) -> np.ndarray:
    """The draws in comparison coordinates (φ, or θ for the full space): (C, D, k). Without a
    posterior, the sampler's own coordinates."""
    positions = result.positions[chains_of(result, include_failed)]
    if posterior is None:
        return positions
    return _flat_call(lambda draws: _coordinates(posterior, draws, batch_size), positions)


def convergence(draws) -> dict[str, float]:
    """Bulk/tail ESS (minimum and median over coordinates) and the largest R-hat of draws
    (C, D, k), by ``arviz.ess`` and ``arviz.rhat``."""
    az = import_arviz()
    draws = np.asarray(draws, np.float64)
    if draws.ndim != 3:
        raise ShapeError(f"draws for diagnostics need shape (chains, draws, coordinates), got {draws.shape}")
    dataset = az.convert_to_dataset({"x": draws})
    bulk = np.asarray(az.ess(dataset, method="bulk")["x"])
    tail = np.asarray(az.ess(dataset, method="tail")["x"])
    rhat = np.asarray(az.rhat(dataset)["x"])
    return {
        "ess_bulk_min": float(np.min(bulk)),
        "ess_bulk_median": float(np.median(bulk)),
        "ess_tail_min": float(np.min(tail)),
        "rhat_max": float(np.max(rhat)),
    }


def efficiency(result: SamplingResult, ess: float) -> dict[str, Any]:
    """Work and speed of the draws phase of the valid chains, for an ESS value ``ess``."""
    chains = chains_of(result)
    gradients = float(np.sum(result.gradient_evaluations[chains]))
    densities = float(np.sum(result.density_evaluations[chains]))
    draws = len(chains) * result.positions.shape[1]
    kind = "gradient" if gradients > 0 else "density"
    evaluations = gradients if gradients > 0 else densities
    seconds = result.sampling_seconds
    return {
        "sampling_seconds": seconds,
        "warmup_seconds": result.warmup_seconds,
        "compile_seconds": result.compile_seconds,
        "evaluation_kind": kind,
        "gradient_evaluations": gradients,
        "warmup_gradient_evaluations": float(np.sum(result.warmup_gradient_evaluations[chains])),
        "evaluations_per_draw": evaluations / draws,
        "gradient_evaluations_per_draw": gradients / draws,
        "ess_per_second": ess / seconds if seconds > 0 else float("inf"),
        "ess_per_evaluation": ess / evaluations if evaluations > 0 else float("inf"),
        "ess_per_gradient_evaluation": ess / gradients if gradients > 0 else float("nan"),
    }


def evaluate_run(
    posterior,
    result: SamplingResult,
    *,
    test=None,
    validation=None,
    train=None,
    train_log_likelihood=None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """One tidy row describing a run: chain counts, convergence on φ, efficiency, test and
    validation metrics (``test``/``validation``: (x, y) pairs), and PSIS-LOO on ``train``, or on
    ``train_log_likelihood`` (the valid chains' pointwise values (C, D, N), when the caller has
    them already).

    Raises :class:`NumericalError` (via :func:`chains_of`) when every chain failed, so a table
    never holds silent NaNs for a failed run: catch it and record the failure instead.
    """
    row: dict[str, Any] = {
        "space": posterior.space,
        "sampler": result.settings.get("sampler"),
        "temperature": posterior.temperature,
        "chains": result.num_chains,
        "chains_failed": result.num_failed,
        "draws_per_chain": result.positions.shape[1],
        "failures": "; ".join(f"chain {i}: {r}" for i, r in enumerate(result.failures) if r),
    }
    diagnostics = convergence(coordinate_draws(posterior, result))
    row.update(diagnostics)
    row.update(efficiency(result, diagnostics["ess_bulk_min"]))
    def add_loo(values):
        out = loo(values)
        out.pop("loo_pointwise")
        row.update({f"train_{k}": v for k, v in out.items()})

    if train_log_likelihood is not None:
        train = None
        add_loo(np.asarray(train_log_likelihood))
    # every split in one pass (one compiled program), then cut apart
    parts = [(name, data) for name, data in (("test", test), ("validation", validation), ("train", train)) if data is not None]
    if parts:
        positions = result.positions[chains_of(result)]
        xs = [np.asarray(x) for _, (x, _) in parts]
        ys = [np.asarray(y) for _, (_, y) in parts]
        values, predicted = scores(posterior, positions, np.concatenate(xs), np.concatenate(ys), batch_size=batch_size)
        start = 0
        for (name, _), y in zip(parts, ys):
            stop = start + len(y)
            if name == "train":
                add_loo(values[..., start:stop])
            else:
                row.update(_metrics(posterior.likelihood.kind, values[..., start:stop], predicted[..., start:stop, :], y, f"{name}_"))
            start = stop
    return row


# ---------------------------------------------------------------------------------------------
# temperature selection


def select_temperature(
    results,
    *,
    setting_columns: Sequence[str],
    metric_columns: Sequence[str],
    temperature_column: str = "temperature",
    seed_column: str = "seed",
    validation_column: str = "validation_lppd",
    maximise: bool = True,
):
    """For each setting, the temperature with the best validation score, and the test metrics
    there as mean ± standard deviation over seeds.

    ``results`` is a pandas DataFrame with one row per (setting, temperature, seed). For each
    group of ``setting_columns`` the mean of ``validation_column`` over seeds is computed per
    temperature and the best (largest with ``maximise``) temperature is chosen; the returned
    DataFrame has one row per setting with that ``temperature``, the number of ``seeds``, and
    ``<metric>_mean`` and ``<metric>_std`` (population standard deviation, ddof = 0) for each of
    ``metric_columns``. Rows whose validation score is missing (a failed run) are left out and
    counted in ``rows_excluded``; a setting without any usable row is reported with
    ``temperature`` NaN and ``rows_excluded`` equal to its row count.
    """
    import pandas as pd

    required = [*setting_columns, temperature_column, seed_column, validation_column, *metric_columns]
    missing = [c for c in required if c not in results.columns]
    if missing:
        raise ConfigError(f"the results table lacks the columns {missing}; it has {list(results.columns)}")
    rows = []
    for setting, group in results.groupby(list(setting_columns), dropna=False, sort=True):
        setting = setting if isinstance(setting, tuple) else (setting,)
        usable = group[np.isfinite(group[validation_column].astype(float))]
        row = dict(zip(setting_columns, setting))
        row["rows_excluded"] = int(len(group) - len(usable))
        if usable.empty:
            row.update({temperature_column: float("nan"), "seeds": 0})
            rows.append(row)
            continue
        scores = usable.groupby(temperature_column)[validation_column].mean()
        best = scores.idxmax() if maximise else scores.idxmin()
        chosen = usable[usable[temperature_column] == best]
        row.update({temperature_column: best, "seeds": int(chosen[seed_column].nunique()), validation_column: float(scores[best])})
        for metric in metric_columns:
            values = chosen[metric].astype(float).to_numpy()
            row[f"{metric}_mean"] = float(np.mean(values))
            row[f"{metric}_std"] = float(np.std(values))
        rows.append(row)
    return pd.DataFrame(rows)
