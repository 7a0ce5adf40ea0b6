"""Training a curve of networks: every point of the curve should be a good network.

Dold et al. 2025 ("Paths and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382) train
a Bézier curve b(t) = Σ_j B_j^K(t) θ_j whose K+1 control points are all free, so that the whole
curve lies in low loss: a K-dimensional loss "tunnel". Garipov et al. 2018 ("Loss Surfaces,
Mode Connectivity, and Fast Ensembling of DNNs") fix the two ends at trained minima and train
the interior points (mode connectivity); both are supported here.

Objective (minimised over the free control points), with ℓ the per-example negative
log-likelihood of network θ on example (x_i, y_i) and a batch of B examples:

    uniform t:      L = (1/M) Σ_{m=1}^{M} (1/B) Σ_i ℓ(b(t_m); x_i, y_i),          t_m ~ U(0, 1)
    arc length:     L = (1/M) Σ_m w(t_m) (1/B) Σ_i ℓ(b(t_m); x_i, y_i),  w(t) = ‖b'(t)‖ / S,

an unbiased estimate of the expected loss over t uniform in [0, 1] or uniform in arc length
(s ~ U(0, S)). S is computed each step on a fixed composite Gauss–Legendre grid
(``length_intervals`` × ``length_nodes`` points) and gradients flow through w and S. The t values
of step i come from ``fold_in(t_key, i)``.

Likelihood: cross-entropy for classification. For regression the Gaussian NLL with a learned
σ, and σ is **part of every network on the curve**, as in the paper: wrap the model with
:func:`landform.models.with_learned_sigma` (initial σ = 0.05), so each control point holds its
own log σ and the network at b(t) uses the interpolated value; the loss is then
``gaussian_nll_learned``. (A single curve-level σ shared by all networks is not offered: it is
the special case where every control point carries the same log σ and training is free to
find it.) ``loss`` may name any loss of :func:`landform.losses.get_loss`.

Optimisation: any Optax optimiser (default Adam, built by
:func:`landform.train.make_optimizer` from ``optimizer``, ``learning_rate``, ``schedule``,
``gradient_clip_norm``); ``weight_decay`` λ is a coupled L2 penalty g ← g + λθ on the free
control points (decoupled for ``adamw``, as in :mod:`landform.train.config`). Full batch
(``batch_size=None``) or minibatches: epoch e is a permutation drawn from
``fold_in(data_key, e)``, cut into N // B batches (the last partial batch is dropped).

Validation: every ``validate_every`` steps (and at step 0) the mean loss of the networks at a
FIXED grid of ``validation_points`` values of t (equally spaced in [0, 1], ends included) is
measured on the validation split (the training split when none is given), weighted uniformly
(uniform-t objective) or by ‖b'(t)‖ (arc-length objective); the curve with the lowest value is
kept (best-parameter selection). The steps between two validations run as one jitted
``lax.scan`` (``loop="scan"``) or, for convolutional models on CPU where XLA runs convolutions
inside loop bodies on a slow path, as a Python loop over one jitted step (``loop="python"``;
``loop="auto"`` chooses, see :mod:`landform.paths.networks`); the run states, the non-finite
rule and both loops are those of network training (:mod:`landform.train.engine`). The M
networks of a step are vectorised with ``vmap`` (or evaluated a few at a time when M·B is large).

Non-finite values: a step whose loss or updated control points are NaN/inf stops training;
the result keeps the last control points whose loss was finite, with ``status="nonfinite"``
and a message saying where it happened.

Permutation symmetry: ``symmetry="first"`` or ``"hidden"`` constrains biases to ascending order
(:mod:`landform.paths.symmetry`) in every network on the curve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, ConfigDict, Field

from landform.data.base import Split, check_split
from landform.errors import ConfigError, ShapeError, TrainingError, UnknownNameError
from landform.flat import ravel
from landform.losses import Loss, get_loss
from landform.models.base import Model
from landform.paths.curves import CURVE_KINDS, Curve, check_dimension, evaluate, make_curve
from landform.paths.geometry import arc_length_weights, curve_geometry, speed
from landform.paths.networks import (
    CurveModel,
    make_curve_model,
    make_split_evaluator,
    network_losses,
    resolve_loop,
    to_chunks,
)
from landform.train.config import OptimizerName, TrainConfig, make_optimizer
from landform.train.engine import (
    NONFINITE,
    RUNNING,
    all_finite,
    check_fits,
    drive,
    guarded,
    python_units,
    scan_units,
    settle,
)

PyTree = Any

GEOMETRY_FIELDS = (
    "length",
    "length_error",
    "chord",
    "polygon_length",
    "gyration_radius",
    "centre_norm",
    "mean_curvature",
)


class CurveTrainConfig(BaseModel):
    """How to train a curve (see the module docstring for the objective).

    Curve: ``kind`` ("bezier" or "polychain") and ``degree`` K (K+1 control points; at least 1,
    checked by :func:`fit_curve`, which raises :class:`ConfigError`; with fixed ends at least
    2, so that a control point is free). Objective: ``samples_per_step`` M values of t per step,
    ``t_sampling`` "uniform" or "arc_length" (with S on ``length_intervals`` ×
    ``length_nodes`` Gauss–Legendre points), ``loss`` (None: cross-entropy for integer targets,
    ``gaussian_nll_learned`` for a ``with_learned_sigma`` model). Optimisation: ``steps``,
    ``batch_size`` (None: full batch), ``optimizer``/``learning_rate``/``schedule``/
    ``gradient_clip_norm`` (as :class:`landform.train.TrainConfig`), ``weight_decay``.
    Validation: every ``validate_every`` steps on ``validation_points`` equally spaced t, in
    chunks of ``evaluation_chunk_size`` examples. ``symmetry``: ascending biases ("first" or
    "hidden" layers). ``loop``: "auto", "scan" or "python". ``init_noise``: noise on the
    interior points when the ends are fixed. ``seed``: the key when none is passed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["bezier", "polychain"] = "bezier"
    degree: int = 10
    samples_per_step: int = Field(20, ge=1, description="M: values of t per step")
    t_sampling: Literal["uniform", "arc_length"] = "uniform"
    length_intervals: int = Field(8, ge=1)
    length_nodes: int = Field(4, ge=1, le=64)
    steps: int = Field(1000, ge=1)
    batch_size: int | None = Field(None, ge=1)
    loss: str | None = None
    optimizer: OptimizerName = "adam"
    learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    schedule: str | None = None
    gradient_clip_norm: float | None = Field(None, gt=0)
    validate_every: int = Field(100, ge=1)
    validation_points: int = Field(11, ge=2)
    evaluation_chunk_size: int = Field(4096, ge=1)
    symmetry: Literal["first", "hidden"] | None = None
    loop: Literal["auto", "scan", "python"] = "auto"
    init_noise: float = Field(0.0, ge=0, description="std of noise on interior points (fixed ends)")
    seed: int = 0

    def steps_per_epoch(self, num_examples: int) -> int:
        if self.batch_size is None or self.batch_size >= num_examples:
            return 1
        return num_examples // self.batch_size


