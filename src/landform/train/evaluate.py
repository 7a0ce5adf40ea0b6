"""Loss and accuracy of a model on a whole split, in fixed-size chunks.

mean loss = (1/N) Σ_i ℓ(f(θ, x_i), y_i);  accuracy = (1/N) Σ_i correct(f(θ, x_i), y_i).

The split is padded to a whole number of chunks of ``chunk_size`` examples (padding is masked
out) and the chunks run through ``lax.map``, so memory stays bounded for large splits and one
compiled function serves every evaluation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.data.base import Split
from landform.errors import DataError
from landform.losses import Loss, correct, get_loss
from landform.models.base import Model

Params = Any


class Chunks(NamedTuple):
    """A split laid out as (chunks, chunk_size, ...) arrays plus a validity mask."""

    x: jax.Array
    y: jax.Array
    mask: jax.Array  # (chunks, chunk_size) bool
    count: int


def to_chunks(split: Split, chunk_size: int) -> Chunks:
    """Cut ``split`` into ceil(N / chunk_size) equal chunks of at most ``chunk_size`` examples,
    padding the last by repeating the first example (masked out in evaluation)."""
    n = len(split)
    if n == 0:
        raise DataError("cannot evaluate on an empty split; give at least one example")
    chunks = math.ceil(n / chunk_size)
    size = math.ceil(n / chunks)  # equal chunks: at most chunks - 1 padded examples
    pad = chunks * size - n
    x, y = np.asarray(split.x), np.asarray(split.y)
    if pad:
        x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
        y = np.concatenate([y, np.repeat(y[:1], pad, axis=0)])
    mask = np.arange(chunks * size) < n
    return Chunks(
        jnp.asarray(x).reshape(chunks, size, *x.shape[1:]),
        jnp.asarray(y).reshape(chunks, size, *y.shape[1:]),
        jnp.asarray(mask).reshape(chunks, size),
        n,
    )


def make_evaluator(
    apply: Callable[[Params, jax.Array], jax.Array], loss: Loss, unroll: bool = False
) -> Callable[[Params, Chunks], tuple[jax.Array, jax.Array]]:
    """A pure function ``(params, chunks) -> (mean loss, accuracy)`` for the model function
    ``apply(params, x)``; accuracy is NaN for regression losses. Not jitted (callers jit or
    vmap it). ``unroll`` unrolls the loop over chunks (for convolutions on CPU, see
    :mod:`landform.loops`)."""
    kind = loss.accuracy_kind

    def evaluate_chunks(params: Params, chunks: Chunks) -> tuple[jax.Array, jax.Array]:
        def one(chunk):
            x, y, mask = chunk
            outputs = apply(params, x)
            losses = jnp.where(mask, loss.per_example(outputs, y), 0.0)
            if kind is None:
                hits = jnp.zeros((), losses.dtype)
            else:
                hits = jnp.sum(jnp.where(mask, correct(outputs, y, kind), 0.0))
            return jnp.sum(losses), hits

        if chunks.x.shape[0] == 1:  # no loop at all: see landform.loops on convolutions
            totals, hits = jax.tree_util.tree_map(lambda v: v[None], one((chunks.x[0], chunks.y[0], chunks.mask[0])))
        else:
            _, (totals, hits) = jax.lax.scan(
                lambda c, chunk: (c, one(chunk)), None, (chunks.x, chunks.y, chunks.mask), unroll=unroll
            )
        mean_loss = jnp.sum(totals) / chunks.count
        accuracy = jnp.sum(hits) / chunks.count if kind is not None else jnp.full((), jnp.nan)
        return mean_loss, accuracy

    return evaluate_chunks


@functools.lru_cache(maxsize=32)
def _jitted_evaluator(apply, loss: Loss):
    return jax.jit(make_evaluator(apply, loss))


def evaluate(
    model: Model, params: Params, split: Split, loss: str | Loss, *, chunk_size: int = 8192
) -> dict[str, float]:
    """``{"loss": mean loss, "accuracy": accuracy}`` of ``model`` at ``params`` on ``split``
    (accuracy only for classification losses)."""
    loss = get_loss(loss)
    chunks = to_chunks(split, chunk_size)
    mean_loss, accuracy = _jitted_evaluator(model.apply, loss)(params, chunks)
    out = {"loss": float(mean_loss)}
    if loss.accuracy_kind is not None:
        out["accuracy"] = float(accuracy)
    return out
