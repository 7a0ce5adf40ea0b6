"""Tracking sinks: send a run's parameters, metrics, figures and files to W&B or MLflow.

Tracking is off by default; ``--track wandb`` / ``--track mlflow`` (repeatable) switches it on
for ``landform run`` and ``landform sweep run``. Every sink implements :class:`Tracker`:

- ``log_params(dict)``: the flattened configuration (``train.epochs``, ``volume.thresholds``, ...);
- ``log_metrics(dict, step)``: metrics per step, for studies that have steps. Studies whose
  ``run`` accepts ``tracker=`` call it themselves; for the others the progress reporter they
  are given forwards the numeric fields of every ``advance`` (training losses per evaluated
  epoch) as metrics named ``<phase>/<field>`` on one increasing step axis;
- ``log_summary(dict)``: final metrics (from the run's tables, see :func:`final_metrics`);
- ``log_artifacts(folder, files)``, ``log_figure(path)``: the run folder's key files and figures;
- ``finish(status)``.

A sink that cannot start or send (no server, a library missing, a wrong key) reports it once
through ``log`` and is switched off; the run goes on.

W&B (``wandb``): offline unless an API key is configured (``WANDB_API_KEY`` or a ``~/.netrc``
entry for api.wandb.ai) or ``WANDB_MODE`` says otherwise; offline runs are written under
``<folder>/wandb/`` and can be uploaded later with ``wandb sync``. Project and entity come from
the settings, else ``WANDB_PROJECT`` / ``WANDB_ENTITY``, else project "landform".

MLflow (``mlflow``): a local SQLite store, ``sqlite:///<folder>/mlflow.db`` with artifacts in
``<folder>/mlartifacts``, unless a tracking URI is given (settings or ``MLFLOW_TRACKING_URI``).
The experiment is the sweep's name (or the config's name for a single run).
"""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from landform.errors import ConfigError

SINKS = ("wandb", "mlflow")

#: Problems already reported in this process (kind, message): each is said once.
_REPORTED: set[tuple[str, str]] = set()


class TrackSettings(BaseModel):
    """Which sinks to send to and where (all optional; environment variables fill the gaps)."""

    model_config = ConfigDict(extra="forbid")

    sinks: list[str] = Field(default_factory=list, description="'wandb' and/or 'mlflow'")
    project: str | None = Field(None, description="W&B project (else WANDB_PROJECT, else 'landform')")
    entity: str | None = Field(None, description="W&B entity (else WANDB_ENTITY)")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI (else MLFLOW_TRACKING_URI, else a SQLite file in the folder)"
    )
    experiment: str | None = Field(None, description="MLflow experiment / W&B group (default: sweep or config name)")

    @field_validator("sinks")
    @classmethod
    def _sinks(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SINKS]
        if unknown:
            raise ValueError(f"unknown tracking sink(s) {', '.join(map(repr, unknown))}; known: {', '.join(SINKS)}")
        return list(dict.fromkeys(value))


def track_settings(sinks: Iterable[str] | None, base: TrackSettings | None = None) -> TrackSettings | None:
    """Settings for the sinks named on the command line (merged into ``base``); None: off."""
    chosen = [s.strip().lower() for s in (sinks or []) if s.strip()]
    if not chosen and (base is None or not base.sinks):
        return None
    settings = base.model_dump() if base is not None else {}
    if chosen:
        settings["sinks"] = chosen
    try:
        return TrackSettings.model_validate(settings)
    except Exception as e:  # noqa: BLE001 - pydantic's message, as a config error
        raise ConfigError(f"--track: {e}") from None


# ============================================================================ the interface


class Tracker(Protocol):
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def log_summary(self, metrics: Mapping[str, float]) -> None: ...
    def log_figure(self, path: Path, name: str | None = None) -> None: ...
    def log_artifacts(self, folder: Path, files: Iterable[Path]) -> None: ...
    def finish(self, status: str = "finished") -> None: ...


