"""The tunnel-posterior study: the showcase end to end in its quick form, stage reuse, a failed
posterior kept in the table, config validation, every shipped config, and the prior draws."""

import copy
import glob
import math
import shutil
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from landform.bayes import load_posterior, prior_coordinates
from landform.errors import ConfigError, NumericalError
from landform.paths import bezier, evaluate
from landform.store.folder import load_splits
from landform.studies import load_config, run_config_file, tunnels
from landform.studies.analysis import select_best
from landform.studies.config import resolve_variant, validate
from landform.subspace import tunnel_map

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "tunnels"
SHOWCASE = CONFIGS / "showcase.yaml"
FIGURES = ("predictive_with_draws", "coverage", "trace_rank", "log_posterior_slices", "frames", "ess_rhat")


def _stage_folders(folder: Path, name: str) -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(folder / "stages" / f"{name}-*")))


@pytest.fixture(scope="module")
def showcase(tmp_path_factory):
    """The showcase's quick variant, run once into a temporary folder (cache: <out>/stages)."""
    out = tmp_path_factory.mktemp("tunnels") / "showcase"
    _, config = load_config(SHOWCASE, "quick")
    report = run_config_file(SHOWCASE, variant="quick", out=out, progress=False, log=lambda s: None)
    return config, out, report


def test_showcase_quick_end_to_end(showcase):
    config, out, report = showcase
    assert report == out / "report.html" and report.is_file()
    sampler = config.settings()[0].sampler
    assert (sampler.sampler, sampler.integrator) == ("mclmc", "isokinetic_mclachlan")

    table = pd.read_parquet(out / "tables" / "posteriors.parquet")
    assert len(table) == 1
    row = table.iloc[0]
    assert row.space == "tunnel" and row.temperature == 10.0 and row.K == 10
    assert row.status == "completed" and row.chains == sampler.num_chains and row.chains_failed == 0
    for column in ("validation_lppd", "test_lppd", "test_rmse", "ess_bulk_min", "rhat_max", "train_elpd_loo"):
        assert math.isfinite(row[column]), column
    assert row.ess_bulk_min > 0 and row.rhat_max > 0.9

    # the posterior fits: test RMSE well below predicting the mean of the test targets
    data = _stage_folders(out, "data")
    assert len(data) == 1
    splits = load_splits(data[0] / "data.npz")
    test_std = float(np.std(np.asarray(splits["test"].y)))
    assert row.test_rmse < 0.5 * test_std

    # McLachlan integrator: 2 gradients per step, `thinning` steps per kept draw
    assert row.gradient_evaluations_per_draw == 2 * sampler.thinning

    samples = _stage_folders(out, "sample")
    assert len(samples) == 1
    idata = load_posterior(samples[0] / "posterior.nc")
    posterior = idata.posterior
    assert {"z", "t", "xi", "phi", "sigma"} <= set(posterior.data_vars)
    assert posterior.sizes["chain"] == sampler.num_chains and posterior.sizes["draw"] == sampler.num_draws
    assert posterior.phi.shape == (sampler.num_chains, sampler.num_draws, 10)
    assert posterior.xi.shape == (sampler.num_chains, sampler.num_draws, 9)
    assert "log_likelihood" in idata.children
    assert idata.log_likelihood.y.shape == (sampler.num_chains, sampler.num_draws, len(splits["train"]))
    t = np.asarray(posterior.t)
    spec = config.posterior
    assert np.isfinite(t).all() and (t > spec.t_lower).all() and (t < spec.t_upper).all()
    assert (np.asarray(posterior.sigma) > 0).all()

    html = report.read_text()
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").is_file(), name
        assert f'data-name="{name}"' in html, name
    selection = out / "tables" / "temperature_selection.parquet"
    assert selection.is_file()
    chosen = pd.read_parquet(selection)
    assert len(chosen) == 1 and chosen.temperature.iloc[0] == 10.0


def test_showcase_rerun_reuses_every_stage(showcase):
    _, out, _ = showcase
    lines: list[str] = []
    report = run_config_file(SHOWCASE, variant="quick", out=out, progress=False, log=lines.append)
    assert report.is_file()
    stage_lines = [line for line in lines if line.startswith("stage ")]
    assert {line.split()[1] for line in stage_lines} == {"data", "curve", "sample"}
    assert all(line.endswith(": cached") for line in stage_lines), stage_lines
    assert len(pd.read_parquet(out / "tables" / "posteriors.parquet")) == 1


