"""Executors: where the runs of a sweep are computed.

- :class:`LocalExecutor` (the default): in this process, one run after another.
- :class:`DaskExecutor` with ``workers=N``: a Dask ``LocalCluster`` on 127.0.0.1 with N worker
  *processes* of one thread each.
- :class:`DaskExecutor` with ``address=...``: an existing Dask cluster, e.g. one started by
  dask-jobqueue on SLURM, or by hand with ``dask scheduler`` and ``dask worker ADDRESS``.

An executor knows nothing about studies: it calls a picklable ``function(item)`` on each item
and hands every result to ``on_result``; a result for which ``should_retry(result)`` is true is
computed again, at most ``retries`` more times. Results never raise: a failure inside the
function is part of its result. An exception *around* the function (a Dask worker that died
and could not be replaced, a lost connection) is turned into a result by ``on_error`` and
retried the same way.

Threads: XLA's CPU client sizes its thread pools from the cores the process may run on (its
CPU affinity), so N worker processes on N cores would each run about N busy threads. Measured
with jaxlib 0.10: ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` no longer changes that (the
same number of threads stay busy), and any change to ``XLA_FLAGS`` also gives the workers a
persistent compilation cache of their own (the flags are part of the cache key); restricting
the process's CPU affinity does bound the pools (one core: one busy thread). So each worker of a
local cluster is *pinned* to its own share of the cores (``sched_setaffinity`` on every thread,
before JAX starts, by the :class:`landform.run.dask_worker.ThreadLimits` plugin), and gets
``OMP/MKL/OPENBLAS_NUM_THREADS`` for NumPy's BLAS. For an external cluster, give each worker
its cores when starting it: ``taskset -c 3 dask worker ...``, or SLURM's ``--cpus-per-task``
(its cgroup sets the affinity), or ``DaskExecutor(address=..., pin=True, workers_per_host=N)``
when every worker's name ends in its index on its host (``dask worker --nworkers N`` names
them ``<name>-0`` ... ``<name>-<N-1>``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from landform.errors import ConfigError, moved_names
from landform.run.threads import (
    worker_environment,
)


class LocalExecutor:
    """Compute in this process, one item after another."""

    name = "local"
    parallel = 1

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def describe(self) -> str:
        return "in this process, one run at a time"

    def map(
        self,
        function: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        retries: int = 0,
        should_retry: Callable[[Any], bool] = lambda result: False,
        on_result: Callable[[Any, Any, int], None] = lambda item, result, attempt: None,
        on_error: Callable[[Any, BaseException], Any] | None = None,
        prepare: Callable[[Any, int], Any] = lambda item, attempt: item,
    ) -> list[Any]:
        results = []
        for item in items:
            for attempt in range(1, retries + 2):
                try:
                    result = function(prepare(item, attempt))
                except Exception as error:  # noqa: BLE001 - functions should not raise; be safe
                    if on_error is None:
                        raise
                    result = on_error(item, error)
                on_result(item, result, attempt)
                if not should_retry(result) or attempt == retries + 1:
                    break
            results.append(result)
        return results


class DaskExecutor:
    """Compute on a Dask cluster: a local one (``workers=N``) or an existing one (``address``)."""

    name = "dask"

    def __init__(
        self,
        *,
        workers: int | None = None,
        address: str | None = None,
        threads_per_worker: int = 1,
        pin: bool | None = None,
        workers_per_host: int | None = None,
        log: Callable[[str], None] = print,
    ):
        if (workers is None) == (address is None):
            raise ConfigError("give either a number of local workers or the address of a Dask scheduler, not both")
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, not {workers}")
        self.workers, self.address, self.threads, self.log = workers, address, threads_per_worker, log
        self.pin = (address is None) if pin is None else pin  # local clusters: pinned; external: as started
        self.workers_per_host = workers if address is None else workers_per_host
        self.cluster = None
        self.client = None

    @property
    def parallel(self) -> int:
        if self.client is None:
            return self.workers or 1
        try:
            return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))
        except Exception:  # noqa: BLE001
            return self.workers or 1

    def describe(self) -> str:
        if self.address:
            return f"the Dask cluster at {self.address}"
        return f"a local Dask cluster of {self.workers} worker process(es), {self.threads} thread(s) each"

    def __enter__(self) -> DaskExecutor:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("the Dask executors need dask and distributed: pip install 'landform[dask]'") from None
        try:
            if self.address is None:
                with (
                    warnings.catch_warnings()
                ):  # "port 8787 is in use": the scheduler's HTTP routes move to another port
                    warnings.filterwarnings("ignore", message=".*already in use.*")
                    self.cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=self.threads,
                        processes=True,
                        host="127.0.0.1",
                        dashboard_address=None,
                        env=worker_environment(self.threads),
                        silence_logs=logging.ERROR,
                    )
                self.client = Client(self.cluster)
            else:
                self.client = Client(self.address, timeout="30s")
        except OSError as e:
            self.__exit__(None, None, None)
            if self.address is None:
                raise ConfigError(f"could not start a local Dask cluster: {e}") from None
            raise ConfigError(
                f"could not reach the Dask scheduler at {self.address}: {e}; is `dask scheduler` running there?"
            ) from None
        from landform.run.dask_worker import ThreadLimits

        plugin = ThreadLimits(self.threads, pin=self.pin, workers=self.workers_per_host)
        try:
            self.client.register_plugin(plugin, name=plugin.name)
        except AttributeError:  # distributed < 2023.9
            self.client.register_worker_plugin(plugin, name=plugin.name)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def map(
        self,
        function: Callable[[Any], Any],
        items: Iterable[Any],
        *,
        retries: int = 0,
        should_retry: Callable[[Any], bool] = lambda result: False,
        on_result: Callable[[Any, Any, int], None] = lambda item, result, attempt: None,
        on_error: Callable[[Any, BaseException], Any] | None = None,
        prepare: Callable[[Any, int], Any] = lambda item, attempt: item,
        key: Callable[[Any], str] = lambda item: str(id(item)),
    ) -> list[Any]:
        from distributed import as_completed

        if self.client is None:
            raise RuntimeError("use the DaskExecutor as a context manager")
        items = list(items)
        final: dict[int, Any] = {}
        pending = {}

        def submit(index: int, attempt: int):
            future = self.client.submit(
                function,
                prepare(items[index], attempt),
                key=f"landform-{key(items[index])}-{attempt}-{os.urandom(4).hex()}",
                pure=False,
                retries=0,
            )
            pending[future] = (index, attempt)
            return future

        completed = as_completed([submit(i, 1) for i in range(len(items))])
        for future in completed:
            index, attempt = pending.pop(future)
            item = items[index]
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 - the worker died, the connection broke, ...
                if on_error is None:
                    raise
                result = on_error(item, error)
            on_result(item, result, attempt)
            if should_retry(result) and attempt <= retries:
                completed.add(submit(index, attempt + 1))
            else:
                final[index] = result
            future.release()
        return [final[i] for i in range(len(items))]


def make_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    *,
    threads_per_worker: int = 1,
    log: Callable[[str], None] = print,
):
    """``local`` (no workers, no scheduler), a local Dask cluster, or an existing one."""
    if workers is not None and scheduler is not None:
        raise ConfigError("give --workers or --scheduler, not both")
    if scheduler is not None:
        return DaskExecutor(address=scheduler, threads_per_worker=threads_per_worker, log=log)
    if workers is not None:
        return DaskExecutor(workers=workers, threads_per_worker=threads_per_worker, log=log)
    return LocalExecutor()


#: Thread and core helpers that moved to :mod:`landform.run.threads` (kept here for one release).
_MOVED = ("available_cores", "jax_started", "limit_threads", "pin_process", "worker_cores")


__getattr__ = moved_names(
    "landform.run.executors", "landform.run.threads", {name: name for name in _MOVED}, "import it from there"
)
