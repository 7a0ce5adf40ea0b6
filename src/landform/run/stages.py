"""Cached, resumable study stages.

A stage is a named computation whose outputs are files in one folder. The folder is keyed by a
hash of the stage's inputs (its configuration and the keys of the stages it reads), so

- a rerun with the same inputs finds the finished folder and skips the work;
- a changed input gets a new key and is recomputed, while unchanged stages stay cached;
- the folder is written under a temporary name and renamed only when the stage has finished,
  so a run killed at any moment (even SIGKILL) never leaves a half-written stage behind.

Several runs may share one cache folder (a sweep over temperatures reuses each trained curve):
if two processes finish the same stage, the first rename wins and the second copy is discarded.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from landform.run.store import RunFolder, input_hash

DONE = "_stage.json"


class StageResult(NamedTuple):
    """Where a stage's outputs are, its key, and whether they came from the cache."""

    name: str
    key: str
    folder: Path
    cached: bool


def stage_key(name: str, inputs: Any) -> str:
    return input_hash({"stage": name, "inputs": inputs})


def run_stage(
    cache: str | os.PathLike,
    name: str,
    inputs: Any,
    compute: Callable[[Path], Any],
    *,
    log: Callable[[str], None] | None = None,
) -> StageResult:
    """Run ``compute(folder)`` unless a finished stage with the same inputs exists in ``cache``.

    ``inputs`` is any JSON-serialisable value (include the keys of upstream stages). ``compute``
    writes its outputs into the folder it is given; whatever it returns (JSON-serialisable) is
    stored in the stage's marker file as a summary.
    """
    cache = Path(cache)
    key = stage_key(name, inputs)
    final = cache / f"{name}-{key}"
    if (final / DONE).exists():
        if log:
            log(f"stage {name} ({key}): cached")
        return StageResult(name, key, final, True)
    cache.mkdir(parents=True, exist_ok=True)
    temporary = cache / f".{name}-{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    temporary.mkdir()
    started = time.perf_counter()
    if log:
        log(f"stage {name} ({key}): running")
    try:
        summary = compute(temporary)
        marker = {"stage": name, "key": key, "inputs": inputs, "seconds": time.perf_counter() - started, "summary": summary}
        (temporary / DONE).write_text(json.dumps(marker, indent=2, sort_keys=True, default=str))
        try:
            os.rename(temporary, final)
        except OSError:
            if not (final / DONE).exists():  # a stale, unfinished folder under the final name
                shutil.rmtree(final, ignore_errors=True)
                os.rename(temporary, final)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return StageResult(name, key, final, False)


def stage_summary(result: StageResult) -> Any:
    return json.loads((result.folder / DONE).read_text()).get("summary")


def clean_temporaries(cache: str | os.PathLike) -> int:
    """Remove folders left by stages that were killed mid-way; returns how many."""
    cache = Path(cache)
    removed = 0
    if cache.exists():
        for path in cache.glob(".*.tmp"):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def open_run(folder: str | os.PathLike, config: Any, cache: str | os.PathLike | None = None) -> tuple[RunFolder, Path]:
    """Start (or resume) a study run: its folder with ``config.json`` written, and its stage
    cache (default ``<folder>/stages``) cleared of temporaries left by killed stages."""
    run_folder = RunFolder(folder)
    cache = Path(cache) if cache is not None else run_folder.path("stages")
    clean_temporaries(cache)
    run_folder.write_json("config.json", config)
    return run_folder, cache
