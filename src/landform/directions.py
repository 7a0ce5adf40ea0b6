"""Random directions in parameter space, drawn on demand and normalised per unit or per tensor,
and which parameter tensors are perturbed.

This module is part of the core: volumes (:mod:`landform.volume`), curvature
(:mod:`landform.curvature`) and landscape views (:mod:`landform.views`) draw their directions and
select their leaves (:func:`parameter_layout`, :func:`is_perturbed`) here. It was
``landform.volume.directions``, which still re-exports it for one release.

The minima-volume method (Fan, Sandlund, Ko 2025, "Sharp Minima Can Generalize: A Loss
Landscape Perspective on Data", arXiv 2511.04808) casts rays θ* + r·d_i from a minimum θ* along
random directions d_i. Direction i is a function of ``(key, i)`` alone: its Gaussian is
g_i = normal(fold_in(key, i), (n,)), so d_i does not depend on how many directions are drawn,
in which chunks, or in which order, and no direction is ever stored beyond the chunk in use.

Normalisations (g is the Gaussian; m the mask of perturbed entries; for a weight tensor (ndim ≥ 2)
a *unit* u is the set of weights sharing one index along ``unit_axis``: a column of a Flax dense
kernel (in, out), all h·w·in weights of one output channel of a Flax conv kernel (h, w, in, out);
with ``unit_axis=0`` a row, as in PyTorch and Equinox):

- ``none``: d = m ⊙ g, the raw Gaussian.
- ``filter`` (Li, Xu, Taylor, Studer, Goldstein 2018, "Visualizing the Loss Landscape of Neural
  Nets", NeurIPS): for each unit u of a weight tensor, d_u = ‖θ*_u‖ · g_u / ‖g_u‖, so every unit's
  block has exactly the norm of the same unit in θ*. 1-D tensors (biases, normalisation scales)
  are zeroed (``biases="zero"``) or keep their raw Gaussian values (``biases="keep"``; Li et al.'s
  code copies θ*'s values instead, which makes those entries non-random).
- ``filter_scale`` (the volume paper's code, ``filtnorm`` + ``filternorm_perturbation_vectors``):
  d_j = ‖θ*_{u(j)}‖ · g_j, the Gaussian multiplied elementwise by the norm of the unit the entry
  belongs to, *without* dividing by the Gaussian's own norm; 1-D tensors are unscaled
  (d_j = g_j). The paper reports the radius of the exit point θ* + c·d as c·‖g‖ (coefficient
  times the norm of the raw Gaussian): that is :attr:`ExitRadii.sphere_radii` below.
- ``layer``: per tensor T, d_T = ‖θ*_T‖ · g_T / ‖g_T‖ (Li et al. 2018's layer normalisation);
  1-D tensors as in ``filter``.

Volumes. Write each normalisation as d = D·v with D a fixed diagonal map and v ∈ R^n:

- ``none``: D = I, v = g;
- ``filter_scale``: D = diag(‖θ*_{u(j)}‖) (1 on 1-D tensors), v = g;
- ``filter`` / ``layer``: D = diag(‖θ*_u‖ / sqrt(m_u)) with m_u the unit's (tensor's) size
  (1 on kept 1-D tensors), v_u = sqrt(m_u) · g_u / ‖g_u‖ (kept 1-D entries: v = g). Here v is
  only approximately a Gaussian (each block's norm is fixed at its expected value sqrt(m_u)).

A ray θ* + r·d_i leaves the set S at r_i; in the pulled-back set D⁻¹(S − θ*) the same exit
lies at distance ρ_i = r_i · ‖v_i‖ along the unit direction v_i/‖v_i‖ (:meth:`Directions.sphere_scale`
gives ‖v_i‖). For ``none`` and ``filter_scale`` v_i/‖v_i‖ is exactly uniform on the unit sphere,
so Vol(S) = abs(det D) · Vol(unit ball) · E[ρ^n] (see :mod:`landform.volume.estimators`), with
log abs(det D) = :attr:`Directions.log_jacobian` and n = :attr:`Directions.dimension` the number of
perturbed entries.

``filter`` and ``layer`` are not volume estimators with a small error. They fix each unit's
(tensor's) share of the direction's norm, so v is drawn from a product of spheres, not from a
rotation-invariant law, and E[ρ^n] over that law is not the volume of the pulled-back set: the
error grows with n rather than vanishing as units grow. Two units of size m with pulled-back
scales 1 and 2 (an axis-aligned ellipsoid) at m = 10 give log-volume 4.70 against the exact 6.93.
What they measure is the exit radius along Li et al.'s (2018) filter-normalised directions, the
quantity their landscape pictures show; compare such radii between minima, and use
``filter_scale`` (the default, the volume paper's) or ``none`` for volumes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.flat import LeafSlice, leaf_slices

__all__ = [
    "BIASES_NAMES",
    "GROUP",
    "NORMALIZATION_NAMES",
    "PERTURB_NAMES",
    "Directions",
    "Leaf",
    "gaussian_batch",
    "grouped",
    "is_perturbed",
    "parameter_layout",
    "random_directions",
]

#: The normalisations of :func:`random_directions` (see the module docstring).
NORMALIZATION_NAMES = ("none", "filter", "filter_scale", "layer")
#: What :func:`random_directions` does with 1-D tensors under ``filter`` and ``layer``.
BIASES_NAMES = ("zero", "keep")
#: The named leaf selections of :func:`is_perturbed` (any other value is a regular expression).
PERTURB_NAMES = ("all", "weights")


class Leaf(NamedTuple):
    """How one parameter tensor enters the directions (static).

    Attributes:
        start: first entry of the tensor in the flat vector.
        stop: one past its last entry.
        shape: the tensor's shape.
        kind: "raw" (g), "scale" (g times a fixed per-unit norm), "unit" or "tensor"
            (renormalised per unit or per tensor).
        axis: the unit axis (non-negative); unused for "raw" and "tensor".
    """

    start: int
    stop: int
    shape: tuple[int, ...]
    kind: str
    axis: int


@dataclass(frozen=True, eq=False)
class Directions:
    """A seeded family of random directions d_0, d_1, ... in R^n (a recipe, not a store).

    Build one with :func:`random_directions`. :meth:`direction` gives d_i and :meth:`batch` a
    stack of them (jitted); both are pure functions of ``(key, i)``. :meth:`normalize` maps a
    Gaussian g to its direction and can be vmapped.

    Attributes:
        key: the base key; direction i uses ``fold_in(key, i)``.
        normalization: one of :data:`NORMALIZATION_NAMES`.
        biases: "zero" or "keep" (1-D tensors under ``filter`` and ``layer``).
        size: n, the length of each direction (all parameters).
        dimension: number of perturbed entries (the dimension of the volume).
        log_jacobian: log ``|det D|`` over the perturbed entries (see the module docstring); −inf if
            a perturbed unit of θ* is exactly zero.
        leaves: the perturbed tensors, in flat order, with how each is normalised.
        norms: for each of ``leaves``, ‖θ*_u‖ per unit (shape of the unit axis), ‖θ*_T‖ (a
            scalar) or ``None`` for raw Gaussian tensors.
        paths: the leaf path of each of ``leaves``.
        dtype: the dtype of the directions (that of θ*).
    """

    key: jax.Array
    normalization: str
    biases: str
    size: int
    dimension: int
    log_jacobian: float
    leaves: tuple[Leaf, ...]
    norms: tuple[jax.Array | None, ...]
    paths: tuple[str, ...]
    dtype: Any = jnp.float32

    def gaussian(self, index) -> jax.Array:
        """g_i = normal(fold_in(key, i), (n,)): the raw Gaussian behind direction i (traceable)."""
        return jax.random.normal(jax.random.fold_in(self.key, index), (self.size,), self.dtype)

    @property
    def mask(self) -> jax.Array:
        """(n,) 1.0 where an entry is perturbed, 0.0 elsewhere."""
        mask = np.zeros(self.size, np.float32)
        for leaf in self.leaves:
            mask[leaf.start : leaf.stop] = 1.0
        return jnp.asarray(mask)

    def normalize(self, gaussian: jax.Array) -> jax.Array:
        """The direction made from the Gaussian ``gaussian`` (shape (n,)); vmappable."""
        return _normalize(gaussian, self.norms, self.leaves, self.size)

    def direction(self, index) -> jax.Array:
        """d_i, shape (n,): a pure function of ``index`` that can be jitted and vmapped."""
        return self.normalize(self.gaussian(index))

    def batch(self, indices) -> jax.Array:
        """d_i for each i in ``indices``, shape (len(indices), n) (the fast path for concrete indices)."""
        return self.generate(indices)[0]

    def sphere_scale(self, indices) -> jax.Array:
        """‖v_i‖ for each i: the sphere radius per unit of coefficient (ρ_i = r_i ‖v_i‖).

        ``none``, ``filter_scale``: ‖m ⊙ g_i‖ (m: perturbed entries). ``filter``, ``layer``:
        sqrt(Σ_u m_u + ‖g_i‖² over kept 1-D entries).
        """
        return self.generate(indices)[1]

    def gaussians(self, indices) -> jax.Array:
        """g_i for each i in ``indices``, shape (len(indices), n) (the fast path of :meth:`gaussian`)."""
        indices = np.asarray(indices, dtype=np.uint32).reshape(-1)
        if indices.size == 0:
            return jnp.zeros((0, self.size), self.dtype)
        padded = grouped(indices)
        parts = [
            gaussian_batch(self.key, padded[j : j + GROUP], self.size, self.dtype) for j in range(0, padded.size, GROUP)
        ]
        return jnp.concatenate(parts)[: indices.size]

    def generate(self, indices) -> tuple[jax.Array, jax.Array]:
        """(d_i, ‖v_i‖) for each i in ``indices``: directions (k, n) and sphere scales (k,).

        Generated in jitted groups of :data:`GROUP` directions (one compilation per structure of
        parameters, whatever the number of indices).
        """
        indices = np.asarray(indices, dtype=np.uint32).reshape(-1)
        k = indices.size
        if k == 0:
            return jnp.zeros((0, self.size), self.dtype), jnp.zeros((0,), self.dtype)
        padded = grouped(indices)
        parts = []
        for j in range(0, padded.size, GROUP):  # a loop over groups of directions
            gaussians = gaussian_batch(self.key, padded[j : j + GROUP], self.size, self.dtype)
            parts.append(_normalize_group(gaussians, self.norms, self.leaves, self.size))
        directions = parts[0][0] if len(parts) == 1 else jnp.concatenate([p[0] for p in parts])
        scales = parts[0][1] if len(parts) == 1 else jnp.concatenate([p[1] for p in parts])
        return directions[:k] if padded.size > k else directions, scales[:k]


#: Directions generated per jitted call.
GROUP = 8


def grouped(indices: np.ndarray) -> np.ndarray:
    """Indices (uint32) padded with copies of the last one to a multiple of :data:`GROUP`."""
    return np.concatenate([indices, np.full((-indices.size) % GROUP, indices[-1], np.uint32)])


@partial(jax.jit, static_argnums=(2, 3))
def gaussian_batch(key, indices, size, dtype):
    """normal(fold_in(key, i), (size,)) for each i of ``indices``, shape (len(indices), size): the raw
    Gaussians g_i of :meth:`Directions.gaussian`, batched (jitted; compiled once per size, dtype and
    number of indices, so callers pass groups of :data:`GROUP` made by :func:`grouped`)."""
    return jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (size,), dtype))(indices)


def _normalize(gaussian, norms, leaves, size):
    pieces, position = [], 0
    for leaf, norm in zip(leaves, norms):
        if leaf.start > position:
            pieces.append(jnp.zeros(leaf.start - position, gaussian.dtype))
        block = gaussian[leaf.start : leaf.stop]
        if leaf.kind == "scale":
            block = (block.reshape(leaf.shape) * _along(norm, leaf)).reshape(-1)
        elif leaf.kind == "unit":
            tensor = block.reshape(leaf.shape)
            others = tuple(a for a in range(len(leaf.shape)) if a != leaf.axis)
            own = jnp.sqrt(jnp.sum(tensor * tensor, axis=others, keepdims=True))
            block = (tensor * (_along(norm, leaf) / own)).reshape(-1)
        elif leaf.kind == "tensor":
            block = block * (norm / jnp.sqrt(jnp.sum(block * block)))
        pieces.append(block)
        position = leaf.stop
    if position < size:
        pieces.append(jnp.zeros(size - position, gaussian.dtype))
    return jnp.concatenate(pieces)


def _scale(gaussian, leaves):
    total = jnp.zeros((), gaussian.dtype)
    for leaf in leaves:
        if leaf.kind in ("unit", "tensor"):
            total = total + (leaf.stop - leaf.start)
        else:
            total = total + jnp.sum(gaussian[leaf.start : leaf.stop] ** 2)
    return jnp.sqrt(total)


@partial(jax.jit, static_argnums=(2, 3))
def _normalize_group(gaussians, norms, leaves, size):
    """Directions and sphere scales of a group of Gaussians."""
    return jax.vmap(lambda g: (_normalize(g, norms, leaves, size), _scale(g, leaves)))(gaussians)


def _along(norm: jax.Array, leaf: Leaf) -> jax.Array:
    """Per-unit values shaped to broadcast along the leaf's unit axis."""
    shape = [1] * len(leaf.shape)
    shape[leaf.axis] = leaf.shape[leaf.axis]
    return norm.reshape(shape)


