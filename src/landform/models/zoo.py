"""The model zoo: the networks of the two papers landform reproduces, as Flax Linen modules.

Every constructor takes the shape of one example (``input_shape``, without the batch axis), so
that ``model.init(key)`` needs only a key; the same key always gives the same parameters. The
parameters are Flax's variable dictionary ``{"params": {...}}``; weights follow Flax's layout
(dense kernels (in, out), conv kernels (h, w, in, out)), so ``unit_axis = -1``.

Each model's ``spec`` is the JSON-serialisable dictionary ``{"name": <registry name>,
**arguments}``; :func:`landform.models.build` rebuilds the same model from it.

Models
------
- :func:`mlp` and :func:`tabular_mlp`: fully connected networks, as in the minima-volume paper
  (Fan, Sandlund, Ko 2025, arXiv 2511.04808: MNIST MLP [256, 128]) and the paths paper (Dold et
  al. 2025, arXiv 2503.03382: "MLP depth 3 width 16" on tabular data and polynomial toy data).
- :func:`lenet5`: LeNet-5 (LeCun et al. 1998) with average pooling.
- :func:`cnn`: 3×3 conv / 2×2 max-pool stacks then dense layers (minima-volume paper, MNIST and
  CIFAR-10).
- :func:`transformer`: a small decoder-only transformer (Radford et al. 2019 layout: pre-LayerNorm
  blocks) for modular arithmetic and toy language tasks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from landform.errors import ConfigError, ShapeError
from landform.landscape import FirstLayer
from landform.models.activations import get_activation
from landform.models.base import Model

# ---------------------------------------------------------------------------------------------
# argument checks (all raise ConfigError naming the argument and what it must be)


def _positive_int(model: str, argument: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | jnp.integer) or int(value) < 1:
        raise ConfigError(f"model {model!r}: {argument} must be a positive integer, got {value!r}")
    return int(value)


def _widths(model: str, argument: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigError(
            f"model {model!r}: {argument} must be a list of positive integers (e.g. [256, 128]), got {value!r}"
        )
    return tuple(_positive_int(model, f"each entry of {argument}", v) for v in value)


def _shape(model: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, int | jnp.integer) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigError(
            f"model {model!r}: input_shape must be the shape of one example without the batch "
            f"axis, e.g. [784] or [28, 28, 1]; got {value!r}"
        )
    return tuple(_positive_int(model, "each entry of input_shape", v) for v in value)


def _activation_name(value: Any) -> str:
    get_activation(value)  # raises UnknownNameError listing the known names
    return value


def image_shape(model: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(height, width, channels) of an image input of ``model`` (named in error messages).

    (h, w, c) stays; (h, w) gains one channel; a flat (n,) input with n a perfect square is read
    as a one-channel square image (so (784,) is 28×28×1, the flattened MNIST layout).
    """
    if len(input_shape) == 3:
        return input_shape  # type: ignore[return-value]
    if len(input_shape) == 2:
        return (*input_shape, 1)  # type: ignore[return-value]
    if len(input_shape) == 1:
        side = math.isqrt(input_shape[0])
        if side * side == input_shape[0]:
            return (side, side, 1)
    raise ConfigError(
        f"model {model!r} needs image inputs: input_shape (height, width, channels), "
        f"(height, width), or a flat (n,) with n a perfect square; got {list(input_shape)}"
    )


def _as_float(x: jax.Array) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


# Initialisation runs once per model but its XLA compilation (threefry random bits, truncated
# normals) dominates the cost of building small models on CPU: LLVM's optimisation passes take
# seconds there while the compiled initialiser runs in milliseconds. Level 0 cuts compilation
# about 4× on CPU. Numbers are deterministic for a given key and model; they may differ in
# the last bits from an eager ``module.init`` or from another backend.
_CPU_INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}


def jit_initialiser(function):
    """``jax.jit`` for a function run once per model (an initialiser).

    Called with concrete arguments on CPU it is compiled with LLVM optimisations off, which is
    several times faster to compile. Inside a transformation (``jit``, ``vmap``, ``grad``) it
    is a plain ``jax.jit``, since compiler options are allowed only on top-level ``jit``.
    """
    plain = jax.jit(function)
    if jax.default_backend() != "cpu":
        return plain
    fast = jax.jit(function, compiler_options=_CPU_INIT_COMPILER_OPTIONS)

    @functools.wraps(function)
    def initialise(*arguments):
        traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(arguments))
        return plain(*arguments) if traced else fast(*arguments)

    return initialise


