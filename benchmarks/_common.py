"""Shared timing helpers for the benchmark scripts (each script prints one JSON object)."""

from __future__ import annotations

import os
import platform
import time

import jax
import jax.numpy as jnp


def best_seconds(fn, *, repeats: int = 3) -> float:
    """Best wall time of ``fn()`` (blocked until ready) over ``repeats`` runs after a warm-up."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(size: int = 4096, repeats: int = 5) -> float:
    """GFLOP/s of a jitted float32 size×size matmul: the reference peak for this machine."""
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.float32)
    f = jax.jit(jnp.matmul)
    return 2 * size**3 / best_seconds(lambda: f(a, b), repeats=repeats) / 1e9


def machine() -> dict:
    """Where a benchmark ran: JAX backend, CPU count, architecture and load average (a shared
    machine's numbers are what that run measured)."""
    return {
        "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
