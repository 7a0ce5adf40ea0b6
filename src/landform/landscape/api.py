"""The Landscape API: :class:`Landscape`, :class:`Span` and :func:`prefix_means`
(see :mod:`landform.landscape` for the quantities).

A :class:`Landscape` evaluates these quantities for one vector or for a batch of vectors
θ_1..θ_m at once. Batches are split into chunks over vectors and over examples so that the
working memory stays under ``memory_budget`` bytes; the chunk widths are chosen from the problem
size by the cost model of :mod:`landform.landscape.cost`.

Analytic functions of θ are landscapes too (:meth:`Landscape.from_function`), which is how the
estimators built on landscapes are validated against exact answers.

Points on a line or plane through θ* (rays of the volume estimate, grids of landscape views) are
evaluated through a :class:`Span`, which reuses the first layer's products when the model
provides a :class:`~landform.landscape.first_layer.FirstLayer` (see
:mod:`landform.landscape.first_layer`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, ShapeError, check_finite
from landform.flat import as_vectors, ravel
from landform.landscape.cost import Chunking, Cost, choose_chunking, span_vectors, traced_cost
from landform.landscape.first_layer import FirstLayer, _combine, _first_outputs_fn, _make_split, _span_fn, _Split
from landform.losses import Loss, check_compatible, correct, get_loss

PyTree = Any
#: Bytes of working memory a landscape's chunks may take unless told otherwise (1 GiB).
DEFAULT_MEMORY_BUDGET = 1 << 30


class Landscape:
    """The loss of a model on a dataset as a function of a flat parameter vector.

    Build one with :meth:`from_apply` (any ``apply(params, x)``; see
    :func:`landform.landscape_from` for Flax, NNX and Equinox models) or :meth:`from_function`.

    Landscapes evaluated outside JAX (:class:`landform.models.torch.TorchLandscape`) set the class
    attribute :attr:`differentiable` to False and say why in :attr:`not_differentiable`;
    :meth:`value_and_grad` then raises a :class:`ConfigError` with that message.

    Attributes:
        dim: n, the number of parameters.
        num_examples: N.
        theta: the flat parameters the landscape was built from (θ*), or ``None``.
        unravel: maps a flat vector back to the model's parameter pytree.
    """

    #: Whether JAX gradients of the loss exist (:meth:`value_and_grad`); False for landscapes
    #: evaluated by another framework.
    differentiable: bool = True
    #: The error message of :meth:`value_and_grad` on a landscape that is not differentiable.
    not_differentiable: str = "this landscape has loss values only (no JAX gradients)"

    def __init__(
        self,
        per_example: Callable[[jax.Array, Any, Any], jax.Array],
        *,
        dim: int,
        num_examples: int,
        x: Any = None,
        y: Any = None,
        theta: jax.Array | None = None,
        unravel: Callable[[jax.Array], PyTree] | None = None,
        correct_fn: Callable[[jax.Array, Any, Any], jax.Array] | None = None,
        loss_name: str = "function",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        chunkable_examples: bool = True,
        cost: Cost | None = None,
        split: _Split | None = None,
    ) -> None:
        if num_examples < 1:
            raise ShapeError("a landscape needs at least one example; the dataset is empty")
        if memory_budget <= 0:
            raise ConfigError(f"memory_budget must be a positive number of bytes, got {memory_budget}")
        self._per_example = per_example
        self._correct = correct_fn
        self.dim = int(dim)
        self.num_examples = int(num_examples)
        self.x, self.y = x, y
        self.theta = theta
        self.unravel = unravel
        self.loss_name = loss_name
        self.memory_budget = int(memory_budget)
        self._chunkable = chunkable_examples
        self._cost = cost or Cost(bytes_per_example=4.0, bytes_per_vector=4.0 * dim)
        self._split = split
        self._compiled: dict[Any, Callable] = {}

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_apply(
        cls,
        apply: Callable[[PyTree, jax.Array], jax.Array],
        params: PyTree,
        x,
        y,
        loss: str | Loss = "cross_entropy",
        *,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        expected_input_shape: Sequence[int] | None = None,
        first_layer: FirstLayer | None = None,
    ) -> Landscape:
        """A landscape of ``apply(params, x)`` under ``loss`` on examples ``(x, y)``.

        ``params`` is the point θ* the landscape is centred on (returned as ``.theta``); any
        vector of the same length can be evaluated. ``first_layer`` (e.g. ``model.first_layer``
        of a zoo model) lets lines and planes through θ* reuse the first layer's products
        (:meth:`span`); it is checked on a few examples and refused with an error if it does not
        reproduce ``apply`` or is not linear in the parameters.
        """
        loss = get_loss(loss)
        check_finite("landscape inputs", x)
        check_finite("landscape targets", y)
        x, y = jnp.asarray(x), jnp.asarray(y)
        if x.shape[0] != y.shape[0]:
            raise ShapeError(
                f"inputs and targets disagree on the number of examples: x has shape "
                f"{tuple(x.shape)}, y has shape {tuple(y.shape)}"
            )
        if expected_input_shape is not None and tuple(x.shape[1:]) != tuple(expected_input_shape):
            raise ShapeError(
                f"the model expects inputs of shape (N, {', '.join(map(str, expected_input_shape))}) "
                f"but the data has shape {tuple(x.shape)}"
            )
        theta, unravel = ravel(params)

        def per_example(vector, xs, ys):
            return loss.per_example(apply(unravel(vector), xs), ys)

        # Trace one example to catch shape mismatches now, with both shapes in the message.
        try:
            out = jax.eval_shape(per_example, theta, x[:1], y[:1])
        except (TypeError, ValueError) as e:
            raise ShapeError(
                f"the model could not be applied to the data: inputs have shape {tuple(x.shape)} "
                f"and targets {tuple(y.shape)}; the model or loss rejected them ({e})"
            ) from None
        outputs = jax.eval_shape(apply, params, x[:1])
        check_compatible(loss, outputs.shape, np.asarray(y))
        if out.shape != (1,):
            raise ShapeError(
                f"loss {loss.name!r} returned shape {out.shape} for one example; the model's outputs "
                f"and the targets (shape {tuple(y.shape)}) do not fit this loss"
            )

        correct_fn = None
        if loss.accuracy_kind is not None:

            def correct_fn(vector, xs, ys):
                return correct(apply(unravel(vector), xs), ys, loss.accuracy_kind)

        split = None if first_layer is None else _make_split(first_layer, apply, params, unravel, loss, x)

        cost = traced_cost(per_example, theta, x, y)
        return cls(
            per_example,
            dim=theta.shape[0],
            num_examples=x.shape[0],
            x=x,
            y=y,
            theta=theta,
            unravel=unravel,
            correct_fn=correct_fn,
            loss_name=loss.name,
            memory_budget=memory_budget,
            cost=cost,
            split=split,
        )

    @classmethod
    def from_function(
        cls,
        fn: Callable[[jax.Array], jax.Array],
        dim: int,
        *,
        per_example: bool = False,
        theta: jax.Array | None = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> Landscape:
        """A landscape from any JAX function of θ ∈ R^dim.

        ``fn(θ)`` returns a scalar (the landscape has one "example") or, with
        ``per_example=True``, a vector of N per-example values whose mean is the loss.
        """
        probe = jax.eval_shape(fn, jax.ShapeDtypeStruct((dim,), jnp.float32))
        if per_example:
            if len(probe.shape) != 1:
                raise ShapeError(f"per_example=True needs fn(θ) of shape (N,), got {probe.shape}")
            n_examples = probe.shape[0]

            def per_ex(vector, xs, ys):
                return fn(vector)
        else:
            if probe.shape != ():
                raise ShapeError(f"fn(θ) returned shape {probe.shape}; return a scalar, or pass per_example=True")
            n_examples = 1

            def per_ex(vector, xs, ys):
                return fn(vector)[None]

        return cls(
            per_ex,
            dim=dim,
            num_examples=n_examples,
            theta=None if theta is None else jnp.asarray(theta),
            loss_name="function",
            memory_budget=memory_budget,
            chunkable_examples=False,
            cost=Cost(bytes_per_example=4.0 * max(dim, 1), bytes_per_vector=16.0 * dim),
        )

    def subset(self, num_examples: int) -> Landscape:
        """The nested landscape of the first ``num_examples`` examples."""
        if not self._chunkable:
            raise ConfigError("a landscape built from a function has no examples to take a subset of")
        if not 1 <= num_examples <= self.num_examples:
            raise ConfigError(f"num_examples must be in 1..{self.num_examples}, got {num_examples}")
        return Landscape(
            self._per_example,
            dim=self.dim,
            num_examples=num_examples,
            x=self.x[:num_examples],
            y=self.y[:num_examples],
            theta=self.theta,
            unravel=self.unravel,
            correct_fn=self._correct,
            loss_name=self.loss_name,
            memory_budget=self.memory_budget,
            cost=self._cost,
            split=self._split,
        )

    def without_first_layer(self) -> Landscape:
        """The same landscape evaluated without reusing the first layer (plain evaluation)."""
        if self._split is None:
            return self
        return Landscape(
            self._per_example,
            dim=self.dim,
            num_examples=self.num_examples,
            x=self.x,
            y=self.y,
            theta=self.theta,
            unravel=self.unravel,
            correct_fn=self._correct,
            loss_name=self.loss_name,
            memory_budget=self.memory_budget,
            chunkable_examples=self._chunkable,
            cost=self._cost,
        )

    @property
    def cost(self) -> Cost:
        """Memory per evaluation (:class:`landform.landscape.cost.Cost`) behind :meth:`choose_chunking`."""
        return self._cost

    @property
    def reuses_first_layer(self) -> bool:
        """Whether points of a :meth:`span` reuse the first layer's products."""
        return self._split is not None

    def span(self, origin: jax.Array, basis: jax.Array) -> Span:
        """Points origin + Σ_j c_j·basis[row_j] of a few basis vectors (rays, planes); see :class:`Span`."""
        return Span(self, origin, basis)

    def span_bytes(self, num_basis: int = 1) -> int:
        """Memory a :meth:`span` keeps per ``num_basis`` basis vectors: N first-layer outputs each
        (0 for a landscape without first-layer reuse)."""
        if self._split is None:
            return 0
        return int(num_basis * self.num_examples * math.prod(self._split.shape) * 4)

    # ------------------------------------------------------------------ single vectors

    def loss(self, theta: jax.Array) -> jax.Array:
        """L(θ): mean loss over all examples (differentiable; chunked over examples)."""
        return self._mean_fn()(self._check_vector(theta))

    def value_and_grad(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        """L(θ) and ∇L(θ); a :class:`ConfigError` if the landscape is not :attr:`differentiable`."""
        if not self.differentiable:
            raise ConfigError(self.not_differentiable)
        return self._value_and_grad_fn()(self._check_vector(theta))

    def per_example(self, theta: jax.Array) -> jax.Array:
        """ℓ_i(θ) for every example, shape (N,)."""
        return self.per_example_batch(self._check_vector(theta)[None])[0]

    def prefix_losses(self, theta: jax.Array, sizes: Sequence[int]) -> jax.Array:
        """L_k(θ) = mean of the first k per-example losses, for each k in ``sizes``."""
        return self.prefix_losses_batch(self._check_vector(theta)[None], sizes)[0]

    def accuracy(self, theta: jax.Array) -> jax.Array:
        """Fraction of examples classified correctly at θ."""
        return jnp.mean(self.per_example_batch(self._check_vector(theta)[None], metric="correct")[0])

    # ------------------------------------------------------------------ batches of vectors

    def per_example_batch(
        self, thetas: jax.Array, *, metric: str = "loss", chunking: Chunking | None = None
    ) -> jax.Array:
        """Per-example values at each of θ_1..θ_m: shape (m, N).

        ``metric`` is "loss" or "correct" (1.0 where the prediction is right).
        """
        thetas = as_vectors(thetas, self.dim)
        chunking = chunking or self.choose_chunking(thetas.shape[0])
        self._check_chunking(chunking)
        return self._batch_fn(metric, chunking)(thetas)

    def loss_batch(self, thetas: jax.Array, *, chunking: Chunking | None = None) -> jax.Array:
        """L(θ_j) for each row of ``thetas``: shape (m,)."""
        return jnp.mean(self.per_example_batch(thetas, chunking=chunking), axis=1)

    def accuracy_batch(self, thetas: jax.Array, *, chunking: Chunking | None = None) -> jax.Array:
        return jnp.mean(self.per_example_batch(thetas, metric="correct", chunking=chunking), axis=1)

    def prefix_losses_batch(
        self, thetas: jax.Array, sizes: Sequence[int], *, metric: str = "loss", chunking: Chunking | None = None
    ) -> jax.Array:
        """Prefix means for every vector and size: shape (m, len(sizes))."""
        return _prefix_means_compiled(
            self.per_example_batch(thetas, metric=metric, chunking=chunking), tuple(int(k) for k in sizes)
        )

    # ------------------------------------------------------------------ chunk selection

    def choose_chunking(self, num_vectors: int) -> Chunking:
        """Chunk widths for evaluating ``num_vectors`` vectors within the memory budget.

        With N examples, vectors are evaluated together only while V·N stays below a few
        thousand rows (tiny products benefit from batching; large ones run best one vector at a
        time: on a 2-core CPU, vmap over 64 different vectors at 10,000 MNIST examples ran about
        2× slower than a sequential map). Example chunks are as large as the memory budget allows
        (:func:`landform.landscape.cost.choose_chunking` on this landscape's :attr:`cost`).
        """
        return choose_chunking(
            self._cost, self.memory_budget, self.num_examples, num_vectors, chunkable=self._chunkable
        )

    # ------------------------------------------------------------------ internals

    def _check_vector(self, theta) -> jax.Array:
        theta = jnp.asarray(theta)
        if theta.shape != (self.dim,):
            raise ShapeError(f"parameter vector has shape {tuple(theta.shape)}; this landscape expects ({self.dim},)")
        return theta

    def _check_chunking(self, chunking: Chunking) -> None:
        if chunking.vectors < 1 or chunking.examples < 1:
            raise ConfigError(f"chunk widths must be positive, got {chunking}")
        if not self._chunkable and chunking.examples != self.num_examples:
            raise ConfigError("a landscape built from a function cannot be chunked over examples")

    def _metric_fn(self, metric: str):
        if metric == "loss":
            return self._per_example
        if metric == "correct":
            if self._correct is None:
                raise ConfigError(f"accuracy is not defined for the {self.loss_name!r} loss (a regression loss)")
            return self._correct
        raise ConfigError(f"unknown metric {metric!r}; use 'loss' or 'correct'")

    def _chunked_data(self, examples: int):
        """The examples as (count, examples, ...) chunks, padded with copies of the first."""
        key = ("data", examples)
        if key not in self._compiled:
            n, x, y = self.num_examples, self.x, self.y
            if x is None or examples >= n:
                self._compiled[key] = (x, y)
            else:
                count = math.ceil(n / examples)
                pad = count * examples - n
                xs = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]) if pad else x
                ys = jnp.concatenate([y, jnp.repeat(y[:1], pad, axis=0)]) if pad else y
                self._compiled[key] = (
                    xs.reshape((count, examples) + x.shape[1:]),
                    ys.reshape((count, examples) + y.shape[1:]),
                )
        return self._compiled[key]

    def _examples_fn(self, metric: str, examples: int):
        """(θ, xs, ys) -> per-example values over all N examples, in chunks of ``examples``.

        The data are arguments, not constants baked into the compiled program, so landscapes
        of the same shapes share compiled code (and JAX's persistent cache can reuse it).
        """
        fn = self._metric_fn(metric)
        n = self.num_examples
        if self.x is None or examples >= n:
            return fn

        def over_chunks(vector, xs, ys):
            values = jax.lax.map(lambda chunk: fn(vector, chunk[0], chunk[1]), (xs, ys))
            return values.reshape(-1)[:n]

        return over_chunks

    def _batch_fn(self, metric: str, chunking: Chunking):
        key = ("batch", metric, chunking)
        if key not in self._compiled:
            one = self._examples_fn(metric, chunking.examples)
            data = self._chunked_data(chunking.examples)

            @jax.jit
            def run(thetas, xs, ys):
                if chunking.vectors >= thetas.shape[0]:
                    return jax.vmap(lambda t: one(t, xs, ys))(thetas)
                return jax.lax.map(lambda t: one(t, xs, ys), thetas, batch_size=chunking.vectors)

            self._compiled[key] = lambda thetas: run(thetas, *data)
        return self._compiled[key]

    def _mean_fn(self):
        if "mean" not in self._compiled:
            examples = self.choose_chunking(1).examples
            one = self._examples_fn("loss", examples)
            data = self._chunked_data(examples)
            run = jax.jit(lambda vector, xs, ys: jnp.mean(one(vector, xs, ys)))
            self._compiled["mean"] = lambda vector: run(vector, *data)
        return self._compiled["mean"]

    def _value_and_grad_fn(self):
        if "value_and_grad" not in self._compiled:
            examples = self.choose_chunking(1).examples
            one = self._examples_fn("loss", examples)
            data = self._chunked_data(examples)
            run = jax.jit(jax.value_and_grad(lambda vector, xs, ys: jnp.mean(one(vector, xs, ys))))
            self._compiled["value_and_grad"] = lambda vector: run(vector, *data)
        return self._compiled["value_and_grad"]

    def __repr__(self) -> str:
        return f"Landscape(dim={self.dim}, num_examples={self.num_examples}, loss={self.loss_name!r})"


