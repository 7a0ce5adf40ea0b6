"""Low-dimensional spaces around trained curves (Dold et al. 2025, "Paths and Ambient Spaces in
Neural Loss Landscapes", arXiv 2503.03382).

- :mod:`~landform.subspace.affine`: the affine subspace of a curve's control points (or of
  any points) with whitened coordinates φ (:class:`Subspace`, :func:`curve_subspace`,
  :func:`subspace_from_points`, :func:`random_subspace`, :func:`curve_in_coordinates`).
- :mod:`~landform.subspace.frames`: orthonormal frames moving along a curve: Frenet, the
  transported frame of the paper, and the rotation-minimising frame by double reflection
  (:func:`moving_frame`).
- :mod:`~landform.subspace.tunnel`: tunnel coordinates (t, ξ) ↦ φ and their Jacobian
  (:func:`tunnel_map`, :func:`tunnel_point`, :func:`tunnel_log_jacobian`).
- :mod:`~landform.subspace.plots`: matplotlib helpers (imported on demand).
"""

from landform.subspace.affine import (
    Subspace,
    curve_from_coordinates,
    curve_in_coordinates,
    curve_subspace,
    random_subspace,
    subspace_from_points,
    to_coordinates,
    to_parameters,
)
from landform.subspace.frames import (
    FRAME_KINDS,
    Frame,
    FrameTable,
    MovingFrame,
    double_reflection,
    frenet_frame,
    initial_normals,
    moving_frame,
    orthonormal_fill,
    rotation_minimising_frame,
    rotation_minimising_table,
    transported_frame,
    transported_table,
)
from landform.subspace.tunnel import (
    TunnelMap,
    check_speed,
    speed_on_interval,
    tunnel_from_curve,
    tunnel_jacobian,
    tunnel_log_jacobian,
    tunnel_map,
    tunnel_point,
    tunnel_speed,
)

__all__ = [
    "FRAME_KINDS",
    "Frame",
    "FrameTable",
    "MovingFrame",
    "Subspace",
    "TunnelMap",
    "check_speed",
    "curve_from_coordinates",
    "curve_in_coordinates",
    "curve_subspace",
    "double_reflection",
    "frenet_frame",
    "initial_normals",
    "moving_frame",
    "orthonormal_fill",
    "random_subspace",
    "rotation_minimising_frame",
    "rotation_minimising_table",
    "speed_on_interval",
    "subspace_from_points",
    "to_coordinates",
    "to_parameters",
    "transported_frame",
    "transported_table",
    "tunnel_from_curve",
    "tunnel_jacobian",
    "tunnel_log_jacobian",
    "tunnel_map",
    "tunnel_point",
    "tunnel_speed",
]
