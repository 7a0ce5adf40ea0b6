"""Training loops: one model (:func:`fit`) or an ensemble trained at once (:func:`fit_ensemble`).

An epoch is one jitted unit. Full batch: one optimiser step on the whole training split.
Minibatch: a permutation of the training split drawn from ``fold_in(key, epoch)``, cut into
``N // batch_size`` batches (the last partial batch is dropped), and a ``lax.scan`` of optimiser
steps over them. Epochs between two evaluations (``eval_every``) or checkpoints run inside one
compiled ``lax.scan`` as well, so the host is consulted only where the history needs it.

Each step minimises the mean per-example loss of the batch, (1/B) Σ_i ℓ(f(θ, x_i), y_i), with
the optimiser of :func:`landform.train.make_optimizer`; with ``sam`` set, the gradient is the
sharpness-aware one of :mod:`landform.train.sam` (Foret et al. 2021; Kwon et al. 2021).

Non-finite values: every step checks its loss and every epoch checks the new parameters. When
a NaN/inf appears, the member stops and keeps the last parameters whose loss was seen finite
(the parameters at the end of the last epoch whose first step, or whose evaluation, had a finite
loss), so finished work is never lost.

Ensembles: :func:`fit_ensemble` ``jax.vmap``s the same compiled epoch over the leading axis of
stacked parameters, optimiser states and data-order keys; members stop independently (a member
that reached its target or diverged keeps its parameters while the others go on).

Trajectories: with ``record_every=k`` the loop also keeps the flat parameters θ_e (raveled by
:func:`landform.flat.ravel`) after every k-th epoch, from epoch 0 (the initialisation) on, and
always the returned parameters last, as a :class:`Trajectory`: the path whose principal
components span the trajectory plane of Li et al. 2018 ("Visualizing the Loss Landscape of
Neural Nets", :mod:`landform.views.trajectory`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from landform.data.base import Split, check_split
from landform.errors import ConfigError, ShapeError, TrainingError
from landform.flat import ravel
from landform.losses import Loss, get_loss
from landform.models.base import Model
from landform.train.config import TrainConfig, make_optimizer
from landform.train.engine import (
    NONFINITE,
    RUNNING,
    TARGET_REACHED,
    all_finite,
    any_running,
    check_fits,
    drive,
    guarded,
    python_units,
    resolve_loop,
    scan_units,
    settle,
    tree_select,
)
from landform.train.evaluate import make_evaluator, to_chunks
from landform.train.sam import sam_value_and_gradient

Params = Any


class TrainState(NamedTuple):
    """Everything one member carries from epoch to epoch (arrays; stacked for ensembles)."""

    params: Params
    opt_state: Any
    key: jax.Array  # data-order key; epoch e shuffles with fold_in(key, e)
    epoch: jax.Array  # epochs completed by ``params``
    verified_params: Params  # last parameters whose loss was seen finite
    verified_epoch: jax.Array
    status: jax.Array  # RUNNING, NONFINITE or TARGET_REACHED
    failed_epoch: jax.Array  # epoch in which a non-finite value appeared (-1: none)


class Trajectory(NamedTuple):
    """Flat parameter snapshots along training: ``thetas[t]`` holds θ after epoch ``epochs[t]``.

    Shapes: ``epochs`` (T,); ``thetas`` (T, n), or (T, members, n) in an ensemble's result.
    The first snapshot is the initialisation (epoch 0) and the last the returned parameters.
    """

    epochs: np.ndarray
    thetas: np.ndarray


class TrainResult(NamedTuple):
    """The outcome of :func:`fit`.

    ``history`` maps "epoch", "train_loss", "train_accuracy" (classification only),
    "test_loss", "test_accuracy" (with a test split) and "seconds" (wall-clock seconds since
    training started, compilation included) to lists with one entry per evaluated epoch.
    ``checkpoints`` maps each reached epoch of ``config.checkpoint_epochs`` to host (NumPy)
    copies of the parameters. ``epochs_run`` is the epoch of the returned ``params``.
    ``trajectory`` holds the recorded flat snapshots (``fit(..., record_every=k)``), else ``None``.
    """

    params: Params
    history: dict[str, list]
    checkpoints: dict[int, Params]
    epochs_run: int
    stopped_early: bool
    reason: str
    trajectory: Trajectory | None = None


@dataclass(frozen=True)
class EnsembleResult:
    """The outcome of :func:`fit_ensemble`: stacked parameters (leading axis = member).

    ``history["epoch"]`` and ``history["seconds"]`` hold one number per evaluation; every
    metric holds one list per evaluation with one value per member. A member that stopped
    keeps its parameters, so its later entries repeat its final metrics. ``checkpoints`` hold
    stacked NumPy parameters. :meth:`member` gives one member as a :class:`TrainResult`.
    """

    params: Params
    history: dict[str, list]
    checkpoints: dict[int, Params]
    epochs_run: tuple[int, ...]
    stopped_early: tuple[bool, ...]
    reasons: tuple[str, ...]
    size: int
    trajectory: Trajectory | None = None

    def member(self, index: int) -> TrainResult:
        """Member ``index`` alone: its parameters, checkpoints and the evaluated epochs of the
        history up to its own last epoch."""
        if not 0 <= index < self.size:
            raise IndexError(f"ensemble has {self.size} members; index {index} is out of range")
        take = lambda tree: jax.tree_util.tree_map(lambda leaf: leaf[index], tree)  # noqa: E731
        last = self.epochs_run[index]
        rows = [i for i, e in enumerate(self.history["epoch"]) if e <= last]
        history = {}
        for name, values in self.history.items():
            if name in ("epoch", "seconds"):
                history[name] = [values[i] for i in rows]
            else:
                history[name] = [values[i][index] for i in rows]
        params = take(self.params)
        trajectory = None
        if self.trajectory is not None:
            keep = self.trajectory.epochs <= last
            trajectory = _ending_at(
                Trajectory(self.trajectory.epochs[keep], self.trajectory.thetas[keep, index]), params, last
            )
        return TrainResult(
            params=params,
            history=history,
            checkpoints={e: take(p) for e, p in self.checkpoints.items() if e <= last},
            epochs_run=last,
            stopped_early=self.stopped_early[index],
            reason=self.reasons[index],
            trajectory=trajectory,
        )


def _flat(params: Params) -> np.ndarray:
    """θ = ravel(params) on the host (one member)."""
    return np.asarray(ravel(params)[0])


def _ending_at(trajectory: Trajectory, params: Params, epoch: int) -> Trajectory:
    """``trajectory`` with the returned parameters as its last snapshot (replacing a snapshot
    of the same epoch, which holds the same parameters unless a non-finite step reverted them)."""
    epochs, thetas = trajectory.epochs, trajectory.thetas
    if epochs.size and epochs[-1] == epoch:
        epochs, thetas = epochs[:-1], thetas[:-1]
    final = _flat(params)[None]
    return Trajectory(
        np.concatenate([epochs, [epoch]]).astype(np.int64),
        np.concatenate([thetas.reshape((-1,) + final.shape[1:]), final]),
    )


# --------------------------------------------------------------------------------------------
# pure pieces (the run states, the non-finite rule and the loops over units are the engine's,
# landform.train.engine)


def _make_segment(
    apply,
    loss: Loss,
    config: TrainConfig,
    optimizer: optax.GradientTransformation,
    num_examples: int,
    length: int,
):
    """``segment(state, start, stop, x, y) -> state``: epochs start+1..stop (at most
    ``length`` of them) in one ``lax.scan``; members not RUNNING are left unchanged."""
    steps = config.steps_per_epoch(num_examples)
    full_batch = config.batch_size is None or config.batch_size >= num_examples
    batch = num_examples if full_batch else config.batch_size
    rho = config.resolved_sam_rho
    adaptive = config.sam == "asam"

    def step(params, opt_state, x, y):
        def objective(p):
            return jnp.mean(loss.per_example(apply(p, x), y))

        if config.sam is None:
            value, gradient = jax.value_and_grad(objective)(params)
        else:
            value, gradient = sam_value_and_gradient(objective, params, rho, adaptive, config.sam_eta)
        updates, opt_state = optimizer.update(gradient, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    def finish(state: TrainState, epoch: jax.Array, params, opt_state, losses) -> TrainState:
        """Keep an epoch's parameters only if every loss and parameter stayed finite."""
        settled = settle(
            state.params,
            state.opt_state,
            state.verified_params,
            state.verified_epoch,
            state.status,
            state.failed_epoch,
            new_params=params,
            new_opt_state=opt_state,
            losses=losses,
            at=epoch - 1,
            unit=epoch,
        )
        return TrainState(
            params=settled.params,
            opt_state=settled.opt_state,
            key=state.key,
            epoch=jnp.where(settled.ok, epoch, settled.verified_at),
            verified_params=settled.verified,
            verified_epoch=settled.verified_at,
            status=settled.status,
            failed_epoch=settled.failed_at,
        )

    def batch_order(key: jax.Array, epoch: jax.Array) -> jax.Array:
        order = jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)
        return order[: steps * batch].reshape(steps, batch)

    def epoch_fn(state: TrainState, epoch: jax.Array, x, y) -> tuple[TrainState, None]:
        if full_batch:
            params, opt_state, value = step(state.params, state.opt_state, x, y)
            losses = value[None]
        else:
            order = batch_order(state.key, epoch)

            def body(carry, index):
                p, o = carry
                p, o, v = step(p, o, jnp.take(x, index, axis=0), jnp.take(y, index, axis=0))
                return (p, o), v

            (params, opt_state), losses = jax.lax.scan(body, (state.params, state.opt_state), order)
        return finish(state, epoch, params, opt_state, losses), None

    def segment(state: TrainState, start, stop, x, y) -> TrainState:
        state, _, _ = scan_units(guarded(epoch_fn, "cond"), state, start + 1, length, x, y, last=stop)
        return state

    return segment, (jax.jit(step), jax.jit(finish), jax.jit(batch_order), full_batch)


