"""Regression models that learn their own noise scale.

Dold et al. 2025 (arXiv 2503.03382) fit regression networks with a Gaussian likelihood whose
standard deviation σ is a parameter learned with the weights. :func:`with_learned_sigma` adds
one scalar parameter log σ to any model and appends it as a last output column, the convention
of :func:`landform.losses.gaussian_nll_learned`:

    outputs(x) = [f_1(x), ..., f_d(x), log σ]

so the per-example loss 0.5 log(2π) + log σ + (f(x) - y)² / (2σ²) is a function of θ alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from landform.errors import ConfigError
from landform.models.base import Model


def with_learned_sigma(model: Model | Mapping[str, Any] | str, initial_sigma: float = 0.05) -> Model:
    """Wrap a regression model so that it also learns log σ.

    Parameters become ``{"net": model_params, "log_sigma": log(initial_sigma)}`` (log σ a
    float32 scalar) and outputs (N, d) become (N, d + 1) with the last column equal to log σ
    for every example. ``init(key)["net"]`` equals ``model.init(key)``. ``model`` may also be
    a spec (dictionary or registry name) for :func:`landform.models.build`.
    """
    if not isinstance(model, Model):
        from landform.models.registry import build

        model = build(model) if isinstance(model, Mapping) else build(str(model))
    if (
        isinstance(initial_sigma, bool)
        or not isinstance(initial_sigma, int | float)
        or not math.isfinite(initial_sigma)
        or initial_sigma <= 0
    ):
        raise ConfigError(
            f"initial_sigma must be a positive finite number (a standard deviation), got {initial_sigma!r}"
        )
    initial_sigma = float(initial_sigma)
    inner = model
    log_sigma = math.log(initial_sigma)

    def init(key: jax.Array):
        return {"net": inner.init(key), "log_sigma": jnp.asarray(log_sigma, jnp.float32)}

    def apply(params, x: jax.Array) -> jax.Array:
        mean = inner.apply(params["net"], x)
        mean = mean.reshape((mean.shape[0], -1))
        column = jnp.broadcast_to(params["log_sigma"].astype(mean.dtype), (mean.shape[0], 1))
        return jnp.concatenate([mean, column], axis=-1)

    spec = {"name": "learned_sigma", "model": dict(inner.spec), "initial_sigma": initial_sigma}
    return Model(init=init, apply=apply, name="learned_sigma", spec=spec, unit_axis=inner.unit_axis)
