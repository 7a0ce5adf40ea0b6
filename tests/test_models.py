"""Tests of the model zoo, the registry and the adapters (landform.models)."""

from __future__ import annotations

import json
import math

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from landform import models
from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.flat import leaf_slices, num_params, ravel
from landform.losses import gaussian_nll_learned
from landform.models import Model

KEY = jax.random.key(0)
OTHER_KEY = jax.random.key(1)


def assert_trees_equal(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for left, right in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        assert np.shape(left) == np.shape(right)
        assert np.asarray(left).dtype == np.asarray(right).dtype
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right))


def float_batch(shape, n=3, seed=0):
    # numpy, not jax.random: each new shape of a jax.random draw costs an XLA compilation
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, *shape)), jnp.float32)


def tokens(shape, vocab_size, seed=0):
    return jnp.asarray(np.random.default_rng(seed).integers(0, vocab_size, shape), jnp.int32)


# (model, example batch, expected output shape) for every zoo model, kept small.
ZOO_CASES = {
    "mlp": lambda: (
        models.mlp((4,), [16, 16, 16], 2, activation="tanh"),
        float_batch((4,)),
        (3, 2),
    ),
    "mlp_polynomial": lambda: (
        models.mlp((1,), [8], 1, polynomial_features=3),
        float_batch((1,)),
        (3, 1),
    ),
    "tabular_mlp": lambda: (
        models.tabular_mlp((4,), depth=3, width=16, outputs=2),
        float_batch((4,)),
        (3, 2),
    ),
    "lenet5": lambda: (models.lenet5((16, 16, 1), outputs=4), float_batch((16, 16, 1)), (3, 4)),
    "cnn": lambda: (
        models.cnn((8, 8, 3), channels=[4, 8], dense=[16], outputs=5, activation="silu"),
        float_batch((8, 8, 3)),
        (3, 5),
    ),
    "transformer": lambda: (
        models.transformer(vocab_size=11, context=4, layers=2, heads=2, width=8),
        tokens((3, 4), 11),
        (3, 4, 11),
    ),
    "transformer_last": lambda: (
        models.transformer(vocab_size=11, context=4, layers=2, heads=2, width=8, pool="last"),
        tokens((3, 4), 11),
        (3, 11),
    ),
    "learned_sigma": lambda: (
        models.with_learned_sigma(models.mlp((4,), [16, 16, 16], 2)),
        float_batch((4,)),
        (3, 3),
    ),
}


@pytest.fixture(scope="module", params=sorted(ZOO_CASES))
def zoo_case(request):
    model, x, shape = ZOO_CASES[request.param]()
    return model, model.init(KEY), x, shape


# --------------------------------------------------------------------------------------------
# zoo: shapes, ravel round trips, rebuilding from spec, keys


def test_zoo_output_shapes(zoo_case):
    model, params, x, shape = zoo_case
    assert model.apply(params, x).shape == shape
    assert model(params, x).shape == shape


def test_zoo_ravel_round_trip(zoo_case):
    model, params, x, _ = zoo_case
    theta, unravel = ravel(params)
    assert theta.ndim == 1 and theta.shape[0] == num_params(params)
    rebuilt = unravel(theta)
    assert_trees_equal(rebuilt, params)
    np.testing.assert_array_equal(model.apply(rebuilt, x), model.apply(params, x))


def test_zoo_apply_of_flat_vector_under_jit_and_vmap():
    model = models.mlp((4,), [16, 16, 16], 2, activation="tanh")
    params = model.init(KEY)
    x = float_batch((4,))
    theta, unravel = ravel(params)
    outputs = jax.jit(lambda t: model.apply(unravel(t), x))(theta)
    np.testing.assert_allclose(outputs, model.apply(params, x), rtol=1e-5, atol=1e-6)
    # many parameter vectors at once, as a landscape evaluates them
    thetas = jnp.stack([theta, 2 * theta, -theta])
    batched = jax.vmap(lambda t: model.apply(unravel(t), x))(thetas)
    assert batched.shape == (3, 3, 2)
    np.testing.assert_allclose(batched[0], outputs, rtol=1e-5, atol=1e-6)


def test_zoo_spec_rebuilds_identical_model(zoo_case):
    model, params, x, _ = zoo_case
    spec = json.loads(json.dumps(model.spec))  # JSON-serialisable, survives a round trip
    assert spec == model.spec
    assert spec["name"] in models.MODEL_NAMES
    rebuilt = models.build(spec)
    assert rebuilt.spec == model.spec
    assert rebuilt.unit_axis == model.unit_axis
    assert_trees_equal(rebuilt.init(KEY), params)
    np.testing.assert_array_equal(rebuilt.apply(params, x), model.apply(params, x))


