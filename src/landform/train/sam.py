"""Sharpness-aware gradients: SAM and adaptive SAM (ASAM).

Both replace the gradient g = ∇L(θ) fed to the base optimiser by the gradient at a point
pushed uphill by ε:

    g_SAM = ∇L(θ + ε).

- SAM (Foret, Kleiner, Mobahi, Neyshabur 2021, "Sharpness-Aware Minimization for Efficiently
  Improving Generalization", ICLR): the first-order solution of max_{‖ε‖₂ ≤ ρ} L(θ + ε),

      ε = ρ · g / ‖g‖₂,

  with ‖·‖₂ the global L2 norm over all parameter leaves.

- ASAM (Kwon, Kim, Park, Choi 2021, "ASAM: Adaptive Sharpness-Aware Minimization for
  Scale-Invariant Learning of Deep Neural Networks", ICML): the maximum is taken over
  the ellipsoid ‖T⁻¹ε‖₂ ≤ ρ with the element-wise normalisation operator T = diag(|θ| + η), whose
  first-order solution is

      ε = ρ · T² g / ‖T g‖₂,   i.e.  ε_i = ρ (|θ_i| + η)² g_i / sqrt(Σ_j (|θ_j| + η)² g_j²).

  The offset η (default 0.01) keeps parameters at zero, such as freshly initialised biases,
  perturbable. Here η is added to every parameter; the authors' reference code scales only
  tensors named "weight" and leaves biases with T = 1.

In minibatch training g and ε come from each batch's loss, as in Foret et al. (m-sharpness with
m = batch size). Neither function updates anything: the optimiser applies the returned gradient (a SAM step
with plain SGD is θ ← θ − lr · g_SAM). This is the two-gradient form of the papers, not the
alternating-step design of ``optax.contrib.sam``. When g = 0 the perturbation is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Params = Any


def _global_norm(tree: Params) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in leaves))


def sam_perturbation(gradient: Params, params: Params, rho: float, adaptive: bool = False, eta: float = 0.01) -> Params:
    """The ascent step ε: ρ·g/‖g‖ (SAM) or ρ·T²g/‖Tg‖ with T = diag(``|θ|`` + η) (ASAM)."""
    if adaptive:
        scale = jax.tree_util.tree_map(lambda p: jnp.abs(p) + eta, params)
        scaled = jax.tree_util.tree_map(lambda t, g: t * g, scale, gradient)  # T g
        norm = _global_norm(scaled)
        direction = jax.tree_util.tree_map(lambda t, tg: t * tg, scale, scaled)  # T² g
    else:
        norm = _global_norm(gradient)
        direction = gradient
    factor = jnp.where(norm > 0, rho / jnp.where(norm > 0, norm, 1.0), 0.0)
    return jax.tree_util.tree_map(lambda d: (factor * d).astype(d.dtype), direction)


def sam_value_and_gradient(
    loss_fn: Callable[[Params], jax.Array],
    params: Params,
    rho: float,
    adaptive: bool = False,
    eta: float = 0.01,
) -> tuple[jax.Array, Params]:
    """``(L(θ), ∇L(θ + ε))``: the loss at θ (for logging) and the sharpness-aware gradient.

    Costs two gradient evaluations. See the module docstring for ε.
    """
    value, gradient = jax.value_and_grad(loss_fn)(params)
    epsilon = sam_perturbation(gradient, params, rho, adaptive, eta)
    perturbed = jax.tree_util.tree_map(lambda p, e: p + e, params, epsilon)
    return value, jax.grad(loss_fn)(perturbed)


def sam_gradient(
    loss_fn: Callable[[Params], jax.Array],
    params: Params,
    rho: float,
    adaptive: bool = False,
    eta: float = 0.01,
) -> Params:
    """The sharpness-aware gradient ∇L(θ + ε) to feed the base optimiser.

    SAM (Foret et al. 2021): ε = ρ·g/‖g‖₂ with g = ∇L(θ), ‖·‖₂ over all parameters.
    ASAM (``adaptive=True``, Kwon et al. 2021): ε = ρ·T²g/‖Tg‖₂ with T = diag(``|θ|`` + η).
    """
    return sam_value_and_gradient(loss_fn, params, rho, adaptive, eta)[1]
