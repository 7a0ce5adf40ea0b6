"""The one module that calls matfree (Krämer et al., matrix-free linear algebra in JAX).

matfree's API has changed between releases (``decomp.tridiag_sym`` and the ``stochtrace``
estimators took other arguments before 0.6), so the rest of :mod:`landform.curvature` goes
through the four functions below; a future change touches this file only. The installed
version is pinned to ``>=0.6.3,<0.7`` in ``pyproject.toml``.

- :func:`lanczos`: k steps of Lanczos tridiagonalisation with full reorthogonalisation,
  A Qᵀ = Qᵀ T + r e_kᵀ (Lanczos 1950).
- :func:`xtrace`, :func:`xdiag`: the leave-one-out trace and diagonal estimators XTrace and
  XDiag (Epperly, Tropp, Webber 2024, "XTrace: making the most of every sample in stochastic
  trace estimation", SIAM J. Matrix Anal. Appl. 45(1)), which deflate a randomised low-rank
  approximation built from the probes themselves: the variance-reduced relatives of
  Hutchinson's estimator (in the family of Hutch++, Meyer, Musco, Musco, Woodruff 2021).

Plain Hutchinson averages are computed in :mod:`landform.curvature.traces` instead of with
matfree's ``estimator_monte_carlo``, which draws every probe from one key at once: landform
draws probe i from ``fold_in(key, i)`` inside a chunked map, so results do not depend on the
chunk width and no (probes × parameters) array is ever held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
from matfree import decomp, stochtrace


class Tridiagonal(NamedTuple):
    """A Lanczos decomposition A Qᵀ ≈ Qᵀ T + r e_kᵀ of a symmetric A (Q: (k, n), orthonormal rows)."""

    basis: jax.Array  # Q, (k, n)
    matrix: jax.Array  # T, (k, k) symmetric tridiagonal
    residual: jax.Array  # r, (n,): β_k q_{k+1}


def lanczos(matvec: Callable, start: jax.Array, iterations: int, *params) -> Tridiagonal:
    """k = ``iterations`` Lanczos steps from ``start`` (normalised first) with full reorthogonalisation.

    ``matvec(v, *params)`` is A v. Traceable (call it under ``jit``).
    """
    algorithm = decomp.tridiag_sym(iterations, materialize=True, reortho="full", custom_vjp=False)
    result = algorithm(matvec, start, *params)
    return Tridiagonal(result.Q_tall, result.J_small, result.residual)


def xtrace(matvec: Callable, sampler: Callable, key: jax.Array, *params) -> tuple[jax.Array, jax.Array]:
    """(estimate, standard error) of tr(A) by XTrace; ``sampler(key)`` returns probes (m, n).

    The standard error is the spread of the m leave-one-out estimates, std / sqrt(m).
    """
    estimator = stochtrace.estimator_leave_one_out_mean_and_sem(stochtrace.leave_one_out_xtrace(), sampler)
    return estimator(matvec, key, *params)


def xdiag(matvec: Callable, sampler: Callable, key: jax.Array, *params) -> tuple[jax.Array, jax.Array]:
    """(estimate, standard error) of diag(A) by XDiag; ``sampler(key)`` returns probes (m, n)."""
    estimator = stochtrace.estimator_leave_one_out_mean_and_sem(stochtrace.leave_one_out_xdiag(), sampler)
    return estimator(matvec, key, *params)
