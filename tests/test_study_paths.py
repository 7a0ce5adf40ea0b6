"""The loss-tunnel study end to end on its quick configs, and its bad-input behaviour."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from landform.errors import ConfigError
from landform.studies import load_config, run_config_file

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "paths"


def run_quick(name, tmp_path, overrides=()):
    path = CONFIGS / f"{name}.yaml"
    _, config = load_config(path, "quick", list(overrides))
    report = run_config_file(
        path, variant="quick", out=tmp_path / name, overrides=list(overrides), progress=False, log=lambda s: None
    )
    folder = report.parent
    curves = pd.read_parquet(folder / "tables" / "curves.parquet")
    along = pd.read_parquet(folder / "tables" / "along_curve.parquet")
    html = report.read_text()
    assert len(curves) == len(config.settings()) * len(config.seeds)
    assert (curves.status == "completed").all()
    # geometry bounds hold for every trained Bézier curve: chord <= length <= control polygon
    assert (curves.chord <= curves.length * (1 + 1e-5)).all() and (
        curves.length <= curves.polygon_length * (1 + 1e-5)
    ).all()
    assert (curves.length_error < 1e-3 * curves.length).all()
    assert set(along.split) >= {"train", "test"}
    for figure in ("loss_along_curve", "geometry_during_training"):
        assert f'data-name="{figure}"' in html
    return config, curves, along, html


def test_toy_tunnels_quick(tmp_path):
    config, curves, along, html = run_quick("toy_tunnels", tmp_path)
    assert 'data-name="curve_predictive"' in html and 'data-name="length_against_degree"' in html
    history = pd.read_parquet(tmp_path / "toy_tunnels" / "tables" / "history.parquet")
    # training lowered the validation loss of every curve
    for _, group in history.groupby(["setting", "seed"]):
        assert group.validation_loss.iloc[-1] < group.validation_loss.iloc[0]
    # every network along every trained tunnel fits the training data (Gaussian NLL well below
    # that of predicting the mean with unit variance, ~1.42)
    assert (curves.train_loss_max < 0.0).all()


def test_uci_and_length_study_quick(tmp_path):
    _, curves, _, _ = run_quick("uci_tunnels", tmp_path)
    assert "test_rmse_mean" in curves and np.isfinite(curves.test_rmse_mean).all()
    config, curves, _, html = run_quick("length_study", tmp_path)
    fits = pd.read_parquet(tmp_path / "length_study" / "tables" / "length_fits.parquet")
    assert len(fits) == 1 and np.isfinite(fits.exponent).all()
    assert 'data-name="length_against_degree"' in html


def test_bad_paths_configs(tmp_path):
    path = CONFIGS / "toy_tunnels.yaml"
    with pytest.raises(ConfigError, match="degree"):
        load_config(path, "quick", ["grid={curve.degree: [0]}"])
    with pytest.raises(ConfigError, match="grid field"):
        load_config(path, "quick", ["grid={train.degree: [2]}"])
    with pytest.raises(ConfigError, match="fixed ends needs degree"):
        load_config(CONFIGS / "mode_connectivity.yaml", "quick", ["curve.degree=1"])


@pytest.mark.slow
def test_mode_connectivity_and_lenet_quick(tmp_path):
    _, curves, along, _ = run_quick("mode_connectivity", tmp_path)
    assert {"trained", "straight line"} == set(along.curve)
    # the trained curve keeps its ends: at t = 0 and 1 both curves give the same loss
    for t in (0.0, 1.0):
        at = along[(along.t == t) & (along.split == "test")]
        assert np.ptp(at.loss) < 1e-5
    run_quick("mnist_lenet_tunnels", tmp_path)
