"""Sweeps: a grid of study runs from one file, run anywhere, never redoing finished work.

A sweep file (YAML) names a study config, a variant, fixed overrides and a grid::

    name: thresholds                  # default: the file's name
    config: ../configs/volume/swiss_roll_low_data.yaml   # relative to this file
    variant: quick
    set:                              # fixed overrides for every run (dotted field paths)
      volume.directions: 8
    grid:                             # cartesian product over these fields
      volume.thresholds: [0.05, 0.1]  # a scalar given for a list field becomes [scalar]
      train.learning_rate: [0.001, 0.01]
    zip:                              # groups of fields that vary together
      - {train.epochs: [50, 100], train.eval_every: [25, 50]}
    seeds: [0, 1, 2]                  # shorthand: every seed field set to [s] (or s)
    retries: 1                        # extra attempts for a run that failed
    folder: ../runs/sweeps/thresholds # default: runs/sweeps/<name> under the current folder

The grid expands to runs (grid fields × zipped groups × seeds) with readable, stable IDs made
of the varied fields, e.g. ``volume.thresholds=0.05__train.learning_rate=0.001__seed=0``
(names that would need unsafe characters, or grow past 120 characters, get a short slug and
a hash). Every run's configuration is validated before any run starts: a bad value fails at
once with the run's ID and the field.

Layout of a sweep folder::

    sweep.json            the expanded sweep (runs, their fields and config hashes)
    cache/                one stage cache shared by every run (training is done once)
    runs/<id>/            each run's folder: config.json, tables/, figures/, report.html,
                          status.json (state, attempts, errors), claim.json while running,
                          log.txt
    tables/<name>.parquet|csv   collected tables: every run's table <name> with the grid
                          fields (and ``seed``) as columns

State is kept per run in files written atomically, with claims (:mod:`landform.run.locks`)
so that several sweeps may share a folder, and a run killed at any moment is picked up again
(its finished stages come from the cache). A run is *done* when its status says so for the
configuration it has now; changing the study config makes its runs *outdated*, and they are
run again.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import inspect
import itertools
import json
import math
import os
import re
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from landform.errors import ConfigError
from landform.run.locks import HEARTBEAT_SECONDS, STALE_SECONDS, ClaimHeld, claim_status, hostname, wait_for_claim
from landform.run.store import atomic_write_text, input_hash
from landform.run.tracking import TrackSettings

#: File names inside a run's folder.
STATUS = "status.json"
CLAIM = "claim.json"
LOG = "log.txt"
MANIFEST = "sweep.json"
DONE_MARKER = "_stage.json"  # the marker of a finished stage (landform.run.stages.DONE)

#: Run states reported by :func:`run_states`.
STATES = ("done", "failed", "running", "interrupted", "outdated", "missing")


# ============================================================================ the sweep file


class SeedSpec(BaseModel):
    """Seeds: each value is one run; ``fields`` are set to it (default: the study's seed fields)."""

    model_config = ConfigDict(extra="forbid")

    values: list[int] = Field(min_length=1)
    fields: list[str] | None = Field(None, description="dotted config fields set to each seed; default: every field under `seeds`, else `seed`")
    column: str = Field("seed", description="the name of the seed's column in collected tables and run IDs")


class SweepFile(BaseModel):
    """The schema of a sweep file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = None
    description: str = ""
    config: str = Field(description="the study config file, relative to the sweep file")
    variant: str | None = Field(None, description="the config's variant ('paper' when left out)")
    set: dict[str, Any] = Field(default_factory=dict, description="fixed overrides for every run")
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip_groups: list[dict[str, list[Any]]] = Field(default_factory=list, alias="zip")
    seeds: list[int] | SeedSpec | None = None
    retries: int = Field(1, ge=0, description="extra attempts for a run that failed")
    folder: str | None = Field(None, description="the sweep folder, relative to the sweep file")
    track: TrackSettings | None = None

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in value.items():
            if not values:
                raise ValueError(f"grid field {name!r} has no values")
        return value

    @field_validator("zip_groups")
    @classmethod
    def _zip(cls, value: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
        for group in value:
            lengths = {name: len(values) for name, values in group.items()}
            if not group or len(set(lengths.values())) != 1 or 0 in lengths.values():
                raise ValueError(f"the fields of a zip group vary together and need equally many values (at least one); got {lengths}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", value):
            raise ValueError("a sweep name may hold letters, digits, '_', '.' and '-'")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> "SweepFile":
        fields = list(self.grid) + [name for group in self.zip_groups for name in group]
        repeated = sorted({f for f in fields if fields.count(f) > 1})
        if repeated:
            raise ValueError(f"field(s) {', '.join(repeated)} vary in more than one place of the grid")
        fixed = sorted(set(fields) & set(self.set))
        if fixed:
            raise ValueError(f"field(s) {', '.join(fixed)} are both fixed (set) and varied (grid/zip)")
        return self

    @property
    def seed_spec(self) -> SeedSpec | None:
        if self.seeds is None or isinstance(self.seeds, SeedSpec):
            return self.seeds
        return SeedSpec(values=self.seeds)


def read_sweep_file(path: str | Path) -> SweepFile:
    from landform.studies.config import read_yaml_mapping, validate

    raw = read_yaml_mapping(path, "sweep file", None, "at least a 'config' field naming the study config file")
    return validate(SweepFile, raw, source=f"sweep file {Path(path)}")


# ============================================================================ expansion


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its ID, the values it sets, and its validated configuration."""

    id: str
    assignments: dict[str, Any]  # dotted field -> value, as set in the config
    columns: dict[str, Any]  # column name -> scalar value for collected tables
    settings: dict  # the full settings (validated)
    config_hash: str
    config: Any = field(repr=False, compare=False, default=None)


def get_path(settings: dict, path: str) -> Any:
    node: Any = settings
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        node = node[key]
    return node


def set_path(settings: dict, path: str, value: Any) -> None:
    """Set the dotted ``path`` of a nested settings dict (creating mappings on the way)."""
    keys = path.split(".")
    node = settings
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {path}: {key} is not a mapping but {child!r}")
        node = child
    node[keys[-1]] = value


def format_value(value: Any) -> str:
    """A short text for a value in a run ID (lists joined by commas)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+\-]")


def run_id(parts: list[tuple[str, Any]]) -> str:
    """A readable, stable ID: ``field=value`` parts joined by ``__``, sanitised for file names.

    If sanitising changed anything (or the ID is longer than 120 characters) a hash of the
    exact values is appended so that distinct runs keep distinct IDs.
    """
    if not parts:
        return "base"
    readable = "__".join(f"{name}={format_value(value)}" for name, value in parts)
    safe = _UNSAFE.sub("-", readable)
    if safe != readable or len(safe) > 120:
        digest = hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:8]
        safe = f"{safe[:100].rstrip('-_')}~{digest}"
    return safe


def column_value(value: Any) -> Any:
    """A scalar for a table column: numbers, text and booleans as they are, others as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _seed_fields(spec: SeedSpec, base: dict) -> list[str]:
    if spec.fields:
        return spec.fields
    seeds = base.get("seeds")
    if isinstance(seeds, dict) and seeds:
        return [f"seeds.{key}" for key, value in seeds.items() if isinstance(value, (int, list))]
    if isinstance(seeds, list):
        return ["seeds"]  # a list of seeds (paths and tunnels studies): one per run
    if "seed" in base:
        return ["seed"]
    if isinstance(base.get("train"), dict) and "seed" in base["train"]:
        return ["train.seed"]
    raise ConfigError("the sweep gives seeds but the study config has no `seeds` or `seed` field; say which fields they set: seeds: {values: [...], fields: [...]}")


def _as_config_value(path: str, value: Any, base: dict) -> Any:
    """Wrap a scalar in a list where the config's field holds a list."""
    try:
        current = get_path(base, path)
    except KeyError:
        return value
    if isinstance(current, list) and not isinstance(value, list):
        return [value]
    return value


@dataclass
class Sweep:
    """A loaded, expanded and validated sweep."""

    file: Path
    spec: SweepFile
    name: str
    study: str
    config_file: Path
    variant: str | None
    folder: Path
    runs: list[RunSpec]

    @classmethod
    def load(cls, path: str | Path, folder: str | Path | None = None) -> "Sweep":
        """Read the sweep file, expand its grid and validate every run's configuration."""
        from landform.studies import get_study
        from landform.studies.config import read_config_file, resolve_variant, validate

        path = Path(path).resolve()
        spec = read_sweep_file(path)
        name = spec.name or re.sub(r"[^A-Za-z0-9_.\-]", "-", path.stem)
        config_file = (path.parent / spec.config).resolve()
        raw = read_config_file(config_file)
        study_name = raw["study"]
        study = get_study(study_name)
        base = copy.deepcopy(resolve_variant(raw, spec.variant))
        try:  # the variant's validated settings tell which fields hold lists (defaults included)
            reference = validate(study.Config, base, source=f"config {config_file}").model_dump(mode="json")
        except ConfigError:
            reference = base  # the sweep may be what makes it valid: look values up in the raw settings
        for key, value in spec.set.items():
            set_path(base, key, _as_config_value(key, value, reference))

        axes: list[list[list[tuple[str, str, Any, Any]]]] = []  # axis -> choices -> (field, column, config value, column value)
        for key, values in spec.grid.items():
            axes.append([[(key, key, _as_config_value(key, v, reference), v)] for v in values])
        for group in spec.zip_groups:
            keys = list(group)
            axes.append([[(k, k, _as_config_value(k, group[k][i], reference), group[k][i]) for k in keys] for i in range(len(group[keys[0]]))])
        seeds = spec.seed_spec
        if seeds is not None:
            fields = _seed_fields(seeds, reference)
            varied = set(spec.grid) | {k for g in spec.zip_groups for k in g} | set(spec.set)
            clash = sorted(set(fields) & varied)
            if clash:
                raise ConfigError(f"sweep {name}: the seeds set {', '.join(clash)}, which the grid or `set` sets too")
            axes.append([[(f, seeds.column if i == 0 else None, _as_config_value(f, s, reference), s) for i, f in enumerate(fields)] for s in seeds.values])

        folder_path = Path(folder) if folder is not None else (path.parent / spec.folder if spec.folder else Path("runs") / "sweeps" / name)
        runs: list[RunSpec] = []
        seen: dict[str, int] = {}
        for choice in itertools.product(*axes) if axes else [()]:
            settings = json.loads(json.dumps(base))
            assignments: dict[str, Any] = {}
            columns: dict[str, Any] = {}
            parts: list[tuple[str, Any]] = []
            for group in choice:
                for key, column, config_value, shown in group:
                    set_path(settings, key, json.loads(json.dumps(config_value)))
                    assignments[key] = config_value
                    if column is not None:
                        columns[column] = column_value(shown)
                        parts.append((column, shown))
            identifier = run_id(parts)
            if identifier in seen:
                raise ConfigError(f"sweep {name}: two runs would have the ID {identifier!r}; are there repeated values in the grid?")
            seen[identifier] = len(runs)
            config = validate(study.Config, settings, source=f"sweep {name}, run {identifier!r}")
            dumped = config.model_dump(mode="json")
            runs.append(RunSpec(identifier, assignments, columns, settings, input_hash(dumped), config))
        return cls(path, spec, name, study_name, config_file, spec.variant, folder_path.resolve(), runs)

    # -- folders
    @property
    def runs_folder(self) -> Path:
        return self.folder / "runs"

    @property
    def cache_folder(self) -> Path:
        return self.folder / "cache"

    def run_folder(self, run: RunSpec | str) -> Path:
        return self.runs_folder / (run if isinstance(run, str) else run.id)

    @property
    def columns(self) -> list[str]:
        names: list[str] = []
        for run in self.runs:
            for column in run.columns:
                if column not in names:
                    names.append(column)
        return names

    def manifest(self) -> dict:
        return {
            "name": self.name,
            "study": self.study,
            "sweep_file": str(self.file),
            "config_file": str(self.config_file),
            "variant": self.variant,
            "description": self.spec.description,
            "sweep": self.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            "sweep_text": self.file.read_text() if self.file.is_file() else "",
            "columns": self.columns,
            "seed_column": self.spec.seed_spec.column if self.spec.seed_spec else None,
            "runs": [{"id": r.id, "columns": r.columns, "assignments": r.assignments, "config_hash": r.config_hash} for r in self.runs],
        }

    def write_manifest(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(self.folder / MANIFEST, json.dumps(self.manifest(), indent=2, sort_keys=False, default=str))


def load_sweep(path: str | Path, folder: str | Path | None = None) -> Sweep:
    return Sweep.load(path, folder)


# ============================================================================ running one study


def link_cached_stages(cache: Path, local: Path) -> int:
    """Make every finished stage of the shared ``cache`` visible in ``local`` (relative symlinks)."""
    if local.is_dir():  # links to stages that are no longer in the cache would block recomputing them
        for entry in local.iterdir():
            if entry.is_symlink() and not entry.exists():
                entry.unlink()
    if not cache.is_dir():
        return 0
    local.mkdir(parents=True, exist_ok=True)
    linked = 0
    for entry in cache.iterdir():
        if entry.name.startswith(".") or not (entry / DONE_MARKER).exists():
            continue
        target = local / entry.name
        if target.exists() or target.is_symlink():
            continue
        with contextlib.suppress(FileExistsError):
            os.symlink(os.path.relpath(entry, local), target, target_is_directory=True)
            linked += 1
    return linked


def publish_stages(local: Path, cache: Path) -> int:
    """Move the finished stages a run computed in ``local`` into the shared ``cache``.

    Each moved stage is replaced by a symlink, so the run's folder still resolves it; a stage
    another run published first is kept from the cache and the local copy dropped.
    """
    if not local.is_dir():
        return 0
    cache.mkdir(parents=True, exist_ok=True)
    published = 0
    for entry in local.iterdir():
        if entry.is_symlink() or entry.name.startswith(".") or not entry.is_dir() or not (entry / DONE_MARKER).exists():
            continue
        target = cache / entry.name
        if not (target / DONE_MARKER).exists():
            try:
                os.rename(entry, target)
                published += 1
            except OSError:
                if not (target / DONE_MARKER).exists():
                    continue  # could not move it and nothing to link to: keep the local copy
        if entry.exists() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        with contextlib.suppress(FileExistsError):
            os.symlink(os.path.relpath(target, local), entry, target_is_directory=True)
    return published


def run_config(
    config: Any,
    folder: str | Path,
    *,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
    tracker: Any = None,
) -> Path:
    """Run a validated study config into ``folder``; returns the report's path.

    ``cache``: a stage cache shared with other runs, which may run at the same time in other
    processes. How it is shared:

    - if the study's ``run`` accepts ``cache=`` and :mod:`landform.run.stages` declares
      ``SHARED_CACHE_SAFE = True`` (its ``clean_temporaries`` removes only the temporaries of
      processes that are gone), the shared folder is passed on as ``cache=``: a stage finished by
      any run is reused by every run from then on;
    - otherwise the run gets a private stage folder ``<folder>/stages`` (passed as ``cache=``,
      or the study's default place) filled with links to the shared cache's finished stages;
      the stages the run computes are moved into the shared cache when it ends (also when it
      fails). A study that cleans its cache's temporaries at start then cannot delete the
      half-written stage of a run computing next to it.

    ``tracker`` is passed on as ``tracker=`` to a study whose ``run`` accepts it.
    """
    from landform.studies import get_study

    study = get_study(config.study)
    parameters = inspect.signature(study.run).parameters
    accepts = lambda name: name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())  # noqa: E731
    kwargs: dict[str, Any] = {"progress": progress, "log": log}
    if tracker is not None and accepts("tracker"):
        kwargs["tracker"] = tracker
    if cache is None:
        return study.run(config, folder, **kwargs)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    if accepts("cache") and shared_cache_safe():
        return study.run(config, folder, cache=cache, **kwargs)
    local = Path(folder) / "stages"
    link_cached_stages(cache, local)
    if accepts("cache"):
        kwargs["cache"] = local
    try:
        return study.run(config, folder, **kwargs)
    finally:
        publish_stages(local, cache)


def shared_cache_safe() -> bool:
    """Whether :mod:`landform.run.stages` may be pointed at a cache other processes write to."""
    from landform.run import stages

    return bool(getattr(stages, "SHARED_CACHE_SAFE", False))


# ============================================================================ run state


def read_status(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STATUS).read_text())
    except (OSError, ValueError):
        return None