def parameter_layout(theta: jax.Array, layout: Any) -> list[LeafSlice]:
    """The leaf slices of θ* = ``theta``: ``layout`` is a parameter pytree or its
    :func:`landform.flat.leaf_slices`, or ``None`` (θ* as one 1-D tensor named ``"theta"``).

    Raises:
        ShapeError: the layout does not cover exactly the entries of ``theta``.
    """
    n = int(theta.shape[0])
    if layout is None:
        return [LeafSlice("theta", 0, n, (n,))]
    if isinstance(layout, Sequence) and layout and all(isinstance(s, LeafSlice) for s in layout):
        slices = list(layout)
    else:
        slices = leaf_slices(layout)
    total = slices[-1].stop if slices else 0
    if total != n:
        raise ShapeError(
            f"the parameter layout covers {total} entries but θ* has {n}; pass the parameters "
            "(or their leaf_slices) of the model θ* was raveled from"
        )
    return slices


def is_perturbed(slice_: LeafSlice, perturb: str) -> bool:
    """Whether the leaf ``slice_`` is perturbed under ``perturb``: "all", "weights" (tensors with
    ndim ≥ 2) or a regular expression searched in the leaf's path."""
    if perturb == "all":
        return True
    if perturb == "weights":
        return len(slice_.shape) >= 2
    return re.search(perturb, slice_.path) is not None


