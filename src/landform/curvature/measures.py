"""The curvature measures of one minimum as a flat record (one value per column).

:func:`measure` runs the measures asked for and returns ``{column: value}``, the columns the
volume study adds to its table and ``landform curvature`` prints:

- ``top_eigenvalue``, ``top_eigenvalue_error`` (Lanczos residual);
- ``trace``, ``trace_error``, ``trace_of_square``, ``trace_of_square_error`` (Hutchinson);
- ``average_sharpness``, ``average_sharpness_error`` (Monte Carlo);
- ``adaptive_sharpness`` (worst case, elementwise scaling);
- ``llc``, ``llc_error``, ``llc_flagged`` (1.0 when a diagnostic fired).

Each measure takes ``True`` (its defaults), a dict of options for its function, or ``None`` /
``False`` (skipped). Measure i draws its randomness from ``fold_in(key, i)``.
"""

from __future__ import annotations

from typing import Any

import jax

from landform.curvature import sharpness
from landform.curvature.llc import local_learning_coefficient
from landform.curvature.operator import as_key, curvature_operator
from landform.curvature.spectrum import top_eigenvalues
from landform.curvature.traces import hutchinson
from landform.errors import ConfigError
from landform.landscape import Landscape

MEASURE_NAMES = ("top_eigenvalue", "trace", "average_sharpness", "adaptive_sharpness", "llc")

#: Defaults used when a measure is given as ``True``.
DEFAULTS: dict[str, dict[str, Any]] = {
    "top_eigenvalue": {"iterations": 30},
    "trace": {"probes": 100},
    "average_sharpness": {"radius": 0.01, "samples": 100, "normalization": "none"},
    "adaptive_sharpness": {"radius": 0.1, "norm": "l2", "steps": 20},
    "llc": {"chains": 4, "steps": 500},
}


#: The options each measure accepts: keyword arguments of :func:`top_eigenvalues`,
#: :func:`hutchinson`, :func:`average_sharpness`, :func:`adaptive_sharpness` and
#: :func:`local_learning_coefficient` (less those :func:`measure` sets itself).
OPTIONS: dict[str, set[str]] = {
    "top_eigenvalue": {"iterations"},
    "trace": {"probes"},
    "average_sharpness": {"radius", "samples", "normalization", "perturb"},
    "adaptive_sharpness": {"radius", "norm", "steps", "restarts", "step_size", "perturb"},
    "llc": {"chains", "steps", "burn_in", "step_size", "gamma", "beta", "batch_size", "drift_tolerance"},
}


def check_options(name: str, value: bool | dict | None) -> dict[str, Any] | None:
    """The options of measure ``name`` (defaults filled in), or None when it is off.

    Raises :class:`ConfigError` for an unknown measure or option, so that a config fails before
    any work starts.
    """
    if name not in OPTIONS:
        raise ConfigError(f"unknown measure {name!r}; the measures are: {', '.join(MEASURE_NAMES)}")
    if value is None or value is False:
        return None
    if value is True:
        return dict(DEFAULTS[name])
    if not isinstance(value, dict):
        raise ConfigError(f"measure {name!r} takes true, false or a mapping of options, got {value!r}")
    allowed = OPTIONS[name]
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for measure {name!r}; its options are: "
            f"{', '.join(sorted(allowed))}"
        )
    return {**DEFAULTS[name], **value}


def measure(
    landscape: Landscape,
    theta: jax.Array | None = None,
    *,
    top_eigenvalue: bool | dict | None = True,
    trace: bool | dict | None = True,
    average_sharpness: bool | dict | None = True,
    adaptive_sharpness: bool | dict | None = True,
    llc: bool | dict | None = None,
    parameters: str = "all",
    unit_axis: int = -1,
    key: jax.Array | int = 0,
) -> dict[str, float]:
    """The asked-for curvature measures of ``landscape`` at θ (default θ*) as ``{column: value}``.

    ``parameters`` restricts the Hessian measures (top eigenvalue, trace) to some leaves, as in
    :func:`landform.curvature.curvature_operator`; ``unit_axis`` is the model's (for the sharpness
    normalisations that work per unit, :attr:`landform.models.Model.unit_axis`). LLC warnings are
    not raised here: the ``llc_flagged`` column records them.
    """
    key = as_key(key)
    settings = {
        name: check_options(name, value)
        for name, value in zip(MEASURE_NAMES, (top_eigenvalue, trace, average_sharpness, adaptive_sharpness, llc))
    }
    row: dict[str, float] = {}
    operator = None
    if settings["top_eigenvalue"] is not None or settings["trace"] is not None:
        operator = curvature_operator(landscape, theta, parameters=parameters)
    if (options := settings["top_eigenvalue"]) is not None:
        pairs = top_eigenvalues(operator, 1, key=jax.random.fold_in(key, 0), **options)
        row["top_eigenvalue"] = float(pairs.values[0])
        row["top_eigenvalue_error"] = float(pairs.residuals[0])
    if (options := settings["trace"]) is not None:
        estimate = hutchinson(operator, options.pop("probes"), key=jax.random.fold_in(key, 1), **options)
        row["trace"], row["trace_error"] = estimate.trace.value, estimate.trace.standard_error
        row["trace_of_square"] = estimate.trace_of_square.value
        row["trace_of_square_error"] = estimate.trace_of_square.standard_error
    if (options := settings["average_sharpness"]) is not None:
        result = sharpness.average_sharpness(
            landscape,
            options.pop("radius"),
            theta=theta,
            unit_axis=unit_axis,
            key=jax.random.fold_in(key, 2),
            **options,
        )
        row["average_sharpness"], row["average_sharpness_error"] = result.value, result.standard_error
    if (options := settings["adaptive_sharpness"]) is not None:
        result = sharpness.adaptive_sharpness(
            landscape,
            options.pop("radius"),
            theta=theta,
            unit_axis=unit_axis,
            key=jax.random.fold_in(key, 3),
            **options,
        )
        row["adaptive_sharpness"] = result.value
    if (options := settings["llc"]) is not None:
        result = local_learning_coefficient(landscape, theta, key=jax.random.fold_in(key, 4), warn=False, **options)
        row["llc"], row["llc_error"], row["llc_flagged"] = result.llc, result.standard_error, float(result.flagged)
    return row
