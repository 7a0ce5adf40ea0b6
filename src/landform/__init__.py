"""landform: the geometry of neural-network loss landscapes.

The core idea: a *landscape* is a model, a dataset and a loss seen as a function of one flat
parameter vector θ (:class:`Landscape`). Volumes, curves, tunnels and posteriors are built on it.

Floors, lowest first; each imports only the floors before it: the core (:mod:`landform.flat`,
:mod:`landform.losses`, :mod:`landform.landscape`, :mod:`landform.behaviour`, :mod:`landform.files`, ...),
:mod:`landform.data`, :mod:`landform.models`, :mod:`landform.train`, :mod:`landform.store` (run
folders, the stage cache, reports), the measurements (:mod:`landform.volume`,
:mod:`landform.paths`, :mod:`landform.subspace`, :mod:`landform.bayes`, :mod:`landform.views`),
:mod:`landform.studies` (one module per experiment family) and :mod:`landform.run` (sweeps,
executors, tracking) with the command line on top. The names below are loaded on first use, so
``import landform`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Landscape": "landform.landscape",
    "Chunking": "landform.landscape",
    "prefix_means": "landform.landscape",
    "behavioural_landscape": "landform.behaviour",
    "ravel": "landform.flat",
    "leaf_slices": "landform.flat",
    "get_loss": "landform.losses",
    "LandformError": "landform.errors",
    "Dataset": "landform.data",
    "Split": "landform.data",
    "load_dataset": ("landform.data", "load"),
    "build_model": ("landform.models", "build"),
    "Model": "landform.models",
    "fit": "landform.train",
    "fit_ensemble": "landform.train",
    "TrainConfig": "landform.train",
    "save_trained": "landform.train",
    "load_trained": "landform.train",
    "curvature_operator": "landform.curvature",
    "hvp": "landform.curvature",
    "top_eigenvalues": "landform.curvature",
    "spectral_density": "landform.curvature",
    "hessian_trace": ("landform.curvature", "trace"),
    "hessian_diagonal": ("landform.curvature", "diagonal"),
    "average_sharpness": "landform.curvature",
    "worst_sharpness": "landform.curvature",
    "adaptive_sharpness": "landform.curvature",
    "local_learning_coefficient": "landform.curvature",
    "random_plane_losses": "landform.views",
    "random_slice_losses": "landform.views",
    "pca_plane": "landform.views",
    "plane_through": "landform.views",
    "plane_losses": "landform.views",
    "landscape_view": "landform.studies.volume",
}

__all__ = sorted([*_LAZY, "landscape_from", "__version__"])


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'landform' has no attribute {name!r}")
    module, attribute = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def landscape_from(model, params, x, y=None, loss="cross_entropy", **options):
    """A :class:`Landscape` from any model: a landform ``Model``, a Flax Linen or NNX module, an
    Equinox module, or a plain ``apply(params, x)`` function.

    ``x`` may be a :class:`landform.data.Split` (then ``y`` is omitted). For an NNX or Equinox
    module pass ``params=None``: the parameters are taken from the module itself. Options go to
    :meth:`Landscape.from_apply` (``memory_budget``; ``first_layer``, taken from a landform
    ``Model`` by default).
    """
    from landform.landscape import Landscape
    from landform.models import Model, from_equinox, from_nnx

    if y is None and hasattr(x, "x") and hasattr(x, "y"):
        x, y = x.x, x.y
    if isinstance(model, Model):
        apply = model.apply
        expected = model.spec.get("input_shape")
        options.setdefault("first_layer", model.first_layer)
    elif _is_nnx(model):
        wrapped, params = from_nnx(model)
        apply, expected = wrapped.apply, None
    elif _is_equinox(model):
        wrapped, params = from_equinox(model)
        apply, expected = wrapped.apply, None
    elif _is_linen(model):
        apply, params = _linen_apply(model, params)
        expected = None
    elif callable(model):
        apply, expected = model, None
    else:
        raise TypeError(f"cannot build a landscape from {type(model).__name__}; pass a Model, a module or a function")
    return Landscape.from_apply(apply, params, x, y, loss, expected_input_shape=expected, **options)


def _linen_apply(module, variables):
    """θ is ``{"params": variables["params"]}``; the other collections (``batch_stats``, ...)
    stay fixed, as in :func:`landform.models.from_linen`."""
    from landform.errors import ConfigError

    variables = dict(variables or {})
    if "params" not in variables:
        raise ConfigError(
            f"the variables of the Linen module {type(module).__name__} have no 'params' collection; "
            "pass what module.init(...) returned"
        )
    fixed = {name: value for name, value in variables.items() if name != "params"}

    def apply(theta, x):
        return module.apply({**fixed, **theta}, x)

    return apply, {"params": variables["params"]}


def _is_nnx(model) -> bool:
    try:
        from flax import nnx

        return isinstance(model, nnx.Module)
    except ImportError:  # pragma: no cover
        return False


def _is_linen(model) -> bool:
    try:
        from flax import linen

        return isinstance(model, linen.Module)
    except ImportError:  # pragma: no cover
        return False


def _is_equinox(model) -> bool:
    try:
        import equinox

        return isinstance(model, equinox.Module)
    except ImportError:  # pragma: no cover
        return False
