"""Stage caches shared by processes working at the same time (landform.store.stages).

Temporaries are named after their owner (pid and host); cleaning a cache removes only those of
owners that are gone, and two processes computing the same stage at once both finish with the
one folder that won. A finished stage whose files were damaged afterwards (truncated, deleted,
bit-flipped) is reported in one line and recomputed, also when two processes find it at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landform.errors import StageDamagedError
from landform.store import stages
from landform.store.stages import DONE, abandoned, clean_temporaries, host_label, run_stage, stage_key, temporary_owner


def _gone_pid() -> int:
    """The PID of a process that has ended (and been waited for)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _temporary(cache: Path, name: str, *, age: float = 0.0) -> Path:
    path = cache / name
    (path / "inner").mkdir(parents=True)
    (path / "inner" / "part.npy").write_bytes(b"x")
    if age:
        when = time.time() - age
        for entry in (path / "inner" / "part.npy", path / "inner", path):
            os.utime(entry, (when, when))
    return path


def test_temporaries_are_named_after_their_owner(tmp_path):
    seen = {}

    def compute(folder: Path):
        seen["owner"] = temporary_owner(folder)
        seen["name"] = folder.name
        (folder / "out.txt").write_text("1")
        return {"n": 1}

    result = run_stage(tmp_path, "train", {"a": 1}, compute)
    assert seen["owner"] == (os.getpid(), host_label())
    assert seen["name"].startswith(f".train-{result.key}.") and seen["name"].endswith(".tmp")
    assert result.folder == tmp_path / f"train-{result.key}" and (result.folder / DONE).exists()
    assert not list(tmp_path.glob(".*.tmp"))
    assert host_label("node-1.cluster.example.org") == "node-1-cluster-example-org"
    assert host_label("a b/c") == "a-b-c" and len(host_label("x" * 300)) == 64
    assert temporary_owner(".train-abc.123.1a2b3c4d.tmp") is None  # the old form names no host


def test_cleaning_keeps_temporaries_of_live_processes_and_removes_those_of_gone_ones(tmp_path):
    host = host_label()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        gone = _gone_pid()
        live = _temporary(
            tmp_path, f".train-aaa.{sleeper.pid}@{host}.1a2b3c4d.tmp", age=10 * 86400
        )  # old, but its process lives
        mine = _temporary(
            tmp_path, f".train-bbb.{os.getpid()}@{host}.1a2b3c4d.tmp", age=10 * 86400
        )  # this process: maybe another thread's
        dead = _temporary(tmp_path, f".train-ccc.{gone}@{host}.1a2b3c4d.tmp")  # fresh, but its process is gone
        (tmp_path / "train-ddd").mkdir()  # a finished stage is never touched
        (tmp_path / "train-ddd" / DONE).write_text("{}")
        assert not abandoned(live) and not abandoned(mine) and abandoned(dead)
        assert clean_temporaries(tmp_path) == 1
        assert live.is_dir() and mine.is_dir() and not dead.exists()
        assert (tmp_path / "train-ddd" / DONE).exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert clean_temporaries(tmp_path) == 1  # now the sleeper is gone too
    assert not live.exists() and mine.is_dir()


def test_temporaries_of_other_hosts_are_removed_only_when_old(tmp_path):
    pid = os.getpid()  # alive here, but that says nothing about a process on another host
    fresh = _temporary(tmp_path, f".train-aaa.{pid}@another-host.1a2b3c4d.tmp", age=3600)
    old = _temporary(tmp_path, f".train-bbb.{pid}@another-host.1a2b3c4d.tmp", age=2 * 86400)
    legacy_fresh = _temporary(tmp_path, f".train-ccc.{pid}.1a2b3c4d.tmp")  # a name that names no host
    legacy_old = _temporary(tmp_path, f".train-ddd.{_gone_pid()}.1a2b3c4d.tmp", age=2 * 86400)
    written = _temporary(tmp_path, f".train-eee.{pid}@another-host.1a2b3c4d.tmp", age=2 * 86400)
    (written / "inner" / "part.npy").write_bytes(b"still being written")  # an old folder, a new file in it
    assert clean_temporaries(tmp_path) == 2
    assert fresh.is_dir() and legacy_fresh.is_dir() and written.is_dir()
    assert not old.exists() and not legacy_old.exists()
    # the age is configurable
    assert clean_temporaries(tmp_path, older_than=60) == 1  # an hour old now counts
    assert not fresh.exists() and legacy_fresh.is_dir() and written.is_dir()
    assert stages.FOREIGN_TEMPORARY_AGE == 24 * 3600


_RACER = """
import json, os, sys, time
from pathlib import Path
from landform.store.stages import run_stage

cache, signals = sys.argv[1], Path(sys.argv[2])

def compute(folder):
    (folder / "started").write_text(str(os.getpid()))
    time.sleep(2.0)
    (folder / "out.txt").write_text(str(os.getpid()))
    return {"pid": os.getpid()}

(signals / f"ready-{os.getpid()}").touch()
while not (signals / "go").exists():  # start together, once both have imported everything
    time.sleep(0.005)
result = run_stage(cache, "train", {"lr": 0.1}, compute)
print(json.dumps({"folder": str(result.folder), "cached": result.cached, "pid": os.getpid()}))
"""


