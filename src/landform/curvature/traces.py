"""Traces and diagonals of the curvature by Hutchinson-type estimators.

Hutchinson (1989, "A stochastic estimator of the trace of the influence matrix for Laplacian
smoothing splines"): for probes v with E[v vᵀ] = I (Rademacher signs here),

    tr(A) = E[vᵀ A v],   diag(A) = E[v ⊙ A v],   tr(A²) = ‖A‖_F² = E[‖A v‖²],

estimated by the mean over P probes with standard error std / sqrt(P) (Bekas, Kokiopoulou,
Saad 2007, "An estimator for the diagonal of a matrix", for the diagonal). One product A v_i
per probe gives all three. Probe i is Rademacher(fold_in(key, i)), so estimates do not depend
on how many probes are multiplied together. For Rademacher probes the variance of vᵀ A v is
2 (‖A‖_F² − Σ_i A_ii²): a diagonal matrix has an exact trace and diagonal from one probe.

Variance-reduced: ``method="xtrace"`` uses XTrace / XDiag (Epperly, Tropp, Webber 2024, "XTrace:
making the most of every sample in stochastic trace estimation", SIAM J. Matrix Anal. Appl.
45(1)) through matfree: the probes' products build a low-rank approximation whose trace is
exact, Hutchinson's estimator handles the rest, and each probe is left out in turn so that every
probe serves both parts; its standard error is the spread of the leave-one-out estimates. It
pays off when a few eigenvalues dominate (the usual Hessian spectrum), needs Gaussian probes
and holds four (probes × m) arrays, so use it with tens to hundreds of probes.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.curvature._matfree import xdiag, xtrace
from landform.curvature.operator import CurvatureOperator, as_key, as_operator
from landform.errors import ConfigError
from landform.landscape import Landscape

METHOD_NAMES = ("hutchinson", "xtrace")


class Estimate(NamedTuple):
    """A stochastic estimate and its standard error (arrays for a diagonal)."""

    value: float | np.ndarray
    standard_error: float | np.ndarray
    probes: int
    method: str


class HutchinsonEstimate(NamedTuple):
    """tr(A), tr(A²) and (optionally) diag(A) from one set of probes; ``samples`` are vᵢᵀ A vᵢ."""

    trace: Estimate
    trace_of_square: Estimate
    diagonal: Estimate | None
    samples: np.ndarray


def hutchinson(
    target: Landscape | CurvatureOperator,
    probes: int = 100,
    *,
    key: jax.Array | int = 0,
    diagonal: bool = False,
    **options,
) -> HutchinsonEstimate:
    """Hutchinson estimates of tr(A), tr(A²) = ‖A‖_F² and, with ``diagonal``, diag(A).

    Args:
        target: a landscape (its Hessian at θ*; ``options`` go to
            :func:`landform.curvature.curvature_operator`) or a :class:`CurvatureOperator`.
        probes: P Rademacher probes; probe i is drawn from ``fold_in(key, i)``.
        diagonal: also estimate the diagonal (m values and their standard errors).
    """
    operator = as_operator(target, **options)
    if probes < 2:
        raise ConfigError(f"give at least 2 probes (for a standard error), got {probes}")
    key = as_key(key)
    size, dtype = operator.size, operator.dtype
    width = min(operator.width, probes)
    count = -(-probes // width)
    cache = ("hutchinson", probes, diagonal)
    if cache not in operator._compiled:

        def run(key, *arguments):
            def one(index):
                probe = jax.random.rademacher(jax.random.fold_in(key, index), (size,), dtype)
                product = operator.product(probe, *arguments)
                return probe @ product, product @ product, probe * product

            def batch(totals, indices):
                forms, squares, diagonals = jax.vmap(one)(indices)
                valid = (indices < probes).astype(dtype)
                if diagonal:
                    totals = (
                        totals[0] + jnp.einsum("p,pm->m", valid, diagonals),
                        totals[1] + jnp.einsum("p,pm->m", valid, diagonals**2),
                    )
                return totals, (forms, squares)

            zero = (jnp.zeros((size,), dtype), jnp.zeros((size,), dtype)) if diagonal else ()
            indices = jnp.arange(count * width).reshape(count, width)
            totals, (forms, squares) = jax.lax.scan(batch, zero, indices)
            return totals, forms.reshape(-1)[:probes], squares.reshape(-1)[:probes]

        operator._compiled[cache] = jax.jit(run)
    totals, forms, squares = operator._compiled[cache](key, *operator.arguments)
    forms, squares = np.asarray(forms, np.float64), np.asarray(squares, np.float64)
    root = np.sqrt(probes)
    trace = Estimate(float(forms.mean()), float(forms.std(ddof=1) / root), probes, "hutchinson")
    square = Estimate(float(squares.mean()), float(squares.std(ddof=1) / root), probes, "hutchinson")
    diag = None
    if diagonal:
        total, total_sq = (np.asarray(t, np.float64) for t in totals)
        mean = total / probes
        variance = np.maximum(total_sq - probes * mean**2, 0.0) / (probes - 1)
        diag = Estimate(mean, np.sqrt(variance) / root, probes, "hutchinson")
    return HutchinsonEstimate(trace, square, diag, forms)


def _gaussian_sampler(operator: CurvatureOperator, probes: int):
    def sample(key):
        return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (operator.size,), operator.dtype))(
            jnp.arange(probes)
        )

    return sample


def _check_xtrace(operator: CurvatureOperator, probes: int) -> None:
    if not 2 <= probes <= operator.size:
        raise ConfigError(f"XTrace needs 2 to {operator.size} (the operator's size) probes, got {probes}")
    needed = 4 * probes * operator.size * jnp.dtype(operator.dtype).itemsize
    if needed > operator.landscape.memory_budget:
        raise ConfigError(
            f"XTrace with {probes} probes holds {needed / 1e9:.2f} GB of (probes × parameters) arrays, over the "
            f"memory budget of {operator.landscape.memory_budget / 1e9:.2f} GB: use fewer probes, restrict "
            "`parameters`, or method='hutchinson'"
        )


def trace(
    target: Landscape | CurvatureOperator,
    probes: int = 100,
    *,
    method: str = "hutchinson",
    key: jax.Array | int = 0,
    **options,
) -> Estimate:
    """tr(A) of the curvature with its standard error (``method``: "hutchinson" or "xtrace").

    See the module docstring; ``options`` go to :func:`landform.curvature.curvature_operator`.
    """
    operator = as_operator(target, **options)
    if method == "hutchinson":
        return hutchinson(operator, probes, key=key).trace
    if method != "xtrace":
        raise ConfigError(f"unknown trace method {method!r}; use one of {', '.join(METHOD_NAMES)}")
    _check_xtrace(operator, probes)
    cache = ("xtrace", probes)
    if cache not in operator._compiled:
        operator._compiled[cache] = jax.jit(
            lambda key, *arguments: xtrace(operator.product, _gaussian_sampler(operator, probes), key, *arguments)
        )
    value, error = operator._compiled[cache](as_key(key), *operator.arguments)
    return Estimate(float(value), float(error), probes, "xtrace")


def diagonal(
    target: Landscape | CurvatureOperator,
    probes: int = 100,
    *,
    method: str = "hutchinson",
    key: jax.Array | int = 0,
    **options,
) -> Estimate:
    """diag(A) of the curvature (m values) with per-entry standard errors (Hutchinson or XDiag)."""
    operator = as_operator(target, **options)
    if method == "hutchinson":
        return hutchinson(operator, probes, key=key, diagonal=True).diagonal
    if method != "xtrace":
        raise ConfigError(f"unknown diagonal method {method!r}; use one of {', '.join(METHOD_NAMES)}")
    _check_xtrace(operator, probes)
    cache = ("xdiag", probes)
    if cache not in operator._compiled:
        operator._compiled[cache] = jax.jit(
            lambda key, *arguments: xdiag(operator.plain, _gaussian_sampler(operator, probes), key, *arguments)
        )
    value, error = operator._compiled[cache](as_key(key), *operator.arguments)
    return Estimate(np.asarray(value), np.asarray(error), probes, "xtrace")


def trace_of_square(
    target: Landscape | CurvatureOperator, probes: int = 100, *, key: jax.Array | int = 0, **options
) -> Estimate:
    """tr(A²) = ‖A‖_F² = E‖A v‖² with its standard error (Hutchinson, Rademacher probes)."""
    return hutchinson(target, probes, key=key, **options).trace_of_square
