"""The model record every part of landform uses.

A :class:`Model` is a pair of pure functions: ``init(key) -> params`` and
``apply(params, x) -> outputs`` with ``x`` a batch (examples along axis 0). ``spec`` is a
JSON-serialisable description from which :func:`landform.models.build` rebuilds the same model,
so trained parameters can be saved as a flat vector and reloaded.

Parameter layout: models of the zoo follow Flax's convention, where the *last* axis of a
weight tensor indexes output units (a dense kernel is (in, out); a conv kernel is
(h, w, in, out)). ``unit_axis`` records this so that filter-wise normalisation (Li et al. 2018)
knows which weights belong to one unit or filter; adapters for other layouts set it (Equinox and
PyTorch-style weights put output units on axis 0).

``first_layer`` (optional) splits the model at its first operation when that operation is linear
in its own parameters (a dense or convolution layer): lines and planes through a point then reuse
the first layer's products (:class:`landform.landscape.FirstLayer`, :class:`landform.landscape.Span`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax

from landform.landscape import FirstLayer

Params = Any  # a pytree of arrays


@dataclass(frozen=True)
class Model:
    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], jax.Array]
    name: str = "model"
    spec: dict[str, Any] = field(default_factory=dict)
    unit_axis: int = -1
    first_layer: FirstLayer | None = None

    def __call__(self, params: Params, x: jax.Array) -> jax.Array:
        return self.apply(params, x)

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of one example (no batch axis) from ``spec["input_shape"]``, or None if unknown.

        Wrappers whose spec nests the wrapped model's spec under ``"model"`` (such as
        :func:`landform.models.with_learned_sigma`) report the wrapped model's input shape.
        """
        spec = self.spec
        while "input_shape" not in spec and isinstance(spec.get("model"), dict):
            spec = spec["model"]
        shape = spec.get("input_shape")
        return None if shape is None else tuple(int(d) for d in shape)
