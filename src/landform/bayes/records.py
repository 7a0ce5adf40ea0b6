"""Sampling results as ArviZ 1.x ``DataTree`` records.

:func:`to_inference_data` builds the groups ArviZ's diagnostics and LOO need:

- ``posterior``: the sampler's unconstrained coordinates ``z`` (dims chain, draw,
  ``unconstrained``) and, with a posterior, the constrained values: ``phi`` (dims chain, draw,
  ``coordinate``), ``t``, ``xi`` (``normal``), ``theta`` (``parameter``), ``sigma``;
- ``sample_stats``: ``lp`` (tempered log density), ``acceptance_rate``, ``diverging``,
  ``n_steps`` (gradient evaluations per draw), ``step_size``, ``trajectory_length``;
- ``log_likelihood`` (optional): per-example untempered log-likelihoods ``y`` (dims chain,
  draw, ``observation``), for PSIS-LOO;
- attributes: the settings (also as one JSON string), times, chain counts and the reasons
  chains failed.

Failed chains are left out unless ``include_failed`` is set. Saving is the caller's business
(``record.to_netcdf(path)``, NetCDF-4 through h5netcdf); :func:`load_posterior` opens such a file,
and files written by ArviZ 0.x (``InferenceData.to_netcdf``, the same groups) alike.
"""

from __future__ import annotations

import json
import os
import warnings
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landform.bayes.samplers import SamplingResult
from landform.errors import NumericalError, ShapeError

_DIMS = {"phi": ["coordinate"], "xi": ["normal"], "theta": ["parameter"]}


def _attribute(value: Any):
    """A value NetCDF attributes accept (numbers, strings, lists of numbers)."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | str | np.integer | np.floating):
        return value
    if value is None:
        return "none"
    return json.dumps(value, default=str)


def chains_of(result: SamplingResult, include_failed: bool = False) -> np.ndarray:
    """Indices of the chains used: the valid ones, or all with ``include_failed``.

    Raises :class:`NumericalError` when no chain is valid (nothing to estimate from).
    """
    if include_failed:
        return np.arange(result.num_chains)
    chains = np.flatnonzero(result.valid)
    if chains.size == 0:
        reasons = "; ".join(f"chain {i}: {r}" for i, r in enumerate(result.failures))
        raise NumericalError(
            f"all {result.num_chains} chains failed ({reasons}); lower the step size or temperature, "
            "check the starting points, or raise the warm-up length"
        )
    return chains


@partial(jax.jit, static_argnums=(0, 2))
def _constrain(posterior, draws, batch_size):
    return jax.lax.map(posterior.constrain, draws, batch_size=min(batch_size, draws.shape[0]))


def constrained_draws(posterior, positions: np.ndarray, batch_size: int = 256) -> dict[str, np.ndarray]:
    """``posterior.constrain`` applied to every draw: (C, D, d) → dict of (C, D, ...) arrays."""
    positions = np.asarray(positions)
    leading = positions.shape[:-1]
    values = _constrain(posterior, jnp.asarray(positions.reshape(-1, positions.shape[-1])), batch_size)
    return {name: np.asarray(value).reshape(leading + value.shape[1:]) for name, value in values.items()}


def to_inference_data(
    result: SamplingResult,
    posterior=None,
    *,
    log_likelihood=None,
    include_failed: bool = False,
    attrs: dict | None = None,
):
    """The :class:`SamplingResult` as an ArviZ ``xarray.DataTree`` (module docstring): groups
    ``posterior``, ``sample_stats`` and optionally ``log_likelihood``; the record's attributes on
    its root.

    ``log_likelihood``: per-example log-likelihoods of shape (C, D, N) for all C chains of the
    result (as :func:`landform.bayes.metrics.pointwise_log_likelihood` returns for
    ``result.positions``) or for the kept chains only.
    """
    from arviz_base import from_dict

    chains = chains_of(result, include_failed)
    positions = result.positions[chains]
    coords = {"unconstrained": list(result.names)}
    dims = {"z": ["unconstrained"], **_DIMS, "y": ["observation"]}
    posterior_group = {"z": positions}
    if posterior is not None:
        posterior_group.update(constrained_draws(posterior, positions))
    draws = positions.shape[1]

    def per_draw(values):
        return np.broadcast_to(np.asarray(values)[chains][:, None], (len(chains), draws))

    stats = {
        "lp": result.log_density[chains],
        "acceptance_rate": result.acceptance[chains],
        "diverging": result.divergent[chains],
        "n_steps": result.gradient_evaluations[chains],
        "step_size": per_draw(result.step_size),
        "trajectory_length": per_draw(result.trajectory_length),
    }
    groups: dict[str, Any] = {"posterior": posterior_group, "sample_stats": stats}
    if log_likelihood is not None:
        values = np.asarray(log_likelihood)
        if values.ndim != 3 or values.shape[1] != result.positions.shape[1]:
            raise ShapeError(
                f"log_likelihood must have shape (chains, {result.positions.shape[1]}, N); got {values.shape}"
            )
        if values.shape[0] == result.num_chains:
            values = values[chains]
        elif values.shape[0] != len(chains):
            raise ShapeError(
                f"log_likelihood has {values.shape[0]} chains; the result has {result.num_chains} ({len(chains)} kept)"
            )
        groups["log_likelihood"] = {"y": values}
    record = {
        "sampler": result.settings.get("sampler", "unknown"),
        "num_chains": result.num_chains,
        "num_failed": result.num_failed,
        "kept_chains": [int(c) for c in chains],
        "failures": json.dumps(list(result.failures)),
        "compile_seconds": result.compile_seconds,
        "warmup_seconds": result.warmup_seconds,
        "sampling_seconds": result.sampling_seconds,
        "settings": json.dumps(result.settings, default=str),
        **{key: _attribute(value) for key, value in result.settings.items()},
        **{key: _attribute(value) for key, value in (attrs or {}).items()},
    }
    record["kept_chains"] = record["kept_chains"] or "none"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return from_dict(groups, coords=coords, dims=dims, attrs={"/": record})


def load_posterior(path: str | os.PathLike):
    """A saved sampling record (``posterior.nc``) as an ``xarray.DataTree``, loaded into memory
    and the file closed: groups ``posterior``, ``sample_stats``, optionally ``log_likelihood``,
    the record's attributes on the root. Reads files written by :func:`to_inference_data` and by
    ArviZ 0.x's ``InferenceData.to_netcdf`` (the layout before ArviZ 1.x) alike."""
    import xarray as xr

    with xr.open_datatree(os.fspath(path), engine="h5netcdf") as tree:
        return tree.load()