def _python_segment(pieces):
    """The same epochs as ``segment``, driven from Python one jitted step at a time (for
    convolutions on CPU, see :mod:`landform.loops`); for a single model, not an ensemble."""
    step, finish, batch_order, full_batch = pieces

    def epoch_fn(state: TrainState, epoch: jax.Array, x, y) -> tuple[TrainState, None, None]:
        if full_batch:
            params, opt_state, value = step(state.params, state.opt_state, x, y)
            losses = value[None]
        else:
            params, opt_state, values = state.params, state.opt_state, []
            for index in batch_order(state.key, epoch):
                params, opt_state, value = step(
                    params, opt_state, jnp.take(x, index, axis=0), jnp.take(y, index, axis=0)
                )
                values.append(value)
            losses = jnp.stack(values)
        return finish(state, epoch, params, opt_state, losses), None, None

    def segment(state: TrainState, start, stop, x, y) -> TrainState:
        return python_units(epoch_fn, state, int(start) + 1, int(stop) + 1, x, y)[0]

    return segment


def _after_evaluation(state: TrainState, train_loss: jax.Array, target: jax.Array) -> TrainState:
    """Mark RUNNING members whose evaluated training loss is non-finite (back to their verified
    parameters) or at/below ``target``; finite evaluations verify the current parameters."""
    running = state.status == RUNNING
    finite = jnp.isfinite(train_loss)
    bad = running & ~finite
    good = running & finite
    return TrainState(
        params=tree_select(bad, state.verified_params, state.params),
        opt_state=state.opt_state,
        key=state.key,
        epoch=jnp.where(bad, state.verified_epoch, state.epoch),
        verified_params=tree_select(good, state.params, state.verified_params),
        verified_epoch=jnp.where(good, state.epoch, state.verified_epoch),
        status=jnp.where(bad, NONFINITE, jnp.where(good & (train_loss <= target), TARGET_REACHED, state.status)),
        failed_epoch=jnp.where(bad, state.epoch, state.failed_epoch),
    )


