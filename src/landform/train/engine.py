"""The training engine under both training loops: networks (:mod:`landform.train.loop`) and
curves of networks (:mod:`landform.paths.training`).

A run of training is a sequence of *units* (an epoch of a network, an optimiser step of a
curve), numbered by an integer index. Each loop supplies its unit, a pure function
``unit(state, index, *operands) -> (state, output)`` of a state (a ``NamedTuple`` with a
``status`` field); the engine supplies everything around it:

- **Run states** :data:`RUNNING`, :data:`NONFINITE`, :data:`TARGET_REACHED` and the non-finite
  rule :func:`settle`: a unit whose losses or new parameters hold a NaN/inf stops the run, which
  keeps the last parameters whose loss was seen finite.
- **Stopped states stay as they are**: :func:`guarded` skips a unit for a state that is not
  RUNNING, by a ``lax.cond`` branch ("cond": nothing is computed) or by a select ("select": the
  unit is computed and discarded, which avoids convolutions inside ``lax.cond`` branches, slow
  on CPU).
- **Scan or Python**: :func:`resolve_loop` decides between units inside one compiled
  ``lax.scan`` (:func:`scan_units`) and a Python loop over compiled pieces
  (:func:`python_units`), for convolutional models on CPU (see :mod:`landform.loops`).
- **The host loop with progress**: :func:`drive` runs blocks of units between the points
  where the host must look (evaluations, checkpoints), reporting progress after each.
- **Shape check**: :func:`check_fits` traces the model and loss on two examples, so that
  shape mistakes fail before anything is compiled.

Optimiser names are validated by :data:`landform.train.config.OptimizerName` (the field type of
both training configs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, ShapeError
from landform.loops import python_loops
from landform.losses import Loss
from landform.progress import track

PyTree = Any

#: Run states (``state.status``): still training; stopped on a non-finite loss or parameter;
#: stopped at the target training loss.
RUNNING, NONFINITE, TARGET_REACHED = 0, 1, 2

#: How units are looped: "auto" (chosen by :func:`resolve_loop`), "scan" or "python".
LOOP_MODES = ("auto", "scan", "python")


# --------------------------------------------------------------------------------------------
# the non-finite rule


def tree_select(predicate: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    """Leafwise ``jnp.where(predicate, on_true, on_false)`` over two pytrees of one structure."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(predicate, a, b), on_true, on_false)


def all_finite(tree: PyTree) -> jax.Array:
    """Whether every leaf of ``tree`` is free of NaN and inf (True for a tree without leaves)."""
    leaves = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


class Settled(NamedTuple):
    """The outcome of one unit under the non-finite rule (see :func:`settle`)."""

    params: PyTree  # the unit's new parameters, or the verified ones after a failure
    opt_state: Any  # the unit's new optimiser state, or the one before the unit after a failure
    verified: PyTree  # last parameters whose loss was seen finite
    verified_at: jax.Array  # their position
    status: jax.Array
    failed_at: jax.Array
    ok: jax.Array  # every loss and every new parameter finite


def settle(
    params: PyTree,
    opt_state: Any,
    verified: PyTree,
    verified_at: jax.Array,
    status: jax.Array,
    failed_at: jax.Array,
    *,
    new_params: PyTree,
    new_opt_state: Any,
    losses: jax.Array,
    at: jax.Array,
    unit: jax.Array,
) -> Settled:
    """Keep a unit's result only if all its losses and new parameters are finite.

    ``params`` (at position ``at``, e.g. epochs or steps taken) and ``opt_state`` are the state
    before the unit, ``new_params``/``new_opt_state`` after it, ``losses`` (shape (k,)) the
    losses of its k optimiser steps, the first of them measured at ``params``. A finite first
    loss verifies ``params`` (``verified``, ``verified_at``). When any loss or new parameter is
    non-finite the result falls back to the verified parameters and the old optimiser state,
    ``status`` becomes :data:`NONFINITE` and ``failed_at`` records ``unit``.
    """
    first_finite = jnp.isfinite(losses[0])
    ok = jnp.all(jnp.isfinite(losses)) & all_finite(new_params)
    verified = tree_select(first_finite, params, verified)
    verified_at = jnp.where(first_finite, at, verified_at)
    return Settled(
        params=tree_select(ok, new_params, verified),
        opt_state=tree_select(ok, new_opt_state, opt_state),
        verified=verified,
        verified_at=verified_at,
        status=jnp.where(ok, status, NONFINITE),
        failed_at=jnp.where(ok, failed_at, unit),
        ok=ok,
    )


# --------------------------------------------------------------------------------------------
# running units


def guarded(unit: Callable, how: str = "cond") -> Callable:
    """``unit`` made to leave a state that is not RUNNING as it is.

    The result maps ``(state, index, *operands)`` to ``(state, output, counted)``: ``counted``
    says that the unit ran and left the state RUNNING, and ``output`` is zero where it is not
    counted. ``how="cond"`` branches with ``lax.cond`` (a skipped unit costs nothing; under
    ``vmap`` both branches run); ``how="select"`` computes the unit and selects (no
    ``lax.cond`` around convolutions, which XLA runs slowly on CPU).
    """
    if how not in ("cond", "select"):
        raise ConfigError(f"guarded: how must be 'cond' or 'select', got {how!r}")

    def run(state, index, *operands):
        running = state.status == RUNNING
        if how == "cond":
            shape = jax.eval_shape(unit, state, index, *operands)[1]

            def skip(state):
                return state, jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape)

            new, output = jax.lax.cond(running, lambda s: unit(s, index, *operands), skip, state)
        else:
            new, output = unit(state, index, *operands)
            new = tree_select(running, new, state)
        counted = running & (new.status == RUNNING)
        output = jax.tree_util.tree_map(lambda v: jnp.where(counted, v, 0.0), output)
        return new, output, counted

    return run


