"""Hessian spectra: extreme eigenpairs by Lanczos, the spectral density by stochastic Lanczos quadrature.

Top eigenpairs. k steps of Lanczos from a random start give A Qᵀ = Qᵀ T + r e_kᵀ; the
eigenpairs (θ_j, s_j) of the small tridiagonal T give Ritz pairs (θ_j, x_j = Qᵀ s_j) with
residual ‖A x_j − θ_j x_j‖ = ‖r‖·|e_kᵀ s_j| in exact arithmetic; it is computed here with one more
product per returned pair, so that rounding shows in it. For a symmetric A some eigenvalue lies
within that residual of θ_j (Parlett 1998, "The Symmetric Eigenvalue Problem", Thm. 4.5.1), so
the residual is the error bar reported with each eigenvalue. This is how PyHessian (Yao, Gholami, Keutzer,
Mahoney 2020, "PyHessian: neural networks through the lens of the Hessian") reports top
eigenvalues, here with full reorthogonalisation.

Spectral density. For probes v_1..v_P (Rademacher, normalised), m Lanczos steps from each give
nodes θ_ij and weights τ_ij = (first component of the j-th eigenvector of T_i)²; the spectral
measure (1/n) Σ_l δ(t − λ_l) is approximated by (1/P) Σ_i Σ_j τ_ij δ(t − θ_ij), and the density
by smoothing it with a Gaussian of width σ (Lin, Saad, Yang 2016, "Approximating spectral
densities of large matrices", SIAM Review 58(1); Ghorbani, Krishnan, Xiao 2019, "An investigation
into neural net optimization via Hessian eigenvalue density", ICML). The quadrature of probe i
is exact for polynomials of degree up to 2m − 1: Σ_j τ_ij θ_ij^p = v_iᵀ A^p v_i / ‖v_i‖².
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.curvature._matfree import lanczos
from landform.curvature.operator import CurvatureOperator, as_key, as_operator
from landform.errors import ConfigError, NumericalError
from landform.landscape import Landscape


class Eigenpairs(NamedTuple):
    """Ritz approximations of extreme eigenpairs, largest first (or smallest first).

    Attributes:
        values: (k,) eigenvalue estimates.
        vectors: (k, m) unit eigenvector estimates.
        residuals: (k,) ‖A x − θ x‖ (computed with k more products): an eigenvalue of A lies
            within this of each value.
        iterations: Lanczos steps taken.
    """

    values: np.ndarray
    vectors: jax.Array
    residuals: np.ndarray
    iterations: int

    @property
    def converged(self) -> np.ndarray:
        """True where the residual is below 1e-3 of the spectral scale (``|largest value|``)."""
        scale = max(float(np.max(np.abs(self.values))), np.finfo(np.float32).tiny)
        return self.residuals <= 1e-3 * scale


def _iterations(k: int, size: int, iterations: int | None) -> int:
    if iterations is None:
        iterations = max(2 * k + 20, 4 * k)
    if iterations < k:
        raise ConfigError(f"Lanczos needs at least k = {k} iterations, got {iterations}")
    return int(min(iterations, size))


def top_eigenvalues(
    target: Landscape | CurvatureOperator,
    k: int = 1,
    *,
    iterations: int | None = None,
    which: str = "largest",
    key: jax.Array | int = 0,
    **options,
) -> Eigenpairs:
    """The k largest (or smallest) eigenvalues and eigenvectors of the curvature, by Lanczos.

    Args:
        target: a landscape (its Hessian at θ*; ``options`` go to
            :func:`landform.curvature.curvature_operator`) or a :class:`CurvatureOperator`.
        k: how many eigenpairs.
        iterations: Lanczos steps (default max(2k + 20, 4k), at most the dimension); more steps
            give smaller residuals.
        which: "largest" (algebraic, the top of the spectrum) or "smallest".
        key: the random start vector is normal(fold_in(key, 0)).

    Returns:
        :class:`Eigenpairs` with residual-based error bars (see the module docstring).
    """
    operator = as_operator(target, **options)
    if not 1 <= k <= operator.size:
        raise ConfigError(f"k must lie in 1..{operator.size} (the operator's size), got {k}")
    if which not in ("largest", "smallest"):
        raise ConfigError(f"which must be 'largest' or 'smallest', got {which!r}")
    steps = _iterations(k, operator.size, iterations)
    start = jax.random.normal(jax.random.fold_in(as_key(key), 0), (operator.size,), operator.dtype)
    result = _ritz(operator, steps, start)
    if not np.all(np.isfinite(result[0])):
        # The Krylov space became invariant before `steps` steps (a spectrum with few distinct
        # values); its Ritz values are then exact. Find the most steps that stay finite.
        good, bad = None, steps
        while bad - (good or k - 1) > 1:
            middle = ((good or k - 1) + bad + 1) // 2 if good else max(k, (k + bad) // 2)
            trial = _ritz(operator, middle, start)
            if np.all(np.isfinite(trial[0])):
                good, result = middle, trial
            else:
                bad = middle
        if good is None:
            raise NumericalError(
                f"Lanczos produced non-finite eigenvalues: the loss or its curvature is not finite at θ (check "
                f"the landscape's loss there), or the start vector's Krylov space holds fewer than k = {k} "
                "distinct eigenvalues (ask for fewer)"
            )
        steps = good
    values, vectors = result
    order = np.argsort(values)[::-1] if which == "largest" else np.argsort(values)
    order = jnp.asarray(order[:k])
    values, vectors = values[np.asarray(order)], vectors[order]
    # ‖A x − θ x‖ by k more products: the Lanczos formula ‖r‖·|e_kᵀ s| is exact in exact
    # arithmetic, but float32 eigensolvers of T deflate converged pairs to a residual of 0.
    products = operator.matmat(vectors)
    residuals = np.asarray(jnp.linalg.norm(products - jnp.asarray(values)[:, None] * vectors, axis=1))
    return Eigenpairs(values, vectors, residuals, steps)


def _ritz(operator: CurvatureOperator, steps: int, start: jax.Array):
    """Ritz values and vectors of ``steps`` Lanczos steps (compiled once per step count)."""
    cache = ("lanczos", steps)
    if cache not in operator._compiled:

        def ritz(start, *arguments):
            basis, matrix, _ = lanczos(operator.product, start, steps, *arguments)
            values, vectors = jnp.linalg.eigh(matrix)
            return values, vectors.T @ basis

        operator._compiled[cache] = jax.jit(ritz)
    values, vectors = operator._compiled[cache](start, *operator.arguments)
    return np.asarray(values), vectors


class SpectralDensity(NamedTuple):
    """A smoothed spectral density of the curvature by stochastic Lanczos quadrature.

    Attributes:
        grid: (g,) points t.
        density: (g,) φ(t), integrating to about 1 over the grid.
        standard_error: (g,) the spread of the per-probe densities, std / sqrt(P).
        nodes: (P, m) quadrature nodes θ_ij (Ritz values) per probe.
        weights: (P, m) quadrature weights τ_ij per probe (each row sums to 1).
        width: σ, the Gaussian smoothing width.
        size: n, the operator's dimension.
    """

    grid: np.ndarray
    density: np.ndarray
    standard_error: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    width: float
    size: int

    def trace_of(self, fn=lambda t: t) -> tuple[float, float]:
        """(estimate, standard error) of tr f(A) = n · mean_i Σ_j τ_ij f(θ_ij)."""
        per_probe = self.size * np.sum(self.weights * fn(self.nodes), axis=1)
        return float(np.mean(per_probe)), float(np.std(per_probe, ddof=1) / np.sqrt(len(per_probe)))


def spectral_density(
    target: Landscape | CurvatureOperator,
    *,
    probes: int = 10,
    iterations: int = 80,
    width: float | None = None,
    points: int = 512,
    key: jax.Array | int = 0,
    **options,
) -> SpectralDensity:
    """The spectral density of the curvature by stochastic Lanczos quadrature (SLQ).

    Args:
        target: a landscape (its Hessian at θ*) or a :class:`CurvatureOperator`.
        probes: P, random Rademacher start vectors; probe i is drawn from ``fold_in(key, i)``.
        iterations: m Lanczos steps per probe (at most the dimension).
        width: σ of the Gaussian smoothing (default 1 % of the range of the nodes).
        points: grid points, spanning the nodes ± 5σ.

    Returns:
        :class:`SpectralDensity`; ``trace_of(f)`` gives SLQ estimates of tr f(A).
    """
    operator = as_operator(target, **options)
    if probes < 2:
        raise ConfigError(f"give at least 2 probes (for an error band), got {probes}")
    steps = int(min(iterations, operator.size))
    if steps < 1:
        raise ConfigError(f"iterations must be positive, got {iterations}")
    key = as_key(key)
    # Each probe holds m + 1 basis vectors; run as many together as the memory budget allows.
    basis_bytes = 4 * (steps + 2) * operator.size * jnp.dtype(operator.dtype).itemsize
    together = int(max(1, min(operator.width, probes, operator.landscape.memory_budget // max(basis_bytes, 1))))
    cache = ("slq", steps, together, probes)
    if cache not in operator._compiled:

        def quadrature(key, *arguments):
            def one(index):
                probe = jax.random.rademacher(jax.random.fold_in(key, index), (operator.size,), operator.dtype)
                _, matrix, _ = lanczos(operator.product, probe, steps, *arguments)
                values, vectors = jnp.linalg.eigh(matrix)
                return values, vectors[0, :] ** 2

            return jax.lax.map(one, jnp.arange(probes), batch_size=together)

        operator._compiled[cache] = jax.jit(quadrature)
    nodes, weights = (np.asarray(a, np.float64) for a in operator._compiled[cache](key, *operator.arguments))
    if not (np.all(np.isfinite(nodes)) and np.all(np.isfinite(weights))):
        raise NumericalError("stochastic Lanczos quadrature produced non-finite nodes: check the loss at θ")
    low, high = float(nodes.min()), float(nodes.max())
    if width is None:
        width = 0.01 * (high - low) if high > low else max(abs(high), 1.0) * 1e-3
    if width <= 0:
        raise ConfigError(f"width must be positive, got {width}")
    grid = np.linspace(low - 5 * width, high + 5 * width, points)
    kernel = np.exp(-0.5 * ((grid[None, None, :] - nodes[:, :, None]) / width) ** 2) / (width * np.sqrt(2 * np.pi))
    per_probe = np.einsum("pj,pjg->pg", weights, kernel)
    return SpectralDensity(
        grid=grid,
        density=per_probe.mean(axis=0),
        standard_error=per_probe.std(axis=0, ddof=1) / np.sqrt(probes),
        nodes=nodes,
        weights=weights,
        width=float(width),
        size=operator.size,
    )
