"""The training engine under both loops (landform.train.engine): the non-finite rule, the guard
that leaves stopped states alone, scan and Python loops over units, the host loop, the checks."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.losses import get_loss
from landform.paths import CurveTrainConfig
from landform.train import TrainConfig
from landform.train.engine import (
    NONFINITE,
    RUNNING,
    all_finite,
    check_fits,
    drive,
    guarded,
    python_units,
    resolve_loop,
    scan_units,
    settle,
)


class Counter(NamedTuple):
    """A toy state: x is multiplied by ``factor`` each unit, status as the engine wants it."""

    x: jax.Array
    verified: jax.Array
    verified_at: jax.Array
    status: jax.Array
    failed_at: jax.Array


def start(x: float = 1.0) -> Counter:
    return Counter(
        jnp.float32(x), jnp.float32(x), jnp.int32(0), jnp.array(RUNNING, jnp.int32), jnp.array(-1, jnp.int32)
    )


def unit(state: Counter, index, factor):
    """One unit: loss = x (seen at the current x), new x = x * factor; output the loss."""
    new = state.x * factor
    settled = settle(
        state.x,
        None,
        state.verified,
        state.verified_at,
        state.status,
        state.failed_at,
        new_params=new,
        new_opt_state=None,
        losses=state.x[None],
        at=index,
        unit=index,
    )
    return Counter(settled.params, settled.verified, settled.verified_at, settled.status, settled.failed_at), state.x


def test_settle_keeps_the_last_parameters_whose_loss_was_finite():
    # x: 1 -> 1e30 -> inf (the new parameters overflow in unit 1, the loss is still finite)
    state, outputs, counted = scan_units(guarded(unit, "select"), start(), jnp.int32(0), 4, jnp.float32(1e30))
    assert int(state.status) == NONFINITE
    assert int(state.failed_at) == 1
    assert int(state.verified_at) == 1  # x = 1e30 had a finite loss
    assert float(state.x) == pytest.approx(1e30)
    assert np.asarray(counted).tolist() == [True, False, False, False]
    assert np.asarray(outputs).tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])


def test_settle_accepts_finite_units():
    settled = settle(
        jnp.ones(3),
        {"m": jnp.zeros(3)},
        jnp.ones(3),
        jnp.int32(0),
        jnp.int32(RUNNING),
        jnp.int32(-1),
        new_params=2 * jnp.ones(3),
        new_opt_state={"m": jnp.ones(3)},
        losses=jnp.array([0.5, 0.25]),
        at=jnp.int32(4),
        unit=jnp.int32(5),
    )
    assert bool(settled.ok) and int(settled.status) == RUNNING and int(settled.failed_at) == -1
    np.testing.assert_array_equal(settled.params, 2 * np.ones(3))
    np.testing.assert_array_equal(settled.opt_state["m"], np.ones(3))
    assert int(settled.verified_at) == 4


@pytest.mark.parametrize("how", ["cond", "select"])
def test_scan_and_python_loops_agree(how):
    step = guarded(unit, how)
    scanned, outputs, counted = jax.jit(lambda s: scan_units(step, s, jnp.int32(2), 5, jnp.float32(0.5)))(start(3.0))
    looped, values, counts = python_units(jax.jit(step), start(3.0), 2, 7, jnp.float32(0.5))
    assert float(scanned.x) == float(looped.x) == 3.0 * 0.5**5
    np.testing.assert_array_equal(np.asarray(outputs), np.asarray(values))
    assert np.asarray(counted).tolist() == [bool(c) for c in counts] == [True] * 5


def test_scan_units_skips_units_after_last():
    state, outputs, counted = jax.jit(
        lambda s, last: scan_units(guarded(unit, "cond"), s, jnp.int32(1), 6, jnp.float32(2.0), last=last)
    )(start(), jnp.int32(3))
    assert float(state.x) == 8.0  # units 1, 2, 3
    assert np.asarray(counted).tolist() == [True, True, True, False, False, False]


def test_python_units_stop_after_a_non_finite_unit():
    calls = []

    def counting(state, index, factor):
        calls.append(int(index))
        return guarded(unit, "select")(state, index, factor)

    state, outputs, counts = python_units(counting, start(), 0, 10, jnp.float32(1e30))
    assert calls == [0, 1]  # unit 1 overflowed; nothing ran after it
    assert int(state.status) == NONFINITE


def test_drive_reports_progress_and_stops_with_the_state():
    events = []

    class Reporter:
        def start(self, description, total):
            events.append(("start", description, total))

        def advance(self, n=1, **fields):
            events.append(("advance", n, fields))

        def stop(self):
            events.append(("stop",))

    def run(state, position, stop):
        state, values, _ = python_units(guarded(unit, "select"), state, position, stop, jnp.float32(1e20))
        return state, len(values)

    def after(state, position, stop, taken):
        return state, stop, stop - position, {"taken": taken}

    state, position = drive(
        start(),
        10,
        run=run,
        next_stop=lambda p: min(p + 3, 10),
        after=after,
        progress=Reporter(),
        description="toy",
    )
    # x: 1, 1e20, inf at unit 1 -> stops after the first block
    assert position == 3 and int(state.status) == NONFINITE
    assert events == [("start", "toy", 10), ("advance", 3, {"taken": 2}), ("stop",)]


def test_resolve_loop():
    dense = lambda p, x: x @ p  # noqa: E731
    assert resolve_loop("auto", dense, jnp.ones((2, 2)), jnp.ones((1, 2))) == "scan"
    assert resolve_loop("python", dense, jnp.ones((2, 2)), jnp.ones((1, 2))) == "python"
    with pytest.raises(ConfigError, match="loop must be one of"):
        resolve_loop("fast", dense, jnp.ones((2, 2)), jnp.ones((1, 2)))


def test_check_fits_names_model_loss_and_shapes():
    params = {"w": jnp.ones((3, 2))}
    apply = lambda p, x: x @ p["w"]  # noqa: E731
    check_fits(
        apply, params, jnp.ones((2, 3)), jnp.zeros(2, jnp.int32), get_loss("cross_entropy"), model_name="m", data="d"
    )
    with pytest.raises(ShapeError, match=r"model 'm' and loss 'cross_entropy' do not fit the data \(inputs \(4,\)"):
        check_fits(
            apply,
            params,
            jnp.ones((2, 4)),
            jnp.zeros(2, jnp.int32),
            get_loss("cross_entropy"),
            model_name="m",
            data="the data",
        )


def test_all_finite():
    assert bool(all_finite({"a": jnp.ones(2), "b": jnp.zeros(3)}))
    assert not bool(all_finite({"a": jnp.ones(2), "b": jnp.array([0.0, jnp.nan])}))
    assert bool(all_finite({}))


@pytest.mark.parametrize("config", [TrainConfig, CurveTrainConfig])
def test_one_optimizer_validator_for_both_configs(config):
    assert config(optimizer="sgd").optimizer == "sgd"
    with pytest.raises(UnknownNameError, match="unknown optimizer 'lion'"):
        config(optimizer="lion")
