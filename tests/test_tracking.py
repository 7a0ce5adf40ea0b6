"""Tracking sinks against the real libraries: W&B (offline) and MLflow (SQLite store).

- a real study run (`landform run --track wandb --track mlflow`) sends its parameters, the
  training losses per step, final metrics from its tables, figures and key files;
- W&B's offline run directory holds the logged metrics (read back from its `.wandb` file);
- the MLflow store holds params, metrics and artifacts (read back with ``MlflowClient``);
- a sink that cannot connect reports it once and the run goes on.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from pathlib import Path

import pytest

from landform.run import tracking
from landform.run.tracking import Guarded, MultiTracker, TrackSettings, final_metrics, flatten, make_tracker, prepare

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "volume" / "swiss_roll_low_data.yaml"
QUICK = [
    "--variant",
    "quick",
    "--set",
    "volume.directions=8",
    "--set",
    "data.levels=[0, 30]",
    "--set",
    "train.epochs=50",
    "--set",
    "train.learning_rate=0.01",
    "--set",
    "train.eval_every=25",
    "--set",
    "seeds.model=[0]",
    "--set",
    "seeds.data=[0]",
    "--set",
    "volume.thresholds=[0.6]",
    "--set",
    "volume.bootstrap=5",
    "--set",
    "data.options.n_train=200",
    "--set",
    "data.options.n_test=200",
]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No W&B key anywhere (HOME without .netrc), no configured MLflow server; fresh report-once memory."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_PROJECT", "WANDB_ENTITY", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(home / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(home / ".local" / "wandb"))
    tracking._REPORTED.clear()


def wandb_records(run_directory: Path) -> list:
    """The records of an offline W&B run (`run-<id>.wandb`: a W&B header, then LevelDB log blocks)."""
    from wandb.proto import wandb_internal_pb2

    (path,) = run_directory.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    position, block, records, pending = 7, 32768, [], b""
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if length == 0 and kind == 0:
            position += left
            continue
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 1:
            records.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            records.append(pending + chunk)
    parsed = []
    for blob in records:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(blob)
        parsed.append(record)
    return parsed


def finished_wandb_records(folder: Path, timeout: float = 60.0) -> list:
    """The records of the one offline run under ``folder/wandb``, once W&B has written them all.

    ``run.finish()`` can return a moment before W&B's service has written the run's file, so
    wait for the run's final (exit) record.
    """
    deadline = time.monotonic() + timeout
    while True:
        runs = list((folder / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, runs
        records = wandb_records(runs[0])
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.1)


def wandb_history(records) -> list[dict]:
    rows = []
    for record in records:
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
    return rows


def wandb_summary(records) -> dict:
    summary = {}
    for record in records:
        if record.WhichOneof("record_type") == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return summary


def test_flatten_and_final_metrics(tmp_path):
    import pandas as pd

    assert flatten({"train": {"epochs": 5, "sam": {"rho": 0.1}}, "loss": "mse"}) == {
        "train.epochs": 5,
        "train.sam.rho": 0.1,
        "loss": "mse",
    }
    folder = tmp_path / "run"
    (folder / "tables").mkdir(parents=True)
    pd.DataFrame({"seed": [0, 1], "threshold": [0.1, 0.1], "log_volume": [1.0, 3.0]}).to_parquet(
        folder / "tables" / "volumes.parquet"
    )
    pd.DataFrame({"accuracy": [0.9]}).to_parquet(folder / "tables" / "summary.parquet")
    metrics = final_metrics(folder)
    # integer columns (seeds, sizes) and constant columns (settings) are not results
    assert metrics == {"summary/accuracy": 0.9, "volumes/log_volume_mean": 2.0, "volumes/rows": 2.0}
    assert list(metrics)[0] == "summary/accuracy"


def test_a_study_run_sends_params_step_metrics_final_metrics_and_files_to_both_sinks(tmp_path):
    pytest.importorskip("wandb")
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from landform.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["run", str(CONFIG), *QUICK, "--out", str(out), "--track", "wandb", "--track", "mlflow"]
    )
    assert result.exit_code == 0, result.output
    assert "tracking" not in result.output  # no sink reported a problem

    # MLflow: a SQLite store in the run folder
    client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("swiss_roll_low_data")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "swiss_roll_low_data-quick"
    assert run.data.params["train.epochs"] == "50" and run.data.params["volume.thresholds"] == "[0.6]"
    assert run.data.tags["study"] == "volume"
    history = client.get_metric_history(run.info.run_id, "training_mlp_1/train_loss")
    assert [m.step for m in history] == [25, 50]  # the training loss at each evaluated epoch
    second = client.get_metric_history(run.info.run_id, "training_mlp_2/train_loss")
    assert [m.step for m in second] == [75, 100]  # the second minimum's training continues the step axis
    assert "volumes/log_volume_mean" in run.data.metrics and "volumes/rows" in run.data.metrics
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.json", "report.html", "tables", "figures"} <= files
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "tables")}
    assert "tables/volumes.csv" in tables and "tables/volumes.parquet" in tables
    figures = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert "figures/A_fixed_landscape.png" in figures
    assert (out / "mlartifacts").is_dir()

    # W&B: offline (no key configured), one run directory under the run folder
    records = finished_wandb_records(out)
    kinds = [r.WhichOneof("record_type") for r in records]
    assert "run" in kinds and "artifact" in kinds
    run_record = next(r for r in records if r.WhichOneof("record_type") == "run")
    config = {item.key: json.loads(item.value_json) for item in run_record.run.config.update}
    assert run_record.run.display_name == "swiss_roll_low_data-quick"
    config.update(
        {
            item.key: json.loads(item.value_json)
            for r in records
            if r.WhichOneof("record_type") == "config"
            for item in r.config.update
        }
    )
    assert config["train.epochs"] == 50
    steps = {row["_step"]: row for row in wandb_history(records)}
    assert steps[25]["training_mlp_1/train_loss"] == pytest.approx(history[0].value)
    assert steps[50]["training_mlp_1/train_loss"] == pytest.approx(history[1].value)
    summary = wandb_summary(records)
    assert summary["volumes/log_volume_mean"] == pytest.approx(run.data.metrics["volumes/log_volume_mean"])
    artifact = next(r.artifact for r in records if r.WhichOneof("record_type") == "artifact")
    assert {"config.json", "tables/volumes.csv", "figures/A_fixed_landscape.png"} <= {
        entry.path for entry in artifact.manifest.contents
    }


def test_wandb_sink_offline_directory_holds_logged_metrics(tmp_path):
    pytest.importorskip("wandb")
    assert tracking.wandb_mode() == "offline"
    tracker = make_tracker(
        TrackSettings(sinks=["wandb"], project="landform-tests"),
        folder=tmp_path,
        name="run-a",
        experiment="sweep-a",
        study="volume",
        log=print,
    )
    tracker.log_params({"train.epochs": 3, "volume.thresholds": [0.1]})
    for step in (1, 2, 3):
        tracker.log_metrics({"loss": 1.0 / step, "ignored": "text"}, step)
    tracker.log_summary({"final/accuracy": 0.75})
    tracker.finish()
    records = finished_wandb_records(tmp_path)
    assert [(row["_step"], row["loss"]) for row in wandb_history(records)] == [
        (1, 1.0),
        (2, 0.5),
        (3, pytest.approx(1 / 3)),
    ]
    assert all("ignored" not in row for row in wandb_history(records))
    assert wandb_summary(records)["final/accuracy"] == 0.75
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.project == "landform-tests" and run.run_group == "sweep-a" and run.job_type == "volume"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_a_sink_that_cannot_connect_reports_once_and_the_run_goes_on(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    settings = TrackSettings(sinks=["mlflow"], tracking_uri=f"http://127.0.0.1:{_closed_port()}")
    messages: list[str] = []
    assert prepare(settings, tmp_path, "exp", messages.append) is None  # nothing left to send to
    for _ in range(3):  # every run of a sweep would try again: said once
        tracker = make_tracker(settings, folder=tmp_path, name="r", experiment="exp", log=messages.append)
        tracker.log_metrics({"loss": 1.0}, 1)
        tracker.finish()
    assert len(messages) == 1 and "mlflow" in messages[0]

    class Broken:
        calls = 0

        def log_metrics(self, metrics, step):
            Broken.calls += 1
            raise ConnectionError("server went away")

        def finish(self, status="finished"):
            pass

    said: list[str] = []
    tracker = MultiTracker([Guarded("wandb", Broken(), said.append)])
    for step in range(5):
        tracker.log_metrics({"loss": 0.5}, step)
    tracker.finish()
    assert Broken.calls == 1 and len(said) == 1 and "server went away" in said[0]


def test_a_run_with_an_unreachable_tracking_server_still_finishes(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from typer.testing import CliRunner

    from landform.cli import app

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_closed_port()}")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(CONFIG), *QUICK, "--out", str(out), "--track", "mlflow"])
    assert result.exit_code == 0, result.output
    assert result.output.count("tracking with mlflow is off") == 1
    assert (out / "report.html").is_file() and (out / "tables" / "volumes.parquet").is_file()
