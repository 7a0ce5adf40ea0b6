"""Reusing the first layer along lines and planes gives the values of plain evaluation.

For every zoo model whose first operation is linear in its parameters (MLP, polynomial MLP,
CNN, LeNet-5), points θ* + Σ c_j d_j evaluated through a span (first layer computed once per
direction) equal plain evaluation of the same vectors to float rounding, on nested prefixes and
for both metrics; exit radii and grid radii equal those of the same landscape without reuse for
every normalisation. A split that does not reproduce the model, or is not linear, is refused.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.errors import ConfigError
from landform.flat import leaf_slices
from landform.landscape import FirstLayer, Landscape
from landform.models import cnn, lenet5, mlp, tabular_mlp
from landform.volume import exit_radii, grid_radii, random_directions

N = 120
SIZES = (7, 40, N)

MODELS = {
    "mlp": (lambda: mlp((12,), [16, 8], 3), (12,)),
    "mlp_polynomial": (lambda: mlp((2,), [8], 3, polynomial_features=3), (2,)),
    "mlp_linear": (lambda: mlp((5,), [], 3), (5,)),
    "tabular_mlp": (lambda: tabular_mlp((4,), 2, 6, 3, activation="tanh"), (4,)),
    "cnn": (lambda: cnn((8, 8, 1), [4, 6], [10], 3), (8, 8, 1)),
    "lenet5": (lambda: lenet5((12, 12, 1), 3), (12, 12, 1)),
}


def _landscape(name, memory_budget=1 << 30):
    build, shape = MODELS[name]
    model = build()
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (N, *shape))
    y = jax.random.randint(jax.random.key(2), (N,), 0, 3)
    land = Landscape.from_apply(
        model.apply, params, x, y, "cross_entropy", first_layer=model.first_layer, memory_budget=memory_budget
    )
    return model, params, land


@pytest.mark.parametrize("name", sorted(MODELS))
def test_span_points_equal_plain_evaluation(name):
    model, params, land = _landscape(name)
    assert land.reuses_first_layer
    basis = 0.3 * jax.random.normal(jax.random.key(3), (3, land.dim)) * (jnp.std(land.theta) + 0.1)
    span = land.span(land.theta, basis)
    rows = np.array([[0, 1], [2, 0], [1, 2], [0, 0], [2, 2]])
    coefficients = np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 3.0], [-1.0, 0.25], [4.0, 1.0]])
    thetas = land.theta[None] + jnp.einsum("pm,pmn->pn", coefficients, basis[rows])
    plain = land.without_first_layer()
    assert not plain.reuses_first_layer
    for size in SIZES:
        for metric in ("loss", "correct"):
            got = np.asarray(span.per_example(rows, coefficients, metric=metric, size=size))
            want = np.asarray(plain.subset(size).per_example_batch(thetas, metric=metric))
            assert got.shape == (rows.shape[0], size)
            scale = np.max(np.abs(want)) + 1.0
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * scale)


def test_span_with_example_chunks_and_one_term_points():
    """A small memory budget forces several example chunks (the last one padded)."""
    _, _, land = _landscape("mlp", memory_budget=40_000)
    assert land.choose_chunking(1).examples < N
    basis = 0.05 * jax.random.normal(jax.random.key(4), (4, land.dim))
    span = land.span(land.theta, basis)
    rows, radii = np.array([0, 3, 1, 2, 3]), np.array([0.0, 1.0, 2.5, 7.0, 0.1])
    thetas = land.theta[None] + radii[:, None] * basis[rows]
    for size in SIZES:
        got = np.asarray(span.per_example(rows, radii, size=size))
        want = np.asarray(land.without_first_layer().subset(size).per_example_batch(thetas))
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * (np.max(np.abs(want)) + 1.0))


@pytest.mark.parametrize(
    "name, normalization",
    [
        ("mlp", "filter_scale"),
        ("mlp", "filter"),
        ("mlp", "layer"),
        ("mlp", "none"),
        ("cnn", "filter"),
        ("lenet5", "filter_scale"),
    ],
)
def test_exit_radii_with_reuse_equal_radii_without(name, normalization):
    model, params, land = _landscape(name)
    directions = random_directions(
        jax.random.key(5), land.theta, leaf_slices(params), normalization=normalization, unit_axis=model.unit_axis
    )
    centre = float(land.loss(land.theta))
    thresholds = [centre + 0.05, centre + 0.3]
    common = dict(thresholds=thresholds, sizes=SIZES, tolerance=1e-4, chunk_size=4)
    reused = exit_radii(land, directions, 6, **common)
    plain = exit_radii(land.without_first_layer(), directions, 6, **common)
    np.testing.assert_array_equal(reused.status, plain.status)
    np.testing.assert_allclose(reused.radii, plain.radii, rtol=2e-4)
    grid = dict(
        thresholds=thresholds, sizes=SIZES, max_radius=2.1 * float(np.max(plain.radii[np.isfinite(plain.radii)]))
    )
    g_reused = grid_radii(land, directions, 4, num_points=41, **grid)
    g_plain = grid_radii(land.without_first_layer(), directions, 4, num_points=41, **grid)
    np.testing.assert_array_equal(g_reused.radii, g_plain.radii)


def test_accuracy_radii_with_reuse_equal_radii_without():
    model, params, land = _landscape("mlp")
    directions = random_directions(jax.random.key(6), land.theta, leaf_slices(params))
    accuracy = float(land.accuracy(land.theta))
    common = dict(thresholds=[accuracy - 0.1], sizes=(40, N), metric="correct", chunk_size=3)
    reused = exit_radii(land, directions, 5, **common)
    plain = exit_radii(land.without_first_layer(), directions, 5, **common)
    np.testing.assert_array_equal(reused.status, plain.status)
    np.testing.assert_allclose(reused.radii, plain.radii, rtol=1e-6)


def test_a_split_that_does_not_reproduce_the_model_is_refused():
    model, params, land = _landscape("mlp")
    wrong_rest = FirstLayer(first=model.first_layer.first, rest=lambda p, z: model.first_layer.rest(p, 2 * z))
    with pytest.raises(ConfigError, match="does not reproduce"):
        Landscape.from_apply(model.apply, params, land.x, land.y, first_layer=wrong_rest)
    # an activation inside `first` makes it non-linear in the parameters
    tanh_first = FirstLayer(
        first=lambda p, x: jnp.tanh(model.first_layer.first(p, x)),
        rest=lambda p, z: model.first_layer.rest(p, jnp.arctanh(z)),
    )
    with pytest.raises(ConfigError, match="not linear"):
        Landscape.from_apply(model.apply, params, land.x, land.y, first_layer=tanh_first)


def test_landscapes_without_a_split_evaluate_spans_plainly():
    land = Landscape.from_function(lambda t: jnp.sum(t**2), 3)
    assert not land.reuses_first_layer and land.span_bytes(5) == 0
    span = land.span(jnp.zeros(3), jnp.eye(3))
    values = np.asarray(span.per_example(np.array([[0, 1], [2, 2]]), np.array([[1.0, 2.0], [1.0, 1.0]])))
    np.testing.assert_allclose(values[:, 0], [5.0, 4.0])