def test_zoo_keys(zoo_case):
    model, params, _, _ = zoo_case
    assert_trees_equal(model.init(KEY), params)  # same key, same parameters
    theta, _ = ravel(params)
    other, _ = ravel(model.init(OTHER_KEY))
    assert not np.array_equal(np.asarray(theta), np.asarray(other))


def test_init_works_inside_jit_and_vmap():
    model = models.mlp((2,), [], 1)  # small: each path compiles its own initialiser
    direct = model.init(KEY)
    inside_jit = jax.jit(model.init)(KEY)
    np.testing.assert_allclose(ravel(inside_jit)[0], ravel(direct)[0], rtol=1e-5, atol=1e-6)
    keys = jnp.stack([KEY, OTHER_KEY])
    many = jax.vmap(model.init)(keys)
    np.testing.assert_allclose(
        ravel(jax.tree.map(lambda leaf: leaf[1], many))[0],
        ravel(model.init(OTHER_KEY))[0],
        rtol=1e-5,
        atol=1e-6,
    )


def test_build_by_name_and_kwargs():
    by_name = models.build("mlp", input_shape=[3], hidden=[4], outputs=2)
    by_spec = models.build({"name": "mlp", "input_shape": [3], "hidden": [4], "outputs": 2})
    assert by_name.spec == by_spec.spec
    assert by_name.spec == {
        "name": "mlp",
        "input_shape": [3],
        "hidden": [4],
        "outputs": 2,
        "activation": "relu",
        "polynomial_features": 1,
    }
    overridden = models.build(by_spec.spec, outputs=5)
    assert overridden.spec["outputs"] == 5
    assert set(models.MODEL_NAMES) >= {
        "mlp",
        "tabular_mlp",
        "lenet5",
        "cnn",
        "transformer",
        "learned_sigma",
    }


# --------------------------------------------------------------------------------------------
# parameter counts and layouts


def test_lenet5_parameter_count():
    # conv1 6*(25+1) + conv2 16*(6*25+1) + 400*120+120 + 120*84+84 + 84*10+10
    expected = 156 + 2416 + 48120 + 10164 + 850
    assert expected == 61706
    model = models.lenet5()
    params = jax.eval_shape(model.init, KEY)
    assert num_params(params) == 61706
    shapes = sorted(s.shape for s in leaf_slices(params))
    assert (5, 5, 1, 6) in shapes and (5, 5, 6, 16) in shapes and (400, 120) in shapes


def test_lenet5_accepts_flat_images():
    assert num_params(jax.eval_shape(models.lenet5(input_shape=(784,)).init, KEY)) == 61706
    flat = models.lenet5(input_shape=(256,), outputs=4)  # a flattened 16×16×1 image
    image = models.lenet5((16, 16, 1), outputs=4)
    params = flat.init(KEY)
    assert_trees_equal(params, image.init(KEY))
    x = float_batch((16, 16, 1), n=2)
    np.testing.assert_array_equal(flat.apply(params, x.reshape(2, 256)), image.apply(params, x))


def test_mlp_parameter_count():
    model = models.mlp((784,), [256, 128], 10)
    assert num_params(jax.eval_shape(model.init, KEY)) == 784 * 256 + 256 + 256 * 128 + 128 + 1290
    assert num_params(jax.eval_shape(model.init, KEY)) == 235146


def test_tabular_mlp_is_mlp_of_equal_widths():
    tabular = models.tabular_mlp((4,), depth=3, width=16, outputs=2)
    plain = models.mlp((4,), [16, 16, 16], 2, activation="tanh")
    assert_trees_equal(tabular.init(KEY), plain.init(KEY))  # activation does not change init
    assert num_params(tabular.init(KEY)) == 4 * 16 + 16 + 2 * (16 * 16 + 16) + 16 * 2 + 2


def test_mlp_leaf_slices_kernels_are_in_by_out():
    params = jax.eval_shape(models.mlp((5,), [7], 3).init, KEY)
    slices = {s.path: s for s in leaf_slices(params)}
    assert slices["params/Dense_0/kernel"].shape == (5, 7)
    assert slices["params/Dense_1/kernel"].shape == (7, 3)
    assert slices["params/Dense_0/bias"].shape == (7,)
    assert models.mlp((5,), [7], 3).unit_axis == -1


