"""The run folder: where a run's tables, figures, models and report are written.

Every file is written atomically (a temporary name in the same folder, then ``os.replace``), so
a run killed at any moment leaves either the old file or the new one, never half of one. Stage
outputs are keyed by a hash of their inputs (:func:`input_hash`) so that a rerun can tell which
stages are already finished.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def input_hash(value: Any, length: int = 12) -> str:
    """A short stable hash of a JSON-serialisable value (dict keys sorted)."""
    blob = json.dumps(value, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:length]


def save_splits(path: str | os.PathLike, splits: dict) -> Path:
    """Save named :class:`landform.data.Split` objects into one ``.npz`` file, atomically."""
    import numpy as np

    arrays = {}
    for name, split in splits.items():
        arrays[f"{name}_x"], arrays[f"{name}_y"] = split.x, split.y
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def load_splits(path: str | os.PathLike) -> dict:
    """The splits saved by :func:`save_splits`, by name."""
    import numpy as np

    from landform.data.base import Split

    with np.load(path) as data:
        names = sorted({k.rsplit("_", 1)[0] for k in data.files})
        return {name: Split(data[f"{name}_x"], data[f"{name}_y"]) for name in names}


class RunFolder:
    """A folder holding one run's outputs: ``tables/``, ``figures/``, ``models/``, ``report.html``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def write_json(self, name: str, value: Any) -> Path:
        return atomic_write_text(self.path(name), json.dumps(value, indent=2, sort_keys=True, default=str))

    def read_json(self, name: str) -> Any:
        return json.loads(self.path(name).read_text())

    def write_table(self, name: str, table: pd.DataFrame) -> tuple[Path, Path]:
        """Write a tidy table as ``tables/<name>.parquet`` and ``tables/<name>.csv``."""
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        parquet = atomic_write_bytes(self.path("tables", f"{name}.parquet"), buffer.getvalue())
        csv = atomic_write_text(self.path("tables", f"{name}.csv"), table.to_csv(index=False))
        return parquet, csv

    def read_table(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.path("tables", f"{name}.parquet"))

    def save_figure(self, name: str, figure) -> Path:
        """Save a matplotlib figure as ``figures/<name>.png`` (and close it)."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        plt.close(figure)
        return atomic_write_bytes(self.path("figures", f"{name}.png"), buffer.getvalue())
