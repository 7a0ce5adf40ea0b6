"""Sweeps (landform.run.sweep, executors, locks): expansion, validation, and reliability.

The end-to-end tests run the volume study's `quick` variant shrunk further (8 directions,
levels [0, 30], 50 epochs), so one run takes a few seconds, and check that

- one grid of 12 runs gives identical collected tables in this process, on a local Dask cluster
  of 2 workers, and on an external cluster (`dask scheduler` + 2 `dask worker`s started here);
- a `landform sweep run` killed with SIGKILL in the middle of a stage resumes to the same table,
  with no run lost or repeated; a Dask worker killed mid-run has its run retried elsewhere;
- two sweeps sharing a folder run every run exactly once;
- a failing run is recorded with its error, retried, and does not stop the others.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from landform.errors import ConfigError
from landform.run.attempts import read_status, run_states
from landform.run.executors import DaskExecutor, LocalExecutor, worker_environment
from landform.run.plan import format_value, load_sweep, run_id
from landform.run.sweep import collect, run_sweep
from landform.store import claims as locks
from landform.store.stages import DONE

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "volume" / "swiss_roll_low_data.yaml"

FIXED = """
config: {config}
variant: quick
set:
  volume.directions: 8
  data.levels: [0, 30]
  data.options: {{n_train: 200, n_test: 200, noise: 0.3}}
  train.epochs: 50
  train.learning_rate: 0.01
  train.eval_every: 25
"""

GRID = (
    FIXED
    + """
grid:
  volume.thresholds: {thresholds}
  volume.bootstrap: {bootstrap}
seeds: [0, 1]
retries: 1
"""
)

FULL = {"thresholds": "[0.6, 0.8, 1.0]", "bootstrap": "[5, 10]"}  # 3 x 2 x 2 seeds = 12 runs
SMALL = {"thresholds": "[0.6, 0.8]", "bootstrap": "[5]"}  # 4 runs, a subset of FULL's run IDs


def write_sweep(folder: Path, name: str, grid: dict, *, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nfolder: {name}-out\n" + GRID.format(config=CONFIG, **grid) + extra)
    return path


def comparable(tables: dict[str, pd.DataFrame], runs: set[str] | None = None) -> dict[str, pd.DataFrame]:
    """Tables without timing columns, restricted to ``runs``, sorted by every column."""
    out = {}
    for name, table in tables.items():
        if runs is not None:
            table = table[table["run_id"].isin(runs)]
        table = table.drop(columns=[c for c in table.columns if "seconds" in c or c in ("time", "started", "finished")])
        out[name] = table.sort_values(list(table.columns), kind="mergesort").reset_index(drop=True)
    return out


def assert_same_tables(left: dict, right: dict) -> None:
    assert sorted(left) == sorted(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=f"table {name}")


def cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "LANDFORM_PROGRESS": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "landform.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def histories(sweep) -> dict[str, list[dict]]:
    return {run.id: (read_status(sweep.run_folder(run)) or {}).get("history", []) for run in sweep.runs}


# ============================================================================ expansion and validation


def test_grid_expands_to_readable_stable_ids_and_validates_every_run(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(
        FIXED.format(config=CONFIG)
        + """
grid:
  volume.thresholds: [0.05, 0.1]
zip:
  - {train.weight_decay: [0.01, 0.0], volume.max_radius: [100.0, 50.0]}
