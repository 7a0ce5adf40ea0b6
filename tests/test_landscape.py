"""The landscape core: flat parameters, per-example losses, batched and chunked evaluation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.errors import ConfigError, DataError, ShapeError, UnknownNameError
from landform.flat import leaf_slices, num_params, ravel
from landform.landscape import Chunking, Landscape, prefix_means
from landform.losses import LOSS_NAMES, get_loss


def small_mlp(key, sizes=(5, 7, 3)):
    params = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        k = jax.random.fold_in(key, i)
        params[f"layer{i}"] = {
            "kernel": jax.random.normal(k, (a, b)) / math.sqrt(a),
            "bias": 0.1 * jnp.arange(b, dtype=jnp.float32),
        }
    return params


def apply_mlp(params, x):
    n = len(params)
    for i in range(n):
        p = params[f"layer{i}"]
        x = x @ p["kernel"] + p["bias"]
        if i < n - 1:
            x = jnp.tanh(x)
    return x


@pytest.fixture(scope="module")
def classification():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(157, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=157).astype(np.int32)
    params = small_mlp(jax.random.key(0))
    return params, x, y


# ---------------------------------------------------------------- flat parameters


def test_ravel_round_trip_and_order():
    params = {"b": jnp.arange(3.0), "a": {"w": jnp.ones((2, 2)), "v": jnp.zeros(1)}}
    theta, unravel = ravel(params)
    assert theta.shape == (8,)
    # documented order: dict keys sorted, depth first, each leaf row-major
    np.testing.assert_array_equal(theta, np.array([0, 1, 1, 1, 1, 0, 1, 2], np.float32))
    back = unravel(theta)
    jax.tree_util.tree_map(np.testing.assert_array_equal, back, params)
    slices = leaf_slices(params)
    assert [s.path for s in slices] == ["a/v", "a/w", "b"]
    for s, leaf in zip(slices, [params["a"]["v"], params["a"]["w"], params["b"]]):
        np.testing.assert_array_equal(theta[s.start : s.stop].reshape(s.shape), leaf)
    assert num_params(params) == 8


def test_unravel_rejects_wrong_length():
    _, unravel = ravel({"w": jnp.ones(4)})
    with pytest.raises(ShapeError, match=r"expected shape \(4,\)"):
        unravel(jnp.ones(5))


# ---------------------------------------------------------------- losses


def test_losses_against_hand_formulas():
    logits = jnp.array([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])
    labels = jnp.array([0, 2])
    expected = [-(2.0 - math.log(math.exp(2) + math.exp(0.5) + math.exp(-1))), math.log(3)]
    np.testing.assert_allclose(get_loss("cross_entropy").per_example(logits, labels), expected, rtol=1e-6)

    z, t = jnp.array([[1.5], [-0.3]]), jnp.array([1, 0])
    sig = lambda v: 1 / (1 + math.exp(-v))
    expected = [-math.log(sig(1.5)), -math.log(1 - sig(-0.3))]
    np.testing.assert_allclose(get_loss("binary_cross_entropy").per_example(z, t), expected, rtol=1e-6)

    f, y = jnp.array([[1.0, 2.0], [0.0, -1.0]]), jnp.array([[0.0, 2.0], [1.0, 1.0]])
    np.testing.assert_allclose(get_loss("mse").per_example(f, y), [0.5, 2.5], rtol=1e-6)

    f, y, s = jnp.array([[0.3]]), jnp.array([[1.0]]), 0.5
    nll = 0.5 * math.log(2 * math.pi * s * s) + (0.7**2) / (2 * s * s)
    np.testing.assert_allclose(get_loss("gaussian_nll", sigma=s).per_example(f, y), [nll], rtol=1e-6)
    learned = jnp.array([[0.3, math.log(s)]])
    np.testing.assert_allclose(get_loss("gaussian_nll_learned").per_example(learned, y), [nll], rtol=1e-6)


def test_unknown_loss_lists_known_names():
    with pytest.raises(UnknownNameError) as info:
        get_loss("hinge")
    for name in LOSS_NAMES:
        assert name in str(info.value)


# ---------------------------------------------------------------- analytic landscapes


def test_analytic_landscape_value_and_gradient_exact():
    jax.config.update("jax_enable_x64", True)
    try:
        a = jnp.array([1.0, 2.0, 3.0, 10.0], dtype=jnp.float64)
        b = jnp.array([0.5, -1.0, 0.0, 2.0], dtype=jnp.float64)
        landscape = Landscape.from_function(lambda th: 0.5 * jnp.sum(a * th**2) + jnp.dot(b, th), 4)
        theta = jnp.array([1.0, -2.0, 0.5, 0.25], dtype=jnp.float64)
        value, grad = landscape.value_and_grad(theta)
        exact = 0.5 * (1 * 1 + 2 * 4 + 3 * 0.25 + 10 * 0.0625) + (0.5 + 2.0 + 0.0 + 0.5)
        assert float(value) == pytest.approx(exact, rel=1e-14)
        np.testing.assert_allclose(grad, a * theta + b, rtol=1e-14)
        # batches of vectors give the same values
        thetas = jnp.stack([theta, 2 * theta, -theta])
        expected = [0.5 * jnp.sum(a * t**2) + jnp.dot(b, t) for t in thetas]
        np.testing.assert_allclose(landscape.loss_batch(thetas), expected, rtol=1e-14)
    finally:
        jax.config.update("jax_enable_x64", False)


def test_per_example_function_landscape_prefixes():
    centres = jnp.arange(10.0)[:, None] * jnp.ones((10, 3))
    landscape = Landscape.from_function(lambda th: jnp.sum((th - centres) ** 2, axis=1), 3, per_example=True)
    theta = jnp.array([1.0, 0.0, -1.0])
    per = np.asarray(jnp.sum((theta - centres) ** 2, axis=1))
    np.testing.assert_allclose(landscape.per_example(theta), per, rtol=1e-6)
    np.testing.assert_allclose(
        landscape.prefix_losses(theta, [1, 4, 10]), [per[:1].mean(), per[:4].mean(), per.mean()], rtol=1e-6
    )


# ---------------------------------------------------------------- model landscapes


def test_nested_prefix_losses_equal_separate_means(classification):
    params, x, y = classification
    landscape = Landscape.from_apply(apply_mlp, params, x, y, "cross_entropy")
    sizes = [157, 1, 20, 60, 100]  # unsorted on purpose
    thetas = landscape.theta[None] + 0.3 * jax.random.normal(jax.random.key(2), (5, landscape.dim))
    nested = landscape.prefix_losses_batch(thetas, sizes)
    assert nested.shape == (5, len(sizes))
    for j, k in enumerate(sizes):
        separate = Landscape.from_apply(apply_mlp, params, x[:k], y[:k], "cross_entropy")
        np.testing.assert_allclose(nested[:, j], separate.loss_batch(thetas), rtol=2e-6)
        np.testing.assert_allclose(nested[:, j], landscape.subset(k).loss_batch(thetas), rtol=2e-6)


def test_chunked_batches_equal_one_at_a_time(classification):
    params, x, y = classification
    landscape = Landscape.from_apply(apply_mlp, params, x, y, "cross_entropy")
    thetas = landscape.theta[None] + 0.5 * jax.random.normal(jax.random.key(3), (7, landscape.dim))
    one_at_a_time = np.stack([np.asarray(landscape.per_example(t)) for t in thetas])
    direct = np.stack(
        [np.asarray(get_loss("cross_entropy").per_example(apply_mlp(landscape.unravel(t), x), y)) for t in thetas]
    )
    np.testing.assert_allclose(one_at_a_time, direct, rtol=1e-5, atol=1e-6)
    for chunking in [
        Chunking(1, 157),
        Chunking(2, 50),
        Chunking(3, 16),
        Chunking(7, 1),
        Chunking(10, 157),
        Chunking(4, 200),
    ]:
        batched = landscape.per_example_batch(thetas, chunking=chunking)
        np.testing.assert_allclose(batched, one_at_a_time, rtol=1e-5, atol=1e-6, err_msg=str(chunking))


def test_tight_memory_budget_chunks_but_agrees(classification):
    params, x, y = classification
    roomy = Landscape.from_apply(apply_mlp, params, x, y, "cross_entropy")
    tight = Landscape.from_apply(apply_mlp, params, x, y, "cross_entropy", memory_budget=20_000)
    chunking = tight.choose_chunking(32)
    assert chunking.examples < 157  # the budget forces chunks over examples
    thetas = roomy.theta[None] + 0.1 * jax.random.normal(jax.random.key(4), (32, roomy.dim))
    np.testing.assert_allclose(tight.loss_batch(thetas), roomy.loss_batch(thetas), rtol=1e-5)


def test_chunk_widths_follow_problem_size():
    # few examples: vectors are vectorised together; many: one vector at a time
    params = small_mlp(jax.random.key(0))
    small = Landscape.from_apply(apply_mlp, params, np.zeros((60, 5), np.float32), np.zeros(60, np.int32))
    large = Landscape.from_apply(apply_mlp, params, np.zeros((6000, 5), np.float32), np.zeros(6000, np.int32))
    assert small.choose_chunking(64).vectors > 1
    assert large.choose_chunking(64).vectors == 1


def test_accuracy_and_gradient(classification):
    params, x, y = classification
    landscape = Landscape.from_apply(apply_mlp, params, x, y, "cross_entropy")
    predicted = np.argmax(apply_mlp(params, x), axis=1)
    assert float(landscape.accuracy(landscape.theta)) == pytest.approx(
        float(np.mean(np.asarray(predicted) == y)), abs=1e-7
    )
    value, grad = landscape.value_and_grad(landscape.theta)

    def direct(theta):
        return jnp.mean(get_loss("cross_entropy").per_example(apply_mlp(landscape.unravel(theta), x), y))

    np.testing.assert_allclose(value, direct(landscape.theta), rtol=1e-6)
    np.testing.assert_allclose(grad, jax.grad(direct)(landscape.theta), rtol=1e-4, atol=1e-7)


def test_regression_landscape_has_no_accuracy():
    params = small_mlp(jax.random.key(0), sizes=(2, 4, 1))
    landscape = Landscape.from_apply(apply_mlp, params, np.ones((5, 2), np.float32), np.ones((5, 1), np.float32), "mse")
    with pytest.raises(ConfigError, match="accuracy"):
        landscape.accuracy(landscape.theta)


# ---------------------------------------------------------------- bad input


def test_bad_inputs_give_clear_errors(classification):
    params, x, y = classification
    with pytest.raises(ShapeError, match=r"\(157, 5\).*\(150,\)"):
        Landscape.from_apply(apply_mlp, params, x, y[:150])
    with pytest.raises(ShapeError, match=r"\(157, 4\)"):
        Landscape.from_apply(apply_mlp, params, x[:, :4], y)
    with pytest.raises(ShapeError, match=r"\(N, 6\).*\(157, 5\)"):
        Landscape.from_apply(apply_mlp, params, x, y, expected_input_shape=(6,))
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        Landscape.from_apply(apply_mlp, params, bad, y)
    landscape = Landscape.from_apply(apply_mlp, params, x, y)
    with pytest.raises(ShapeError, match=str(landscape.dim)):
        landscape.loss(jnp.ones(3))
    with pytest.raises(ShapeError, match=rf"\(m, {landscape.dim}\)"):
        landscape.loss_batch(jnp.ones((2, 3)))
    with pytest.raises(ConfigError, match="1..157"):
        landscape.prefix_losses(landscape.theta, [0, 10])
    with pytest.raises(ConfigError):
        prefix_means(jnp.ones((2, 5)), [])


def test_model_that_does_not_fit_the_labels_is_rejected():
    params = small_mlp(jax.random.key(0), sizes=(5, 4, 1))  # one logit
    x = np.zeros((10, 5), np.float32)
    with pytest.raises(ShapeError, match="one logit per class.*10 classes"):
        Landscape.from_apply(apply_mlp, params, x, np.arange(10, dtype=np.int32), "cross_entropy")
    with pytest.raises(ShapeError, match=r"needs 2 outputs"):
        Landscape.from_apply(apply_mlp, params, x, np.zeros((10, 1), np.float32), "gaussian_nll_learned")
    with pytest.raises(ShapeError, match=r"targets in \{0, 1\}"):
        Landscape.from_apply(apply_mlp, params, x, np.full(10, 2, np.int32), "binary_cross_entropy")


def test_landscape_from_any_model_family(classification):
    import equinox as eqx
    import flax.linen as linen
    from flax import nnx

    import landform
    import landform.landscape  # noqa: F401 - importing the submodule must not shadow the helper

    _, x, y = classification
    losses = []

    class Linen(linen.Module):
        @linen.compact
        def __call__(self, inputs):
            return linen.Dense(3)(inputs)

    module = Linen()
    variables = module.init(jax.random.key(0), x[:1])
    losses.append(landform.landscape_from(module, variables, x, y))

    class Nnx(nnx.Module):
        def __init__(self, rngs):
            self.dense = nnx.Linear(5, 3, rngs=rngs)

        def __call__(self, inputs):
            return self.dense(inputs)

    losses.append(landform.landscape_from(Nnx(nnx.Rngs(0)), None, x, y))
    losses.append(landform.landscape_from(eqx.nn.Linear(5, 3, key=jax.random.key(0)), None, x, y))
    losses.append(landform.landscape_from(apply_mlp, small_mlp(jax.random.key(0)), x, y))
    for landscape in losses:
        assert landscape.num_examples == 157
        value = float(landscape.loss(landscape.theta))
        assert np.isfinite(value) and value > 0
    # the plain-function landscape equals a direct evaluation
    direct = get_loss("cross_entropy").per_example(apply_mlp(small_mlp(jax.random.key(0)), x), y).mean()
    np.testing.assert_allclose(losses[-1].loss(losses[-1].theta), direct, rtol=1e-6)


def test_a_linen_landscape_perturbs_parameters_only(classification):
    """Batch statistics are fixed: θ holds the 'params' collection alone, and moving θ leaves
    the running mean and variance as they were."""
    import flax.linen as linen

    import landform

    _, x, y = classification

    class WithBatchNorm(linen.Module):
        @linen.compact
        def __call__(self, inputs):
            hidden = linen.BatchNorm(use_running_average=True)(linen.Dense(4)(inputs))
            return linen.Dense(3)(linen.relu(hidden))

    module = WithBatchNorm()
    variables = module.init(jax.random.key(0), x[:1])
    stats = jax.tree_util.tree_map(lambda v: v + 1.0, variables["batch_stats"])  # not the init values
    variables = {"params": variables["params"], "batch_stats": stats}
    landscape = landform.landscape_from(module, variables, x, y)
    parameters = sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(variables["params"]))
    assert landscape.dim == parameters == 5 * 4 + 4 + 4 + 4 + 4 * 3 + 3
    direct = get_loss("cross_entropy").per_example(module.apply(variables, x), y).mean()
    np.testing.assert_allclose(landscape.loss(landscape.theta), direct, rtol=1e-6)
    with pytest.raises(landform.LandformError, match="'params' collection"):
        landform.landscape_from(module, {"batch_stats": stats}, x, y)
