"""Training configuration and the optimiser it describes.

:class:`TrainConfig` is a validated pydantic model (unknown keys are rejected), so a YAML
config fails before any work starts. :func:`make_optimizer` turns it into an
``optax.GradientTransformation``.

Optimisers (θ the parameters, g the gradient, η_t the learning rate at step t):

- ``adamw`` (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"): Adam with the
  decoupled decay θ ← θ − η_t·λ·θ added to the Adam step; λ = ``weight_decay`` (default 0.01).
  As in optax and PyTorch the decay is scaled by the (scheduled) learning rate.
- ``adam`` (Kingma & Ba 2015): Adam; a non-zero ``weight_decay`` here is a *coupled* L2
  penalty, i.e. g ← g + λ·θ before the Adam step.
- ``sgd``: v ← μ·v + g, θ ← θ − η_t·v (heavy-ball momentum μ = ``momentum``, default 0.9;
  ``nesterov`` for Nesterov momentum); a non-zero ``weight_decay`` is coupled L2 as for adam.

Learning-rate schedules (T = epochs × steps per epoch optimiser steps in all):

- ``None``: constant η.
- ``cosine``: η_t = η·(α + (1−α)·½(1 + cos(π·t/T))), α = ``final_learning_rate_fraction``.
- ``warmup_cosine``: linear warm-up from 0 to η over the first ``warmup_fraction``·T steps,
  then cosine decay to α·η at step T.
- ``exponential``: η_t = η·r^(t / steps per epoch), r = ``decay_rate`` (per epoch).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import optax
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from landform.errors import ConfigError, UnknownNameError

OPTIMIZER_NAMES = ("adamw", "adam", "sgd")
SCHEDULE_NAMES = ("cosine", "warmup_cosine", "exponential")
SAM_NAMES = ("sam", "asam")


def known_optimizer(name: str) -> str:
    """``name`` if it is one of :data:`OPTIMIZER_NAMES`, else :class:`UnknownNameError`."""
    if name not in OPTIMIZER_NAMES:
        raise UnknownNameError("optimizer", name, OPTIMIZER_NAMES)
    return name


#: The type of an optimiser-name field (validated by :func:`known_optimizer`): the one optimiser
#: validator of both training configs, :class:`TrainConfig` and
#: :class:`landform.paths.CurveTrainConfig`.
OptimizerName = Annotated[str, AfterValidator(known_optimizer)]

#: Default perturbation radius ρ: 0.05 for SAM (Foret et al. 2021), 0.5 for ASAM (Kwon et al.
#: 2021, their recommended value for CIFAR).
DEFAULT_SAM_RHO = {"sam": 0.05, "asam": 0.5}


class TrainConfig(BaseModel):
    """How to train one model (or an ensemble of identically shaped models).

    Batching: ``batch_size=None`` (or a batch size of at least the number of training
    examples) trains full batch, one optimiser step per epoch. Otherwise each epoch draws a
    fresh permutation of the training set from ``fold_in(key, epoch)`` and takes
    ``N // batch_size`` steps; the last partial batch of the permutation is *dropped* (so every
    step has the same shape and the epoch compiles to one ``lax.scan``); since the permutation
    changes every epoch, every example is still used equally often in expectation.

    History: the loss (and accuracy, for classification losses) on the whole training split
    and, if given, the test split is evaluated at epoch 0, every ``eval_every`` epochs and at
    the last epoch. ``target_train_loss`` is checked against that full training loss, so
    training stops at the first evaluated epoch whose training loss is at or below it.

    ``checkpoint_epochs`` lists epochs whose parameters are kept in the result (0 means the
    initial parameters), for studies of how a minimum forms (e.g. grokking).

    ``on_nonfinite``: what to do when the training loss or the parameters become NaN/inf.
    ``"stop"`` ends training and returns the last parameters whose loss was finite, with
    ``reason`` saying where it happened; ``"raise"`` raises :class:`TrainingError` instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: OptimizerName = "adamw"
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float | None = Field(None, ge=0, description="None: 0.01 for adamw, 0 for adam and sgd")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    schedule: str | None = None
    warmup_fraction: float = Field(0.05, ge=0, le=1)
    final_learning_rate_fraction: float = Field(0.0, ge=0, le=1)
    decay_rate: float = Field(0.95, gt=0, le=1)
    gradient_clip_norm: float | None = Field(None, gt=0)
    epochs: int = Field(100, ge=1)
    batch_size: int | None = Field(None, ge=1)
    target_train_loss: float | None = None
    sam: str | None = None
    sam_rho: float | None = Field(None, gt=0, description="None: 0.05 for sam, 0.5 for asam")
    sam_eta: float = Field(0.01, ge=0)
    checkpoint_epochs: tuple[int, ...] = ()
    eval_every: int = Field(1, ge=1)
    eval_chunk_size: int = Field(8192, ge=1)
    on_nonfinite: Literal["stop", "raise"] = "stop"
    seed: int = 0

    @field_validator("schedule")
    @classmethod
    def _known_schedule(cls, value: str | None) -> str | None:
        if value is not None and value not in SCHEDULE_NAMES:
            raise UnknownNameError("schedule", value, SCHEDULE_NAMES)
        return value

    @field_validator("sam")
    @classmethod
    def _known_sam(cls, value: str | None) -> str | None:
        if value is not None and value not in SAM_NAMES:
            raise UnknownNameError("sharpness-aware method", value, SAM_NAMES)
        return value

    @field_validator("learning_rate", "target_train_loss", "sam_rho", "weight_decay")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("checkpoint_epochs", mode="before")
    @classmethod
    def _sorted_epochs(cls, value):
        if value is None:
            return ()
        return tuple(sorted(set(int(v) for v in value)))

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        bad = [e for e in self.checkpoint_epochs if not 0 <= e <= self.epochs]
        if bad:
            raise ValueError(
                f"checkpoint_epochs {bad} lie outside 0..epochs={self.epochs}; "
                "list epochs between 0 (the initial parameters) and the last epoch"
            )
        return self

    # Resolved defaults -------------------------------------------------------------------

    @property
    def resolved_weight_decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 0.01 if self.optimizer == "adamw" else 0.0

    @property
    def resolved_sam_rho(self) -> float | None:
        if self.sam is None:
            return None
        return self.sam_rho if self.sam_rho is not None else DEFAULT_SAM_RHO[self.sam]

    def steps_per_epoch(self, num_examples: int) -> int:
        """Optimiser steps per epoch: 1 for full batch, else ``N // batch_size``."""
        if self.batch_size is None or self.batch_size >= num_examples:
            return 1
        return num_examples // self.batch_size


