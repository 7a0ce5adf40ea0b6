"""Per-example losses and accuracy.

Every loss maps model outputs of shape (N, ...) and targets to per-example values of shape (N,);
a landscape's loss is their mean. Losses are looked up by name with :func:`get_loss`.

Definitions (per example i):

- ``cross_entropy``: -log softmax(z_i)[y_i], integer labels y_i.
- ``binary_cross_entropy``: -y log σ(z) - (1-y) log(1-σ(z)) with logits z (one output column or
  a scalar per example), targets in {0, 1}.
- ``token_cross_entropy``: (1/T) Σ_t −log softmax(z_it)[y_it], next-token cross-entropy averaged
  over the T positions of a sequence (logits (N, T, V), integer targets (N, T)); its accuracy is
  the fraction of positions predicted right.
- ``mse``: mean over outputs of (f_i - y_i)^2.
- ``gaussian_nll``: 0.5 log(2π σ²) + (f_i - y_i)² / (2σ²) with a fixed σ, averaged over
  output dimensions.
- ``gaussian_nll_learned``: the same with log σ read from the last output column; the model
  predicts ``[mean_1..mean_d, log_sigma]`` (see :func:`landform.models.with_learned_sigma`).

Behavioural losses (:func:`behavioural_loss`; their targets are a reference model's outputs, not
labels, see :mod:`landform.behaviour`):

- ``kl_categorical``: (1/P) Σ_p Σ_c p*_pc (log p*_pc − log softmax(z_p)_c), the KL divergence
  KL(p* ‖ p) from the reference distributions p* (targets: log p*, shape (N, ..., C)) to the
  model's, averaged over the P positions of an example (the tokens of a sequence).
- ``kl_bernoulli``: the same for independent Bernoulli outputs with logits z (targets: the
  reference logits z*): (1/P) Σ_p [σ(z*)(log σ(z*) − log σ(z)) + σ(−z*)(log σ(−z*) − log σ(−z))].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from landform.errors import ConfigError, UnknownNameError

PerExample = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]


class Loss(NamedTuple):
    """A named per-example loss and, for classification, how to score accuracy."""

    name: str
    per_example: PerExample
    # "multiclass" (argmax of outputs), "binary" (sign of the logit) or None (regression).
    accuracy_kind: str | None


def _as_column(values: jnp.ndarray, targets: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    values = values.reshape(values.shape[0], -1)
    targets = targets.reshape(targets.shape[0], -1).astype(values.dtype)
    return values, targets


def cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """Softmax cross-entropy with integer labels, per example."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))


def token_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """Softmax cross-entropy with integer labels at every position, averaged per sequence."""
    values = optax.softmax_cross_entropy_with_integer_labels(logits, labels.astype(jnp.int32))
    return jnp.mean(values.reshape(values.shape[0], -1), axis=-1)


def binary_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray) -> jnp.ndarray:
    """Sigmoid binary cross-entropy with logits, per example (mean over output columns)."""
    logits, labels = _as_column(logits, labels)
    return optax.sigmoid_binary_cross_entropy(logits, labels).mean(axis=-1)


def mse(outputs: jnp.ndarray, targets: jnp.ndarray) -> jnp.ndarray:
    """Squared error averaged over output dimensions, per example."""
    outputs, targets = _as_column(outputs, targets)
    return jnp.mean((outputs - targets) ** 2, axis=-1)


def gaussian_nll(outputs: jnp.ndarray, targets: jnp.ndarray, sigma: float = 1.0) -> jnp.ndarray:
    """Gaussian negative log-likelihood with fixed σ, averaged over output dimensions."""
    outputs, targets = _as_column(outputs, targets)
    return jnp.mean(
        0.5 * math.log(2 * math.pi) + math.log(sigma) + 0.5 * ((outputs - targets) / sigma) ** 2,
        axis=-1,
    )


def gaussian_nll_learned(outputs: jnp.ndarray, targets: jnp.ndarray) -> jnp.ndarray:
    """Gaussian NLL with log σ in the last output column (outputs = [means..., log σ])."""
    outputs = outputs.reshape(outputs.shape[0], -1)
    mean, log_sigma = outputs[:, :-1], outputs[:, -1:]
    targets = targets.reshape(targets.shape[0], -1).astype(mean.dtype)
    return jnp.mean(
        0.5 * math.log(2 * math.pi) + log_sigma + 0.5 * ((mean - targets) * jnp.exp(-log_sigma)) ** 2,
        axis=-1,
    )


