"""The volume study's curvature measures and rank correlations, end to end on a tiny config.

The measures themselves are checked against exact answers in ``test_curvature*.py`` and
``test_llc.py``; here: that every minimum gets them as columns of the volumes table (the right
minimum, in its own training set, with the study's key), that the rank-correlation table and
figure reach the report, that a rerun reuses the stage, and that a bad measures section fails
before any work. Kendall's τ and its bootstrap are checked against a hand count.
"""

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from landform.curvature import measure
from landform.errors import ConfigError
from landform.landscape import Landscape
from landform.studies import load_config, run_config_file
from landform.studies.analysis import per_minimum, rank_correlations
from landform.studies.common import load_data
from landform.train import load_trained

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "volume" / "swiss_roll_low_data.yaml"
MEASURES = (
    "measures={top_eigenvalue: {iterations: 8}, trace: {probes: 8}, "
    "average_sharpness: {radius: 0.05, samples: 8}, adaptive_sharpness: {radius: 0.05, steps: 4}, "
    "llc: {chains: 2, steps: 60, batch_size: 20}, correlation_resamples: 50}"
)
OVERRIDES = [
    "data.levels=[0, 30]",
    "train.epochs=60",
    "volume.directions=8",
    "volume.thresholds=[0.5]",
    "volume.bootstrap=0",
    "seeds.model=[0, 1]",
    "seeds.data=[0, 1]",
    MEASURES,
]
COLUMNS = ["top_eigenvalue", "trace", "average_sharpness", "adaptive_sharpness", "llc"]


def test_measures_are_columns_of_the_volume_table_and_their_correlations_reach_the_report(tmp_path):
    logs: list[str] = []
    report = run_config_file(
        CONFIG, variant="quick", out=tmp_path / "run", overrides=OVERRIDES, progress=False, log=logs.append
    )
    folder = report.parent
    table = pd.read_parquet(folder / "tables" / "volumes.parquet")
    for column in COLUMNS + ["top_eigenvalue_error", "trace_error", "llc_error", "llc_flagged", "measure_examples"]:
        assert column in table.columns and table[column].notna().all(), column
    minimum = ["model_seed", "model_level", "arm", "checkpoint"]
    assert (table.groupby(minimum)[COLUMNS].nunique() == 1).all().all()  # one value per minimum ("own")
    assert (table.measure_examples == table.model_examples).all()

    # the columns are the measures of that minimum in its own training set, with the study's key
    row = table[(table.model_seed == 1) & (table.model_level == 30)].iloc[0]
    stage = next(p for p in (folder / "stages").glob("train-*") if _stage_size(p) == row.model_examples)
    model, params, _ = load_trained(stage / "final")
    pool = _pool(folder, row.data_seed)
    landscape = Landscape.from_apply(model.apply, params, pool.x[:50], pool.y[:50], "binary_cross_entropy")
    again = measure(
        landscape,
        top_eigenvalue={"iterations": 8},
        trace={"probes": 8},
        average_sharpness=False,
        adaptive_sharpness=False,
        key=jax.random.fold_in(jax.random.key(1), 2),
    )
    assert again["top_eigenvalue"] == pytest.approx(row.top_eigenvalue, rel=1e-4)
    assert again["trace"] == pytest.approx(row.trace, rel=1e-4)

    correlations = pd.read_parquet(folder / "tables" / "rank_correlations.parquet")
    assert set(correlations.target) == {"test_loss", "generalisation_gap"}
    assert {"log_volume", "mean_log_radius", *COLUMNS} <= set(correlations.measure)
    curvature = correlations[correlations.measure.isin(COLUMNS)]
    assert (curvature.minima == 4).all()  # every minimum has its measures (a volume needs θ* inside τ)
    assert (correlations.minima <= 4).all()
    finite = correlations.dropna(subset=["tau", "low", "high"])
    assert len(finite) and (finite.low <= finite.tau + 1e-12).all() and (finite.tau <= finite.high + 1e-12).all()
    assert (correlations.tau.abs() <= 1).all()
    html = report.read_text()
    assert 'data-name="rank_correlations"' in html and "Kendall τ" in html
    assert (folder / "figures" / "rank_correlations.png").stat().st_size > 10_000

    # a rerun reuses the measures stages
    logs.clear()
    run_config_file(CONFIG, variant="quick", out=tmp_path / "run", overrides=OVERRIDES, progress=False, log=logs.append)
    assert not any("curvature measures" in line for line in logs)


def _stage_size(path: Path) -> int:
    import json

    return json.loads((path / "_stage.json").read_text())["inputs"]["size"]


def _pool(folder: Path, data_seed: int):
    import json

    for path in (folder / "stages").glob("data-*"):
        if json.loads((path / "_stage.json").read_text())["inputs"]["seed"] == data_seed:
            return load_data(_Stage(path))["pool"]
    raise AssertionError(f"no data stage of seed {data_seed}")


class _Stage:
    def __init__(self, folder: Path) -> None:
        self.folder = folder


def test_a_bad_measures_section_fails_before_any_work():
    with pytest.raises(ConfigError, match="stepz"):
        load_config(CONFIG, "quick", ["measures={llc: {stepz: 3}}"])
    with pytest.raises(ConfigError):
        load_config(CONFIG, "quick", ["measures={landscapes: everywhere}"])
    _, config = load_config(CONFIG, "quick", [MEASURES])
    assert config.measures.any() and config.measures.llc == {"chains": 2, "steps": 60, "batch_size": 20}


def test_kendall_tau_and_its_interval_against_a_hand_count():
    # x = 1..5, y = (1, 3, 2, 5, 4): 10 pairs, 2 discordant → τ = (8 − 2) / 10 = 0.6
    minima = pd.DataFrame(
        {
            "log_volume": [1.0, 2.0, 3.0, 4.0, 5.0],
            "trace": [5.0, 4.0, 3.0, 2.0, 1.0],
            "test_loss": [1.0, 3.0, 2.0, 5.0, 4.0],
            "generalisation_gap": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    table = rank_correlations(minima, resamples=200, seed=1).set_index(["measure", "target"])
    assert table.loc[("log_volume", "test_loss"), "tau"] == pytest.approx(0.6)
    assert table.loc[("trace", "test_loss"), "tau"] == pytest.approx(-0.6)
    assert table.loc[("log_volume", "generalisation_gap"), "tau"] == pytest.approx(1.0)
    low, high = table.loc[("log_volume", "test_loss"), ["low", "high"]]
    assert -1 <= low <= 0.6 <= high <= 1
    assert set(table.index.get_level_values("measure")) == {"log_volume", "trace"}  # absent measures skipped
    no_interval = rank_correlations(minima, resamples=0)
    assert no_interval.low.isna().all()


def test_per_minimum_keeps_each_minimum_in_its_own_landscape():
    table = pd.DataFrame(
        {
            "model_examples": [10, 10, 20, 20],
            "landscape_examples": [10, 20, 10, 20],
            "threshold": [0.1] * 4,
            "train_loss": [0.01, 0.2, 0.05, 0.02],
            "test_loss": [0.5, 0.5, 0.3, 0.3],
            "log_volume": [1.0, 0.5, 0.8, 0.4],
        }
    )
    own = per_minimum(table)
    assert list(own.model_examples) == [10, 20]
    np.testing.assert_allclose(own.generalisation_gap, [0.49, 0.28])