class NullTracker:
    """Tracking switched off: every call does nothing."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        pass

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        pass

    def log_figure(self, path: Path, name: str | None = None) -> None:
        pass

    def log_artifacts(self, folder: Path, files: Iterable[Path]) -> None:
        pass

    def finish(self, status: str = "finished") -> None:
        pass


def report_once(kind: str, message: str, log: Callable[[str], None]) -> None:
    if (kind, message) in _REPORTED:
        return
    _REPORTED.add((kind, message))
    log(f"tracking with {kind} is off for this run: {message}")


class Guarded:
    """A sink whose failures are reported once and then switch it off."""

    def __init__(self, kind: str, sink: Any, log: Callable[[str], None]):
        self.kind, self._sink, self._log = kind, sink, log

    @property
    def active(self) -> bool:
        return self._sink is not None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._sink is None:
            return
        try:
            getattr(self._sink, method)(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any sink failure must not stop the run
            report_once(self.kind, f"{type(e).__name__}: {e}", self._log)
            sink, self._sink = self._sink, None
            if method != "finish":
                try:
                    sink.finish("failed")
                except Exception:  # noqa: BLE001
                    pass

    def log_params(self, params):
        self._call("log_params", params)

    def log_metrics(self, metrics, step=None):
        self._call("log_metrics", metrics, step)

    def log_summary(self, metrics):
        self._call("log_summary", metrics)

    def log_figure(self, path, name=None):
        self._call("log_figure", path, name)

    def log_artifacts(self, folder, files):
        self._call("log_artifacts", folder, files)

    def finish(self, status="finished"):
        self._call("finish", status)
        self._sink = None


class MultiTracker:
    """Several sinks behind one :class:`Tracker`."""

    def __init__(self, sinks: list[Guarded]):
        self.sinks = sinks

    @property
    def kinds(self) -> list[str]:
        return [s.kind for s in self.sinks if s.active]

    def log_params(self, params):
        for sink in self.sinks:
            sink.log_params(params)

    def log_metrics(self, metrics, step=None):
        clean = numeric(metrics)
        if clean:
            for sink in self.sinks:
                sink.log_metrics(clean, step)

    def log_summary(self, metrics):
        clean = numeric(metrics)
        if clean:
            for sink in self.sinks:
                sink.log_summary(clean)

    def log_figure(self, path, name=None):
        for sink in self.sinks:
            sink.log_figure(Path(path), name)

    def log_artifacts(self, folder, files):
        files = [Path(f) for f in files]
        for sink in self.sinks:
            sink.log_artifacts(Path(folder), files)

    def finish(self, status="finished"):
        for sink in self.sinks:
            sink.finish(status)


# ============================================================================ helpers


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to one level with dotted keys: {"train": {"epochs": 5}} → {"train.epochs": 5}."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        if not value and prefix:
            out[prefix[:-1]] = {}
        return out
    return {prefix[:-1]: value} if prefix else {"value": value}


def numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``metrics`` as floats (booleans and text are dropped)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


def final_metrics(folder: str | Path, *, limit: int = 200) -> dict[str, float]:
    """Final metrics of a run from its tables (``tables/*.parquet``).

    Measurements are the floating-point columns (integer columns hold seeds, sizes, levels and
    counts). A table with one row gives each as ``<table>/<column>``; a longer table gives the
    mean of each column that varies as ``<table>/<column>_mean`` (a constant column is a setting,
    not a result), and ``<table>/rows``. A table named ``summary`` comes first. At most ``limit``
    metrics.
    """
    import pandas as pd

    tables = sorted(Path(folder, "tables").glob("*.parquet"), key=lambda p: (p.stem != "summary", p.stem))
    out: dict[str, float] = {}
    for path in tables:
        try:
            table = pd.read_parquet(path)
        except Exception:  # noqa: BLE001 - an unreadable table gives no metrics
            continue
        columns = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
        if len(table) == 1:
            values = {f"{path.stem}/{c}": table[c].iloc[0] for c in columns}
        else:
            values = {f"{path.stem}/{c}_mean": table[c].mean() for c in columns if table[c].nunique(dropna=True) > 1}
            values[f"{path.stem}/rows"] = len(table)
        out.update(numeric(values))
        if len(out) >= limit:
            break
    return dict(list(out.items())[:limit])


def key_files(folder: str | Path) -> list[Path]:
    """The files worth keeping with a run: its config, status, report, tables and figures."""
    folder = Path(folder)
    files = [folder / name for name in ("config.json", "status.json", "report.html") if (folder / name).is_file()]
    files += sorted(folder.glob("tables/*.csv")) + sorted(folder.glob("tables/*.parquet"))
    files += sorted(folder.glob("figures/*.png")) + sorted(folder.glob("figures/*.svg"))
    return files


def _safe_name(text: str, allowed: str = r"[^A-Za-z0-9_.\-]") -> str:
    return re.sub(allowed, "-", text)[:120] or "run"


# ============================================================================ W&B


def wandb_mode() -> str:
    """'online' with a configured API key, else 'offline' (``WANDB_MODE`` wins if set)."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        if netrc.netrc().authenticators("api.wandb.ai"):
            return "online"
    except (OSError, netrc.NetrcParseError):
        pass
    return "offline"


class WandbSink:
    def __init__(
        self,
        *,
        folder: Path,
        name: str,
        group: str | None,
        job_type: str | None,
        settings: TrackSettings,
        tags: list[str],
    ):
        import wandb

        self._wandb = wandb
        folder.mkdir(parents=True, exist_ok=True)
        self.mode = wandb_mode()
        arguments = dict(
            project=settings.project or os.environ.get("WANDB_PROJECT") or "landform",
            entity=settings.entity or os.environ.get("WANDB_ENTITY") or None,
            name=name,
            group=group,
            job_type=job_type,
            tags=tags[:20],
            dir=str(folder),
            mode=self.mode,
        )
        try:  # wandb >= 0.19: several runs per process, no system-metrics thread
            self.run = wandb.init(
                **arguments,
                reinit="create_new",
                settings=wandb.Settings(silent=True, console="off", init_timeout=90, x_disable_stats=True),
            )
        except (TypeError, ValueError):  # older wandb: fewer settings, boolean reinit
            self.run = wandb.init(**arguments, reinit=True, settings=wandb.Settings(silent=True))

    def log_params(self, params):
        self.run.config.update(dict(params), allow_val_change=True)

    def log_metrics(self, metrics, step=None):
        self.run.log(dict(metrics), step=step)

    def log_summary(self, metrics):
        for key, value in metrics.items():
            self.run.summary[key] = value

    def log_figure(self, path, name=None):
        self.run.log({f"figures/{name or path.stem}": self._wandb.Image(str(path))})

    def log_artifacts(self, folder, files):
        artifact = self._wandb.Artifact(_safe_name(f"run-{self.run.name or self.run.id}"), type="run-folder")
        for path in files:
            artifact.add_file(
                str(path), name=str(path.relative_to(folder)) if path.is_relative_to(folder) else path.name
            )
        self.run.log_artifact(artifact)

    def finish(self, status="finished"):
        self.run.finish(exit_code=0 if status == "finished" else 1)


# ============================================================================ MLflow


def mlflow_uri(settings: TrackSettings, folder: Path) -> str:
    return (
        settings.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{(folder / 'mlflow.db').resolve()}"
    )


def _quiet_mlflow() -> None:
    """MLflow announces every database migration at INFO level; keep a sweep's output readable."""
    for name in ("mlflow.store.db.utils", "mlflow.store.tracking.sqlalchemy_store", "alembic.runtime.migration"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def mlflow_experiment(settings: TrackSettings, folder: Path, name: str) -> str:
    """Create (or find) the experiment ``name``; returns its id. Safe to race with other processes."""
    from mlflow.tracking import MlflowClient

    _quiet_mlflow()
    uri = mlflow_uri(settings, folder)
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:") and not (settings.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")):
        location = (folder / "mlartifacts").resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # noqa: BLE001 - created meanwhile by another process
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class MlflowSink:
    def __init__(self, *, folder: Path, name: str, experiment: str, settings: TrackSettings, tags: dict[str, str]):
        from mlflow.tracking import MlflowClient

        _quiet_mlflow()
        folder.mkdir(parents=True, exist_ok=True)
        self.uri = mlflow_uri(settings, folder)
        self.client = MlflowClient(tracking_uri=self.uri)
        experiment_id = mlflow_experiment(settings, folder, experiment)
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags=tags).info.run_id

    def log_params(self, params):
        from mlflow.entities import Param

        items = [
            Param(
                _safe_name(k, r"[^A-Za-z0-9_.\-/ ]")[:250],
                (v if isinstance(v, str) else json.dumps(v, default=str))[:6000],
            )
            for k, v in params.items()
        ]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics, step=None):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(_safe_name(k, r"[^A-Za-z0-9_.\-/ ]"), v, now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def log_summary(self, metrics):
        self.log_metrics(metrics, None)

    def log_figure(self, path, name=None):
        self.client.log_artifact(self.run_id, str(path), "figures")

    def log_artifacts(self, folder, files):
        for path in files:
            parent = path.parent.relative_to(folder) if path.is_relative_to(folder) else Path()
            self.client.log_artifact(self.run_id, str(path), str(parent) if str(parent) != "." else None)

    def finish(self, status="finished"):
        self.client.set_terminated(self.run_id, "FINISHED" if status == "finished" else "FAILED")


# ============================================================================ construction


def prepare(
    settings: TrackSettings | None, folder: Path, experiment: str, log: Callable[[str], None] = print
) -> TrackSettings | None:
    """Check the sinks once before a sweep starts (create the MLflow store and experiment).

    Returns the settings without the sinks that failed (each failure reported once), or None
    when none is left. Workers then only add runs to a store that exists.
    """
    if settings is None or not settings.sinks:
        return None
    kept = []
    for kind in settings.sinks:
        try:
            if kind == "wandb":
                import wandb  # noqa: F401
            else:
                mlflow_experiment(settings, folder, settings.experiment or experiment)
            kept.append(kind)
        except Exception as e:  # noqa: BLE001 - reported once, the sweep goes on
            report_once(
                kind,
                f"{type(e).__name__}: {e}"
                if not isinstance(e, ImportError)
                else f"{kind} is not installed (pip install 'landform[{kind}]')",
                log,
            )
    return settings.model_copy(update={"sinks": kept}) if kept else None


def make_tracker(
    settings: TrackSettings | None,
    *,
    folder: str | Path,
    name: str,
    experiment: str,
    study: str | None = None,
    tags: Mapping[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> MultiTracker | NullTracker:
    """The tracker for one run: its sinks under ``folder`` (the sweep or run folder)."""
    if settings is None or not settings.sinks:
        return NullTracker()
    folder = Path(folder)
    tags = {k: str(v) for k, v in (tags or {}).items()}
    if study:
        tags.setdefault("study", study)
    group = settings.experiment or experiment
    sinks: list[Guarded] = []
    for kind in settings.sinks:
        try:
            if kind == "wandb":
                sink = WandbSink(
                    folder=folder,
                    name=name,
                    group=group,
                    job_type=study,
                    settings=settings,
                    tags=[f"{k}:{v}" for k, v in tags.items()],
                )
            else:
                sink = MlflowSink(folder=folder, name=name, experiment=group, settings=settings, tags=tags)
        except ImportError:
            report_once(kind, f"{kind} is not installed (pip install 'landform[{kind}]')", log)
            continue
        except Exception as e:  # noqa: BLE001 - cannot connect: said once, the run goes on
            report_once(kind, f"{type(e).__name__}: {e}", log)
            continue
        sinks.append(Guarded(kind, sink, log))
    return MultiTracker(sinks) if sinks else NullTracker()


def send_run(tracker: Tracker, folder: str | Path) -> None:
    """Send a finished run's final metrics (:func:`final_metrics`), figures and key files."""
    folder = Path(folder)
    tracker.log_summary(final_metrics(folder))
    for figure in sorted(folder.glob("figures/*.png")):
        tracker.log_figure(figure, figure.stem)
    tracker.log_artifacts(folder, key_files(folder))


class MetricsProgress:
    """A progress reporter that forwards the numeric fields of ``advance`` to a tracker.

    Wraps another reporter (the progress bar, or nothing). Each ``start`` begins a phase
    (``<description>_<k>``); steps increase across phases so that every metric shares one step
    axis (W&B needs increasing steps).
    """

    def __init__(self, tracker: Tracker, inner: Any = None):
        from landform.progress import reporter

        self.tracker = tracker
        self.inner = reporter(inner)
        self.phase = ""
        self.phases = 0
        self.base = 0
        self.position = 0

    def start(self, description: str, total: int | None) -> None:
        self.phases += 1
        self.phase = f"{_safe_name(description.lower().replace(' ', '_'), r'[^a-z0-9_]')}_{self.phases}"
        self.base += self.position
        self.position = 0
        self.inner.start(description, total)

    def advance(self, n: int = 1, **fields: Any) -> None:
        self.position += n
        metrics = {f"{self.phase}/{k}": v for k, v in numeric(fields).items() if k not in ("epoch", "step")}
        if metrics:
            self.tracker.log_metrics(metrics, self.base + self.position)
        self.inner.advance(n, **fields)

    def stop(self) -> None:
        self.inner.stop()