class CurveTrainResult(NamedTuple):
    """The outcome of :func:`fit_curve`.

    ``curve``: the curve with the best validation loss (raw coordinates; all K+1 points).
    ``last_curve``: the curve after the last step (the last one with a finite loss).
    ``history`` maps "step", "seconds", "train_loss" (mean over the steps since the previous
    validation of the step's loss averaged over its M values of t, unweighted; NaN at step 0),
    "validation_loss" (weighted mean over the fixed t grid), "validation_max_loss" (max over
    the grid), "validation_accuracy" (classification) and the geometry figures of
    :data:`GEOMETRY_FIELDS` to lists, one entry per validation.
    ``status``: "completed" or "nonfinite"; ``reason`` says what happened.
    """

    curve: Curve
    last_curve: Curve
    curve_model: CurveModel
    loss: Loss
    history: dict[str, list]
    best_step: int
    steps_run: int
    status: str
    reason: str
    validation_t: np.ndarray


class CurveTrainState(NamedTuple):
    """What the training scan carries from step to step."""

    free: jax.Array  # (F, n) trainable control points
    opt_state: Any
    good: jax.Array  # last free points whose loss was seen finite
    good_step: jax.Array
    status: jax.Array
    failed_step: jax.Array
    order: jax.Array  # permutation of the training examples for the current epoch


# --------------------------------------------------------------------------------------------
# building blocks


