"""Cached, resumable study stages.

A stage is a named computation whose outputs are files in one folder. The folder is keyed by a
hash of the stage's inputs (its configuration and the keys of the stages it reads), so

- a rerun with the same inputs finds the finished folder and skips the work;
- a changed input gets a new key and is recomputed, while unchanged stages stay cached;
- the folder is written under a temporary name and renamed only when the stage has finished,
  so a run killed at any moment (even SIGKILL) never leaves a half-written stage behind.

One cache folder may be shared by runs that work at the same time, in several processes and
on several hosts (over a shared file system): a sweep over temperatures reuses each trained
curve. What makes that safe:

- a stage is written into a temporary folder named after its owner,
  ``.<name>-<key>.<pid>@<host>.<random>.tmp``, that no other process writes to, and appears
  under its final name ``<name>-<key>`` whole, by one rename; finished stages are never changed;
- if two processes compute the same stage at once, the first rename wins, the second copy is
  discarded, and both return the winner's folder;
- :func:`clean_temporaries` (called when a run starts) removes only the temporaries of owners
  that are gone: a process of this host that no longer exists, or, since a process on another
  host cannot be checked from here, a temporary nothing was written to for a day
  (:data:`FOREIGN_TEMPORARY_AGE`). So a run starting never deletes the half-written stage of a
  run computing next to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from landform.files import input_hash
from landform.store.claims import hostname, pid_alive
from landform.store.folder import RunFolder

#: The marker file of a finished stage: its name, key, inputs, seconds and summary.
DONE = "_stage.json"

#: Seconds without a write after which a temporary whose owner cannot be checked from this host
#: (it ran on another host, or its name names no owner) counts as abandoned.
FOREIGN_TEMPORARY_AGE = 24 * 3600.0

#: The owner part at the end of a temporary's name: ``.<pid>@<host>.<random>.tmp``.
_OWNER = re.compile(r"\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9_-]+)\.(?P<random>[0-9a-f]+)\.tmp$")


class StageResult(NamedTuple):
    """Where a stage's outputs are, its key, and whether they came from the cache."""

    name: str
    key: str
    folder: Path
    cached: bool


def stage_key(name: str, inputs: Any) -> str:
    """The hash a stage's folder is named by: of its name, its inputs and, when the inputs name
    models or datasets of the user's own (factories, registered names), the fingerprints of their
    source files (:func:`landform.models.factory.source_fingerprints`), so that editing that code
    recomputes the stage instead of reusing what the old code made."""
    from landform.models.factory import source_fingerprints  # here: the store imports without JAX

    sources = source_fingerprints(inputs)
    if sources:
        return input_hash({"stage": name, "inputs": inputs, "sources": sources})
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
    temporary = cache / f".{name}-{key}.{os.getpid()}@{host_label()}.{uuid.uuid4().hex[:8]}.tmp"
    temporary.mkdir()
    started = time.perf_counter()
    if log:
        log(f"stage {name} ({key}): running")
    try:
        summary = compute(temporary)
        marker = {
            "stage": name,
            "key": key,
            "inputs": inputs,
            "seconds": time.perf_counter() - started,
            "summary": summary,
        }
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


def read_marker(folder: str | os.PathLike) -> dict[str, Any]:
    """The marker of the finished stage in ``folder``: ``stage``, ``key``, ``inputs``,
    ``seconds`` and ``summary``."""
    return json.loads((Path(folder) / DONE).read_text())


def stage_summary(result: StageResult | str | os.PathLike) -> Any:
    """What a stage's ``compute`` returned (kept in its marker)."""
    return read_marker(result.folder if isinstance(result, StageResult) else result).get("summary")


def host_label(host: str | None = None) -> str:
    """This host's name (or ``host``) as it appears in a temporary's name: only letters, digits,
    ``_`` and ``-`` (dots too become ``-``), at most 64 characters."""
    label = re.sub(r"[^A-Za-z0-9_-]", "-", hostname() if host is None else host)[:64]
    return label or "unknown"


def temporary_owner(path: str | os.PathLike) -> tuple[int, str] | None:
    """(pid, host label) of the process that writes the temporary ``path``; None if its name
    does not say (a name of another form, e.g. written by an older version)."""
    match = _OWNER.search(Path(path).name)
    return (int(match.group("pid")), match.group("host")) if match else None


def _last_write(path: Path) -> float | None:
    """The newest modification time of ``path`` and everything under it; None if it is gone."""
    try:
        newest = path.lstat().st_mtime
    except OSError:
        return None
    for root, folders, files in os.walk(path):
        for entry in folders + files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(root, entry)).st_mtime)
    return newest


def abandoned(path: str | os.PathLike, *, older_than: float = FOREIGN_TEMPORARY_AGE) -> bool:
    """Whether the stage temporary ``path`` was left by an owner that is gone (safe to remove).

    A temporary of this host is abandoned when its process no longer exists (never one of this
    process: another thread may be writing it). One of another host, or one whose name names no
    owner, is abandoned when nothing under it was written for ``older_than`` seconds.
    """
    path = Path(path)
    owner = temporary_owner(path)
    if owner is not None and owner[1] == host_label():
        pid = owner[0]
        return pid != os.getpid() and not pid_alive(pid)
    last = _last_write(path)
    return last is not None and time.time() - last > older_than


def clean_temporaries(cache: str | os.PathLike, *, older_than: float = FOREIGN_TEMPORARY_AGE) -> int:
    """Remove the temporaries of stages whose process is gone (killed mid-way); returns how many.

    Temporaries of live processes are kept, so this is safe on a cache that other runs use at
    the same time; see :func:`abandoned` for the rule and ``older_than``.
    """
    cache = Path(cache)
    removed = 0
    if not cache.is_dir():
        return 0
    for path in cache.glob(".*.tmp"):
        if not abandoned(path, older_than=older_than):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        if not os.path.lexists(path):
            removed += 1
    return removed


def open_run(folder: str | os.PathLike, config: Any, cache: str | os.PathLike | None = None) -> tuple[RunFolder, Path]:
    """Start (or resume) a study run: its folder with ``config.json`` written, and its stage
    cache (default ``<folder>/stages``, possibly shared with runs working at the same time)
    cleared of the temporaries left by stages whose process is gone."""
    run_folder = RunFolder(folder)
    cache = Path(cache) if cache is not None else run_folder.path("stages")
    clean_temporaries(cache)
    run_folder.write_json("config.json", config)
    return run_folder, cache
