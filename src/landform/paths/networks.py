"""The networks on a curve: from a point θ of the curve to a network, and evaluating many.

A point θ ∈ R^n of a curve (raw coordinates) is the network ``model.apply(unravel(c(θ)), x)``
with c the optional reparametrisation of :mod:`landform.paths.symmetry` (identity by default).
:class:`CurveModel` holds this recipe; the functions here evaluate the networks at many points
at once, with memory bounded by chunks of examples.

Loops and convolutions on CPU. XLA's CPU backend runs a convolution that sits inside a loop
body (``lax.scan``, ``lax.map``, ``while``) or a ``lax.cond`` branch on a slow generic path,
measured here at about 10× slower for LeNet-5 than the same convolution at the top level of a
jitted function (jax issue #12868). So every evaluation and the training loop have two forms:
``"scan"`` (loops inside one compiled program; the default for dense models and accelerators)
and ``"python"`` (a Python loop that calls one compiled step or one compiled chunk at a time;
used on CPU for models containing convolutions). ``loop="auto"`` chooses between them with
:func:`resolve_loop`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform import loops
from landform.flat import ravel
from landform.losses import Loss, correct
from landform.models.base import Model
from landform.paths.curves import Curve, check_dimension, evaluate
from landform.paths.symmetry import Reparametrisation, ascending_biases
from landform.train import engine
from landform.train.engine import LOOP_MODES  # noqa: F401 - re-exported
from landform.train.evaluate import Chunks, to_chunks  # noqa: F401 - re-exported for paths.training

PyTree = Any

# Rows (networks × examples) per vectorised evaluation; above it networks are evaluated a few at
# a time (batched GEMMs of different parameter vectors lose once each product is large, see
# landform.landscape.Landscape.choose_chunking).
SATURATING_ROWS = 2048


class CurveModel(NamedTuple):
    """How a point θ of a curve becomes a network: ``model.apply(unravel(constrain(θ)), x)``.

    ``reparametrisation`` is None (θ used as is) or the ascending-bias map of
    :mod:`landform.paths.symmetry`.
    """

    model: Model
    unravel: Callable[[jax.Array], PyTree]
    dim: int
    reparametrisation: Reparametrisation | None = None

    def params(self, theta: jax.Array) -> PyTree:
        """The parameter pytree of the network at raw flat point θ (shape (n,))."""
        if self.reparametrisation is not None:
            theta = self.reparametrisation.constrain(theta)
        return self.unravel(theta)

    def apply(self, theta: jax.Array, x: jax.Array) -> jax.Array:
        """Outputs of the network at raw flat point θ on inputs ``x``."""
        return self.model.apply(self.params(theta), x)


def make_curve_model(
    model: Model,
    *,
    symmetry: str | Sequence[str] | None = None,
    key: jax.Array | None = None,
) -> CurveModel:
    """The :class:`CurveModel` of ``model`` (parameter layout from ``model.init(key)``);
    ``symmetry`` ("first", "hidden" or bias leaf paths) adds ascending biases."""
    template = model.init(jax.random.key(0) if key is None else key)
    theta, unravel = ravel(template)
    reparametrisation = None if symmetry is None else ascending_biases(template, symmetry)
    return CurveModel(model, unravel, int(theta.shape[0]), reparametrisation)


def network_parameters(curve_model: CurveModel, curve: Curve, t) -> jax.Array:
    """Constrained flat parameters of the networks at ``t``: shape (T, n) (or (n,))."""
    check_dimension(curve, curve_model.dim, f"model {curve_model.model.name!r}")
    thetas = evaluate(curve, t)
    if curve_model.reparametrisation is not None:
        thetas = curve_model.reparametrisation.constrain(thetas)
    return thetas


def _traced(curve_model: CurveModel, x) -> tuple:
    """The network of ``curve_model`` and abstract arguments shaped like one example of ``x``."""
    example = jax.ShapeDtypeStruct((1, *np.shape(x)[1:]), jnp.asarray(x[:1]).dtype)
    theta = jax.ShapeDtypeStruct((curve_model.dim,), jnp.float32)
    return (lambda th, xs: curve_model.model.apply(curve_model.unravel(th), xs)), theta, example


def has_convolution(curve_model: CurveModel, x) -> bool:
    """Whether the model's computation on inputs shaped like ``x`` contains a convolution."""
    return loops.has_convolution(*_traced(curve_model, x))


def resolve_loop(loop: str, curve_model: CurveModel, x) -> str:
    """ "scan" or "python" for ``loop`` in :data:`LOOP_MODES`; "auto" is "python" on the CPU
    backend for models with convolutions (see the module docstring) and "scan" otherwise
    (:func:`landform.train.engine.resolve_loop`)."""
    return engine.resolve_loop(loop, *_traced(curve_model, x))


