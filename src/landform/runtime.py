"""Process-wide JAX settings that landform's entry points (CLI, tests) switch on.

Library functions never change global state on import; :func:`enable_compilation_cache` is
called by the command line and the test suite.
"""

from __future__ import annotations

import os
from pathlib import Path


def compilation_cache_dir() -> Path:
    """``LANDFORM_JAX_CACHE`` if set, else ``~/.cache/landform/jax``."""
    configured = os.environ.get("LANDFORM_JAX_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "landform" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None, min_compile_seconds: float = 0.2) -> Path | None:
    """Keep compiled XLA programs on disk so that identical computations compile once.

    Studies build many landscapes of the same shapes (one per minimum, per seed); with the data
    passed as arguments their programs are identical, and the cache turns each recompilation
    into a lookup, within a run and across runs. ``LANDFORM_JAX_CACHE=off`` disables it.
    """
    if os.environ.get("LANDFORM_JAX_CACHE", "").lower() in ("off", "0", "none"):
        return None
    import jax

    folder = Path(path) if path is not None else compilation_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: run without the cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
