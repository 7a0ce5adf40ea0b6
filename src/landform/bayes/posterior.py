"""Tempered posteriors of a network in four parameter spaces (Dold et al. 2025, "Paths and
Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382, Section on Bayesian inference).

A posterior here is a log density on unconstrained coordinates z ∈ R^d, the space a sampler
moves in, together with the maps from z to the network's flat parameters θ and to the
coordinates in which spaces are compared (φ, the subspace coordinates). With the network
``predict(θ, x)``, the training data (x, y) and the temperature T > 0,

    log p_T(z) = log prior(z) + (1/T) Σ_i log p(y_i | x_i, θ(z), σ),

where log prior(z) includes the log-Jacobians of the maps from z to the constrained values.

Spaces (θ(·) the subspace map θ = μ + φ B of :mod:`landform.subspace.affine`), each built in
its own module of :mod:`landform.bayes.spaces` on the pieces defined here:

- ``volume``: z = φ ∈ R^K, φ ~ N(0, s² I) (s = 1 for the toy problem, 0.5 for UCI in the
  paper); θ = θ(φ).
- ``tunnel``: λ = (t, ξ), t ∈ (a, b) = (−0.1, 1.1) reached by the affine sigmoid
  t = a + (b − a) σ(u), ξ ∈ R^(K−1); φ = c(t) + s_tube Σ_i ξ_i e_i(t)
  (:mod:`landform.subspace.tunnel`). Prior: ξ ~ N(0, 0.5² I) and t on (a, b) with density
  (``t_prior``) "arc_length": ‖c'(t)‖ / S, S = ∫_a^b ‖c'‖ dt (uniform in arc length,
  normalised), "jacobian": (1/(b − a)) abs(det ∂φ/∂λ) (uniform in φ-volume near the curve; this
  factor also depends on ξ and is not normalised), or "none": 1/(b − a) (uniform in t).
- ``line``: t alone on the curve, φ = c(t), with the same t prior ("jacobian" is the arc-length
  factor in one dimension).
- ``full``: z = θ ∈ R^n, θ ~ N(0, s² I) with s = 1; chains start from given points (a deep
  ensemble).

Likelihoods:

- Gaussian, per example log N(y_i; f(x_i), σ²) summed over output dimensions, with σ either
  sampled (σ ~ LogNormal(0, 1) as an extra coordinate u = log σ, whose prior in u is
  N(0, 1) after the Jacobian), fixed (a number, e.g. the trained σ), or ``"network"``: log σ
  read from the model's last output column (models wrapped by
  :func:`landform.models.with_learned_sigma`, whose σ is part of θ);
- categorical, log softmax(f(x_i))[y_i] with integer labels.

The per-example log-likelihoods returned by :attr:`Posterior.pointwise_log_likelihood` are
untempered (as predictive metrics need).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.bayes.transforms import (
    positive_from_unconstrained,
    positive_to_unconstrained,
)
from landform.errors import ConfigError, ShapeError, UnknownNameError, check_finite

T_PRIORS = ("arc_length", "jacobian", "none")
LIKELIHOODS = ("gaussian", "categorical")

_LOG_2PI = math.log(2 * math.pi)
_HIGHEST = jax.lax.Precision.HIGHEST


# ---------------------------------------------------------------------------------------------
# likelihoods


class Likelihood(NamedTuple):
    """How outputs of ``predict(θ, x)`` score targets.

    ``kind``: "gaussian" or "categorical". For "gaussian", ``sigma`` is None (sampled with
    prior LogNormal(``sigma_prior_location``, ``sigma_prior_scale``), i.e. log σ ~ N(μ, s²)), a
    positive number (fixed), or "network" (log σ is the last output column).
    """

    kind: str = "gaussian"
    sigma: float | str | None = None
    sigma_prior_scale: float = 1.0
    sigma_prior_location: float = 0.0

    @property
    def samples_sigma(self) -> bool:
        return self.kind == "gaussian" and self.sigma is None


def gaussian_likelihood(
    sigma: float | str | None = None, sigma_prior_scale: float = 1.0, sigma_prior_location: float = 0.0
) -> Likelihood:
    """A Gaussian likelihood: σ sampled (None; σ ~ LogNormal(``sigma_prior_location``,
    ``sigma_prior_scale``)), fixed (a number) or from the network ("network")."""
    if sigma is not None and sigma != "network":
        if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not (math.isfinite(sigma) and sigma > 0):
            raise ConfigError(f"sigma must be None (sampled), 'network' or a positive number, got {sigma!r}")
        sigma = float(sigma)
    if not (math.isfinite(sigma_prior_scale) and sigma_prior_scale > 0):
        raise ConfigError(f"sigma_prior_scale must be positive, got {sigma_prior_scale}")
    if not math.isfinite(sigma_prior_location):
        raise ConfigError(f"sigma_prior_location must be a finite number, got {sigma_prior_location}")
    return Likelihood("gaussian", sigma, float(sigma_prior_scale), float(sigma_prior_location))


def categorical_likelihood() -> Likelihood:
    """A categorical likelihood on logits with integer labels."""
    return Likelihood("categorical", None, 1.0)


def get_likelihood(likelihood: Likelihood | str | None) -> Likelihood:
    """A :class:`Likelihood` from itself, a name ("gaussian", "categorical") or None (Gaussian, σ sampled)."""
    if likelihood is None:
        return gaussian_likelihood()
    if isinstance(likelihood, Likelihood):
        if likelihood.kind not in LIKELIHOODS:
            raise UnknownNameError("likelihood", likelihood.kind, LIKELIHOODS)
        return likelihood
    if likelihood == "gaussian":
        return gaussian_likelihood()
    if likelihood == "categorical":
        return categorical_likelihood()
    raise UnknownNameError("likelihood", str(likelihood), LIKELIHOODS)


def pointwise_log_likelihood(likelihood: Likelihood, outputs: jax.Array, y: jax.Array, log_sigma=None) -> jax.Array:
    """log p(y_i | outputs_i) per example, shape (N,).

    Gaussian: Σ_d [−½ log 2π − log σ − ½ ((y_id − f_id)/σ)²]; categorical:
    log softmax(f_i)[y_i].
    """
    count = outputs.shape[0]
    if likelihood.kind == "categorical":
        logits = outputs.reshape(count, -1)
        labels = y.reshape(count).astype(jnp.int32)
        return jnp.take_along_axis(jax.nn.log_softmax(logits, axis=-1), labels[:, None], axis=-1)[:, 0]
    outputs = outputs.reshape(count, -1)
    if likelihood.sigma == "network":
        mean, log_sigma = outputs[:, :-1], outputs[:, -1:]
    else:
        mean = outputs
        if likelihood.sigma is not None:
            log_sigma = jnp.asarray(math.log(likelihood.sigma), outputs.dtype)
    targets = y.reshape(count, -1).astype(mean.dtype)
    scaled = (targets - mean) * jnp.exp(-log_sigma)
    return jnp.sum(-0.5 * _LOG_2PI - log_sigma - 0.5 * scaled * scaled, axis=-1)


def predictive_of_outputs(likelihood: Likelihood, outputs: jax.Array) -> jax.Array:
    """The predictive mean (Gaussian, (N, d)) or class probabilities (categorical, (N, C))."""
    count = outputs.shape[0]
    outputs = outputs.reshape(count, -1)
    if likelihood.kind == "categorical":
        return jax.nn.softmax(outputs, axis=-1)
    if likelihood.sigma == "network":
        return outputs[:, :-1]
    return outputs


def _log_normal(value: jax.Array, scale: float) -> jax.Array:
    """Σ log N(value; 0, scale²) over the last axis."""
    return jnp.sum(-0.5 * _LOG_2PI - math.log(scale) - 0.5 * (value / scale) ** 2, axis=-1)


# ---------------------------------------------------------------------------------------------
# the posterior record


@dataclass(frozen=True, eq=False)
class Posterior:
    """A tempered posterior on unconstrained coordinates z ∈ R^``dimension``.

    Attributes:
        space: "volume", "tunnel", "line" or "full".
        names: one name per coordinate of z (e.g. "t_unconstrained", "xi_1", "log_sigma").
        temperature: T; :meth:`log_density` is log prior + (1/T) log likelihood.
        log_prior: z → log prior density of z (log-Jacobians included).
        log_likelihood: z → Σ_i log p(y_i | θ(z)) on the training data (untempered).
        pointwise_log_likelihood: (z, x, y) → log p(y_i | x_i, θ(z)) per example (untempered).
        predict: (z, x) → predictive mean (Gaussian) or class probabilities (categorical).
        constrain: z → dictionary of constrained values ("phi", "t", "xi", "theta", "sigma").
        unconstrain: such a dictionary (values with any leading batch shape) → z.
        to_parameters: z → θ, the network's flat parameters.
        coordinates: z → the coordinates spaces are compared in: φ (subspace spaces) or θ (full).
        default_values: (key, count) → dictionary of constrained starting values for ``count``
            chains (chain i from ``fold_in(key, i)``), or None when the caller must give them.
        settings: the prior and likelihood settings, for records.

    Posteriors compare and hash by identity, so compiled helpers (``jax.jit`` with the
    posterior as a static argument) are reused for the same posterior.
    """

    space: str
    dimension: int
    names: tuple[str, ...]
    temperature: float
    likelihood: Likelihood
    log_prior: Callable[[jax.Array], jax.Array]
    log_likelihood: Callable[[jax.Array], jax.Array]
    pointwise_log_likelihood: Callable[[jax.Array, Any, Any], jax.Array]
    predict: Callable[[jax.Array, Any], jax.Array]
    constrain: Callable[[jax.Array], dict]
    unconstrain: Callable[[dict], jax.Array]
    to_parameters: Callable[[jax.Array], jax.Array]
    coordinates: Callable[[jax.Array], jax.Array]
    default_values: Callable[[jax.Array, int], dict] | None = None
    settings: dict = field(default_factory=dict)

    def log_density(self, z: jax.Array) -> jax.Array:
        """log p_T(z) = log prior(z) + log likelihood(z) / T."""
        return self.log_prior(z) + self.log_likelihood(z) / self.temperature

    def tempered_log_density(self, z: jax.Array, inverse_temperature: jax.Array) -> jax.Array:
        """log prior(z) + ``inverse_temperature`` · log likelihood(z): :meth:`log_density` with
        1/T as an argument, so one compiled sampler serves every temperature."""
        return self.log_prior(z) + self.log_likelihood(z) * inverse_temperature

    def initial_positions(self, key: jax.Array | None = None, count: int = 4, values: dict | None = None) -> jax.Array:
        """Unconstrained starting points (count, d): from constrained ``values`` (arrays with a
        leading chain axis) or, without them, from :attr:`default_values`. Constrained values
        are mapped through the inverse transforms (never used as unconstrained values)."""
        if values is None:
            if self.default_values is None:
                raise ConfigError(
                    f"the {self.space!r} space has no default starting points; pass values "
                    f"(for example the members of a deep ensemble as values={{'theta': ...}})"
                )
            values = self.default_values(jax.random.key(0) if key is None else key, count)
        positions = jnp.asarray(self.unconstrain(values))
        if positions.ndim == 1:
            positions = positions[None]
        if positions.shape[-1] != self.dimension:
            raise ShapeError(
                f"starting values give {positions.shape[-1]} coordinates, "
                f"the {self.space!r} posterior has {self.dimension}"
            )
        return positions


def check_temperature(temperature: float) -> float:
    """Return T as a float; :class:`ConfigError` unless T is a finite number > 0."""
    if isinstance(temperature, bool) or not isinstance(temperature, int | float | np.floating | np.integer):
        raise ConfigError(f"temperature must be a positive number, got {temperature!r}")
    temperature = float(temperature)
    if not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(
            f"temperature must be a finite number > 0 (log p = log prior + log likelihood / T), got {temperature}"
        )
    return temperature


def _check_data(x, y) -> tuple[jax.Array, jax.Array]:
    check_finite("posterior inputs", x)
    check_finite("posterior targets", y)
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"inputs and targets disagree on the number of examples: x {tuple(x.shape)}, y {tuple(y.shape)}"
        )
    if x.shape[0] == 0:
        raise ShapeError("the posterior needs at least one training example")
    return x, y


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _assemble(
    *,
    space: str,
    core_names: tuple[str, ...],
    core_log_prior: Callable,
    core_to_parameters: Callable,
    core_coordinates: Callable,
    core_constrain: Callable,
    core_unconstrain: Callable,
    predict: Callable,
    x,
    y,
    likelihood: Likelihood | str | None,
    temperature: float,
    settings: dict,
    default_core_values: Callable | None,
) -> Posterior:
    likelihood = get_likelihood(likelihood)
    temperature = check_temperature(temperature)
    x, y = _check_data(x, y)
    sampled = likelihood.samples_sigma
    core_size = len(core_names)
    names = core_names + (("log_sigma",) if sampled else ())
    sigma_scale, sigma_location = likelihood.sigma_prior_scale, likelihood.sigma_prior_location

    def split(z):
        z = jnp.asarray(z)
        return z[..., :core_size], (z[..., core_size] if sampled else None)

    def log_prior(z):
        core, log_sigma = split(z)
        value = core_log_prior(core)
        if sampled:
            # σ ~ LogNormal(μ, s): log p(σ) + log|dσ/du| = log N(u; μ, s²) for u = log σ
            value = value + _log_normal(log_sigma[..., None] - sigma_location, sigma_scale)
        return value

    def pointwise(z, xs, ys):
        core, log_sigma = split(z)
        outputs = predict(core_to_parameters(core), jnp.asarray(xs))
        return pointwise_log_likelihood(likelihood, outputs, jnp.asarray(ys), log_sigma)

    def log_likelihood(z):
        return jnp.sum(pointwise(z, x, y))

    def predictive(z, xs):
        core, _ = split(z)
        return predictive_of_outputs(likelihood, predict(core_to_parameters(core), jnp.asarray(xs)))

    def constrain(z):
        core, log_sigma = split(z)
        values = dict(core_constrain(core))
        if sampled:
            values["sigma"] = positive_from_unconstrained(log_sigma)
        return values

    def unconstrain(values):
        core = jnp.asarray(core_unconstrain(values))
        if not sampled:
            return core
        if "sigma" not in values:
            raise ConfigError("starting values need 'sigma' (σ is sampled); pass values['sigma'] > 0")
        log_sigma = positive_to_unconstrained(jnp.asarray(values["sigma"], core.dtype))
        log_sigma = jnp.broadcast_to(log_sigma, core.shape[:-1])
        return jnp.concatenate([core, log_sigma[..., None]], axis=-1)

    def to_parameters(z):
        return core_to_parameters(split(z)[0])

    def coordinates(z):
        return core_coordinates(split(z)[0])

    default_values = None
    if default_core_values is not None:

        def default_values(key, count):
            values = dict(default_core_values(key, count))
            if sampled:
                values["sigma"] = jnp.full((count,), math.exp(sigma_location), jnp.float32)  # the prior's median
            return values

    settings = {
        "space": space,
        "temperature": temperature,
        "likelihood": likelihood.kind,
        "sigma": "sampled" if sampled else likelihood.sigma,
        **({"sigma_prior_scale": sigma_scale} if sampled else {}),
        **({"sigma_prior_location": sigma_location} if sampled and sigma_location != 0.0 else {}),
        **settings,
    }
    return Posterior(
        space=space,
        dimension=len(names),
        names=names,
        temperature=temperature,
        likelihood=likelihood,
        log_prior=log_prior,
        log_likelihood=log_likelihood,
        pointwise_log_likelihood=pointwise,
        predict=predictive,
        constrain=constrain,
        unconstrain=unconstrain,
        to_parameters=to_parameters,
        coordinates=coordinates,
        default_values=default_values,
        settings=settings,
    )


def _uniform_t(key, count, dtype=jnp.float32):
    """t_i ~ U(0, 1) from fold_in(key, i): points on the trained part of the curve."""
    return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(key, i), (), dtype))(jnp.arange(count))


def _check_t_prior(t_prior: str) -> str:
    if t_prior not in T_PRIORS:
        raise UnknownNameError("t prior", t_prior, T_PRIORS)
    return t_prior


#: Names that moved to :mod:`landform.bayes.spaces` (one module per space): importable from here
#: for one release, with a DeprecationWarning.
_MOVED = {
    "SPACES": "landform.bayes.spaces",
    "make_posterior": "landform.bayes.spaces",
    "volume_posterior": "landform.bayes.spaces.volume",
    "tunnel_posterior": "landform.bayes.spaces.tunnel",
    "line_posterior": "landform.bayes.spaces.line",
    "full_posterior": "landform.bayes.spaces.full",
}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(
            f"landform.bayes.posterior.{name} moved to {_MOVED[name]}.{name}; import it from there "
            "(or from landform.bayes). The old path goes away in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
