"""The Dask worker plugin of the sweep executors (imported only where Dask is used)."""

from __future__ import annotations

import re

from distributed.diagnostics.plugin import WorkerPlugin

from landform.run.threads import available_cores, limit_threads, worker_cores


class ThreadLimits(WorkerPlugin):
    """Pin each worker to its share of its host's cores as it joins (see :mod:`landform.run.threads`).

    ``workers``: how many workers share a host's cores. A worker's index is its name when that is
    an integer (a ``LocalCluster``: 0..N-1) or the integer its name ends in (``dask worker
    --nworkers N``: ``<name>-<i>``). Without ``workers`` or an index, or once the worker's JAX
    backend runs, the worker keeps the cores it was started with.
    """

    name = "landform-thread-limits"

    def __init__(self, threads: int = 1, pin: bool = True, workers: int | None = None):
        self.threads = threads
        self.pin = pin
        self.workers = workers

    @staticmethod
    def index(name) -> int | None:
        if isinstance(name, int):
            return name
        match = re.search(r"(\d+)$", str(name))
        return int(match.group(1)) if match else None

    def setup(self, worker) -> None:
        cores = None
        index = self.index(worker.name) if self.pin and self.workers else None
        if index is not None:
            cores = worker_cores(index % self.workers, self.workers, available_cores())
        limit_threads(self.threads, cores=cores)
