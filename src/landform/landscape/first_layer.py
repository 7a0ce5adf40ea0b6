"""First-layer reuse: a model split at its first operation, when that operation is linear in θ.

Points on a line or plane through θ* (rays of the volume estimate, grids of landscape views) are
evaluated through a :class:`landform.landscape.Span`. When the model's first operation is linear
in its own parameters (a dense or convolution layer with bias; :class:`FirstLayer`), it is affine
along any such line: z_1(θ* + Σ_j c_j d_j) = z_1(θ*) + Σ_j c_j z_1(d_j), where z_1(d) is the first
layer applied with the direction's entries as weights and bias. The span computes z_1(θ*) and each
z_1(d_j) once over all examples; every further point costs only the rest of the network (for the
MNIST MLP 784-256-128-10, 15 % of a full evaluation). The values are those of plain evaluation
up to float rounding. This module holds the split (checked on a few examples before use) and the
compiled evaluations a span runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError
from landform.flat import ravel
from landform.losses import Loss, correct

PyTree = Any


class FirstLayer(NamedTuple):
    """A model split at its first operation, for models whose first operation is linear in θ.

    ``first(params, x)`` is the output z_1 of the first operation (before any activation): it
    must be linear in ``params`` (z_1(p + q) = z_1(p) + z_1(q), bias included) and use only the
    first layer's parameters. ``rest(params, z_1)`` is the network from there on, so
    ``rest(params, first(params, x)) == apply(params, x)``. The zoo's MLPs, CNNs and LeNet-5
    provide one (``Model.first_layer``); :meth:`Landscape.from_apply` checks both properties on
    a few examples before using it.
    """

    first: Callable[[PyTree, jax.Array], jax.Array]
    rest: Callable[[PyTree, jax.Array], jax.Array]


class _Split(NamedTuple):
    """A landscape's functions of flat vectors behind :class:`FirstLayer`."""

    first: Callable[[jax.Array, Any], jax.Array]  # (θ, xs) -> z_1
    metrics: dict[str, Callable[[jax.Array, jax.Array, Any], jax.Array]]  # (θ, z_1, ys) -> per-example
    shape: tuple[int, ...]  # shape of z_1 for one example
    dtype: Any


def _make_split(first_layer: FirstLayer, apply, params, unravel, loss: Loss, x) -> _Split:
    """The flat-vector functions behind ``first_layer``, after checking on a few examples that
    rest∘first reproduces ``apply`` and that ``first`` is linear in the parameters."""
    if not isinstance(first_layer, FirstLayer):
        raise ConfigError(f"first_layer must be a landform.landscape.FirstLayer, got {type(first_layer).__name__}")

    def first(vector, xs):
        return first_layer.first(unravel(vector), xs)

    def loss_values(vector, z, ys):
        return loss.per_example(first_layer.rest(unravel(vector), z), ys)

    metrics = {"loss": loss_values}
    if loss.accuracy_kind is not None:

        def correct_values(vector, z, ys):
            return correct(first_layer.rest(unravel(vector), z), ys, loss.accuracy_kind)

        metrics["correct"] = correct_values

    theta, _ = ravel(params)
    xs = x[: min(4, x.shape[0])]
    other = jax.random.normal(jax.random.key(0), theta.shape, theta.dtype) * (jnp.std(theta) + 1.0)
    check = jax.jit(
        lambda t, q, xs: (
            apply(unravel(t), xs),
            first_layer.rest(unravel(t), first(t, xs)),
            first(t + q, xs),
            first(t, xs) + first(q, xs),
        )
    )
    plain, composed, joint, summed = (np.asarray(a, np.float64) for a in check(theta, other, xs))

    def close(a, b) -> bool:
        return a.shape == b.shape and bool(np.all(np.abs(a - b) <= 1e-4 * (np.max(np.abs(b)) + 1e-6)))

    if not close(composed, plain):
        raise ConfigError(
            "first_layer.rest(params, first_layer.first(params, x)) does not reproduce apply(params, x) on the first "
            "examples; fix the split or build the landscape without first_layer"
        )
    if not close(joint, summed):
        raise ConfigError(
            "first_layer.first is not linear in the parameters (first(p + q) != first(p) + first(q)); only a first "
            "operation that is linear in its own weights and bias can be reused along lines"
        )
    z = jax.eval_shape(first, theta, xs)
    return _Split(first=first, metrics=metrics, shape=tuple(z.shape[1:]), dtype=z.dtype)


@jax.jit
def _combine(origin, basis, rows, coefficients):
    return origin[None] + jnp.einsum("pm,pmn->pn", coefficients, basis[rows])


def _first_outputs_fn(first, padded: int, vectors: int):
    """(origin, basis, xs) -> (z_1(origin) (padded, ...), z_1(basis) (k, padded, ...)) over example
    chunks, ``vectors`` basis vectors at a time."""

    def outputs(vector, xs):
        values = jax.lax.map(lambda chunk: first(vector, chunk), xs)
        return values.reshape((padded,) + values.shape[2:])

    @jax.jit
    def run(origin, basis, xs):
        return outputs(origin, xs), jax.lax.map(lambda b: outputs(b, xs), basis, batch_size=vectors)

    return run


def _span_fn(metric_fn, size: int, examples: int, count: int, vectors: int):
    """The compiled evaluation of span points on the first ``size`` examples, in ``count`` chunks
    of ``examples`` (only the first-layer outputs of those chunks are read)."""

    def point(origin, basis, z0, zb, ys, rows, coefficients):
        theta = origin + coefficients @ basis[rows]

        def chunk(index):
            start = index * examples
            z = jax.lax.dynamic_slice_in_dim(z0, start, examples)
            for j in range(rows.shape[0]):
                part = jax.lax.dynamic_index_in_dim(zb, rows[j], keepdims=False)
                z = z + coefficients[j] * jax.lax.dynamic_slice_in_dim(part, start, examples)
            return metric_fn(theta, z, jax.lax.dynamic_slice_in_dim(ys, start, examples))

        values = jax.lax.map(chunk, jnp.arange(count))
        return values.reshape(-1)[:size]

    @jax.jit
    def run(origin, basis, z0, zb, ys, rows, coefficients):
        one = lambda args: point(origin, basis, z0, zb, ys, *args)
        if vectors >= rows.shape[0]:
            return jax.vmap(one)((rows, coefficients))
        return jax.lax.map(one, (rows, coefficients), batch_size=vectors)

    return run