def kl_categorical(logits: jnp.ndarray, reference_log_probs: jnp.ndarray) -> jnp.ndarray:
    """KL(p* ‖ softmax(z)) per example, averaged over positions (see the module docstring).

    ``logits`` and ``reference_log_probs`` have shape (N, ..., C); entries with p* = 0 add 0.
    """
    log_q = jax.nn.log_softmax(logits.astype(jnp.result_type(logits, jnp.float32)), axis=-1)
    log_p = reference_log_probs.astype(log_q.dtype)
    p = jnp.exp(log_p)
    terms = jnp.where(p > 0, p * (log_p - log_q), 0.0)
    per_position = jnp.sum(terms, axis=-1)
    return jnp.mean(per_position.reshape(per_position.shape[0], -1), axis=-1)


def kl_bernoulli(logits: jnp.ndarray, reference_logits: jnp.ndarray) -> jnp.ndarray:
    """KL(Bernoulli(σ(z*)) ‖ Bernoulli(σ(z))) per example, averaged over outputs (see the module
    docstring); both arguments are logits of shape (N, ...)."""
    z = logits.reshape(logits.shape[0], -1)
    z_ref = reference_logits.reshape(reference_logits.shape[0], -1).astype(z.dtype)
    p = jax.nn.sigmoid(z_ref)
    terms = p * (jax.nn.log_sigmoid(z_ref) - jax.nn.log_sigmoid(z)) + (1 - p) * (
        jax.nn.log_sigmoid(-z_ref) - jax.nn.log_sigmoid(-z)
    )
    return jnp.mean(terms, axis=-1)


#: Predictive distributions a behavioural loss compares, with what the reference targets hold.
DISTRIBUTIONS = ("categorical", "bernoulli")


def behavioural_loss(distribution: str = "categorical") -> Loss:
    """The loss KL(p_θ* ‖ p_θ) for a model whose outputs parametrise ``distribution``
    ("categorical": logits over the last axis; "bernoulli": one logit per output), whose
    targets are the reference model's log-probabilities (categorical) or logits (bernoulli).
    Its accuracy is *agreement*: the fraction of positions where θ's most probable outcome is
    θ*'s."""
    if distribution == "categorical":
        return Loss("kl_categorical", kl_categorical, "agreement")
    if distribution == "bernoulli":
        return Loss("kl_bernoulli", kl_bernoulli, "binary_agreement")
    raise UnknownNameError("distribution", distribution, DISTRIBUTIONS)


def correct(outputs: jnp.ndarray, targets: jnp.ndarray, kind: str) -> jnp.ndarray:
    """Per-example correctness (1.0 or 0.0) for ``kind`` "multiclass" or "binary"; for the
    behavioural losses ("agreement", "binary_agreement") the fraction of positions whose most
    probable outcome agrees with the reference's (targets: its log-probabilities or logits)."""
    if kind == "agreement":
        same = jnp.argmax(outputs, axis=-1) == jnp.argmax(targets, axis=-1)
        return jnp.mean(same.reshape(same.shape[0], -1).astype(jnp.float32), axis=-1)
    if kind == "binary_agreement":
        same = (outputs > 0) == (targets > 0)
        return jnp.mean(same.reshape(same.shape[0], -1).astype(jnp.float32), axis=-1)
    if kind == "token_multiclass":
        same = jnp.argmax(outputs, axis=-1) == targets.astype(jnp.int32)
        return jnp.mean(same.reshape(same.shape[0], -1).astype(jnp.float32), axis=-1)
    if kind == "multiclass":
        return (jnp.argmax(outputs, axis=-1) == targets.astype(jnp.int32)).astype(jnp.float32)
    if kind == "binary":
        logits, labels = _as_column(outputs, targets)
        return jnp.mean(((logits > 0).astype(labels.dtype) == labels).astype(jnp.float32), axis=-1)
    raise ConfigError(f"accuracy is defined for classification losses only, not for {kind!r}")


