"""Study configuration files: YAML validated by pydantic before any work starts.

A config file names its study and holds the paper's settings; ``variants`` holds overrides for
smaller versions (every study ships a ``quick`` variant that runs on 2 CPU cores in minutes)::

    study: volume
    name: swiss_roll_low_data
    ...                      # the paper's settings
    variants:
      quick:
        train: {epochs: 300}
        directions: 100

Overrides are merged recursively into the base settings (dictionaries merge, everything else is
replaced). ``paper`` is the base itself.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from landform.errors import ConfigError


class Strict(BaseModel):
    """A config section that rejects unknown fields (a misspelt setting is an error, not a no-op)."""

    model_config = ConfigDict(extra="forbid")


class StudyConfig(Strict):
    """The header every study config starts with: which study it configures (each study's
    Config narrows ``study`` to its own name, e.g. ``Literal["volume"]``), the experiment's
    ``name``, the ``variant`` it was resolved to (``paper`` or one of its ``variants``) and a
    free-text ``description`` (shown in the report)."""

    study: str
    name: str
    variant: str = "paper"
    description: str = ""


def merge(base: dict, override: dict) -> dict:
    """Recursive merge: dictionaries merge key by key, other values are replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml_mapping(path: str | Path, what: str, required: str | None, why: str) -> dict:
    """The YAML mapping in ``path`` (a ``what``, e.g. "config file"); :class:`ConfigError` if the
    file is missing, not YAML, or not a mapping (with the key ``required``, unless None; ``why``
    says what the mapping must hold)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict) or (required is not None and required not in raw):
        raise ConfigError(f"{path} must be a mapping with {why}")
    return raw


def read_config_file(path: str | Path) -> dict:
    return read_yaml_mapping(path, "config file", "study", "a 'study' field naming the study it configures")


def resolve_variant(raw: dict, variant: str | None) -> dict:
    """The settings of ``variant`` ("paper" or None: the base; else base merged with the override)."""
    variants = raw.get("variants") or {}
    base = {k: v for k, v in raw.items() if k != "variants"}
    if variant in (None, "paper"):
        return {**base, "variant": "paper"}
    if variant not in variants:
        known = ", ".join(["paper", *variants])
        raise ConfigError(f"config {raw.get('name', '?')!r} has no variant {variant!r}; its variants are: {known}")
    return {**merge(base, variants[variant]), "variant": variant}


def validate(model: type[BaseModel], settings: dict, source: str = "config") -> BaseModel:
    """Validate ``settings`` against ``model``; errors name each field and what was wrong.

    Models and datasets of the user's own named by import path (``factory: module:function``,
    ``dataset: module:function``) are imported now, so a path that does not import fails here,
    before any work, with a :class:`ConfigError` naming the field.
    """
    try:
        validated = model.model_validate(settings)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"{source} is invalid: {problems}") from None
    check_references(settings, source)
    return validated


def check_references(settings: Any, source: str = "config", where: str = "") -> None:
    """Import every ``factory`` and every import-path ``dataset`` named in ``settings``;
    :class:`ConfigError` ("<source>: <field>: <why>") for the first that does not import."""
    from landform.models.factory import resolve
    from landform.plugins import is_import_path

    if isinstance(settings, dict):
        for key, value in settings.items():
            field = f"{where}.{key}" if where else str(key)
            if key == "factory" and isinstance(value, str):
                _resolved(resolve, value, "model factory", source, field)
            elif key == "dataset" and is_import_path(value):
                _resolved(resolve, value, "dataset", source, field)
            else:
                check_references(value, source, field)
    elif isinstance(settings, list):
        for index, value in enumerate(settings):
            check_references(value, source, f"{where}[{index}]")


def _resolved(resolve, reference: str, what: str, source: str, field: str) -> None:
    try:
        resolve(reference, what)
    except ConfigError as error:
        raise ConfigError(f"{source}: {field}: {error}") from None


def get_path(settings: dict, path: str) -> Any:
    """The value at the dotted ``path`` of a nested settings dict; KeyError if it is not there."""
    node: Any = settings
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        node = node[key]
    return node


def set_path(settings: dict, path: str, value: Any) -> None:
    """Set the dotted ``path`` of a nested settings dict in place, creating mappings on the way."""
    keys = path.strip().split(".")
    node = settings
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {path}: {key} is not a mapping but {child!r}")
        node = child
    node[keys[-1]] = value


def apply_overrides(settings: dict, assignments: list[str]) -> dict:
    """Apply ``field.path=value`` assignments (values parsed as YAML) to a copy of ``settings``."""
    out = copy.deepcopy(settings)
    for assignment in assignments:
        if "=" not in assignment:
            raise ConfigError(f"override {assignment!r} must look like field.path=value")
        path, value = assignment.split("=", 1)
        set_path(out, path, yaml.safe_load(value))
    return out


#: One choice of an axis: the (dotted field, value) pairs it sets together.
Choice = tuple[tuple[str, Any], ...]


def expand_axes(base: dict, axes: Sequence[Sequence[Choice]]) -> list[tuple[dict, tuple[Choice, ...]]]:
    """Every combination of one choice per axis, applied to a copy of ``base``.

    An axis is a list of choices; a choice sets one or several fields together (a zipped group).
    Returns (settings, the choices made) per combination, in the order of ``itertools.product``;
    one entry (a copy of ``base``) when there are no axes.
    """
    out = []
    for combination in itertools.product(*axes):
        settings = copy.deepcopy(base)
        for choice in combination:
            for path, value in choice:
                set_path(settings, path, copy.deepcopy(value))
        out.append((settings, combination))
    return out


def expand_grid(base: dict, grid: dict[str, list]) -> list[tuple[dict, dict]]:
    """Every combination of a study's ``grid`` (dotted field → values) applied to a copy of
    ``base``: a list of (settings, labels) with labels = {field: value}; one entry without a grid."""
    axes = [[((path, value),) for value in values] for path, values in grid.items()]
    return [
        (settings, {path: value for choice in choices for path, value in choice})
        for settings, choices in expand_axes(base, axes)
    ]
