"""Studies: one module per experiment family, each a :class:`Study`.

A study is a config schema (a pydantic model validated before any work starts) and a ``run``
function that executes its stages into a run folder and returns the path of its HTML report.
Stages are cached by a hash of their inputs (:mod:`landform.store.stages`), so a rerun skips
finished work and a killed run resumes.

The contract :class:`StudyRun` is what the sweep machinery (:mod:`landform.run`) relies on:
``cache`` may name a stage cache that other runs, in other processes or on other hosts, use at
the same time (:mod:`landform.store.stages` makes that safe), and ``progress`` may be a
reporter that forwards step metrics to tracking sinks.

:func:`run_config_file` is what ``landform run FILE`` calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from landform.errors import UnknownNameError
from landform.studies.config import apply_overrides, read_config_file, resolve_variant, validate


class StudyRun(Protocol):
    """``run(config, folder, *, cache, progress, log) -> report path`` of a study.

    ``config``: the study's validated Config; ``folder``: the run folder (created);
    ``cache``: the stage cache (None: ``<folder>/stages``), possibly shared with runs working
    at the same time; ``progress``: True/False or a reporter (:mod:`landform.progress`);
    ``log``: where one-line messages go.
    """

    def __call__(
        self,
        config: Any,
        folder: str | Path,
        *,
        cache: str | Path | None = None,
        progress: Any = True,
        log: Callable[[str], None] = print,
    ) -> Path: ...


@dataclass(frozen=True)
class Study:
    """A study: its name (the ``study:`` field of its config files), its Config and its run."""

    name: str
    Config: type[BaseModel]
    run: StudyRun


#: study name -> the module that defines it (as ``STUDY``); imported on first use.
STUDIES: dict[str, str] = {
    "volume": "landform.studies.volume",
    "paths": "landform.studies.paths",
    "tunnels": "landform.studies.tunnels",
    "basin": "landform.studies.basin",
}


def get_study(name: str) -> Study:
    """The study called ``name``; :class:`UnknownNameError` lists the known ones."""
    if name not in STUDIES:
        raise UnknownNameError("study", name, STUDIES)
    return importlib.import_module(STUDIES[name]).STUDY


def load_config(path: str | Path, variant: str | None = None, overrides: list[str] | None = None) -> tuple[Study, Any]:
    """Read, pick the variant, apply ``field=value`` overrides and validate a config file."""
    raw = read_config_file(path)
    study = get_study(raw["study"])
    settings = apply_overrides(resolve_variant(raw, variant), overrides or [])
    return study, validate(study.Config, settings, source=str(path))


def default_folder(config: Any) -> Path:
    """Where a run goes when no folder is given: ``runs/<name>-<variant>``."""
    return Path("runs") / f"{config.name}-{config.variant}"


def run_config_file(
    path: str | Path,
    *,
    variant: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run a study from its config file into ``out`` (default ``runs/<name>-<variant>``).

    ``cache`` is the folder of cached stages (default: ``<out>/stages``); give several runs the
    same one to reuse stages between them (a curve trained by the paths study, say, is reused by
    the tunnel-sampling study when the settings agree).
    """
    study, config = load_config(path, variant, overrides)
    folder = Path(out) if out is not None else default_folder(config)
    return study.run(config, folder, cache=cache, progress=progress, log=log)
