"""Test-suite settings: datasets from LANDFORM_DATA (or ../shared/datasets beside the repo),
a persistent XLA compilation cache shared by the test workers, and no progress bars."""

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_SHARED = _REPO.parent / "shared" / "datasets"
if "LANDFORM_DATA" not in os.environ and _SHARED.is_dir():
    os.environ["LANDFORM_DATA"] = str(_SHARED)
os.environ.setdefault("LANDFORM_PROGRESS", "0")
os.environ.setdefault("LANDFORM_JAX_CACHE", str(_REPO / ".pytest_cache" / "jax"))

from landform.runtime import enable_compilation_cache  # noqa: E402

enable_compilation_cache()
