"""Behavioural landscapes: how far a model's predictions move from those of θ*.

For a model with a predictive distribution p_θ(· | x) (a classifier's softmax, a language
model's next-token distribution at every position), a centre θ* and inputs x_1..x_N,

    ℓ_i(θ) = (1/P) Σ_p KL(p_θ*(· | x_i, p) ‖ p_θ(· | x_i, p)),     L(θ) = (1/N) Σ_i ℓ_i(θ),

where p runs over the P positions of an example (the tokens of a sequence; P = 1 for a
classifier). L(θ*) = 0 and ∇L(θ*) = 0 (the KL divergence is minimal where the distributions
agree), L ≥ 0 everywhere, and no labels are needed. Its sublevel set {θ : L(θ) ≤ τ} is the
*behavioural basin* of θ* with KL cutoff τ, the basin the basin-volume project measures for
language models (Scherlis & Belrose 2025, "Estimating the Probability of Sampling a Trained
Neural Network at Random", arXiv 2501.18812). A behavioural landscape is an ordinary
:class:`~landform.landscape.Landscape`, so exit radii, thresholds, estimators, views and (with
JAX gradients) curvature all work on it with a KL cutoff as the threshold. Its accuracy is
*agreement*: the fraction of positions where θ's most probable outcome is θ*'s.

θ*'s outputs are computed once and kept as the landscape's targets (log p*, or the logits of a
Bernoulli model) when they take at most half the memory budget; the landscape's chunks then use
the rest of the budget. Otherwise θ*'s outputs are recomputed beside θ's in every chunk, which
costs one more forward pass per evaluation but no memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from landform.errors import ConfigError, ShapeError, check_finite
from landform.flat import ravel
from landform.landscape import DEFAULT_MEMORY_BUDGET, FirstLayer, Landscape, traced_cost
from landform.losses import DISTRIBUTIONS, behavioural_loss, correct

PyTree = Any


def reference_targets(outputs: jax.Array, distribution: str = "categorical") -> jax.Array:
    """What a behavioural loss compares against, from θ*'s raw outputs: log softmax(z*) over
    the last axis (categorical) or the logits z* themselves (bernoulli)."""
    if distribution == "categorical":
        return jax.nn.log_softmax(outputs.astype(jnp.result_type(outputs, jnp.float32)), axis=-1)
    if distribution == "bernoulli":
        return outputs
    behavioural_loss(distribution)  # raises the unknown-name error
    raise AssertionError  # pragma: no cover


def cache_fits(reference_bytes: int, memory_budget: int) -> bool:
    """Whether θ*'s targets of ``reference_bytes`` are kept: at most half of ``memory_budget``."""
    return 2 * int(reference_bytes) <= int(memory_budget)


def behavioural_landscape(
    apply: Callable[[PyTree, jax.Array], jax.Array],
    params: PyTree,
    x: Any,
    *,
    distribution: str = "categorical",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    cache: bool | None = None,
    first_layer: FirstLayer | None = None,
) -> Landscape:
    """The behavioural landscape L(θ) = mean KL(p_θ* ‖ p_θ) of ``apply`` around θ* = ``params``
    on the inputs ``x`` (see the module docstring).

    Args:
        apply: ``apply(params, x) -> outputs``: logits (N, ..., C) of a categorical distribution
            (a language model's (N, T, V)), or one logit per output for ``"bernoulli"``.
        params: θ*, the centre; the landscape's ``theta``.
        x: the inputs (N, ...): token sequences or examples. No targets are needed.
        distribution: "categorical" or "bernoulli".
        memory_budget: bytes; θ*'s targets are cached when they take at most half of it, and
            the landscape's chunks get what is left.
        cache: force (True) or forbid (False) the cache; None decides from the budget. Forcing a
            cache larger than the budget is a :class:`ConfigError`.
        first_layer: as in :meth:`Landscape.from_apply` (only with the cache).
    """
    if distribution not in DISTRIBUTIONS:
        behavioural_loss(distribution)  # raises UnknownNameError listing the distributions
    loss = behavioural_loss(distribution)
    check_finite("landscape inputs", x)
    x = jnp.asarray(x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ShapeError(f"a behavioural landscape needs at least one input; got inputs of shape {tuple(x.shape)}")
    theta, unravel = ravel(params)
    try:
        out = jax.eval_shape(apply, params, x[:1])
    except (TypeError, ValueError) as error:
        raise ShapeError(f"the model could not be applied to inputs of shape {tuple(x.shape)} ({error})") from None
    if distribution == "categorical" and (len(out.shape) < 2 or out.shape[-1] < 2):
        raise ShapeError(
            f"a categorical predictive distribution needs logits over at least two outcomes on the last axis; "
            f"the model outputs shape {tuple(out.shape)} per example (use distribution='bernoulli' for one logit)"
        )
    n = int(x.shape[0])
    reference_bytes = n * math.prod(out.shape[1:]) * 4
    keep = cache_fits(reference_bytes, memory_budget) if cache is None else bool(cache)
    if keep and reference_bytes >= memory_budget:
        raise ConfigError(
            f"θ*'s outputs on {n} inputs take {reference_bytes / 2**20:.0f} MiB, more than the memory budget "
            f"({memory_budget / 2**20:.0f} MiB); raise memory_budget or pass cache=None to recompute them per chunk"
        )

    def target(vector, xs):
        return reference_targets(apply(unravel(vector), xs), distribution)

    def both(vector, xs):  # θ's loss against θ*'s outputs computed alongside: the costlier form
        return loss.per_example(apply(unravel(vector), xs), target(vector, xs))

    cost = traced_cost(both, theta, x)
    if keep:
        targets = _reference(target, theta, x, memory_budget, cost.bytes_per_example, cost.bytes_per_vector)
        budget = max(int(memory_budget) - reference_bytes, 1)
        return Landscape.from_apply(apply, params, x, targets, loss, memory_budget=budget, first_layer=first_layer)
    if first_layer is not None:
        raise ConfigError(
            "first-layer reuse needs θ*'s outputs cached; raise memory_budget (or pass cache=True) or drop first_layer"
        )
    centre = theta

    def per_example(vector, xs, _):
        return loss.per_example(apply(unravel(vector), xs), target(centre, xs))

    def agreement(vector, xs, _):
        return correct(apply(unravel(vector), xs), target(centre, xs), loss.accuracy_kind)

    return Landscape(
        per_example,
        dim=theta.shape[0],
        num_examples=n,
        x=x,
        y=jnp.zeros((n,), jnp.float32),
        theta=theta,
        unravel=unravel,
        correct_fn=agreement,
        loss_name=loss.name,
        memory_budget=memory_budget,
        cost=cost,
    )


def _reference(target, theta, x, budget: int, per_example_bytes: float, vector_bytes: float) -> jax.Array:
    """θ*'s targets on every input, in chunks of examples that fit ``budget``."""
    n = int(x.shape[0])
    examples = int(max(1, min(n, (budget - vector_bytes) // max(per_example_bytes, 1))))
    count = math.ceil(n / examples)
    examples = math.ceil(n / count)
    pad = count * examples - n
    xs = jnp.concatenate([x, jnp.repeat(x[:1], pad, axis=0)]) if pad else x
    xs = xs.reshape((count, examples) + x.shape[1:])
    values = jax.jit(lambda t, xs: jax.lax.map(lambda chunk: target(t, chunk), xs))(theta, xs)
    values = values.reshape((count * examples,) + values.shape[2:])[:n]
    if not bool(jnp.all(jnp.isfinite(values))):
        raise ConfigError("θ*'s outputs are not finite on some inputs; check the parameters (NaN or inf)")
    return values