def _compiled_config(config: TrainConfig) -> TrainConfig:
    """``config`` with the fields that do not change the compiled functions reset, so that
    fits differing only in them (seed, checkpoints, target, ...) share one compilation."""
    update = {"seed": 0, "checkpoint_epochs": (), "target_train_loss": None, "on_nonfinite": "stop"}
    if config.schedule is None:  # epochs only set the length of schedules
        update["epochs"] = 1
    return config.model_copy(update=update)


@functools.lru_cache(maxsize=32)
def _compiled(
    apply, loss: Loss, config: TrainConfig, num_examples: int, length: int, ensemble: bool, loop_in_python: bool = False
):
    """The optimiser and the jitted segment and evaluation functions (vmapped for ensembles),
    cached so that repeated fits of one model and config compile once."""
    optimizer = make_optimizer(config, config.steps_per_epoch(num_examples))
    segment, pieces = _make_segment(apply, loss, config, optimizer, num_examples, length)
    evaluator = make_evaluator(apply, loss, unroll=loop_in_python)

    def evaluate_both(p, train_chunks, test_chunks):
        out = evaluator(p, train_chunks)
        return out + (evaluator(p, test_chunks) if test_chunks is not None else ())

    if ensemble:
        segment = jax.vmap(segment, in_axes=(0, None, None, None, None))
        evaluate_both = jax.vmap(evaluate_both, in_axes=(0, None, None))
    elif loop_in_python:
        return optimizer, _python_segment(pieces), jax.jit(evaluate_both)
    return optimizer, jax.jit(segment), jax.jit(evaluate_both)


