"""Flat parameter vectors: the coordinate system every landscape lives in.

A model's parameters are a pytree; landform works with one flat vector θ ∈ R^n. The order is
JAX's pytree flattening order (``jax.tree_util.tree_flatten``): dictionaries by sorted key,
sequences by position, depth first; each leaf is raveled in C (row-major) order and the leaves
are concatenated. :func:`ravel` returns θ and the function that maps any vector of the same
length back to the pytree; :func:`leaf_slices` says which slice of θ holds which leaf, so that
per-layer or per-filter operations (filter normalisation, weight-only perturbations) can act on
the flat vector without unravelling it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landform.errors import ShapeError

PyTree = Any


class LeafSlice(NamedTuple):
    """Where one parameter leaf lives in the flat vector."""

    path: str  # e.g. "params/Dense_0/kernel"
    start: int
    stop: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.stop - self.start


def ravel(params: PyTree) -> tuple[jax.Array, Callable[[jax.Array], PyTree]]:
    """Flatten ``params`` to θ (1-D) and return ``(θ, unravel)``.

    ``unravel(θ')`` checks the length of θ' and rebuilds the pytree with the original shapes
    and dtypes. All leaves must share one floating dtype (the usual case).
    """
    theta, unravel_fn = ravel_pytree(params)
    n = theta.shape[0]

    def unravel(vector: jax.Array) -> PyTree:
        if vector.shape != (n,):
            raise ShapeError(
                f"flat parameter vector has shape {tuple(vector.shape)}, but the model has "
                f"{n} parameters: expected shape ({n},)"
            )
        return unravel_fn(vector)

    return theta, unravel


def path_name(path) -> str:
    """A readable name for a pytree key path, e.g. ``params/Dense_0/kernel``."""
    parts = []
    for key in path:
        for attr in ("key", "name", "idx"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return "/".join(parts)


def leaf_slices(params: PyTree) -> list[LeafSlice]:
    """The slice of θ holding each leaf, in flat order, with the leaf's path and shape."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    out, start = [], 0
    for path, leaf in leaves:
        shape = tuple(np.shape(leaf))
        size = int(np.prod(shape, dtype=np.int64))
        out.append(LeafSlice(path_name(path), start, start + size, shape))
        start += size
    return out


def num_params(params: PyTree) -> int:
    """Number of scalar parameters in a pytree."""
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def as_vectors(thetas: jax.Array, n: int) -> jax.Array:
    """Check a batch of flat vectors has shape (m, n) (a single (n,) vector becomes (1, n))."""
    thetas = jnp.asarray(thetas)
    if thetas.ndim == 1:
        thetas = thetas[None]
    if thetas.ndim != 2 or thetas.shape[1] != n:
        raise ShapeError(
            f"parameter vectors have shape {tuple(thetas.shape)}; expected (m, {n}) "
            f"(one row per vector of this landscape's {n} parameters)"
        )
    return thetas
