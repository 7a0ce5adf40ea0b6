"""The `landform view` command on a tiny volume run folder and on a checkpoint: random, pca
and minima views write their figures and grids, and mistakes are one-line errors."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from typer.testing import CliRunner

from landform.cli import app
from landform.data.base import Split
from landform.landscape import Landscape
from landform.models import build
from landform.train import TrainConfig, fit, load_trained, save_trained

BASE, LEVELS = 4, (0, 6, 16)
TRAIN = {"optimizer": "adam", "learning_rate": 0.05, "epochs": 6}


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A folder laid out as the volume study writes it, with tiny trained minima (seed 3)."""
    root = tmp_path_factory.mktemp("views") / "run"
    config = {
        "study": "volume",
        "name": "tiny",
        "variant": "quick",
        "loss": "cross_entropy",
        "data": {"dataset": "tiny", "base": BASE, "levels": list(LEVELS)},
        "arms": [{"label": "default", "train": {}}],
        "train": TRAIN,
        "checkpoints": [],
        "seeds": {"model": [3], "data": [5]},
    }
    root.mkdir()
    (root / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    n = BASE + max(LEVELS)
    x, y = rng.normal(size=(n, 2)).astype(np.float32), rng.integers(0, 2, n).astype(np.int32)
    data = root / "stages" / "data-d1"
    data.mkdir(parents=True)
    np.savez(data / "data.npz", pool_x=x, pool_y=y)
    marker = {"stage": "data", "key": "d1", "inputs": {"data": config["data"], "seed": 5}, "summary": {}}
    (data / "_stage.json").write_text(json.dumps(marker))
    model = build({"name": "mlp", "input_shape": [2], "hidden": [4], "outputs": 2})
    train = TrainConfig.model_validate({**TRAIN, "seed": 3})
    for q in LEVELS:
        stage = root / "stages" / f"train-t{q}"
        stage.mkdir()
        size = BASE + q
        result = fit(model, model.init(jax.random.key(3)), Split(x[:size], y[:size]), "cross_entropy", train)
        save_trained(stage / "final", model, result.params, config=train, dataset_description={}, history={})
        inputs = {
            "data": "d1",
            "size": size,
            "model_seed": 3,
            "loss": "cross_entropy",
            "train": train.model_dump(),
            "model": model.spec,
        }
        (stage / "_stage.json").write_text(json.dumps({"stage": "train", "key": f"t{q}", "inputs": inputs}))
    return root


def invoke(*arguments):
    result = CliRunner().invoke(app, ["view", *map(str, arguments)])
    return result


def minimum_loss(run_folder, level):
    model, params, _ = load_trained(run_folder / "stages" / f"train-t{level}" / "final")
    with np.load(run_folder / "stages" / "data-d1" / "data.npz") as data:
        x, y = data["pool_x"][: BASE + level], data["pool_y"][: BASE + level]
    landscape = Landscape.from_apply(model.apply, params, x, y, "cross_entropy")
    return float(landscape.loss(landscape.theta))


def test_random_view_of_a_run_writes_figures_and_the_grid(run_folder, tmp_path):
    out = tmp_path / "random"
    result = invoke(run_folder, "--kind", "random", "--resolution", 5, "--level", 6, "--range", -0.5, 0.5, "--out", out)
    assert result.exit_code == 0, result.output
    for name in ("random_seed3_level6.png", "random_seed3_level6_surface.png", "random_seed3_level6_slices.png"):
        assert (out / name).stat().st_size > 0 and str(out / name) in result.output.replace("\n", "")
    with np.load(out / "random_seed3_level6.npz") as grid:
        assert grid["losses"].shape == (1, 5, 5) and str(grid["kind"]) == "random"
        np.testing.assert_array_equal(grid["a"], np.linspace(-0.5, 0.5, 5))
        centre = minimum_loss(run_folder, 6)  # the minimum's own 10-example landscape
        np.testing.assert_allclose(grid["losses"][0, 2, 2], centre, rtol=1e-6)
        np.testing.assert_allclose(grid["anchor_losses"][0, 0], centre, rtol=1e-6)


def test_pca_view_retrains_with_recording_and_then_reuses_the_trajectory(run_folder, tmp_path):
    out = tmp_path / "pca"
    result = invoke(run_folder, "--kind", "pca", "--resolution", 5, "--out", out)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "training the minimum again" in text and "(the same point)" in text
    assert (out / "pca_seed3_level0.png").is_file() and (out / "pca_seed3_level0_surface.png").is_file()
    with np.load(out / "pca_seed3_level0.npz") as grid:
        assert grid["path"].shape == (TRAIN["epochs"] + 1, 2)
        np.testing.assert_array_equal(grid["path_epochs"], np.arange(TRAIN["epochs"] + 1))
        np.testing.assert_allclose(grid["path"][-1], 0.0, atol=1e-6)  # the path ends at the minimum
        ratio = grid["explained_variance_ratio"]
        assert 0 < ratio[1] <= ratio[0] and ratio.sum() <= 1 + 1e-9
        np.testing.assert_allclose(grid["anchor_losses"][0, 0], minimum_loss(run_folder, 0), rtol=1e-6)
    again = invoke(run_folder, "--kind", "pca", "--resolution", 3, "--out", out)
    assert again.exit_code == 0, again.output
    assert "recorded earlier" in again.output and "training the minimum again" not in again.output


def test_minima_view_draws_each_minimums_landscape(run_folder, tmp_path):
    out = tmp_path / "minima"
    result = invoke(run_folder, "--kind", "minima", "--resolution", 4, "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "minima_seed3_levels0-6-16.png").is_file()
    with np.load(out / "minima_seed3_levels0-6-16.npz") as grid:
        np.testing.assert_array_equal(grid["sizes"], [4, 10, 20])
        assert grid["losses"].shape == (3, 4, 4)
        # each minimum in its own landscape sits on the diagonal of the anchor losses
        for k, q in enumerate(LEVELS):
            np.testing.assert_allclose(grid["anchor_losses"][k, k], minimum_loss(run_folder, q), rtol=1e-6)


def test_a_checkpoint_with_its_data_and_trajectory(run_folder, tmp_path):
    from landform.views import save_trajectory

    checkpoint = tmp_path / "alone"
    model, params, _ = load_trained(run_folder / "stages" / "train-t16" / "final")
    with np.load(run_folder / "stages" / "data-d1" / "data.npz") as data:
        x, y = data["pool_x"], data["pool_y"]
    np.savez(tmp_path / "data.npz", x=x, y=y)
    train = TrainConfig.model_validate({**TRAIN, "seed": 3})
    result = fit(model, model.init(jax.random.key(3)), Split(x, y), "cross_entropy", train, record_every=2)
    save_trained(checkpoint, model, result.params, config=train, dataset_description={}, history={})
    save_trajectory(tmp_path / "trajectory.npz", result.trajectory)

    missing = invoke(checkpoint, "--kind", "random")
    assert missing.exit_code == 2 and "pass the data" in missing.stderr
    no_path = invoke(checkpoint, "--kind", "pca", "--data", tmp_path / "data.npz")
    assert no_path.exit_code == 2
    lines = no_path.stderr.strip().splitlines()
    assert len(lines) == 1 and "--trajectory" in lines[0] and "Traceback" not in no_path.output

    out = tmp_path / "views"
    arguments = ("--data", tmp_path / "data.npz", "--trajectory", tmp_path / "trajectory.npz", "--out", out)
    result = invoke(checkpoint, "--kind", "pca", "--resolution", 4, *arguments)
    assert result.exit_code == 0, result.output
    assert "(the same point)" in " ".join(result.output.split())
    with np.load(out / "pca_alone.npz") as grid:
        np.testing.assert_array_equal(grid["path_epochs"], [0, 2, 4, 6])
        assert str(grid["kind"]) == "pca"
        landscape = Landscape.from_apply(model.apply, result_params(checkpoint), x, y, "cross_entropy")
        np.testing.assert_allclose(grid["anchor_losses"][0, 0], float(landscape.loss(landscape.theta)), rtol=1e-6)


def result_params(folder):
    return load_trained(folder)[1]


def test_unknown_kinds_and_missing_folders_are_one_line_errors(tmp_path):
    for arguments in ((tmp_path / "missing",), (tmp_path, "--kind", "sideways")):
        result = invoke(*arguments)
        assert result.exit_code == 2 and "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:")
