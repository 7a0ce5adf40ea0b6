"""Checks that data fits a model, with errors that name both shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from landform.errors import ShapeError
from landform.models.base import Model, Params
from landform.models.zoo import RESHAPING_MODELS


def _reshapes_inputs(model: Model) -> bool:
    spec = model.spec
    while spec.get("name") == "learned_sigma" and isinstance(spec.get("model"), dict):
        spec = spec["model"]
    return spec.get("name") in RESHAPING_MODELS and spec.get("rebuildable", True) is not False


def validate_input_shape(model: Model, input_shape: Sequence[int]) -> None:
    """Raise :class:`ShapeError` if examples of shape ``input_shape`` do not fit ``model``.

    Compares with the model's declared input shape (``model.input_shape``, from its spec) when
    it is known; does nothing otherwise. Zoo models that reshape each example (MLPs and CNNs)
    also accept shapes with the same number of elements (e.g. (784,) for a 28×28×1 model).
    """
    expected = model.input_shape
    given = tuple(int(d) for d in input_shape)
    if expected is None or given == expected:
        return
    if _reshapes_inputs(model) and int(np.prod(given)) == int(np.prod(expected)):
        return
    raise ShapeError(
        f"model {model.name!r} expects examples of shape {expected}, but the data's examples "
        f"have shape {given}; build the model for examples of shape {given} or reshape the data"
    )


def check_input(model: Model, params: Params, x: Any) -> jax.ShapeDtypeStruct:
    """Check that ``model.apply(params, ·)`` runs on the examples of the batch ``x``.

    First :func:`validate_input_shape`, then a trial forward pass on one example (traced with
    ``jax.eval_shape``, so nothing is computed). Any failure is raised as :class:`ShapeError`
    naming the model's expected example shape and the data's shape. Returns the shape and
    dtype of the model's output for one example (batch axis of size 1 included).
    """
    shape = tuple(np.shape(x))
    if len(shape) == 0:
        raise ShapeError("the data is a scalar; a model needs a batch of examples with the batch on axis 0")
    validate_input_shape(model, shape[1:])
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    one = jax.ShapeDtypeStruct((1, *shape[1:]), dtype)
    try:
        return jax.eval_shape(model.apply, params, one)
    except Exception as error:  # any failure of the trial pass is reported with both shapes
        expected = model.input_shape
        expected_text = "an unknown shape" if expected is None else f"shape {expected}"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ShapeError(
            f"model {model.name!r} (expects examples of {expected_text}) failed on data whose "
            f"examples have shape {shape[1:]} (data shape {shape}): "
            f"{type(error).__name__}: {reason}"
        ) from error