seeds: [3, 4]
"""
    )
    sweep = load_sweep(path, tmp_path / "out")
    assert len(sweep.runs) == 2 * 2 * 2
    ids = [run.id for run in sweep.runs]
    assert ids[0] == "volume.thresholds=0.05__train.weight_decay=0.01__volume.max_radius=100.0__seed=3"
    assert len(set(ids)) == len(ids)
    assert [run.id for run in load_sweep(path, tmp_path / "out").runs] == ids  # stable
    first = sweep.runs[0]
    # a scalar for a list field becomes a one-element list; the seeds set every seed field
    assert first.config.volume.thresholds == [0.05]
    assert first.config.seeds.model == [3] and first.config.seeds.data == [3]
    assert first.columns == {
        "volume.thresholds": 0.05,
        "train.weight_decay": 0.01,
        "volume.max_radius": 100.0,
        "seed": 3,
    }
    assert (
        first.config.train["weight_decay"] == 0.01
        and first.config.volume.max_radius == 100.0
        and first.config.volume.directions == 8
    )
    assert sweep.runs[3].config.train["weight_decay"] == 0.0 and sweep.runs[3].config.volume.max_radius == 50.0
    assert sweep.columns == ["volume.thresholds", "train.weight_decay", "volume.max_radius", "seed"]
    assert sweep.folder == (tmp_path / "out").resolve()


def test_fixed_settings_and_a_sweep_without_a_grid(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(
        FIXED.format(config=CONFIG).replace(
            "set:\n", "set:\n  volume.thresholds: 0.3\n  seeds.model: 4\n  seeds.data: 4\n"
        )
    )
    sweep = load_sweep(path, tmp_path / "out")
    (run,) = sweep.runs
    assert run.id == "base" and run.columns == {}
    assert run.config.volume.thresholds == [0.3] and run.config.seeds.pairs() == [(4, 4)]


def test_a_bad_value_fails_before_anything_runs_naming_the_run_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(FIXED.format(config=CONFIG) + "grid:\n  volume.thresholds: [0.1, -1.0]\n")
    with pytest.raises(ConfigError) as error:
        load_sweep(path, tmp_path / "out")
    message = str(error.value)
    assert "volume.thresholds=-1.0" in message and "volume.thresholds" in message and "positive" in message
    assert not (tmp_path / "out").exists()  # validated before any folder was made


@pytest.mark.parametrize(
    "text, expected",
    [
        ("grid: {volume.directions: []}", "no values"),
        ("zip: [{train.epochs: [1, 2], train.eval_every: [1]}]", "equally many"),
        ("grid: {train.optimizer: [adam]}\nzip: [{train.optimizer: [sgd]}]", "more than one place"),
        ("grid: {train.epochs: [10, 20]}", "both fixed"),
        ("grid: {volume.unknown: [1]}", "unknown"),
        ("grids: {}", "grids"),
    ],
)
def test_sweep_file_errors_are_config_errors(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(FIXED.format(config=CONFIG) + text + "\n")
    with pytest.raises(ConfigError, match=expected):
        load_sweep(path, tmp_path / "out")


def test_run_ids_are_sanitised_with_a_hash_when_needed():
    assert run_id([("a", 0.5), ("seed", 1)]) == "a=0.5__seed=1"
    assert format_value([0.05, 0.1]) == "0.05,0.1"
    unsafe = run_id([("model.name", "a b/c")])
    assert "/" not in unsafe and " " not in unsafe and "~" in unsafe
    assert unsafe != run_id([("model.name", "a b c")])
    assert len(run_id([("x", "y" * 500)])) < 120


# ============================================================================ claims


def test_claims_are_exclusive_and_released(tmp_path):
    path = tmp_path / "claim.json"
    held = locks.claim(path, session="s", heartbeat=0.05)
    with pytest.raises(locks.ClaimHeld):
        locks.claim(path, session="other")
    assert locks.claim_status(path)[0] == "live"
    time.sleep(0.2)  # the heartbeat keeps it fresh
    assert locks.claim_status(path, stale_after=0.15)[0] == "live"
    held.release()
    assert not path.exists()
    with locks.claim(path):
        pass


def test_a_dead_owner_or_an_old_heartbeat_makes_a_claim_stale(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    info = locks.ClaimInfo(locks.hostname(), int(gone), None, "t", "s", time.time())
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(info.__dict__))
    assert "gone" in locks.stale_reason(path)
    taken = locks.claim(path)
    assert taken.took_over.pid == int(gone)
    taken.release()
    # a live process on another host: stale only when its heartbeat is old
    far = locks.ClaimInfo("another-host", os.getpid(), None, "u", "s", time.time())
    path.write_text(json.dumps(far.__dict__))
    assert locks.stale_reason(path, stale_after=60) is None
    old = time.time() - 120
    os.utime(path, (old, old))
    assert "heartbeat" in locks.stale_reason(path, stale_after=60)


def _race(path: str, start: float, results, tried) -> None:
    time.sleep(max(0.0, start - time.time()))
    try:
        held = locks.claim(path)
        results.put("won")
        tried.wait(timeout=60)  # hold the claim until every process has tried (a slow one must lose)
        held.release()
    except locks.ClaimHeld:
        results.put("lost")
        tried.wait(timeout=60)


def test_of_many_processes_claiming_at_once_exactly_one_wins(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("fork")  # cheap: the children run only the claim
    results = context.Queue()
    start = time.time() + 1.0
    tried = context.Barrier(8)
    processes = [
        context.Process(target=_race, args=(str(tmp_path / "claim.json"), start, results, tried)) for _ in range(8)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    outcomes = [results.get(timeout=10) for _ in processes]
    assert outcomes.count("won") == 1, outcomes


class _CachingStudy:
    """A study whose run computes one stage into the cache it is given (default <folder>/stages)."""

    def __init__(self):
        self.caches: list[Path] = []

    def run(self, config, folder, *, cache=None, progress=True, log=print):
        from landform.store.stages import open_run, run_stage

        _, cache = open_run(folder, {"x": config.x}, cache)
        self.caches.append(cache)
        run_stage(cache, "train", {"x": config.x}, lambda stage: (stage / "out.txt").write_text("trained"))
        return Path(folder) / "report.html"


def _run_with_cache(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import landform.run.attempts
    from landform.run.attempts import run_config

    study = _CachingStudy()
    monkeypatch.setattr(landform.run.attempts, "get_study", lambda name: study)
    cache = tmp_path / "cache"
    run_config(SimpleNamespace(study="fake", x=1), tmp_path / "run", cache=cache, progress=False, log=lambda m: None)
    return study, cache


def test_a_shared_cache_is_passed_directly_to_the_study(tmp_path, monkeypatch):
    study, cache = _run_with_cache(tmp_path, monkeypatch)
    assert study.caches == [cache]
    (stage,) = cache.iterdir()
    assert stage.name.startswith("train-") and (stage / DONE).exists() and not stage.is_symlink()
    assert not (tmp_path / "run" / "stages").exists()  # no private stage folder


# ============================================================================ end to end


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("sweeps")


@pytest.fixture(scope="module")
def reference(workspace):
    """The 12-run grid run in this process: the tables every other execution must reproduce."""
    sweep = load_sweep(write_sweep(workspace, "local", FULL))
    summary = run_sweep(sweep, LocalExecutor(), progress=False, log=lambda m: None)
    assert len(summary.done) == 12 and not summary.failed
    assert all(state.state == "done" for state in run_states(sweep))
    tables = collect(sweep)
    assert {"volumes", "cutoffs", "ranking_stability"} <= set(tables)
    return comparable(tables)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def external_cluster(workspace):
    """`dask scheduler` and two `dask worker`s on 127.0.0.1, started as subprocesses.

    The worker-kill test kills one of them; it is the last test to use the cluster.
    """
    pytest.importorskip("distributed")
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, **worker_environment(1)}
    dask = [sys.executable, "-m", "dask"]
    log = (workspace / "cluster.log").open("w")
    processes = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ]
    try:
        time.sleep(1.0)
        for index in range(2):
            # without a nanny: a killed worker stays dead, so its run must move to the other one
            processes.append(
                subprocess.Popen(
                    [
                        *dask,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"external-{index}",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "workers": {p.pid for p in processes[1:]}}
    finally:
        for process in reversed(processes):  # workers first, then the scheduler
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def test_local_dask_and_external_cluster_give_identical_tables(workspace, reference, external_cluster):
    pytest.importorskip("distributed")
    local_cluster = load_sweep(write_sweep(workspace, "local-cluster", FULL))
    summary = run_sweep(local_cluster, DaskExecutor(workers=2), progress=False, log=lambda m: None)
    assert len(summary.done) == 12 and not summary.failed
    # every run succeeded on its first attempt: concurrent runs sharing the cache did not disturb each other
    assert all(len(h) == 1 and h[0]["outcome"] == "done" for h in histories(local_cluster).values())
    assert_same_tables(comparable(collect(local_cluster)), reference)
    assert len({h[0]["pid"] for h in histories(local_cluster).values()}) == 2  # two worker processes did the work

    external = load_sweep(write_sweep(workspace, "external", FULL))
    summary = run_sweep(
        external,
        DaskExecutor(address=external_cluster["address"], pin=True, workers_per_host=2),
        progress=False,
        log=lambda m: None,
    )
    assert len(summary.done) == 12 and not summary.failed
    assert_same_tables(comparable(collect(external)), reference)


def _logged_unfinished_stage(sweep, states: dict[str, str]) -> bool:
    """Whether a running run is inside a stage: its temporary folder exists and the run's log says
    the stage is running. The temporary is made just before the log line, and the quick data stage
    can finish within one poll, so neither alone shows that a kill now lands inside a stage."""
    temporaries = list(sweep.runs_folder.glob("*/stages/.*.tmp")) + list(sweep.cache_folder.glob(".*.tmp"))
    stages = {tuple(t.name[1:].split(".")[0].rsplit("-", 1)) for t in temporaries}
    stages = {(name, key) for name, key in stages if name != "data"}
    for run, state in states.items():
        log = sweep.run_folder(run) / "log.txt"
        if state == "running" and log.exists():
            text = log.read_text()
            if any(f"stage {name} ({key}): running" in text for name, key in stages):
                return True
    return False


def test_a_sweep_killed_mid_stage_resumes_without_lost_or_repeated_rows(workspace, reference):
    file = write_sweep(workspace, "killed", SMALL)
    sweep = load_sweep(file)
    process = cli("sweep", "run", str(file))
    killed_in_stage = False
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            states = {s.id: s.state for s in run_states(sweep)}
            if "done" in states.values() and "running" in states.values() and _logged_unfinished_stage(sweep, states):
                killed_in_stage = True
                break
            time.sleep(0.02)
        assert process.poll() is None, "the sweep finished before it could be interrupted"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    assert killed_in_stage
    states = {s.id: s for s in run_states(sweep)}
    interrupted = [run for run, state in states.items() if state.state == "interrupted"]
    assert len(interrupted) == 1, states  # its claim's process is gone: no longer "running"
    # the stages the killed attempt started, and which of them it finished
    log_before = (sweep.run_folder(interrupted[0]) / "log.txt").read_text()
    started = re.findall(r"stage (\w+) \((\w+)\): running", log_before)
    finished = {
        key
        for name, key in started
        if (sweep.run_folder(interrupted[0]) / "stages" / f"{name}-{key}" / DONE).exists()
        or (sweep.cache_folder / f"{name}-{key}" / DONE).exists()
    }
    unfinished = {key for _, key in started} - finished
    assert unfinished  # killed inside a stage

    messages: list[str] = []
    resumed = run_sweep(load_sweep(file), LocalExecutor(), progress=False, log=messages.append)
    assert resumed.outcomes[interrupted[0]].took_over and "gone" in resumed.outcomes[interrupted[0]].took_over
    assert set(resumed.outcomes) == {
        run for run, state in states.items() if state.state != "done"
    }  # only the unfinished ones
    sweep = load_sweep(file)
    assert all(s.state == "done" for s in run_states(sweep))
    history = histories(sweep)[interrupted[0]]
    assert [h["outcome"] for h in history] == ["interrupted", "done"] and "took_over" in history[-1]
    log_after = (sweep.run_folder(interrupted[0]) / "log.txt").read_text()[len(log_before) :]
    for key in finished:
        assert f"({key}): cached" in log_after  # finished stages were not redone ...
    for key in unfinished:
        assert f"({key}): running" in log_after  # ... the interrupted one was
    assert all(
        len(h) == 1 for run, h in histories(sweep).items() if run != interrupted[0]
    )  # finished runs were not redone

    tables = collect(sweep)
    for name, table in tables.items():
        per_run = sum(len(pd.read_parquet(sweep.run_folder(r) / "tables" / f"{name}.parquet")) for r in sweep.runs)
        assert len(table) == per_run and not table.duplicated().any(), name
    assert_same_tables(comparable(tables), comparable({n: t for n, t in reference.items()}, {r.id for r in sweep.runs}))
    assert not list(sweep.cache_folder.glob(".*.tmp")) and not list(sweep.runs_folder.glob("*/stages/.*.tmp"))


def test_a_killed_dask_worker_has_its_run_retried_elsewhere(workspace, reference, external_cluster):
    pytest.importorskip("distributed")
    sweep = load_sweep(write_sweep(workspace, "worker-killed", SMALL))
    result: dict = {}
    messages: list[str] = []

    def drive():
        result["summary"] = run_sweep(
            sweep,
            DaskExecutor(address=external_cluster["address"], pin=True, workers_per_host=2),
            retries=1,
            progress=False,
            log=messages.append,
        )

    driver = threading.Thread(target=drive)
    driver.start()
    victim = None
    deadline = time.monotonic() + 180
    while victim is None and time.monotonic() < deadline and driver.is_alive():
        for path in sweep.runs_folder.glob("*/claim.json"):
            owner = locks.read_claim(path)
            if owner is not None and owner.pid in external_cluster["workers"]:
                victim = (path.parent.name, owner.pid)
                break
        time.sleep(0.02)
    assert victim is not None, messages
    os.kill(victim[1], signal.SIGKILL)  # the `dask worker` process (started by the fixture) running that run
    driver.join(timeout=300)
    assert not driver.is_alive()
    summary = result["summary"]
    assert len(summary.done) == 4 and not summary.failed, messages
    history = histories(sweep)[victim[0]]
    assert history[0]["pid"] == victim[1] and history[0]["outcome"] == "interrupted"
    assert history[-1]["outcome"] == "done" and history[-1]["pid"] != victim[1] and "took_over" in history[-1]
    assert_same_tables(comparable(collect(sweep)), comparable(reference, {r.id for r in sweep.runs}))


def test_two_sweeps_sharing_a_folder_run_every_run_once(workspace, reference):
    file = write_sweep(workspace, "shared", SMALL)
    other = cli("sweep", "run", str(file))  # another process ...
    time.sleep(1.0)
    here = run_sweep(load_sweep(file), LocalExecutor(), progress=False, log=lambda m: None)  # ... and this one
    output = finish(other)
    sweep = load_sweep(file)
    assert all(s.state == "done" for s in run_states(sweep)), output
    assert not here.failed
    runs = histories(sweep)
    assert all(len(h) == 1 and h[0]["outcome"] == "done" for h in runs.values()), runs  # each run exactly once
    tables = collect(sweep)
    assert not tables["volumes"].duplicated().any()
    assert_same_tables(comparable(tables), comparable(reference, {r.id for r in sweep.runs}))
    status = json.loads((sweep.folder / "sweep.json").read_text())
    assert len(status["runs"]) == 4


def test_a_failing_run_is_recorded_retried_and_the_sweep_goes_on(tmp_path):
    pytest.importorskip("typer")
    from typer.testing import CliRunner

    from landform.cli import app

    path = tmp_path / "failing.yaml"
    # 10 training examples cannot hold the 50-example level: that run fails when it builds its data
    path.write_text(
        FIXED.format(config=CONFIG) + "grid:\n  data.options.n_train: [200, 10]\nseeds: [0]\nretries: 1\nfolder: out\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", "run", str(path)])
    assert result.exit_code == 1, result.output
    sweep = load_sweep(path)
    states = {s.id: s for s in run_states(sweep)}
    good, bad = "data.options.n_train=200__seed=0", "data.options.n_train=10__seed=0"
    assert states[good].state == "done"
    assert states[bad].state == "failed" and states[bad].attempts == 2 and "50 examples" in states[bad].error
    status = read_status(sweep.run_folder(bad))
    assert "Traceback" in status["traceback"] and [h["outcome"] for h in status["history"]] == ["failed", "failed"]
    shown = runner.invoke(app, ["sweep", "status", str(path)])
    assert shown.exit_code == 0 and "failed" in shown.output and "1 done" in shown.output
    # a rerun retries the failed run only; the done one is not redone
    runner.invoke(app, ["sweep", "run", str(path), "--retries", "0"])
    assert read_status(sweep.run_folder(bad))["attempts"] == 3
    assert len(read_status(sweep.run_folder(good))["history"]) == 1
    tables = collect(sweep)
    assert set(tables["volumes"]["run_id"]) == {good}


# ============================================================================ analyses across a sweep


def _sampling_table() -> pd.DataFrame:
    """A toy collected sampling table: 2 spaces x 2 temperatures x 3 seeds, values by hand."""
    rows = []
    for space, offset in (("tunnel", 0.0), ("subspace", -1.0)):
        for temperature, shift in ((1.0, 0.0), (0.1, 0.5)):
            for seed in range(3):
                better = shift if space == "tunnel" else -shift  # tunnel prefers T=0.1, subspace T=1
                rows.append(
                    {
                        "space": space,
                        "K": 2,
                        "temperature": temperature,
                        "seed": seed,
                        "validation_lppd": offset + better + 0.01 * seed,
                        "test_lppd": offset + better + 0.1 * seed,
                        "test_rmse": 1.0 + seed,
                    }
                )
    return pd.DataFrame(rows)


def test_select_best_chooses_by_the_seed_mean_and_reports_mean_and_std_over_seeds():
    from landform.studies.analysis import select_best

    table = _sampling_table()
    chosen = select_best(
        table,
        group=["space", "K"],
        candidate="temperature",
        selection="validation_lppd",
        metrics=["test_lppd", "test_rmse"],
    )
    chosen = chosen.set_index("space")
    assert chosen.loc["tunnel", "temperature"] == 0.1 and chosen.loc["subspace", "temperature"] == 1.0
    assert chosen.loc["tunnel", "test_lppd_mean"] == pytest.approx(0.5 + 0.1)  # mean of 0.5, 0.6, 0.7
    assert chosen.loc["tunnel", "test_lppd_std"] == pytest.approx(0.1)  # sample std of 0.5, 0.6, 0.7
    assert chosen.loc["subspace", "test_rmse_mean"] == pytest.approx(2.0) and chosen.loc["subspace", "seeds"] == 3
    lowest = select_best(
        table,
        group="space",
        candidate="temperature",
        selection="test_rmse",
        metrics="test_lppd",
        higher_is_better=False,
    )
    assert set(lowest.columns) >= {"space", "temperature", "test_rmse_mean", "test_lppd_mean", "test_lppd_std", "seeds"}
    with pytest.raises(ConfigError, match="validation_nll"):
        select_best(table, selection="validation_nll")


def test_pivot_mean_std_formats_the_tunnel_tables():
    from landform.studies.analysis import format_mean_std, pivot_mean_std, tunnel_tables

    assert format_mean_std(1.23456, 0.0123) == "1.23 ± 0.012"
    assert format_mean_std(2.0, float("nan")) == "2"
    table = _sampling_table()
    table = pd.concat([table, table.assign(K=4, test_rmse=table.test_rmse * 2)])
    pivot = pivot_mean_std(table[table.temperature == 1.0], index="space", columns="K", metric="test_rmse")
    assert list(pivot.columns) == [2, 4] and pivot.loc["tunnel", 2] == "2 ± 1" and pivot.loc["tunnel", 4] == "4 ± 2"
    assert set(tunnel_tables(table)) == {"test_lppd", "test_rmse"}  # the default metrics the table has
    with pytest.raises(ConfigError, match="'ess'"):  # a named metric that is not a column is an error
        tunnel_tables(table, metrics=("test_lppd", "test_rmse", "ess"))


def _volume_table() -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for model in (20, 50):
            for landscape in (20, 50):
                status = "outside" if (model, landscape) == (20, 50) else "inside"
                rows.append(
                    {
                        "model_seed": seed,
                        "model_examples": model,
                        "landscape_examples": landscape,
                        "threshold": 0.1,
                        "log_volume": (10.0 if model == 20 else 5.0) + seed - (landscape == 50),
                        "test_accuracy": 0.6 + 0.1 * (model == 50),
                        "status": status,
                        "checkpoint": "final",
                        "arm": "default",
                    }
                )
    return pd.DataFrame(rows)


def test_volume_analyses_across_seeds():
    from landform.studies.analysis import (
        across_landscapes,
        fixed_landscape,
        sweep_across_landscapes_figure,
        sweep_fixed_landscape_figure,
    )

    volumes = _volume_table()
    fixed = fixed_landscape(volumes).set_index("model_examples")
    assert fixed.loc[20, "log_volume_mean"] == pytest.approx(11.0) and fixed.loc[
        50, "log_volume_mean"
    ] == pytest.approx(6.0)
    assert fixed.loc[20, "log_volume_std"] == pytest.approx(1.0) and fixed.loc[20, "n"] == 3
    across = across_landscapes(volumes)
    assert len(across) == 3  # the 20-example minimum is outside the 50-example landscape's set
    own = across[across.own].set_index("model_examples")
    assert own.loc[50, "log_volume_mean"] == pytest.approx(5.0)
    for figure in (sweep_fixed_landscape_figure(volumes), sweep_across_landscapes_figure(volumes)):
        assert len(figure.axes) >= 2
    with pytest.raises(ConfigError, match="threshold"):
        fixed_landscape(volumes, threshold=0.5)


def test_length_power_laws_recover_exact_exponents():
    from landform.studies.analysis import length_figure, length_power_laws, power_law_fit

    a, b, r2 = power_law_fit([1, 2, 4, 8], [3 * k**0.5 for k in (1, 2, 4, 8)])
    assert (a, b, r2) == (pytest.approx(3.0), pytest.approx(0.5), pytest.approx(1.0))
    table = pd.DataFrame(
        [
            {"K": k, "depth": depth, "seed": seed, "length": (depth + 1) * k ** (0.25 * depth)}
            for k in (1, 2, 4, 8, 16)
            for depth in (1, 2)
            for seed in (0, 1)
        ]
    )
    fits = length_power_laws(table).set_index("depth")
    assert fits.loc[1, "exponent"] == pytest.approx(0.25) and fits.loc[2, "exponent"] == pytest.approx(0.5)
    assert fits.loc[2, "prefactor"] == pytest.approx(3.0) and fits.loc[1, "points"] == 10
    assert len(length_figure(table).axes) == 1
    assert all(pd.isna(v) for v in power_law_fit([1, 1], [2, 3]))


def test_analyse_commands_read_tables_and_write_results(tmp_path):
    from typer.testing import CliRunner

    from landform.cli import app

    runner = CliRunner()
    samples = tmp_path / "samples.csv"
    _sampling_table().to_csv(samples, index=False)
    result = runner.invoke(
        app, ["analyse", "select", str(samples), "--group", "space,K", "--out", str(tmp_path / "chosen.csv")]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "chosen.csv").shape[0] == 2
    result = runner.invoke(
        app, ["analyse", "pivot", str(samples), "--metrics", "test_lppd", "--out", str(tmp_path / "pivots")]
    )
    assert result.exit_code == 0 and (tmp_path / "pivots" / "test_lppd.csv").is_file()
    volumes = tmp_path / "volumes.parquet"
    _volume_table().to_parquet(volumes)
    result = runner.invoke(app, ["analyse", "volume", str(volumes), "--out", str(tmp_path / "analysis")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "analysis" / "figures" / "fixed_landscape.png").is_file()
    assert (tmp_path / "analysis" / "tables" / "across_landscapes.csv").is_file()
    result = runner.invoke(app, ["analyse", "select", str(samples), "--selection", "nothing"])
    assert result.exit_code == 2 and "nothing" in result.output


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[1] / "configs" / "sweeps").glob("*.yaml")), ids=lambda p: p.stem
)
def test_every_shipped_sweep_file_expands_to_valid_runs(path, tmp_path):
    sweep = load_sweep(path, tmp_path / "sweep")
    assert len(sweep.runs) > 1
    assert len({run.id for run in sweep.runs}) == len(sweep.runs)


def test_seeds_of_a_study_with_a_list_of_seeds_give_one_run_each(tmp_path):
    path = Path(__file__).resolve().parents[1] / "configs" / "sweeps" / "tunnel_posteriors.yaml"
    sweep = load_sweep(path, tmp_path / "sweep")
    seeds = sorted({tuple(run.config.seeds) for run in sweep.runs})
    assert seeds == [(10,), (11,), (12,)]
    assert len(sweep.runs) == 3 * 3 * 2 * 3
    assert sorted({tuple(run.config.posterior.temperatures) for run in sweep.runs}) == [(1.0,), (10.0,), (100.0,)]
