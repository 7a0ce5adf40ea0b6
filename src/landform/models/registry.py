"""Build zoo models by name or from a spec dictionary, and wrap any model to learn its noise scale.

A spec is ``{"name": <registry name>, **arguments}`` (what every zoo model stores as
``model.spec``); ``build(model.spec)`` rebuilds the same model, so the same key gives the same
initial parameters and saved flat parameter vectors can be loaded into it again. Besides the
zoo's names, a spec may name a factory of the user's own (``{"factory": "module:function",
"options": {...}}``) or a name given to :func:`landform.models.register`; see
:mod:`landform.models.factory`.

:func:`with_learned_sigma` lives here, beside :func:`build`, because each calls the other: the
wrapper builds the model its spec names, and ``build({"name": "learned_sigma", ...})`` wraps.
Dold et al. 2025 (arXiv 2503.03382) fit regression networks with a Gaussian likelihood whose
standard deviation σ is a parameter learned with the weights. :func:`with_learned_sigma` adds
one scalar parameter log σ to any model and appends it as a last output column, the convention
of :func:`landform.losses.gaussian_nll_learned`:

    outputs(x) = [f_1(x), ..., f_d(x), log σ]

so the per-example loss 0.5 log(2π) + log σ + (f(x) - y)² / (2σ²) is a function of θ alone.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp

from landform.errors import ConfigError, UnknownNameError
from landform.models.base import Model
from landform.models.factory import build_from_spec, registered
from landform.models.zoo import CONSTRUCTORS, LEARNED_SIGMA


def with_learned_sigma(model: Model | Mapping[str, Any] | str, initial_sigma: float = 0.05) -> Model:
    """Wrap a regression model so that it also learns log σ.

    Parameters become ``{"net": model_params, "log_sigma": log(initial_sigma)}`` (log σ a
    float32 scalar) and outputs (N, d) become (N, d + 1) with the last column equal to log σ
    for every example. ``init(key)["net"]`` equals ``model.init(key)``. ``model`` may also be
    a spec (dictionary or registry name) for :func:`landform.models.build`.
    """
    if not isinstance(model, Model):
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


_MODELS: dict[str, Callable[..., Model]] = {**CONSTRUCTORS, LEARNED_SIGMA: with_learned_sigma}

MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)

#: The zoo's constructors by name (names a user's factory cannot be registered under).
ZOO = MappingProxyType(_MODELS)


def _describe(name: str, constructor: Callable[..., Model]) -> str:
    parts = []
    for parameter in inspect.signature(constructor).parameters.values():
        if parameter.default is inspect.Parameter.empty:
            parts.append(parameter.name)
        else:
            parts.append(f"{parameter.name}={parameter.default!r}")
    return f"{name}({', '.join(parts)})"


def model_arguments(name: str) -> str:
    """The arguments model ``name`` takes, e.g. ``"mlp(input_shape, hidden, outputs, ...)"``."""
    if name not in _MODELS:
        raise UnknownNameError("model", name, _MODELS)
    return _describe(name, _MODELS[name])


def build(spec: Mapping[str, Any] | str, **kwargs: Any) -> Model:
    """Build a zoo model from a registry name plus arguments, or from a spec dictionary.

    ``build("mlp", input_shape=[784], hidden=[256, 128], outputs=10)`` and
    ``build({"name": "mlp", "input_shape": [784], "hidden": [256, 128], "outputs": 10})`` give
    the same model; keyword arguments override entries of a spec. Names are in
    :data:`MODEL_NAMES`, or registered with :func:`landform.models.register`; a spec with a
    ``factory`` import path calls that factory (:mod:`landform.models.factory`). Raises
    :class:`UnknownNameError` for an unknown name and
    :class:`ConfigError` (saying which arguments the model takes) for missing or unexpected
    arguments.
    """
    if isinstance(spec, Mapping) and "factory" in spec:
        return build_from_spec({**spec, **kwargs})
    if isinstance(spec, str):
        name, options = spec, dict(kwargs)
    elif isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", None)
        if name is None:
            raise ConfigError(
                f"a model spec needs a 'name' (one of {', '.join(MODEL_NAMES)}, or a registered name) or a "
                f"'factory' (module:function); got {dict(spec)!r}"
            )
        options.update(kwargs)
    else:
        raise ConfigError(f"a model spec is a registry name or a dictionary with a 'name', got {spec!r}")
    if options.pop("rebuildable", True) is False:
        raise ConfigError(
            f"model {name!r} was made by an adapter (landform.models.from_{name} or similar) and "
            "cannot be rebuilt from its spec; call the adapter again with the original module"
        )
    if name not in _MODELS:
        if isinstance(name, str) and registered(name) is not None:
            return build_from_spec({"name": name, **options})
        raise UnknownNameError("model", str(name), [*_MODELS, "factory (with factory: module:function)"])
    constructor = _MODELS[name]
    try:
        inspect.signature(constructor).bind(**options)
    except TypeError as error:
        raise ConfigError(
            f"invalid arguments for model {name!r} ({error}); it takes {_describe(name, constructor)}"
        ) from None
    return constructor(**options)
