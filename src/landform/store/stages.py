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

A finished stage can still be damaged afterwards: a copy of the run folder interrupted, a full
disk, a file system that loses or flips bits. So the marker also lists every file the stage
wrote with its size and SHA-256 (``files``), and the checksum of its own content, and a cached
stage is used only when all of them match (:func:`verify_stage`). A damaged one is reported in
one line through ``log`` (which stage, which file, what is wrong) and recomputed under the same
key, so the stages that read it stay cached. Replacing it keeps the rule that a finished folder
is never changed: the damaged folder is first renamed aside, to a temporary of this process
(``.<name>-<key>.damaged.<pid>@<host>.<random>.tmp``, which :func:`clean_temporaries` removes
once its owner is gone) and deleted, then the stage is computed as if it had never existed.
When several processes find the same damage at once, one rename wins; the others find the
folder gone and compute (or, if a fresh copy has appeared meanwhile, use it). A process that
moved a fresh copy aside by mistake (it had checked the damaged one just before) sees that the
folder it moved is not the one it checked and puts it back.

Markers written before checksums (no ``files``) cannot be checked; their stages are used as they
are, as before (the cached line says "not verified"), rather than recomputing every stage of
every older run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from landform.errors import StageDamagedError
from landform.files import input_hash
from landform.store.claims import hostname, pid_alive
from landform.store.folder import RunFolder

#: The marker file of a finished stage: its name, key, inputs, seconds and summary.
DONE = "_stage.json"

#: Seconds without a write after which a temporary whose owner cannot be checked from this host
#: (it ran on another host, or its name names no owner) counts as abandoned.
FOREIGN_TEMPORARY_AGE = 24 * 3600.0

#: The hash recorded for every file of a finished stage (streamed; about twice as fast as
#: BLAKE2b here, where OpenSSL uses the CPU's SHA instructions).
CHECKSUM = "sha256"

#: The marker's field holding the checksum of the marker's own content (its summary is used as
#: results, so a changed bit there matters as much as one in a file).
MARKER_CHECKSUM = "marker_checksum"

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
    """Run ``compute(folder)`` unless a finished, intact stage with the same inputs exists in
    ``cache``.

    ``inputs`` is any JSON-serialisable value (include the keys of upstream stages). ``compute``
    writes its outputs into the folder it is given; whatever it returns (JSON-serialisable) is
    stored in the stage's marker file as a summary, with the size and checksum of every file
    written. A finished stage whose files do not match its marker is reported through ``log``
    (or, without ``log``, as a :class:`StageDamageWarning`) and recomputed.
    """
    cache = Path(cache)
    key = stage_key(name, inputs)
    final = cache / f"{name}-{key}"
    if (final / DONE).exists():
        identity = _identity(final)
        problem = verify_stage(final)
        if problem is None:
            if log:
                verified = "" if _has_checksums(final) else " (not verified: written before stage checksums)"
                log(f"stage {name} ({key}): cached{verified}")
            return StageResult(name, key, final, True)
        notice = f"stage {name} ({key}) is damaged: {problem}; recomputing it"
        if log:
            log(notice)
        else:
            warnings.warn(notice, StageDamageWarning, stacklevel=2)
        _set_aside(final, identity)
        if (final / DONE).exists() and verify_stage(final) is None:  # another process has recomputed it
            return StageResult(name, key, final, True)
    cache.mkdir(parents=True, exist_ok=True)
    temporary = cache / f".{name}-{key}.{_owner_suffix()}"
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
            "files": file_checksums(temporary),
        }
        marker[MARKER_CHECKSUM] = _marker_digest(marker)
        (temporary / DONE).write_text(json.dumps(marker, indent=2, sort_keys=True, default=str))
        try:
            os.rename(temporary, final)
        except OSError:
            if not (final / DONE).exists():  # a stale, unfinished folder under the final name
                shutil.rmtree(final, ignore_errors=True)
                os.rename(temporary, final)
            elif (problem := verify_stage(final)) is not None:  # the damaged folder could not be moved aside
                raise StageDamagedError(
                    f"the finished stage {final} is damaged ({problem}) and could not be replaced; "
                    "check that this user may rename folders in the cache, remove that folder and run again"
                ) from None
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return StageResult(name, key, final, False)


class StageDamageWarning(UserWarning):
    """A finished stage's files did not match its marker; the stage is recomputed."""


