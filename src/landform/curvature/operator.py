"""Curvature operators: Hessian- and Gauss–Newton-vector products of a landscape's mean loss.

For θ ∈ R^n and a landscape's mean loss L(θ) = (1/N) Σ_i ℓ_i(θ) over all N examples:

- Hessian: H v = ∇²L(θ) v = (1/N) Σ_i ∇²ℓ_i(θ) v, the forward-mode derivative of the
  reverse-mode gradient along v (Pearlmutter 1994, "Fast exact multiplication by the Hessian",
  Neural Computation 6(1)); it costs a small multiple of one gradient.
- Gauss–Newton: G v = (1/N) Σ_i J_iᵀ ∇²_z φ(z_i, y_i) J_i v, with z_i = f(θ, x_i) the model's
  outputs, J_i = ∂z_i/∂θ and φ the loss as a function of the outputs (Schraudolph 2002, "Fast
  curvature matrix-vector products for second-order gradient descent", Neural Computation
  14(7)). G is positive semi-definite for the convex losses of :mod:`landform.losses`
  (cross-entropy, binary cross-entropy, MSE, Gaussian NLL with fixed σ) and equals H for a
  linear model.

Both are exact: every example enters every product (a minibatch Hessian is the operator of
``landscape.subset(k)``, whose examples are the first k). Examples are summed in chunks
(``lax.scan``) whose width comes from the memory of one product traced on one and on two
examples, so that the working memory stays under the landscape's ``memory_budget``.

Restriction: with a subset S of the parameters (``parameters``: "all", "weights" — tensors of
two or more dimensions — or a regular expression searched in each leaf's path, as for volume
directions, :func:`landform.volume.random_directions`), the operator is the block H_SS: the
curvature of L as a function of θ_S with the other entries fixed. :meth:`CurvatureOperator.layers`
gives one such block per layer (or per leaf).

Several vectors are multiplied at once (``lax.map`` with ``batch_size=width``); the forward and
backward pass at θ is shared by the vectors of one batch. Under ``jax.vmap`` (as matfree's
estimators call it) the operator batches the same way through a custom batching rule.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap

from landform.directions import PERTURB_NAMES, is_perturbed, parameter_layout
from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.flat import LeafSlice
from landform.landscape import Landscape, traced_bytes
from landform.losses import Loss, get_loss

KIND_NAMES = ("hessian", "gauss_newton")
DEFAULT_WIDTH = 16  # vectors multiplied together when the memory budget allows
MAX_DENSE = 10_000  # largest operator that :meth:`CurvatureOperator.dense` materialises


def as_key(key: jax.Array | int) -> jax.Array:
    """A JAX key from a key or an integer seed."""
    if isinstance(key, (int, np.integer)):
        return jax.random.key(int(key))
    return key


# ============================================================================ the objective


@dataclass(frozen=True, eq=False)
class Objective:
    """A landscape's mean loss L(θ) = Σ_i w_i ℓ_i(θ) (w_i = 1/N) as chunks of examples.

    ``data`` is ``(xs, ys, weights)``: with ``chunked`` the examples come as (count, examples,
    ...) arrays padded with copies of the first example, whose weights are zero.
    """

    landscape: Landscape
    per_example: Callable  # (θ, xs, ys) -> (examples,)
    data: tuple[Any, Any, jax.Array]
    chunked: bool
    examples: int  # per chunk

    def chunk_sum(self, fn: Callable) -> Callable:
        """(θ, *rest, xs, ys, weights) -> Σ over chunks of ``fn(θ, *rest, chunk_x, chunk_y, chunk_w)``."""
        if not self.chunked:
            return fn

        def summed(theta, *args):
            *rest, xs, ys, weights = args

            def step(total, chunk):
                value = fn(theta, *rest, *chunk)
                return jax.tree.map(jnp.add, total, value), None

            first = jax.tree.map(lambda a: a[0] if a is not None else None, (xs, ys, weights))
            zero = jax.tree.map(jnp.zeros_like, jax.eval_shape(fn, theta, *rest, *first))
            return jax.lax.scan(step, zero, (xs, ys, weights))[0]

        return summed

    def loss_on(self, theta, xs, ys, weights):
        """Σ_i w_i ℓ_i(θ) over one chunk."""
        return jnp.sum(weights * self.per_example(theta, xs, ys))


def _balanced(examples: int, n: int) -> int:
    examples = int(max(1, min(n, examples)))
    if examples < n:
        count = math.ceil(n / examples)
        examples = math.ceil(n / count)
    return examples


def _weights(n: int, examples: int, chunked: bool, dtype) -> jax.Array:
    if not chunked:
        return jnp.full((n,), 1.0 / n, dtype)
    count = math.ceil(n / examples)
    mask = (np.arange(count * examples) < n).reshape(count, examples)
    return jnp.asarray(mask / n, dtype)


def objective(landscape: Landscape, examples: int | None = None, dtype=jnp.float32) -> Objective:
    """The mean loss of ``landscape`` in chunks of ``examples`` (all at once when ``None``)."""
    n = landscape.num_examples
    per_example = landscape._examples_fn("loss", n)  # one chunk's per-example losses
    chunked = landscape.x is not None and examples is not None and examples < n
    examples = _balanced(examples, n) if chunked else n
    chunked = chunked and examples < n
    xs, ys = landscape._chunked_data(examples) if chunked else (landscape.x, landscape.y)
    return Objective(landscape, per_example, (xs, ys, _weights(n, examples, chunked, dtype)), chunked, examples)


# ============================================================================ products


def _hessian_product(objective: Objective) -> Callable:
    def product(theta, v, xs, ys, weights):
        gradient = jax.grad(lambda t: objective.loss_on(t, xs, ys, weights))
        return jax.jvp(gradient, (theta,), (v,))[1]

    return product


def _gauss_newton_product(apply: Callable, unravel: Callable, loss: Loss) -> Callable:
    def product(theta, v, xs, ys, weights):
        outputs, jacobian_product = jax.linearize(lambda t: apply(unravel(t), xs), theta)
        output_gradient = jax.grad(lambda z: jnp.sum(weights * loss.per_example(z, ys)))
        curvature = jax.jvp(output_gradient, (outputs,), (jacobian_product(v),))[1]
        (back,) = jax.linear_transpose(jacobian_product, theta)(curvature)
        return back

    return product


def _restricted(product: Callable, indices: np.ndarray | None, size: int) -> Callable:
    """The product on the selected entries: v ∈ R^m → (A P v)[S] with P the embedding."""
    if indices is None:
        return product
    index = jnp.asarray(indices)

    def restricted(theta, v, *data):
        full = jnp.zeros((size,), v.dtype).at[index].set(v)
        return product(theta, full, *data)[index]

    return restricted


def _batched(single: Callable, width: int) -> Callable:
    """``single(theta, v, *data)`` that, under vmap over v, maps over vectors ``width`` at a time."""

    @custom_vmap
    def product(theta, v, *data):
        return single(theta, v, *data)

    @product.def_vmap
    def _rule(axis_size, in_batched, theta, v, *data):
        if in_batched[0] or any(jax.tree.leaves(in_batched[2:])) or not in_batched[1]:
            # Batched over θ or the data (not the case this rule is for): plain vmap.
            axes = [0 if b else None for b in in_batched]
            return jax.vmap(single, in_axes=axes)(theta, v, *data), True
        if axis_size <= width:
            return jax.vmap(single, in_axes=(None, 0) + (None,) * len(data))(theta, v, *data), True
        return jax.lax.map(lambda u: single(theta, u, *data), v, batch_size=width), True

    return product


# ============================================================================ the operator


@dataclass(frozen=True, eq=False)
class CurvatureOperator:
    """A symmetric curvature matrix of a landscape's mean loss at θ, as matrix-vector products.

    Build one with :func:`curvature_operator`. It acts on R^m, the ``size`` selected entries
    of θ (all n by default), in the order of θ.

    Attributes:
        landscape: the landscape.
        theta: the point θ the curvature is taken at (n,).
        kind: "hessian" or "gauss_newton".
        size: m, the number of selected parameters.
        indices: the selected entries of θ (``None``: all).
        slices: the selected leaves (path, start, stop, shape in θ).
        width: vectors multiplied together.
        examples: examples per chunk.
    """

    landscape: Landscape
    theta: jax.Array
    kind: str
    size: int
    indices: np.ndarray | None
    slices: tuple[LeafSlice, ...]
    width: int
    examples: int
    product: Callable = field(repr=False)  # (v, theta, xs, ys, weights) -> A v; batches `width` at a time
    plain: Callable = field(repr=False)  # the same without the batching rule (transposable; vmaps all at once)
    arguments: tuple = field(repr=False)  # (theta, xs, ys, weights)
    objective: Objective = field(repr=False)
    _options: dict = field(repr=False, default_factory=dict)
    _compiled: dict = field(repr=False, default_factory=dict)

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths of the selected leaves."""
        return tuple(s.path for s in self.slices)

    @property
    def dtype(self):
        return self.theta.dtype

    def matvec(self, vector: jax.Array) -> jax.Array:
        """A v for one vector v of shape (m,)."""
        vector = jnp.asarray(vector, self.dtype)
        if vector.shape != (self.size,):
            raise ShapeError(f"the operator acts on vectors of shape ({self.size},), got {tuple(vector.shape)}")
        if "matvec" not in self._compiled:
            self._compiled["matvec"] = jax.jit(self.product)
        return self._compiled["matvec"](vector, *self.arguments)

    def matmat(self, vectors: jax.Array) -> jax.Array:
        """A v_j for each row v_j of ``vectors`` (k, m): shape (k, m), ``width`` rows at a time."""
        vectors = jnp.asarray(vectors, self.dtype)
        if vectors.ndim != 2 or vectors.shape[1] != self.size:
            raise ShapeError(f"expected vectors of shape (k, {self.size}), got {tuple(vectors.shape)}")
        if "matmat" not in self._compiled:
            self._compiled["matmat"] = jax.jit(jax.vmap(self.product, in_axes=(0,) + (None,) * 4))
        return self._compiled["matmat"](vectors, *self.arguments)

    def __matmul__(self, other: jax.Array) -> jax.Array:
        other = jnp.asarray(other)
        return self.matvec(other) if other.ndim == 1 else self.matmat(other.T).T

    def dense(self) -> jax.Array:
        """The (m, m) matrix (for small operators: tests and references)."""
        if self.size > MAX_DENSE:
            raise ConfigError(
                f"the operator has {self.size} rows; materialising it needs {self.size} products and "
                f"{4 * self.size**2 / 1e9:.1f} GB: restrict it with `parameters` or use the matrix-free estimators"
            )
        columns = self.matmat(jnp.eye(self.size, dtype=self.dtype))
        return 0.5 * (columns + columns.T)

    def restrict(self, parameters: str) -> CurvatureOperator:
        """The operator of the same landscape and point on the leaves selected by ``parameters``."""
        return curvature_operator(self.landscape, self.theta, **{**self._options, "parameters": parameters})

    def layers(self, by: str = "layer") -> dict[str, CurvatureOperator]:
        """One diagonal block per layer (leaves sharing a parent path) or per leaf (``by="leaf"``).

        Each block is the curvature of L in that layer's parameters with all others fixed.
        """
        if by not in ("layer", "leaf"):
            raise UnknownNameError("grouping", by, ("layer", "leaf"))
        groups: OrderedDict[str, list[str]] = OrderedDict()
        for path in self.paths:
            name = path.rsplit("/", 1)[0] if by == "layer" and "/" in path else path
            groups.setdefault(name, []).append(path)
        return {
            name: self.restrict("^(" + "|".join(re.escape(p) for p in paths) + ")$") for name, paths in groups.items()
        }