@functools.lru_cache(maxsize=128)
def _compiled_init(module: nn.Module, example_shape: tuple[int, ...], dtype_name: str, backend: str):
    """One jitted ``init(key)`` per distinct module, example shape and backend.

    Linen modules are frozen dataclasses, so equal specs give equal (hashable) modules and
    rebuilt models (``build(model.spec)``, ensembles) reuse the compiled initialiser.
    """
    example = jnp.zeros((1, *example_shape), jnp.dtype(dtype_name))
    return jit_initialiser(lambda key: module.init(key, example))


@functools.lru_cache(maxsize=128)
def _compiled_apply(module: nn.Module):
    """``module.apply`` under ``jit``, one per distinct module.

    A call outside ``jit`` then compiles once instead of op by op (and equal modules share
    the compilation); inside an outer ``jit`` or ``vmap`` it is inlined like any function.
    """
    return jax.jit(module.apply)


@functools.lru_cache(maxsize=128)
def _first_layer(module: nn.Module) -> FirstLayer:
    """The split of a zoo module whose ``__call__`` takes ``part="all" | "first" | "rest"``."""
    return FirstLayer(
        first=jax.jit(functools.partial(module.apply, part="first")),
        rest=jax.jit(functools.partial(module.apply, part="rest")),
    )


def _linen_model(
    module: nn.Module,
    spec: dict[str, Any],
    example_shape: tuple[int, ...],
    dtype=jnp.float32,
    init_module: nn.Module | None = None,
    split: bool = False,
) -> Model:
    """Wrap a Linen module acting on batches as a :class:`Model` with ``init(key)``.

    ``example_shape`` is the shape of one example the module is initialised with; parameter
    shapes depend only on it, and the model accepts data whose examples reshape to it.
    ``init_module`` (default ``module``) initialises the parameters: a module equal to
    ``module`` up to fields that do not affect the parameters (activation, pooling), so that
    such models share one compiled initialiser and give identical parameters for one key.
    ``split``: the module's ``__call__`` takes ``part`` ("first": the first layer's output before
    its activation, "rest": the network from there), giving the model a ``first_layer``.
    """
    init = _compiled_init(
        module if init_module is None else init_module,
        tuple(example_shape),
        jnp.dtype(dtype).name,
        jax.default_backend(),
    )
    apply = _compiled_apply(module)

    first_layer = _first_layer(module) if split else None
    return Model(init=init, apply=apply, name=spec["name"], spec=spec, unit_axis=-1, first_layer=first_layer)


# ---------------------------------------------------------------------------------------------
# fully connected networks


class MLPModule(nn.Module):
    """Dense layers with one activation; inputs are flattened per example.

    f(x) = W_L a(... a(W_1 φ(x) + b_1) ...) + b_L with φ(x) = [x, x², ..., x^k] (element-wise
    powers of the flattened input, concatenated power by power) for ``polynomial_features = k``.
    """

    hidden: tuple[int, ...]
    outputs: int
    activation: str = "relu"
    polynomial_features: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, part: str = "all") -> jax.Array:
        # Layers are named as Flax would auto-name them, so that "first" and "rest" (the split
        # at the first dense layer, see FirstLayer) address the same parameters as "all".
        activation = get_activation(self.activation)
        widths = (*self.hidden, self.outputs)
        if part != "rest":
            x = _as_float(x)
            x = x.reshape((x.shape[0], -1))
            if self.polynomial_features > 1:
                x = jnp.concatenate([x**p for p in range(1, self.polynomial_features + 1)], axis=-1)
            x = nn.Dense(widths[0], name="Dense_0")(x)
            if part == "first":
                return x
        for index, width in enumerate(widths[1:], start=1):
            x = nn.Dense(width, name=f"Dense_{index}")(activation(x))
        return x