# --------------------------------------------------------------------------------------------
# validation


def _check_model(model: Model, params: Params, split: Split, loss: Loss, name: str) -> None:
    """Trace the model and loss on two examples so that shape mistakes fail early and clearly."""
    x, y = jnp.asarray(split.x[:2]), jnp.asarray(split.y[:2])
    check_fits(model.apply, params, x, y, loss, model_name=model.name, data=f"the {name} split")


def _as_config(config: TrainConfig | dict) -> TrainConfig:
    return config if isinstance(config, TrainConfig) else TrainConfig.model_validate(config)


def _check_params(params: Params, what: str) -> None:
    if not jax.tree_util.tree_leaves(params):
        raise ShapeError(f"{what} has no array leaves; pass the pytree returned by model.init")
    if not bool(all_finite(params)):
        raise TrainingError(f"{what} contain NaN or infinite values; initialise them again")


# --------------------------------------------------------------------------------------------
# the driver shared by fit and fit_ensemble


def _run(model, params, train, loss, config, test, progress, keys, members, record_every=None):
    """Train; ``members`` is None for one model, else the ensemble size (state is stacked)."""
    if test is not None:
        check_split(test, "test")
    if record_every is not None and (isinstance(record_every, bool) or int(record_every) < 1):
        raise ConfigError(f"record_every must be a positive number of epochs (or None), got {record_every!r}")

    num_examples = len(train)
    ensemble = members is not None
    length = min(config.eval_every, config.epochs)
    loop_in_python = not ensemble and resolve_loop("auto", model.apply, params, jnp.asarray(train.x[:1])) == "python"
    optimizer, segment_fn, evaluate_fn = _compiled(
        model.apply, loss, _compiled_config(config), num_examples, length, ensemble, loop_in_python
    )

    def initial_state(p, key):
        return TrainState(
            params=p,
            opt_state=optimizer.init(p),
            key=key,
            epoch=jnp.zeros((), jnp.int32),
            verified_params=p,
            verified_epoch=jnp.zeros((), jnp.int32),
            status=jnp.array(RUNNING, jnp.int32),
            failed_epoch=jnp.array(-1, jnp.int32),
        )

    # small bookkeeping functions run op by op: compiling them would cost more than running them
    init_fn = jax.vmap(initial_state) if ensemble else initial_state
    after_fn = jax.vmap(_after_evaluation, in_axes=(0, 0, None)) if ensemble else _after_evaluation

    x, y = jnp.asarray(train.x), jnp.asarray(train.y)
    train_chunks = to_chunks(train, config.eval_chunk_size)
    test_chunks = to_chunks(test, config.eval_chunk_size) if test is not None else None
    target = jnp.asarray(config.target_train_loss if config.target_train_loss is not None else -jnp.inf, jnp.float32)
    classification = loss.accuracy_kind is not None

    history: dict[str, list] = {"epoch": [], "train_loss": []}
    if classification:
        history["train_accuracy"] = []
    if test is not None:
        history["test_loss"] = []
        if classification:
            history["test_accuracy"] = []
    history["seconds"] = []
    checkpoints: dict[int, Params] = {}
    wanted_checkpoints = set(config.checkpoint_epochs)
    recorded: dict[int, np.ndarray] = {}
    recorded_epochs = set(range(0, config.epochs + 1, int(record_every))) if record_every else set()
    flat = jax.vmap(lambda p: ravel(p)[0]) if ensemble else (lambda p: ravel(p)[0])
    eval_epochs = lambda e: e % config.eval_every == 0 or e == config.epochs  # noqa: E731

    def as_python(value):
        value = np.asarray(value)
        return value.tolist() if ensemble else value.item()

    started = time.perf_counter()
    state = init_fn(params, keys)

    def evaluate_and_record(state: TrainState, epoch: int) -> tuple[TrainState, dict]:
        metrics = evaluate_fn(state.params, train_chunks, test_chunks)
        before = np.asarray(state.status)
        state = after_fn(state, metrics[0], target)
        after = np.asarray(state.status)
        reverted = (before == RUNNING) & (after == NONFINITE)
        if np.any(reverted):
            metrics = evaluate_fn(state.params, train_chunks, test_chunks)
        label = epoch if ensemble else int(state.epoch)
        if history["epoch"] and history["epoch"][-1] == label:
            return state, {}
        values = {"train_loss": metrics[0]}
        if classification:
            values["train_accuracy"] = metrics[1]
        if test is not None:
            values["test_loss"] = metrics[2]
            if classification:
                values["test_accuracy"] = metrics[3]
        history["epoch"].append(label)
        for name, value in values.items():
            history[name].append(as_python(value))
        history["seconds"].append(time.perf_counter() - started)
        return state, {k: float(np.mean(np.asarray(v))) for k, v in values.items()}

    def keep_checkpoint(state: TrainState, epoch: int) -> None:
        if epoch in wanted_checkpoints and (ensemble or int(state.epoch) == epoch):
            checkpoints[epoch] = jax.tree_util.tree_map(np.asarray, state.params)
        if epoch in recorded_epochs and (ensemble or int(state.epoch) == epoch):
            recorded[epoch] = np.asarray(flat(state.params))

    def first_evaluation(state: TrainState) -> TrainState:
        state, _ = evaluate_and_record(state, 0)
        keep_checkpoint(state, 0)
        return state

    def next_stop(epoch: int) -> int:
        return min(
            [epoch + length, config.epochs]
            + [e for e in wanted_checkpoints if e > epoch]
            + [e for e in recorded_epochs if e > epoch]
            + [e for e in range(epoch + 1, epoch + length + 1) if eval_epochs(e)]
        )

    def run_segment(state: TrainState, epoch: int, stop: int) -> tuple[TrainState, None]:
        return segment_fn(state, jnp.int32(epoch), jnp.int32(stop), x, y), None

    def after_segment(state: TrainState, epoch: int, stop: int, _) -> tuple[TrainState, int, int, dict]:
        fields = {}
        if eval_epochs(stop) or not any_running(state):
            state, fields = evaluate_and_record(state, stop)
        keep_checkpoint(state, stop)
        return state, stop, stop - epoch, {"epoch": stop, **fields}

    state, epoch = drive(
        state,
        config.epochs,
        run=run_segment,
        next_stop=next_stop,
        after=after_segment,
        before=first_evaluation,
        progress=progress,
        description=f"training {model.name}",
    )

    status = np.atleast_1d(np.asarray(state.status))
    epochs_run = np.atleast_1d(np.asarray(state.epoch))
    failed = np.atleast_1d(np.asarray(state.failed_epoch))
    reasons = []
    for s, e, f in zip(status, epochs_run, failed):
        if s == NONFINITE:
            reasons.append(
                f"non-finite loss at epoch {int(f)}; kept the parameters of epoch {int(e)}, the "
                "last with a finite loss (lower the learning rate or clip gradients)"
            )
        elif s == TARGET_REACHED:
            reasons.append(f"reached the target training loss {config.target_train_loss:g} at epoch {int(e)}")
        else:
            reasons.append(f"completed {config.epochs} epochs")
    stopped = [bool(s != RUNNING) for s in status]
    trajectory = None
    if record_every:
        if ensemble and epoch not in recorded:  # the stacked parameters where the loop ended
            recorded[epoch] = np.asarray(flat(state.params))
        epochs = sorted(recorded)
        thetas = np.stack([recorded[e] for e in epochs])
        trajectory = Trajectory(np.asarray(epochs, np.int64), thetas)

    if ensemble:
        result = EnsembleResult(
            params=state.params,
            history=history,
            checkpoints=checkpoints,
            epochs_run=tuple(int(e) for e in epochs_run),
            stopped_early=tuple(stopped),
            reasons=tuple(reasons),
            size=members,
            trajectory=trajectory,
        )
    else:
        # checkpoints taken after the returned epoch hold parameters whose loss was non-finite
        checkpoints = {e: p for e, p in checkpoints.items() if e <= int(epochs_run[0])}
        if trajectory is not None:
            keep = trajectory.epochs <= int(epochs_run[0])
            trajectory = _ending_at(
                Trajectory(trajectory.epochs[keep], trajectory.thetas[keep]), state.params, int(epochs_run[0])
            )
        result = TrainResult(
            params=state.params,
            history=history,
            checkpoints=checkpoints,
            epochs_run=int(epochs_run[0]),
            stopped_early=stopped[0],
            reason=reasons[0],
            trajectory=trajectory,
        )
    if config.on_nonfinite == "raise" and np.any(status == NONFINITE):
        which = [i for i, s in enumerate(status) if s == NONFINITE]
        prefix = f"ensemble members {which}: " if ensemble else ""
        error = TrainingError(prefix + reasons[which[0]] + "; the partial result is in error.result")
        error.result = result
        raise error
    return result


