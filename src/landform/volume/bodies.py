"""Exact bodies: star-shaped sets of a flat vector whose log-volume (or Gaussian mass) is known.

Each body is a level function g of x ∈ R^n (a "loss"), the set B = {x : g(x) ≤ τ}, its exact
log-volume log Vol(B), a closed-form exit radius along a unit vector and the exact diagonal of g's
curvature at 0 (what a perfect Hessian-diagonal estimate would give a preconditioner). They
validate basin-volume estimators far beyond the dimensions where Monte Carlo can check them.

Axis-aligned bodies are rotated, x = Q y, so that a diagonal preconditioner cannot read the axes
off the coordinates: Q = H_1 ⋯ H_m is a product of m Householder reflections H_j = I − 2 v_j v_jᵀ
(unit v_j from ``fold_in(key, j)``), applied in O(m·n) so that n = 10^5 costs nothing, with the
compact WY form Q = I − V T Vᵀ (Schreiber, Van Loan 1989) giving diag(Q Λ Qᵀ) exactly.
Q Λ Qᵀ = Λ + (rank ≤ 2m): its diagonal differs from Λ in every coordinate, by a relative amount
that grows with the spectrum's spread.

- :func:`ellipsoid`: {½ xᵀHx ≤ τ}, H = Q diag(λ) Qᵀ, λ_i = i^{−α} (a power law spanning
  ``spread``): log V = log V_n + Σ_i ½ log(2τ/λ_i), V_n the unit-ball volume.
- :func:`lp_body`: {Σ_i abs(y_i / a_i)^p ≤ 1}, y = Qᵀx: log V = Σ_i log(2 a_i Γ(1 + 1/p)) − log Γ(1 + n/p)
  (Dirichlet's integral). p < 1 is star-shaped and not convex.
- :func:`quartic_body`: {Σ_i ½ λ_i y_i² + ¼ μ_i y_i⁴ ≤ τ}: log V from :func:`separable_log_volume`,
  a saddlepoint inversion of V(τ) = (1/2πi) ∫ e^{sτ} ∏_i Z_i(s) / s ds with
  Z_i(s) = ∫ exp(−s(½λ_i y² + ¼μ_i y⁴)) dy = ½ √(a/b) e^{a²/8b} K_{1/4}(a²/8b), a = sλ_i/2,
  b = sμ_i/4 (a modified Bessel function of the second kind).
- :func:`ellipsoid_gaussian_log_mass`: log P(½ xᵀHx ≤ τ) for x ~ N(0, σ² I), i.e. P(Σ_i w_i z_i² ≤ 2τ) with
  w_i = σ²λ_i: exact χ²_n when the w_i are equal, otherwise the Lugannani-Rice saddlepoint
  approximation (Lugannani, Rice 1980) evaluated in log space.
- :func:`slab`: {abs(x_1) ≤ h}, rotated: unbounded (its volume is infinite), a negative test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special, stats

from landform.errors import ConfigError, NumericalError
from landform.volume.estimators import log_unit_ball_volume


@dataclass(frozen=True)
class Rotation:
    """Q = H_1 H_2 ⋯ H_m, H_j = I − 2 v_j v_jᵀ, with unit rows v_j of ``vectors`` (m × n).

    ``apply(y)`` = Q y and ``transpose(x)`` = Qᵀ x, each O(m·n), on the last axis (batches allowed).
    m = 0 is the identity.
    """

    vectors: np.ndarray

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def apply(self, y):
        """Q y = H_1(H_2(⋯ H_m y))."""
        for v in self.vectors[::-1]:
            v = jnp.asarray(v, y.dtype)
            y = y - 2.0 * (y @ v)[..., None] * v
        return y

    def transpose(self, x):
        """Qᵀ x = H_m(⋯ H_1 x)."""
        for v in self.vectors:
            v = jnp.asarray(v, x.dtype)
            x = x - 2.0 * (x @ v)[..., None] * v
        return x

    def diagonal(self, eigenvalues) -> np.ndarray:
        """diag(Q diag(λ) Qᵀ), exactly, via Q = I − V T Vᵀ: O(n m²)."""
        lam = np.asarray(eigenvalues, np.float64)
        v = np.asarray(self.vectors, np.float64).T  # n × m
        m = v.shape[1]
        if m == 0:
            return lam.copy()
        t = np.zeros((m, m))
        for j in range(m):  # compact WY recursion for H_1 ⋯ H_j
            t[j, j] = 2.0
            if j:
                t[:j, j] = -2.0 * t[:j, :j] @ (v[:, :j].T @ v[:, j])
        w = v @ t  # Q = I − W Vᵀ
        # (QΛQᵀ)_ii = λ_i − 2 λ_i (W Vᵀ)_ii + (W (VᵀΛV) Wᵀ)_ii
        wv = np.einsum("ij,ij->i", w, v)
        gram = (v * lam[:, None]).T @ v
        return lam - 2.0 * lam * wv + np.einsum("ij,jk,ik->i", w, gram, w)


def random_rotation(dimension: int, reflections: int = 4, key: jax.Array | int = 0) -> Rotation:
    """A :class:`Rotation` of ``reflections`` Householder reflections, v_j ∝ N(0, I) from fold_in(key, j)."""
    key = jax.random.key(key) if isinstance(key, int) else key
    rows = []
    for j in range(reflections):
        g = np.asarray(jax.random.normal(jax.random.fold_in(key, j), (dimension,), jnp.float32), np.float64)
        rows.append(g / np.linalg.norm(g))
    return Rotation(np.asarray(rows, np.float64).reshape(reflections, dimension))


@dataclass(frozen=True)
class Body:
    """A set B = {x ∈ R^n : level(x) ≤ threshold}, star-shaped about 0, with its exact log-volume.

    ``level`` maps a flat float64 vector (or a batch on the leading axes) to the level value;
    ``contains`` is membership; ``exit_radius(u)`` the radial function ρ(u) = sup{r : r·u ∈ B} for
    unit u (a batch on the leading axes), closed form; ``curvature_diagonal`` the exact diagonal
    of the level function's Hessian at 0 (for ℓ_p bodies, whose Hessian at 0 is 0 or infinite, of
    Q diag(1/a²) Qᵀ: a scale guess of the same kind), ``curvature_product`` that matrix times a
    vector (for Lanczos); ``log_volume`` exact (+inf when unbounded).
    """

    name: str
    dimension: int
    threshold: float
    level: Callable
    radial: Callable
    log_volume: float
    curvature_diagonal: np.ndarray
    rotation: Rotation
    curvature_eigenvalues: np.ndarray

    def curvature_product(self, x):
        """Q diag(λ) Qᵀ x: the exact Hessian at 0 (ℓ_p: the scale matrix Q diag(1/a²) Qᵀ) times x."""
        x = jnp.asarray(x)
        return self.rotation.apply(jnp.asarray(self.curvature_eigenvalues, x.dtype) * self.rotation.transpose(x))

    def contains(self, x):
        """level(x) ≤ threshold (float64 when x is)."""
        return self.level(x) <= self.threshold

    def exit_radius(self, u):
        """ρ(u) for unit vectors u (last axis n): the distance from 0 to the boundary along u."""
        return self.radial(self.rotation.transpose(jnp.asarray(u)))


def power_law(dimension: int, spread: float = 1e6) -> np.ndarray:
    """λ_i = i^{−α}, i = 1..n, α = log(spread)/log(n): largest 1, smallest 1/spread."""
    if dimension < 2:
        return np.ones(dimension)
    alpha = math.log(spread) / math.log(dimension)
    return np.arange(1, dimension + 1, dtype=np.float64) ** -alpha


def ellipsoid(
    eigenvalues, threshold: float = 1.0, *, reflections: int = 4, key: jax.Array | int = 0, name: str = "ellipsoid"
) -> Body:
    """{x : ½ xᵀ Q diag(λ) Qᵀ x ≤ τ}; log V = log V_n + Σ_i ½ log(2τ/λ_i)."""
    lam = np.asarray(eigenvalues, np.float64)
    if (lam <= 0).any():
        raise ConfigError("ellipsoid eigenvalues must be positive; a zero curvature makes the set unbounded")
    n, tau = lam.size, float(threshold)
    rotation = random_rotation(n, reflections, key)
    lam_j = jnp.asarray(lam)

    def level(x):
        y = rotation.transpose(x)
        return 0.5 * jnp.sum(lam_j.astype(y.dtype) * y * y, axis=-1)

    def radial(w):
        return jnp.sqrt(2.0 * tau / jnp.sum(lam_j.astype(w.dtype) * w * w, axis=-1))

    log_v = log_unit_ball_volume(n) + 0.5 * float(np.sum(np.log(2.0 * tau / lam)))
    return Body(name, n, tau, level, radial, log_v, rotation.diagonal(lam), rotation, lam)


def lp_body(semi_axes, p: float, *, reflections: int = 4, key: jax.Array | int = 0, name: str | None = None) -> Body:
    """{x : Σ_i abs((Qᵀx)_i / a_i)^p ≤ 1}; log V = Σ_i log(2 a_i Γ(1 + 1/p)) − log Γ(1 + n/p).

    Exit radius along unit u: ρ(u) = (Σ_i abs((Qᵀu)_i / a_i)^p)^{−1/p}.
    """
    a = np.asarray(semi_axes, np.float64)
    if p <= 0 or (a <= 0).any():
        raise ConfigError("an ℓ_p body needs p > 0 and positive semi-axes")
    n = a.size
    rotation = random_rotation(n, reflections, key)
    inv_a = jnp.asarray(1.0 / a)

    def level(x):
        y = rotation.transpose(x)
        return jnp.sum(jnp.abs(y * inv_a.astype(y.dtype)) ** p, axis=-1)

    def radial(w):
        return jnp.sum(jnp.abs(w * inv_a.astype(w.dtype)) ** p, axis=-1) ** (-1.0 / p)

    log_v = float(np.sum(np.log(2.0 * a * special.gamma(1.0 + 1.0 / p))) - special.gammaln(1.0 + n / p))
    return Body(name or f"l{p:g}", n, 1.0, level, radial, log_v, rotation.diagonal(1.0 / a**2), rotation, 1.0 / a**2)


def quartic_body(
    quadratic, quartic, threshold: float = 1.0, *, reflections: int = 4, key: jax.Array | int = 0, name: str = "quartic"
) -> Body:
    """{x : Σ_i ½ λ_i y_i² + ¼ μ_i y_i⁴ ≤ τ, y = Qᵀx}; log V by :func:`separable_log_volume`.

    Exit radius along unit u (w = Qᵀu, A = Σ λ_i w_i², B = Σ μ_i w_i⁴): the root of
    ½ A r² + ¼ B r⁴ = τ, r² = 2τ / (½A + √(¼A² + Bτ)).
    """
    lam = np.broadcast_to(np.asarray(quadratic, np.float64), np.shape(quartic)).copy()
    mu = np.asarray(quartic, np.float64)
    if (lam < 0).any() or (mu < 0).any() or ((lam == 0) & (mu == 0)).any():
        raise ConfigError("a quartic body needs λ_i, μ_i ≥ 0, not both zero")
    n, tau = mu.size, float(threshold)
    rotation = random_rotation(n, reflections, key)
    lam_j, mu_j = jnp.asarray(lam), jnp.asarray(mu)

    def level(x):
        y = rotation.transpose(x)
        y2 = y * y
        return jnp.sum(0.5 * lam_j.astype(y.dtype) * y2 + 0.25 * mu_j.astype(y.dtype) * y2 * y2, axis=-1)

    def radial(w):
        w2 = w * w
        big_a = jnp.sum(lam_j.astype(w.dtype) * w2, axis=-1)
        big_b = jnp.sum(mu_j.astype(w.dtype) * w2 * w2, axis=-1)
        return jnp.sqrt(2.0 * tau / (0.5 * big_a + jnp.sqrt(0.25 * big_a**2 + big_b * tau)))

    log_v = separable_log_volume(quartic_cumulants(lam, mu), tau, n)
    return Body(name, n, tau, level, radial, log_v, rotation.diagonal(lam), rotation, lam)


def slab(dimension: int, half_width: float = 1.0, *, reflections: int = 4, key: jax.Array | int = 0) -> Body:
    """{x : abs((Qᵀx)_1) ≤ h}: bounded in one direction only, so of infinite volume (log V = +inf)."""
    rotation = random_rotation(dimension, reflections, key)
    h = float(half_width)

    def level(x):
        return jnp.abs(rotation.transpose(x)[..., 0]) / h

    def radial(w):
        return jnp.where(w[..., 0] == 0, jnp.inf, h / jnp.abs(w[..., 0]))

    lam = np.zeros(dimension)
    lam[0] = 1.0 / h**2
    return Body("slab", dimension, 1.0, level, radial, math.inf, rotation.diagonal(lam), rotation, lam)


# --- separable bodies: saddlepoint inversion ----------------------------------------------------


def quartic_log_partition(quadratic, quartic, s) -> np.ndarray:
    """log Z_i(s) = log ∫ exp(−s(½λ_i y² + ¼μ_i y⁴)) dy, in closed form.

    With a = sλ/2, b = sμ/4, z = a²/(8b): Z = ½ √(a/b) e^{z} K_{1/4}(z) (scipy's ``kve`` keeps
    e^{z}K(z) finite); μ = 0 gives √(2π/(sλ)), λ = 0 gives 2 Γ(5/4) (4/(sμ))^{1/4}.
    """
    lam, mu = np.broadcast_arrays(np.asarray(quadratic, np.float64), np.asarray(quartic, np.float64))
    out = np.empty(lam.shape)
    a, b = s * lam / 2.0, s * mu / 4.0
    gauss, pure = mu == 0, lam == 0
    mixed = ~gauss & ~pure
    out[gauss] = 0.5 * np.log(2.0 * np.pi / (s * lam[gauss]))
    out[pure] = math.log(2.0 * special.gamma(1.25)) + 0.25 * np.log(4.0 / (s * mu[pure]))
    z = a[mixed] ** 2 / (8.0 * b[mixed])
    large = z > 1e6  # asymptotic: the Gaussian limit with its quartic correction series
    val = np.empty(z.shape)
    val[~large] = np.log(0.5) + 0.5 * np.log(a[mixed][~large] / b[mixed][~large]) + np.log(special.kve(0.25, z[~large]))
    aa, bb = a[mixed][large], b[mixed][large]
    eps = bb / aa**2  # ∫e^{−ay²}(1 − by⁴ + b²y⁸/2 − …) = √(π/a)(1 − 3ε/4 + 105ε²/32 − …)
    val[large] = 0.5 * np.log(np.pi / aa) + np.log1p(-0.75 * eps + 105.0 / 32.0 * eps**2 - 3465.0 / 128.0 * eps**3)
    out[mixed] = val
    return out


def quartic_cumulants(quadratic, quartic, *, nodes: int = 256) -> Callable[[float], tuple]:
    """For f_i(y) = ½λ_i y² + ¼μ_i y⁴: s ↦ (Σ log Z_i(s), K1, K2, K3, K4), K_j = Σ_i d^j log Z_i / ds^j.

    Σ log Z from :func:`quartic_log_partition` (Bessel K_{1/4}); its s-derivatives are the
    cumulants of −f under the density ∝ e^{−s f}, d^j log Z/ds^j = (−1)^j κ_j(f), computed by the
    trapezoid rule on y = w·t, t ∈ [0, 12] (exponentially accurate for these smooth, fast-decaying
    integrands), w = min((sλ)^{−1/2}, (sμ)^{−1/4}).
    """
    lam = np.broadcast_to(np.asarray(quadratic, np.float64), np.shape(quartic)).copy()
    mu = np.asarray(quartic, np.float64)
    t = np.linspace(0.0, 12.0, nodes)
    weights = np.full(nodes, t[1] - t[0])
    weights[0] *= 0.5
    weights[-1] *= 0.5

    def cumulants(s: float):
        log_z = float(np.sum(quartic_log_partition(lam, mu, s)))
        sums = np.zeros(4)
        for start in range(0, lam.size, 4096):
            la, m = lam[start : start + 4096, None], mu[start : start + 4096, None]
            with np.errstate(divide="ignore"):
                w = np.minimum(np.where(la > 0, (s * la) ** -0.5, np.inf), np.where(m > 0, (s * m) ** -0.25, np.inf))
            y2 = (w * t) ** 2
            f = 0.5 * la * y2 + 0.25 * m * y2 * y2
            p = np.exp(-s * f) * weights
            p /= p.sum(axis=1, keepdims=True)
            mean = (p * f).sum(axis=1, keepdims=True)
            d = f - mean
            m2, m3, m4 = ((p * d**j).sum(axis=1) for j in (2, 3, 4))
            sums += [-mean.sum(), m2.sum(), -m3.sum(), (m4 - 3.0 * m2**2).sum()]
        return (log_z, *sums)

    return cumulants


def power_cumulants(log_scale_sum: float, count: float, power: float) -> Callable[[float], tuple]:
    """Σ log Z_i(s) = C − (count/p) log s (bodies Σ f_i ≤ τ with f_i homogeneous of degree p: the
    ellipsoid, p = 2, C = Σ ½ log(2π/λ_i); ℓ_p, C = Σ log(2a_iΓ(1+1/p))) and its s-derivatives."""
    c = count / power

    def cumulants(s: float):
        return (log_scale_sum - c * math.log(s), -c / s, c / s**2, -2.0 * c / s**3, 6.0 * c / s**4)

    return cumulants


def separable_log_volume(cumulants: Callable[[float], tuple], threshold: float, dimension: int) -> float:
    """log Vol{Σ_i f_i(y_i) ≤ τ} by the saddlepoint inversion of its Laplace transform.

    V(τ) = (1/2πi) ∫ e^{sτ} ∏_i Z_i(s) / s ds. With κ(s) = Σ log Z_i(s) − log s + sτ and ŝ > 0 the
    root of κ'(ŝ) = 0: log V ≈ κ(ŝ) − ½ log(2π κ''(ŝ)) + log(1 + κ⁗/(8κ''²) − 5κ'''²/(24κ''³))
    (Daniels 1954, with the first correction term; the relative error of the rest is O(1/n²)).
    ``cumulants(s)`` returns (Σ log Z_i, and its first four s-derivatives).
    """
    tau = float(threshold)
    s = dimension / (2.0 * tau)  # exact for the ellipsoid, a start for the rest
    for _ in range(200):
        _, k1, k2, *_ = cumulants(s)
        grad = k1 - 1.0 / s + tau
        hess = k2 + 1.0 / s**2
        step = grad / hess
        new = s - step
        if new <= 0:
            new = s / 4.0
        if abs(new - s) <= 1e-13 * s:
            s = new
            break
        s = new
    else:
        raise NumericalError("the saddlepoint equation did not converge; check the body's parameters")
    log_z, k1, k2, k3, k4 = cumulants(s)
    kappa = log_z - math.log(s) + s * tau
    d2, d3, d4 = k2 + 1.0 / s**2, k3 - 2.0 / s**3, k4 + 6.0 / s**4
    correction = d4 / (8.0 * d2**2) - 5.0 * d3**2 / (24.0 * d2**3)
    return float(kappa - 0.5 * math.log(2.0 * math.pi * d2) + math.log1p(correction))


# --- Gaussian mass of an ellipsoid ---------------------------------------------------------------


def ellipsoid_gaussian_log_mass(eigenvalues, threshold: float = 1.0, prior_scale: float = 1.0) -> float:
    """log P_{x ~ N(0, σ²I)}(½ xᵀHx ≤ τ) for H with eigenvalues λ_i (any rotation: the prior is isotropic).

    = log P(Σ_i w_i z_i² ≤ q), z ~ N(0, I), w_i = σ²λ_i, q = 2τ. Equal w_i: log of the χ²_n CDF at
    q/w (scipy, exact). Otherwise Lugannani-Rice: with K(t) = −½ Σ log(1 − 2 t w_i), t̂ the root of
    K'(t̂) = q, r = sign(t̂) √(2(t̂q − K(t̂))), u = t̂ √K''(t̂):
    P ≈ Φ(r) + φ(r)(1/r − 1/u), evaluated as log Φ(r) + log1p(φ(r)/Φ(r)·(1/r − 1/u)).
    """
    w = np.asarray(eigenvalues, np.float64) * float(prior_scale) ** 2
    q = 2.0 * float(threshold)
    if np.allclose(w, w[0], rtol=1e-12, atol=0.0):
        return float(stats.chi2.logcdf(q / w[0], w.size))

    # solve K'(t) = Σ w_i/(1 − 2tw_i) = q for t < 1/(2 max w), in the variable x = log(1 − 2 t w_max)
    def k1(t):
        return float(np.sum(w / (1.0 - 2.0 * t * w)))

    hi = (1.0 - 1e-15) / (2.0 * w.max())
    lo = -1.0
    while k1(lo) > q:
        lo *= 2.0
        if lo < -1e300:
            raise NumericalError("no saddlepoint for the Gaussian mass; the threshold is too small")
    mean = float(w.sum())
    if abs(q - mean) < 1e-9 * mean:
        t = 0.0
    else:
        for _ in range(400):
            mid = 0.5 * (lo + hi)
            if k1(mid) > q:
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-15 * max(abs(mid), 1e-300):
                break
        t = 0.5 * (lo + hi)
    if t == 0.0:
        return float(np.log(0.5))  # the mean: Φ(0) to leading order
    one = 1.0 - 2.0 * t * w
    k = -0.5 * float(np.sum(np.log(one)))
    k2 = 2.0 * float(np.sum(w**2 / one**2))
    r = math.copysign(math.sqrt(max(2.0 * (t * q - k), 0.0)), t)
    u = t * math.sqrt(k2)
    log_phi_r = -0.5 * r * r - 0.5 * math.log(2.0 * math.pi)
    log_cdf = float(special.log_ndtr(r))
    return log_cdf + math.log1p(math.exp(log_phi_r - log_cdf) * (1.0 / r - 1.0 / u))
