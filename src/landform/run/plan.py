"""The plan of a sweep: its file, its grid expanded to runs with readable IDs, its manifest.

A sweep file (YAML) names a study config, a variant, fixed overrides and a grid::

    name: thresholds                  # default: the file's name
    config: ../configs/volume/swiss_roll_low_data.yaml   # relative to this file
    variant: quick
    set:                              # fixed overrides for every run (dotted field paths)
      volume.directions: 8
    grid:                             # cartesian product over these fields
      volume.thresholds: [0.05, 0.1]  # a scalar given for a list field becomes [scalar]
      train.learning_rate: [0.001, 0.01]
    zip:                              # groups of fields that vary together
      - {train.epochs: [50, 100], train.eval_every: [25, 50]}
    seeds: [0, 1, 2]                  # shorthand: every seed field set to [s] (or s)
    retries: 1                        # extra attempts for a run that failed
    folder: ../runs/sweeps/thresholds # default: runs/sweeps/<name> under the current folder

The grid expands to runs (grid fields × zipped groups × seeds) with readable, stable IDs made
of the varied fields, e.g. ``volume.thresholds=0.05__train.learning_rate=0.001__seed=0``
(names that would need unsafe characters, or grow past 120 characters, get a short slug and
a hash). Every run's configuration is validated before any run starts: a bad value fails at
once with the run's ID and the field.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from landform.errors import ConfigError
from landform.files import atomic_write_text, input_hash
from landform.run.tracking import TrackSettings
from landform.studies import get_study
from landform.studies.config import (
    expand_axes,
    get_path,
    read_config_file,
    read_yaml_mapping,
    resolve_variant,
    set_path,
    validate,
)

#: The expanded sweep, written into the sweep folder.
MANIFEST = "sweep.json"


# ============================================================================ the sweep file


class SeedSpec(BaseModel):
    """Seeds: each value is one run; ``fields`` are set to it (default: the study's seed fields)."""

    model_config = ConfigDict(extra="forbid")

    values: list[int] = Field(min_length=1)
    fields: list[str] | None = Field(
        None, description="dotted config fields set to each seed; default: every field under `seeds`, else `seed`"
    )
    column: str = Field("seed", description="the name of the seed's column in collected tables and run IDs")


class SweepFile(BaseModel):
    """The schema of a sweep file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = None
    description: str = ""
    config: str = Field(description="the study config file, relative to the sweep file")
    variant: str | None = Field(None, description="the config's variant ('paper' when left out)")
    set: dict[str, Any] = Field(default_factory=dict, description="fixed overrides for every run")
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    zip_groups: list[dict[str, list[Any]]] = Field(default_factory=list, alias="zip")
    seeds: list[int] | SeedSpec | None = None
    retries: int = Field(1, ge=0, description="extra attempts for a run that failed")
    folder: str | None = Field(None, description="the sweep folder, relative to the sweep file")
    track: TrackSettings | None = None

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in value.items():
            if not values:
                raise ValueError(f"grid field {name!r} has no values")
        return value

    @field_validator("zip_groups")
    @classmethod
    def _zip(cls, value: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
        for group in value:
            lengths = {name: len(values) for name, values in group.items()}
            if not group or len(set(lengths.values())) != 1 or 0 in lengths.values():
                raise ValueError(
                    "the fields of a zip group vary together and need equally many values (at least one); "
                    f"got {lengths}"
                )
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", value):
            raise ValueError("a sweep name may hold letters, digits, '_', '.' and '-'")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> SweepFile:
        fields = list(self.grid) + [name for group in self.zip_groups for name in group]
        repeated = sorted({f for f in fields if fields.count(f) > 1})
        if repeated:
            raise ValueError(f"field(s) {', '.join(repeated)} vary in more than one place of the grid")
        fixed = sorted(set(fields) & set(self.set))
        if fixed:
            raise ValueError(f"field(s) {', '.join(fixed)} are both fixed (set) and varied (grid/zip)")
        return self

    @property
    def seed_spec(self) -> SeedSpec | None:
        if self.seeds is None or isinstance(self.seeds, SeedSpec):
            return self.seeds
        return SeedSpec(values=self.seeds)


def read_sweep_file(path: str | Path) -> SweepFile:
    raw = read_yaml_mapping(path, "sweep file", None, "at least a 'config' field naming the study config file")
    return validate(SweepFile, raw, source=f"sweep file {Path(path)}")


# ============================================================================ expansion


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its ID, the values it sets, and its validated configuration."""

    id: str
    assignments: dict[str, Any]  # dotted field -> value, as set in the config
    columns: dict[str, Any]  # column name -> scalar value for collected tables
    settings: dict  # the full settings (validated)
    config_hash: str
    config: Any = field(repr=False, compare=False, default=None)


def format_value(value: Any) -> str:
    """A short text for a value in a run ID (lists joined by commas)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+\-]")


def run_id(parts: list[tuple[str, Any]]) -> str:
    """A readable, stable ID: ``field=value`` parts joined by ``__``, sanitised for file names.

    If sanitising changed anything (or the ID is longer than 120 characters) a hash of the
    exact values is appended so that distinct runs keep distinct IDs.
    """
    if not parts:
        return "base"
    readable = "__".join(f"{name}={format_value(value)}" for name, value in parts)
    safe = _UNSAFE.sub("-", readable)
    if safe != readable or len(safe) > 120:
        digest = hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:8]
        safe = f"{safe[:100].rstrip('-_')}~{digest}"
    return safe


def column_value(value: Any) -> Any:
    """A scalar for a table column: numbers, text and booleans as they are, others as JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _seed_fields(spec: SeedSpec, base: dict) -> list[str]:
    if spec.fields:
        return spec.fields
    seeds = base.get("seeds")
    if isinstance(seeds, dict) and seeds:
        return [f"seeds.{key}" for key, value in seeds.items() if isinstance(value, (int, list))]
    if isinstance(seeds, list):
        return ["seeds"]  # a list of seeds (paths and tunnels studies): one per run
    if "seed" in base:
        return ["seed"]
    if isinstance(base.get("train"), dict) and "seed" in base["train"]:
        return ["train.seed"]
    raise ConfigError(
        "the sweep gives seeds but the study config has no `seeds` or `seed` field; "
        "say which fields they set: seeds: {values: [...], fields: [...]}"
    )


def _as_config_value(path: str, value: Any, base: dict) -> Any:
    """Wrap a scalar in a list where the config's field holds a list."""
    try:
        current = get_path(base, path)
    except KeyError:
        return value
    if isinstance(current, list) and not isinstance(value, list):
        return [value]
    return value


@dataclass
class Sweep:
    """A loaded, expanded and validated sweep."""

    file: Path
    spec: SweepFile
    name: str
    study: str
    config_file: Path
    variant: str | None
    folder: Path
    runs: list[RunSpec]

    @classmethod
    def load(cls, path: str | Path, folder: str | Path | None = None) -> Sweep:
        """Read the sweep file, expand its grid and validate every run's configuration."""
        path = Path(path).resolve()
        spec = read_sweep_file(path)
        name = spec.name or re.sub(r"[^A-Za-z0-9_.\-]", "-", path.stem)
        config_file = (path.parent / spec.config).resolve()
        raw = read_config_file(config_file)
        study_name = raw["study"]
        study = get_study(study_name)
        base = copy.deepcopy(resolve_variant(raw, spec.variant))
        try:  # the variant's validated settings tell which fields hold lists (defaults included)
            reference = validate(study.Config, base, source=f"config {config_file}").model_dump(mode="json")
        except ConfigError:
            reference = base  # the sweep may be what makes it valid: look values up in the raw settings
        for key, value in spec.set.items():
            set_path(base, key, _as_config_value(key, value, reference))

        axes: list[
            list[list[tuple[str, str, Any, Any]]]
        ] = []  # axis -> choices -> (field, column, config value, column value)
        for key, values in spec.grid.items():
            axes.append([[(key, key, _as_config_value(key, v, reference), v)] for v in values])
        for group in spec.zip_groups:
            keys = list(group)
            axes.append(
                [
                    [(k, k, _as_config_value(k, group[k][i], reference), group[k][i]) for k in keys]
                    for i in range(len(group[keys[0]]))
                ]
            )
        seeds = spec.seed_spec
        if seeds is not None:
            fields = _seed_fields(seeds, reference)
            varied = set(spec.grid) | {k for g in spec.zip_groups for k in g} | set(spec.set)
            clash = sorted(set(fields) & varied)
            if clash:
                raise ConfigError(f"sweep {name}: the seeds set {', '.join(clash)}, which the grid or `set` sets too")
            axes.append(
                [
                    [
                        (f, seeds.column if i == 0 else None, _as_config_value(f, s, reference), s)
                        for i, f in enumerate(fields)
                    ]
                    for s in seeds.values
                ]
            )

        folder_path = (
            Path(folder)
            if folder is not None
            else (path.parent / spec.folder if spec.folder else Path("runs") / "sweeps" / name)
        )
        runs: list[RunSpec] = []
        seen: dict[str, int] = {}
        assignment_axes = [[tuple((key, value) for key, _, value, _ in choice) for choice in axis] for axis in axes]
        combinations = itertools.product(*axes)  # the same order as expand_axes: the shown values
        for (settings, _), choice in zip(expand_axes(base, assignment_axes), combinations):
            assignments: dict[str, Any] = {}
            columns: dict[str, Any] = {}
            parts: list[tuple[str, Any]] = []
            for group in choice:
                for key, column, config_value, shown in group:
                    assignments[key] = config_value
                    if column is not None:
                        columns[column] = column_value(shown)
                        parts.append((column, shown))
            identifier = run_id(parts)
            if identifier in seen:
                raise ConfigError(
                    f"sweep {name}: two runs would have the ID {identifier!r}; are there repeated values in the grid?"
                )
            seen[identifier] = len(runs)
            config = validate(study.Config, settings, source=f"sweep {name}, run {identifier!r}")
            dumped = config.model_dump(mode="json")
            runs.append(RunSpec(identifier, assignments, columns, settings, input_hash(dumped), config))
        return cls(path, spec, name, study_name, config_file, spec.variant, folder_path.resolve(), runs)

    # -- folders
    @property
    def runs_folder(self) -> Path:
        return self.folder / "runs"

    @property
    def cache_folder(self) -> Path:
        return self.folder / "cache"

    def run_folder(self, run: RunSpec | str) -> Path:
        return self.runs_folder / (run if isinstance(run, str) else run.id)

    @property
    def columns(self) -> list[str]:
        names: list[str] = []
        for run in self.runs:
            for column in run.columns:
                if column not in names:
                    names.append(column)
        return names

    def manifest(self) -> dict:
        return {
            "name": self.name,
            "study": self.study,
            "sweep_file": str(self.file),
            "config_file": str(self.config_file),
            "variant": self.variant,
            "description": self.spec.description,
            "sweep": self.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            "sweep_text": self.file.read_text() if self.file.is_file() else "",
            "columns": self.columns,
            "seed_column": self.spec.seed_spec.column if self.spec.seed_spec else None,
            "runs": [
                {"id": r.id, "columns": r.columns, "assignments": r.assignments, "config_hash": r.config_hash}
                for r in self.runs
            ],
        }

    def write_manifest(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(
            self.folder / MANIFEST, json.dumps(self.manifest(), indent=2, sort_keys=False, default=str)
        )


def load_sweep(path: str | Path, folder: str | Path | None = None) -> Sweep:
    return Sweep.load(path, folder)


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"{folder} is not a sweep folder (no {MANIFEST}); "
            "run `landform sweep run` or `landform sweep collect` on its sweep file first"
        )
    return json.loads(path.read_text())