# --------------------------------------------------------------------------------------------
# public entry points


def fit(
    model: Model,
    params: Params,
    train: Split,
    loss: str | Loss,
    config: TrainConfig,
    *,
    test: Split | None = None,
    progress: Any = None,
    key: jax.Array | None = None,
    record_every: int | None = None,
) -> TrainResult:
    """Train ``model`` from ``params`` on ``train`` with ``loss`` as ``config`` says.

    Minimises (1/B) Σ_{i∈batch} ℓ(f(θ, x_i), y_i) step by step (see the module docstring for
    batching, SAM and non-finite handling). ``key`` sets the data order of minibatch training
    (default ``PRNGKey(config.seed)``; epoch e uses ``fold_in(key, e)``); full-batch training
    is deterministic without it. ``progress`` follows :mod:`landform.progress`.
    ``record_every=k`` keeps the flat parameters after epochs 0, k, 2k, ... and the returned
    ones last (``result.trajectory``, a :class:`Trajectory`; T·n floats on the host).

    Raises :class:`DataError` for NaN/inf or empty data, :class:`ShapeError` when the model,
    loss and data do not fit together, and :class:`TrainingError` on a non-finite loss only
    when ``config.on_nonfinite == "raise"`` (the partial result is attached as ``.result``).
    """
    loss, config = get_loss(loss), _as_config(config)
    check_split(train, "train")
    _check_params(params, "initial parameters")
    _check_model(model, params, train, loss, "train")
    key = jax.random.PRNGKey(config.seed) if key is None else key
    return _run(model, params, train, loss, config, test, progress, key, None, record_every)


