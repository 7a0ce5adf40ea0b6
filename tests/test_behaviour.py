"""Behavioural landscapes: the mean KL divergence from θ*'s predictive distribution is 0 with zero
gradient at θ*, equals a hand-written NumPy KL at other points (cached or recomputed targets,
any chunking), and carries exit radii with a KL cutoff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.behaviour import behavioural_landscape
from landform.errors import ConfigError, UnknownNameError
from landform.landscape import Chunking
from landform.models import mlp, transformer
from landform.volume import exit_radii, random_directions


def numpy_log_softmax(z):
    z = np.asarray(z, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def numpy_kl(reference_logits, logits):
    """Per example: the mean over positions of Σ_c p*_c (log p*_c − log p_c)."""
    log_p, log_q = numpy_log_softmax(reference_logits), numpy_log_softmax(logits)
    per_position = np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)
    return per_position.reshape(per_position.shape[0], -1).mean(axis=1)


@pytest.fixture(scope="module")
def tiny_lm():
    model = transformer(vocab_size=11, context=8, layers=1, heads=2, width=16)
    params = model.init(jax.random.key(0))
    tokens = np.asarray(jax.random.randint(jax.random.key(1), (6, 8), 0, 11), np.int32)
    return model, params, tokens


def _moved(landscape, scale, seed=2):
    noise = jax.random.normal(jax.random.key(seed), landscape.theta.shape)
    return landscape.theta + scale * noise * (jnp.abs(landscape.theta) + 0.01)


def test_kl_is_zero_with_zero_gradient_at_the_centre(tiny_lm):
    model, params, tokens = tiny_lm
    landscape = behavioural_landscape(model.apply, params, tokens)
    assert landscape.loss_name == "kl_categorical"
    np.testing.assert_allclose(np.asarray(landscape.per_example(landscape.theta)), 0.0, atol=1e-6)
    value, gradient = landscape.value_and_grad(landscape.theta)
    assert abs(float(value)) < 1e-6
    assert float(jnp.max(jnp.abs(gradient))) < 1e-5
    assert float(landscape.accuracy(landscape.theta)) == 1.0  # agreement with θ*'s top token


@pytest.mark.parametrize("cache", [True, False])
def test_kl_matches_numpy_at_random_points(tiny_lm, cache):
    model, params, tokens = tiny_lm
    landscape = behavioural_landscape(model.apply, params, tokens, cache=cache)
    thetas = jnp.stack([_moved(landscape, 0.3, seed) for seed in (2, 3, 4)])
    reference = np.asarray(model.apply(params, tokens))
    expected = np.stack([numpy_kl(reference, model.apply(landscape.unravel(t), tokens)) for t in thetas])
    assert expected.min() > 1e-4  # the points really moved the predictions
    got = np.asarray(landscape.per_example_batch(thetas))
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-7)
    # chunked over vectors and examples, the same values
    chunked = np.asarray(landscape.per_example_batch(thetas, chunking=Chunking(1, 4)))
    np.testing.assert_allclose(chunked, expected, rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(float(landscape.loss(thetas[0])), expected[0].mean(), rtol=2e-4)
    agreement = np.mean(
        np.argmax(reference, -1) == np.argmax(np.asarray(model.apply(landscape.unravel(thetas[0]), tokens)), -1),
        axis=1,
    )
    np.testing.assert_allclose(np.asarray(landscape.per_example_batch(thetas[:1], metric="correct"))[0], agreement)


def test_cache_follows_the_memory_budget(tiny_lm):
    model, params, tokens = tiny_lm
    reference_bytes = tokens.shape[0] * 8 * 11 * 4
    cached = behavioural_landscape(model.apply, params, tokens, memory_budget=1 << 24)
    assert cached.y.shape == (6, 8, 11)  # θ*'s log-probabilities are the targets
    assert cached.memory_budget == (1 << 24) - reference_bytes
    recomputed = behavioural_landscape(model.apply, params, tokens, memory_budget=2 * reference_bytes - 1)
    assert recomputed.y.shape == (6,)  # only a placeholder: θ*'s outputs are recomputed per chunk
    theta = _moved(cached, 0.2)
    np.testing.assert_allclose(
        np.asarray(recomputed.per_example(theta)), np.asarray(cached.per_example(theta)), rtol=1e-5, atol=1e-8
    )
    with pytest.raises(ConfigError, match="memory budget"):
        behavioural_landscape(model.apply, params, tokens, memory_budget=reference_bytes, cache=True)


def test_bernoulli_outputs_and_first_layer_reuse():
    model = mlp(hidden=[8], outputs=1, input_shape=[3])
    params = model.init(jax.random.key(0))
    x = np.asarray(jax.random.normal(jax.random.key(1), (20, 3)))
    landscape = behavioural_landscape(model.apply, params, x, distribution="bernoulli", first_layer=model.first_layer)
    assert landscape.reuses_first_layer
    theta = _moved(landscape, 0.5)
    z_star = np.asarray(model.apply(params, x), np.float64)[:, 0]
    z = np.asarray(model.apply(landscape.unravel(theta), x), np.float64)[:, 0]
    p, q = 1 / (1 + np.exp(-z_star)), 1 / (1 + np.exp(-z))
    expected = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    np.testing.assert_allclose(np.asarray(landscape.per_example(theta)), expected, rtol=1e-4, atol=1e-7)
    assert abs(float(landscape.loss(landscape.theta))) < 1e-7
    with pytest.raises(UnknownNameError):
        behavioural_landscape(model.apply, params, x, distribution="poisson")


def test_exit_radii_with_a_kl_cutoff(tiny_lm):
    model, params, tokens = tiny_lm
    landscape = behavioural_landscape(model.apply, params, tokens)
    directions = random_directions(jax.random.key(5), landscape.theta, params, normalization="filter_scale")
    tau = 0.05
    result = exit_radii(landscape, directions, 6, [tau], sizes=[3, 6], max_radius=50.0)
    assert result.center_values.tolist() == pytest.approx([0.0, 0.0], abs=1e-6)
    assert (result.status == 0).all()  # every ray resolved
    # at the exit the mean KL on the six sequences is τ (to the search's tolerance)
    dirs, _ = directions.generate(np.arange(6))
    radii = result.radii[:, 1, 0]
    values = np.asarray(landscape.loss_batch(landscape.theta[None] + radii[:, None] * dirs))
    np.testing.assert_allclose(values, tau, rtol=0.02)


def test_a_torch_module_and_its_jax_twin_have_the_same_behavioural_landscape():
    torch = pytest.importorskip("torch")
    from landform.models.torch import TorchLandscape, twin, twin_order

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).eval()
    model, params = twin(module, (5,))
    x = np.random.default_rng(0).standard_normal((12, 5)).astype(np.float32)
    ours = TorchLandscape.behavioural(module, x)
    theirs = behavioural_landscape(model.apply, params, x)
    order = twin_order(model, module)
    thetas = np.stack(
        [np.asarray(ours.theta) + 0.3 * np.random.default_rng(s).standard_normal(ours.dim) for s in (1, 2)]
    )
    thetas = thetas.astype(np.float32)
    np.testing.assert_allclose(np.asarray(ours.per_example(ours.theta)), 0.0, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(ours.per_example_batch(thetas)),
        np.asarray(theirs.per_example_batch(thetas[:, order])),
        rtol=1e-4,
        atol=1e-7,
    )
    recomputed = TorchLandscape.behavioural(module, x, cache=False)
    np.testing.assert_allclose(
        np.asarray(recomputed.per_example_batch(thetas)), np.asarray(ours.per_example_batch(thetas)), rtol=1e-6
    )


def test_token_cross_entropy_averages_positions_and_checks_shapes():
    from landform.errors import ShapeError
    from landform.losses import check_compatible, get_loss

    loss = get_loss("token_cross_entropy")
    logits = np.random.default_rng(0).standard_normal((3, 4, 5))
    labels = np.random.default_rng(1).integers(0, 5, (3, 4))
    log_q = numpy_log_softmax(logits)
    expected = -np.take_along_axis(log_q, labels[..., None], -1)[..., 0].mean(axis=1)
    np.testing.assert_allclose(
        np.asarray(loss.per_example(jnp.asarray(logits), jnp.asarray(labels))), expected, rtol=1e-5
    )
    accuracy = np.mean(np.argmax(logits, -1) == labels, axis=1)
    np.testing.assert_allclose(np.asarray(landform_correct(logits, labels, loss.accuracy_kind)), accuracy)
    check_compatible(loss, (3, 4, 5), labels)
    with pytest.raises(ShapeError, match="0..V-1"):
        check_compatible(loss, (3, 4, 3), labels + 3)
    with pytest.raises(ShapeError, match=r"\(N, T, V\)"):
        check_compatible(loss, (3, 5), labels)


def landform_correct(outputs, targets, kind):
    from landform.losses import correct

    return correct(jnp.asarray(outputs), jnp.asarray(targets), kind)


def test_curvature_at_the_centre_is_the_fisher_information():
    """For softmax regression z = x W, the Hessian of the mean KL at θ* is the Fisher information
    (1/N) Σ_i x_i x_iᵀ ⊗ (diag(p_i) − p_i p_iᵀ): the curvature tools measure it exactly."""
    from landform.curvature import top_eigenvalues

    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3))
    weights = rng.standard_normal((3, 4))
    landscape = behavioural_landscape(lambda w, xs: xs @ w, jnp.asarray(weights, jnp.float32), x.astype(np.float32))
    p = np.exp(numpy_log_softmax(x @ weights))
    fisher = sum(np.kron(np.outer(xi, xi), np.diag(pi) - np.outer(pi, pi)) for xi, pi in zip(x, p)) / len(x)
    exact = np.linalg.eigvalsh(fisher)[::-1][:2]
    result = top_eigenvalues(landscape, 2, iterations=12)
    np.testing.assert_allclose(np.asarray(result.values), exact, rtol=1e-3)