def write_status(folder: Path, status: dict) -> None:
    status["updated"] = _now()
    atomic_write_text(folder / STATUS, json.dumps(status, indent=2, default=str))


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunState:
    """What is known about one run now."""

    id: str
    state: str  # one of STATES
    attempts: int = 0
    detail: str = ""
    seconds: float | None = None
    error: str | None = None


def run_state(folder: Path, config_hash: str, run: str = "", *, stale_after: float = STALE_SECONDS) -> RunState:
    status = read_status(folder)
    claim, owner, why = claim_status(folder / CLAIM, stale_after=stale_after)
    attempts = int(status.get("attempts", 0)) if status else 0
    seconds = status.get("seconds") if status else None
    if claim == "live":
        return RunState(run, "running", attempts, f"by {owner.describe()}" if owner else "", seconds)
    if status is None:
        return RunState(run, "missing")
    state = status.get("state")
    if status.get("config_hash") != config_hash and state in ("done", "failed"):
        return RunState(run, "outdated", attempts, "the study configuration changed since this run", seconds)
    if state == "done":
        return RunState(run, "done", attempts, "", seconds)
    if state == "failed":
        return RunState(run, "failed", attempts, "", seconds, status.get("error"))
    detail = f"stopped while running ({why})" if why else "stopped while running"
    return RunState(run, "interrupted", attempts, detail, seconds, status.get("error"))