def prefix_means(values: jax.Array, sizes: Sequence[int]) -> jax.Array:
    """Means of the first k entries along the last axis, for each k in ``sizes``.

    ``values`` has shape (..., N); the result has shape (..., len(sizes)) in the order of
    ``sizes``. Segment sums between consecutive sizes are accumulated separately, so each mean
    is as accurate as a direct ``mean(values[..., :k])``.
    """
    n = values.shape[-1]
    sizes = [int(k) for k in sizes]
    if not sizes:
        raise ConfigError("give at least one prefix size")
    bad = [k for k in sizes if not 1 <= k <= n]
    if bad:
        raise ConfigError(f"prefix sizes must lie in 1..{n} (the number of examples); got {bad}")
    bounds = sorted(set(sizes))
    edges = [0] + bounds
    segments = jnp.stack([jnp.sum(values[..., a:b], axis=-1) for a, b in zip(edges[:-1], edges[1:])], axis=-1)
    sums = jnp.cumsum(segments, axis=-1)
    order = [bounds.index(k) for k in sizes]
    return sums[..., order] / jnp.asarray(sizes, dtype=values.dtype)


_prefix_means_compiled = jax.jit(prefix_means, static_argnums=1)


class Span:
    """Points θ_p = origin + Σ_j c_pj · basis[r_pj] of a few basis vectors, evaluated on the first
    ``size`` examples of a landscape.

    Rays θ* + r·d_i are points with one term (row i, coefficient r); a plane θ* + a·d_1 + b·d_2 is
    points with two. When the landscape reuses its first layer (:class:`FirstLayer`), the span
    computes z_1(origin) and z_1(basis[j]) once over all N examples (memory: one N × width array
    per basis vector, :meth:`Landscape.span_bytes`) and each point then costs only the rest of the
    network: z_1(θ_p) = z_1(origin) + Σ_j c_pj z_1(basis[r_pj]). Otherwise points are evaluated
    as plain vectors (:meth:`Landscape.per_example_batch`). Both give the same values up to float
    rounding.
    """

    def __init__(self, landscape: Landscape, origin: jax.Array, basis: jax.Array) -> None:
        origin = landscape._check_vector(origin)
        basis = jnp.asarray(basis, origin.dtype)
        if basis.ndim == 1:
            basis = basis[None]
        if basis.ndim != 2 or basis.shape[1] != landscape.dim:
            raise ShapeError(
                f"span basis has shape {tuple(basis.shape)}; expected (k, {landscape.dim}) vectors of this landscape"
            )
        self.landscape = landscape
        self.origin = origin
        self.basis = basis
        self._z = None
        if landscape._split is not None:
            n = landscape.num_examples
            examples = landscape.choose_chunking(1).examples if landscape.x is not None else n
            self._examples = min(examples, n)
            count = math.ceil(n / self._examples)
            self._padded = count * self._examples
            vectors = span_vectors(landscape._cost, landscape.memory_budget, self._examples, basis.shape[0])
            key = ("span-first", self._examples, vectors)
            if key not in landscape._compiled:
                landscape._compiled[key] = _first_outputs_fn(landscape._split.first, self._padded, vectors)
            xs, ys = landscape._chunked_data(self._examples)
            if count == 1:
                xs, ys = xs[None], ys
            else:
                ys = ys.reshape((self._padded,) + ys.shape[2:])
            self._ys = ys
            self._z = landscape._compiled[key](origin, basis, xs)

    def per_example(self, rows: Any, coefficients: Any, *, metric: str = "loss", size: int | None = None) -> jax.Array:
        """Per-example values (P, size) at the points; ``rows`` and ``coefficients`` are (P,) for
        one term per point or (P, m) for m terms; ``size`` (default N) takes the first examples."""
        land = self.landscape
        size = land.num_examples if size is None else int(size)
        if not 1 <= size <= land.num_examples:
            raise ConfigError(f"size must be in 1..{land.num_examples}, got {size}")
        rows = jnp.asarray(rows, jnp.int32)
        coefficients = jnp.asarray(coefficients, self.origin.dtype)
        if rows.ndim == 1:
            rows, coefficients = rows[:, None], coefficients[:, None]
        if rows.shape != coefficients.shape or rows.ndim != 2:
            raise ShapeError(f"rows {tuple(rows.shape)} and coefficients {tuple(coefficients.shape)} must match")
        if self._z is None:
            target = land
            if size < land.num_examples:  # kept on the landscape, so its compiled functions are reused
                target = land._compiled.get(("subset", size))
                if target is None:
                    target = land._compiled[("subset", size)] = land.subset(size)
            thetas = _combine(self.origin, self.basis, rows, coefficients)
            return target.per_example_batch(thetas, metric=metric)
        if metric not in land._split.metrics:
            land._metric_fn(metric)  # raises the plain path's error
            raise ConfigError(f"metric {metric!r} is not available through the first-layer split")
        examples = min(self._examples, size)
        count = math.ceil(size / examples)
        vectors = span_vectors(land._cost, land.memory_budget, size, rows.shape[0])
        key = ("span", metric, size, examples, count, vectors)
        if key not in land._compiled:
            land._compiled[key] = _span_fn(land._split.metrics[metric], size, examples, count, vectors)
        z0, zb = self._z
        return land._compiled[key](self.origin, self.basis, z0, zb, self._ys, rows, coefficients)