def test_cnn_layers():
    model = models.cnn((28, 28, 1), [32, 64, 128], [512, 256], 10)
    params = jax.eval_shape(model.init, KEY)["params"]
    assert params["Conv_0"]["kernel"].shape == (3, 3, 1, 32)
    assert params["Conv_2"]["kernel"].shape == (3, 3, 64, 128)
    # 28 → 14 → 7 → 3 after three 2×2 max-pools
    assert params["Dense_0"]["kernel"].shape == (3 * 3 * 128, 512)
    assert params["Dense_2"]["kernel"].shape == (256, 10)


# --------------------------------------------------------------------------------------------
# behaviour


def dense(kernel, bias):
    return {"kernel": jnp.asarray(kernel, jnp.float32), "bias": jnp.asarray(bias, jnp.float32)}


def test_polynomial_features_are_powers():
    model = models.mlp((1,), [], 3, polynomial_features=3)
    params = {"params": {"Dense_0": dense(jnp.eye(3), jnp.zeros(3))}}
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(lambda s: s.shape, jax.eval_shape(model.init, KEY))
    x = jnp.array([[-2.0], [0.5], [3.0]])
    np.testing.assert_allclose(model.apply(params, x), jnp.concatenate([x, x**2, x**3], axis=1))

    # multi-dimensional inputs: powers concatenated power by power
    model = models.mlp((2,), [], 4, polynomial_features=2)
    params = {"params": {"Dense_0": dense(jnp.eye(4), jnp.zeros(4))}}
    x = jnp.array([[1.0, 2.0], [-3.0, 0.5]])
    np.testing.assert_allclose(model.apply(params, x), jnp.concatenate([x, x**2], axis=1))


@pytest.mark.parametrize("activation", models.ACTIVATION_NAMES)
def test_activations_are_applied(activation):
    model = models.mlp((2,), [3], 1, activation=activation)
    params = {
        "params": {"Dense_0": dense(jnp.ones((2, 3)), jnp.ones(3)), "Dense_1": dense(jnp.ones((3, 1)), jnp.ones(1))}
    }
    x = jnp.array([[0.3, -1.2]])
    hidden = models.get_activation(activation)(jnp.full((3,), 0.3 - 1.2 + 1.0))
    np.testing.assert_allclose(model.apply(params, x)[0, 0], hidden.sum() + 1.0, rtol=1e-6)