def _cost(single: Callable, theta: jax.Array, landscape: Landscape, dtype) -> tuple[float, float]:
    """(bytes per example and vector, bytes per vector) of one product, traced on 1 and 2 examples."""
    v = jnp.zeros_like(theta)
    n = landscape.num_examples
    if landscape.x is None:
        w = jnp.full((n,), 1.0 / n, dtype)
        total = traced_bytes(single, theta, v, None, None, w)
        return 0.0, float(total + 8 * theta.size)
    x, y = landscape.x, landscape.y
    w = jnp.ones((2,), dtype)
    one = traced_bytes(single, theta, v, x[:1], y[:1], w[:1])
    two = traced_bytes(single, theta, v, x[:2], y[:2], w[:2]) if n > 1 else 2 * one
    per_example = max(two - one, 4)
    return float(per_example), float(max(one - per_example, 0) + 8 * theta.size)


def _chunking(landscape: Landscape, single: Callable, theta: jax.Array, width: int) -> tuple[int, int | None]:
    """(vectors together, examples per chunk) for ``single(θ, v, xs, ys, w)`` within the memory budget."""
    per_example, per_vector = _cost(single, theta, landscape, theta.dtype)
    budget = landscape.memory_budget
    while width > 1 and width * (per_vector + per_example) > budget:
        width //= 2
    if landscape.x is None or per_example <= 0:
        return width, None
    return width, int(max(1, (budget - width * per_vector) // (width * per_example)))


def loss_and_gradient(landscape: Landscape, theta: jax.Array, width: int = 1) -> tuple[Callable, tuple]:
    """(fn, data): ``fn(θ, *data)`` is (L(θ), ∇L(θ)) over all examples, summed in chunks.

    The chunks fit ``width`` evaluations at once (e.g. ``width`` chains under vmap) within the
    landscape's memory budget. Reverse mode through one chunk at a time keeps the memory of one
    chunk's activations, where differentiating the landscape's own chunked loss would keep all.
    """
    theta = jnp.asarray(theta)

    def single(theta, v, xs, ys, weights):  # the cost of a gradient, for the chunk width
        return jax.value_and_grad(lambda t: jnp.sum(weights * per_example(t, xs, ys)))(theta)

    per_example = landscape._examples_fn("loss", landscape.num_examples)
    _, examples = _chunking(landscape, single, theta, width)
    chunks = objective(landscape, examples, theta.dtype)
    fn = chunks.chunk_sum(jax.value_and_grad(chunks.loss_on))
    return fn, chunks.data


def curvature_operator(
    landscape: Landscape,
    theta: jax.Array | None = None,
    *,
    kind: str = "hessian",
    parameters: str = "all",
    layout: Any = None,
    apply: Callable | None = None,
    loss: str | Loss | None = None,
    width: int = DEFAULT_WIDTH,
) -> CurvatureOperator:
    """The Hessian (or Gauss–Newton matrix) of ``landscape``'s mean loss at θ, as an operator.

    Args:
        landscape: any :class:`Landscape`.
        theta: the point (default: the landscape's θ*).
        kind: "hessian" or "gauss_newton" (see the module docstring).
        parameters: "all", "weights" (tensors with two or more dimensions) or a regular
            expression searched in each leaf's path (e.g. ``"Dense_1"``): the operator is the block
            of the selected entries.
        layout: the parameter pytree or its :func:`landform.flat.leaf_slices` (default: from the
            landscape's ``unravel``; a landscape built from a function is one leaf "theta").
        apply: the model's ``apply(params, x)``, needed for ``kind="gauss_newton"``.
        loss: the loss of the outputs for Gauss–Newton (default: the landscape's loss by name).
        width: vectors multiplied together at most (fewer if the memory budget is small).

    Raises:
        UnknownNameError: unknown ``kind``.
        ConfigError: no θ, nothing selected, or Gauss–Newton without ``apply``.
    """
    if kind not in KIND_NAMES:
        raise UnknownNameError("curvature kind", kind, KIND_NAMES)
    if width < 1:
        raise ConfigError(f"width must be a positive number of vectors, got {width}")
    theta = landscape.theta if theta is None else jnp.asarray(theta)
    if theta is None:
        raise ConfigError("this landscape has no θ* to take the curvature at: pass `theta`")
    theta = jnp.asarray(theta)
    if theta.shape != (landscape.dim,):
        raise ShapeError(f"θ has shape {tuple(theta.shape)}; this landscape expects ({landscape.dim},)")
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        theta = theta.astype(jnp.float32)
    dtype = theta.dtype

    if layout is None and landscape.unravel is not None:
        layout = landscape.unravel(theta)
    slices = parameter_layout(theta, layout)
    if parameters not in PERTURB_NAMES:
        try:
            re.compile(parameters)
        except re.error as error:
            raise ConfigError(
                f"parameters={parameters!r} is neither one of {PERTURB_NAMES} nor a valid regular expression ({error})"
            ) from None
    chosen = tuple(s for s in slices if s.size and is_perturbed(s, parameters))
    if not chosen:
        raise ConfigError(
            f"no parameters are selected by parameters={parameters!r}; the leaves are: "
            f"{', '.join(s.path for s in slices)}"
        )
    n = landscape.dim
    indices = None
    if sum(s.size for s in chosen) < n:
        indices = np.concatenate([np.arange(s.start, s.stop) for s in chosen])
    size = n if indices is None else int(indices.size)

    whole = objective(landscape, None, dtype)
    if kind == "hessian":
        make = _hessian_product
    else:
        if apply is None or landscape.unravel is None:
            raise ConfigError(
                "the Gauss–Newton matrix needs the model's outputs: pass `apply` (the model's apply(params, x)) "
                "and a landscape built from a model (Landscape.from_apply or landform.landscape_from)"
            )
        loss_fn = get_loss(loss if loss is not None else landscape.loss_name)

        def make(_objective):
            return _gauss_newton_product(apply, landscape.unravel, loss_fn)

    width, examples = _chunking(landscape, make(whole), theta, width)
    chunks = objective(landscape, examples, dtype)
    single = _restricted(chunks.chunk_sum(make(chunks)), indices, n)
    options = dict(kind=kind, layout=layout, apply=apply, loss=loss, width=width)
    return CurvatureOperator(
        landscape=landscape,
        theta=theta,
        kind=kind,
        size=size,
        indices=indices,
        slices=chosen,
        width=width,
        examples=chunks.examples,
        product=_swap(_batched(single, width)),
        plain=_swap(single),
        arguments=(theta, *chunks.data),
        objective=chunks,
        _options=options,
    )


def _swap(product: Callable) -> Callable:
    """(v, θ, *data) argument order, as matfree calls matvec(v, *params)."""

    def swapped(v, theta, *data):
        return product(theta, v, *data)

    return swapped


def as_operator(target: Landscape | CurvatureOperator, **options) -> CurvatureOperator:
    """``target`` itself if it is an operator, else the Hessian of a landscape at its θ*."""
    if isinstance(target, CurvatureOperator):
        if options:
            raise ConfigError(f"options {sorted(options)} apply when a landscape is given; this is already an operator")
        return target
    if isinstance(target, Landscape):
        return curvature_operator(target, **options)
    raise TypeError(f"expected a Landscape or a CurvatureOperator, got {type(target).__name__}")


def hvp(landscape: Landscape, vector: jax.Array, theta: jax.Array | None = None, **options) -> jax.Array:
    """H v: the Hessian of the landscape's mean loss at θ (default θ*) times v (see :func:`curvature_operator`).

    Builds the operator on every call; to multiply many vectors, build it once with
    :func:`curvature_operator` and call its ``matvec``/``matmat``.
    """
    return curvature_operator(landscape, theta, **options).matvec(vector)
