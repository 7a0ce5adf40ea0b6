"""landform: the geometry of neural-network loss landscapes.

The core idea: a *landscape* is a model, a dataset and a loss seen as a function of one flat
parameter vector θ (:class:`Landscape`). Volumes, curves, tunnels and posteriors are built on it.

Floors, lowest first; each imports only the floors before it: the core (:mod:`landform.flat`,
:mod:`landform.losses`, :mod:`landform.landscape`, :mod:`landform.directions`, :mod:`landform.behaviour`,
:mod:`landform.plugins`, :mod:`landform.files`, ...),
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
    Equinox module, or a plain ``apply(params, x)`` function (see :func:`landform.models.adapt`).

    ``x`` may be a :class:`landform.data.Split` (then ``y`` is omitted). For an NNX or Equinox
    module pass ``params=None``: the parameters are taken from the module itself. Options go to
    :meth:`Landscape.from_apply` (``memory_budget``; ``first_layer``, taken from a landform
    ``Model`` by default).
    """
    from landform.landscape import Landscape
    from landform.models import adapt, model_kind

    if y is None and hasattr(x, "x") and hasattr(x, "y"):
        x, y = x.x, x.y
    if model_kind(model) == "other":
        raise TypeError(f"cannot build a landscape from {type(model).__name__}; pass a Model, a module or a function")
    adapted, params = adapt(model, params)
    if adapted.first_layer is not None:
        options.setdefault("first_layer", adapted.first_layer)
    expected = adapted.spec.get("input_shape")
    return Landscape.from_apply(adapted.apply, params, x, y, loss, expected_input_shape=expected, **options)
