"""Adapters: models written with Flax Linen, Flax NNX, Equinox or plain functions as a Model.

Each adapter returns ``(model, params)``: a :class:`~landform.models.Model` whose
``apply(params, x)`` is a pure function batched over the examples of ``x`` (axis 0), and the
parameter pytree θ that landform ravels into a flat vector. Only trainable floating-point
parameters are in θ; everything else (Linen collections other than ``params`` such as
``batch_stats``, NNX batch statistics and RNG state, Equinox non-float leaves and static fields)
is held fixed inside ``apply``, so that a landscape is a deterministic function of θ.

:func:`adapt` is the one switch over kinds of model objects: it recognises a landform
:class:`~landform.models.Model`, an adapter's ``(model, params)`` pair, a Flax Linen or NNX module,
an Equinox module, a PyTorch module with a JAX twin and a plain function
(:func:`model_kind`), and turns each into ``(model, params)``; :func:`landform.landscape_from`
and user factories (:mod:`landform.models.factory`) both go through it.

Adapter models cannot be rebuilt from their spec (``{"name": <adapter>, "rebuildable": False}``,
plus ``"input_shape"`` where it is known); keep the module to rebuild them.

Weight layout (``unit_axis``): Flax (Linen and NNX) puts output units on the last axis (dense
(in, out), conv (h, w, in, out)), ``unit_axis = -1``; Equinox puts them first (Linear (out, in),
Conv (out, in, h, w)), ``unit_axis = 0``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from landform.errors import ConfigError
from landform.models.base import Model, Params
from landform.models.zoo import jit_initialiser


def _spec(name: str, input_shape: Sequence[int] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "rebuildable": False}
    if input_shape is not None:
        spec["input_shape"] = [int(d) for d in input_shape]
    return spec


def from_linen(module: Any, example_input: jax.Array, key: jax.Array, **apply_kwargs: Any) -> tuple[Model, Params]:
    """Wrap a Flax Linen module that acts on batches.

    ``module.init(key, example_input, **apply_kwargs)`` gives the variables; θ is
    ``{"params": variables["params"]}`` and the other collections (e.g. ``batch_stats``) stay
    fixed. ``apply(θ, x) = module.apply({**other_collections, **θ}, x, **apply_kwargs)``, so
    pass evaluation flags (e.g. ``train=False``) as ``apply_kwargs``. ``example_input`` is a
    batch (N ≥ 1, ...); its example shape is recorded as the model's input shape.
    ``model.init(key')`` initialises again with another key.
    """
    if not hasattr(module, "init") or not hasattr(module, "apply"):
        raise ConfigError(
            f"from_linen expects a flax.linen.Module, got {type(module).__name__}; "
            "use from_nnx, from_equinox or from_apply for other kinds of models"
        )
    example_input = jax.numpy.asarray(example_input)
    if example_input.ndim == 0:
        raise ConfigError("from_linen needs example_input with a batch axis, e.g. x[:1], not a scalar")

    def split(variables):
        variables = dict(variables)
        if "params" not in variables:
            raise ConfigError(
                f"the Linen module {type(module).__name__} has no 'params' collection "
                "(nothing to measure a landscape over)"
            )
        params = {"params": variables.pop("params")}
        return params, variables

    initialise = jit_initialiser(lambda k: module.init(k, example_input, **apply_kwargs))
    params, fixed = split(initialise(key))

    def init(new_key: jax.Array) -> Params:
        return split(initialise(new_key))[0]

    def apply(theta: Params, x: jax.Array) -> jax.Array:
        return module.apply({**fixed, **theta}, x, **apply_kwargs)

    model = Model(
        init=init,
        apply=apply,
        name="linen",
        spec=_spec("linen", example_input.shape[1:]),
        unit_axis=-1,
    )
    return model, params


def from_nnx(
    module: Any, *, evaluation_mode: bool = True, input_shape: Sequence[int] | None = None
) -> tuple[Model, Params]:
    """Wrap a Flax NNX module that acts on batches.

    ``nnx.split(module, nnx.Param, ...)`` separates the graph definition, the ``nnx.Param``
    state and everything else (batch statistics, RNG keys and counters). θ is the Param state
    as a plain nested dictionary (``nnx.to_pure_dict``); the rest is fixed. Each call of
    ``apply`` merges fresh copies, so the caller's module is never mutated and stateful layers
    see the same state on every call. With ``evaluation_mode`` (default) the merged module is
    put in evaluation mode (``Module.eval()``: dropout off, batch norm on running averages)
    before the call. ``model.init`` ignores its key and returns the module's parameters
    (NNX modules are initialised when constructed).
    """
    from flax import nnx

    if not isinstance(module, nnx.Module):
        raise ConfigError(
            f"from_nnx expects a flax.nnx.Module, got {type(module).__name__}; "
            "use from_linen, from_equinox or from_apply for other kinds of models"
        )
    graphdef, param_state, fixed_state = nnx.split(module, nnx.Param, ...)
    params = nnx.to_pure_dict(param_state)

    def copy(state):
        return jax.tree.map(lambda leaf: leaf, state)

    def apply(theta: Params, x: jax.Array) -> jax.Array:
        state = copy(param_state)
        nnx.replace_by_pure_dict(state, theta)
        merged = nnx.merge(graphdef, state, copy(fixed_state))
        if evaluation_mode:
            merged.eval()
        return merged(x)

    model = Model(
        init=lambda key: params,
        apply=apply,
        name="nnx",
        spec=_spec("nnx", input_shape),
        unit_axis=-1,
    )
    return model, params


def from_equinox(
    module: Any,
    batched: bool = False,
    *,
    evaluation_mode: bool = True,
    input_shape: Sequence[int] | None = None,
) -> tuple[Model, Params]:
    """Wrap an Equinox module.

    ``eqx.partition(module, eqx.is_inexact_array)`` splits θ (the floating-point arrays; other
    leaves are None) from the fixed rest; ``apply(θ, x)`` recombines them and calls the module
    on the batch if ``batched``, or ``vmap``s it over the examples if the module acts on one
    example (the Equinox convention, e.g. ``eqx.nn.MLP``). With ``evaluation_mode`` (default)
    ``eqx.nn.inference_mode`` switches dropout off first. ``unit_axis = 0`` (Equinox weights
    are (out, in) and (out, in, h, w)). Layers that need an explicit ``eqx.nn.State``
    (``BatchNorm``) are not supported. ``model.init`` ignores its key and returns θ.
    """
    import equinox as eqx

    if not isinstance(module, eqx.Module):
        raise ConfigError(
            f"from_equinox expects an equinox.Module, got {type(module).__name__}; use from_apply for a plain function"
        )
    if evaluation_mode:
        module = eqx.nn.inference_mode(module, True)
    params, static = eqx.partition(module, eqx.is_inexact_array)

    def apply(theta: Params, x: jax.Array) -> jax.Array:
        network = eqx.combine(theta, static)
        return network(x) if batched else jax.vmap(network)(x)

    model = Model(
        init=lambda key: params,
        apply=apply,
        name="equinox",
        spec=_spec("equinox", input_shape),
        unit_axis=0,
    )
    return model, params


def from_apply(
    apply: Callable[[Params, jax.Array], jax.Array],
    params: Params,
    unit_axis: int = -1,
    *,
    input_shape: Sequence[int] | None = None,
) -> tuple[Model, Params]:
    """Wrap any pure function ``apply(params, x)`` batched over ``x`` with its parameters.

    ``unit_axis`` is the axis of weight tensors that indexes output units (-1 for Flax-style
    (in, out) kernels, 0 for PyTorch- or Equinox-style (out, in) weights). ``model.init``
    ignores its key and returns ``params``.
    """
    if not callable(apply):
        raise ConfigError(f"from_apply expects a function apply(params, x), got {apply!r}")
    model = Model(
        init=lambda key: params,
        apply=apply,
        name="apply",
        spec=_spec("apply", input_shape),
        unit_axis=unit_axis,
    )
    return model, params


# ============================================================================ one adapter for every kind

#: What :func:`model_kind` reports, in the order it tests them.
MODEL_KINDS = ("model", "pair", "linen", "nnx", "equinox", "torch", "function", "other")


def model_kind(value: Any) -> str:
    """What kind of model object ``value`` is: one of :data:`MODEL_KINDS`.

    "model": a :class:`Model`; "pair": an adapter's ``(model, params)``; "linen", "nnx",
    "equinox", "torch": a module of that library (the library is imported only when ``value``'s
    class comes from it); "function": any other callable (a plain ``apply(params, x)``); "other":
    anything else.
    """
    if isinstance(value, Model):
        return "model"
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Model):
        return "pair"
    module = type(value).__module__.split(".")[0]
    if module in ("flax", "equinox", "torch") or any(
        base.__module__.split(".")[0] in ("flax", "equinox", "torch") for base in type(value).__mro__
    ):
        if _is_instance(value, "flax.linen", "Module"):
            return "linen"
        if _is_instance(value, "flax.nnx", "Module"):
            return "nnx"
        if _is_instance(value, "equinox", "Module"):
            return "equinox"
        if _is_instance(value, "torch.nn", "Module"):
            return "torch"
        return "other"
    return "function" if callable(value) else "other"


def _is_instance(value: Any, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    if loaded is None:
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            return False
    return isinstance(value, getattr(loaded, name))


def adapt(
    model: Any,
    params: Params | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    key: jax.Array | None = None,
) -> tuple[Model, Params]:
    """Any supported model object as ``(model, params)``, by its :func:`model_kind`:

    - a :class:`Model`: itself, with ``params`` as given;
    - an adapter's ``(model, params)`` pair: as it is;
    - a Flax Linen module: with ``params`` the variables ``module.init`` returned (θ is
      ``{"params": variables["params"]}``, the other collections stay fixed, as in
      :func:`from_linen`); without ``params`` but with ``input_shape``, initialised by
      :func:`from_linen` on zeros of shape ``(1, *input_shape)`` with ``key`` (default ``key(0)``);
    - a Flax NNX or an Equinox module: :func:`from_nnx`, :func:`from_equinox` (θ is the
      module's own; ``params`` is ignored);
    - a ``torch.nn.Module`` with an architecture of the zoo: its JAX twin
      (:func:`landform.models.torch.twin`; needs ``input_shape``);
    - any other callable: a plain ``apply(params, x)`` (:func:`from_apply`).

    Raises:
        ConfigError: anything else, a Linen module's variables without a ``params`` collection,
            or a PyTorch module without ``input_shape``.
    """
    kind = model_kind(model)
    if kind == "model":
        return model, params
    if kind == "pair":
        return model
    if kind == "linen":
        if params is None and input_shape is not None:
            example = jnp.zeros((1, *(int(d) for d in input_shape)), jnp.float32)
            return from_linen(model, example, jax.random.key(0) if key is None else key)
        return _linen_variables(model, params)
    if kind == "nnx":
        return from_nnx(model)
    if kind == "equinox":
        return from_equinox(model)
    if kind == "torch":
        if input_shape is None:
            raise ConfigError(f"a PyTorch module ({type(model).__name__}) needs the input shape of the data")
        from landform.models.torch import twin

        return twin(model, input_shape)
    if kind == "function":
        return from_apply(model, params)
    raise ConfigError(
        f"cannot adapt a {type(model).__module__}.{type(model).__name__}; pass a landform Model, a Flax Linen "
        "or NNX module, an Equinox module, a torch.nn.Module with a JAX twin, or a function apply(params, x)"
    )


def _linen_variables(module: Any, variables: Any) -> tuple[Model, Params]:
    """A Linen module with the variables ``module.init`` returned: θ is ``{"params":
    variables["params"]}``; the other collections (``batch_stats``, ...) stay fixed, as in
    :func:`from_linen`."""
    variables = dict(variables or {})
    if "params" not in variables:
        raise ConfigError(
            f"the variables of the Linen module {type(module).__name__} have no 'params' collection; "
            "pass what module.init(...) returned"
        )
    fixed = {name: value for name, value in variables.items() if name != "params"}
    params = {"params": variables["params"]}

    def apply(theta: Params, x: jax.Array) -> jax.Array:
        return module.apply({**fixed, **theta}, x)

    model = Model(init=lambda key: params, apply=apply, name="linen", spec=_spec("linen", None), unit_axis=-1)
    return model, params
