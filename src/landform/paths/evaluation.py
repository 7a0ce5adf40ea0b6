"""Evaluating the networks along a trained curve.

For a grid t_1..t_T (default 21 equally spaced values in [0, 1]) and each split:

- loss L(t) = (1/N) Σ_i ℓ(b(t); x_i, y_i) with the training loss ℓ; ``nll`` is the same array
  when ℓ is a negative log-likelihood (cross-entropy, binary cross-entropy, Gaussian NLL) and
  NaN otherwise (e.g. ``mse``); accuracy (classification) and root-mean-squared error of the
  predicted means (regression), NaN where they do not apply.
- barrier height (Garipov et al. 2018; Frankle et al. 2020): the largest excess of the loss over
  the straight line between the end losses,

      barrier = max_t [ L(t) − ((1 − t) L(0) + t L(1)) ]        (≥ 0 when the grid holds 0, 1).

- functional diversity of the networks along the curve, from their predictions p_t(x_i)
  (class probabilities for classification, predicted means for regression; Dold et al. 2025,
  arXiv 2503.03382, compare how much the functions on a tunnel differ):

      distance(a, b)          = sqrt( (1/N) Σ_i ‖p_{t_a}(x_i) − p_{t_b}(x_i)‖² )
      mean_pairwise_distance  = mean over pairs a < b of distance(a, b)
      variance                = (1/N) Σ_i (1/T) Σ_a ‖p_{t_a}(x_i) − p̄(x_i)‖²,  p̄ = mean over t
      disagreement            = mean over pairs a < b of the fraction of examples whose
                                predicted class differs (classification; NaN for regression).

- for 1-D regression, :func:`curve_predictive` returns the predicted mean (and σ for models with
  a learned σ) of the networks at many t on an x grid: the data of a "curve predictive" plot
  (:func:`landform.paths.plots.plot_curve_predictive`).

Networks are evaluated one t at a time over chunks of examples (``lax.map``, or a Python loop
for convolutional models on CPU, see :mod:`landform.paths.networks`), so memory stays bounded;
arrays come back as NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.data.base import Split
from landform.errors import ConfigError, DataError
from landform.losses import Loss, correct, get_loss
from landform.paths.curves import Curve, check_dimension
from landform.paths.networks import CurveModel, make_output_evaluator, network_parameters, resolve_loop
from landform.progress import track

LIKELIHOOD_LOSSES = ("cross_entropy", "binary_cross_entropy", "gaussian_nll", "gaussian_nll_learned")


class FunctionalDiversity(NamedTuple):
    """How different the functions along the curve are (see the module docstring)."""

    mean_pairwise_distance: float
    variance: float
    disagreement: float


class SplitAlongCurve(NamedTuple):
    """Metrics of one split at each t of the grid (arrays of shape (T,)) and summaries."""

    loss: np.ndarray
    nll: np.ndarray
    accuracy: np.ndarray
    rmse: np.ndarray
    barrier: float
    diversity: FunctionalDiversity


class CurveEvaluation(NamedTuple):
    """Evaluation of a curve on a t grid: ``splits`` maps split names to their metrics."""

    t: np.ndarray
    splits: dict[str, SplitAlongCurve]


class Predictive(NamedTuple):
    """Predictions of the networks at ``t`` (T,) on inputs ``x`` (X, ...): ``mean`` (T, X, d);
    ``sigma`` (T, X, d) for models with a learned σ (``gaussian_nll_learned``), else None."""

    x: np.ndarray
    t: np.ndarray
    mean: np.ndarray
    sigma: np.ndarray | None


def barrier_height(t, losses) -> float:
    """max_t [L(t) − ((1 − t) L(0) + t L(1))]; ``t`` must contain 0 and 1."""
    t, losses = np.asarray(t, np.float64), np.asarray(losses, np.float64)
    if t.shape != losses.shape or t.ndim != 1:
        raise ConfigError(f"t and losses must be 1-D arrays of one shape, got {t.shape} and {losses.shape}")
    ends = [np.flatnonzero(t == v) for v in (0.0, 1.0)]
    if any(len(e) == 0 for e in ends):
        raise ConfigError("the t grid must contain 0 and 1 to measure a barrier against the end losses")
    first, last = losses[ends[0][0]], losses[ends[1][0]]
    return float(np.max(losses - ((1 - t) * first + t * last)))


def prediction_values(outputs: jax.Array, loss: Loss) -> jax.Array:
    """What a network predicts, from its raw outputs (..., N, out): softmax probabilities
    (cross-entropy), sigmoid probabilities (binary), the mean columns (learned σ: all but the
    last column) or the outputs themselves."""
    if loss.name == "cross_entropy":
        return jax.nn.softmax(outputs, axis=-1)
    if loss.name == "binary_cross_entropy":
        return jax.nn.sigmoid(outputs)
    if loss.name == "gaussian_nll_learned":
        return outputs[..., :-1]
    return outputs


def functional_diversity(predictions, classification: bool) -> FunctionalDiversity:
    """Diversity of predictions of shape (T, N, ...) (see the module docstring)."""
    p = jnp.asarray(predictions)
    count, examples = p.shape[0], p.shape[1]
    flat = p.reshape(count, examples, -1)
    rows = flat.reshape(count, -1)
    squared = jax.vmap(lambda a: jnp.sum((rows - a) ** 2, axis=-1))(rows)  # (T, T)
    upper = np.triu_indices(count, 1)
    distances = jnp.sqrt(squared[upper] / examples)
    mean_distance = float(jnp.mean(distances)) if count > 1 else 0.0
    variance = float(jnp.sum((flat - jnp.mean(flat, axis=0)) ** 2) / (count * examples))
    if classification and count > 1:
        labels = jnp.argmax(flat, axis=-1) if flat.shape[-1] > 1 else (flat[..., 0] > 0.5).astype(jnp.int32)
        differ = jax.vmap(lambda a: jnp.mean(labels != a, axis=-1))(labels)
        disagreement = float(jnp.mean(differ[upper]))
    else:
        disagreement = float("nan") if not classification else 0.0
    return FunctionalDiversity(mean_distance, variance, disagreement)


def network_outputs(
    curve_model: CurveModel, curve: Curve, t, x, chunk_size: int = 4096, loop: str = "auto"
) -> jax.Array:
    """Raw outputs of the networks at ``t`` (T,) on inputs ``x`` (N, ...): shape (T, N, ...)."""
    t = jnp.atleast_1d(jnp.asarray(t, curve.control_points.dtype))
    thetas = network_parameters(curve_model, curve, t)
    loop = resolve_loop(loop, curve_model, x)
    outputs = _cached(
        ("outputs", loop, chunk_size), curve_model, None, lambda: make_output_evaluator(curve_model, loop, chunk_size)
    )
    return outputs(thetas, jnp.asarray(x))


def evaluate_curve(
    curve_model: CurveModel,
    curve: Curve,
    splits: Mapping[str, Split],
    loss: str | Loss,
    t: int | np.ndarray = 21,
    *,
    chunk_size: int = 4096,
    loop: str = "auto",
    progress=None,
) -> CurveEvaluation:
    """Loss, NLL, accuracy / RMSE, barrier height and functional diversity of the networks at a
    grid of t (an integer: that many equally spaced values in [0, 1]) on every split.

    ``loop`` chooses how the networks and chunks of examples are iterated (see
    :func:`landform.paths.networks.resolve_loop`)."""
    loss = get_loss(loss)
    check_dimension(curve, curve_model.dim, f"model {curve_model.model.name!r}")
    grid = np.linspace(0, 1, t) if isinstance(t, int) else np.asarray(t, np.float64)
    if grid.ndim != 1 or grid.size < 1:
        raise ConfigError(f"t must be a positive integer or a 1-D array of values, got shape {grid.shape}")
    thetas = network_parameters(curve_model, curve, jnp.asarray(grid, curve.control_points.dtype))
    classification = loss.accuracy_kind is not None
    likelihood = loss.name in LIKELIHOOD_LOSSES
    first = next(iter(splits.values()), None)
    if first is None:
        raise DataError("give at least one split to evaluate the curve on")
    loop = resolve_loop(loop, curve_model, np.asarray(first.x[:1]))
    outputs_fn = _cached(
        ("outputs", loop, chunk_size), curve_model, None, lambda: make_output_evaluator(curve_model, loop, chunk_size)
    )
    metrics_fn = _cached(("metrics",), curve_model, loss, lambda: _make_metrics(loss))

    results: dict[str, SplitAlongCurve] = {}
    with track(progress, "evaluating the curve", len(splits)) as reporter:
        for name, split in splits.items():
            if not isinstance(split, Split) or len(split) == 0:
                raise DataError(f"split {name!r} must be a non-empty landform.data.Split")
            outputs = outputs_fn(thetas, jnp.asarray(split.x))
            losses, accuracy, rmse, predictions = metrics_fn(outputs, jnp.asarray(split.y))
            losses = np.asarray(losses)
            has_ends = np.any(grid == 0.0) and np.any(grid == 1.0)
            results[name] = SplitAlongCurve(
                loss=losses,
                nll=losses if likelihood else np.full_like(losses, np.nan),
                accuracy=np.asarray(accuracy),
                rmse=np.asarray(rmse),
                barrier=barrier_height(grid, losses) if has_ends else float("nan"),
                diversity=functional_diversity(predictions, classification),
            )
            reporter.advance(1, split=name)
    return CurveEvaluation(grid, results)


# Compiled evaluation functions, reused while the same curve model and loss are evaluated again
# (keyed by identity; the entries keep their objects alive so the identities stay valid).
_COMPILED: dict[tuple, tuple] = {}
_COMPILED_SIZE = 8


def _cached(tag: tuple, curve_model: CurveModel, loss: Loss, build):
    key = (tag, id(curve_model), id(loss))
    entry = _COMPILED.get(key)
    if entry is None or entry[0] is not curve_model or entry[1] is not loss:
        if len(_COMPILED) >= _COMPILED_SIZE:
            _COMPILED.pop(next(iter(_COMPILED)))
        entry = (curve_model, loss, build())
        _COMPILED[key] = entry
    return entry[2]


def _make_metrics(loss: Loss):
    classification = loss.accuracy_kind is not None

    @jax.jit
    def metrics(outputs, y):
        losses = jax.vmap(lambda o: jnp.mean(loss.per_example(o, y)))(outputs)
        predictions = prediction_values(outputs, loss)
        if classification:
            accuracy = jax.vmap(lambda o: jnp.mean(correct(o, y, loss.accuracy_kind)))(outputs)
            rmse = jnp.full(losses.shape, jnp.nan)
        else:
            accuracy = jnp.full(losses.shape, jnp.nan)
            target = y.reshape(y.shape[0], -1).astype(predictions.dtype)
            flat = predictions.reshape(predictions.shape[0], predictions.shape[1], -1)
            rmse = jnp.sqrt(jnp.mean((flat - target) ** 2, axis=(1, 2)))
        return losses, accuracy, rmse, predictions

    return metrics


def curve_predictive(
    curve_model: CurveModel,
    curve: Curve,
    x,
    t: int | np.ndarray = 50,
    loss: str | Loss = "gaussian_nll_learned",
    *,
    chunk_size: int = 4096,
    loop: str = "auto",
) -> Predictive:
    """Predicted means (and σ) of the networks at ``t`` on inputs ``x``, for plotting the
    predictive functions of a regression curve (1-D inputs: x of shape (X,) or (X, 1))."""
    loss = get_loss(loss)
    grid = np.linspace(0, 1, t) if isinstance(t, int) else np.asarray(t, np.float64)
    x = np.asarray(x, np.float32)
    inputs = x[:, None] if x.ndim == 1 else x
    outputs = network_outputs(curve_model, curve, grid, inputs, chunk_size, loop)
    outputs = outputs.reshape(outputs.shape[0], outputs.shape[1], -1)
    if loss.name == "gaussian_nll_learned":
        mean, sigma = outputs[..., :-1], jnp.exp(outputs[..., -1:])
        sigma = np.asarray(jnp.broadcast_to(sigma, mean.shape))
    else:
        mean, sigma = prediction_values(outputs, loss), None
    return Predictive(x, grid, np.asarray(mean), sigma)
