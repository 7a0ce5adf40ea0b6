"""Models from the user's own code: factories named by import path or registered by name.

A *factory* is a function that returns a model. A config names it by import path,

    model: {factory: "my_package.my_module:build", options: {width: 64}}

(``module:function``; the module is imported as Python would, with the working directory on
the path, or ``path/to/file.py:function`` loads that file), or by a name given to
:func:`register` (``model: {name: my_mlp, width: 64}``, arguments inline as for the zoo).
The factory is called with its ``options`` as keyword arguments, plus ``input_shape`` (the shape
of one example of the data) when it takes a parameter of that name, and ``key`` (a JAX key)
when it takes one (so that each seed gives its own initialisation). It may return

- a landform :class:`~landform.models.Model` (or the ``(model, params)`` pair of an adapter);
- a Flax Linen module (initialised with ``module.init(key, x[:1])``; see
  :func:`landform.models.from_linen`), a Flax NNX module or an Equinox module (their parameters
  are the module's own, see :func:`landform.models.from_nnx` and
  :func:`landform.models.from_equinox`);
- a PyTorch ``torch.nn.Module`` whose architecture has a JAX twin in the zoo (MLP, CNN, LeNet-5;
  see :func:`landform.models.torch.twin`): training and measurements then run in JAX on the
  module's own initial weights (PyTorch's initialisation, seeded per key).

A factory model's ``spec`` is ``{"name": "factory", "factory": ..., "options": ...,
"input_shape": ..., "fingerprint": ...}``, so :func:`landform.models.build` (and with it
:func:`landform.train.load_trained`) rebuilds it by calling the factory again.

Fingerprints. :func:`fingerprint` is the SHA-256 of the source file of the module that defines
a factory (of the function's source when it has no file). :func:`source_fingerprints` finds every
factory a stage's inputs name, so that the stage cache (:mod:`landform.store.stages`) keys a stage
by the factory's import path, its arguments *and* its source: editing the user's code never
silently reuses minima trained with the old code.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from landform.data.registry import dataset_fingerprint
from landform.errors import ConfigError
from landform.models.adapters import adapt, model_kind
from landform.models.base import Model, Params
from landform.models.zoo import CONSTRUCTORS, LEARNED_SIGMA
from landform.plugins import is_import_path, one_line, resolve_function, source_fingerprint

#: The spec name of every factory model.
FACTORY = "factory"

#: The entry-point groups packages declare factories in (``[project.entry-points."landform.models"]``).
ENTRY_POINT_GROUP = "landform.models"

_REGISTERED: dict[str, Callable[..., Any]] = {}


# ============================================================================ import paths and sources

#: ``resolve(reference, what)``: the function named by ``module:function`` or ``file.py:function``.
resolve = resolve_function
#: ``fingerprint(function)``: SHA-256 of the source file that defines ``function``.
fingerprint = source_fingerprint


def source_fingerprints(inputs: Any) -> dict[str, str]:
    """Every user factory named in ``inputs`` (a stage's JSON inputs) with its :func:`fingerprint`.

    Found: ``{"factory": "module:function", ...}`` (models), ``{"name": <registered name>, ...}``
    (models registered with :func:`register`) and ``{"dataset": <import path or registered
    dataset>, ...}`` (data). Built-in models and datasets add nothing, so stage keys of runs
    without user code do not change.
    """
    found: dict[str, str] = {}

    def visit(node: Any) -> None:
        if isinstance(node, Mapping):
            reference = node.get("factory")
            if isinstance(reference, str):
                found[reference] = fingerprint(resolve(reference))
            name = node.get("name")
            if isinstance(name, str) and name != FACTORY and (name in _REGISTERED or _entry_point(name) is not None):
                found[f"model {name}"] = fingerprint(registered(name))
            dataset = node.get("dataset")
            if isinstance(dataset, str):
                digest = dataset_fingerprint(dataset)
                if digest is not None:
                    found[f"dataset {dataset}"] = digest
            for value in node.values():
                visit(value)
        elif isinstance(node, list | tuple):
            for value in node:
                visit(value)

    visit(inputs)
    return found


# ============================================================================ registration


def register(name: str, factory: Callable[..., Any], *, replace: bool = False) -> Callable[..., Any]:
    """Make ``factory`` usable in configs as ``model: {name: <name>, **arguments}``.

    ``factory(**arguments)`` (plus ``input_shape`` and ``key`` when it takes them) returns any
    kind of model a factory may return (see the module docstring). Names of the zoo cannot be
    taken; registering a name twice needs ``replace=True``. Returns ``factory``, so it can be
    used as a decorator: ``@functools.partial(register, "my_mlp")``.

    A registration lives in the Python process that made it: run configs with
    :func:`landform.studies.run_config_file` after importing the registering module, or declare
    the factory as an entry point of group ``landform.models`` in a package's metadata so that
    ``landform run`` finds it too.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"a registered model name must be an identifier such as 'my_mlp', got {name!r}")
    if name in CONSTRUCTORS or name in (LEARNED_SIGMA, FACTORY):
        raise ConfigError(f"{name!r} is a model of the zoo; register your factory under another name")
    if not callable(factory):
        raise ConfigError(f"register({name!r}, ...) needs a function that returns a model, got {factory!r}")
    if name in _REGISTERED and _REGISTERED[name] is not factory and not replace:
        raise ConfigError(f"model name {name!r} is already registered; pass replace=True to replace it")
    _REGISTERED[name] = factory
    return factory


@functools.cache
def _entry_point(name: str):
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return entry
    return None