def check_compatible(loss: Loss, output_shape: tuple[int, ...], targets) -> None:
    """Raise :class:`ShapeError` when a model's outputs cannot be scored against ``targets``.

    ``output_shape`` is the shape of the model's outputs for a batch (examples first); the
    checks catch models that would train without error but meaninglessly, such as one logit
    for ten classes.
    """
    import numpy as np

    from landform.errors import ShapeError

    targets = np.asarray(targets)
    width = int(np.prod(output_shape[1:], dtype=np.int64)) if len(output_shape) > 1 else 1
    if loss.name == "cross_entropy":
        classes = int(targets.max()) + 1 if targets.size else 0
        if len(output_shape) < 2 or output_shape[-1] < classes:
            raise ShapeError(
                f"cross_entropy needs one logit per class: the labels go up to {classes - 1} "
                f"({classes} classes) but the model outputs shape {tuple(output_shape)}; "
                f"set the model's outputs to {classes}"
            )
        if targets.min(initial=0) < 0 or targets.dtype.kind == "f" and not np.all(targets == np.round(targets)):
            raise ShapeError("cross_entropy needs integer class labels 0..C-1")
    elif loss.name == "token_cross_entropy":
        classes = int(targets.max()) + 1 if targets.size else 0
        if len(output_shape) != targets.ndim + 1 or tuple(output_shape[1:-1]) != tuple(targets.shape[1:]):
            raise ShapeError(
                f"token_cross_entropy needs logits (N, T, V) for targets (N, T): the model outputs shape "
                f"{tuple(output_shape)} and the targets have shape {targets.shape}"
            )
        if output_shape[-1] < classes or targets.min(initial=0) < 0:
            raise ShapeError(
                f"token_cross_entropy needs integer targets 0..V-1: they go up to {classes - 1} but the model has "
                f"{output_shape[-1]} logits per position"
            )
    elif loss.name == "binary_cross_entropy":
        target_width = int(np.prod(targets.shape[1:], dtype=np.int64)) if targets.ndim > 1 else 1
        if width != target_width:
            raise ShapeError(
                f"binary_cross_entropy needs one logit per binary target: the model outputs shape "
                f"{tuple(output_shape)} but the targets have shape {targets.shape}"
            )
        if targets.size and not np.isin(targets, (0, 1)).all():
            raise ShapeError("binary_cross_entropy needs targets in {0, 1}")
    elif loss.name in ("mse", "gaussian_nll", "gaussian_nll_learned"):
        target_width = int(np.prod(targets.shape[1:], dtype=np.int64)) if targets.ndim > 1 else 1
        expected = target_width + (1 if loss.name == "gaussian_nll_learned" else 0)
        if width != expected:
            extra = " (the means plus one log-sigma column)" if loss.name == "gaussian_nll_learned" else ""
            raise ShapeError(
                f"{loss.name} needs {expected} outputs per example{extra}: the model outputs shape "
                f"{tuple(output_shape)} and the targets have shape {targets.shape}"
            )


_LOSSES: dict[str, Callable[..., Loss]] = {
    "cross_entropy": lambda: Loss("cross_entropy", cross_entropy, "multiclass"),
    "token_cross_entropy": lambda: Loss("token_cross_entropy", token_cross_entropy, "token_multiclass"),
    "binary_cross_entropy": lambda: Loss("binary_cross_entropy", binary_cross_entropy, "binary"),
    "mse": lambda: Loss("mse", mse, None),
    "gaussian_nll": lambda sigma=1.0: Loss("gaussian_nll", lambda f, y: gaussian_nll(f, y, sigma), None),
    "gaussian_nll_learned": lambda: Loss("gaussian_nll_learned", gaussian_nll_learned, None),
}

LOSS_NAMES = tuple(_LOSSES)


def get_loss(loss: str | Loss, **options) -> Loss:
    """Look up a loss by name (see :data:`LOSS_NAMES`); a :class:`Loss` passes through."""
    if isinstance(loss, Loss):
        return loss
    if loss not in _LOSSES:
        raise UnknownNameError("loss", loss, _LOSSES)
    try:
        return _LOSSES[loss](**options)
    except TypeError as e:
        raise ConfigError(f"invalid options {options} for loss {loss!r}: {e}") from None