def init_control_points(
    model: Model,
    key: jax.Array,
    degree: int,
    *,
    ends: tuple[jax.Array, jax.Array] | None = None,
    noise: float = 0.0,
) -> jax.Array:
    """Initial control points, shape (K+1, n).

    Without ``ends``: K+1 independent networks, θ_j = ravel(model.init(fold_in(key, j))).
    With ``ends`` (θ_0, θ_K), flat vectors such as two trained minima: the interior points lie
    evenly on the segment between them, θ_j = (1 − j/K) θ_0 + (j/K) θ_K + noise·ε_j with
    ε_j ~ N(0, I) from ``fold_in(key, j)`` (for a Bézier curve with noise 0 this is the
    straight line traversed at constant speed).
    """
    if degree < 1:
        raise ConfigError(f"a curve needs degree K >= 1 (K+1 control points), got K = {degree}")
    if ends is None:
        rows = [ravel(model.init(jax.random.fold_in(key, j)))[0] for j in range(degree + 1)]
        return jnp.stack(rows)
    start, end = (jnp.asarray(e) for e in ends)
    dim = ravel(model.init(jax.random.key(0)))[0].shape[0]
    for name, vector in (("start", start), ("end", end)):
        if vector.shape != (dim,):
            raise ShapeError(
                f"the {name} of the curve has shape {tuple(vector.shape)}, but model "
                f"{model.name!r} has {dim} parameters; pass flat vectors of shape ({dim},) "
                "(landform.flat.ravel of the trained parameters)"
            )
    fractions = jnp.linspace(0, 1, degree + 1, dtype=start.dtype)[:, None]
    points = (1 - fractions) * start + fractions * end
    if noise > 0:
        eps = jnp.stack([jax.random.normal(jax.random.fold_in(key, j), (dim,), start.dtype) for j in range(degree + 1)])
        points = points + noise * eps.at[0].set(0).at[-1].set(0)
    return points


def _infer_loss(model: Model, train: Split, loss: str | Loss | None) -> Loss:
    if loss is not None:
        return get_loss(loss)
    if np.issubdtype(np.asarray(train.y).dtype, np.integer):
        return get_loss("cross_entropy")
    if model.spec.get("name") == "learned_sigma":
        return get_loss("gaussian_nll_learned")
    raise ConfigError(
        "regression targets need a likelihood: wrap the model with "
        "landform.models.with_learned_sigma(model) (σ is then learned as part of every network on "
        "the curve, the Gaussian NLL of Dold et al. 2025), or set loss explicitly (e.g. 'mse')"
    )


# --------------------------------------------------------------------------------------------
# the driver


class CurveTrainer(NamedTuple):
    """The compiled pieces of curve training (built by :func:`make_curve_trainer`).

    ``run(state, start, stop)`` takes the optimiser steps start..stop-1 (one jitted
    ``lax.scan`` per distinct length with ``loop="scan"``, a Python loop over one jitted step
    with ``loop="python"``) and returns the new state and the mean loss of the steps taken
    (members that stopped take no more steps); ``validate(free)`` returns (weighted mean
    validation loss over the t grid, its maximum, mean accuracy,
    :class:`~landform.paths.geometry.Geometry`); ``assemble(free)`` gives all K+1 control
    points; ``block_length`` is the number of steps between validations.
    """

    config: CurveTrainConfig
    curve_model: CurveModel
    loss: Loss
    state: CurveTrainState
    run: Callable[[CurveTrainState, int, int], tuple[CurveTrainState, jax.Array]]
    validate: Callable[[jax.Array], tuple]
    assemble: Callable[[jax.Array], jax.Array]
    block_length: int
    validation_t: np.ndarray
    loop: str


