"""The minima-volume study (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize: A Loss
Landscape Perspective on Data", arXiv 2511.04808).

For each seed: build nested training sets (base B, ordered pool A, level q = B ∪ A[:q]; with
poisoned, noise or class-imbalanced variants); train one minimum per level (and per "arm", e.g.
AdamW against SAM, or per batch size; optionally keeping checkpoints) from one shared
initialisation; cast random normalised rays from each minimum and find their exit radii in every
nested landscape it lies in; estimate volumes; compute cutoffs and test metrics; draw figures
and write a report.

Stages (each cached by a hash of its inputs under ``<run>/stages`` and resumed on rerun):
``data`` (per data seed) → ``train`` (per seed, level, arm) → ``radii`` (per minimum) →
``measures`` and ``reference`` (per minimum, when the config asks for them) → ``analysis``
(tables, figures, report; always redone, it is cheap).

Outputs: ``tables/volumes.parquet|csv`` with one row per (seed, landscape level, model level,
arm, checkpoint, threshold); ``tables/cutoffs``; ``tables/ranking_stability``; figures (A) the
fixed-landscape volume against training-set size and test loss against volume, (B) each
minimum's volume across landscapes up to its cutoff, histograms of exit radii, ranking
stability (drawn from the tables by :mod:`landform.studies.volume.figures`); ``report.html``.

The package, one module per concept:

- :mod:`~landform.studies.volume.layout`: every stage and file a volume run folder holds, named once;
- :mod:`~landform.studies.volume.config`: the config schema (:class:`Config` and its sections);
- :mod:`~landform.studies.volume.minimum`: the records the stages hand to the tables (:class:`Minimum`);
- :mod:`~landform.studies.volume.stages`: the stages and :func:`run`;
- :mod:`~landform.studies.volume.reference`: the reference basin measure of every minimum
  (tethered annealing, :class:`ReferenceSpec`), its table, notes and figure;
- :mod:`~landform.studies.volume.tables`: the tables and their analysis;
- :mod:`~landform.studies.volume.report`: the report's notes and the diagnostics line;
- :mod:`~landform.studies.volume.figures`: the figures, drawn from the tables;
- :mod:`~landform.studies.volume.runs`: the minima and data of a finished run, read back
  (:func:`read_volume_run`, :func:`find_minimum`, :func:`load_three_minima`, :func:`volume_run_video`);
- :mod:`~landform.studies.volume.view`: a classic view of a minimum from a run folder or a
  checkpoint (:func:`landscape_view`, the ``landform view`` command; :func:`load_view_source`,
  :func:`record_trajectory`).
"""

from __future__ import annotations

from landform.studies import Study
from landform.studies.volume.config import Arm, Config, MeasuresSpec, NestedDataSpec, ReferenceSpec, Seeds, VolumeSpec
from landform.studies.volume.figures import RadiusHistogram, volume_figures
from landform.studies.volume.minimum import Minimum, SeedData
from landform.studies.volume.reference import reference_line, reference_table
from landform.studies.volume.report import HEADLINE_COLUMNS, diagnostics_line, diagnostics_notes, write_volume_report
from landform.studies.volume.runs import (
    RunFolderError,
    SavedMinimum,
    ThreeMinima,
    VolumeRun,
    available_minima,
    default_levels,
    find_minimum,
    load_pool,
    load_three_minima,
    read_volume_run,
    volume_run_video,
)
from landform.studies.volume.stages import build_data, run
from landform.studies.volume.tables import STABILITY_COLUMNS, STATISTICS, MinimumTables, StabilityMember, analyse
from landform.studies.volume.view import (
    VIEW_KINDS,
    Retraining,
    ViewSource,
    landscape_view,
    load_view_source,
    record_trajectory,
    retraining_epochs,
)

STUDY = Study("volume", Config, run)

__all__ = [
    "HEADLINE_COLUMNS",
    "STABILITY_COLUMNS",
    "STATISTICS",
    "STUDY",
    "VIEW_KINDS",
    "Arm",
    "Config",
    "MeasuresSpec",
    "Minimum",
    "MinimumTables",
    "NestedDataSpec",
    "RadiusHistogram",
    "ReferenceSpec",
    "Retraining",
    "RunFolderError",
    "SavedMinimum",
    "SeedData",
    "Seeds",
    "StabilityMember",
    "ThreeMinima",
    "ViewSource",
    "VolumeRun",
    "VolumeSpec",
    "analyse",
    "available_minima",
    "build_data",
    "default_levels",
    "diagnostics_line",
    "diagnostics_notes",
    "find_minimum",
    "landscape_view",
    "load_pool",
    "load_three_minima",
    "load_view_source",
    "read_volume_run",
    "reference_line",
    "reference_table",
    "record_trajectory",
    "retraining_epochs",
    "run",
    "volume_figures",
    "volume_run_video",
    "write_volume_report",
]