def run_states(sweep: Sweep) -> list[RunState]:
    return [run_state(sweep.run_folder(run), run.config_hash, run.id) for run in sweep.runs]


# ============================================================================ executing runs


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to execute one run (plain, picklable data)."""

    run_id: str
    study: str
    settings: dict
    config_hash: str
    folder: str
    cache: str
    sweep: str
    columns: dict
    session: str
    attempt: int = 1
    track: dict | None = None
    stale_after: float = STALE_SECONDS
    heartbeat: float = HEARTBEAT_SECONDS


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt at a run."""

    run_id: str
    state: str  # "done", "failed", "elsewhere" (claimed by a live process) or "skipped" (done already)
    attempt: int = 1
    seconds: float = 0.0
    error: str | None = None
    traceback: str | None = None
    host: str = ""
    pid: int = 0
    report: str | None = None
    took_over: str | None = None

    @property
    def failed(self) -> bool:
        return self.state == "failed"


def _file_log(path: Path) -> Callable[[str], None]:
    def log(message: str) -> None:
        with path.open("a") as handle:
            handle.write(f"{_dt.datetime.now().strftime('%H:%M:%S')} {message}\n")

    return log


def execute_task(task: Task) -> Outcome:
    """Claim, run and record one run; never raises for a failing study (the error is recorded)."""
    from landform.runtime import enable_compilation_cache

    enable_compilation_cache()  # a worker process compiles each program once across its runs and across workers
    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    host, pid = hostname(), os.getpid()
    try:
        claim = wait_for_claim(
            folder / CLAIM,
            session=task.session,
            note=f"sweep {task.sweep}",
            stale_after=task.stale_after,
            heartbeat=task.heartbeat,
            same_session_stale_after=2 * task.heartbeat + 5,
            wait=0.0,
        )
    except ClaimHeld as held:
        if held.owner is not None and held.owner.session == task.session:
            # our own earlier attempt, on a worker that died: wait until its heartbeat stops
            try:
                claim = wait_for_claim(folder / CLAIM, session=task.session, note=f"sweep {task.sweep}", stale_after=task.stale_after, heartbeat=task.heartbeat, same_session_stale_after=2 * task.heartbeat + 5, wait=3 * task.heartbeat + 10)
            except ClaimHeld as again:
                return Outcome(task.run_id, "elsewhere", task.attempt, error=f"claimed by {again.owner.describe() if again.owner else 'another process'}", host=host, pid=pid)
        else:
            return Outcome(task.run_id, "elsewhere", task.attempt, error=f"claimed by {held.owner.describe() if held.owner else 'another process'}", host=host, pid=pid)

    with claim:
        status = read_status(folder) or {}
        if status.get("state") == "done" and status.get("config_hash") == task.config_hash:
            return Outcome(task.run_id, "skipped", task.attempt, host=host, pid=pid, report=status.get("report"))
        took_over = None
        if claim.took_over is not None:
            took_over = f"took over from {claim.took_over.describe()}: {claim.took_over_reason}"
        attempts = int(status.get("attempts", 0)) + 1 if status.get("config_hash") == task.config_hash else 1
        history = list(status.get("history", [])) if status.get("config_hash") == task.config_hash else []
        if history and history[-1].get("outcome") == "running":
            history[-1]["outcome"] = "interrupted"
        entry = {"attempt": attempts, "host": host, "pid": pid, "session": task.session, "started": _now(), "outcome": "running"}
        if took_over:
            entry["took_over"] = took_over
        history.append(entry)
        status = {"run_id": task.run_id, "sweep": task.sweep, "study": task.study, "state": "running", "config_hash": task.config_hash, "columns": task.columns, "attempts": attempts, "history": history}
        write_status(folder, status)
        log = _file_log(folder / LOG)
        log(f"attempt {attempts} on {host} (pid {pid})" + (f"; {took_over}" if took_over else ""))
        started = time.perf_counter()
        tracker = None
        try:
            from landform.run.tracking import MetricsProgress, NullTracker, make_tracker, send_run
            from landform.studies import get_study
            from landform.studies.config import validate

            study = get_study(task.study)
            config = validate(study.Config, task.settings, source=f"run {task.run_id}")
            settings = TrackSettings.model_validate(task.track) if task.track else None
            tracker = make_tracker(settings, folder=Path(task.folder).parent.parent, name=task.run_id, experiment=task.sweep, study=task.study, tags={"sweep": task.sweep, "run_id": task.run_id}, log=log)
            if not isinstance(tracker, NullTracker):
                from landform.run.tracking import flatten

                tracker.log_params({**flatten(config.model_dump(mode="json")), **{f"sweep.{k}": v for k, v in task.columns.items()}})
            progress = MetricsProgress(tracker) if not isinstance(tracker, NullTracker) else False
            report = run_config(config, folder, cache=task.cache, progress=progress, log=log, tracker=tracker)
            seconds = time.perf_counter() - started
            status.update({"state": "done", "seconds": seconds, "report": str(report) if report else None, "error": None, "traceback": None})
            history[-1].update({"outcome": "done", "finished": _now(), "seconds": seconds})
            write_status(folder, status)
            send_run(tracker, folder, study=study)
            tracker.finish("finished")
            log(f"done in {seconds:.1f} s")
            return Outcome(task.run_id, "done", task.attempt, seconds, host=host, pid=pid, report=str(report) if report else None, took_over=took_over)
        except Exception as error:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
            seconds = time.perf_counter() - started
            message = f"{type(error).__name__}: {error}"
            trace = traceback.format_exc()
            status.update({"state": "failed", "seconds": seconds, "error": message, "traceback": trace})
            history[-1].update({"outcome": "failed", "finished": _now(), "seconds": seconds, "error": message})
            write_status(folder, status)
            log(f"failed after {seconds:.1f} s: {message}\n{trace}")
            if tracker is not None:
                with contextlib.suppress(Exception):
                    tracker.finish("failed")
            return Outcome(task.run_id, "failed", task.attempt, seconds, message, trace, host, pid, took_over=took_over)
        except BaseException:
            # interrupted (Ctrl-C): leave the status as "running"; the released claim shows it stopped
            history[-1].update({"outcome": "interrupted", "finished": _now()})
            status["state"] = "interrupted"
            write_status(folder, status)
            raise


