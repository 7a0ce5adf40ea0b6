"""The command line: help, datasets, the demo, and one-line errors with exit status 2."""

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from landform.cli import app
from landform.studies import load_config
from landform.studies.demo import demo_configs

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("version", "datasets", "demo", "run"):
        assert command in result.output


def test_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert "landform 0.1.0" in result.output and "jax" in result.output


def test_datasets_reports_local_availability(monkeypatch, tmp_path):
    result = runner.invoke(app, ["datasets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("mnist", "swiss_roll", "cifar10", "shakespeare", "uci"):
        assert name in result.output
    # an empty data folder: file-backed datasets are not available locally
    monkeypatch.setenv("LANDFORM_DATA", str(tmp_path))
    from landform.data import catalog

    entries = {e["name"]: e for e in catalog()}
    assert not entries["mnist"]["available"] and entries["swiss_roll"]["available"]


def test_errors_are_one_line_with_exit_status_2(tmp_path):
    missing = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2
    assert "does not exist" in missing.output and "Traceback" not in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: nonsense\nname: x\n")
    unknown = runner.invoke(app, ["run", str(bad)])
    assert unknown.exit_code == 2 and "unknown study 'nonsense'" in unknown.output and "volume" in unknown.output
    invalid = runner.invoke(
        app,
        [
            "run",
            str(CONFIGS / "volume" / "swiss_roll_low_data.yaml"),
            "--variant",
            "quick",
            "--set",
            "volume.thresholds=[-1]",
        ],
    )
    assert invalid.exit_code == 2 and "thresholds" in invalid.output


def test_offline_dataset_error_is_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("LANDFORM_DATA", str(tmp_path))
    monkeypatch.setenv("LANDFORM_OFFLINE", "1")
    result = runner.invoke(
        app,
        ["run", str(CONFIGS / "volume" / "mnist_low_data.yaml"), "--variant", "quick", "--out", str(tmp_path / "run")],
    )
    assert result.exit_code == 2
    assert "mnist" in result.output and str(tmp_path) in result.output.replace("\n", "")


def test_demo_settings_are_the_quick_configs():
    volume, tunnels = demo_configs()
    _, config = load_config(CONFIGS / "volume" / "swiss_roll_low_data.yaml", "quick")
    assert volume.model_dump() == config.model_dump()
    _, config = load_config(CONFIGS / "tunnels" / "showcase.yaml", "quick", ["posterior.spaces=[tunnel, volume]"])
    assert tunnels.model_dump() == config.model_dump()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_demo_writes_a_report_with_figures(tmp_path):
    result = runner.invoke(app, ["demo", "--quick", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    report = tmp_path / "demo" / "report.html"
    html = report.read_text()
    for name in ("A_fixed_landscape", "B_across_landscapes", "decision_regions", "predictive_with_draws", "coverage"):
        assert f'data-name="{name}"' in html
    assert html.count("data:image/png;base64,") >= 6
    assert "tunnel against volume coordinates" in html
    import pandas as pd

    posteriors = pd.read_parquet(tmp_path / "demo" / "tunnels" / "tables" / "posteriors.parquet")
    assert sorted(posteriors.space) == ["tunnel", "volume"]
    assert np.isfinite(posteriors.test_lppd).all() and (posteriors.chains_failed == 0).all()