def scan_units(
    unit: Callable, state: Any, first: jax.Array, length: int, *operands, last: jax.Array | None = None
) -> tuple[Any, PyTree, jax.Array]:
    """Units ``first`` to ``first+length-1`` in one ``lax.scan`` (``length`` static).

    ``unit`` is a :func:`guarded` unit. With ``last`` (traced) the units after index ``last``
    are skipped by ``lax.cond``, so one compiled scan serves blocks of any length up to
    ``length``. Returns the state, the stacked outputs and the stacked ``counted`` flags
    (skipped units: zeros and False).
    """

    def body(state, i):
        index = first + i
        if last is None:
            state, output, counted = unit(state, index, *operands)
        else:
            shape = jax.eval_shape(unit, state, index, *operands)

            def skip(state):
                zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shape[1:])
                return (state, *zeros)

            state, output, counted = jax.lax.cond(index <= last, lambda s: unit(s, index, *operands), skip, state)
        return state, (output, counted)

    state, (outputs, counted) = jax.lax.scan(body, state, jnp.arange(length, dtype=jnp.int32))
    return state, outputs, counted


def python_units(unit: Callable, state: Any, first: int, stop: int, *operands) -> tuple[Any, list, list]:
    """Units ``first`` to ``stop-1`` from Python, one call of ``unit`` (compiled by the caller, or
    itself a Python function of compiled pieces) each, stopping once the state is not RUNNING.

    ``unit`` maps ``(state, index, *operands)`` to ``(state, output, counted)`` as a
    :func:`guarded` unit does (``counted`` may be None); the index is passed as an int32
    array. Returns the state and the lists of outputs and ``counted`` flags of the units run.
    """
    outputs, counts = [], []
    for index in range(int(first), int(stop)):
        if int(state.status) != RUNNING:
            break
        state, output, counted = unit(state, jnp.int32(index), *operands)
        outputs.append(output)
        counts.append(counted)
    return state, outputs, counts


def resolve_loop(loop: str, fn: Callable, *example) -> str:
    """ "scan" or "python" for ``loop`` in :data:`LOOP_MODES`; "auto" is "python" on the CPU
    backend when ``fn(*example)`` (traced, not run) contains a convolution, "scan" otherwise
    (see :mod:`landform.loops`). Raises :class:`ConfigError` for an unknown mode."""
    if loop not in LOOP_MODES:
        raise ConfigError(f"loop must be one of {LOOP_MODES}, got {loop!r}")
    if loop != "auto":
        return loop
    return "python" if python_loops(fn, *example) else "scan"


def any_running(state: Any) -> bool:
    """Whether the state (or any member of a stacked state) is RUNNING."""
    return bool(np.any(np.asarray(state.status) == RUNNING))


def drive(
    state: Any,
    total: int,
    *,
    run: Callable[[Any, int, int], tuple[Any, Any]],
    next_stop: Callable[[int], int],
    after: Callable[[Any, int, int, Any], tuple[Any, int, int, dict]],
    before: Callable[[Any], Any] | None = None,
    progress: Any = None,
    description: str = "training",
) -> tuple[Any, int]:
    """The host loop over blocks of units, with progress (:mod:`landform.progress`).

    ``before(state) -> state`` runs first (the evaluation at position 0). Then, while the
    position is below ``total`` and some state is RUNNING: ``stop = next_stop(position)``;
    ``state, aux = run(state, position, stop)`` takes units position..stop-1 (positions count
    units taken); ``state, reached, advance, fields = after(state, position, stop, aux)``
    evaluates what the host must see; the reporter advances by ``advance`` with ``fields``; the
    position becomes ``reached``. Returns the state and the final position.
    """
    position = 0
    with track(progress, description, total) as reporter:
        if before is not None:
            state = before(state)
        while position < total and any_running(state):
            stop = next_stop(position)
            state, aux = run(state, position, stop)
            state, reached, advance, fields = after(state, position, stop, aux)
            reporter.advance(advance, **fields)
            position = reached
    return state, position


# --------------------------------------------------------------------------------------------
# checks


def check_fits(
    apply: Callable,
    params: PyTree,
    x: Any,
    y: Any,
    loss: Loss,
    *,
    model_name: str,
    data: str,
) -> None:
    """Trace ``loss.per_example(apply(params, x), y)`` (shapes only; pass two examples) and
    raise :class:`ShapeError` naming the model, the loss, ``data`` and the per-example shapes
    when the model, loss and data do not fit together. ``params`` may be
    ``jax.ShapeDtypeStruct`` leaves."""
    try:
        jax.eval_shape(lambda p: loss.per_example(apply(p, x), y), params)
    except Exception as error:  # noqa: BLE001 - re-raised with context
        raise ShapeError(
            f"model {model_name!r} and loss {loss.name!r} do not fit {data} "
            f"(inputs {tuple(np.shape(x)[1:])}, targets {tuple(np.shape(y)[1:])} per example): "
            f"{type(error).__name__}: {error}"
        ) from error


__all__ = [
    "LOOP_MODES",
    "NONFINITE",
    "RUNNING",
    "TARGET_REACHED",
    "Settled",
    "all_finite",
    "any_running",
    "check_fits",
    "drive",
    "guarded",
    "python_units",
    "resolve_loop",
    "scan_units",
    "settle",
    "tree_select",
]
