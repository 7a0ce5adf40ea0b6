"""One attempt at one run of a sweep: claim its folder, run its study, record the outcome.

Each run's folder holds ``status.json`` (state, attempts, history, error and traceback),
``claim.json`` while a process works on it (:mod:`landform.store.claims`) and ``log.txt``. A run
is *done* when its status says so for the configuration it has now; a changed configuration
makes it *outdated*. A failing study never raises out of :func:`execute_task`: its error is
recorded and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landform.files import atomic_write_text
from landform.run import tracking
from landform.run.plan import Sweep
from landform.run.tracking import TrackSettings
from landform.runtime import enable_compilation_cache
from landform.store.claims import HEARTBEAT_SECONDS, STALE_SECONDS, ClaimHeld, claim_status, hostname, wait_for_claim
from landform.studies import get_study
from landform.studies.config import validate

#: File names inside a run's folder.
STATUS = "status.json"
CLAIM = "claim.json"
LOG = "log.txt"

#: Run states reported by :func:`run_states`.
STATES = ("done", "failed", "running", "interrupted", "outdated", "missing")


def run_config(
    config: Any,
    folder: str | Path,
    *,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run a validated study config into ``folder``; returns the report's path.

    ``cache``: a stage cache, possibly shared with other runs working at the same time in other
    processes or hosts; the study contract (:class:`landform.studies.StudyRun`) says it may be.
    """
    study = get_study(config.study)
    return study.run(config, folder, cache=cache, progress=progress, log=log)


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
    enable_compilation_cache()  # a worker process compiles each program once across its runs and workers
    folder = Path(task.folder)
    folder.mkdir(parents=True, exist_ok=True)
    host, pid = hostname(), os.getpid()
    claim = _claim(task, folder)
    if isinstance(claim, str):
        return Outcome(task.run_id, "elsewhere", task.attempt, error=claim, host=host, pid=pid)
    with claim:
        status = read_status(folder) or {}
        if status.get("state") == "done" and status.get("config_hash") == task.config_hash:
            return Outcome(task.run_id, "skipped", task.attempt, host=host, pid=pid, report=status.get("report"))
        took_over = None
        if claim.took_over is not None:
            took_over = f"took over from {claim.took_over.describe()}: {claim.took_over_reason}"
        status = _start_attempt(task, folder, status, took_over, host, pid)
        return _attempt(task, folder, status, took_over, host, pid)


def _claim(task: Task, folder: Path):
    """The claim of the run's folder, or a description of who holds it.

    A claim held by another session is left to it. One held by this session is an earlier
    attempt on a worker that died: wait until its heartbeat stops, then take it over."""

    def claim_for(wait: float):
        return wait_for_claim(
            folder / CLAIM,
            session=task.session,
            note=f"sweep {task.sweep}",
            stale_after=task.stale_after,
            heartbeat=task.heartbeat,
            same_session_stale_after=2 * task.heartbeat + 5,
            wait=wait,
        )

    def holder(held: ClaimHeld) -> str:
        return f"claimed by {held.owner.describe() if held.owner else 'another process'}"

    try:
        return claim_for(0.0)
    except ClaimHeld as held:
        if held.owner is None or held.owner.session != task.session:
            return holder(held)
    try:
        return claim_for(3 * task.heartbeat + 10)
    except ClaimHeld as again:
        return holder(again)


def _start_attempt(task: Task, folder: Path, status: dict, took_over: str | None, host: str, pid: int) -> dict:
    """Record a new attempt in the run's status (``running``; an earlier attempt still marked
    running was interrupted) and return the status."""
    same_config = status.get("config_hash") == task.config_hash
    attempts = int(status.get("attempts", 0)) + 1 if same_config else 1
    history = list(status.get("history", [])) if same_config else []
    if history and history[-1].get("outcome") == "running":
        history[-1]["outcome"] = "interrupted"
    entry = {"attempt": attempts, "host": host, "pid": pid, "session": task.session, "started": _now()}
    entry["outcome"] = "running"
    if took_over:
        entry["took_over"] = took_over
    history.append(entry)
    status = {
        "run_id": task.run_id,
        "sweep": task.sweep,
        "study": task.study,
        "state": "running",
        "config_hash": task.config_hash,
        "columns": task.columns,
        "attempts": attempts,
        "history": history,
    }
    write_status(folder, status)
    return status


def _tracker_for(task: Task, config: Any, log: Callable[[str], None]):
    """The run's tracking sink (a NullTracker without one), with the run's parameters logged."""
    settings = TrackSettings.model_validate(task.track) if task.track else None
    tracker = tracking.make_tracker(
        settings,
        folder=Path(task.folder).parent.parent,
        name=task.run_id,
        experiment=task.sweep,
        study=task.study,
        tags={"sweep": task.sweep, "run_id": task.run_id},
        log=log,
    )
    if not isinstance(tracker, tracking.NullTracker):
        columns = {f"sweep.{k}": v for k, v in task.columns.items()}
        tracker.log_params({**tracking.flatten(config.model_dump(mode="json")), **columns})
    return tracker


def _attempt(task: Task, folder: Path, status: dict, took_over: str | None, host: str, pid: int) -> Outcome:
    """Run the study and record how the attempt ended: done, failed (recorded, not raised) or
    interrupted (status written, then raised on)."""
    history = status["history"]
    log = _file_log(folder / LOG)
    log(f"attempt {status['attempts']} on {host} (pid {pid})" + (f"; {took_over}" if took_over else ""))
    started = time.perf_counter()
    tracker = None
    try:
        study = get_study(task.study)
        config = validate(study.Config, task.settings, source=f"run {task.run_id}")
        tracker = _tracker_for(task, config, log)
        progress = tracking.MetricsProgress(tracker) if not isinstance(tracker, tracking.NullTracker) else False
        report = run_config(config, folder, cache=task.cache, progress=progress, log=log)
        seconds = time.perf_counter() - started
        report = str(report) if report else None
        status.update({"state": "done", "seconds": seconds, "report": report, "error": None, "traceback": None})
        history[-1].update({"outcome": "done", "finished": _now(), "seconds": seconds})
        write_status(folder, status)
        tracking.send_run(tracker, folder)
        tracker.finish("finished")
        log(f"done in {seconds:.1f} s")
        return Outcome(
            task.run_id, "done", task.attempt, seconds, host=host, pid=pid, report=report, took_over=took_over
        )
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
        # interrupted (Ctrl-C): the released claim shows it stopped; the status says so
        history[-1].update({"outcome": "interrupted", "finished": _now()})
        status["state"] = "interrupted"
        write_status(folder, status)
        raise


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
    folder = Path(folder)
    track = tracking.prepare(track, folder, config.name, log)
    tracker = tracking.make_tracker(
        track,
        folder=folder,
        name=f"{config.name}-{config.variant}",
        experiment=config.name,
        study=config.study,
        tags={"variant": config.variant},
        log=log,
    )
    tracker.log_params(tracking.flatten(config.model_dump(mode="json")))
    try:
        report = run_config(config, folder, cache=cache, progress=tracking.MetricsProgress(tracker, progress), log=log)
    except BaseException:
        tracker.finish("failed")
        raise
    tracking.send_run(tracker, folder)
    tracker.finish("finished")
    return report