def test_failed_posterior_is_recorded(showcase, tmp_path, monkeypatch):
    """A space whose posterior cannot be built (here: the volume space, by a patched builder)
    gives a 'failed' row and a note in the report; the other space goes on."""
    config, out, _ = showcase
    num_chains = config.settings()[0].sampler.num_chains
    cache = tmp_path / "stages"  # a copy: the failure must not enter the showcase's cache
    shutil.copytree(out / "stages", cache)
    original = tunnels.stages.curve_posterior

    def build_posterior(space, *args, **kwargs):
        if space == "volume":
            raise NumericalError("zero speed ‖c'(t)‖ = 0 at t = 0.5 (patched by the test)")
        return original(space, *args, **kwargs)

    monkeypatch.setattr(tunnels.stages, "curve_posterior", build_posterior)
    lines: list[str] = []
    report = run_config_file(
        SHOWCASE,
        variant="quick",
        out=tmp_path / "run",
        overrides=["posterior.spaces=[tunnel,volume]"],
        cache=cache,
        progress=False,
        log=lines.append,
    )
    # the data, curve and tunnel-space sample stages came from the showcase's cache
    assert sum(line.startswith("stage sample") and line.endswith(": running") for line in lines) == 1
    assert not any(line.startswith(("stage data", "stage curve")) and line.endswith(": running") for line in lines)

    table = pd.read_parquet(tmp_path / "run" / "tables" / "posteriors.parquet").set_index("space")
    assert sorted(table.index) == ["tunnel", "volume"]
    assert table.loc["tunnel", "status"] == "completed" and table.loc["tunnel", "chains_failed"] == 0
    volume = table.loc["volume"]
    assert volume.status == "failed"
    assert volume.chains == num_chains and volume.chains_failed == num_chains
    assert "zero speed" in volume.reason
    assert pd.isna(volume.test_lppd) and pd.isna(volume.validation_lppd)
    html = report.read_text()
    assert "1 posterior run(s) produced no usable chain" in html
    assert f"{num_chains} of {2 * num_chains} chains failed" in html


# ---------------------------------------------------------------------------------- configs