def test_transformer_is_causal():
    model = models.transformer(vocab_size=11, context=4, layers=2, heads=2, width=8)
    params = model.init(KEY)
    sequence = jnp.array([[1, 2, 3, 4]], jnp.int32)
    changed = sequence.at[0, 2].set(9)
    before, after = model.apply(params, sequence), model.apply(params, changed)
    np.testing.assert_allclose(before[:, :2], after[:, :2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(before[:, 2:], after[:, 2:])


def test_transformer_last_pool_is_last_position():
    full = models.transformer(11, 4, 2, 2, 8)
    last = models.transformer(11, 4, 2, 2, 8, pool="last")
    params = full.init(KEY)
    assert_trees_equal(params, last.init(KEY))
    batch = tokens((3, 4), 11)
    np.testing.assert_allclose(last.apply(params, batch), full.apply(params, batch)[:, -1], rtol=1e-5, atol=1e-6)


def test_learned_sigma():
    inner = models.mlp((4,), [16, 16, 16], 2)
    model = models.with_learned_sigma(inner)
    params = model.init(KEY)
    assert set(params) == {"net", "log_sigma"}
    assert params["log_sigma"].shape == () and params["log_sigma"].dtype == jnp.float32
    assert_trees_equal(params["net"], inner.init(KEY))
    x = float_batch((4,), n=4)
    outputs = model.apply(params, x)
    assert outputs.shape == (4, 3)
    np.testing.assert_allclose(outputs[:, -1], math.log(0.05), rtol=1e-6)
    np.testing.assert_array_equal(outputs[:, :2], inner.apply(params["net"], x))
    assert model.spec == {"name": "learned_sigma", "model": inner.spec, "initial_sigma": 0.05}
    assert model.input_shape == (4,)
    # the loss convention: 0.5 log 2π + log σ + (f - y)² / 2σ², averaged over outputs
    targets = jnp.zeros((4, 2))
    mean = outputs[:, :2]
    expected = jnp.mean(0.5 * math.log(2 * math.pi) + math.log(0.05) + 0.5 * (mean / 0.05) ** 2, axis=1)
    np.testing.assert_allclose(gaussian_nll_learned(outputs, targets), expected, rtol=1e-5)
    # gradients reach log σ
    grad = jax.jit(jax.grad(lambda p: gaussian_nll_learned(model.apply(p, x), targets).mean()))(params)
    assert float(grad["log_sigma"]) != 0.0
    assert models.with_learned_sigma(inner, initial_sigma=2.0).init(KEY)["log_sigma"] == (pytest.approx(math.log(2.0)))


# --------------------------------------------------------------------------------------------
# errors


def test_unknown_model_name_lists_known():
    with pytest.raises(UnknownNameError) as info:
        models.build("resnet", input_shape=[3])
    message = str(info.value)
    assert "resnet" in message
    for name in ("mlp", "lenet5", "cnn", "transformer"):
        assert name in message


def test_unknown_activation_lists_known():
    with pytest.raises(UnknownNameError) as info:
        models.mlp((3,), [4], 1, activation="swoosh")
    message = str(info.value)
    assert "swoosh" in message and "relu" in message and "gelu" in message
    with pytest.raises(UnknownNameError):
        models.build(
            {"name": "cnn", "input_shape": [8, 8, 1], "channels": [2], "dense": [], "outputs": 2, "activation": "nope"}
        )


def test_wrong_kwargs_say_which_arguments_the_model_takes():
    with pytest.raises(ConfigError) as info:
        models.build("mlp", input_shape=[3], hidden=[4], outputs=2, widht=3)
    message = str(info.value)
    assert "widht" in message and "hidden" in message and "outputs" in message
    with pytest.raises(ConfigError) as info:
        models.build("tabular_mlp", input_shape=[3], depth=2)
    assert "width" in str(info.value) and "outputs" in str(info.value)
    with pytest.raises(ConfigError):
        models.build({"input_shape": [3]})  # no name
    with pytest.raises(ConfigError, match="positive integer"):
        models.mlp((3,), [4, 0], 1)
    with pytest.raises(ConfigError, match="divisible"):
        models.transformer(5, 3, 1, heads=3, width=8)
    with pytest.raises(ConfigError, match="pool"):
        models.transformer(5, 3, 1, 2, 8, pool="first")
    with pytest.raises(ConfigError):
        models.with_learned_sigma(models.mlp((1,), [2], 1), initial_sigma=0.0)


def test_wrong_input_shape_names_both_shapes():
    model = models.mlp((784,), [8], 10)
    params = jax.eval_shape(model.init, KEY)  # check_input only traces, shapes suffice
    with pytest.raises(ShapeError) as info:
        models.validate_input_shape(model, (32, 32, 3))
    message = str(info.value)
    assert "(784,)" in message and "(32, 32, 3)" in message
    with pytest.raises(ShapeError) as info:
        models.check_input(model, params, np.zeros((5, 10), np.float32))
    assert "(784,)" in str(info.value) and "(10,)" in str(info.value)
    # same number of elements is fine for models that reshape their inputs
    models.validate_input_shape(model, (28, 28, 1))
    out = models.check_input(model, params, np.zeros((5, 784), np.float32))
    assert out.shape == (1, 10)


def test_trial_pass_error_names_both_shapes():
    # an adapter without a declared input shape: the trial forward pass catches the mismatch
    weights = {"w": jnp.ones((4, 2))}
    model, params = models.from_apply(lambda p, x: x @ p["w"], weights)
    assert model.input_shape is None
    assert models.check_input(model, params, jnp.ones((6, 4))).shape == (1, 2)
    with pytest.raises(ShapeError) as info:
        models.check_input(model, params, jnp.ones((6, 3)))
    assert "(3,)" in str(info.value) and "unknown" in str(info.value)

    linen_model, linen_params = models.from_linen(nn.Dense(2), jnp.ones((1, 4)), KEY)
    with pytest.raises(ShapeError) as info:
        models.check_input(linen_model, linen_params, jnp.ones((6, 3)))
    assert "(4,)" in str(info.value) and "(3,)" in str(info.value)


def test_adapter_specs_are_not_rebuildable():
    model, _ = models.from_apply(lambda p, x: x * p, jnp.ones(()))
    assert model.spec == {"name": "apply", "rebuildable": False}
    with pytest.raises(ConfigError, match="adapter"):
        models.build(model.spec)


# --------------------------------------------------------------------------------------------
# adapters


class LinenNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(6)(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        return nn.Dense(2)(jnp.tanh(x))


class NNXNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.first = nnx.Linear(3, 6, rngs=rngs)
        self.norm = nnx.BatchNorm(6, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)
        self.second = nnx.Linear(6, 2, rngs=rngs)

    def __call__(self, x):
        return self.second(self.dropout(jnp.tanh(self.norm(self.first(x)))))


def make_linen():
    return models.from_linen(LinenNet(), jnp.ones((1, 3)), KEY, train=False)


def make_nnx():
    return models.from_nnx(NNXNet(nnx.Rngs(0)))


def equinox_module(constructor, *args, seed=0):
    """An Equinox module with numpy-drawn weights (skips compiling eager random draws)."""
    skeleton = eqx.filter_eval_shape(constructor, *args, key=KEY)
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda leaf: (
            jnp.asarray(0.5 * rng.standard_normal(leaf.shape), leaf.dtype)
            if isinstance(leaf, jax.ShapeDtypeStruct)
            else leaf
        ),
        skeleton,
    )


def make_equinox():
    return models.from_equinox(equinox_module(eqx.nn.MLP, 3, 2, 3, 2))


def make_apply():
    weights = {"w": float_batch((2,), n=3, seed=1), "b": jnp.arange(2.0)}
    return models.from_apply(lambda p, x: jnp.sin(x @ p["w"] + p["b"]), weights)


ADAPTERS = {"linen": make_linen, "nnx": make_nnx, "equinox": make_equinox, "apply": make_apply}


@pytest.mark.parametrize("family", sorted(ADAPTERS))
def test_adapter_ravel_round_trip(family):
    model, params = ADAPTERS[family]()
    assert isinstance(model, Model)
    assert model.spec["name"] == family and model.spec["rebuildable"] is False
    x = float_batch((3,), n=4)
    outputs = model.apply(params, x)
    assert outputs.shape == (4, 2)
    theta, unravel = ravel(params)
    assert theta.dtype == jnp.float32
    rebuilt = unravel(theta)
    assert_trees_equal(rebuilt, params)
    np.testing.assert_array_equal(model.apply(rebuilt, x), outputs)
    # the flat vector moves the outputs, under jit, and repeated calls agree (no hidden state)
    flat_apply = jax.jit(lambda t: model.apply(unravel(t), x))
    np.testing.assert_allclose(flat_apply(theta), outputs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(flat_apply(theta), flat_apply(theta))
    assert not np.allclose(flat_apply(theta + 0.1), outputs)
    # batched: one example at a time gives the same as the batch
    np.testing.assert_allclose(model.apply(params, x[:1]), outputs[:1], rtol=1e-5, atol=1e-6)


def test_linen_adapter_keeps_only_params():
    model, params = make_linen()
    assert set(params) == {"params"}
    paths = [s.path for s in leaf_slices(params)]
    assert not any("mean" in p or "var" in p for p in paths)
    assert model.unit_axis == -1 and model.input_shape == (3,)
    assert_trees_equal(model.init(KEY), params)
    assert not np.array_equal(ravel(model.init(OTHER_KEY))[0], ravel(params)[0])


def test_nnx_adapter_state_is_not_in_theta():
    module = NNXNet(nnx.Rngs(0))
    model, params = models.from_nnx(module)
    paths = {s.path for s in leaf_slices(params)}
    assert paths == {
        "first/kernel",
        "first/bias",
        "norm/scale",
        "norm/bias",
        "second/kernel",
        "second/bias",
    }
    x = float_batch((3,), n=4)
    # evaluation mode: dropout off and running statistics (mean 0, var 1) used
    expected = module.second(
        jnp.tanh(
            (module.first(x) - 0.0) / jnp.sqrt(1.0 + module.norm.epsilon) * module.norm.scale[...]
            + module.norm.bias[...]
        )
    )
    np.testing.assert_allclose(model.apply(params, x), expected, rtol=1e-5, atol=1e-6)
    # the caller's module is not put in evaluation mode, and its RNG counters do not move
    counts = jax.tree.leaves(nnx.state(module, nnx.RngCount))
    jax.jit(model.apply)(params, x)
    assert module.dropout.deterministic is False
    assert jax.tree.leaves(nnx.state(module, nnx.RngCount)) == counts
    assert module.norm.use_running_average is False
    assert model.unit_axis == -1


def test_equinox_adapter():
    mlp = equinox_module(eqx.nn.MLP, 3, 2, 3, 2)
    model, params = models.from_equinox(mlp)
    assert model.unit_axis == 0
    x = float_batch((3,), n=4)
    np.testing.assert_allclose(model.apply(params, x), jax.vmap(mlp)(x), rtol=1e-6)

    class Batched(eqx.Module):
        linear: eqx.nn.Linear

        def __call__(self, x):
            return jax.vmap(self.linear)(x)

    batched_module = Batched(equinox_module(eqx.nn.Linear, 3, 2))
    batched, batched_params = models.from_equinox(batched_module, batched=True)
    assert leaf_slices(batched_params)[0].shape == (2, 3)  # Linear weight (out, in)
    np.testing.assert_allclose(batched.apply(batched_params, x), jax.vmap(batched_module.linear)(x), rtol=1e-6)
