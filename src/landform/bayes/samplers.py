"""MCMC through BlackJAX: several chains, warm-up, draws, thinning, and failed-chain detection.

Samplers (all on unconstrained coordinates z ∈ R^d, see :mod:`landform.bayes.posterior`):

- ``mclmc``: microcanonical Langevin Monte Carlo (Robnik, De Luca, Silverstein, Seljak 2023,
  "Microcanonical Hamiltonian Monte Carlo", JMLR; the sampler Dold et al. 2025 use), unadjusted,
  with an isokinetic integrator (default McLachlan, two gradient evaluations per step). L and
  the step size (and a diagonal preconditioner) are tuned by ``blackjax.mclmc_find_L_and_step_size``
  during the warm-up: 40% of the warm-up steps adapt the step size to the desired energy
  variance per dimension, 30% estimate the posterior scales (diagonal preconditioning, then a
  few more step-size steps), 30% set L from the autocorrelation of the chain. MCLMC needs at
  least two dimensions; a one-dimensional target gets an independent N(0, 1) auxiliary
  coordinate, dropped from the draws.
- ``nuts``: the No-U-Turn sampler with Stan's window adaptation
  (``blackjax.window_adaptation``: dual averaging of the step size towards the target
  acceptance 0.8, diagonal inverse mass matrix) and a maximum tree depth of 8 doublings
  (BlackJAX's ``max_num_doublings``). One gradient evaluation per leapfrog step.
- ``rwm``: random-walk Metropolis with a Gaussian proposal z' = z + h · d ⊙ ε, ε ~ N(0, I)
  (``blackjax.additive_step_random_walk``). Warm-up in two halves: Robbins–Monro adaptation of
  log h towards the acceptance rate 0.44 (d = 1) ... 0.234 (d ≥ 5) (Roberts, Gelman, Gilks 1997)
  with decreasing gains (i+1)^−0.6, while the second quarter estimates the coordinates' variances
  (Welford); then d = the estimated standard deviations and h is adapted again. No gradients.

Chain i starts from ``initial_positions[i]`` with key ``fold_in(key, i)`` (its warm-up uses
``fold_in(chain_key, 0)``, its draws ``fold_in(chain_key, 1)``), so results do not depend on how
chains are batched. Chains run together under ``jax.vmap`` ("vectorized") or one after another
with ``lax.map`` ("sequential", when memory demands).

Failed chains: a chain fails if its starting point or any draw has a non-finite log density or
position, if the warm-up produced a non-finite or non-positive step size, or if the fraction of
draws with a divergent transition (NUTS divergences; MCLMC steps rejected as non-finite) exceeds
``divergence_limit``. Failed chains are kept in the result with the reason, marked in
``valid``, counted in ``num_failed`` and excluded from every estimate downstream.

Compilation is separated from the timed runs: warm-up and draws are compiled first
(``compile_seconds``), then timed (``warmup_seconds``, ``sampling_seconds``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.base import get_filter_adapt_info_fn
from blackjax.mcmc import integrators as blackjax_integrators
from blackjax.mcmc import random_walk

from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.progress import track

SAMPLER_NAMES = ("mclmc", "nuts", "rwm")
CHAIN_METHODS = ("vectorized", "sequential")

# isokinetic integrators for MCLMC and their gradient evaluations per step (one per position
# update: half the length of the palindromic coefficient list)
MCLMC_INTEGRATORS: dict[str, tuple[Callable, int]] = {
    "isokinetic_mclachlan": (blackjax_integrators.isokinetic_mclachlan, 2),
    "isokinetic_velocity_verlet": (blackjax_integrators.isokinetic_velocity_verlet, 1),
    "isokinetic_yoshida": (blackjax_integrators.isokinetic_yoshida, 3),
    "isokinetic_omelyan": (blackjax_integrators.isokinetic_omelyan, 5),
}


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample (see the module docstring).

    ``num_warmup`` steps of tuning, then ``num_draws`` kept draws, each ``thinning`` steps
    apart, in each of ``num_chains`` chains.
    """

    sampler: str = "mclmc"
    num_chains: int = 4
    num_warmup: int = 1000
    num_draws: int = 1000
    thinning: int = 1
    target_acceptance: float = 0.8
    max_tree_depth: int = 8
    divergence_limit: float = 0.05
    desired_energy_variance: float = 5e-4
    integrator: str = "isokinetic_mclachlan"
    diagonal_preconditioning: bool = True
    rwm_target_acceptance: float | None = None
    chain_method: str = "vectorized"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLER_NAMES:
            raise UnknownNameError("sampler", self.sampler, SAMPLER_NAMES)
        if self.chain_method not in CHAIN_METHODS:
            raise UnknownNameError("chain method", self.chain_method, CHAIN_METHODS)
        if self.integrator not in MCLMC_INTEGRATORS:
            raise UnknownNameError("MCLMC integrator", self.integrator, MCLMC_INTEGRATORS)
        for name in ("num_chains", "num_draws", "thinning", "max_tree_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.num_warmup, bool) or not isinstance(self.num_warmup, int) or self.num_warmup < 10:
            raise ConfigError(
                f"num_warmup must be an integer >= 10 (the samplers tune during it), got {self.num_warmup!r}"
            )
        if not 0 < self.target_acceptance < 1:
            raise ConfigError(f"target_acceptance must lie in (0, 1), got {self.target_acceptance}")
        if self.rwm_target_acceptance is not None and not 0 < self.rwm_target_acceptance < 1:
            raise ConfigError(f"rwm_target_acceptance must lie in (0, 1), got {self.rwm_target_acceptance}")
        if not 0 <= self.divergence_limit <= 1:
            raise ConfigError(f"divergence_limit is a fraction in [0, 1], got {self.divergence_limit}")
        if not self.desired_energy_variance > 0:
            raise ConfigError(f"desired_energy_variance must be positive, got {self.desired_energy_variance}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChainDraws(NamedTuple):
    """The kept draws of one chain (a leading chain axis when batched).

    ``gradient_evaluations`` and ``density_evaluations`` count the work of the ``thinning``
    steps that led to each draw; ``acceptance`` is their mean acceptance probability (1 for
    the unadjusted MCLMC); ``divergent`` whether any of them diverged (NUTS) or was rejected
    as non-finite (MCLMC).
    """

    positions: jax.Array
    log_density: jax.Array
    acceptance: jax.Array
    divergent: jax.Array
    gradient_evaluations: jax.Array
    density_evaluations: jax.Array


class Tuning(NamedTuple):
    """What the warm-up of one chain found and cost.

    ``step_size``: the integrator step (MCLMC, NUTS) or the proposal scale h (RWM);
    ``trajectory_length``: L (MCLMC), 0 otherwise; ``inverse_mass_matrix``: the diagonal
    preconditioner (RWM: the squared proposal scales d²).
    """

    step_size: jax.Array
    trajectory_length: jax.Array
    inverse_mass_matrix: jax.Array
    gradient_evaluations: jax.Array
    density_evaluations: jax.Array
    divergences: jax.Array
    initial_log_density: jax.Array


class SamplingResult(NamedTuple):
    """Draws of every chain (host NumPy arrays), their statistics, and what was done.

    Shapes: C chains, D draws per chain, d coordinates. ``valid`` (C,) marks the chains used by
    estimates; ``failures`` gives each chain's reason ("" for a valid chain).
    """

    positions: np.ndarray  # (C, D, d)
    log_density: np.ndarray  # (C, D)
    acceptance: np.ndarray  # (C, D)
    divergent: np.ndarray  # (C, D)
    gradient_evaluations: np.ndarray  # (C, D)
    density_evaluations: np.ndarray  # (C, D)
    step_size: np.ndarray  # (C,)
    trajectory_length: np.ndarray  # (C,)
    inverse_mass_matrix: np.ndarray  # (C, d)
    warmup_gradient_evaluations: np.ndarray  # (C,)
    warmup_density_evaluations: np.ndarray  # (C,)
    warmup_divergences: np.ndarray  # (C,)
    valid: np.ndarray  # (C,) bool
    failures: tuple[str, ...]
    compile_seconds: float
    warmup_seconds: float
    sampling_seconds: float
    settings: dict
    names: tuple[str, ...]

    @property
    def num_chains(self) -> int:
        return self.positions.shape[0]

    @property
    def num_failed(self) -> int:
        return int(np.sum(~self.valid))

    @property
    def valid_positions(self) -> np.ndarray:
        """Draws of the valid chains only: (C_valid, D, d)."""
        return self.positions[self.valid]


# ---------------------------------------------------------------------------------------------
# MCLMC


def _steps(step: Callable, state, key, count: int):
    """``count`` kernel steps from ``state`` (keys split from ``key``); the infos stacked along
    a leading axis. A single step is not wrapped in a scan (less to compile)."""
    if count == 1:
        state, info = step(state, key)
        return state, jax.tree_util.tree_map(lambda leaf: jnp.asarray(leaf)[None], info)
    return jax.lax.scan(step, state, jax.random.split(key, count))


def _mclmc(log_density: Callable, settings: SamplerSettings):
    integrator, gradients_per_step = MCLMC_INTEGRATORS[settings.integrator]
    kernel = blackjax.mcmc.mclmc.build_kernel(
        integrator=integrator, desired_energy_var=settings.desired_energy_variance
    )
    warmup_steps = settings.num_warmup

    def warmup(key, position):
        init_key, tune_key = jax.random.split(key)
        state = blackjax.mcmc.mclmc.init(position, log_density, init_key)
        initial = state.logdensity
        state, parameters, tuning_steps = blackjax.mclmc_find_L_and_step_size(
            mclmc_kernel=kernel,
            num_steps=warmup_steps,
            state=state,
            rng_key=tune_key,
            logdensity_fn=log_density,
            frac_tune1=0.4,
            frac_tune2=0.3,
            frac_tune3=0.3,
            desired_energy_var=settings.desired_energy_variance,
            diagonal_preconditioning=settings.diagonal_preconditioning,
        )
        dtype = position.dtype
        inverse_mass = jnp.broadcast_to(jnp.asarray(parameters.inverse_mass_matrix, dtype), position.shape)
        evaluations = jnp.asarray(tuning_steps * gradients_per_step + 1, jnp.int32)
        tuning = Tuning(
            step_size=jnp.asarray(parameters.step_size, dtype),
            trajectory_length=jnp.asarray(parameters.L, dtype),
            inverse_mass_matrix=inverse_mass,
            gradient_evaluations=evaluations,
            density_evaluations=evaluations,
            divergences=jnp.zeros((), jnp.int32),
            initial_log_density=initial,
        )
        return state, (parameters.L, parameters.step_size, inverse_mass), tuning

    def draws(key, state, parameters):
        trajectory_length, step_size, inverse_mass = parameters

        def step(state, step_key):
            return kernel(step_key, state, log_density, inverse_mass, trajectory_length, step_size)

        def draw(state, draw_key):
            state, info = _steps(step, state, draw_key, settings.thinning)
            work = jnp.asarray(settings.thinning * gradients_per_step, jnp.int32)
            return state, ChainDraws(
                positions=state.position,
                log_density=state.logdensity,
                acceptance=jnp.ones((), state.logdensity.dtype),
                divergent=jnp.any(~info.nonans),
                gradient_evaluations=work,
                density_evaluations=work,
            )

        _, out = jax.lax.scan(draw, state, jax.random.split(key, settings.num_draws))
        return out

    return warmup, draws


# ---------------------------------------------------------------------------------------------
# NUTS


def _nuts(log_density: Callable, settings: SamplerSettings):
    depth = settings.max_tree_depth
    kernel = blackjax.nuts.build_kernel()

    def warmup(key, position):
        adaptation = blackjax.window_adaptation(
            blackjax.nuts,
            log_density,
            is_mass_matrix_diagonal=True,
            target_acceptance_rate=settings.target_acceptance,
            adaptation_info_fn=get_filter_adapt_info_fn(info_keys={"num_integration_steps", "is_divergent"}),
            max_num_doublings=depth,
        )
        initial = log_density(position)
        (state, parameters), info = adaptation.run(key, position, num_steps=settings.num_warmup)
        steps = jnp.sum(info.info.num_integration_steps).astype(jnp.int32) + 1
        tuning = Tuning(
            step_size=jnp.asarray(parameters["step_size"], position.dtype),
            trajectory_length=jnp.zeros((), position.dtype),
            inverse_mass_matrix=jnp.asarray(parameters["inverse_mass_matrix"], position.dtype),
            gradient_evaluations=steps,
            density_evaluations=steps,
            divergences=jnp.sum(info.info.is_divergent).astype(jnp.int32),
            initial_log_density=initial,
        )
        return state, (parameters["step_size"], parameters["inverse_mass_matrix"]), tuning

    def draws(key, state, parameters):
        step_size, inverse_mass = parameters

        def step(state, step_key):
            return kernel(step_key, state, log_density, step_size, inverse_mass, max_num_doublings=depth)

        def draw(state, draw_key):
            state, info = _steps(step, state, draw_key, settings.thinning)
            work = jnp.sum(info.num_integration_steps).astype(jnp.int32)
            return state, ChainDraws(
                positions=state.position,
                log_density=state.logdensity,
                acceptance=jnp.mean(info.acceptance_rate),
                divergent=jnp.any(info.is_divergent),
                gradient_evaluations=work,
                density_evaluations=work,
            )

        _, out = jax.lax.scan(draw, state, jax.random.split(key, settings.num_draws))
        return out

    return warmup, draws


# ---------------------------------------------------------------------------------------------
# random-walk Metropolis


def rwm_target_acceptance(dimension: int) -> float:
    """0.44 in one dimension, 0.234 from five on, linear in between (Roberts et al. 1997)."""
    if dimension >= 5:
        return 0.234
    return 0.44 - (0.44 - 0.234) * (dimension - 1) / 4


def _rwm(log_density: Callable, settings: SamplerSettings):
    kernel = random_walk.build_additive_step()

    def move(key, state, scale, spread):
        def random_step(step_key, position):
            return scale * spread * jax.random.normal(step_key, position.shape, position.dtype)

        return kernel(key, state, log_density, random_step)

    def warmup(key, position):
        dimension = position.shape[0]
        dtype = position.dtype
        target = settings.rwm_target_acceptance or rwm_target_acceptance(dimension)
        first = settings.num_warmup // 2
        start_scale = jnp.log(jnp.asarray(2.38 / math.sqrt(dimension), dtype))
        state = random_walk.init(position, log_density)
        initial = state.logdensity

        def adapt(carry, inputs):
            state, log_scale, spread, count, mean, squares = carry
            index, step_key = inputs
            # at the start of the second half: proposal scales from the variances estimated
            # in the second quarter (shrunk towards 1e-3 with 5 pseudo-observations, as Stan
            # does for its mass matrix), and the scale adaptation restarts
            switch = index == first
            variance = squares / jnp.maximum(count - 1, 1)
            variance = (count / (count + 5)) * variance + 1e-3 * (5 / (count + 5))
            usable = jnp.all(jnp.isfinite(variance)) & (count > 2)
            spread = jnp.where(switch & usable, jnp.sqrt(variance), spread)
            log_scale = jnp.where(switch, start_scale, log_scale)
            state, info = move(step_key, state, jnp.exp(log_scale), spread)
            accept = jnp.minimum(jnp.nan_to_num(info.acceptance_rate), 1.0)
            phase_index = jnp.where(index >= first, index - first, index).astype(dtype)
            log_scale = log_scale + (phase_index + 1.0) ** -0.6 * (accept - target)
            # Welford's running mean and sum of squared deviations over the second quarter
            collect = ((index >= first // 2) & (index < first)).astype(dtype)
            new_count = count + collect
            delta = state.position - mean
            mean = mean + collect * delta / jnp.maximum(new_count, 1)
            squares = squares + collect * delta * (state.position - mean)
            return (state, log_scale, spread, new_count, mean, squares), None

        zeros = jnp.zeros_like(position)
        carry = (state, start_scale, jnp.ones_like(position), jnp.zeros((), dtype), zeros, zeros)
        steps = jnp.arange(settings.num_warmup)
        (state, log_scale, spread, *_), _ = jax.lax.scan(
            adapt, carry, (steps, jax.random.split(key, settings.num_warmup))
        )
        tuning = Tuning(
            step_size=jnp.exp(log_scale),
            trajectory_length=jnp.zeros((), dtype),
            inverse_mass_matrix=spread * spread,
            gradient_evaluations=jnp.zeros((), jnp.int32),
            density_evaluations=jnp.asarray(settings.num_warmup + 1, jnp.int32),
            divergences=jnp.zeros((), jnp.int32),
            initial_log_density=initial,
        )
        return state, (jnp.exp(log_scale), spread), tuning

    def draws(key, state, parameters):
        scale, spread = parameters

        def step(state, step_key):
            return move(step_key, state, scale, spread)

        def draw(state, draw_key):
            state, info = _steps(step, state, draw_key, settings.thinning)
            return state, ChainDraws(
                positions=state.position,
                log_density=state.logdensity,
                acceptance=jnp.mean(jnp.minimum(jnp.nan_to_num(info.acceptance_rate), 1.0)),
                divergent=jnp.zeros((), bool),
                gradient_evaluations=jnp.zeros((), jnp.int32),
                density_evaluations=jnp.asarray(settings.thinning, jnp.int32),
            )

        _, out = jax.lax.scan(draw, state, jax.random.split(key, settings.num_draws))
        return out

    return warmup, draws


_BUILDERS = {"mclmc": _mclmc, "nuts": _nuts, "rwm": _rwm}


# ---------------------------------------------------------------------------------------------
# driver


def pad_one_dimensional(log_density: Callable, positions: jax.Array) -> tuple[Callable, jax.Array]:
    """MCLMC needs at least two dimensions: the target p(z) on R becomes p(z_1) N(z_2; 0, 1)
    on R², and the starting points get z_2 = 0. Dropping z_2 from the draws gives draws of p.
    Further arguments of ``log_density`` are passed through."""

    def padded(z, *arguments):
        return log_density(z[:1], *arguments) - 0.5 * z[1] * z[1]

    return padded, jnp.concatenate([positions, jnp.zeros_like(positions)], axis=1)


def _over_chains(fn: Callable, method: str) -> Callable:
    if method == "vectorized":
        return jax.vmap(fn)
    return lambda *arguments: jax.lax.map(lambda packed: fn(*packed), arguments)


def _timed(compiled, *arguments):
    start = time.perf_counter()
    out = jax.block_until_ready(compiled(*arguments))
    return out, time.perf_counter() - start


def _chain_failures(draws: ChainDraws, tuning: Tuning, limit: float) -> tuple[str, ...]:
    """One reason per chain ("" when the chain is usable)."""
    positions = np.asarray(draws.positions)
    log_density = np.asarray(draws.log_density)
    divergent = np.asarray(draws.divergent)
    step_size = np.asarray(tuning.step_size)
    initial = np.asarray(tuning.initial_log_density)
    reasons = []
    for chain in range(positions.shape[0]):
        found = []
        if not np.isfinite(initial[chain]):
            found.append("the starting point has a non-finite log density")
        bad = ~(np.isfinite(log_density[chain]) & np.isfinite(positions[chain]).all(axis=-1))
        if bad.any():
            found.append(f"non-finite log density or position in {int(bad.sum())} of {bad.size} draws")
        if not (np.isfinite(step_size[chain]) and step_size[chain] > 0):
            found.append(f"the warm-up found no usable step size ({step_size[chain]})")
        fraction = float(np.mean(divergent[chain]))
        if fraction > limit:
            found.append(f"{fraction:.1%} of draws followed divergent or non-finite transitions (limit {limit:.1%})")
        reasons.append("; ".join(found))
    return tuple(reasons)


def sample(
    key: jax.Array,
    log_density: Callable[[jax.Array], jax.Array],
    initial_positions,
    settings: SamplerSettings | None = None,
    *,
    names: tuple[str, ...] | None = None,
    arguments: tuple = (),
    progress: Any = None,
    **overrides,
) -> SamplingResult:
    """Run ``settings.num_chains`` chains of ``settings.sampler`` on ``log_density``.

    Args:
        key: randomness; chain i uses ``fold_in(key, i)``.
        log_density: z ↦ log p(z) (up to a constant) on R^d, e.g. ``posterior.log_density``.
        initial_positions: (C, d) unconstrained starting points, one per chain (see
            :meth:`landform.bayes.Posterior.initial_positions`).
        settings: a :class:`SamplerSettings`; keyword ``overrides`` replace its fields (or
            build one: ``sample(key, f, x0, sampler="nuts", num_draws=500)``).
        names: coordinate names for the records (default z_1..z_d).
        arguments: further arguments of the density, ``log_density(z, *arguments)`` (arrays).
            They enter the compiled programs as inputs rather than constants, so densities that
            differ only in them (a posterior at several temperatures) compile to the same
            programs, which the persistent compilation cache then reuses.
        progress: see :mod:`landform.progress`; counted in kernel steps, advanced once after the
            warm-up and once after the draws (each phase runs as one compiled program).

    Returns a :class:`SamplingResult`; failed chains are marked, not dropped (module docstring).
    """
    if settings is None:
        settings = SamplerSettings(**overrides)
    elif overrides:
        settings = SamplerSettings(**{**settings.as_dict(), **overrides})
    positions = jnp.asarray(initial_positions)
    if not jnp.issubdtype(positions.dtype, jnp.floating):
        positions = positions.astype(jnp.float32)
    if positions.ndim != 2 or positions.shape[0] != settings.num_chains:
        raise ShapeError(
            f"initial positions must have shape (num_chains, d) = ({settings.num_chains}, d); got "
            f"{tuple(positions.shape)}"
        )
    dimension = positions.shape[1]
    names = tuple(names) if names is not None else tuple(f"z_{i + 1}" for i in range(dimension))
    if len(names) != dimension:
        raise ShapeError(f"{len(names)} names for {dimension} coordinates")

    padded = settings.sampler == "mclmc" and dimension == 1
    target, positions = pad_one_dimensional(log_density, positions) if padded else (log_density, positions)

    arguments = tuple(jnp.asarray(a) for a in arguments)

    def built(values):
        return _BUILDERS[settings.sampler](lambda z: target(z, *values), settings)

    def run_warmup(keys, starts, values):
        return _over_chains(built(values)[0], settings.chain_method)(keys, starts)

    def run_draws(keys, states, parameters, values):
        return _over_chains(built(values)[1], settings.chain_method)(keys, states, parameters)

    chain_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(settings.num_chains))
    warmup_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(chain_keys)
    draw_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(chain_keys)

    draw_steps = settings.num_draws * settings.thinning
    description = f"sampling {settings.num_chains} {settings.sampler} chains (warm-up, then draws)"
    with track(progress, description, settings.num_warmup + draw_steps) as reporter:
        start = time.perf_counter()
        warmup_compiled = jax.jit(run_warmup).lower(warmup_keys, positions, arguments).compile()
        compile_seconds = time.perf_counter() - start
        (states, parameters, tuning), warmup_seconds = _timed(warmup_compiled, warmup_keys, positions, arguments)
        reporter.advance(settings.num_warmup, phase="warm-up done")
        start = time.perf_counter()
        draws_compiled = jax.jit(run_draws).lower(draw_keys, states, parameters, arguments).compile()
        compile_seconds += time.perf_counter() - start
        out, sampling_seconds = _timed(draws_compiled, draw_keys, states, parameters, arguments)
        reporter.advance(draw_steps, phase="draws done")

    out, tuning = jax.device_get((out, tuning))
    chain_positions = np.asarray(out.positions)
    inverse_mass = np.asarray(tuning.inverse_mass_matrix)
    if padded:
        chain_positions = chain_positions[..., :1]
        inverse_mass = inverse_mass[..., :1]
    failures = _chain_failures(out._replace(positions=chain_positions), tuning, settings.divergence_limit)
    record = settings.as_dict()
    record["dimension"] = dimension
    return SamplingResult(
        positions=chain_positions,
        log_density=np.asarray(out.log_density),
        acceptance=np.asarray(out.acceptance),
        divergent=np.asarray(out.divergent, bool),
        gradient_evaluations=np.asarray(out.gradient_evaluations),
        density_evaluations=np.asarray(out.density_evaluations),
        step_size=np.asarray(tuning.step_size),
        trajectory_length=np.asarray(tuning.trajectory_length),
        inverse_mass_matrix=inverse_mass,
        warmup_gradient_evaluations=np.asarray(tuning.gradient_evaluations),
        warmup_density_evaluations=np.asarray(tuning.density_evaluations),
        warmup_divergences=np.asarray(tuning.divergences),
        valid=np.asarray([reason == "" for reason in failures], bool),
        failures=failures,
        compile_seconds=compile_seconds,
        warmup_seconds=warmup_seconds,
        sampling_seconds=sampling_seconds,
        settings=record,
        names=names,
    )


def sample_posterior(
    key: jax.Array,
    posterior,
    settings: SamplerSettings | None = None,
    *,
    values: dict | None = None,
    progress: Any = None,
    **overrides,
) -> SamplingResult:
    """:func:`sample` on ``posterior.log_density`` from ``posterior.initial_positions`` (the
    constrained ``values`` when given, else the posterior's defaults; chain i's default start
    from ``fold_in(key, i)`` of a separate start key), with the posterior's settings recorded."""
    if settings is None:
        settings = SamplerSettings(**overrides)
    elif overrides:
        settings = SamplerSettings(**{**settings.as_dict(), **overrides})
    start_key = jax.random.fold_in(key, 2**31 - 1)
    positions = posterior.initial_positions(start_key, settings.num_chains, values)
    inverse_temperature = jnp.asarray(1.0 / posterior.temperature, positions.dtype)
    result = sample(
        key,
        posterior.tempered_log_density,
        positions,
        settings,
        names=posterior.names,
        arguments=(inverse_temperature,),
        progress=progress,
    )
    return result._replace(settings={**result.settings, **{f"posterior_{k}": v for k, v in posterior.settings.items()}})


def from_draws(
    positions, *, names: tuple[str, ...] | None = None, settings: dict | None = None, seconds: float = 0.0
) -> SamplingResult:
    """Draws obtained elsewhere (exact posterior draws, a deep ensemble as a one-draw-per-chain
    "posterior") as a :class:`SamplingResult` (C, D, d) with every chain valid, so the metrics
    and records of this package apply to them. Chains with non-finite draws are marked failed."""
    positions = np.asarray(positions)
    if positions.ndim != 3:
        raise ShapeError(f"draws must have shape (chains, draws, d), got {positions.shape}")
    chains, draws, dimension = positions.shape
    finite = np.isfinite(positions).all(axis=(1, 2))
    names = tuple(names) if names is not None else tuple(f"z_{i + 1}" for i in range(dimension))
    zeros = np.zeros((chains, draws))
    return SamplingResult(
        positions=positions,
        log_density=zeros,
        acceptance=np.ones((chains, draws)),
        divergent=np.zeros((chains, draws), bool),
        gradient_evaluations=zeros.astype(np.int32),
        density_evaluations=zeros.astype(np.int32),
        step_size=np.ones(chains),
        trajectory_length=np.zeros(chains),
        inverse_mass_matrix=np.ones((chains, dimension)),
        warmup_gradient_evaluations=np.zeros(chains, np.int32),
        warmup_density_evaluations=np.zeros(chains, np.int32),
        warmup_divergences=np.zeros(chains, np.int32),
        valid=finite,
        failures=tuple("" if ok else "non-finite draws" for ok in finite),
        compile_seconds=0.0,
        warmup_seconds=0.0,
        sampling_seconds=float(seconds),
        settings={"sampler": "external", **(settings or {})},
        names=names,
    )
