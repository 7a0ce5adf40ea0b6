"""The chunking cost model of landscapes: how much memory an evaluation takes, and how batches of
parameter vectors are split into chunks over vectors and over examples to stay under a budget.

The cost of one evaluation is read from the traced computation (:func:`traced_bytes`): the
intermediates of one example and of two give the bytes per example and, the rest, the bytes per
parameter vector (:class:`Cost`, :func:`traced_cost`). :func:`choose_chunking` then picks the chunk
widths: with many examples a sequential map over vectors keeps every matrix product large
(batched GEMMs of different parameter vectors are slower on CPU); with few examples vectors are
vectorised together so that the products are not tiny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import numpy as np

#: Rows (vectors × examples) per step above which a sequential map over vectors is preferred:
#: each vector's matrix products are then already large enough to run near peak.
SATURATING_ROWS = 2048


class Chunking(NamedTuple):
    """How a batch evaluation is split: ``vectors`` evaluated together, ``examples`` per chunk.

    Attributes:
        vectors: parameter vectors evaluated together (vmapped).
        examples: examples per chunk.
    """

    vectors: int
    examples: int


@dataclass(frozen=True)
class Cost:
    """Memory per evaluation of a landscape, from the traced computation of one and two examples
    (:func:`traced_cost`); the chunk widths of :func:`choose_chunking` are chosen from it.

    Attributes:
        bytes_per_example: activations that grow with the number of examples.
        bytes_per_vector: parameter-sized intermediates (one per vector in flight).
    """

    bytes_per_example: float
    bytes_per_vector: float


def traced_bytes(fn, *args) -> int:
    """Sum of the sizes of every intermediate value in the jaxpr of ``fn(*args)``, nested jaxprs
    included (an upper bound on its working memory, in bytes)."""
    jaxpr = jax.make_jaxpr(fn)(*args)
    total = 0

    def visit(jp):
        nonlocal total
        for eqn in jp.eqns:
            for var in eqn.outvars:
                aval = var.aval
                if hasattr(aval, "shape"):
                    total += int(np.prod(aval.shape, dtype=np.int64)) * aval.dtype.itemsize
            for param in eqn.params.values():
                for sub in param if isinstance(param, (tuple, list)) else (param,):
                    inner = getattr(sub, "jaxpr", None)
                    if inner is not None and hasattr(inner, "eqns"):
                        visit(inner)
                    elif hasattr(sub, "eqns"):
                        visit(sub)

    visit(jaxpr.jaxpr)
    return total


def traced_cost(fn, theta: jax.Array, *data: Any) -> Cost:
    """The :class:`Cost` of ``fn(theta, *data)`` from its traces on the first example and on the
    first two examples of ``data`` (each sliced along axis 0): bytes per example are the
    difference (at least 4), bytes per vector the rest of one example's trace plus two copies of
    θ (8 bytes per parameter)."""
    one = traced_bytes(fn, theta, *(part[:1] for part in data))
    two = traced_bytes(fn, theta, *(part[:2] for part in data)) if data[0].shape[0] > 1 else 2 * one
    per_example = max(two - one, 4)
    return Cost(
        bytes_per_example=float(per_example), bytes_per_vector=float(max(one - per_example, 0) + 8 * theta.size)
    )


def choose_chunking(
    cost: Cost, memory_budget: int, num_examples: int, num_vectors: int, *, chunkable: bool = True
) -> Chunking:
    """Chunk widths for evaluating ``num_vectors`` vectors on ``num_examples`` examples within
    ``memory_budget`` bytes (the rule of :meth:`landform.landscape.Landscape.choose_chunking`).

    Vectors are evaluated together only while V·N stays below :data:`SATURATING_ROWS` (tiny
    products benefit from batching; large ones run best one vector at a time: on a 2-core CPU,
    vmap over 64 different vectors at 10,000 MNIST examples ran about 2× slower than a sequential
    map). Example chunks are as large as the budget allows and balanced so the last one is not
    tiny; without ``chunkable`` (a landscape of a function) all examples form one chunk.
    """
    n = num_examples
    budget = memory_budget
    per_ex, per_vec = cost.bytes_per_example, cost.bytes_per_vector
    vectors = 1 if n >= SATURATING_ROWS else max(1, min(num_vectors, SATURATING_ROWS // n))
    # shrink vectors until at least one example fits alongside them
    while vectors > 1 and vectors * (per_vec + per_ex) > budget:
        vectors //= 2
    if not chunkable:
        return Chunking(vectors, n)
    room = (budget - vectors * per_vec) / (vectors * per_ex)
    examples = int(max(1, min(n, room)))
    if examples < n:  # balance chunks so the last one is not tiny
        count = math.ceil(n / examples)
        examples = math.ceil(n / count)
    return Chunking(vectors, examples)


def span_vectors(cost: Cost, memory_budget: int, examples: int, num_vectors: int) -> int:
    """Points of a :class:`landform.landscape.Span` evaluated together on ``examples`` examples:
    the vector rule of :func:`choose_chunking`, with the whole chunk of examples in the budget."""
    vectors = 1 if examples >= SATURATING_ROWS else max(1, min(num_vectors, SATURATING_ROWS // examples))
    per_ex, per_vec = cost.bytes_per_example, cost.bytes_per_vector
    while vectors > 1 and vectors * (per_vec + per_ex * examples) > memory_budget:
        vectors //= 2
    return vectors
