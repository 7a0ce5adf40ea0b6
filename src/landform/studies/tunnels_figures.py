"""Moved: the tunnel-posterior study's figures are :mod:`landform.studies.tunnels.figures`.

Importing a name from here still works for one release, with a DeprecationWarning.
"""

from __future__ import annotations


def __getattr__(name: str):
    import importlib
    import warnings

    module = importlib.import_module("landform.studies.tunnels.figures")
    if name.startswith("__") or not hasattr(module, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"landform.studies.tunnels_figures.{name} moved to landform.studies.tunnels.figures.{name}; "
        "the old path goes away in the next release.",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(module, name)
