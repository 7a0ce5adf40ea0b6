"""Posterior spaces as units (landform.bayes.spaces): one record per space looked up by name, the
arc-length prior on t shared by the tunnel and line spaces, and the old import paths."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from landform.bayes import CurvePosteriorSettings, prior_coordinates
from landform.bayes.spaces import SPACES, ArcLengthPrior, PosteriorSpace, arc_length_prior, make_posterior, space
from landform.errors import UnknownNameError
from landform.paths import bezier, evaluate
from landform.subspace import tunnel_from_curve

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "landform"


def _curve_and_tunnel():
    rng = np.random.default_rng(0)
    points = np.array([0.7, 0.0, 0.0, -0.2]) + 0.3 * rng.normal(size=(4, 4))
    subspace, tunnel = tunnel_from_curve(bezier(jnp.asarray(points, jnp.float32)))
    return subspace, tunnel


def _predict(theta, x):
    features = jnp.concatenate([x, x**2, x**3], axis=-1)
    return features @ theta[:-1, None] + theta[-1]


def test_every_space_is_one_record_found_by_its_name():
    assert SPACES == ("volume", "tunnel", "line", "full")
    for name in SPACES:
        record = space(name)
        assert isinstance(record, PosteriorSpace) and record.name == name
        assert record.coordinate in ("phi", "theta")
    assert [n for n in SPACES if space(n).needs_ensemble] == ["full"]
    assert [n for n in SPACES if space(n).needs_tunnel] == ["tunnel"]
    with pytest.raises(UnknownNameError, match="sphere"):
        space("sphere")


def test_coordinate_names_are_the_posteriors_names():
    subspace, tunnel = _curve_and_tunnel()
    x = np.linspace(-1, 1, 8, dtype=np.float32)[:, None]
    y = 0.5 * x
    pieces = {"subspace": subspace, "tunnel": tunnel, "likelihood": None}
    for name in SPACES:
        posterior = make_posterior(name, _predict, x, y, **pieces)
        size = subspace.ambient_dimension if space(name).coordinate == "theta" else subspace.dimension
        assert posterior.space == name
        assert posterior.names == space(name).coordinate_names(size) + ("log_sigma",)


def test_arc_length_prior_is_a_normalised_density_and_its_sampler_follows_it():
    _, tunnel = _curve_and_tunnel()
    curve, lower, upper = tunnel.curve, tunnel.lower, tunnel.upper
    prior = arc_length_prior("arc_length", curve, lower, upper)
    assert isinstance(prior, ArcLengthPrior)
    np.testing.assert_allclose(float(prior.length), float(tunnel.length), rtol=1e-6)  # one normaliser
    grid = np.linspace(lower, upper, 2001)
    density = np.exp(np.asarray(prior.log_density(jnp.asarray(grid, jnp.float32)), np.float64))
    assert integrate.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)
    draws = prior.sample(np.random.default_rng(1), 20000)
    assert draws.dtype == np.float32 and lower <= draws.min() and draws.max() <= upper
    mean = integrate.trapezoid(grid * density, grid)
    assert float(np.mean(draws)) == pytest.approx(mean, abs=0.01)
    uniform = arc_length_prior("none", curve, lower, upper)
    np.testing.assert_allclose(uniform.log_density(jnp.zeros(3)), -np.log(upper - lower), rtol=1e-6)
    with pytest.raises(UnknownNameError):
        arc_length_prior("jacobian", curve, lower, upper)


def test_prior_draws_of_each_space_come_from_its_record():
    subspace, tunnel = _curve_and_tunnel()
    settings = CurvePosteriorSettings()
    for name in SPACES:
        draws = prior_coordinates(name, settings, tunnel.curve, tunnel, 50, seed=3)
        again = space(name).prior_draws(settings, tunnel.curve, tunnel, 50, np.random.default_rng(3))
        if space(name).coordinate == "theta":
            assert draws is None and again is None
        else:
            assert draws.shape == (50, subspace.dimension)
            np.testing.assert_array_equal(draws, again)
    # the line's draws are c(t) at the arc-length prior's draws, from the same generator
    t = arc_length_prior("arc_length", tunnel.curve, settings.t_lower, settings.t_upper).sample(
        np.random.default_rng(3), 50
    )
    line = prior_coordinates("line", settings, tunnel.curve, tunnel, 50, seed=3)
    np.testing.assert_array_equal(line, np.asarray(evaluate(tunnel.curve, jnp.asarray(t))))


def test_no_branch_on_a_space_name_outside_the_lookup():
    """``space ==`` appears nowhere in the package: what differs between spaces is in their records."""
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bspace\s*[!=]=", line)
    ]
    assert found == [], found


@pytest.mark.parametrize(
    ("module", "name", "new_module"),
    [
        ("landform.bayes.posterior", "make_posterior", "landform.bayes.spaces"),
        ("landform.bayes.posterior", "SPACES", "landform.bayes.spaces"),
        ("landform.bayes.posterior", "volume_posterior", "landform.bayes.spaces.volume"),
        ("landform.bayes.posterior", "tunnel_posterior", "landform.bayes.spaces.tunnel"),
        ("landform.bayes.posterior", "line_posterior", "landform.bayes.spaces.line"),
        ("landform.bayes.posterior", "full_posterior", "landform.bayes.spaces.full"),
        ("landform.studies.tunnels", "Setting", "landform.studies.tunnels.config"),
        ("landform.studies.tunnels_figures", "FigureRun", "landform.studies.tunnels.figures"),
        ("landform.studies.tunnels_figures", "metrics_figure", "landform.studies.tunnels.figures"),
        ("landform.studies.analysis", "fixed_landscape_figure", "landform.studies.analysis.volume_sweeps"),
        ("landform.studies.analysis", "across_landscapes_figure", "landform.studies.analysis.volume_sweeps"),
    ],
)
def test_moved_names_still_import_from_their_old_path_with_a_warning(module, name, new_module):
    with pytest.warns(DeprecationWarning, match=name):
        value = getattr(importlib.import_module(module), name)
    new = importlib.import_module(new_module)
    assert any(value is getattr(new, candidate, None) for candidate in dir(new))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError):
            _ = importlib.import_module(module).no_such_name
