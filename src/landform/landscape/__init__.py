"""Landscapes: a model, a dataset and a loss, seen as a function of one flat vector θ.

For parameters θ ∈ R^n, examples (x_i, y_i), i = 1..N, and a per-example loss ℓ,

    ℓ_i(θ) = ℓ(f(unravel(θ), x_i), y_i),     L(θ) = (1/N) Σ_i ℓ_i(θ),

and the loss of the nested landscape made of the first k examples is the prefix mean
L_k(θ) = (1/k) Σ_{i<=k} ℓ_i(θ). One evaluation of the per-example losses gives every L_k at once,
which is how the minima-volume study (Fan, Sandlund, Ko 2025) measures one minimum in many
nested landscapes.

The package has three parts:

- :mod:`landform.landscape.api`: :class:`Landscape` (evaluation of one vector or of batches of
  vectors, chunked to stay under a memory budget), :class:`Span` (points on lines and planes
  through θ*) and :func:`prefix_means`;
- :mod:`landform.landscape.cost`: the chunking cost model (:class:`Cost`, :func:`traced_bytes`,
  :func:`traced_cost`, :class:`Chunking`, :func:`choose_chunking`);
- :mod:`landform.landscape.first_layer`: :class:`FirstLayer`, the split of a model at a first
  operation that is linear in θ, which lets a :class:`Span` reuse the first layer's products.

A landscape that cannot be differentiated with JAX (one evaluated by PyTorch) says so with the
class attribute :attr:`Landscape.differentiable`.
"""

from landform.landscape.api import DEFAULT_MEMORY_BUDGET, Landscape, PyTree, Span, prefix_means  # noqa: F401 (PyTree: a type alias)
from landform.landscape.cost import (
    SATURATING_ROWS,
    Chunking,
    Cost,
    choose_chunking,
    span_vectors,
    traced_bytes,
    traced_cost,
)
from landform.landscape.first_layer import FirstLayer

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "SATURATING_ROWS",
    "Chunking",
    "Cost",
    "FirstLayer",
    "Landscape",
    "Span",
    "choose_chunking",
    "prefix_means",
    "span_vectors",
    "traced_bytes",
    "traced_cost",
]