def _showcase_settings() -> dict:
    return resolve_variant(yaml.safe_load(SHOWCASE.read_text()), "quick")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["posterior.temperatures=[0]"], "temperature must be a finite number > 0"),
        (["posterior.temperatures=[-1]"], "temperature must be a finite number > 0"),
        (["posterior.temperatures=[10, 10]"], "temperatures repeat a value"),
        (["curve.degree=1"], "tunnel coordinates need K >= 2"),
        (["sampler.sampler=hmc"], "unknown sampler 'hmc'"),
        (["grid={sampler.sampler: [mclmc, hmc]}"], "unknown sampler 'hmc'"),
        (["sampler.num_chains=0"], "num_chains must be a positive integer"),
        (["posterior.spaces=[tunnel,full]"], "starts its chains from a deep ensemble"),
        (["grid={posterior.temperatures: [[1], [10]]}"], "posterior.temperatures is a list of its own"),
        (["grid={posterior.spaces: [[tunnel], [volume]]}"], "posterior.spaces is a list of its own"),
        (["grid={train.degree: [2]}"], "grid field 'train.degree' must start with one of"),
        (
            ["posterior.sigma=trained", "learned_sigma=null"],
            "sigma: trained reads σ from the network; it needs learned_sigma",
        ),
        (["posterior.t_lower=1.2"], "the t range needs t_lower < t_upper"),
        (["posterior.t_lower=0.5", "posterior.t_upper=0.5"], "the t range needs t_lower < t_upper"),
        (
            ["posterior.likelihood=categorical", "posterior.sigma=trained"],
            "sigma applies to the Gaussian likelihood only",
        ),
    ],
)
def test_bad_tunnel_configs(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(SHOWCASE, "quick", overrides)
    assert message in str(error.value)


def _validate(settings: dict):
    """Validate a settings dict as load_config does (pydantic errors become ConfigError)."""
    return validate(tunnels.Config, settings, source="test settings")


def test_config_model_checks_on_a_settings_dict():
    settings = _showcase_settings()
    assert _validate(settings).sampler["num_chains"] == 4  # the base validates
    for change, message in (
        (lambda s: s["posterior"].update(temperatures=[0.0]), "temperature must be a finite number > 0"),
        (lambda s: s["curve"].update(degree=1), "tunnel coordinates need K >= 2"),
        (lambda s: s["sampler"].update(sampler="hmc"), "unknown sampler 'hmc'"),
        (lambda s: s["posterior"].update(spaces=["full"]), "add ensemble"),
    ):
        bad = copy.deepcopy(settings)
        change(bad)
        with pytest.raises(ConfigError) as error:
            _validate(bad)
        assert message in str(error.value)


def test_line_and_volume_allow_a_straight_line_curve():
    settings = _showcase_settings()
    settings["curve"]["degree"] = 1
    settings["posterior"]["spaces"] = ["line", "volume"]
    config = _validate(settings)
    assert config.posterior.spaces == ["line", "volume"]


@pytest.mark.parametrize("variant", ["paper", "quick"])
@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_tunnels_config_validates(path, variant):
    study, config = load_config(path, variant)
    raw = yaml.safe_load(path.read_text())
    assert study is tunnels.STUDY and config.study == "tunnels"
    assert config.variant == variant and config.name == raw["name"]
    settings = config.settings()
    assert settings and all(isinstance(s.posterior, tunnels.PosteriorSpec) for s in settings)
    expected = math.prod(len(v) for v in config.grid.values())
    assert len(settings) == expected
    if variant == "quick":
        paper = load_config(path, "paper")[1]
        # the quick variant is smaller: fewer (or as many) runs and draws
        assert len(settings) * len(config.seeds) <= len(paper.settings()) * len(paper.seeds)
        assert settings[0].sampler.num_draws <= paper.settings()[0].sampler.num_draws


# ---------------------------------------------------------------------------------- prior draws


def test_volume_prior_draws_have_the_prior_moments():
    spec = tunnels.PosteriorSpec(volume_prior_scale=0.5)
    curve = bezier(jnp.asarray([[0.0, 0.0, 0.0], [0.3, 0.1, 0.0], [1.0, 0.0, 0.2]]))
    count = 20000
    draws = prior_coordinates("volume", spec.curve_settings(), curve, None, count, seed=3)
    assert draws.shape == (count, 3) and np.isfinite(draws).all()
    scale = spec.volume_prior_scale
    mean_tolerance = 5 * scale / math.sqrt(count)
    std_tolerance = 5 * scale / math.sqrt(2 * (count - 1))
    np.testing.assert_array_less(np.abs(draws.mean(axis=0)), mean_tolerance)
    np.testing.assert_array_less(np.abs(draws.std(axis=0, ddof=1) - scale), std_tolerance)
    # the coordinates are uncorrelated
    correlation = np.corrcoef(draws.T)[np.triu_indices(3, 1)]
    np.testing.assert_array_less(np.abs(correlation), 5 / math.sqrt(count))
    assert prior_coordinates("full", spec.curve_settings(), curve, None, 10) is None


def _straight_uneven_curve():
    """A straight Bézier curve along x whose speed varies: x(t) = 0.2 t + 0.8 t², increasing on
    [-0.1, 1.1] (x'(t) = 0.2 + 1.6 t > 0 there), so arc length is x itself."""
    return bezier(jnp.asarray([[0.0, 0.0], [0.1, 0.0], [1.0, 0.0]], jnp.float32))


@pytest.mark.parametrize("space", ["line", "tunnel"])
@pytest.mark.parametrize("t_prior", ["arc_length", "jacobian", "none"])
def test_t_prior_is_uniform_in_arc_length(space, t_prior):
    spec = tunnels.PosteriorSpec(t_prior=t_prior)
    curve = _straight_uneven_curve()
    tunnel = tunnel_map(curve, spec.frame, tube_scale=spec.tube_scale, lower=spec.t_lower, upper=spec.t_upper)
    count = 4000
    draws = prior_coordinates(space, spec.curve_settings(), curve, tunnel, count, seed=1)
    assert draws.shape == (count, 2) and np.isfinite(draws).all()
    x = draws[:, 0]
    # the normal of a straight curve along x is ±y: offsets across the tunnel leave x alone
    if space == "line":
        np.testing.assert_allclose(draws[:, 1], 0.0, atol=1e-6)
    else:
        assert np.std(draws[:, 1]) > 0.5 * spec.tube_scale * spec.xi_scale
    ends = np.asarray(evaluate(curve, jnp.asarray([spec.t_lower, spec.t_upper], jnp.float32)))[:, 0]
    lower, upper = float(ends[0]), float(ends[1])
    assert lower < upper
    assert (x >= lower - 1e-4).all() and (x <= upper + 1e-4).all()
    p_value = stats.kstest(x, stats.uniform(loc=lower, scale=upper - lower).cdf).pvalue
    if t_prior == "none":
        # uniform in t, not along the curve: KS rejects
        assert p_value < 1e-6
        t = np.sqrt(0.2**2 / (4 * 0.8**2) + x / 0.8) - 0.2 / (2 * 0.8)  # x(t) inverted on the increasing branch
        assert stats.kstest(t, stats.uniform(loc=spec.t_lower, scale=spec.t_upper - spec.t_lower).cdf).pvalue > 1e-3
    else:
        assert p_value > 1e-3


@pytest.mark.slow
def test_a_sweep_over_temperatures_trains_each_curve_once(tmp_path):
    """Two sampling runs that differ only in T share the tunnel through the sweep's cache."""
    from landform.run.plan import load_sweep
    from landform.run.sweep import collect, run_sweep

    path = tmp_path / "temperatures.yaml"
    path.write_text(
        f"name: temperatures\nconfig: {SHOWCASE}\nvariant: quick\nfolder: {tmp_path / 'out'}\n"
        "set:\n  curve.steps: 300\n  sampler.num_warmup: 100\n  sampler.num_draws: 50\n  evaluation.loo: false\n"
        "grid:\n  posterior.temperatures: [3, 30]\n"
    )
    sweep = load_sweep(path)
    summary = run_sweep(sweep, progress=False, log=lambda s: None)
    assert summary.ids("failed") == [] and len(summary.ids("done")) == 2
    cache = sweep.folder / "cache"
    assert len(list(cache.glob("curve-*"))) == 1
    assert len(list(cache.glob("sample-*"))) == 2
    table = collect(sweep, write=False)["posteriors"]
    assert sorted(table.temperature) == [3.0, 30.0]
    assert table.status.eq("completed").all()


def test_temperature_choice_on_unconverged_chains_is_flagged():
    """The selection table says whether the runs at each chosen temperature converged (every
    seed), and the report warns when a chosen test metric rests on unmixed chains."""
    table = pd.DataFrame(
        {
            "space": ["tunnel"] * 4 + ["volume"] * 4,
            "K": 7,
            "seed": [0, 1, 0, 1] * 2,
            "temperature": [1.0, 1.0, 10.0, 10.0] * 2,
            "status": "completed",
            "validation_lppd": [0.1, 0.2, 0.9, 0.8, 0.1, 0.1, 0.7, 0.9],
            "test_lppd": [0.0, 0.1, 0.8, 0.7, 0.0, 0.0, 0.6, 0.8],
            "converged": [False, False, True, True, True, True, True, False],
        }
    )
    selection = select_best(table, group=["space", "K"], metrics=["test_lppd"])
    flagged = tunnels.tables.selection_converged(selection, table, ["space", "K"]).set_index("space")
    assert (flagged.temperature == 10.0).all()
    assert flagged.converged.to_dict() == {"tunnel": True, "volume": False}  # volume's seed 1 did not mix
    notes = tunnels.notes.selection_notes(flagged.reset_index(), ["space", "K"])
    assert len(notes) == 1 and "1 of 2" in notes[0] and "space=volume, K=7 (T = 10)" in notes[0]
    assert tunnels.notes.selection_notes(flagged[flagged.converged].reset_index(), ["space", "K"]) == []
    # a group with no usable run has no chosen temperature: not reported as unconverged
    failed = flagged.reset_index().assign(temperature=[10.0, float("nan")])
    assert "1 of 2" in tunnels.notes.selection_notes(failed.assign(converged=False), ["space", "K"])[0]


def test_metrics_figure_rings_unconverged_temperatures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from landform.store import RunFolder
    from landform.studies.tunnels import figures as tunnels_figures

    table = pd.DataFrame(
        {
            "space": ["tunnel"] * 3,
            "K": 7,
            "seed": 0,
            "temperature": [1.0, 10.0, 100.0],
            "validation_lppd": [0.5, 0.9, 0.1],
            "test_lppd": [0.4, 0.8, 0.0],
            "test_rmse": [0.3, 0.2, 0.5],
            "converged": [False, True, True],
        }
    )
    figure = tunnels_figures.metrics_figure(plt, RunFolder(tmp_path), [], table, "test_rmse")
    assert figure.path.is_file() and "red ring" in figure.caption
    fig, ax = plt.subplots()
    assert tunnels_figures._mean_and_spread(ax, table, "test_lppd", "-", "C0", "tunnel")
    rings = [line for line in ax.lines if line.get_markeredgecolor() == "crimson"]
    assert len(rings) == 1 and list(rings[0].get_xdata()) == [1.0] and list(rings[0].get_ydata()) == [0.4]
    assert not tunnels_figures._mean_and_spread(ax, table.assign(converged=True), "test_lppd", "-", "C0", "tunnel")
    plt.close("all")