def make_schedule(config: TrainConfig, steps_per_epoch: int = 1) -> optax.Schedule | float:
    """The learning rate as a constant or an optax schedule over optimiser steps."""
    rate = config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule is None:
        return rate
    if config.schedule == "cosine":
        return optax.cosine_decay_schedule(rate, decay_steps=total, alpha=config.final_learning_rate_fraction)
    if config.schedule == "warmup_cosine":
        warmup = int(round(config.warmup_fraction * total))
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=rate,
            warmup_steps=warmup,
            decay_steps=total,
            end_value=rate * config.final_learning_rate_fraction,
        )
    if config.schedule == "exponential":
        return optax.exponential_decay(rate, transition_steps=steps_per_epoch, decay_rate=config.decay_rate)
    raise UnknownNameError("schedule", config.schedule, SCHEDULE_NAMES)


def make_optimizer(config: TrainConfig, steps_per_epoch: int = 1) -> optax.GradientTransformation:
    """The optax optimiser described by ``config`` (see the module docstring for the maths).

    ``steps_per_epoch`` sets the length of learning-rate schedules (epochs × steps per epoch);
    it does not matter without a schedule.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(
            f"make_optimizer expects a TrainConfig, got {type(config).__name__}; build one with TrainConfig(**options)"
        )
    known_optimizer(config.optimizer)  # reachable through model_construct
    if steps_per_epoch < 1:
        raise ConfigError(f"steps_per_epoch must be at least 1, got {steps_per_epoch}")
    rate = make_schedule(config, steps_per_epoch)
    decay = config.resolved_weight_decay
    parts: list[optax.GradientTransformation] = []
    if config.gradient_clip_norm is not None:
        parts.append(optax.clip_by_global_norm(config.gradient_clip_norm))
    if config.optimizer == "adamw":
        parts.append(optax.adamw(rate, weight_decay=decay))
    else:
        if decay > 0:
            parts.append(optax.add_decayed_weights(decay))
        if config.optimizer == "adam":
            parts.append(optax.adam(rate))
        else:
            momentum = config.momentum if config.momentum > 0 else None
            parts.append(optax.sgd(rate, momentum=momentum, nesterov=config.nesterov))
    return parts[0] if len(parts) == 1 else optax.chain(*parts)
