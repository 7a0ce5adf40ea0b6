"""``landform curvature``: the measures of a saved minimum, printed as a table, from the CLI."""

import json

import jax
import numpy as np
from typer.testing import CliRunner

from landform.cli import app
from landform.curvature import top_eigenvalues, trace
from landform.landscape import Landscape
from landform.models import mlp
from landform.train import save_trained

runner = CliRunner()


def saved_minimum(tmp_path):
    model = mlp(input_shape=(4,), hidden=[6], outputs=3, activation="tanh")
    params = model.init(jax.random.key(0))
    x = np.asarray(jax.random.normal(jax.random.key(1), (40, 4)), np.float32)
    y = np.asarray(jax.random.randint(jax.random.key(2), (40,), 0, 3))
    folder = save_trained(tmp_path / "minimum", model, params, config=None, dataset_description={}, history={})
    np.savez(tmp_path / "data.npz", x=x, y=y)
    return folder, model, params, x, y


def test_curvature_command_prints_and_saves_the_measures_of_a_checkpoint(tmp_path):
    folder, model, params, x, y = saved_minimum(tmp_path)
    out = tmp_path / "measures.json"
    arguments = ["curvature", str(folder), "--data", str(tmp_path / "data.npz"), "--measures", "top_eigenvalue,trace"]
    arguments += ["--top", "3", "--probes", "20", "--iterations", "20", "--save", str(out)]
    result = runner.invoke(app, arguments, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for word in ("top_eigenvalue", "trace", "eigenvalue 3", "51 parameters", "40 examples"):
        assert word in result.output
    saved = json.loads(out.read_text())
    landscape = Landscape.from_apply(model.apply, params, x, y, "cross_entropy")
    exact = top_eigenvalues(landscape, 3, iterations=landscape.dim)
    np.testing.assert_allclose(saved["top_eigenvalues"], exact.values, rtol=1e-3)
    assert abs(saved["top_eigenvalue"] - exact.values[0]) < 1e-3 * abs(exact.values[0])
    same = trace(landscape, 20, key=jax.random.fold_in(jax.random.key(0), 1))
    assert saved["trace"] == np.float64(same.value)


def test_curvature_command_errors_are_one_line(tmp_path):
    folder, *_ = saved_minimum(tmp_path)
    result = runner.invoke(
        app, ["curvature", str(folder), "--data", str(tmp_path / "data.npz"), "--measures", "volume"]
    )
    assert result.exit_code == 2 and "unknown measure" in result.output
    result = runner.invoke(app, ["curvature", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_analyse_correlations_of_a_volumes_table(tmp_path):
    import pandas as pd

    rows = []
    minima = [(0.9, 4.0, 1.0), (0.7, 3.0, 2.0), (0.8, 2.0, 3.0), (0.5, 1.0, 4.0)]  # test loss, log V, trace
    for examples, (test_loss, log_volume, hessian_trace) in zip([10, 20, 40, 80], minima):
        for landscape in sorted({10, examples}):
            rows.append(
                {
                    "model_examples": examples,
                    "landscape_examples": landscape,
                    "threshold": 0.1,
                    "train_loss": 0.01,
                    "test_loss": test_loss,
                    "log_volume": log_volume if landscape == examples else 99.0,
                    "trace": hessian_trace,
                }
            )
    pd.DataFrame(rows).to_csv(tmp_path / "volumes.csv", index=False)
    source, out = str(tmp_path / "volumes.csv"), str(tmp_path / "a")
    arguments = ["analyse", "correlations", source, "--resamples", "50", "--out", out]
    result = runner.invoke(app, arguments, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "a" / "tables" / "rank_correlations.csv").set_index(["measure", "target"])
    # test losses 0.9, 0.7, 0.8, 0.5 against log V 4, 3, 2, 1: 5 of 6 pairs concordant → τ = 4/6
    assert abs(table.loc[("log_volume", "test_loss"), "tau"] - 4 / 6) < 1e-9
    assert abs(table.loc[("trace", "test_loss"), "tau"] + 4 / 6) < 1e-9
    assert (tmp_path / "a" / "figures" / "rank_correlations.png").exists()