@dataclass
class SweepSummary:
    """What a call of :func:`run_sweep` did."""

    sweep: str
    planned: int
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # done before this call
    seconds: float = 0.0

    def ids(self, state: str) -> list[str]:
        return [run for run, outcome in self.outcomes.items() if outcome.state == state]

    @property
    def failed(self) -> list[str]:
        return self.ids("failed")

    @property
    def done(self) -> list[str]:
        return self.ids("done") + self.ids("skipped")

    @property
    def elsewhere(self) -> list[str]:
        return self.ids("elsewhere")


def run_sweep(
    sweep: Sweep,
    executor: Any = None,
    *,
    retries: int | None = None,
    track: TrackSettings | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
    only: Iterable[str] | None = None,
    stale_after: float = STALE_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> SweepSummary:
    """Execute the runs of ``sweep`` that are not done (missing, failed, interrupted, outdated).

    Runs that another live process is running are left to it. A failed run is tried again up
    to ``retries`` more times (default: the sweep file's ``retries``). Returns what happened.
    """
    from landform.progress import track as progress_track
    from landform.run import tracking
    from landform.run.executors import LocalExecutor

    started = time.perf_counter()
    executor = executor if executor is not None else LocalExecutor()
    retries = sweep.spec.retries if retries is None else retries
    sweep.write_manifest()
    sweep.runs_folder.mkdir(parents=True, exist_ok=True)
    sweep.cache_folder.mkdir(parents=True, exist_ok=True)
    wanted = set(only) if only is not None else None
    states = {state.id: state for state in run_states(sweep)}
    todo = [run for run in sweep.runs if states[run.id].state not in ("done", "running") and (wanted is None or run.id in wanted)]
    summary = SweepSummary(sweep.name, len(todo))
    summary.skipped = [run.id for run in sweep.runs if states[run.id].state == "done"]
    running_elsewhere = [run.id for run in sweep.runs if states[run.id].state == "running"]
    if not todo:
        log(f"sweep {sweep.name}: nothing to do ({len(summary.skipped)} done, {len(running_elsewhere)} running elsewhere)")
        return summary
    track = tracking.prepare(track if track is not None else sweep.spec.track, sweep.folder, sweep.name, log)
    session = uuid.uuid4().hex[:12]
    tasks = [
        Task(run.id, sweep.study, run.settings, run.config_hash, str(sweep.run_folder(run)), str(sweep.cache_folder), sweep.name, run.columns, session, 1, track.model_dump() if track else None, stale_after, heartbeat)
        for run in todo
    ]
    log(f"sweep {sweep.name}: {len(todo)} run(s) to do of {len(sweep.runs)} ({len(summary.skipped)} done" + (f", {len(running_elsewhere)} running elsewhere" if running_elsewhere else "") + f"), {executor.describe()}")

    with progress_track(progress, f"sweep {sweep.name}", len(todo)) as bar:

        def on_result(task: Task, outcome: Outcome, attempt: int) -> None:
            summary.attempts[task.run_id] = attempt
            summary.outcomes[task.run_id] = outcome
            if outcome.state == "failed":
                again = " (will try again)" if attempt <= retries else ""
                log(f"  ✗ {task.run_id}: {outcome.error} [attempt {attempt} of {retries + 1}]{again}")
                if attempt <= retries:
                    return
            elif outcome.state == "elsewhere":
                log(f"  · {task.run_id}: {outcome.error}; left to it")
            elif outcome.state == "skipped":
                log(f"  · {task.run_id}: done meanwhile by another process")
            else:
                extra = f"; {outcome.took_over}" if outcome.took_over else ""
                log(f"  ✓ {task.run_id} ({outcome.seconds:.1f} s on {outcome.host}){extra}")
            bar.advance(1, done=len(summary.done), failed=len(summary.failed))

        def on_error(task: Task, error: BaseException) -> Outcome:
            return Outcome(task.run_id, "failed", task.attempt, error=f"{type(error).__name__}: {error}")

        with executor:
            kwargs = {"key": lambda task: task.run_id} if getattr(executor, "name", "") == "dask" else {}
            executor.map(
                execute_task,
                tasks,
                retries=retries,
                should_retry=lambda outcome: outcome.failed,
                on_result=on_result,
                on_error=on_error,
                prepare=lambda task, attempt: replace(task, attempt=attempt),
                **kwargs,
            )
    summary.seconds = time.perf_counter() - started
    return summary


# ============================================================================ collecting tables


def collect(sweep: Sweep | str | Path, *, write: bool = True, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every done run's tables, concatenated per table name, with the grid fields as columns.

    ``sweep``: a loaded sweep, or a sweep folder holding ``sweep.json``. Columns: ``run_id``,
    the grid fields (as named in the sweep file; ``seed`` for the seeds), then the table's own
    (a grid column whose name the table uses already is called ``sweep.<name>``). Rows keep the
    order of the runs and of each table. Written to ``<sweep folder>/tables/<name>.parquet|csv``.
    """
    import pandas as pd

    from landform.run.store import RunFolder

    if isinstance(sweep, Sweep):
        folder = sweep.folder
        runs = [(run.id, run.columns, run.config_hash) for run in sweep.runs]
    else:
        folder = Path(sweep)
        manifest = read_manifest(folder)
        runs = [(r["id"], r["columns"], r["config_hash"]) for r in manifest["runs"]]
    pieces: dict[str, list] = {}
    included = 0
    for identifier, columns, config_hash in runs:
        run_folder = folder / "runs" / identifier
        status = read_status(run_folder)
        if not status or status.get("state") != "done" or status.get("config_hash") != config_hash:
            continue
        included += 1
        for path in sorted((run_folder / "tables").glob("*.parquet")):
            table = pd.read_parquet(path)
            front = {"run_id": identifier}
            for name, value in columns.items():
                front[f"sweep.{name}" if name in table.columns else name] = value
            extra = pd.DataFrame({name: [value] * len(table) for name, value in front.items()}, index=table.index)
            pieces.setdefault(path.stem, []).append(pd.concat([extra, table], axis=1))
    collected = {name: pd.concat(parts, ignore_index=True) for name, parts in pieces.items()}
    if write:
        target = RunFolder(folder)
        for name, table in collected.items():
            target.write_table(name, table)
    if log:
        log(f"collected {len(collected)} table(s) from {included} of {len(runs)} run(s): {', '.join(f'{n} ({len(t)} rows)' for n, t in collected.items()) or 'none'}")
    return collected


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{folder} is not a sweep folder (no {MANIFEST}); run `landform sweep run` or `landform sweep collect` on its sweep file first")
    return json.loads(path.read_text())


def status_table(sweep: Sweep):
    """One row per run: its ID, grid values, state, attempts, seconds and error."""
    import pandas as pd

    rows = []
    for run, state in zip(sweep.runs, run_states(sweep)):
        seconds = state.seconds if state.seconds is None or not math.isnan(state.seconds) else None
        rows.append({"run_id": run.id, **run.columns, "state": state.state, "attempts": state.attempts, "seconds": seconds, "detail": state.detail, "error": state.error or ""})
    return pd.DataFrame(rows)


def run_tracked(
    config: Any,
    folder: str | Path,
    *,
    track: TrackSettings | None,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
) -> Path:
    """:func:`run_config` for one run (``landform run --track ...``), sending it to the sinks.

    The sinks' stores live in the run folder (``<folder>/mlflow.db``, ``<folder>/wandb/``)
    unless the settings name a server.
    """
    from landform.run import tracking
    from landform.studies import get_study

    folder = Path(folder)
    track = tracking.prepare(track, folder, config.name, log)
    tracker = tracking.make_tracker(track, folder=folder, name=f"{config.name}-{config.variant}", experiment=config.name, study=config.study, tags={"variant": config.variant}, log=log)
    tracker.log_params(tracking.flatten(config.model_dump(mode="json")))
    try:
        report = run_config(config, folder, cache=cache, progress=tracking.MetricsProgress(tracker, progress), log=log, tracker=tracker)
    except BaseException:
        tracker.finish("failed")
        raise
    tracking.send_run(tracker, folder, study=get_study(config.study))
    tracker.finish("finished")
    return report