def init_ensemble(model: Model, keys: jax.Array) -> Params:
    """Stacked initial parameters, member i from ``model.init(keys[i])`` (leading axis = member).

    Typical keys: ``jax.random.split(key, n)`` or
    ``jnp.stack([jax.random.fold_in(key, i) for i in range(n)])``.
    """
    keys = jnp.asarray(keys) if not isinstance(keys, jax.Array) else keys
    return jax.vmap(model.init)(keys)


def ensemble_size(params_stack: Params) -> int:
    """The common leading-axis length of every leaf (raises :class:`ShapeError` otherwise)."""
    sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree_util.tree_leaves(params_stack)}
    if len(sizes) != 1 or None in sizes:
        raise ShapeError(
            f"stacked ensemble parameters need one common leading axis on every leaf; found "
            f"leading sizes {sorted(s for s in sizes if s is not None)}"
            f"{' and scalar leaves' if None in sizes else ''} (build them with init_ensemble)"
        )
    return sizes.pop()


def fit_ensemble(
    model: Model,
    params_stack: Params,
    train: Split,
    loss: str | Loss,
    config: TrainConfig,
    *,
    test: Split | None = None,
    progress: Any = None,
    keys: jax.Array | None = None,
    record_every: int | None = None,
) -> EnsembleResult:
    """Train several identically shaped models at once with ``jax.vmap`` over the leading axis.

    Member i starts from ``params_stack[i]`` and, for minibatch training, shuffles with its own
    key ``keys[i]`` (default ``fold_in(PRNGKey(config.seed), i)``), so member i equals
    ``fit(model, params_i, train, loss, config, key=keys[i])`` up to floating-point rounding.
    Members stop independently (target reached, non-finite loss). ``record_every`` records
    stacked snapshots (T, members, n); :meth:`EnsembleResult.member` gives one member's path.
    """
    loss, config = get_loss(loss), _as_config(config)
    check_split(train, "train")
    members = ensemble_size(params_stack)
    _check_params(params_stack, "initial ensemble parameters")
    first = jax.tree_util.tree_map(lambda leaf: leaf[0], params_stack)
    _check_model(model, first, train, loss, "train")
    if keys is None:
        base = jax.random.PRNGKey(config.seed)
        keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(members))
    if len(keys) != members:
        raise ShapeError(f"got {len(keys)} data-order keys for an ensemble of {members} members")
    return _run(model, params_stack, train, loss, config, test, progress, keys, members, record_every)


__all__ = [
    "EnsembleResult",
    "TrainResult",
    "TrainState",
    "Trajectory",
    "ensemble_size",
    "fit",
    "fit_ensemble",
    "init_ensemble",
]
