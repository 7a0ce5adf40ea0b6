"""The run folder: where a run's tables, figures, models and report are written.

Every file is written atomically (:mod:`landform.files`), so a run killed at any moment leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from landform.files import atomic_write_bytes, atomic_write_text


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
