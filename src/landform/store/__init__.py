"""The I/O the studies stand on: run folders, the stage cache, claims and reports.

- :mod:`landform.store.folder`: :class:`RunFolder` (tables, figures, JSON, written atomically)
  and saved data splits;
- :mod:`landform.store.stages`: cached, resumable stages keyed by a hash of their inputs, safe
  to share between processes and hosts, checked against their files' checksums when reused;
- :mod:`landform.store.claims`: which process works on a run now (heartbeats, stale claims);
- :mod:`landform.store.report`: one self-contained HTML report per run.
"""

from landform.store.folder import RunFolder, load_splits, save_splits
from landform.store.report import Figure, write_report
from landform.store.stages import StageResult, open_run, read_marker, run_stage, stage_summary, verify_stage

__all__ = [
    "Figure",
    "RunFolder",
    "StageResult",
    "load_splits",
    "open_run",
    "read_marker",
    "run_stage",
    "save_splits",
    "stage_summary",
    "verify_stage",
    "write_report",
]
