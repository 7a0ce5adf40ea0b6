"""The local learning coefficient (LLC) of a minimum, by localised SGLD.

Lau, Furman, Wang, Murfet, Wei 2023 ("Quantifying degeneracy in singular models via the
learning coefficient", arXiv 2308.12108) estimate the learning coefficient λ (Watanabe's real
log canonical threshold, RLCT) of a neighbourhood of w* by

    λ̂(w*) = nβ · (E_w[L_n(w)] − L_n(w*)),

where L_n is the mean loss (negative log-likelihood) over n examples and w is drawn from the
localised tempered posterior p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²) at inverse temperature
β = 1 / log n (the default; Watanabe's WBIC temperature). The estimator is a volume-scaling
exponent: near w*, Vol{w : L_n(w) − L_n(w*) < ε} ~ c ε^λ (log 1/ε)^(m−1). For a regular model
with d parameters λ = d/2; for singular models λ < d/2. λ̂ is large when the minimum is sharp in
many directions, small when it is flat or degenerate.

Sampling. Chain c starts at w* and takes stochastic-gradient Langevin steps (Welling, Teh 2011)
with BlackJAX's ``sgld`` kernel (step ε, temperature 1):

    w ← w + ε · (−nβ ∇L̂(w) − γ (w − w*)) + sqrt(2ε) ξ,   ξ ~ N(0, I),

with ∇L̂ the gradient over a minibatch of ``batch_size`` examples drawn with replacement (all
examples when ``batch_size`` is None: no minibatch noise). The loss L̂(w_t) of the same
minibatch at each step is recorded; after ``burn_in`` steps its mean estimates E_w[L_n(w)].
Chain c's randomness comes from ``fold_in(key, c)``.

Step size. The Euler scheme is stable while ε (nβ λ_max + γ) < 2, with λ_max the top Hessian
eigenvalue at w*, and its stationary variance along an eigendirection of curvature a is
inflated by 1 / (1 − εa/2). By default ε = 0.05 / (nβ λ_max + γ) (λ_max by Lanczos), which
keeps that bias below 2.5 %.

Diagnostics (the ones devinterp users look at): the per-chain loss traces and their effective
sample sizes (BlackJAX's ``effective_sample_size``, Geyer's initial monotone sequence); a chain
*drifts* when the mean loss of the second half of its kept draws differs from the first half's
by more than ``drift_tolerance`` standard deviations of the second half (the loss is still
trending, or the chain wandered into another basin; in a stationary chain with E effective
samples per half the difference is about sqrt(2/E) of a standard deviation), and is
*undersampled* when its kept draws hold fewer than 20 effective samples; a chain *diverges*
when its loss becomes non-finite; and a *negative* estimate means the chains found lower loss
than at w* (w* is not a local minimum, or the step is too large). Each raises a
:class:`LLCWarning` and sets a flag in the result.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.diagnostics import effective_sample_size

from landform.curvature.operator import as_key, loss_and_gradient
from landform.curvature.spectrum import top_eigenvalues
from landform.errors import ConfigError
from landform.landscape import Landscape

#: Effective samples a chain's kept draws need (fewer are reported as undersampled).
MIN_EFFECTIVE_SAMPLES = 20


class LLCWarning(UserWarning):
    """The LLC's chains drifted or diverged, or the estimate is negative (see :class:`LLCEstimate`)."""


class LLCEstimate(NamedTuple):
    """A local learning coefficient estimate and its diagnostics.

    Attributes:
        llc: λ̂, the mean over chains of nβ (mean kept loss − L_n(w*)).
        standard_error: std over chains / sqrt(chains) (NaN for one chain).
        per_chain: (C,) λ̂ of each chain.
        loss_traces: (C, steps) the loss L̂(w_t) at every step of every chain (burn-in included).
        loss_at_center: L_n(w*).
        num_examples: n.
        beta: β.
        gamma: γ, the strength of the tether to w*.
        step_size: ε.
        burn_in: steps discarded at the start of each chain.
        batch_size: examples per gradient (None: all, exact gradients).
        drifting: (C,) True for each chain whose ``drift`` exceeds the tolerance.
        undersampled: (C,) True for each chain whose kept draws hold fewer than
            :data:`MIN_EFFECTIVE_SAMPLES` effective samples.
        effective_samples: (C,) effective sample size of each chain's kept loss trace.
        drift: (C,) ``|mean of the second half − mean of the first half|`` of the kept loss trace, in
            standard deviations of the second half; NaN for a chain that diverged.
        diverged: True if any loss became non-finite.
        negative: True if λ̂ < 0.
        messages: the warnings raised, as text.
    """

    llc: float
    standard_error: float
    per_chain: np.ndarray
    loss_traces: np.ndarray
    loss_at_center: float
    num_examples: int
    beta: float
    gamma: float
    step_size: float
    burn_in: int
    batch_size: int | None
    drifting: np.ndarray
    undersampled: np.ndarray
    effective_samples: np.ndarray
    drift: np.ndarray
    diverged: bool
    negative: bool
    messages: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        """True when any diagnostic fired (drift, too few samples, divergence or a negative estimate)."""
        return bool(self.drifting.any() or self.undersampled.any() or self.diverged or self.negative)