def _stop(racers) -> None:
    for racer in racers:
        if racer.poll() is None:
            racer.kill()
            racer.wait()


def _ready_racers(script: str, cache, signals) -> list:
    """Two processes running ``script`` on ``cache``, each having written ``ready-*`` to ``signals``
    (or exited, or 60 s passed); killed if waiting fails."""
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(cache), str(signals)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while (
            len(list(signals.glob("ready-*"))) < 2
            and time.monotonic() < deadline
            and all(r.poll() is None for r in racers)
        ):
            time.sleep(0.01)
    except BaseException:
        _stop(racers)
        raise
    return racers


def test_two_processes_computing_the_same_stage_at_once_both_finish_with_one_folder(tmp_path):
    cache, signals = tmp_path / "cache", tmp_path / "signals"
    signals.mkdir()
    racers = _ready_racers(_RACER, cache, signals)
    try:
        (signals / "go").touch()  # both check the cache before either has finished (each computes for 2 s)
        # while both write their temporaries, a run starting on the same cache cleans it: both stay
        deadline = time.monotonic() + 60
        while (
            len(list(cache.glob(".*.tmp/started"))) < 2
            and time.monotonic() < deadline
            and all(r.poll() is None for r in racers)
        ):
            time.sleep(0.01)
        temporaries = list(cache.glob(".*.tmp"))
        assert len(temporaries) == 2, [r.poll() for r in racers]
        assert clean_temporaries(cache) == 0
        assert all(path.is_dir() for path in temporaries)
        outputs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        _stop(racers)
    assert all(racer.returncode == 0 for racer in racers), outputs
    results = [json.loads(out) for out, _ in outputs]
    final = cache / f"train-{stage_key('train', {'lr': 0.1})}"
    assert {r["folder"] for r in results} == {str(final)}
    assert not any(r["cached"] for r in results)  # both computed it ...
    assert sorted(p.name for p in cache.iterdir()) == [
        final.name
    ]  # ... and one finished folder is left, no temporaries
    winner = int((final / "out.txt").read_text())
    assert winner in {r["pid"] for r in results}
    assert json.loads((final / DONE).read_text())["summary"] == {
        "pid": winner
    }  # whole: outputs and marker from the same process
    assert run_stage(cache, "train", {"lr": 0.1}, lambda folder: 1 / 0).cached


# --- finished stages whose files were damaged afterwards -------------------------------------


def _writer(calls: list[int]):
    """A stage that writes a small array file and a file in a subfolder, and counts its runs."""

    def compute(folder: Path):
        calls.append(1)
        (folder / "radii.npz").write_bytes(bytes(range(256)) * 40)
        (folder / "final").mkdir()
        (folder / "final" / "params.msgpack").write_bytes(b"\x01\x02\x03" * 100)
        return {"n": len(calls)}

    return compute


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))


DAMAGES = {
    "truncated": (_truncate, "has 5120 bytes, its marker says 10240"),
    "deleted": (Path.unlink, "is missing"),
    "bit-flipped": (_flip_bit, "does not match its checksum"),
}


def test_the_marker_lists_every_file_with_its_size_and_checksum(tmp_path):
    result = run_stage(tmp_path, "radii", {"a": 1}, _writer([]))
    files = json.loads((result.folder / DONE).read_text())["files"]
    assert set(files) == {"radii.npz", "final/params.msgpack"}
    assert files["radii.npz"]["size"] == 10240
    assert files["radii.npz"][stages.CHECKSUM] == hashlib.sha256(bytes(range(256)) * 40).hexdigest()
    assert stages.verify_stage(result.folder) is None


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_stage_is_reported_in_one_line_and_recomputed(damage, tmp_path):
    calls: list[int] = []
    first = run_stage(tmp_path, "radii", {"a": 1}, _writer(calls))
    intact = (first.folder / "radii.npz").read_bytes()
    assert run_stage(tmp_path, "radii", {"a": 1}, _writer(calls)).cached  # checked in full, remembered
    harm, problem = DAMAGES[damage]
    harm(first.folder / "radii.npz")
    logs: list[str] = []
    again = run_stage(tmp_path, "radii", {"a": 1}, _writer(calls), log=logs.append)
    assert not again.cached and again.folder == first.folder and len(calls) == 2
    assert logs[0] == f"stage radii ({first.key}) is damaged: radii.npz {problem}; recomputing it"
    assert logs[1:] == [f"stage radii ({first.key}): running"]
    assert (again.folder / "radii.npz").read_bytes() == intact
    assert stages.verify_stage(again.folder) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.folder.name]  # nothing left aside
    assert run_stage(tmp_path, "radii", {"a": 1}, _writer(calls)).cached and len(calls) == 2


