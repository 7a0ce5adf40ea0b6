"""The layout of a minima-volume run folder: every stage and every file it holds, named once.

A volume run folder (``landform run`` of a volume config) holds ``config.json`` (the validated
study config), ``report.html``, ``tables/``, ``figures/`` and ``stages/``, with one folder
``<stage>-<key>`` per finished stage, each marked by the stage cache's marker
(:func:`landform.store.read_marker`: its ``inputs`` and ``summary``):

- ``data-<key>/``: :data:`DATA_FILE` (the ordered pool :data:`POOL_X`, :data:`POOL_Y`, base set
  first, then the additions; the test split :data:`TEST_X`, :data:`TEST_Y`) and
  :data:`DATASET_FILE` (the dataset's description); inputs ``{"data": <data spec>, "seed": <data seed>}``;
- ``train-<key>/``: one trained model per checkpoint, :data:`FINAL` and ``epoch<e>``
  (:func:`checkpoint_label`), saved by :func:`landform.train.save_trained`; inputs hold ``size``
  (base + level), ``model_seed``, ``data`` (the key of its data stage), ``model``, ``loss`` and
  ``train`` (the training config);
- ``radii-<key>/``: the exit radii (:func:`landform.volume.save_radii`) and
  :data:`PER_EXAMPLE_FILE` (per-example training losses at the minimum);
- ``measures-<key>/``: :data:`MEASURES_FILE` (landscape size → curvature columns);
- ``reference-<key>/``: :data:`REFERENCE_FILE` (one record per landscape and threshold: the
  tethered-annealing estimate, its error parts and flags), when the config has ``reference:``.

Level q trains on the first base + q examples of the pool. Everything that reads a volume run
(the study itself, :mod:`landform.studies.volume.runs`, :mod:`landform.studies.volume.view`, the
demo, benchmarks) finds its stages and files through this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from landform.store import load_splits, read_marker
from landform.store.stages import DONE

#: The validated study config, written by :func:`landform.store.open_run`.
CONFIG_FILE = "config.json"
#: The stage cache of a run (unless a sweep shares another).
STAGES = "stages"
#: Figures of the run (and views of it, under ``figures/views``).
FIGURES = "figures"

#: The stages, in the order the study runs them.
DATA_STAGE = "data"
TRAIN_STAGE = "train"
RADII_STAGE = "radii"
MEASURES_STAGE = "measures"
REFERENCE_STAGE = "reference"
STAGE_NAMES = (DATA_STAGE, TRAIN_STAGE, RADII_STAGE, MEASURES_STAGE, REFERENCE_STAGE)

#: The data stage's splits: the ordered pool and the test split (arrays ``<split>_x``, ``<split>_y``).
DATA_FILE = "data.npz"
POOL = "pool"
TEST = "test"
POOL_X, POOL_Y = f"{POOL}_x", f"{POOL}_y"
TEST_X, TEST_Y = f"{TEST}_x", f"{TEST}_y"
#: The data stage's description of the dataset and the pool.
DATASET_FILE = "dataset.json"

#: The checkpoint of a train stage that holds the parameters at the end of training.
FINAL = "final"
#: Checkpoints after epoch e are called ``epoch<e>``.
EPOCH_PREFIX = "epoch"

#: The radii stage's per-example training losses at the minimum.
PER_EXAMPLE_FILE = "per_example.npy"
#: The measures stage's curvature columns by landscape size.
MEASURES_FILE = "measures.json"
#: The reference stage's estimates (a JSON list of records).
REFERENCE_FILE = "reference.json"
#: A recorded training trajectory beside a checkpoint's ``theta.npy`` (read by ``landform view --kind pca``).
TRAJECTORY_FILE = "trajectory.npz"


def checkpoint_label(epoch: int) -> str:
    """The folder of the checkpoint after ``epoch`` in a train stage: ``epoch<e>``."""
    return f"{EPOCH_PREFIX}{epoch}"


def checkpoint_epoch(label: str) -> int | None:
    """The epoch of a checkpoint label ``epoch<e>``; ``None`` for :data:`FINAL`."""
    return int(label[len(EPOCH_PREFIX) :]) if label.startswith(EPOCH_PREFIX) else None


def stages_folder(run: str | os.PathLike) -> Path:
    """The stage cache inside run folder ``run``."""
    return Path(run) / STAGES


def stage_folder(stages: str | os.PathLike, stage: str, key: str) -> Path:
    """The folder of the ``stage`` with ``key`` in the stage cache ``stages``."""
    return Path(stages) / f"{stage}-{key}"


def stage_folders(stages: str | os.PathLike, stage: str) -> list[Path]:
    """The folders of every ``stage`` in the stage cache ``stages`` (finished or not), sorted."""
    stages = Path(stages)
    return sorted(stages.glob(f"{stage}-*")) if stages.is_dir() else []


def is_finished(folder: str | os.PathLike) -> bool:
    """Whether the stage in ``folder`` carries its marker (it finished)."""
    return (Path(folder) / DONE).exists()


def marker(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The marker of the finished stage in ``folder``, or ``None`` when it is missing, unreadable
    or not a mapping."""
    try:
        found = read_marker(folder)
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def finished_at(folder: str | os.PathLike) -> float:
    """When the stage in ``folder`` finished (its marker's modification time)."""
    return (Path(folder) / DONE).stat().st_mtime


def finished_stages(stages: str | os.PathLike, stage: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(folder, marker) of every finished ``stage`` in the stage cache ``stages``, sorted by folder."""
    for folder in stage_folders(stages, stage):
        found = marker(folder)
        if found is not None:
            yield folder, found


def train_stage_of(checkpoint: str | os.PathLike) -> Path:
    """The train stage that holds checkpoint folder ``checkpoint``."""
    return Path(checkpoint).parent


def data_file(data_stage: str | os.PathLike) -> Path:
    """The splits file of a data stage."""
    return Path(data_stage) / DATA_FILE


def load_stage_splits(data_stage: str | os.PathLike) -> dict:
    """The splits of a data stage (``pool`` and ``test``), as :class:`landform.data.Split` by name."""
    return load_splits(data_file(data_stage))


__all__ = [
    "CONFIG_FILE",
    "DATASET_FILE",
    "DATA_FILE",
    "DATA_STAGE",
    "EPOCH_PREFIX",
    "FIGURES",
    "FINAL",
    "MEASURES_FILE",
    "MEASURES_STAGE",
    "PER_EXAMPLE_FILE",
    "POOL",
    "POOL_X",
    "POOL_Y",
    "RADII_STAGE",
    "REFERENCE_FILE",
    "REFERENCE_STAGE",
    "STAGES",
    "STAGE_NAMES",
    "TEST",
    "TEST_X",
    "TEST_Y",
    "TRAIN_STAGE",
    "TRAJECTORY_FILE",
    "checkpoint_epoch",
    "checkpoint_label",
    "data_file",
    "finished_at",
    "finished_stages",
    "is_finished",
    "load_stage_splits",
    "marker",
    "stage_folder",
    "stage_folders",
    "stages_folder",
    "train_stage_of",
]
