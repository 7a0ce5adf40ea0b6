"""Sweeps: a grid of study runs from one file, run anywhere, never redoing finished work.

The sweep file and its expansion are :mod:`landform.run.plan`; one attempt at one run (claim,
run, status) is :mod:`landform.run.attempts`; this module runs every run that is not done on an
executor (:mod:`landform.run.executors`) and collects the runs' tables.

Layout of a sweep folder::

    sweep.json            the expanded sweep (runs, their fields and config hashes)
    cache/                one stage cache shared by every run (training is done once)
    runs/<id>/            each run's folder: config.json, tables/, figures/, report.html,
                          status.json (state, attempts, errors), claim.json while running,
                          log.txt
    tables/<name>.parquet|csv   collected tables: every run's table <name> with the grid
                          fields (and ``seed``) as columns

State is kept per run in files written atomically, with claims (:mod:`landform.store.claims`)
so that several sweeps may share a folder, and a run killed at any moment is picked up again
(its finished stages come from the cache). A run is *done* when its status says so for the
configuration it has now; changing the study config makes its runs *outdated*, and they are
run again.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from landform.progress import track as progress_track
from landform.run import tracking
from landform.run.attempts import Outcome, Task, execute_task, read_status, run_states
from landform.run.executors import LocalExecutor
from landform.run.plan import Sweep, read_manifest
from landform.run.tracking import TrackSettings
from landform.store.claims import HEARTBEAT_SECONDS, STALE_SECONDS
from landform.store.folder import RunFolder


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
    started = time.perf_counter()
    executor = executor if executor is not None else LocalExecutor()
    retries = sweep.spec.retries if retries is None else retries
    sweep.write_manifest()
    sweep.runs_folder.mkdir(parents=True, exist_ok=True)
    sweep.cache_folder.mkdir(parents=True, exist_ok=True)
    wanted = set(only) if only is not None else None
    states = {state.id: state for state in run_states(sweep)}
    todo = [
        run
        for run in sweep.runs
        if states[run.id].state not in ("done", "running") and (wanted is None or run.id in wanted)
    ]
    summary = SweepSummary(sweep.name, len(todo))
    summary.skipped = [run.id for run in sweep.runs if states[run.id].state == "done"]
    running_elsewhere = [run.id for run in sweep.runs if states[run.id].state == "running"]
    if not todo:
        log(
            f"sweep {sweep.name}: nothing to do "
            f"({len(summary.skipped)} done, {len(running_elsewhere)} running elsewhere)"
        )
        return summary
    track = tracking.prepare(track if track is not None else sweep.spec.track, sweep.folder, sweep.name, log)
    session = uuid.uuid4().hex[:12]
    tasks = [
        Task(
            run.id,
            sweep.study,
            run.settings,
            run.config_hash,
            str(sweep.run_folder(run)),
            str(sweep.cache_folder),
            sweep.name,
            run.columns,
            session,
            1,
            track.model_dump() if track else None,
            stale_after,
            heartbeat,
        )
        for run in todo
    ]
    log(
        f"sweep {sweep.name}: {len(todo)} run(s) to do of {len(sweep.runs)} ({len(summary.skipped)} done"
        + (f", {len(running_elsewhere)} running elsewhere" if running_elsewhere else "")
        + f"), {executor.describe()}"
    )

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


def collect(
    sweep: Sweep | str | Path, *, write: bool = True, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Every done run's tables, concatenated per table name, with the grid fields as columns.

    ``sweep``: a loaded sweep, or a sweep folder holding ``sweep.json``. Columns: ``run_id``,
    the grid fields (as named in the sweep file; ``seed`` for the seeds), then the table's own
    (a grid column whose name the table uses already is called ``sweep.<name>``). Rows keep the
    order of the runs and of each table. Written to ``<sweep folder>/tables/<name>.parquet|csv``.
    """
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
        log(
            f"collected {len(collected)} table(s) from {included} of {len(runs)} run(s): "
            f"{', '.join(f'{n} ({len(t)} rows)' for n, t in collected.items()) or 'none'}"
        )
    return collected


def status_table(sweep: Sweep):
    """One row per run: its ID, grid values, state, attempts, seconds and error."""
    rows = []
    for run, state in zip(sweep.runs, run_states(sweep)):
        seconds = state.seconds if state.seconds is None or not math.isnan(state.seconds) else None
        rows.append(
            {
                "run_id": run.id,
                **run.columns,
                "state": state.state,
                "attempts": state.attempts,
                "seconds": seconds,
                "detail": state.detail,
                "error": state.error or "",
            }
        )
    return pd.DataFrame(rows)
