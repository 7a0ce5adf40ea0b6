"""The plane of a training trajectory's first two principal components (Li et al. 2018).

Random planes barely show the path an optimiser took: in high dimensions two random directions
are nearly orthogonal to it. Li, Xu, Taylor, Studer, Goldstein 2018 ("Visualizing the Loss
Landscape of Neural Nets", NeurIPS, section 7) take instead the snapshots θ_0, ..., θ_T of a
training run (:func:`landform.train.fit` with ``record_every``) and span the plane through the
final point θ_T by the first two principal components of the differences:

    D = [θ_0 − θ_T; ...; θ_T − θ_T]          (T+1 rows, one per snapshot)
    C = D − mean of the rows of D            (centred)
    C = U·S·Vᵀ                               (thin SVD)
    u = V[:, 0],  v = V[:, 1],               θ(x, y) = θ_T + x·u + y·v.

With m = T + 1 snapshots the explained variance of component j is S_j² / (m − 1) and its
ratio S_j² / Σ_k S_k²; the sum of the two ratios is the share of the path's spread the picture
shows. The path is drawn by projecting each snapshot onto the plane:
(x_t, y_t) = (⟨θ_t − θ_T, u⟩, ⟨θ_t − θ_T, v⟩), exact when the ratios sum to 1; ``distances``
gives ‖θ_t − θ(x_t, y_t)‖ otherwise.

Signs of singular vectors are arbitrary; each axis is oriented so that the snapshot farthest
from the origin along it has a positive coordinate, so the same trajectory always gives the
same picture.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError, ShapeError
from landform.views.planes import Plane, PlaneGrid, plane_grid


class TrajectoryPlane(NamedTuple):
    """The principal-component plane of a trajectory and the path on it.

    ``plane`` (kind "pca") has the orthonormal basis (u, v) and the final snapshot as origin,
    its anchors the final point (0, 0) and the start (x_0, y_0). ``path`` (T, 2) holds the
    projected snapshots, ``distances`` (T,) their distance from the plane, ``explained_variance``
    (2,) S_j² / (T − 1) and ``explained_variance_ratio`` (2,) S_j² / Σ_k S_k².
    """

    plane: Plane
    path: np.ndarray
    distances: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    epochs: np.ndarray | None = None


def pca_plane(thetas, epochs=None) -> TrajectoryPlane:
    """The plane of the first two principal components of the snapshots ``thetas`` (T, n), through
    the last one (see the module docstring for the definition).

    ``thetas`` may be a :class:`landform.train.Trajectory` (then ``epochs`` come from it).
    Raises :class:`ConfigError` when the snapshots span less than two dimensions (fewer than
    three distinct points, or all on one line), since they then define no plane.
    """
    if hasattr(thetas, "thetas") and hasattr(thetas, "epochs"):
        epochs = thetas.epochs if epochs is None else epochs
        thetas = thetas.thetas
    points = np.asarray(thetas)
    if points.ndim != 2:
        raise ShapeError(
            f"the trajectory must be a (snapshots, parameters) array, got shape {points.shape}; for an "
            "ensemble's trajectory take one member (result.member(i).trajectory)"
        )
    if points.shape[0] < 3:
        raise ConfigError(
            f"a trajectory plane needs at least three snapshots, got {points.shape[0]}; record more often "
            "(fit(..., record_every=k) with a smaller k)"
        )
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float32
    host = points.astype(np.float64)
    origin = host[-1]
    differences = host - origin
    centred = differences - differences.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    total = float(np.sum(singular**2))
    if singular.size < 2 or total == 0.0 or singular[1] <= 1e-6 * singular[0]:
        raise ConfigError(
            "the trajectory's snapshots lie on one line (or one point), so they span no plane; record "
            "a longer or noisier run, or view a random plane instead"
        )
    basis = vt[:2]
    path = differences @ basis.T  # (T, 2)
    for j in range(2):  # orient each axis: the farthest snapshot along it is positive
        if path[np.argmax(np.abs(path[:, j])), j] < 0:
            basis[j], path[:, j] = -basis[j], -path[:, j]
    distances = np.linalg.norm(differences - path @ basis, axis=1)
    variance = singular[:2] ** 2 / (points.shape[0] - 1)
    ratio = singular[:2] ** 2 / total
    vectors = jnp.asarray(np.concatenate([origin[None], basis]).astype(dtype))
    anchors = np.array([[0.0, 0.0], path[0]])
    plane = Plane(vectors, jnp.eye(3, dtype=vectors.dtype), anchors, "pca")
    return TrajectoryPlane(plane, path, distances, variance, ratio, None if epochs is None else np.asarray(epochs))


def path_grid(
    path: np.ndarray, resolution: int | tuple[int, int] = 31, margin: float = 0.25, square: bool = False
) -> PlaneGrid:
    """A grid over the bounding box of ``path`` (T, 2) and the origin, widened by ``margin``
    times its extent on each side (an axis without extent takes the other's). With ``square``
    both axes get the larger extent (true proportions)."""
    path = np.asarray(path, np.float64)
    if path.ndim != 2 or path.shape[1] != 2:
        raise ShapeError(f"the path must have shape (T, 2), got {path.shape}")
    points = np.concatenate([path, np.zeros((1, 2))])
    low, high = points.min(axis=0), points.max(axis=0)
    extent = high - low
    if extent.max() <= 0:
        raise ConfigError("the path has no extent on the plane; it cannot frame a grid")
    extent = np.where(extent > 0, extent, extent.max())
    if square:
        centre = (low + high) / 2
        low, high = centre - extent.max() / 2, centre + extent.max() / 2
        extent = np.full(2, extent.max())
    low, high = low - margin * extent, high + margin * extent
    return plane_grid(resolution, (float(low[0]), float(high[0])), (float(low[1]), float(high[1])))


__all__ = ["TrajectoryPlane", "path_grid", "pca_plane"]
