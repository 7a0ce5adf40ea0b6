"""The core's shared pieces: moved names keep working from their old paths (with a warning), one
adapter for every kind of model, the landscape's explicit differentiability flag and its public
cost model."""

import importlib

import jax.numpy as jnp
import numpy as np
import pytest

import landform
from landform import directions, plugins
from landform.errors import ConfigError
from landform.landscape import Chunking, Landscape, choose_chunking
from landform.models import Model, adapt, from_apply, mlp, model_kind
from landform.run import threads


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("landform.volume.directions", "random_directions", directions.random_directions),
        ("landform.volume.directions", "Directions", directions.Directions),
        ("landform.volume.directions", "PERTURB_NAMES", directions.PERTURB_NAMES),
        ("landform.volume.directions", "_layout", directions.parameter_layout),
        ("landform.volume.directions", "_selected", directions.is_perturbed),
        ("landform.data.registry", "is_import_path", plugins.is_import_path),
        ("landform.data.registry", "resolve_function", plugins.resolve_function),
        ("landform.data.registry", "source_fingerprint", plugins.source_fingerprint),
        ("landform.run.executors", "limit_threads", threads.limit_threads),
        ("landform.models.sigma", "with_learned_sigma", landform.models.with_learned_sigma),
    ],
)
def test_moved_names_work_from_their_old_path_with_a_deprecation_warning(old, name, new):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match="moved to"):
        value = getattr(module, name)
    assert value is new


def test_old_modules_still_refuse_unknown_names():
    with pytest.raises(AttributeError):
        importlib.import_module("landform.volume.directions").nothing_here  # noqa: B018


def test_the_package_uses_no_deprecated_path(recwarn):
    for name in ("landform.volume", "landform.curvature", "landform.models", "landform.run.executors"):
        importlib.import_module(name)
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning) and "moved to" in str(w.message)]


def test_model_kind_and_adapt_cover_every_kind():
    model = mlp(input_shape=(3,), hidden=[4], outputs=2)

    def apply(params, x):
        return x @ params["w"]

    weights = {"w": jnp.ones((3, 2))}
    assert model_kind(model) == "model"
    assert model_kind((model, {})) == "pair"
    assert model_kind(apply) == "function"
    assert model_kind(42) == "other"
    assert adapt(model, weights) == (model, weights)
    wrapped, theta = adapt(apply, weights)
    assert isinstance(wrapped, Model) and wrapped.apply is apply and theta is weights
    assert adapt(from_apply(apply, weights))[1] is weights
    with pytest.raises(ConfigError, match="cannot adapt a builtins.int"):
        adapt(42)
    with pytest.raises(TypeError, match="cannot build a landscape from int"):
        landform.landscape_from(42, None, np.zeros((2, 3)), np.zeros(2, np.int32))


def test_a_landscape_that_is_not_differentiable_says_why():
    assert Landscape.differentiable

    class ValuesOnly(Landscape):
        differentiable = False
        not_differentiable = "values only: this landscape is evaluated elsewhere"

    plain = Landscape.from_function(lambda t: jnp.sum(t**2), 2)
    values_only = ValuesOnly.from_function(lambda t: jnp.sum(t**2), 2)
    assert float(plain.value_and_grad(jnp.ones(2))[0]) == 2.0
    with pytest.raises(ConfigError, match="values only: this landscape is evaluated elsewhere"):
        values_only.value_and_grad(jnp.ones(2))


def test_the_chunking_rule_is_the_public_cost_model():
    landscape = Landscape.from_function(lambda t: jnp.sum(t**2) * jnp.ones(50), 8, per_example=True)
    for vectors in (1, 7, 100):
        assert landscape.choose_chunking(vectors) == choose_chunking(
            landscape.cost, landscape.memory_budget, 50, vectors, chunkable=False
        )
    assert isinstance(landscape.choose_chunking(3), Chunking)