def make_curve_trainer(
    model: Model,
    train: Split,
    config: CurveTrainConfig | dict | None = None,
    *,
    validation: Split | None = None,
    ends: tuple[jax.Array, jax.Array] | None = None,
    initial_control_points: jax.Array | None = None,
    optimizer: optax.GradientTransformation | None = None,
    key: jax.Array | None = None,
) -> CurveTrainer:
    """Check the arguments and build the :class:`CurveTrainer` that :func:`fit_curve` drives
    (arguments as for :func:`fit_curve`). Nothing is compiled until it is first called.
    """
    config = CurveTrainConfig() if config is None else config
    if not isinstance(config, CurveTrainConfig):
        config = CurveTrainConfig.model_validate(config)
    degree = config.degree
    if degree < 1:
        raise ConfigError(f"a curve needs degree K >= 1 (K+1 control points), got degree = {degree}")
    if ends is not None and degree < 2:
        raise ConfigError(f"a curve of degree {degree} with both ends fixed has no free control point; use degree >= 2")
    if config.kind not in CURVE_KINDS:  # pragma: no cover - Literal already checks
        raise UnknownNameError("curve kind", config.kind, CURVE_KINDS)
    check_split(train, "training")
    if validation is not None:
        check_split(validation, "validation")
    loss = _infer_loss(model, train, config.loss)
    key = jax.random.key(config.seed) if key is None else key
    init_key, t_key, data_key = (jax.random.fold_in(key, i) for i in range(3))
    curve_model = make_curve_model(model, symmetry=config.symmetry)
    dim = curve_model.dim

    # shapes: fail early, with both shapes in the message
    x_all, y_all = jnp.asarray(train.x), jnp.asarray(train.y)
    check_fits(
        curve_model.apply,
        jax.ShapeDtypeStruct((dim,), jnp.float32),
        x_all[:2],
        y_all[:2],
        loss,
        model_name=model.name,
        data="the training data",
    )

    # control points
    if ends is not None:
        start, end = (jnp.asarray(e, jnp.float32) for e in ends)
        for name, vector in (("start", start), ("end", end)):
            if vector.shape != (dim,):
                raise ShapeError(
                    f"the {name} of the curve has shape {tuple(vector.shape)}, but model "
                    f"{model.name!r} has {dim} parameters; expected ({dim},)"
                )
    if initial_control_points is not None:
        points = jnp.asarray(initial_control_points, jnp.float32)
        probe = make_curve(points, config.kind)
        check_dimension(probe, dim, f"model {model.name!r}")
        if probe.degree != degree:
            raise ConfigError(
                f"initial_control_points has {points.shape[0]} rows (degree {probe.degree}) but "
                f"config.degree is {degree}; pass {degree + 1} rows or change the degree"
            )
        if ends is not None:
            points = points.at[0].set(start).at[-1].set(end)
    else:
        points = init_control_points(
            model, init_key, degree, ends=None if ends is None else (start, end), noise=config.init_noise
        )
    if not bool(all_finite(points)):
        raise TrainingError("the initial control points contain NaN or infinite values")

    if ends is not None:
        fixed_start, fixed_end = points[0], points[-1]

        def assemble(free):
            return jnp.concatenate([fixed_start[None], free, fixed_end[None]], axis=0)

        free0 = points[1:-1]
    else:

        def assemble(free):
            return free

        free0 = points

    # optimiser
    if optimizer is None:
        optimizer = make_optimizer(
            TrainConfig(
                optimizer=config.optimizer,
                learning_rate=config.learning_rate,
                weight_decay=config.weight_decay,
                schedule=config.schedule,
                gradient_clip_norm=config.gradient_clip_norm,
                epochs=config.steps,
            ),
            1,
        )
    elif config.weight_decay > 0:
        optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay), optimizer)

    num_examples = len(train)
    per_epoch = config.steps_per_epoch(num_examples)
    full_batch = per_epoch == 1 and (config.batch_size is None or config.batch_size >= num_examples)
    batch = num_examples if full_batch else config.batch_size
    samples = config.samples_per_step
    arc = config.t_sampling == "arc_length"
    constrain = None if curve_model.reparametrisation is None else curve_model.reparametrisation.constrain
    loop = resolve_loop(config.loop, curve_model, train.x[:1])

    def objective(free, x, y, step_key):
        curve = Curve(config.kind, assemble(free))
        t = jax.random.uniform(step_key, (samples,), free.dtype)
        thetas = evaluate(curve, t)
        if constrain is not None:
            thetas = constrain(thetas)
        losses = network_losses(curve_model, loss, thetas, x, y, loop)
        plain = jnp.mean(losses)
        if arc:
            weights = arc_length_weights(curve, t, config.length_intervals, config.length_nodes)
            return jnp.mean(weights * losses), plain
        return plain, plain

    def do_step(state: CurveTrainState, step, x, y) -> tuple[CurveTrainState, jax.Array]:
        if full_batch:
            order, xb, yb = state.order, x, y
        else:
            epoch, position = step // per_epoch, step % per_epoch
            order = jax.lax.cond(
                position == 0,
                lambda: jax.random.permutation(jax.random.fold_in(data_key, epoch), num_examples).astype(jnp.int32),
                lambda: state.order,
            )
            index = jax.lax.dynamic_slice(order, (position * batch,), (batch,))
            xb, yb = jnp.take(x, index, axis=0), jnp.take(y, index, axis=0)
        (value, plain), gradient = jax.value_and_grad(objective, has_aux=True)(
            state.free, xb, yb, jax.random.fold_in(t_key, step)
        )
        updates, opt_state = optimizer.update(gradient, state.opt_state, state.free)
        new = optax.apply_updates(state.free, updates)
        settled = settle(
            state.free,
            state.opt_state,
            state.good,
            state.good_step,
            state.status,
            state.failed_step,
            new_params=new,
            new_opt_state=opt_state,
            losses=value[None],
            at=step,
            unit=step,
        )
        state = CurveTrainState(
            free=settled.params,
            opt_state=settled.opt_state,
            good=settled.verified,
            good_step=settled.verified_at,
            status=settled.status,
            failed_step=settled.failed_at,
            order=order,
        )
        return state, plain

    block_length = min(config.validate_every, config.steps)
    # once training has stopped (non-finite values) the state stays as it is, selected, not
    # branched: lax.cond around convolutions is slow on CPU (see landform.paths.networks)
    guarded_step = guarded(do_step, "select")

    if loop == "scan":

        def block(state: CurveTrainState, start, length: int, x, y):
            state, values, counted = scan_units(guarded_step, state, start, length, x, y)
            return state, jnp.sum(values) / jnp.maximum(jnp.sum(counted), 1)

        block_fn = jax.jit(block, static_argnums=2)

        def run(state, start: int, stop: int):
            return block_fn(state, jnp.int32(start), int(stop - start), x_all, y_all)

    else:
        step_fn = jax.jit(guarded_step)

        def run(state, start: int, stop: int):
            state, values, counts = python_units(step_fn, state, start, stop, x_all, y_all)
            total, count = jnp.zeros(()), jnp.zeros((), jnp.int32)
            for plain, counted in zip(values, counts):
                total, count = total + plain, count + counted
            return state, total / jnp.maximum(count, 1)

    # validation on a fixed t grid
    check = validation if validation is not None else train
    chunks = to_chunks(check, config.evaluation_chunk_size)
    evaluator = make_split_evaluator(curve_model, loss, loop)
    grid = jnp.linspace(0, 1, config.validation_points, dtype=jnp.float32)

    @jax.jit
    def grid_networks(free):
        curve = Curve(config.kind, assemble(free))
        thetas = evaluate(curve, grid)
        if constrain is not None:
            thetas = constrain(thetas)
        if arc:
            speeds = speed(curve, grid)
            weights = speeds / jnp.sum(speeds)
        else:
            weights = jnp.full(grid.shape, 1 / grid.shape[0], thetas.dtype)
        return thetas, weights, curve_geometry(curve)

    def validate(free):
        thetas, weights, geometry = grid_networks(free)
        losses, accuracies = evaluator(thetas, chunks)
        return jnp.sum(weights * losses), jnp.max(losses), jnp.mean(accuracies), geometry

    state = CurveTrainState(
        free=free0,
        opt_state=optimizer.init(free0),
        good=free0,
        good_step=jnp.zeros((), jnp.int32),
        status=jnp.array(RUNNING, jnp.int32),
        failed_step=jnp.array(-1, jnp.int32),
        order=jnp.arange(num_examples, dtype=jnp.int32),
    )
    return CurveTrainer(
        config=config,
        curve_model=curve_model,
        loss=loss,
        state=state,
        run=run,
        validate=validate,
        assemble=assemble,
        block_length=block_length,
        validation_t=np.asarray(grid),
        loop=loop,
    )