def file_checksums(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Every regular file under ``folder`` except the marker, by its path relative to ``folder``
    (``/``-separated): ``{"size": bytes, "sha256": hex digest}``."""
    folder = Path(folder)
    files = {}
    for root, folders, names in os.walk(folder):
        folders.sort()
        for file_name in sorted(names):
            path = Path(root, file_name)
            relative = path.relative_to(folder).as_posix()
            if relative == DONE or not path.is_file() or path.is_symlink():
                continue
            files[relative] = {"size": path.stat().st_size, CHECKSUM: _digest(path)}
    return files


def verify_stage(folder: str | os.PathLike) -> str | None:
    """What is wrong with the finished stage in ``folder``, in a few words naming the file, or
    None when its marker reads and matches its own checksum, and every file it lists is there
    with its recorded size and checksum (files it does not list are not looked at).

    A marker without ``files`` (written before checksums) passes: there is nothing to check
    against. The checksums of an intact folder are computed once per process and remembered
    with each file's identity and change time (inode, size, mtime, ctime), so a stage used many
    times by one process is read in full only once.
    """
    folder = Path(folder)
    try:
        marker = read_marker(folder)
    except FileNotFoundError:
        return f"{DONE} is missing"
    except (OSError, UnicodeDecodeError, ValueError):
        return f"{DONE} is unreadable"
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(marker, dict) or (files is not None and not isinstance(files, dict)):
        return f"{DONE} is unreadable"
    if files is None:
        return None
    if marker.get(MARKER_CHECKSUM) != _marker_digest(marker) or not all(isinstance(v, dict) for v in files.values()):
        return f"{DONE} does not match its checksum"
    stamps = {}
    for relative, expected in sorted(files.items()):
        path = folder / relative
        try:
            status = path.stat()
        except OSError:
            return f"{relative} is missing"
        if status.st_size != expected.get("size"):
            return f"{relative} has {status.st_size} bytes, its marker says {expected.get('size')}"
        stamps[relative] = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    if _VERIFIED.get(folder) == stamps:
        return None
    for relative, expected in sorted(files.items()):
        try:
            digest = _digest(folder / relative)
        except OSError:
            return f"{relative} is unreadable"
        if digest != expected.get(CHECKSUM):
            return f"{relative} does not match its checksum"
    _VERIFIED[folder] = stamps
    return None


#: The folders this process has checked in full, with the identity of each file when checked.
_VERIFIED: dict[Path, dict[str, tuple[int, ...]]] = {}


def _marker_digest(marker: dict[str, Any]) -> str:
    """The checksum of a marker's own content: of its JSON text (keys sorted, as written and read
    back) without the checksum itself."""
    content = {key: value for key, value in marker.items() if key != MARKER_CHECKSUM}
    text = json.dumps(json.loads(json.dumps(content, default=str)), sort_keys=True)
    return hashlib.new(CHECKSUM, text.encode("utf-8")).hexdigest()


def _digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, CHECKSUM).hexdigest()


def _has_checksums(folder: Path) -> bool:
    try:
        return "files" in read_marker(folder)
    except (OSError, ValueError):
        return False


def _owner_suffix() -> str:
    """The end of a temporary's name that names this process: ``<pid>@<host>.<random>.tmp``."""
    return f"{os.getpid()}@{host_label()}.{uuid.uuid4().hex[:8]}.tmp"


def _identity(folder: Path) -> tuple[Any, ...] | None:
    """What tells one finished folder from another put under the same name: the folder's inode
    and its marker's inode, size and modification time."""
    try:
        status = folder.stat()
    except OSError:
        return None
    try:
        marker = (folder / DONE).stat()
        marker_identity: tuple[int, ...] = (marker.st_ino, marker.st_size, marker.st_mtime_ns)
    except OSError:
        marker_identity = ()
    return (status.st_dev, status.st_ino, *marker_identity)


def _set_aside(final: Path, identity: tuple[Any, ...] | None) -> None:
    """Take the damaged finished folder ``final`` (as it was when ``identity`` was taken) out of
    the cache: rename it to a temporary of this process, then delete it.

    Nothing happens if another process has already taken it away. If what was renamed is not
    the folder that was checked (another process recomputed it in between), it goes back; if
    that fails because yet another copy has appeared meanwhile, it is deleted.
    """
    aside = final.parent / f".{final.name}.damaged.{_owner_suffix()}"
    try:
        os.rename(final, aside)
    except OSError:
        return  # gone already (another process set it aside), or cannot be moved: compute anyway
    _VERIFIED.pop(final, None)
    if _identity(aside) != identity:
        with contextlib.suppress(OSError):
            os.rename(aside, final)
            return
    shutil.rmtree(aside, ignore_errors=True)


def read_marker(folder: str | os.PathLike) -> dict[str, Any]:
    """The marker of the finished stage in ``folder``: ``stage``, ``key``, ``inputs``,
    ``seconds`` and ``summary``; since stage checksums also ``files`` (relative path → size and
    checksum) and ``marker_checksum``."""
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
