"""Threads and cores of worker processes: how many BLAS threads a worker gets and which cores it
is pinned to (see :mod:`landform.run.executors` for why). Both the executors and the Dask worker
plugin (:mod:`landform.run.dask_worker`) use these, so they live below both.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def worker_environment(threads: int = 1) -> dict[str, str]:
    """Environment variables for a worker process that should use about ``threads`` cores."""
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env["LANDFORM_PROGRESS"] = "0"
    return env


def available_cores() -> list[int]:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def worker_cores(index: int, workers: int, cores: Sequence[int] | None = None) -> list[int]:
    """The cores of worker ``index`` of ``workers`` sharing ``cores``: disjoint, contiguous shares.

    Each worker gets ``len(cores) // workers`` cores (its XLA thread pools use them all); with
    more workers than cores, worker i gets core ``i mod len(cores)``.
    """
    cores = list(cores if cores is not None else available_cores())
    if workers <= len(cores):
        share = len(cores) // workers
        return cores[index * share : (index + 1) * share]
    return [cores[index % len(cores)]]


def jax_started() -> bool:
    """Whether JAX has created its backends in this process (then thread limits come too late)."""
    import sys

    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # noqa: BLE001 - private API moved: assume started
        return True


def pin_process(cores: Sequence[int]) -> bool:
    """Restrict every thread of this process (and the threads they start) to ``cores`` (Linux)."""
    if not hasattr(os, "sched_setaffinity") or not cores:
        return False
    mask = set(cores)
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    done = False
    for thread in threads:
        try:
            os.sched_setaffinity(thread, mask)
            done = True
        except OSError:
            pass
    return done


def limit_threads(threads: int = 1, *, cores: Sequence[int] | None = None) -> bool:
    """Set :func:`worker_environment` and pin this process to ``cores`` if JAX has not started yet.

    Returns whether the limits could still take effect (False once JAX's backend is running:
    then nothing is changed, and the worker uses the cores it was started with).
    """
    if jax_started():
        return False
    os.environ.update(worker_environment(threads))
    if cores:
        pin_process(cores)
    return True
