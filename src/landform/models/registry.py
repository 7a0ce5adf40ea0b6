"""Build zoo models by name or from a spec dictionary.

A spec is ``{"name": <registry name>, **arguments}`` (what every zoo model stores as
``model.spec``); ``build(model.spec)`` rebuilds the same model, so the same key gives the same
initial parameters and saved flat parameter vectors can be loaded into it again. Besides the
zoo's names, a spec may name a factory of the user's own (``{"factory": "module:function",
"options": {...}}``) or a name given to :func:`landform.models.register`; see
:mod:`landform.models.factory`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from landform.errors import ConfigError, UnknownNameError
from landform.models.base import Model
from landform.models.factory import build_from_spec, registered
from landform.models.sigma import with_learned_sigma
from landform.models.zoo import cnn, lenet5, mlp, tabular_mlp, transformer

_MODELS: dict[str, Callable[..., Model]] = {
    "mlp": mlp,
    "tabular_mlp": tabular_mlp,
    "lenet5": lenet5,
    "cnn": cnn,
    "transformer": transformer,
    "learned_sigma": with_learned_sigma,
}

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
