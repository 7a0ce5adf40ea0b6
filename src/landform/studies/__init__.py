"""Studies: one module per study, each with a pydantic ``Config`` and a ``run`` function.

``run(config, folder, *, progress, log) -> Path`` executes the study's stages (cached and
resumable, see :mod:`landform.run.stages`) into a run folder and returns its HTML report.
:func:`run_config_file` is what ``landform run FILE`` calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from landform.errors import UnknownNameError
from landform.studies.config import apply_overrides, read_config_file, resolve_variant, validate

# study name -> module; each module defines ``Config`` and ``run``.
STUDIES: dict[str, str] = {
    "volume": "landform.studies.volume",
    "paths": "landform.studies.paths",
    "tunnels": "landform.studies.tunnels",
}


def get_study(name: str) -> ModuleType:
    if name not in STUDIES:
        raise UnknownNameError("study", name, STUDIES)
    return importlib.import_module(STUDIES[name])


def load_config(path: str | Path, variant: str | None = None, overrides: list[str] | None = None):
    """Read, pick the variant, apply ``field=value`` overrides and validate a config file."""
    raw = read_config_file(path)
    study = get_study(raw["study"])
    settings = apply_overrides(resolve_variant(raw, variant), overrides or [])
    return study, validate(study.Config, settings, source=str(path))


def default_folder(config) -> Path:
    return Path("runs") / f"{config.name}-{config.variant}"


def run_config_file(
    path: str | Path,
    *,
    variant: str | None = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    cache: str | Path | None = None,
    progress=True,
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