def network_losses(curve_model: CurveModel, loss: Loss, thetas: jax.Array, x, y, loop: str = "scan") -> jax.Array:
    """Mean loss over the batch (x, y) of the network at each row of ``thetas`` (M, n) of
    constrained flat parameters (see :func:`network_parameters`): shape (M,).

    ``loop="scan"``: networks are vectorised together while M·B stays below a few thousand
    rows, otherwise evaluated a few at a time (``lax.map`` with ``batch_size``).
    ``loop="python"``: the M networks are unrolled in the traced program (no loop body)."""
    count = thetas.shape[0]

    def one(theta):
        return jnp.mean(loss.per_example(curve_model.model.apply(curve_model.unravel(theta), x), y))

    if loop == "python" or count == 1:
        return jnp.stack([one(thetas[i]) for i in range(count)])
    width = max(1, min(count, SATURATING_ROWS // max(1, x.shape[0])))
    if width >= count:
        return jax.vmap(one)(thetas)
    return jax.lax.map(one, thetas, batch_size=width)


# ---------------------------------------------------------------------------------------------
# whole splits


def make_split_evaluator(curve_model: CurveModel, loss: Loss, loop: str) -> Callable[[jax.Array, Chunks], tuple]:
    """``evaluate(thetas (T, n), chunks) -> (mean loss (T,), accuracy (T,))`` over a whole split
    (accuracy NaN for regression losses); ``thetas`` are constrained flat parameters.

    "scan": one compiled program (``lax.map`` over networks and chunks); "python": a Python loop
    over networks and chunks around one compiled chunk evaluation."""
    kind = loss.accuracy_kind

    def chunk_sums(theta, x, y, mask):
        outputs = curve_model.model.apply(curve_model.unravel(theta), x)
        total = jnp.sum(jnp.where(mask, loss.per_example(outputs, y), 0.0))
        hits = jnp.zeros((), total.dtype) if kind is None else jnp.sum(jnp.where(mask, correct(outputs, y, kind), 0.0))
        return total, hits

    def finish(totals, hits, count):
        accuracy = hits / count if kind is not None else jnp.full(totals.shape, jnp.nan)
        return totals / count, accuracy

    if loop == "python":
        chunk_fn = jax.jit(chunk_sums)

        def evaluate_python(thetas, chunks: Chunks):
            rows = []
            for i in range(thetas.shape[0]):
                parts = [
                    chunk_fn(thetas[i], chunks.x[c], chunks.y[c], chunks.mask[c]) for c in range(chunks.x.shape[0])
                ]
                rows.append(jnp.sum(jnp.asarray(parts), axis=0))
            sums = jnp.stack(rows)
            return finish(sums[:, 0], sums[:, 1], chunks.count)

        return evaluate_python

    @jax.jit
    def evaluate_scan(thetas, chunks: Chunks):
        def one(theta):
            totals, hits = jax.lax.map(lambda c: chunk_sums(theta, *c), (chunks.x, chunks.y, chunks.mask))
            return jnp.sum(totals), jnp.sum(hits)

        totals, hits = jax.lax.map(one, thetas)
        return finish(totals, hits, chunks.count)

    return lambda thetas, chunks: evaluate_scan(thetas, chunks)


def make_output_evaluator(
    curve_model: CurveModel, loop: str, chunk_size: int
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``outputs(thetas (T, n), x (N, ...)) -> (T, N, ...)``: raw outputs of every network on
    every input, in chunks of ``chunk_size`` examples ("scan" or "python" as above)."""

    def padded(x):
        n = x.shape[0]
        size = min(chunk_size, n)
        chunks = -(-n // size)
        pad = chunks * size - n
        xp = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]) if pad else x
        return xp.reshape(chunks, size, *x.shape[1:]), n

    if loop == "python":
        apply = jax.jit(lambda theta, xc: curve_model.model.apply(curve_model.unravel(theta), xc))

        def outputs_python(thetas, x):
            xp, n = padded(jnp.asarray(x))
            rows = [
                jnp.concatenate([apply(thetas[i], xp[c]) for c in range(xp.shape[0])])[:n]
                for i in range(thetas.shape[0])
            ]
            return jnp.stack(rows)

        return outputs_python

    @jax.jit
    def outputs_scan(thetas, x):
        xp, n = padded(x)

        def one(theta):
            params = curve_model.unravel(theta)
            out = jax.lax.map(lambda xc: curve_model.model.apply(params, xc), xp)
            return out.reshape(-1, *out.shape[2:])[:n]

        return jax.lax.map(one, thetas)

    return lambda thetas, x: outputs_scan(thetas, jnp.asarray(x))