def mlp(
    input_shape: Sequence[int],
    hidden: Sequence[int],
    outputs: int,
    activation: str = "relu",
    polynomial_features: int = 1,
) -> Model:
    """A fully connected network (multilayer perceptron).

    f(x) = W_L a(... a(W_1 φ(x) + b_1) ...) + b_L, one hidden layer per entry of ``hidden``,
    activation ``a`` by name (see :data:`landform.models.ACTIVATION_NAMES`). Each example is
    flattened first. With ``polynomial_features = k > 1`` the features are φ(x) = [x, x², ...,
    x^k]; for a 1-D input this is the polynomial toy regression of Dold et al. 2025 (arXiv
    2503.03382), for d-dimensional inputs the powers are concatenated power by power
    ([x_1..x_d, x_1²..x_d², ...]).

    Example: ``mlp((784,), [256, 128], 10)`` is the minima-volume paper's MNIST MLP
    (235,146 parameters).
    """
    name = "mlp"
    input_shape = _shape(name, input_shape)
    hidden = _widths(name, "hidden", hidden)
    outputs = _positive_int(name, "outputs", outputs)
    activation = _activation_name(activation)
    polynomial_features = _positive_int(name, "polynomial_features", polynomial_features)
    spec = {
        "name": name,
        "input_shape": list(input_shape),
        "hidden": list(hidden),
        "outputs": outputs,
        "activation": activation,
        "polynomial_features": polynomial_features,
    }
    module = MLPModule(hidden, outputs, activation, polynomial_features)
    init_module = module.clone(activation="relu")
    return _linen_model(module, spec, (math.prod(input_shape),), init_module=init_module, split=True)


def tabular_mlp(
    input_shape: Sequence[int],
    depth: int,
    width: int,
    outputs: int,
    activation: str = "relu",
) -> Model:
    """An MLP with ``depth`` hidden layers of equal ``width``.

    The same network as ``mlp(input_shape, [width] * depth, outputs, activation)``; Dold et al.
    2025 (arXiv 2503.03382) use depth 3, width 16 on their tabular regression data.
    """
    name = "tabular_mlp"
    input_shape = _shape(name, input_shape)
    depth = _positive_int(name, "depth", depth)
    width = _positive_int(name, "width", width)
    outputs = _positive_int(name, "outputs", outputs)
    activation = _activation_name(activation)
    spec = {
        "name": name,
        "input_shape": list(input_shape),
        "depth": depth,
        "width": width,
        "outputs": outputs,
        "activation": activation,
    }
    module = MLPModule((width,) * depth, outputs, activation, 1)
    init_module = module.clone(activation="relu")
    return _linen_model(module, spec, (math.prod(input_shape),), init_module=init_module, split=True)


# ---------------------------------------------------------------------------------------------
# convolutional networks