@jax.jit
def _effective_sizes(traces: jax.Array) -> jax.Array:
    """Effective sample size of each row (one chain each) of ``traces``."""
    return jax.vmap(lambda trace: effective_sample_size(trace[None]))(traces)


def _stationarity(kept: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(effective sample size, drift) of each chain's kept trace (NaN where not finite)."""
    half = kept.shape[1] // 2
    clean = np.where(finite[:, None], kept, 0.0)
    effective = np.asarray(_effective_sizes(jnp.asarray(clean)), np.float64)
    late = clean[:, half:]
    spread = late.std(axis=1)
    shift = np.abs(late.mean(axis=1) - clean[:, :half].mean(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        drift = np.where(spread > 0, shift / spread, np.where(shift > 0, np.inf, 0.0))
    return np.where(finite, effective, np.nan), np.where(finite, drift, np.nan)


def default_step_size(
    landscape: Landscape, theta: jax.Array, nbeta: float, gamma: float, *, key: jax.Array | int = 0
) -> float:
    """ε = 0.05 / (nβ λ_max + γ), with λ_max the top Hessian eigenvalue at θ (Lanczos, 20 steps)."""
    top = top_eigenvalues(landscape, 1, iterations=min(20, landscape.dim), theta=theta, key=key).values[0]
    return 0.05 / (nbeta * max(float(top), 0.0) + gamma)


def local_learning_coefficient(
    landscape: Landscape,
    theta: jax.Array | None = None,
    *,
    chains: int = 4,
    steps: int = 1000,
    burn_in: int | None = None,
    step_size: float | None = None,
    gamma: float = 100.0,
    beta: float | None = None,
    batch_size: int | None = None,
    num_examples: int | None = None,
    drift_tolerance: float = 1.0,
    key: jax.Array | int = 0,
    warn: bool = True,
) -> LLCEstimate:
    """The local learning coefficient λ̂ at θ (default θ*) by localised SGLD (see the module docstring).

    Args:
        landscape: the landscape whose mean loss is L_n.
        theta: w*, the minimum (default: the landscape's θ*).
        chains: C chains, sampled together (vmap).
        steps: SGLD steps per chain, burn-in included.
        burn_in: steps discarded (default a quarter of ``steps``).
        step_size: ε (default 0.05 / (nβ λ_max + γ)).
        gamma: γ, the tether's strength.
        beta: β (default 1 / log n).
        batch_size: examples per stochastic gradient (default, or at least n: all, exact gradients).
        num_examples: n in nβ and 1/log n (default the landscape's number of examples; give it
            for a landscape built from a function, which has one).
        drift_tolerance: the drift diagnostic's threshold, in standard deviations.
        key: chain c uses ``fold_in(key, c)``.
        warn: raise :class:`LLCWarning` when a diagnostic fires (the flags are set either way).
    """
    theta = landscape.theta if theta is None else theta
    if theta is None:
        raise ConfigError("this landscape has no θ* to estimate the LLC at: pass `theta`")
    theta = jnp.asarray(theta)
    n = int(num_examples or landscape.num_examples)
    if n < 2:
        raise ConfigError(
            f"the LLC needs the number of examples n ≥ 2 (nβ and β = 1/log n); got n = {n}: pass num_examples"
        )
    if chains < 1 or steps < 2:
        raise ConfigError(f"give at least one chain and two steps, got chains={chains}, steps={steps}")
    burn_in = steps // 4 if burn_in is None else int(burn_in)
    if not 0 <= burn_in <= steps - 2:
        raise ConfigError(f"burn_in must lie in 0..{steps - 2} (steps − 2), got {burn_in}")
    if gamma < 0:
        raise ConfigError(f"gamma must be non-negative, got {gamma}")
    beta = 1.0 / math.log(n) if beta is None else float(beta)
    if not beta > 0:
        raise ConfigError(f"beta must be positive, got {beta}")
    nbeta = n * beta
    key = as_key(key)
    if step_size is None:
        step_size = default_step_size(landscape, theta, nbeta, gamma, key=jax.random.fold_in(key, chains))
    if not step_size > 0:
        raise ConfigError(f"step_size must be positive, got {step_size}")

    if batch_size is not None and landscape.x is not None and batch_size >= landscape.num_examples:
        batch_size = None  # a batch of all the examples: exact gradients
    full_value_and_grad, data = loss_and_gradient(landscape, theta, width=chains)
    center = float(full_value_and_grad(theta, *data)[0])
    if batch_size is None:
        value_and_grad = full_value_and_grad
        arrays = data
    else:
        if landscape.x is None:
            raise ConfigError("a landscape built from a function has no examples to draw minibatches from")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be a positive number of examples, got {batch_size}")
        per_example = landscape._examples_fn("loss", landscape.num_examples)
        arrays = (landscape.x, landscape.y)

        def value_and_grad(w, x, y, batch):
            return jax.value_and_grad(lambda t: jnp.mean(per_example(t, x[batch], y[batch])))(w)

    sgld = blackjax.sgld(lambda position, gradient: gradient)  # the gradient is computed beside the loss

    @jax.jit
    def sample(key, center_point, *arrays):
        def chain(chain_key):
            def step(position, index):
                step_key = jax.random.fold_in(chain_key, index)
                if batch_size is None:
                    loss, gradient = value_and_grad(position, *arrays)
                else:
                    batch = jax.random.randint(jax.random.fold_in(step_key, 1), (batch_size,), 0, arrays[0].shape[0])
                    loss, gradient = value_and_grad(position, *arrays, batch)
                log_density_gradient = -(nbeta * gradient + gamma * (position - center_point))
                position = sgld.step(jax.random.fold_in(step_key, 0), position, log_density_gradient, step_size)
                return position, loss

            return jax.lax.scan(step, sgld.init(center_point), jnp.arange(steps))[1]

        keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(jnp.arange(chains))
        return jax.vmap(chain)(keys)

    traces = np.asarray(sample(key, theta, *arrays), np.float64)
    kept = traces[:, burn_in:]
    finite = np.all(np.isfinite(traces), axis=1)
    diverged = not bool(finite.all())
    with np.errstate(invalid="ignore", over="ignore"):
        per_chain = nbeta * (kept.mean(axis=1) - center)
    effective, drift = _stationarity(kept, finite)
    drifting = drift > drift_tolerance
    undersampled = finite & (effective < MIN_EFFECTIVE_SAMPLES)
    llc = float(np.mean(per_chain))
    error = float(np.std(per_chain, ddof=1) / np.sqrt(chains)) if chains > 1 else float("nan")
    negative = bool(llc < 0)
    messages = []
    if diverged:
        messages.append(
            f"the loss became non-finite in the SGLD chains: use a smaller step_size than {step_size:.3g} "
            "or a stronger tether (gamma)"
        )
    if drifting.any():
        messages.append(
            f"{int(drifting.sum())} of {chains} chains drift (the mean loss of the second half of the kept draws "
            f"differs from the first half's by more than {drift_tolerance} standard deviations of the second half): "
            "take more steps or a longer burn-in, a smaller step_size, or a larger gamma"
        )
    if undersampled.any():
        messages.append(
            f"{int(undersampled.sum())} of {chains} chains have fewer than {MIN_EFFECTIVE_SAMPLES} effective "
            "samples in their kept draws: take more steps (or a larger step_size) for a reliable mean"
        )
    if negative:
        messages.append(
            f"the LLC estimate is negative ({llc:.3g}): the chains found lower loss than at w*, so w* is not a "
            "local minimum of this landscape, or the step size is too large"
        )
    if warn:
        for message in messages:
            warnings.warn(message, LLCWarning, stacklevel=2)
    return LLCEstimate(
        llc=llc,
        standard_error=error,
        per_chain=per_chain,
        loss_traces=traces,
        loss_at_center=center,
        num_examples=n,
        beta=beta,
        gamma=float(gamma),
        step_size=float(step_size),
        burn_in=burn_in,
        batch_size=batch_size,
        drifting=drifting,
        undersampled=undersampled,
        effective_samples=effective,
        drift=drift,
        diverged=diverged,
        negative=negative,
        messages=tuple(messages),
    )
