"""Deprecated: :func:`with_learned_sigma` moved to :mod:`landform.models.registry`, beside
:func:`landform.models.build` (each calls the other). Import it from :mod:`landform.models`;
the old path works for one release, with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__all__: list[str] = []  # nothing is defined here any more


def __getattr__(name: str) -> Any:
    if name != "with_learned_sigma":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        "landform.models.sigma.with_learned_sigma moved to landform.models.registry; import it from landform.models",
        DeprecationWarning,
        stacklevel=2,
    )
    return importlib.import_module("landform.models.registry").with_learned_sigma
