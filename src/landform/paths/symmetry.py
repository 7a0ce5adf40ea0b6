"""Removing permutation symmetry from the networks on a curve: ascending biases.

Permuting the units of a hidden layer (rows of its incoming weights and bias, columns of the
outgoing weights) leaves the network's function unchanged, so every minimum has many copies and
a curve can wander between them. Dold et al. 2025 ("Paths and Ambient Spaces in Neural Loss
Landscapes", arXiv 2503.03382) remove this symmetry by forcing the biases of a layer to be in
ascending order. The trained ("raw") parameters b'_0..b'_{m-1} of a layer's bias map to

    b = cumsum([b'_0, softplus(b'_1), ..., softplus(b'_{m-1})]),   so b_0 < b_1 < ... < b_{m-1},

applied to every network on the curve *after* the curve is evaluated and *before* the model is
applied: the curve (its control points, length and curvature) lives in the raw coordinates.
The inverse is b'_0 = b_0, b'_i = softplus^{-1}(b_i - b_{i-1}) with softplus^{-1}(y) =
y + log(-expm1(-y)), for gaps clipped below at ``minimum_gap``.

Which layers: the parameters' bias leaves (leaves whose path ends in ``bias``) are ordered by
their path in natural order ("Dense_2" before "Dense_10"), which is the order of the layers in
the zoo's MLPs and LeNet-5; the last one belongs to the output layer, whose units cannot be
permuted, and is never constrained. ``layers="first"`` constrains the first hidden layer only
(this removes the symmetry of that layer; the default), ``layers="hidden"`` every hidden layer,
and a sequence of leaf paths (as :func:`landform.flat.leaf_slices` names them) exactly those.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from landform.errors import ConfigError
from landform.flat import leaf_slices

SYMMETRY_LAYERS = ("first", "hidden")


class Reparametrisation(NamedTuple):
    """Maps between raw (trained) and constrained flat parameter vectors of shape (..., n)."""

    constrain: Callable[[jax.Array], jax.Array]
    unconstrain: Callable[[jax.Array], jax.Array]
    leaves: tuple[str, ...]


def _natural_key(path: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def _inverse_softplus(y: jax.Array) -> jax.Array:
    return y + jnp.log(-jnp.expm1(-y))


def ascending_biases(
    params: Any, layers: str | Sequence[str] = "first", minimum_gap: float = 1e-6
) -> Reparametrisation:
    """The ascending-bias reparametrisation of the layers chosen by ``layers`` (see the module
    docstring) for parameters shaped like ``params`` (a pytree, e.g. ``model.init(key)``)."""
    slices = leaf_slices(params)
    biases = sorted((s for s in slices if s.path.split("/")[-1] == "bias"), key=lambda s: _natural_key(s.path))
    if isinstance(layers, str):
        if layers not in SYMMETRY_LAYERS:
            raise ConfigError(f"layers must be one of {SYMMETRY_LAYERS} or a list of bias leaf paths, got {layers!r}")
        if len(biases) < 2:
            raise ConfigError(
                f"ascending biases need a hidden layer with a bias; the parameters have bias leaves "
                f"{[s.path for s in biases]} (the last one is the output layer's)"
            )
        chosen = biases[:1] if layers == "first" else biases[:-1]
    else:
        by_path = {s.path: s for s in slices}
        missing = [p for p in layers if p not in by_path]
        if missing:
            raise ConfigError(f"no parameter leaves named {missing}; the bias leaves are {[s.path for s in biases]}")
        chosen = [by_path[p] for p in layers]
    for s in chosen:
        if len(s.shape) != 1:
            raise ConfigError(f"leaf {s.path!r} has shape {s.shape}; ascending order needs a 1-D bias")

    ordered = sorted(chosen, key=lambda s: s.start)

    def rebuild(theta: jax.Array, transform) -> jax.Array:
        # slices and one concatenation (cheaper to compile and differentiate than scatters)
        theta = jnp.asarray(theta)
        pieces, position = [], 0
        for s in ordered:
            pieces.append(theta[..., position : s.start])
            pieces.append(transform(theta[..., s.start : s.stop]))
            position = s.stop
        pieces.append(theta[..., position:])
        return jnp.concatenate(pieces, axis=-1)

    def ascending(raw: jax.Array) -> jax.Array:
        increments = jnp.concatenate([raw[..., :1], jax.nn.softplus(raw[..., 1:])], axis=-1)
        return jnp.cumsum(increments, axis=-1)

    def raw_from(bias: jax.Array) -> jax.Array:
        gaps = jnp.maximum(jnp.diff(bias, axis=-1), minimum_gap)
        return jnp.concatenate([bias[..., :1], _inverse_softplus(gaps)], axis=-1)

    def constrain(theta: jax.Array) -> jax.Array:
        return rebuild(theta, ascending)

    def unconstrain(theta: jax.Array) -> jax.Array:
        return rebuild(theta, raw_from)

    return Reparametrisation(constrain, unconstrain, tuple(s.path for s in chosen))
