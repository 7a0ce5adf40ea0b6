"""Activation functions looked up by name.

Every name maps to a function of ``jax.nn`` (or ``jax.numpy``) applied element-wise:

- ``relu``: max(0, x)
- ``leaky_relu``: x if x >= 0 else 0.01 x
- ``elu``: x if x > 0 else exp(x) - 1
- ``tanh``: tanh(x)
- ``gelu``: x Φ(x) (tanh approximation, Hendrycks & Gimpel 2016)
- ``sigmoid``: 1 / (1 + exp(-x))
- ``silu``: x σ(x) (Elfwing et al. 2018; also called swish)
- ``softplus``: log(1 + exp(x))
- ``identity``: x
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from landform.errors import UnknownNameError

Activation = Callable[[jax.Array], jax.Array]

ACTIVATIONS: dict[str, Activation] = {
    "relu": jax.nn.relu,
    "leaky_relu": jax.nn.leaky_relu,
    "elu": jax.nn.elu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "sigmoid": jax.nn.sigmoid,
    "silu": jax.nn.silu,
    "softplus": jax.nn.softplus,
    "identity": jax.nn.identity,
}

ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def get_activation(name: str) -> Activation:
    """The activation function called ``name`` (see :data:`ACTIVATION_NAMES`).

    Raises :class:`~landform.errors.UnknownNameError` listing the known names otherwise.
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise UnknownNameError("activation", str(name), ACTIVATIONS)
    return ACTIVATIONS[name]