def registered(name: str) -> Callable[..., Any] | None:
    """The factory registered as ``name`` (by :func:`register` or an entry point), or None."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    entry = _entry_point(name)
    if entry is None:
        return None
    try:
        factory = entry.load()
    except Exception as error:
        reason = one_line(error)
        raise ConfigError(f"the entry point for model {name!r} ({entry.value}) failed to load: {reason}") from None
    _REGISTERED[name] = factory
    return factory


def registered_names() -> tuple[str, ...]:
    """Names registered so far in this process (entry points are found on use)."""
    return tuple(sorted(_REGISTERED))


# ============================================================================ building


def _accepts(function: Callable[..., Any], parameter: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return parameter in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def _call(function: Callable[..., Any], label: str, options: Mapping[str, Any], extra: Mapping[str, Any]) -> Any:
    """``function(**options, **extra)``, with argument errors as one-line ConfigErrors.

    Entries of ``extra`` (``input_shape``, ``key``) are passed only where the function takes them.
    """
    arguments = dict(options)
    for name, value in extra.items():
        if name not in arguments and _accepts(function, name):
            arguments[name] = value
    try:
        inspect.signature(function).bind(**arguments)
    except TypeError as error:
        raise ConfigError(
            f"factory {label} does not accept options {sorted(options)} ({error}); "
            f"its signature is {label.split(':')[-1]}{inspect.signature(function)}"
        ) from None
    except ValueError:  # no signature (a builtin): just call it
        pass
    try:
        return function(**arguments)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"factory {label} failed: {one_line(error)}") from error


RETURN_KINDS = (
    "a landform Model (or an adapter's (model, params)), a Flax Linen or NNX module, an Equinox module, "
    "or a torch.nn.Module with a JAX twin"
)


def build_factory_model(
    function: Callable[..., Any],
    label: str,
    options: Mapping[str, Any],
    spec: dict[str, Any],
    input_shape: Sequence[int] | None,
) -> Model:
    """The :class:`Model` a factory gives for examples of ``input_shape``, with ``spec`` as its spec.

    See the module docstring for what the factory may return. ``model.init(key)`` calls the
    factory again with that key where the factory takes a ``key`` (and, for PyTorch modules,
    with PyTorch's generator seeded from the key), so seeds give their own initialisation.
    """
    shape = None if input_shape is None else tuple(int(d) for d in input_shape)
    key0 = jax.random.key(0)

    def make(key: jax.Array | None) -> Any:
        extra: dict[str, Any] = {} if shape is None else {"input_shape": shape}
        if key is not None:
            extra["key"] = key
        return _call(function, label, options, extra)

    value = make(key0)
    kind = model_kind(value)
    takes_key = _accepts(function, "key")
    if kind == "model":
        return dataclasses.replace(value, name=label, spec=spec)
    if kind == "pair":
        model, params = value
        init = (lambda key: make(key)[1]) if takes_key else (lambda key: params)
        return dataclasses.replace(model, init=init, name=label, spec=spec)
    if kind == "linen":
        if shape is None:
            raise ConfigError(f"factory {label} returned a Linen module; it needs the input shape of the data")
        model, _ = adapt(value, input_shape=shape, key=key0)
        return dataclasses.replace(model, name=label, spec=spec)
    if kind in ("nnx", "equinox"):
        model, params = adapt(value)
        init = (lambda key: adapt(make(key))[1]) if takes_key else (lambda key: params)
        return dataclasses.replace(model, init=init, name=label, spec=spec)
    if kind == "torch":
        from landform.models.torch import factory_twin

        return factory_twin(value, lambda: make(None), label, spec, shape)
    raise ConfigError(
        f"factory {label} returned a {type(value).__module__}.{type(value).__name__}; return {RETURN_KINDS}"
    )


def factory_spec(reference: str, options: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """The spec of the model made by the factory ``reference`` with ``options``."""
    return {"name": FACTORY, "factory": reference, "options": dict(options or {}), **fields}


def build_from_spec(spec: Mapping[str, Any]) -> Model:
    """Build a factory model from its spec (``{"factory": ..., "options": ..., "input_shape": ...}``,
    or ``{"name": <registered>, **arguments}``)."""
    spec = dict(spec)
    if "factory" in spec:
        reference = spec["factory"]
        unknown = set(spec) - {"name", "factory", "options", "input_shape", "fingerprint"}
        if unknown:
            raise ConfigError(
                f"a factory model spec takes factory and options (and input_shape from the data); "
                f"got also {sorted(unknown)}: put the factory's arguments under 'options'"
            )
        options = spec.get("options") or {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"the options of factory {reference!r} must be a mapping, got {options!r}")
        function = resolve(reference, "model factory")
        label = reference
    else:
        name = spec.pop("name")
        function = registered(name)
        if function is None:
            raise ConfigError(f"no model is registered as {name!r}")
        options = {k: v for k, v in spec.items() if k not in ("input_shape", "fingerprint")}
        label = name
    input_shape = spec.get("input_shape")
    if "factory" in spec:
        full = factory_spec(label, options)
    else:
        full = {"name": label, **options}
    if input_shape is not None:
        full["input_shape"] = [int(d) for d in input_shape]
    full["fingerprint"] = fingerprint(function)
    return build_factory_model(function, label, options, full, input_shape)


__all__ = [
    "FACTORY",
    "Params",
    "build_factory_model",
    "build_from_spec",
    "factory_spec",
    "fingerprint",
    "is_import_path",
    "register",
    "registered",
    "registered_names",
    "resolve",
    "source_fingerprints",
]