def fit_curve(
    model: Model,
    train: Split,
    config: CurveTrainConfig | dict | None = None,
    *,
    validation: Split | None = None,
    ends: tuple[jax.Array, jax.Array] | None = None,
    initial_control_points: jax.Array | None = None,
    optimizer: optax.GradientTransformation | None = None,
    key: jax.Array | None = None,
    progress: Any = None,
) -> CurveTrainResult:
    """Train a curve of networks of ``model`` on ``train`` (see the module docstring).

    Args:
        model: the network (a :class:`landform.models.Model`); for regression usually
            ``with_learned_sigma(model)``.
        train: the training split.
        config: a :class:`CurveTrainConfig` (or a dictionary of its fields).
        validation: the split for the fixed-grid validation and best-curve selection
            (the training split when omitted).
        ends: two flat vectors (θ_0, θ_K) that stay fixed (mode connectivity); only the
            interior control points are trained.
        initial_control_points: (K+1, n) starting control points instead of
            :func:`init_control_points` (with ``ends``, their first and last rows are replaced
            by the ends).
        optimizer: any optax optimiser, used instead of the one ``config`` describes.
        key: randomness (initialisation ``fold_in(key, 0)``, values of t ``fold_in(key, 1)``,
            minibatch order ``fold_in(key, 2)``); default ``jax.random.key(config.seed)``.
        progress: see :mod:`landform.progress`.
    """
    trainer = make_curve_trainer(
        model,
        train,
        config,
        validation=validation,
        ends=ends,
        initial_control_points=initial_control_points,
        optimizer=optimizer,
        key=key,
    )
    config, loss, state, assemble = trainer.config, trainer.loss, trainer.state, trainer.assemble
    classification = loss.accuracy_kind is not None
    block_length = trainer.block_length
    history: dict[str, list] = {
        "step": [],
        "seconds": [],
        "train_loss": [],
        "validation_loss": [],
        "validation_max_loss": [],
    }
    if classification:
        history["validation_accuracy"] = []
    for name in GEOMETRY_FIELDS:
        history[name] = []
    best = {"value": np.inf, "free": state.free, "step": 0}
    started = time.perf_counter()

    def record(free, step: int, train_loss: float) -> dict:
        value, worst, accuracy, geometry = jax.device_get(trainer.validate(free))
        history["step"].append(step)
        history["seconds"].append(time.perf_counter() - started)
        history["train_loss"].append(float(train_loss))
        history["validation_loss"].append(float(value))
        history["validation_max_loss"].append(float(worst))
        if classification:
            history["validation_accuracy"].append(float(accuracy))
        for name in GEOMETRY_FIELDS:
            history[name].append(float(getattr(geometry, name)))
        if np.isfinite(value) and value < best["value"]:
            best.update(value=float(value), free=free, step=step)
        return {"train_loss": float(train_loss), "validation_loss": float(value), "length": float(geometry.length)}

    def first_validation(state: CurveTrainState) -> CurveTrainState:
        record(state.free, 0, np.nan)
        return state

    def after_block(state: CurveTrainState, step: int, stop: int, train_loss) -> tuple:
        if int(state.status) != RUNNING:
            done, kept = int(state.failed_step), int(state.good_step)
            fields = {}
            if kept > history["step"][-1]:
                fields = record(state.free, kept, float(train_loss))
            return state, done, max(done - step, 0), fields
        return state, stop, stop - step, record(state.free, stop, float(train_loss))

    state, _ = drive(
        state,
        config.steps,
        run=trainer.run,
        next_stop=lambda step: min(step + block_length, config.steps),
        after=after_block,
        before=first_validation,
        progress=progress,
        description=f"training a {config.kind} curve (K={config.degree})",
    )

    status = int(state.status)
    if status == NONFINITE:
        failed, kept = int(state.failed_step), int(state.good_step)
        status_name = "nonfinite"
        reason = (
            f"non-finite loss or control points at step {failed}; kept the control points of step "
            f"{kept}, the last with a finite loss (lower the learning rate or clip gradients)"
        )
        steps_run = kept
    else:
        status_name = "completed"
        reason = f"completed {config.steps} steps"
        steps_run = config.steps
    return CurveTrainResult(
        curve=Curve(config.kind, assemble(best["free"])),
        last_curve=Curve(config.kind, assemble(state.free)),
        curve_model=trainer.curve_model,
        loss=loss,
        history=history,
        best_step=int(best["step"]),
        steps_run=steps_run,
        status=status_name,
        reason=reason,
        validation_t=trainer.validation_t,
    )
