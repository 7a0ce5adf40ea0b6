"""Tethered annealing: basin volumes (and prior masses) that do not rest on the largest ray.

Coordinates θ = θ* + P z with a preconditioner P (:class:`TetherPreconditioner`, diagonal plus an
optional low-rank factor, log abs(det P) exact). S_z = {z : θ* + P z ∈ S} (S the τ-sublevel set,
intersected with a cap when one is given; see :mod:`landform.volume.measures`). A base measure
β(z) dz, Lebesgue (volumes) or a normalised Gaussian N(m, diag(1/b)) (prior masses), and a tether
k·‖z‖²/2 define

    Z(k) = ∫_{S_z} β(z) exp(−k ‖z‖²/2) dz,   d log Z / dk = −E_k[‖z‖²/2],

E_k under the tethered density restricted to S_z. Then

    log Z(0) = log Z(k_max) + ∫_0^{k_max} E_k[‖z‖²/2] dk,
    log Vol(S) = log abs(det P) + log Z(0)  (Lebesgue base),   log Prior(S) = log Z(0)  (prior base).

Anchor: k_max is set (bisection) so that the unrestricted reference Gaussian
γ_k ∝ β(z) e^{−k‖z‖²/2} falls inside S_z with probability ≈ 0.7; log Z(k_max) = log C(k_max) +
log p_in with C(k) the Gaussian normaliser in closed form ((n/2) log(2π/k) for Lebesgue) and p_in
the inside fraction of fresh draws. The inside draws start the chains in equilibrium.

Ladder: a geometric pilot ladder from k_max down to k_end, where the tether no longer confines
(k·E_k‖z‖² ≤ ``end_ratio``·n); the production ladder spaces ``rungs`` values of k evenly in the
pilot's thermodynamic length ∫ √Var_k(‖z‖²/2) dk. Below k_end a tail term
∫_0^{k_end} E_k[u] dk ≈ k_end·E[u] + k_end²·Var(u)/2 (u = ‖z‖²/2; first order in k, since
dE_k[u]/dk = −Var_k(u)). If the ladder does not reach that end after ``max_decades`` decades of k,
E_k‖z‖² is still growing like n/k: the set is reported unbounded (log-volume +inf).

Preconditioner: a rotated curvature spectrum (a network's, or the exact bodies' Householder
rotations) leaks its stiff eigenvalues into every diagonal entry, so d = h^{−1/2} from the curvature
diagonal h leaves the soft directions of S_z stretched by a broad spread of factors that no
low-rank correction removes (rotated power-law ellipsoid, n = 1000, spectrum spanning 10^6:
eigenvalues of Pᵀ H P between 0.007 and 1.02 at the 1 % and 99 % quantiles with the diagonal alone,
0.009 and 1.17 after :func:`low_rank_refinement`, condition 5.7e6 and 160). :func:`deflated_preconditioner`
subtracts the stiff end (Lanczos) from the diagonal first and whitens it with the low-rank factor:
0.71 and 1.03, condition 11.5. Chains that sampled the badly conditioned S_z did not equilibrate
along the stretched soft directions, which is what made the estimate −43 nats off there.

Sampler: elliptical slice sampling (Murray, Adams, MacKay 2010) with respect to a Gaussian
reference γ' and the likelihood 1_S·γ_k/γ' (:func:`slice_step`): from z, draw ν ~ γ', propose
m + (z − m) cos φ + (ν − m) sin φ on a shrinking angle bracket until a proposal is accepted (at
most ``max_shrinks`` tries; else z stays, which keeps detailed balance). γ' = γ_k is the plain
kernel (the likelihood is membership); with ``matched_reference`` the reference scale is
min(std_k, the chains' current RMS of z), so that at small k, where N(0, I/k) is far wider than
S_z, proposals are not almost all outside (the target is unchanged). Only membership is evaluated
(float64); a kernel that uses ∇L at the wall can replace :func:`slice_step` with the same
signature. Chains run in parallel (vmap), chain i from ``fold_in(key, i)``, each rung started from
the previous rung's states.

Estimates per run: MBAR over all rungs (pymbar; reduced potentials k_j·‖z‖²/2, the base measure
cancels), on samples thinned to their effective size, the reported one (``estimator="mbar"``),
with pymbar's smallest neighbour overlap as a diagnostic; and thermodynamic integration
(trapezoid in log k) with its standard error from per-rung effective sample sizes (ArviZ's
``ess``) and a discretisation error abs(T_h − T_2h)/3, the cross-check. The trapezoid is biased
upwards on a coarse ladder by more than that discretisation error says (n = 1000 ellipsoid,
30 rungs: TI +1.9 and +2.8 nats, MBAR −1.6 and −0.6, on two runs of the same seed).

Rounding: P ← P·diag(s), s_i the RMS of z_i at the last rung, repeated until the estimate moves by
less than its standard error (at most ``rounding_passes``). A poor P does not bias the integral,
but leaves chains out of equilibrium, which the within-run error does not see.

Error model (:class:`BasinEstimate`): the reported error is the largest of the within-run
standard error (MBAR's, or TI's with autocorrelation and discretisation, each with the anchor and
tail), the standard deviation of ``replicas`` independent runs, and the shift of their mean when
the chains run twice as long; the reported estimate is the mean of the longer runs, flagged
unconverged when MBAR's smallest neighbour overlap is below ``min_overlap`` or the shift exceeds
twice the larger of the other two. The overlap threshold is 0.05: on the rotated n = 300
ellipsoid spanning 10^6 runs with overlaps 0.022-0.042 were biased by −0.9 to −1.6 nats, a bias
that is common to every replica and to both chain lengths, with reported errors 0.36-0.75 and, at
the former threshold 0.03, sometimes flagged converged.

Measured so far (a shared 2-core CPU; seeds 0; settings as named): an isotropic ball, n = 200,
32 chains, 24 rungs, 16 steps: error +0.10 nats, reported 0.17. Rotated ellipsoid, n = 60,
spectrum spanning 10: within twice the reported error (the test suite). ℓ_0.5 body (non-convex),
n = 30, unrotated, 16 chains: −1.05 nats with reported 0.51 at 8 steps per rung, −0.60 with
reported 0.30 at 32: a negative bias (chains do not reach the spikes) that shrinks with chain
length more slowly than 1/T, so the doubling shift under-reports it; rotated, n = 60: −3.7 with
reported 0.9. Rotated ellipsoid, n = 1000, spectrum spanning 10^6, Hessian-diagonal start plus
Lanczos low-rank refinement, 16 chains, 3 rounding passes: −210, −106, −66 nats after the passes,
−43 final with reported 12.9, flagged unconverged. The same at n = 10^4 (benchmark, seed 0, 16
chains, 8 steps, 2 rounding passes): −66 after the first pass, −276 after rounding, −408 final
with reported 58, flagged unconverged: rounding from chains this short shrinks the coordinates
they have not explored and makes P worse.

With :func:`deflated_preconditioner` (rank 64) and no rounding, n = 1000, spectrum spanning 10^6,
seed 0, 16 chains, 16 rungs (30 with the pilot's), 8 steps, 4 replicas (a 2-core CPU shared with
four other jobs, load about 13: seconds are wall time under that load): ellipsoid, plain slice
kernel: TI +1.88 with reported 1.05 (within twice), MBAR −1.64, 9.7e5 evaluations, 146 s;
with the matched reference: TI +2.84 (reported 1.06, not within twice), MBAR −0.58, 6.9e5
evaluations, 283 s; hence MBAR as the reported estimate. ℓ_4 body (semi-axes √(2/λ_i)): TI −7.7
(plain) and −8.9 (matched), MBAR −9.9 and −10.6, reported 5.3 and 4.4, flagged unconverged
(doubling moves it by 4-5 nats: the chains are still drifting; 1.0e6 and 7.6e5 evaluations, 396
and 403 s). Quartic body (½λ_i y² + ¼ y⁴ ≤ 1), matched, MBAR primary: −449 with reported 29,
flagged unconverged (overlap 0.08; 7.9e5 evaluations, 421 s): the curvature describes the
quadratic part only, so P is up to ~1000 times too wide along the soft directions, which the
quartic term confines; this is what rounding is for: two rounding passes from the deflated start
gave −481 and −374 after the passes and −278 final (reported 26, unconverged, 9.4e5 evaluations,
152 s at load 6): each pass gains about 100 nats, far too slowly. ℓ_0.5 with the deflated start: not measured.
n = 10^4 (``benchmarks/basin_reference.py --quick --seeds 1 --bodies ellipsoid --chains 16 --rungs 16
--steps 8 --rounding-passes 0 --replicas 4``; same machine and load): ellipsoid, seed 0: −0.35
nats with reported 0.41 (replica spread 0.35, doubling shift 0.41, within-run 0.07), converged,
29 rungs, 72 low-rank directions, 8.9e5 evaluations, 1,735 s (13 s of it the preconditioner);
the ray estimator on 1,000 exact radii: −13,898. Seed 1 (``--first-seed 1``, load 6): −0.30 with
reported 0.61 (doubling shift; flagged unconverged by a hair), 8.9e5 evaluations, 587 s; rays
−13,540. Seeds 2 and 3 (load 8): −0.27 with reported 0.19 (converged) and −0.30 with reported
0.55 (unconverged), 9.0e5 evaluations, 818 and 849 s, smallest MBAR overlap 0.031, TI +49.2 and
+48.9 (the trapezoid's bias grows with n; MBAR is the estimate); rays −13,814 and −12,902. So 4 of
4 seeds within twice the reported error; a common −0.3 nats remains, and the overlap (0.031) is
below the overlap threshold now in force (0.05, raised after the n = 300 runs above the module's
error model), so these four runs would now be flagged unconverged: more rungs are the next thing
to buy (at n = 300, 40 rungs instead of 16 did not raise the overlap: 0.022-0.023). The error
bar is therefore validated on the ellipsoids above; on non-quadratic or spiky bodies it is a
lower bound of the error unless the run is flagged converged, and even then check it on an exact
body of the same kind.

References: Xu, Frenkel, Liu, PRL 106 (2011) 245502; Asenjo, Paillusson, Frenkel, PRL 112 (2014)
098002; Martiniani, Schrenk, Stevenson, Wales, Frenkel, PRE 93 (2016) 012906 (tethered
thermodynamic integration / MBAR for basin volumes); Shirts, Chodera, J. Chem. Phys. 129 (2008)
124105 (MBAR); Lovász, Vempala 2006 (rounding).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, NumericalError


class TetherPreconditioner(NamedTuple):
    """P z = d ⊙ (z + U((c − 1) ⊙ (Uᵀ z))): a diagonal ``scale`` d (n,) times I + U(diag(c) − I)Uᵀ,
    U (n × r) with orthonormal columns (``basis``), c (r,) > 0 (``stretch``).

    log abs(det P) = Σ_i log d_i + Σ_j log c_j. r = 0 is the diagonal preconditioner.
    """

    scale: np.ndarray
    basis: np.ndarray
    stretch: np.ndarray

    @property
    def log_det(self) -> float:
        return float(np.sum(np.log(self.scale)) + np.sum(np.log(self.stretch)))

    def apply(self, z):
        """P z on the last axis."""
        if self.basis.shape[1]:
            u = jnp.asarray(self.basis, z.dtype)
            z = z + ((z @ u) * jnp.asarray(self.stretch - 1.0, z.dtype)) @ u.T
        return z * jnp.asarray(self.scale, z.dtype)


def tether_preconditioner(scale=None, *, dimension: int | None = None, curvature=None, basis=None, stretch=None):
    """A :class:`TetherPreconditioner` from a diagonal ``scale``, or from a curvature diagonal h
    (d_i = h_i^{−1/2}, the Hessian/GGN diagonal, e.g. :func:`landform.curvature.diagonal`, with
    non-positive or tiny entries floored at 1e-12·max h), or the identity of ``dimension``."""
    if scale is None and curvature is not None:
        h = np.asarray(curvature, np.float64)
        h = np.maximum(h, 1e-12 * max(float(h.max()), 1e-300))
        scale = h**-0.5
    if scale is None:
        if dimension is None:
            raise ConfigError("give a scale, a curvature diagonal or the dimension of an identity preconditioner")
        scale = np.ones(dimension)
    scale = np.asarray(scale, np.float64)
    if (scale <= 0).any() or not np.isfinite(scale).all():
        raise ConfigError("a preconditioner's scale must be positive and finite")
    n = scale.size
    basis = np.zeros((n, 0)) if basis is None else np.asarray(basis, np.float64)
    stretch = np.ones(basis.shape[1]) if stretch is None else np.asarray(stretch, np.float64)
    if basis.shape != (n, stretch.size) or (stretch <= 0).any():
        raise ConfigError("the low-rank basis must be n × r with r positive stretches")
    return TetherPreconditioner(scale, basis, stretch)


def low_rank_refinement(
    precondition: TetherPreconditioner,
    curvature_product: Callable,
    *,
    largest: int = 48,
    smallest: int = 12,
    threshold: float = 1.5,
) -> TetherPreconditioner:
    """Add to the diagonal d a low-rank factor that whitens the curvature's outliers seen through it.

    A = D H D (D = diag(d), H the curvature: ``curvature_product(x)`` = H x, e.g. a Hessian- or
    GGN-vector product). Its ``largest`` and ``smallest`` eigenpairs (Lanczos, scipy's ``eigsh``)
    whose eigenvalue e lies outside [ē/threshold, threshold·ē] give U and c = (e/ē)^{−1/2}, with ē
    the bulk level (the median Rayleigh quotient of 16 random vectors); then
    Pᵀ H P = (I + U(C − I)Uᵀ) A (I + U(C − I)Uᵀ) has those eigenvalues moved to ē. Any existing
    low-rank part of ``precondition`` is replaced. ``curvature_product`` must be traceable by JAX (it is
    jitted). For a rotated spectrum prefer :func:`deflated_preconditioner`.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    d = np.asarray(precondition.scale, np.float64)
    n = d.size

    product = _batched_product(curvature_product, d)

    def matvec(x):
        return product(np.asarray(x, np.float64).reshape(-1))

    operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    probes = np.random.default_rng(0).normal(size=(16, n))
    bulk = float(np.median([p @ matvec(p) / (p @ p) for p in probes]))
    values, vectors = [], []
    for count, which in ((largest, "LA"), (smallest, "SA")):
        count = min(count, n - 2)
        if count > 0:
            try:
                e, v = eigsh(operator, k=count, which=which, tol=1e-6, maxiter=20 * n)
            except ArpackNoConvergence as failure:  # clustered ends: keep the pairs that converged
                e, v = failure.eigenvalues, failure.eigenvectors
            values.append(e)
            vectors.append(v)
    e = np.concatenate(values)
    v = np.concatenate(vectors, axis=1)
    keep = ((e > threshold * bulk) | (e < bulk / threshold)) & (e > 0)
    e, v = e[keep], v[:, keep]
    if e.size:  # the two calls may share eigenvectors (small n): re-orthonormalise, keep Rayleigh quotients
        v, _ = np.linalg.qr(v)
        rayleigh = np.einsum("ij,ij->j", v, np.stack([matvec(c) for c in v.T], axis=1))
        keep = rayleigh > 0
        v, e = v[:, keep], rayleigh[keep]
    return TetherPreconditioner(d, v, (e / bulk) ** -0.5)


def _batched_product(curvature_product: Callable, scale: np.ndarray) -> Callable:
    """X (n × b) ↦ D H D X with D = diag(scale), H x = ``curvature_product(x)`` jitted and vmapped
    over columns (float64)."""
    with jax.enable_x64(True):
        product = jax.jit(jax.vmap(curvature_product, in_axes=1, out_axes=1))
        single = jax.jit(curvature_product)

    def apply(x):
        x = np.asarray(x, np.float64)
        with jax.enable_x64(True):
            if x.ndim == 1:
                return scale * np.asarray(single(jnp.asarray(scale * x)), np.float64)
            return scale[:, None] * np.asarray(product(jnp.asarray(scale[:, None] * x)), np.float64)

    return apply


def deflated_preconditioner(
    curvature_diagonal,
    curvature_product: Callable,
    *,
    rank: int = 64,
    threshold: float = 1.5,
    floor: float = 1e-3,
    probes: int = 16,
    key: int = 0,
) -> TetherPreconditioner:
    """A :class:`TetherPreconditioner` whose diagonal is the curvature diagonal *with its stiff end
    deflated*, plus a low-rank factor that whitens that end.

    H = Q Λ Qᵀ seen in axis coordinates (any rotation that mixes stiff and soft directions, e.g.
    a network's): h_i = Σ_m Q_im² λ_m, so a few large λ_m leak into every diagonal entry and a soft
    coordinate's h_i can exceed its own curvature many times over; d = h^{−1/2} then leaves the
    soft directions of S_z stretched by a broad (not low-rank) spread of factors, which Lanczos on
    D H D cannot fix (measured, rotated power-law ellipsoid, n = 1000, spectrum spanning 10^6:
    the 1 %-99 % eigenvalue range of Pᵀ H P is 0.007-1.02 with d = h^{−1/2}, 0.009-1.17 after
    :func:`low_rank_refinement`, condition 160). Here:

    1. the ``rank`` largest eigenpairs (e_j, u_j) of H by Lanczos (scipy's ``eigsh``);
    2. h̃_i = max(h_i − Σ_j e_j u_ij², ``floor``·h_i), the diagonal of H less its stiff end, and
       d = h̃^{−1/2};
    3. Rayleigh-Ritz of A = D H D on the block Krylov space span(D U, A D U) (orthonormalised;
       2·rank products), the bulk level ē the median Rayleigh quotient of ``probes`` random vectors
       projected off that space, and the Ritz pairs (r_j, v_j) outside [ē/threshold, threshold·ē]
       give U' = (v_j), c_j = (r_j/ē)^{−1/2}: P = D (I + U'(C − I)U'ᵀ), log abs(det P) exact.

    Same body: 1 %-99 % range 0.71-1.03, condition 11.5. ``curvature_diagonal``: h (exact, or a
    Hutchinson/GGN estimate); ``curvature_product``: x ↦ H x, traceable by JAX (it is jitted and
    vmapped). Cost: about 4·rank + ``probes`` products.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    h = np.asarray(curvature_diagonal, np.float64)
    n = h.size
    h = np.maximum(h, 1e-12 * max(float(h.max()), 1e-300))
    plain = _batched_product(curvature_product, np.ones(n))
    rank = min(rank, n - 2)
    if rank > 0:
        operator = LinearOperator((n, n), matvec=plain, dtype=np.float64)
        try:
            e, u = eigsh(operator, k=rank, which="LA", tol=1e-4, maxiter=20 * n)
        except ArpackNoConvergence as failure:
            e, u = failure.eigenvalues, failure.eigenvectors
        keep = e > 0
        e, u = e[keep], u[:, keep]
    else:
        e, u = np.zeros(0), np.zeros((n, 0))
    remaining = np.maximum(h - np.einsum("ik,k,ik->i", u, e, u), floor * h)
    d = remaining**-0.5
    product = _batched_product(curvature_product, d)
    if not e.size:
        return TetherPreconditioner(d, np.zeros((n, 0)), np.zeros(0))
    block = np.linalg.qr(d[:, None] * u)[0]
    block = np.linalg.qr(np.concatenate([block, product(block)], axis=1))[0]
    ritz, w = np.linalg.eigh(block.T @ product(block))
    vectors = block @ w
    g = np.random.default_rng(key).normal(size=(n, probes))
    g -= block @ (block.T @ g)
    bulk = float(np.median(np.sum(g * product(g), axis=0) / np.sum(g * g, axis=0)))
    keep = ((ritz > threshold * bulk) | (ritz < bulk / threshold)) & (ritz > 0)
    return TetherPreconditioner(d, vectors[:, keep], (ritz[keep] / bulk) ** -0.5)


class AnnealingSettings(NamedTuple):
    """Settings of :func:`tethered_log_volume` (defaults sized for n in the thousands).

    chains: parallel chains per rung. rungs: production ladder length. steps: recorded sampler
    steps per rung and chain (the doubled runs use 2×), after burn = steps // 2 (same for them).
    anchor_samples: draws for p_in. anchor_inside: the p_in k_max is set to. end_ratio: the
    ladder ends where k·E‖z‖² ≤ end_ratio·n. pilot_factor: geometric spacing of the pilot.
    pilot_steps: steps per pilot rung. max_decades: how far below k_max the pilot may go before
    calling the set unbounded. max_shrinks: slice proposals per step. rounding_passes: at most
    this many rounding runs (0: none). replicas: independent runs at each chain length (≥ 4 for a
    spread). cap_touch: samples within this relative distance of the cap count as touching it.
    matched_reference: the slice sampler's Gaussian reference is narrowed to the chains' current
    spread (:func:`slice_step` with s' = min(std, rms of z)), which leaves the target unchanged and
    keeps proposals near the set when the tether is weaker than the set's own confinement.
    estimator: "mbar" (the reported estimate is MBAR's, TI the cross-check) or "ti" (the reverse).
    min_overlap: below this smallest neighbour overlap (pymbar's overlap matrix) a run is flagged.
    """

    chains: int = 64
    rungs: int = 48
    steps: int = 24
    anchor_samples: int = 4096
    anchor_inside: float = 0.7
    end_ratio: float = 1e-3
    pilot_factor: float = 0.6
    pilot_steps: int = 8
    max_decades: float = 10.0
    max_shrinks: int = 48
    rounding_passes: int = 6
    replicas: int = 4
    cap_touch: float = 0.01
    matched_reference: bool = True
    estimator: str = "mbar"
    min_overlap: float = 0.05


class RunResult(NamedTuple):
    """One annealing run on one ladder: log Z(0) (TI and MBAR), its parts and its samples' RMS."""

    log_z: float
    standard_error: float
    discretisation_error: float
    mbar_log_z: float
    mbar_error: float
    log_anchor: float
    log_p_inside: float
    tail: float
    ladder: np.ndarray
    mean_energy: np.ndarray
    var_energy: np.ndarray
    coordinate_rms: np.ndarray
    cap_fraction: float
    reached_end: bool
    evaluations: int
    overlap: float = math.nan


class BasinEstimate(NamedTuple):
    """The result of :func:`tethered_log_volume`.

    log_volume: the estimate (log-volume in θ, or log prior mass; +inf when unbounded): MBAR's
    (``settings.estimator`` "mbar", the default, falling back to TI where MBAR fails) or TI's.
    error: max(standard_error, replica_spread, doubling_shift), the reported error.
    standard_error: within-run error of the mean of the long runs (MBAR: its asymptotic error on
    samples thinned to their effective size; TI: autocorrelation-corrected per-rung errors and
    discretisation; both plus anchor and tail). replica_spread: standard deviation of the long
    runs. doubling_shift: abs(mean(long runs) − mean(runs of half the length)).
    mbar_log_volume, mbar_error: MBAR's estimate (mean over the long runs) and its error.
    ti_log_volume: TI's estimate (mean over the long runs; the trapezoid in log k is biased
    upwards where the ladder is coarse: +2 to +3 nats against MBAR's −0.6 to −1.6 on the n = 1000
    ellipsoid, +49 against −0.3 at n = 10^4). overlap: the smallest neighbour overlap of MBAR over the long runs.
    replicas, short_replicas: the long and short runs' estimates. rounding: the estimate after
    each rounding pass. converged: doubling_shift ≤ 2·max(standard_error, replica_spread) and
    (MBAR) overlap ≥ ``settings.min_overlap``.
    unbounded: the ladder found no tether-free end (no cap), or samples reached the cap (a cap).
    cap_fraction: fraction of last-rung samples within ``cap_touch`` of the cap. log_det: log abs(det P)
    of the final preconditioner. evaluations: membership evaluations. seconds: wall time.
    measure: "volume" or "prior mass".
    """

    log_volume: float
    error: float
    standard_error: float
    replica_spread: float
    doubling_shift: float
    mbar_log_volume: float
    mbar_error: float
    replicas: np.ndarray
    short_replicas: np.ndarray
    rounding: np.ndarray
    converged: bool
    unbounded: bool
    cap_fraction: float
    log_det: float
    ladder: np.ndarray
    evaluations: int
    seconds: float
    measure: str
    ti_log_volume: float = math.nan
    overlap: float = math.nan


# --- the reference Gaussian γ_k ∝ β(z) exp(−k‖z‖²/2) ---------------------------------------------


def _reference(k, base_precision, base_mean):
    """Mean, standard deviation and log normaliser log C(k) of γ_k (per coordinate, summed)."""
    if base_precision is None:
        n = None
        return 0.0, k**-0.5, n
    prec = base_precision + k
    mean = base_precision * base_mean / prec
    log_c = 0.5 * np.sum(np.log(base_precision / prec)) - 0.5 * np.sum(base_precision * k * base_mean**2 / prec)
    return mean, prec**-0.5, float(log_c)


def _log_normaliser(k, n, base_precision, base_mean):
    if base_precision is None:
        return 0.5 * n * math.log(2.0 * math.pi / k)
    return _reference(k, base_precision, base_mean)[2]


# --- the sampler ---------------------------------------------------------------------------------


class SliceState(NamedTuple):
    """One chain: position z and the membership evaluations it has cost."""

    position: jax.Array
    evaluations: jax.Array


def slice_step(key, state: SliceState, mean, std, member: Callable, max_shrinks: int, reference_std=None) -> SliceState:
    """One elliptical slice step for γ_k = N(mean, diag(std²)) restricted to {member(z)}.

    Murray, Adams, MacKay 2010 with the prior γ' = N(mean, diag(s'²)), s' = ``reference_std``
    (default s' = std, γ' = γ_k) and the likelihood ℓ(z) = 1_S(z)·γ_k(z)/γ'(z), so that γ'·ℓ is
    the target whatever s' is: ν ~ γ', φ ~ U(0, 2π), slice level log y = log ℓ(z) + log U(0, 1),
    bracket [φ − 2π, φ]; propose mean + (z − mean) cos φ + (ν − mean) sin φ, accept if inside with
    log ℓ > log y, else shrink the bracket towards 0 and redraw φ. After ``max_shrinks`` misses z
    stays (a rejection). With s' = std, ℓ is the indicator and every inside proposal is accepted.
    """
    z = state.position
    key_nu, key_phi, key_loop = jax.random.split(key, 3)
    x0 = z - mean
    if reference_std is None:
        reference_std = std
        log_ratio = lambda x: jnp.zeros((), z.dtype)
    else:
        # log γ_k(x) − log γ'(x) up to a constant: ½ Σ x²(1/s'² − 1/std²)
        curvature = 1.0 / reference_std**2 - 1.0 / std**2
        log_ratio = lambda x: 0.5 * jnp.sum(curvature * x * x)
    nu = reference_std * jax.random.normal(key_nu, z.shape, z.dtype)
    key_phi, key_level = jax.random.split(key_phi)
    level = log_ratio(x0) + jnp.log(jax.random.uniform(key_level, (), z.dtype, 1e-300, 1.0))
    phi = jax.random.uniform(key_phi, (), z.dtype, 0.0, 2.0 * math.pi)

    def propose(angle):
        return x0 * jnp.cos(angle) + nu * jnp.sin(angle)

    def cond(carry):
        _, _, _, done, count, _ = carry
        return (~done) & (count < max_shrinks)

    def body(carry):
        angle, lo, hi, _, count, _ = carry
        offset = propose(angle)
        proposal = mean + offset
        ok = member(proposal) & (log_ratio(offset) > level)
        lo = jnp.where(ok | (angle >= 0), lo, angle)
        hi = jnp.where(ok | (angle < 0), hi, angle)
        new_angle = jax.random.uniform(jax.random.fold_in(key_loop, count), (), z.dtype, lo, hi)
        return jnp.where(ok, angle, new_angle), lo, hi, ok, count + 1, proposal

    init = (phi, phi - 2.0 * math.pi, phi, jnp.asarray(False), jnp.asarray(0), z)
    angle, _, _, done, count, proposal = jax.lax.while_loop(cond, body, init)
    return SliceState(jnp.where(done, proposal, z), state.evaluations + count)


def _matched_reference(positions, mean, std, enabled: bool):
    """The slice sampler's reference scale s' = min(std, ‖z − mean‖_rms) over the chains' current
    states (one scalar, from all chains and coordinates), or None (s' = std) when not ``enabled``."""
    if not enabled:
        return None
    rms = float(np.sqrt(np.mean((np.asarray(positions) - np.asarray(mean)) ** 2)))
    return jnp.minimum(jnp.asarray(std), rms)


def _rung_runner(member_z: Callable, max_shrinks: int, cap_member: Callable | None):
    """A jitted function running ``burn`` + ``steps`` slice steps for all chains at one rung; it
    returns the last positions, the recorded energies ‖z‖²/2 (chains × steps), the mean of z² per
    coordinate and the fraction touching the cap over the recorded steps, and the evaluations."""

    def run(key, positions, mean, std, params, steps: int, burn: int, reference_std=None):
        chains = positions.shape[0]
        member = lambda z: member_z(z, params)

        def chain_step(carry, i):
            states, squares, touch = carry
            keys = jax.vmap(lambda c: jax.random.fold_in(jax.random.fold_in(key, i), c))(jnp.arange(chains))
            states = jax.vmap(lambda k_, s: slice_step(k_, s, mean, std, member, max_shrinks, reference_std))(
                keys, states
            )
            z = states.position
            record = i >= burn
            squares = squares + jnp.where(record, jnp.mean(z * z, axis=0), 0.0)
            if cap_member is not None:
                touch = touch + jnp.where(record, jnp.mean(jax.vmap(lambda x: cap_member(x, params))(z)), 0.0)
            return (states, squares, touch), 0.5 * jnp.sum(z * z, axis=-1)

        init = (SliceState(positions, jnp.zeros(chains, jnp.int64)), jnp.zeros(positions.shape[1]), 0.0)
        (states, squares, touch), energy = jax.lax.scan(chain_step, init, jnp.arange(steps + burn))
        return states.position, energy[burn:].T, squares / steps, touch / steps, jnp.sum(states.evaluations)

    return jax.jit(run, static_argnames=("steps", "burn"))


# --- statistics ----------------------------------------------------------------------------------


def _ess(draws: np.ndarray) -> float:
    """Effective sample size of a chains × draws array (ArviZ), at least 1."""
    from arviz_stats import ess

    if draws.shape[1] < 4 or np.ptp(draws) == 0:
        return float(draws.size)
    value = float(ess(np.asarray(draws, np.float64)))
    return max(min(value, float(draws.size)), 1.0) if np.isfinite(value) else 1.0


def _trapezoid_log_k(ks: np.ndarray, values: np.ndarray) -> float:
    """∫ value dk over the ladder (descending ks), trapezoid in log k: ∫ k·value d log k."""
    y = ks * values
    x = np.log(ks)
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[:-1] - x[1:])))


def _trapezoid_weights(ks: np.ndarray) -> np.ndarray:
    x = np.log(ks)
    gaps = x[:-1] - x[1:]
    w = np.zeros(ks.size)
    w[:-1] += 0.5 * gaps
    w[1:] += 0.5 * gaps
    return w * ks


def _mbar(ks: np.ndarray, energies: list[np.ndarray]) -> tuple[float, float, float]:
    """log Z(k_last) − log Z(k_first) by MBAR over all rungs, from energies thinned to their ESS,
    its error, and the smallest overlap O_{j,j+1} between neighbouring rungs (pymbar)."""
    thinned = []
    for e in energies:
        stride = max(int(round(e.size / _ess(e))), 1)
        thinned.append(e[:, ::stride].ravel())
    counts = np.array([t.size for t in thinned])
    u = np.concatenate(thinned)
    u_kn = ks[:, None] * u[None, :]
    logging.getLogger("pymbar").setLevel(logging.ERROR)
    with jax.enable_x64(True):  # pymbar would otherwise switch JAX to 64 bits for the whole process
        import pymbar

        try:
            mbar = pymbar.MBAR(u_kn, counts, solver_protocol="robust")
            result = mbar.compute_free_energy_differences()
        except Exception:  # noqa: BLE001 - MBAR is a cross-check; its failure must not end the run
            return math.nan, math.nan, math.nan
        try:
            matrix = np.asarray(mbar.compute_overlap()["matrix"])
            overlap = float(np.min(np.diagonal(matrix, offset=1))) if matrix.shape[0] > 1 else 1.0
        except Exception:  # noqa: BLE001 - a diagnostic only
            overlap = math.nan
    return float(-result["Delta_f"][0, -1]), float(result["dDelta_f"][0, -1]), overlap


# --- one run -------------------------------------------------------------------------------------


class _Problem(NamedTuple):
    member_z: Callable  # z (n,) → bool
    cap_member: Callable | None  # z (n,) → bool: within cap_touch of the cap
    dimension: int
    base_precision: np.ndarray | None
    base_mean: np.ndarray | None


def _anchor(problem: _Problem, settings: AnnealingSettings, key, count_inside):
    """k_max with p_in ≈ anchor_inside (bisection in log k on a fixed probe set), log p_in and its
    standard error, ``chains`` inside draws of γ_{k_max} (exact equilibrium starts), evaluations.

    ``count_inside(key, mean, std, size)`` draws ``size`` points of N(mean, diag std²) from key and
    returns (number inside, up to ``chains`` inside draws first)."""
    probe = 256
    evaluations = 0

    def fraction(k):
        nonlocal evaluations
        mean, std, _ = _reference(k, problem.base_precision, problem.base_mean)
        evaluations += probe
        count, _ = count_inside(jax.random.fold_in(key, 0), jnp.asarray(mean), jnp.asarray(std), probe)
        return count / probe

    target = settings.anchor_inside
    k = 1.0
    if fraction(k) < target:
        while fraction(k * 16.0) < target:
            k *= 16.0
            if k > 1e300:
                raise NumericalError("no tether keeps the reference Gaussian inside the set: is θ* inside it?")
        lo, hi = k, k * 16.0
    else:
        while fraction(k / 16.0) >= target:
            k /= 16.0
            if k < 1e-300:
                raise NumericalError("every tether keeps the reference Gaussian inside: is the set all of R^n?")
        lo, hi = k / 16.0, k
    while hi / lo > 1.02:
        mid = math.sqrt(lo * hi)
        if fraction(mid) < target:
            lo = mid
        else:
            hi = mid
    k_max = hi
    mean, std, _ = _reference(k_max, problem.base_precision, problem.base_mean)
    count, starts = count_inside(
        jax.random.fold_in(key, 1), jnp.asarray(mean), jnp.asarray(std), settings.anchor_samples
    )
    evaluations += settings.anchor_samples
    if count < settings.chains:
        raise NumericalError(
            f"only {count} of {settings.anchor_samples} anchor draws fell inside; raise anchor_samples"
        )
    p = count / settings.anchor_samples
    se = math.sqrt((1.0 - p) / (p * settings.anchor_samples))
    return k_max, math.log(p), se, starts, evaluations


def _inside_counter(member_z: Callable, chains: int, dimension: int, chunk: int = 128):
    """count_inside for :func:`_anchor`: draws in chunks (memory O(chunk·n)), draw j of chunk c
    from fold_in(fold_in(key, c), j)."""

    @jax.jit
    def chunk_fn(key, mean, std, params):
        g = jax.vmap(lambda j: jax.random.normal(jax.random.fold_in(key, j), (dimension,), jnp.float64))(
            jnp.arange(chunk)
        )
        z = mean + std * g
        return z, jax.vmap(lambda x: member_z(x, params))(z)

    def count_inside(key, mean, std, size, params):
        total, kept, have = 0, [], 0
        for c in range(-(-size // chunk)):
            z, ok = chunk_fn(jax.random.fold_in(key, c), mean, std, params)
            ok = np.asarray(ok)[: size - c * chunk]
            total += int(ok.sum())
            if have < chains:
                picked = np.asarray(z)[: ok.size][ok][: chains - have]
                kept.append(picked)
                have += picked.shape[0]
        return total, (np.concatenate(kept) if kept else np.zeros((0, dimension)))

    return count_inside


def _run(problem, settings, key, ladder, anchor, steps, runner, with_mbar=True) -> RunResult:
    k_max, log_p, log_p_se, starts, anchor_evals = anchor
    n = problem.dimension
    positions = jnp.asarray(starts)
    energies, means, variances = [], [], []
    evaluations = anchor_evals
    rms = None
    touch = 0.0
    burn = max(steps // 2, 1)
    for r, k in enumerate(ladder):
        mean, std, _ = _reference(float(k), problem.base_precision, problem.base_mean)
        ref = _matched_reference(positions, mean, std, settings.matched_reference)
        positions, energy, squares, touch, evals = runner(
            jax.random.fold_in(key, r), positions, jnp.asarray(mean), jnp.asarray(std), steps=steps, burn=burn,
            reference_std=ref,
        )  # fmt: skip
        energy = np.asarray(energy, np.float64)
        energies.append(energy)
        means.append(energy.mean())
        variances.append(energy.var() / _ess(energy))
        evaluations += int(evals)
        rms = np.sqrt(np.asarray(squares))
        touch = float(touch)
    ks = np.asarray(ladder, np.float64)
    means, variances = np.asarray(means), np.asarray(variances)
    integral = _trapezoid_log_k(ks, means)
    se2 = float(np.sum(_trapezoid_weights(ks) ** 2 * variances))
    coarse = _trapezoid_log_k(ks[::2], means[::2]) if ks.size > 4 and (ks.size - 1) % 2 == 0 else None
    if coarse is None and ks.size > 4:
        coarse = _trapezoid_log_k(np.append(ks[:-1:2], ks[-1]), np.append(means[:-1:2], means[-1]))
    discretisation = abs(integral - coarse) / 3.0 if coarse is not None else 0.0
    last = energies[-1]
    k_end = float(ks[-1])
    tail = k_end * float(last.mean()) + 0.5 * k_end**2 * float(last.var())
    tail_se2 = k_end**2 * variances[-1] + (0.5 * k_end**2 * float(last.var())) ** 2
    log_anchor = _log_normaliser(k_max, n, problem.base_precision, problem.base_mean) + log_p
    log_z = log_anchor + integral + tail
    se = math.sqrt(se2 + tail_se2 + log_p_se**2 + discretisation**2)
    mbar, mbar_se, overlap = (math.nan, math.nan, math.nan)
    if with_mbar:
        diff, mbar_se, overlap = _mbar(ks, energies)
        mbar = log_anchor + diff + tail
        mbar_se = math.sqrt(mbar_se**2 + log_p_se**2 + tail_se2)
    reached = k_end * 2.0 * float(last.mean()) <= max(settings.end_ratio * n * 1.5, 1e-300)
    return RunResult(
        log_z, se, discretisation, mbar, mbar_se, log_anchor, log_p, tail, ks, means,
        np.asarray([e.var() for e in energies]), rms, touch, reached, evaluations, overlap,
    )  # fmt: skip


def _pilot_ladder(problem, settings, key, anchor, runner, has_cap) -> tuple[np.ndarray, bool, int]:
    """Geometric pilot from k_max down to the tether-free end; returns the production ladder
    (evenly spaced in thermodynamic length), whether the end was reached, and evaluations."""
    k_max, _, _, starts, _ = anchor
    n = problem.dimension
    positions = jnp.asarray(starts)
    ks, stds = [], []
    k = k_max
    evaluations = 0
    reached = False
    r = 0
    while k >= k_max * 10.0 ** (-settings.max_decades):
        mean, std, _ = _reference(k, problem.base_precision, problem.base_mean)
        ref = _matched_reference(positions, mean, std, settings.matched_reference)
        positions, energy, _, _, evals = runner(
            jax.random.fold_in(key, r), positions, jnp.asarray(mean), jnp.asarray(std),
            steps=settings.pilot_steps, burn=settings.pilot_steps, reference_std=ref,
        )  # fmt: skip
        energy = np.asarray(energy, np.float64)
        evaluations += int(evals)
        ks.append(k)
        stds.append(max(float(energy.std()), 1e-300))
        if k * 2.0 * float(energy.mean()) <= settings.end_ratio * n:
            reached = True
            break
        k *= settings.pilot_factor
        r += 1
    ks_a, stds_a = np.asarray(ks), np.asarray(stds)
    if ks_a.size < 2:
        return np.geomspace(k_max, k_max * settings.pilot_factor, settings.rungs), reached, evaluations
    # thermodynamic length ℓ(k) = ∫ std_k(u) dk, cumulative from k_max (trapezoid in log k)
    y = ks_a * stds_a
    x = np.log(ks_a)
    length = np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * (x[:-1] - x[1:]))])
    targets = np.linspace(0.0, length[-1], settings.rungs)
    log_ladder = np.interp(targets, length, x)
    # keep rungs no sparser in log k than the pilot's own spacing, so the flat tail is covered
    ladder = np.exp(log_ladder)
    ladder = np.unique(np.concatenate([ladder, ks_a]))[::-1]
    return ladder, reached, evaluations


def tethered_log_volume(
    inside: Callable,
    center,
    *,
    precondition: TetherPreconditioner | None = None,
    cap: float | None = None,
    cap_scale=None,
    prior_scale=None,
    curvature_product: Callable | None = None,
    settings: AnnealingSettings = AnnealingSettings(),
    key: jax.Array | int = 0,
) -> BasinEstimate:
    """log Vol(S ∩ cap) (or log prior mass of S) by tethered annealing; see the module docstring.

    ``inside(θ)`` → bool for a batch of float64 vectors θ (leading axes), True in S (a star
    domain about ``center`` θ*, e.g. from :func:`landform.volume.measures.sublevel_membership`).
    ``cap``: R, intersect with {‖(θ − θ*)/cap_scale‖ ≤ R} (``cap_scale`` per coordinate, default
    1). ``prior_scale``: σ (scalar or per coordinate): estimate log ∫_S N(θ; 0, diag σ²) dθ
    instead of the volume (diagonal preconditioners only). ``curvature_product``: x ↦ H x (a
    Hessian- or GGN-vector product at θ*); when given, :func:`low_rank_refinement` adds a low-rank
    factor to P at the start and after every rounding pass (volumes only). Returns a
    :class:`BasinEstimate`.
    """
    start_time = time.perf_counter()
    key = jax.random.key(key) if isinstance(key, int) else key
    with jax.enable_x64(True):
        center = jnp.asarray(center, jnp.float64)
        n = int(center.size)
        pre = precondition if precondition is not None else tether_preconditioner(dimension=n)
        if pre.scale.size != n:
            raise ConfigError(f"the preconditioner has dimension {pre.scale.size}, the center {n}")
        if prior_scale is not None and pre.basis.shape[1]:
            raise ConfigError("a prior mass needs a diagonal preconditioner (no low-rank part)")
        cap_w = None if cap_scale is None else np.broadcast_to(np.asarray(cap_scale, np.float64), (n,))
        estimates = []
        total_evals = 0

        def member_z(z, params: TetherPreconditioner):
            offset = params.apply(z)
            ok = inside(center + offset)
            if cap is not None:
                scaled = offset if cap_w is None else offset / jnp.asarray(cap_w)
                ok = ok & (jnp.sum(scaled * scaled, axis=-1) <= cap**2)
            return ok

        cap_member = None
        if cap is not None:

            def cap_member(z, params: TetherPreconditioner):
                offset = params.apply(z)
                scaled = offset if cap_w is None else offset / jnp.asarray(cap_w)
                return jnp.sqrt(jnp.sum(scaled * scaled, axis=-1)) >= cap * (1.0 - settings.cap_touch)

        runner = _rung_runner(member_z, settings.max_shrinks, cap_member)
        counter = _inside_counter(member_z, settings.chains, n)

        def one(pre, run_key, steps):
            params = TetherPreconditioner(*(jnp.asarray(a, jnp.float64) for a in pre))
            base_precision = base_mean = None
            if prior_scale is not None:
                sigma = np.broadcast_to(np.asarray(prior_scale, np.float64), (n,))
                # θ = θ* + d⊙z ~ N(0, σ²) ⇔ z ~ N(−θ*/d, σ²/d²)
                base_precision = (pre.scale / sigma) ** 2
                base_mean = -np.asarray(center) / pre.scale
            problem = _Problem(member_z, cap_member, n, base_precision, base_mean)
            bound_runner = functools.partial(runner, params=params)
            count_inside = lambda key_, mean, std, size: counter(key_, mean, std, size, params)
            anchor = _anchor(problem, settings, jax.random.fold_in(run_key, 0), count_inside)
            ladder, reached, pilot_evals = _pilot_ladder(
                problem, settings, jax.random.fold_in(run_key, 1), anchor, bound_runner, cap is not None
            )
            if not reached:
                return None, anchor, pilot_evals + anchor[4]
            result = _run(problem, settings, jax.random.fold_in(run_key, 2), ladder, anchor, steps, bound_runner)
            return result, anchor, pilot_evals + result.evaluations

        if settings.estimator not in ("mbar", "ti"):
            raise ConfigError(f"estimator must be 'mbar' or 'ti', got {settings.estimator!r}")

        def primary(result):
            """(log Z, its within-run error) of the configured estimator; TI where MBAR failed."""
            if settings.estimator == "mbar" and np.isfinite(result.mbar_log_z) and np.isfinite(result.mbar_error):
                return result.mbar_log_z, result.mbar_error
            return result.log_z, result.standard_error

        measure = "volume" if prior_scale is None else "prior mass"
        log_det = lambda p: p.log_det if prior_scale is None else 0.0

        def unbounded_result(evals):
            return BasinEstimate(
                math.inf, math.inf, math.inf, math.inf, math.inf, math.inf, math.inf, np.array([]), np.array([]),
                np.asarray(estimates), False, True, math.nan, log_det(pre), np.array([]), evals,
                time.perf_counter() - start_time, measure,
            )  # fmt: skip

        if curvature_product is not None and prior_scale is None:
            pre = low_rank_refinement(pre, curvature_product)
        previous = None
        for p in range(settings.rounding_passes):
            result, _, evals = one(pre, jax.random.fold_in(key, 1000 + p), settings.steps)
            total_evals += evals
            if result is None:
                return unbounded_result(total_evals)
            value = primary(result)[0] + log_det(pre)
            estimates.append(value)
            rms = np.maximum(result.coordinate_rms, 1e-300)
            pre = pre._replace(scale=pre.scale * rms)
            if curvature_product is not None and prior_scale is None:
                pre = low_rank_refinement(pre, curvature_product)
            if previous is not None and abs(value - previous) < primary(result)[1]:
                break
            previous = value

        runs = {}
        for label, steps in (("short", settings.steps), ("long", 2 * settings.steps)):
            values, ses, mbars, mbar_ses, fractions, tis, overlaps = [], [], [], [], [], [], []
            ladder = None
            for r in range(settings.replicas):
                result, _, evals = one(pre, jax.random.fold_in(key, (1 if label == "short" else 2) * 100 + r), steps)
                total_evals += evals
                if result is None:
                    return unbounded_result(total_evals)
                value, se = primary(result)
                values.append(value + log_det(pre))
                ses.append(se)
                tis.append(result.log_z + log_det(pre))
                overlaps.append(result.overlap)
                mbars.append(result.mbar_log_z + log_det(pre))
                mbar_ses.append(result.mbar_error)
                fractions.append(result.cap_fraction)
                ladder = result.ladder
            runs[label] = (
                np.asarray(values), np.asarray(ses), np.asarray(mbars), np.asarray(mbar_ses), fractions, tis, overlaps
            )  # fmt: skip

        long_v, long_se, long_mbar, long_mbar_se, fractions, long_ti, long_overlap = runs["long"]
        short_v = runs["short"][0]
        estimate = float(long_v.mean())
        standard_error = float(math.sqrt(np.sum(long_se**2)) / long_v.size)
        spread = float(long_v.std(ddof=1)) if long_v.size > 1 else math.inf
        shift = abs(estimate - float(short_v.mean()))
        error = max(standard_error, spread, shift)
        cap_fraction = float(np.mean(fractions))
        overlap = float(np.min(long_overlap)) if settings.estimator == "mbar" else math.nan
        overlap_ok = settings.estimator != "mbar" or not overlap < settings.min_overlap
        return BasinEstimate(
            estimate, error, standard_error, spread, shift, float(np.mean(long_mbar)),
            float(math.sqrt(np.sum(long_mbar_se**2)) / long_v.size), long_v, short_v, np.asarray(estimates),
            bool(shift <= 2.0 * max(standard_error, spread) and overlap_ok),
            bool(cap is not None and cap_fraction > 0.0), cap_fraction, log_det(pre), ladder, total_evals,
            time.perf_counter() - start_time, measure, float(np.mean(long_ti)), overlap,
        )  # fmt: skip
