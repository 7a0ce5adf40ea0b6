"""A study run whose cached stages were damaged after they finished (landform.store.stages).

A truncated, deleted or bit-flipped file in a finished stage, in a run's own folder or in a
cache shared between runs, makes the rerun report that stage in one line and recompute exactly
it (its key is unchanged, so the stages that read it stay cached), and the final table equals
the undamaged run's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from landform.studies import run_config_file

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "volume" / "swiss_roll_low_data.yaml"
#: The smallest useful run: two levels, one seed pair, eight rays per minimum.
OVERRIDES = [
    "data.levels=[0, 30]",
    "train.epochs=100",
    "volume.directions=8",
    "volume.bootstrap=10",
    "seeds.model=[0]",
    "seeds.data=[0]",
]


def _run(out: Path, cache: Path | None = None) -> tuple[pd.DataFrame, list[str]]:
    logs: list[str] = []
    report = run_config_file(
        CONFIG, variant="quick", out=out, overrides=OVERRIDES, cache=cache, progress=False, log=logs.append
    )
    return pd.read_parquet(report.parent / "tables" / "volumes.parquet"), logs


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _largest_file(folder: Path) -> Path:
    files = [path for path in folder.rglob("*") if path.is_file() and path.name != "_stage.json"]
    return max(files, key=lambda path: path.stat().st_size)


#: (stage, how to pick its file, damage, what the notice says about the file)
DAMAGES = [
    ("radii", lambda folder: folder / "radii.npz", _truncate, "radii.npz has"),
    ("train", _largest_file, Path.unlink, "is missing"),
    ("data", lambda folder: folder / "data.npz", _flip_bit, "data.npz does not match its checksum"),
]


def _damage_and_rerun(cache: Path, rerun, baseline: pd.DataFrame) -> None:
    for stage, pick, harm, said in DAMAGES:
        folder = sorted(cache.glob(f"{stage}-*"))[-1]
        key = folder.name.split("-", 1)[1]
        harm(pick(folder))
        table, logs = rerun()
        damaged = [line for line in logs if "is damaged" in line]
        assert len(damaged) == 1 and damaged[0].startswith(f"stage {stage} ({key}) is damaged: "), logs
        assert said in damaged[0] and damaged[0].endswith("; recomputing it")
        running = [line for line in logs if re.fullmatch(r"stage \w+ \(\w+\): running", line)]
        assert running == [f"stage {stage} ({key}): running"], logs  # that stage only
        pd.testing.assert_frame_equal(table, baseline)
        assert not list(cache.glob(".*.tmp"))


@pytest.fixture(scope="module")
def undamaged(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """One undamaged run (its folder and table), copied by each test."""
    folder = tmp_path_factory.mktemp("undamaged") / "run"
    return folder, _run(folder)[0]


def test_damaged_stages_of_a_run_are_recomputed_and_the_table_is_unchanged(undamaged, tmp_path):
    # as reported in issue 21: a truncated radii.npz raised zipfile.BadZipFile on the rerun
    folder, baseline = undamaged
    shutil.copytree(folder, tmp_path / "run")
    _damage_and_rerun(tmp_path / "run" / "stages", lambda: _run(tmp_path / "run"), baseline)


def test_damaged_stages_of_a_shared_cache_are_recomputed_and_the_table_is_unchanged(undamaged, tmp_path):
    folder, baseline = undamaged
    cache = tmp_path / "cache"
    shutil.copytree(folder / "stages", cache)
    _damage_and_rerun(cache, lambda: _run(tmp_path / "second", cache), baseline)
    assert not (tmp_path / "second" / "stages").exists()
