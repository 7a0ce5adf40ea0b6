"""Typed errors. Each says what was wrong and what to do next.

The CLI turns any :class:`LandformError` into one readable line and exit status 2.
"""

from __future__ import annotations

from collections.abc import Iterable


class LandformError(Exception):
    """Base class of every error landform raises on purpose."""


class ConfigError(LandformError, ValueError):
    """A configuration value is invalid or inconsistent."""


class UnknownNameError(LandformError, KeyError):
    """A name (dataset, model, loss, optimiser, ...) is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(f"unknown {kind} {name!r}; known {kind}s: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class ShapeError(LandformError, ValueError):
    """Arrays whose shapes do not fit together."""


class DataError(LandformError, ValueError):
    """Data that cannot be used as it is (NaN/inf values, empty sets, bad labels)."""


class DataUnavailableError(LandformError, FileNotFoundError):
    """A dataset's files are neither in the data folder nor downloadable right now."""


class ModelUnavailableError(LandformError, FileNotFoundError):
    """A pretrained model's files are neither in a local folder nor in the local cache, and are
    not to be downloaded now (offline, or downloads not allowed)."""


class TrainingError(LandformError, RuntimeError):
    """Training could not go on (for example the loss became NaN)."""


class NumericalError(LandformError, ArithmeticError):
    """A numerical procedure failed (non-finite values, no convergence)."""


class StageDamagedError(LandformError, OSError):
    """A finished stage in the cache is damaged and could not be replaced by a fresh copy."""


def check_finite(name: str, array) -> None:
    """Raise :class:`DataError` if ``array`` holds NaN or inf values."""
    import numpy as np

    a = np.asarray(array)
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        bad = int(a.size - np.isfinite(a).sum())
        raise DataError(
            f"{name} contains {bad} NaN or infinite value(s) out of {a.size}; "
            "clean or impute the data before building a landscape or training on it"
        )


def moved_names(old_module: str, new_module: str, names: dict[str, str], advice: str):
    """A module ``__getattr__`` for names that moved: ``old_module.name`` warns
    (``DeprecationWarning``: "<old>.<name> moved to <new>.<new name>; <advice>") and returns
    ``new_module``'s ``names[name]``; any other name raises ``AttributeError``."""
    import importlib
    import warnings

    def __getattr__(name: str):
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {old_module!r} has no attribute {name!r}")
        warnings.warn(f"{old_module}.{name} moved to {new_module}.{new}; {advice}", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(new_module), new)

    return __getattr__
