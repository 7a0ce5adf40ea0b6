"""Running work: the run folder and its artifacts, reports."""

from landform.run.report import Figure, write_report
from landform.run.store import RunFolder, atomic_write_bytes, atomic_write_text, input_hash

__all__ = ["Figure", "RunFolder", "atomic_write_bytes", "atomic_write_text", "input_hash", "write_report"]