class LeNet5Module(nn.Module):
    """LeNet-5 with average pooling (LeCun et al. 1998)."""

    image_shape: tuple[int, int, int]
    outputs: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array, part: str = "all") -> jax.Array:
        # explicit names (Flax's own) so that the split at the first convolution ("first",
        # "rest"; see FirstLayer) addresses the same parameters as "all"
        activation = get_activation(self.activation)
        if part != "rest":
            x = _as_float(x)
            x = x.reshape((x.shape[0], *self.image_shape))
            x = nn.Conv(6, (5, 5), padding=2, name="Conv_0")(x)
            if part == "first":
                return x
        x = nn.avg_pool(activation(x), (2, 2), strides=(2, 2))
        x = activation(nn.Conv(16, (5, 5), padding="VALID", name="Conv_1")(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        x = activation(nn.Dense(120, name="Dense_0")(x))
        x = activation(nn.Dense(84, name="Dense_1")(x))
        return nn.Dense(self.outputs, name="Dense_2")(x)


def lenet5(input_shape: Sequence[int] = (28, 28, 1), outputs: int = 10, activation: str = "relu") -> Model:
    """LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), modern variant.

    conv 6@5×5 (padding 2) → a → avg-pool 2 → conv 16@5×5 (valid) → a → avg-pool 2 → dense 120
    → a → dense 84 → a → dense ``outputs``. On 28×28×1 images with 10 outputs it has 61,706
    parameters. A flat input shape (784,) (or any n×n flattened image) is reshaped to n×n×1.
    """
    name = "lenet5"
    input_shape = _shape(name, input_shape)
    hwc = image_shape(name, input_shape)
    if hwc[0] < 12 or hwc[1] < 12:
        raise ConfigError(
            f"model 'lenet5' needs images of at least 12×12 pixels (two 5×5 convolutions and "
            f"two 2×2 poolings); got input_shape {list(input_shape)}"
        )
    outputs = _positive_int(name, "outputs", outputs)
    activation = _activation_name(activation)
    spec = {
        "name": name,
        "input_shape": list(input_shape),
        "outputs": outputs,
        "activation": activation,
    }
    module = LeNet5Module(hwc, outputs, activation)
    return _linen_model(module, spec, hwc, init_module=module.clone(activation="relu"), split=True)


class CNNModule(nn.Module):
    """3×3 SAME conv → activation → 2×2 max-pool per channel entry, then dense layers."""

    image_shape: tuple[int, int, int]
    channels: tuple[int, ...]
    dense: tuple[int, ...]
    outputs: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array, part: str = "all") -> jax.Array:
        # explicit names (Flax's own) so that the split at the first convolution ("first",
        # "rest"; see FirstLayer) addresses the same parameters as "all"
        activation = get_activation(self.activation)
        start = 0
        if part != "rest":
            x = _as_float(x)
            x = x.reshape((x.shape[0], *self.image_shape))
        if self.channels:  # the split needs a first convolution (the model has one when channels is not empty)
            if part != "rest":
                x = nn.Conv(self.channels[0], (3, 3), padding="SAME", name="Conv_0")(x)
                if part == "first":
                    return x
            x = nn.max_pool(activation(x), (2, 2), strides=(2, 2))
            start = 1
        for index, features in enumerate(self.channels[start:], start=start):
            x = activation(nn.Conv(features, (3, 3), padding="SAME", name=f"Conv_{index}")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = x.reshape((x.shape[0], -1))
        for index, width in enumerate(self.dense):
            x = activation(nn.Dense(width, name=f"Dense_{index}")(x))
        return nn.Dense(self.outputs, name=f"Dense_{len(self.dense)}")(x)


def cnn(
    input_shape: Sequence[int],
    channels: Sequence[int],
    dense: Sequence[int],
    outputs: int,
    activation: str = "relu",
) -> Model:
    """A plain convolutional network.

    For each entry c of ``channels``: conv c@3×3 (SAME padding) → a → max-pool 2×2 (stride 2);
    then flatten, one dense layer with activation per entry of ``dense``, and a final dense
    layer with ``outputs`` units. Fan, Sandlund, Ko 2025 (arXiv 2511.04808) use channels
    [32, 64, 128] and dense [512, 256] for MNIST and CIFAR-10. Input shapes as in
    :func:`lenet5` ((h, w, c), (h, w) or a flat square image).
    """
    name = "cnn"
    input_shape = _shape(name, input_shape)
    hwc = image_shape(name, input_shape)
    channels = _widths(name, "channels", channels)
    smallest = 2 ** len(channels)
    if hwc[0] < smallest or hwc[1] < smallest:
        raise ConfigError(
            f"model 'cnn': {len(channels)} max-pooling stages need images of at least "
            f"{smallest}×{smallest} pixels; got input_shape {list(input_shape)}"
        )
    dense = _widths(name, "dense", dense)
    outputs = _positive_int(name, "outputs", outputs)
    activation = _activation_name(activation)
    spec = {
        "name": name,
        "input_shape": list(input_shape),
        "channels": list(channels),
        "dense": list(dense),
        "outputs": outputs,
        "activation": activation,
    }
    module = CNNModule(hwc, channels, dense, outputs, activation)
    init_module = module.clone(activation="relu")
    return _linen_model(module, spec, hwc, init_module=init_module, split=bool(channels))


# ---------------------------------------------------------------------------------------------
# transformer

POOLS = (None, "last", "mean")


class TransformerBlock(nn.Module):
    """Pre-LayerNorm decoder block: h + Attn(LN(h)), then h + MLP(LN(h)), causal attention."""

    heads: int
    width: int
    activation: str = "gelu"

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        batch, length, _ = h.shape
        head_dim = self.width // self.heads
        y = nn.LayerNorm(name="attention_norm")(h)
        qkv = nn.Dense(3 * self.width, name="qkv")(y)
        q, k, v = (part.reshape(batch, length, self.heads, head_dim) for part in jnp.split(qkv, 3, axis=-1))
        attended = jax.nn.dot_product_attention(q, k, v, is_causal=True)
        h = h + nn.Dense(self.width, name="attention_output")(attended.reshape(batch, length, self.width))
        y = nn.LayerNorm(name="mlp_norm")(h)
        y = get_activation(self.activation)(nn.Dense(4 * self.width, name="mlp_hidden")(y))
        return h + nn.Dense(self.width, name="mlp_output")(y)


class TransformerModule(nn.Module):
    """Token + learned position embeddings, pre-LN causal blocks, final LayerNorm, linear head."""

    vocab_size: int
    context: int
    layers: int
    heads: int
    width: int
    outputs: int
    pool: str | None = None
    activation: str = "gelu"

    @nn.compact
    def __call__(self, tokens: jax.Array) -> jax.Array:
        if tokens.ndim != 2 or tokens.shape[1] > self.context:
            raise ShapeError(
                f"transformer expects token ids of shape (batch, length) with length <= "
                f"context {self.context}; got shape {tuple(tokens.shape)}"
            )
        tokens = tokens.astype(jnp.int32)
        embedding_init = nn.initializers.normal(stddev=0.02)
        h = nn.Embed(self.vocab_size, self.width, embedding_init=embedding_init, name="token_embedding")(tokens)
        positions = self.param("position_embedding", embedding_init, (self.context, self.width), jnp.float32)
        h = h + positions[: tokens.shape[1]]
        for index in range(self.layers):
            h = TransformerBlock(self.heads, self.width, self.activation, name=f"block_{index}")(h)
        h = nn.LayerNorm(name="final_norm")(h)
        if self.pool == "last":
            h = h[:, -1]
        elif self.pool == "mean":
            h = h.mean(axis=1)
        return nn.Dense(self.outputs, name="head")(h)


def transformer(
    vocab_size: int,
    context: int,
    layers: int,
    heads: int,
    width: int,
    outputs: int | None = None,
    pool: str | None = None,
    activation: str = "gelu",
    input_shape: Sequence[int] | None = None,
) -> Model:
    """A small decoder-only (causal) transformer without dropout.

    h_0 = E[tokens] + P[positions]; for each of ``layers`` blocks
    h ← h + W_o CausalAttention(LN(h)) and h ← h + W_2 a(W_1 LN(h)) with a hidden width of
    4 × ``width`` (pre-LayerNorm, as in GPT-2: Radford et al. 2019); logits = W_head LN(h).
    Attention is softmax(q kᵀ / √(width / heads)) v over earlier and current positions only.
    Embeddings are initialised N(0, 0.02²), dense layers with Flax's defaults.

    Inputs are integer token ids of shape (N, context) (``input_shape`` is ``(context,)``;
    it may be given, and must then equal it). Outputs are logits per position, (N, context,
    ``outputs`` or ``vocab_size``); with ``pool="last"`` the last position's logits (N,
    outputs), for sequence classification such as modular arithmetic (a, b, =) → (a + b) mod p;
    ``pool="mean"`` averages the final hidden states over positions first.
    """
    name = "transformer"
    vocab_size = _positive_int(name, "vocab_size", vocab_size)
    context = _positive_int(name, "context", context)
    layers = _positive_int(name, "layers", layers)
    heads = _positive_int(name, "heads", heads)
    width = _positive_int(name, "width", width)
    if width % heads:
        raise ConfigError(f"model 'transformer': width ({width}) must be divisible by heads ({heads})")
    outputs = vocab_size if outputs is None else _positive_int(name, "outputs", outputs)
    if pool not in POOLS:
        raise ConfigError(
            f"model 'transformer': pool must be one of {list(POOLS)} (None: logits at every position), got {pool!r}"
        )
    activation = _activation_name(activation)
    if input_shape is not None and _shape(name, input_shape) != (context,):
        raise ConfigError(f"model 'transformer': input_shape must be [context] = [{context}], got {list(input_shape)}")
    spec = {
        "name": name,
        "vocab_size": vocab_size,
        "context": context,
        "layers": layers,
        "heads": heads,
        "width": width,
        "outputs": outputs,
        "pool": pool,
        "activation": activation,
        "input_shape": [context],
    }
    module = TransformerModule(vocab_size, context, layers, heads, width, outputs, pool, activation)
    init_module = module.clone(pool=None, activation="gelu")
    return _linen_model(module, spec, (context,), dtype=jnp.int32, init_module=init_module)


#: zoo models whose apply reshapes each example to the declared input shape, so data with the
#: same number of elements per example (e.g. (784,) for a 28×28×1 model) is accepted.
RESHAPING_MODELS = frozenset({"mlp", "tabular_mlp", "lenet5", "cnn"})


#: The zoo's architectures by name (the registry, :mod:`landform.models.registry`, adds the
#: learned-σ wrapper).
CONSTRUCTORS = MappingProxyType(
    {"mlp": mlp, "tabular_mlp": tabular_mlp, "lenet5": lenet5, "cnn": cnn, "transformer": transformer}
)

#: The name of the learned-σ wrapper (:func:`landform.models.with_learned_sigma`), a zoo name too.
LEARNED_SIGMA = "learned_sigma"