def test_a_file_in_a_subfolder_and_the_marker_itself_are_checked_too(tmp_path):
    calls: list[int] = []
    result = run_stage(tmp_path, "train", {"a": 1}, _writer(calls))
    _flip_bit(result.folder / "final" / "params.msgpack")
    assert stages.verify_stage(result.folder) == "final/params.msgpack does not match its checksum"
    with pytest.warns(stages.StageDamageWarning, match="final/params.msgpack"):  # no log: a warning
        assert not run_stage(tmp_path, "train", {"a": 1}, _writer(calls)).cached
    # a changed value in the marker that still reads as JSON: its summary is used as a result
    marker = json.loads((result.folder / DONE).read_text())
    (result.folder / DONE).write_text(json.dumps({**marker, "summary": {"n": 7}}))
    assert stages.verify_stage(result.folder) == f"{DONE} does not match its checksum"
    _truncate(result.folder / DONE)
    assert stages.verify_stage(result.folder) == f"{DONE} is unreadable"
    logs: list[str] = []
    assert not run_stage(tmp_path, "train", {"a": 1}, _writer(calls), log=logs.append).cached
    assert "is damaged: _stage.json is unreadable" in logs[0] and len(calls) == 3


def test_a_marker_written_before_checksums_is_used_unverified(tmp_path):
    calls: list[int] = []
    result = run_stage(tmp_path, "radii", {"a": 1}, _writer(calls))
    marker = json.loads((result.folder / DONE).read_text())
    del marker["files"]
    (result.folder / DONE).write_text(json.dumps(marker))
    _truncate(result.folder / "radii.npz")  # nothing to check it against
    logs: list[str] = []
    assert run_stage(tmp_path, "radii", {"a": 1}, _writer(calls), log=logs.append).cached
    assert logs == [f"stage radii ({result.key}): cached (not verified: written before stage checksums)"]
    assert len(calls) == 1


def test_setting_aside_puts_back_a_fresh_copy_it_moved_by_mistake(tmp_path):
    # a process checks the damaged folder, another replaces it with a fresh copy, then the first
    # renames "the damaged folder" aside: it notices the folder is not the one it checked
    result = run_stage(tmp_path, "radii", {"a": 1}, _writer([]))
    checked = stages._identity(result.folder)
    shutil.rmtree(result.folder)
    fresh = run_stage(tmp_path, "radii", {"a": 1}, _writer([]))
    assert stages._identity(fresh.folder) != checked
    stages._set_aside(fresh.folder, checked)
    assert stages.verify_stage(fresh.folder) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.folder.name]
    # the folder that was checked is taken away and deleted
    stages._set_aside(fresh.folder, stages._identity(fresh.folder))
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_stage_that_cannot_be_moved_aside_is_a_typed_error(tmp_path, monkeypatch):
    result = run_stage(tmp_path, "radii", {"a": 1}, _writer([]))
    _truncate(result.folder / "radii.npz")
    monkeypatch.setattr(stages, "_set_aside", lambda final, identity: None)  # e.g. another user's folder
    with pytest.raises(StageDamagedError, match="radii.npz has 5120 bytes"):
        run_stage(tmp_path, "radii", {"a": 1}, _writer([]), log=lambda line: None)
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_abandoned_damaged_folder_set_aside_is_removed_by_the_cleaner(tmp_path):
    aside = _temporary(tmp_path, f".radii-abc.damaged.{_gone_pid()}@{host_label()}.1a2b3c4d.tmp")
    assert temporary_owner(aside)[1] == host_label()
    assert clean_temporaries(tmp_path) == 1 and not aside.exists()


_DAMAGED_RACER = """
import json, os, sys, time
from pathlib import Path
from landform.store.stages import run_stage

cache, signals = sys.argv[1], Path(sys.argv[2])
logs = []

def compute(folder):
    (folder / "started").write_text(str(os.getpid()))
    time.sleep(1.0)
    (folder / "out.txt").write_text("x" * 1000)
    return {"pid": os.getpid()}

(signals / f"ready-{os.getpid()}").touch()
while not (signals / "go").exists():
    time.sleep(0.005)
result = run_stage(cache, "train", {"lr": 0.1}, compute, log=logs.append)
print(json.dumps({"folder": str(result.folder), "cached": result.cached, "logs": logs}))
"""


def test_two_processes_finding_the_same_damage_both_finish_with_one_intact_folder(tmp_path):
    cache, signals = tmp_path / "cache", tmp_path / "signals"
    signals.mkdir()
    result = run_stage(cache, "train", {"lr": 0.1}, lambda folder: (folder / "out.txt").write_text("x" * 1000))
    _flip_bit(result.folder / "out.txt")
    racers = _ready_racers(_DAMAGED_RACER, cache, signals)
    try:
        (signals / "go").touch()
        outputs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        _stop(racers)
    assert all(racer.returncode == 0 for racer in racers), outputs
    results = [json.loads(out) for out, _ in outputs]
    assert {r["folder"] for r in results} == {str(result.folder)}
    assert any("is damaged: out.txt does not match its checksum" in r["logs"][0] for r in results)
    assert sorted(p.name for p in cache.iterdir()) == [result.folder.name]  # nothing aside, no temporaries
    assert stages.verify_stage(result.folder) is None
    assert (result.folder / "out.txt").read_text() == "x" * 1000