def random_directions(
    key: jax.Array,
    theta: jax.Array,
    layout: Any = None,
    *,
    normalization: str = "filter_scale",
    biases: str = "zero",
    perturb: str = "all",
    unit_axis: int = -1,
) -> Directions:
    """Random directions around θ* with the given normalisation (see the module docstring).

    Args:
        key: a JAX key; direction i is derived from ``fold_in(key, i)``.
        theta: θ*, the flat parameters the directions are scaled to.
        layout: the parameter pytree θ* was raveled from, or its :func:`landform.flat.leaf_slices`;
            ``None`` treats θ* as one 1-D tensor (enough for ``none``).
        normalization: "none", "filter" (Li et al. 2018), "filter_scale" (the volume paper) or
            "layer".
        biases: "zero" or "keep": what ``filter`` and ``layer`` do with 1-D tensors.
        perturb: "all", "weights" (tensors with ndim ≥ 2) or a regular expression searched in
            each leaf's path (e.g. ``"Dense_[01]/kernel"``); other entries are zero in d.
        unit_axis: the axis of a weight tensor that indexes output units: -1 for Flax
            (:attr:`landform.models.Model.unit_axis`), 0 for PyTorch and Equinox layouts.

    Raises:
        UnknownNameError: unknown ``normalization`` or ``biases``.
        ConfigError: nothing selected by ``perturb``, or a layout is needed but missing.
    """
    if normalization not in NORMALIZATION_NAMES:
        raise UnknownNameError("normalization", normalization, NORMALIZATION_NAMES)
    if biases not in BIASES_NAMES:
        raise UnknownNameError("biases option", biases, BIASES_NAMES)
    theta = jnp.asarray(theta)
    if theta.ndim != 1:
        raise ShapeError(f"θ* must be a flat vector, got shape {tuple(theta.shape)}; ravel the parameters first")
    if perturb not in PERTURB_NAMES:
        try:
            re.compile(perturb)
        except re.error as error:
            raise ConfigError(
                f"perturb={perturb!r} is neither one of {PERTURB_NAMES} nor a valid regular expression ({error})"
            ) from None
    slices = parameter_layout(theta, layout)
    if normalization in ("filter", "filter_scale", "layer") and layout is None:
        raise ConfigError(
            f"normalization {normalization!r} needs the parameter layout (pass the parameter pytree "
            "or leaf_slices(params) as `layout`); use normalization='none' for a plain vector"
        )

    n = int(theta.shape[0])
    dtype = theta.dtype if jnp.issubdtype(theta.dtype, jnp.floating) else jnp.float32
    theta_host = np.asarray(theta, dtype=np.float64)
    leaves, norms, paths = [], [], []
    log_jacobian = 0.0
    for s in slices:
        if not is_perturbed(s, perturb) or s.size == 0:
            continue
        values = theta_host[s.start : s.stop].reshape(s.shape)
        is_weight = len(s.shape) >= 2
        if not is_weight and normalization in ("filter", "layer") and biases == "zero":
            continue  # 1-D tensors are not perturbed
        paths.append(s.path)
        if not is_weight or normalization == "none":
            leaves.append(Leaf(s.start, s.stop, s.shape, "raw", 0))
            norms.append(None)
            continue
        if normalization == "layer":
            norm = np.sqrt(np.sum(values * values))
            leaves.append(Leaf(s.start, s.stop, s.shape, "tensor", 0))
            norms.append(jnp.asarray(norm, dtype))
            with np.errstate(divide="ignore"):
                log_jacobian += s.size * (math.log(norm) if norm > 0 else -math.inf) - 0.5 * s.size * math.log(s.size)
            continue
        axis = unit_axis % len(s.shape)
        others = tuple(a for a in range(len(s.shape)) if a != axis)
        unit_norm = np.sqrt(np.sum(values * values, axis=others))
        unit_size = s.size // s.shape[axis]
        kind = "scale" if normalization == "filter_scale" else "unit"
        leaves.append(Leaf(s.start, s.stop, s.shape, kind, axis))
        norms.append(jnp.asarray(unit_norm, dtype))
        with np.errstate(divide="ignore"):
            log_units = np.log(unit_norm)
        if kind == "scale":
            log_jacobian += float(unit_size * np.sum(log_units))
        else:
            log_jacobian += float(unit_size * np.sum(log_units - 0.5 * math.log(unit_size)))
    if not leaves:
        raise ConfigError(
            f"no parameters are perturbed (perturb={perturb!r}, normalization={normalization!r}, "
            f"biases={biases!r}); the leaves are: {', '.join(s.path for s in slices)}"
        )
    return Directions(
        key=key,
        normalization=normalization,
        biases=biases,
        size=n,
        dimension=int(sum(leaf.stop - leaf.start for leaf in leaves)),
        log_jacobian=float(log_jacobian),
        leaves=tuple(leaves),
        norms=tuple(norms),
        paths=tuple(paths),
        dtype=dtype,
    )
