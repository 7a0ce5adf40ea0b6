"""Preconditioned rays and the Gaussian prior mass of a basin: ray estimators, importance-weighted.

Every estimator here is a **stochastic lower bound in high dimension**. Each one averages a
per-ray weight over K rays; when those weights spread over many nats (any anisotropy the
preconditioner does not remove, at n in the thousands or more) the average is set by the largest
weight found and sits below the truth with high probability (effective rays near 1; see
:mod:`landform.volume.estimators`). The diagnostics returned with every estimate say how much of
this is happening, but no diagnostic computed from the rays sees the directions no ray hit. The
number to trust is a reference estimator that does not rest on rays: tethered annealing
(``landform.volume.annealing``). Use these ray estimators for quick comparisons and as a lower
bound to check that reference against.

Let S be the τ-sublevel set around θ*, star-shaped about θ*, with radial function ρ(u) (the
Euclidean exit distance along the unit vector u), n its dimension and V_n the volume of the
unit n-ball.

Preconditioned rays (angular central Gaussian proposal). Draw x = D·g + U·h with g ~ N(0, I_n),
h ~ N(0, I_k), i.e. x ~ N(0, Σ) with Σ = D² + U·Uᵀ (:class:`Preconditioner`: D a positive
diagonal, U an optional (n, k) low-rank factor), and cast the ray θ* + r·x. Its unit vector
u = x/‖x‖ follows the angular central Gaussian (ACG) law, whose density with respect to the
uniform law on the sphere is

    a_Σ(u) = (det Σ)^{−1/2} · (uᵀ Σ⁻¹ u)^{−n/2}    (:func:`acg_log_density`).

Importance-weighting against the uniform law, Vol(S) = V_n · E_uniform[ρ(u)^n], gives

    log V = log V_n + log E_ACG[ρ(u)^n / a_Σ(u)],
    log V̂ = log V_n + logsumexp_i(n·log ρ_i − log a_Σ(u_i)) − log K    (:func:`ray_log_volume`).

With ρ_i = r_i·‖x_i‖ the per-ray term is n·log ρ_i − log a_Σ(u_i) = ½·log det Σ + n·log(r_i·m_i),
m_i = sqrt(x_iᵀ Σ⁻¹ x_i): the same number as the radial function of the whitened set
Σ^{−1/2}(S − θ*) along a uniform direction, times (det Σ)^{1/2}. Rays from
:func:`preconditioned_directions` store exactly that: their :attr:`ExitRadii.sphere_radii` are
the whitened radii r_i·m_i and their ``log_jacobian`` is ½·log det Σ, so
``ray_log_volume(result.sphere_radii, n, log_jacobian=result.log_jacobian)`` is the estimate, as
is :func:`landform.volume.estimate` with ``include_ball`` and ``include_jacobian``. For an
ellipsoid {½ xᵀHx ≤ τ} and Σ = H⁻¹ every ray gives the exact volume (zero variance); with an
isotropic Σ = c²·I, a_Σ = 1 and the estimator is :func:`landform.volume.log_volume` (+ log V_n).

Gaussian prior mass (:func:`gaussian_log_mass`). For the prior N(θ*, C) *centred at the ray
origin θ** (the minimum; a prior centred elsewhere, such as the initialisation's per-layer
Gaussian N(θ_0, diag(σ_l²)) of EleutherAI's basin-volume, has no closed form along rays from θ*
and is not covered), the prior mass of S is

    P(S) = E_uniform[ a_C(u) · P(n/2, ρ(u)²·uᵀC⁻¹u / 2) ],

with P(a, x) the regularised lower incomplete gamma function (``scipy.special.gammainc``): along
a ray, the whitened distance ‖C^{−1/2} z‖ of a prior draw is a χ_n variable, and
P(n/2, R²/2) = P(χ²_n ≤ R²) is the mass inside whitened radius R. The per-ray term is
computed in log space (:func:`log_gammainc`, exact where P underflows). For the isotropic prior
N(θ*, σ²I) and uniform rays this is the mean over rays of P(n/2, ρ_i²/(2σ²)); for rays drawn with
Σ = C (:func:`preconditioned_directions` with the prior's covariance) it is the mean of
P(n/2, ρ̃_i²/2) over the whitened radii ρ̃_i = ``sphere_radii``, with no weights at all; other
proposals take the weights log a_C(u_i) − log a_Σ(u_i). Censored rays (radius = the largest
searched) make the mass a lower bound, as they make the volume one.

Diagnostics (:class:`RayDiagnostics`, the rule of :func:`landform.volume.estimators.volume_diagnostics`
applied to the per-ray weights w_i): effective rays (Σw)²/Σw², Pareto k̂ of the weights' upper
tail, the largest weight's share max w / Σw, and ``reliable`` (K_eff ≥ 10, k̂ ≤ the sample-size
threshold, no unresolved ray). For the Gaussian mass with Σ = C the weights are bounded by 1, so
k̂ is not a warning about an infinite variance there; the share and K_eff still say how many rays
carry the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import gammainc, gammaln, logsumexp

from landform.directions import GROUP, Directions, Leaf, gaussian_batch, grouped
from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.volume.estimators import (
    MIN_EFFECTIVE_RAYS,
    effective_rays,
    log_unit_ball_volume,
    pareto_k,
    pareto_k_threshold,
)
from landform.volume.radii import UNRESOLVED, ExitRadii

__all__ = [
    "LOWER_BOUND_NOTE",
    "PreconditionedDirections",
    "Preconditioner",
    "RAY_QUANTITIES",
    "RayDiagnostics",
    "RayEstimate",
    "acg_log_density",
    "gaussian_log_mass",
    "log_gammainc",
    "preconditioned_directions",
    "ray_diagnostics",
    "ray_estimate",
    "ray_log_volume",
]

LOWER_BOUND_NOTE = "a ray estimate: a stochastic lower bound in high dimension; the reference is tethered annealing"
"""What every :class:`RayEstimate` is (stored with it, for tables and reports)."""

EQUAL_WEIGHTS = 1e-9
"""Log-weights whose spread is below this (relative to max(1, abs(largest))) count as all equal."""


# ============================================================================ the preconditioner


class Preconditioner(NamedTuple):
    """Σ = D² + U·Uᵀ: the covariance of the Gaussian behind preconditioned rays (or of a prior).

    Attributes:
        diagonal: (n,) D, positive (e.g. 1/sqrt(curvature + damping): Σ ≈ H⁻¹).
        low_rank: (n, k) U, or None (k = 0): directions in which Σ is larger than D², e.g. the
            top eigenvectors of H⁻¹ − D² (flat directions a diagonal misses).
    """

    diagonal: np.ndarray
    low_rank: np.ndarray | None = None

    @property
    def dimension(self) -> int:
        """n."""
        return int(self.diagonal.shape[0])

    @property
    def rank(self) -> int:
        """k, the number of low-rank columns."""
        return 0 if self.low_rank is None else int(self.low_rank.shape[1])

    @classmethod
    def isotropic(cls, dimension: int, scale: float = 1.0) -> Preconditioner:
        """Σ = scale²·I (uniform directions; for a prior N(θ*, scale²·I))."""
        return cls.of(np.full(int(dimension), float(scale)))

    @classmethod
    def from_curvature(cls, curvature, damping: float = 0.0, low_rank=None) -> Preconditioner:
        """D = (h + damping)^{−1/2} from a diagonal curvature estimate h (Hessian or Fisher
        diagonal, Adam's second moments as a Fisher estimate): Σ ≈ H⁻¹, the covariance that
        makes the rays of a quadratic basin all equally long."""
        h = np.asarray(curvature, np.float64) + float(damping)
        if not np.all(h > 0):
            raise ConfigError(
                "curvature + damping must be positive everywhere to make a preconditioner; "
                f"its smallest entry is {float(np.min(h))}: raise the damping"
            )
        return cls.of(1.0 / np.sqrt(h), low_rank)

    @classmethod
    def from_adam(cls, second_moment, epsilon: float = 1e-8) -> Preconditioner:
        """D_j = (sqrt(v_j) + ε)^{−1/2} from Adam's second moments v: Adam's update divides the
        gradient by sqrt(v) + ε, i.e. treats sqrt(v) + ε as the curvature (the preconditioner of
        EleutherAI's basin-volume), so Σ = diag(1/(sqrt(v) + ε))."""
        v = np.asarray(second_moment, np.float64)
        if np.any(v < 0) or epsilon <= 0:
            raise ConfigError("Adam's second moments must be non-negative and epsilon positive")
        return cls.of(1.0 / np.sqrt(np.sqrt(v) + float(epsilon)))

    @classmethod
    def of(cls, diagonal, low_rank=None) -> Preconditioner:
        """A checked :class:`Preconditioner` (float64 arrays)."""
        d = np.asarray(diagonal, np.float64).reshape(-1)
        if d.size == 0 or not np.all(np.isfinite(d)) or not np.all(d > 0):
            raise ConfigError("the preconditioner's diagonal must be finite and positive")
        u = None
        if low_rank is not None:
            u = np.asarray(low_rank, np.float64)
            if u.ndim == 1:
                u = u[:, None]
            if u.ndim != 2 or u.shape[0] != d.size:
                raise ShapeError(f"the low-rank factor must have shape ({d.size}, k), got {u.shape}")
            if not np.all(np.isfinite(u)):
                raise ConfigError("the preconditioner's low-rank factor must be finite")
        return cls(d, u)

    def _capacitance(self) -> np.ndarray | None:
        """I_k + Uᵀ D⁻² U (k, k), or None without a low-rank part."""
        if self.low_rank is None:
            return None
        scaled = self.low_rank / self.diagonal[:, None]
        return np.eye(self.rank) + scaled.T @ scaled

    def log_determinant(self) -> float:
        """log det Σ = 2·Σ_j log D_j + log det(I_k + Uᵀ D⁻² U) (matrix determinant lemma)."""
        value = 2.0 * float(np.sum(np.log(self.diagonal)))
        capacitance = self._capacitance()
        if capacitance is not None:
            value += float(np.linalg.slogdet(capacitance)[1])
        return value

    def quadratic(self, vectors) -> np.ndarray:
        """xᵀ Σ⁻¹ x for each row x of ``vectors`` (K, n) (Woodbury:
        Σ⁻¹ = D⁻² − D⁻² U (I + Uᵀ D⁻² U)⁻¹ Uᵀ D⁻²), in float64."""
        x = np.asarray(vectors, np.float64)
        if x.shape[-1] != self.dimension:
            raise ShapeError(
                f"vectors of length {x.shape[-1]} do not fit a preconditioner of dimension {self.dimension}"
            )
        y = x / self.diagonal**2
        value = np.sum(x * y, axis=-1)
        capacitance = self._capacitance()
        if capacitance is not None:
            projected = y @ self.low_rank  # (K, k): Uᵀ D⁻² x
            solved = np.linalg.solve(capacitance, projected[..., None])[..., 0]
            value = value - np.sum(projected * solved, axis=-1)
        return value


def acg_log_density(units, covariance: Preconditioner) -> np.ndarray:
    """log a_Σ(u) = −½·log det Σ − (n/2)·log(uᵀ Σ⁻¹ u) for each row u of ``units`` (K, n).

    The density of the angular central Gaussian law of u = x/‖x‖, x ~ N(0, Σ), with respect to
    the uniform probability on the unit sphere (Tyler 1987, "Statistical analysis for the angular
    central Gaussian distribution on the sphere", Biometrika 74(3)). Rows need not be unit
    vectors: the density is evaluated at u/‖u‖.
    """
    u = np.asarray(units, np.float64)
    n = covariance.dimension
    norms = np.sum(u * u, axis=-1)
    return -0.5 * covariance.log_determinant() - 0.5 * n * (np.log(covariance.quadratic(u)) - np.log(norms))


# ============================================================================ the directions


@dataclass(frozen=True, eq=False)
class PreconditionedDirections(Directions):
    """Directions x_i = D·g_i + U·h_i with (g_i, h_i) = normal(fold_in(key, i), (n + k,)).

    A :class:`~landform.volume.Directions` for :func:`landform.volume.exit_radii` and
    :func:`landform.volume.grid_radii`: its sphere scale is the Mahalanobis length
    m_i = sqrt(x_iᵀ Σ⁻¹ x_i) (so ``sphere_radii`` are radii of the whitened set
    Σ^{−1/2}(S − θ*) along uniform directions) and its ``log_jacobian`` is ½·log det Σ. Without a
    low-rank part, g_i is the Gaussian of ``random_directions(key, θ*, normalization="none")``.
    Build one with :func:`preconditioned_directions`.
    """

    preconditioner: Preconditioner | None = None
    diagonal_array: Any = None  # D as a device array of ``dtype``
    low_rank_array: Any = None  # U as a device array, or None

    def gaussian(self, index) -> jax.Array:
        """(g_i, h_i) = normal(fold_in(key, i), (n + k,)) (traceable)."""
        return jax.random.normal(jax.random.fold_in(self.key, index), (self.size + self._rank,), self.dtype)

    @property
    def _rank(self) -> int:
        return 0 if self.low_rank_array is None else int(self.low_rank_array.shape[1])

    def normalize(self, gaussian: jax.Array) -> jax.Array:
        """x = D·g + U·h from the (n + k,) Gaussian (g, h); vmappable."""
        return _precondition(gaussian, self.diagonal_array, self.low_rank_array)

    def gaussians(self, indices) -> jax.Array:
        """(g_i, h_i) for each i in ``indices``, shape (len(indices), n + k)."""
        indices = np.asarray(indices, dtype=np.uint32).reshape(-1)
        width = self.size + self._rank
        if indices.size == 0:
            return jnp.zeros((0, width), self.dtype)
        padded = grouped(indices)
        parts = [
            gaussian_batch(self.key, padded[j : j + GROUP], width, self.dtype) for j in range(0, padded.size, GROUP)
        ]
        return jnp.concatenate(parts)[: indices.size]

    def generate(self, indices) -> tuple[jax.Array, jax.Array]:
        """(x_i, m_i) for each i in ``indices``: directions (K, n) and Mahalanobis lengths (K,)."""
        indices = np.asarray(indices, dtype=np.uint32).reshape(-1)
        if indices.size == 0:
            return jnp.zeros((0, self.size), self.dtype), jnp.zeros((0,), self.dtype)
        gaussians = self.gaussians(indices)
        directions = jax.vmap(self.normalize)(gaussians)
        scales = self.preconditioner.quadratic(np.asarray(directions, np.float64))
        return directions, jnp.asarray(np.sqrt(scales), self.dtype)


@jax.jit
def _precondition(gaussian, diagonal, low_rank):
    n = diagonal.shape[0]
    x = diagonal * gaussian[:n]
    if low_rank is not None:
        x = x + low_rank @ gaussian[n:]
    return x


def preconditioned_directions(
    key: jax.Array, theta: jax.Array, preconditioner: Preconditioner
) -> PreconditionedDirections:
    """Rays θ* + r·x_i with x_i ~ N(0, Σ), Σ = D² + U·Uᵀ, drawn from ``fold_in(key, i)``.

    Every parameter is perturbed (n = θ*'s length). The unit vectors x_i/‖x_i‖ follow the angular
    central Gaussian law of Σ (module docstring): with Σ ≈ H⁻¹ the rays of a near-quadratic basin
    are near-equally long in whitened coordinates and the log-volume estimate has a small
    variance; ``ExitRadii.log_jacobian`` = ½·log det Σ makes its ``sphere_radii`` give the volume.
    """
    theta = jnp.asarray(theta)
    if theta.ndim != 1:
        raise ShapeError(f"θ* must be a flat vector, got shape {tuple(theta.shape)}; ravel the parameters first")
    if not isinstance(preconditioner, Preconditioner):
        raise ConfigError(f"expected a landform Preconditioner, got {type(preconditioner).__name__}")
    n = int(theta.shape[0])
    if preconditioner.dimension != n:
        raise ShapeError(f"the preconditioner has dimension {preconditioner.dimension} but θ* has {n} entries")
    dtype = theta.dtype if jnp.issubdtype(theta.dtype, jnp.floating) else jnp.float32
    low_rank = None if preconditioner.low_rank is None else jnp.asarray(preconditioner.low_rank, dtype)
    return PreconditionedDirections(
        key=key,
        normalization="preconditioned",
        biases="keep",
        size=n,
        dimension=n,
        log_jacobian=0.5 * preconditioner.log_determinant(),
        leaves=(Leaf(0, n, (n,), "raw", 0),),
        norms=(None,),
        paths=("theta",),
        dtype=dtype,
        preconditioner=preconditioner,
        diagonal_array=jnp.asarray(preconditioner.diagonal, dtype),
        low_rank_array=low_rank,
    )


# ============================================================================ log P(a, x)


def log_gammainc(a, x) -> np.ndarray:
    """log P(a, x), P the regularised lower incomplete gamma function, without underflow.

    Where P(a, x) ≥ 1e-300, log of ``scipy.special.gammainc``. Elsewhere (x well below a) the
    series P(a, x) = x^a e^{−x} / Γ(a + 1) · Σ_{k≥0} x^k / ((a + 1)…(a + k)) in log space
    (Abramowitz and Stegun 6.5.29), summed until a term is below 1e-17 of the sum.
    log P(n/2, R²/2) = log P(χ²_n ≤ R²).
    """
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    shape = a.shape
    a, x = a.reshape(-1), x.reshape(-1)
    with np.errstate(divide="ignore"):
        out = np.log(gammainc(a, x))
    small = (out < math.log(1e-300)) & (x > 0) & np.isfinite(x)
    if small.any():
        aa, xx = a[small], x[small]
        total = np.ones_like(xx)
        term = np.ones_like(xx)
        k = 0
        live = np.ones(xx.shape, bool)
        while live.any() and k < 100_000:  # a loop over series terms (geometric: x < a here)
            k += 1
            term = np.where(live, term * xx / (aa + k), term)
            total = np.where(live, total + term, total)
            live &= term > 1e-17 * total
        out[small] = aa * np.log(xx) - xx - gammaln(aa + 1.0) + np.log(total)
    return out.reshape(shape) if shape else out[0]


# ============================================================================ estimates


class RayDiagnostics(NamedTuple):
    """How far a ray estimate can be trusted, per (landscape, threshold) (the radii's shape
    without the rays' axis).

    Attributes:
        effective_rays: (Σ w_i)² / Σ w_i² of the per-ray weights w_i (0 where every weight is 0).
        pareto_k: k̂ of the weights' upper tail (:func:`landform.volume.estimators.pareto_k`).
        max_weight_share: max_i w_i / Σ w_i (1: one ray carries the estimate).
        reliable: effective_rays ≥ 10, pareto_k ≤ the sample-size threshold, no unresolved ray.
            A screen, not a guarantee: in high dimension a ray estimate is a lower bound even
            where it passes (module docstring).
        censored: number of censored rays (the estimate is then a lower bound).
        unresolved: number of unresolved rays.
        num_directions: K.
    """

    effective_rays: np.ndarray
    pareto_k: np.ndarray
    max_weight_share: np.ndarray
    reliable: np.ndarray
    censored: np.ndarray
    unresolved: np.ndarray
    num_directions: int


class RayEstimate(NamedTuple):
    """A ray estimate (log-volume or log prior mass) with its diagnostics.

    Attributes:
        quantity: "log_volume" or "log_gaussian_mass".
        value: the estimate, shape of the radii without the rays' axis.
        log_weights: (K, ...) the per-ray log-weights ℓ_i whose mean is exp(value) (up to the
            constant terms of ``quantity``).
        diagnostics: :class:`RayDiagnostics`.
        is_lower_bound: True where censored rays make ``value`` a lower bound (in high dimension
            it is a stochastic lower bound anyway: ``note``).
        dimension: n.
        note: :data:`LOWER_BOUND_NOTE`.
    """

    quantity: str
    value: np.ndarray
    log_weights: np.ndarray
    diagnostics: RayDiagnostics
    is_lower_bound: np.ndarray
    dimension: int
    note: str = LOWER_BOUND_NOTE


def _mask_count(mask, shape) -> np.ndarray:
    if mask is None:
        return np.zeros(shape[1:], dtype=np.int64)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape:
        raise ShapeError(f"a mask of shape {mask.shape} does not fit radii of shape {shape}")
    return mask.sum(axis=0)


def ray_diagnostics(log_weights, *, censored=None, unresolved=None) -> RayDiagnostics:
    """:class:`RayDiagnostics` of per-ray log-weights ℓ_i (rays on axis 0).

    The effective rays and Pareto k̂ are those of :mod:`landform.volume.estimators`, applied to
    w_i = exp(ℓ_i) (both are invariant to a common factor of the weights, which is dropped).
    Log-weights that agree to :data:`EQUAL_WEIGHTS` relative (every ray the same up to
    rounding: the exact preconditioner of an ellipsoid) get k̂ = −inf, as exactly equal ones do.
    """
    logs = np.asarray(log_weights, np.float64)
    if logs.ndim == 0 or logs.shape[0] == 0:
        raise ConfigError("no rays: diagnostics need at least one direction")
    k = int(logs.shape[0])
    with np.errstate(invalid="ignore"):
        top = np.max(logs, axis=0)
    shift = np.where(np.isfinite(top), top, 0.0)
    # the weights as radii of a unit-dimension-1 log-volume: ρ_i = w_i / max w (in [0, 1])
    with np.errstate(under="ignore"):
        scaled = np.exp(logs - shift)
    rays = effective_rays(scaled, 1)
    k_hat = pareto_k(scaled, 1)
    # weights equal up to rounding (a whitened ball: every ray the same) have no tail at all
    with np.errstate(invalid="ignore"):
        flat = np.max(logs, axis=0) - np.min(logs, axis=0) <= EQUAL_WEIGHTS * np.maximum(1.0, np.abs(top))
    k_hat = np.where(flat & np.isfinite(top), -np.inf, k_hat)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.exp(top - logsumexp(logs, axis=0))
    share = np.where(np.isfinite(top), share, np.nan)
    num_censored, num_unresolved = _mask_count(censored, logs.shape), _mask_count(unresolved, logs.shape)
    reliable = (rays >= MIN_EFFECTIVE_RAYS) & (k_hat <= pareto_k_threshold(k)) & (num_unresolved == 0)
    return RayDiagnostics(rays, k_hat, share, reliable & np.isfinite(top), num_censored, num_unresolved, k)


def _per_ray(values, radii_shape) -> np.ndarray:
    """A per-ray array (K,) or (K, ...) broadcast against radii of shape (K, ...)."""
    values = np.asarray(values, np.float64)
    if values.ndim == 1:
        values = values.reshape(values.shape + (1,) * (len(radii_shape) - 1))
    try:
        return np.broadcast_to(values, radii_shape)
    except ValueError:
        raise ShapeError(f"per-ray values of shape {values.shape} do not fit radii of shape {radii_shape}") from None


def _radii(radii) -> np.ndarray:
    radii = np.asarray(radii, np.float64)
    if radii.ndim == 0 or radii.shape[0] == 0:
        raise ConfigError("no radii: a ray estimate needs at least one direction")
    if (radii < 0).any() or np.isnan(radii).any():
        raise ConfigError("exit radii must be non-negative numbers")
    return radii


def ray_log_volume(
    radii,
    dimension: int,
    *,
    log_density=None,
    log_jacobian: float = 0.0,
    include_ball: bool = True,
    censored=None,
    unresolved=None,
) -> RayEstimate:
    """log V̂ = [log V_n] + log_jacobian + logsumexp_i(n·log ρ_i − log a(u_i)) − log K.

    The importance-weighted ray estimate of the volume of a star-shaped set (module docstring).
    ``radii`` (K, ...) are ρ_i, rays on axis 0; ``log_density`` (K,) or (K, ...) is log a(u_i),
    the density of each ray's direction with respect to the uniform law on the sphere (from
    :func:`acg_log_density` for Euclidean radii along ACG rays; None: uniform rays, a = 1).
    For an :class:`~landform.volume.ExitRadii` from :func:`preconditioned_directions` pass
    ``result.sphere_radii``, ``log_jacobian=result.log_jacobian`` and no density, and the masks
    ``censored=result.censored``, ``unresolved=result.status == STATUS_NAMES.index("unresolved")``.

    A stochastic lower bound in high dimension; the reference is tethered annealing.
    """
    radii = _radii(radii)
    n = float(dimension)
    with np.errstate(divide="ignore"):
        logs = n * np.log(radii)
    if log_density is not None:
        logs = logs - _per_ray(log_density, radii.shape)
    with np.errstate(invalid="ignore"):
        value = logsumexp(logs, axis=0) - math.log(radii.shape[0]) + float(log_jacobian)
    if include_ball:
        value = value + log_unit_ball_volume(int(dimension))
    checks = ray_diagnostics(logs, censored=censored, unresolved=unresolved)
    return RayEstimate("log_volume", np.asarray(value), logs, checks, checks.censored > 0, int(dimension))


def gaussian_log_mass(
    whitened_radii,
    dimension: int,
    *,
    log_weights=None,
    censored=None,
    unresolved=None,
) -> RayEstimate:
    """log P̂(S) = logsumexp_i(log P(n/2, ρ̃_i²/2) + log v_i) − log K, the prior mass of S.

    For the Gaussian prior N(θ*, C) centred at the rays' origin (module docstring):
    ``whitened_radii`` ρ̃_i = ρ_i·sqrt(u_iᵀ C⁻¹ u_i) (Euclidean radius ρ_i along unit u_i; for
    C = σ²·I, ρ_i/σ; for rays from :func:`preconditioned_directions` with Σ = C, their
    ``sphere_radii``), and ``log_weights`` log v_i = log a_C(u_i) − log a_Σ(u_i) for rays drawn
    from another law than the ACG of C (None: v = 1, i.e. uniform rays and an isotropic prior,
    or Σ = C). P is the regularised lower incomplete gamma function, so P(n/2, ρ̃²/2) is
    the χ²_n probability of the whitened ball of radius ρ̃; a ray still inside at infinity
    contributes 1.

    A stochastic lower bound in high dimension; the reference is tethered annealing.
    """
    radii = _radii(whitened_radii)
    logs = log_gammainc(0.5 * float(dimension), 0.5 * radii**2)
    if log_weights is not None:
        logs = logs + _per_ray(log_weights, radii.shape)
    with np.errstate(invalid="ignore"):
        value = logsumexp(logs, axis=0) - math.log(radii.shape[0])
    checks = ray_diagnostics(logs, censored=censored, unresolved=unresolved)
    return RayEstimate("log_gaussian_mass", np.asarray(value), logs, checks, checks.censored > 0, int(dimension))


def ray_estimate(
    result: ExitRadii,
    *,
    quantity: str = "log_volume",
    prior_scale: float = 1.0,
    include_ball: bool = True,
) -> RayEstimate:
    """The ray estimate of an :class:`~landform.volume.ExitRadii` result, per (landscape, threshold).

    Its rays are d_i = M·v_i with M the directions' linear map (I for ``none``, the diagonal of
    unit norms for ``filter_scale``, D² + U·Uᵀ = M·Mᵀ for :func:`preconditioned_directions`) and
    v_i a standard Gaussian, and its ``sphere_radii`` are radii of M⁻¹(S − θ*) along v_i/‖v_i‖.

    - ``quantity="log_volume"``: :func:`ray_log_volume` of the sphere radii with the result's
      ``log_jacobian`` (log abs(det M)), + log V_n unless ``include_ball`` is False.
    - ``quantity="log_gaussian_mass"``: :func:`gaussian_log_mass` of the prior
      N(θ*, prior_scale²·M·Mᵀ), centred at θ*: N(θ*, σ²·I) for ``none`` directions, a prior
      whose standard deviation is σ times the norm of each entry's unit in θ* for
      ``filter_scale``, N(θ*, σ²·Σ) for preconditioned directions. Whitened radii are
      ``sphere_radii / prior_scale``; no weights (the rays are the ACG of the prior).

    Censored rays make it a lower bound (flagged), unresolved rays make it unreliable. Results
    along ``filter`` or ``layer`` directions give neither (their v_i is not Gaussian; see
    :mod:`landform.directions`); the result does not record its normalisation, so this
    cannot be checked here.
    """
    if not isinstance(result, ExitRadii):
        raise ConfigError(f"expected ExitRadii from exit_radii or grid_radii, got {type(result).__name__}")
    radii = np.asarray(result.sphere_radii, np.float64)
    unresolved = np.asarray(result.status) == UNRESOLVED
    if quantity == "log_volume":
        return ray_log_volume(
            radii,
            result.dimension,
            log_jacobian=result.log_jacobian,
            include_ball=include_ball,
            censored=result.censored,
            unresolved=unresolved,
        )
    if quantity == "log_gaussian_mass":
        if not prior_scale > 0:
            raise ConfigError(f"prior_scale must be positive, got {prior_scale}")
        return gaussian_log_mass(
            radii / float(prior_scale), result.dimension, censored=result.censored, unresolved=unresolved
        )
    raise UnknownNameError("ray estimate", quantity, RAY_QUANTITIES)


RAY_QUANTITIES = ("log_volume", "log_gaussian_mass")
"""What :func:`ray_estimate` computes."""
