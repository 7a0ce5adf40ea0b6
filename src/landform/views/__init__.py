"""Views of loss landscapes: planes and slices through parameter space, figures and videos.

- :mod:`~landform.views.planes`: :func:`plane_through` (affine or orthonormal coordinates),
  :func:`plane_points`, :func:`plane_coordinates`, :func:`plane_grid`, :func:`framing_grid`,
  :func:`plane_losses` (every nested landscape from one per-example evaluation per grid point),
  :func:`direction_losses` and :func:`interpolation_losses` (1-D slices).
- :mod:`~landform.views.random`: planes and slices along filter-normalised random directions
  (Li et al. 2018): :func:`view_directions`, :func:`random_plane`, :func:`random_plane_losses`,
  :func:`random_slice_losses`.
- :mod:`~landform.views.trajectory`: the plane of a training trajectory's first two principal
  components with the path projected on it: :func:`pca_plane`, :class:`TrajectoryPlane`,
  :func:`path_grid`.
- :mod:`~landform.views.figures`: :func:`plot_plane` (log colour scale, contours, the points
  marked), :func:`plot_path`, :func:`plot_surface`, :func:`surface_figure`, :func:`shared_norm`,
  :func:`plot_slice`, :func:`log_ticks`, :func:`plane_figure`, :func:`new_figure`,
  :func:`figure_to_rgb`.
- :mod:`~landform.views.video`: :func:`landscape_video` (one frame per nested landscape, MP4 and
  GIF), :func:`render_frames`, :func:`write_video`, :func:`ffmpeg_executable`.
- :mod:`~landform.views.view`: the classic views of a landscape written as figures and an
  ``.npz`` (:func:`random_view`, :func:`pca_view`, :func:`minima_view`), and trajectories
  (:func:`save_trajectory`, :func:`load_trajectory`).

The plane, slice, random-direction and trajectory functions are imported eagerly; the rest
(which import matplotlib or read files) load on first use.

Reading a volume run folder and retraining its minima (``read_volume_run``, ``find_minimum``,
``load_three_minima``, ``volume_run_video``, ``landscape_view``, ``load_view_source``,
``record_trajectory``, ...) moved to :mod:`landform.studies.volume`, so that this package is
pure geometry; their old names here still work for one release, with a
:class:`DeprecationWarning` (``Minimum`` is now :class:`landform.studies.volume.SavedMinimum`).
"""

from __future__ import annotations

import importlib
from typing import Any

from landform.views.planes import (
    PLANE_KINDS,
    Plane,
    PlaneGrid,
    PlaneLosses,
    SliceLosses,
    direction_losses,
    framing_grid,
    interpolation_losses,
    plane_coordinates,
    plane_grid,
    plane_losses,
    plane_points,
    plane_through,
)
from landform.views.random import (
    RANDOM_RANGE,
    random_plane,
    random_plane_losses,
    random_slice_losses,
    view_directions,
)
from landform.views.trajectory import TrajectoryPlane, path_grid, pca_plane

_LAZY = {
    "log_ticks": "landform.views.figures",
    "shared_norm": "landform.views.figures",
    "plot_plane": "landform.views.figures",
    "plot_slice": "landform.views.figures",
    "plot_path": "landform.views.figures",
    "plot_surface": "landform.views.figures",
    "surface_figure": "landform.views.figures",
    "plane_figure": "landform.views.figures",
    "new_figure": "landform.views.figures",
    "figure_to_rgb": "landform.views.figures",
    "landscape_video": "landform.views.video",
    "render_frames": "landform.views.video",
    "write_video": "landform.views.video",
    "ffmpeg_executable": "landform.views.video",
    "save_plane_losses": "landform.views.video",
    "load_plane_losses": "landform.views.video",
    "VideoUnavailableError": "landform.views.video",
    "VIDEO_FORMATS": "landform.views.video",
    "VIEW_KINDS": "landform.views.view",
    "ViewResult": "landform.views.view",
    "random_view": "landform.views.view",
    "pca_view": "landform.views.view",
    "minima_view": "landform.views.view",
    "save_trajectory": "landform.views.view",
    "load_trajectory": "landform.views.view",
}

__all__ = [
    "PLANE_KINDS",
    "RANDOM_RANGE",
    "TrajectoryPlane",
    "Plane",
    "PlaneGrid",
    "PlaneLosses",
    "SliceLosses",
    "direction_losses",
    "framing_grid",
    "interpolation_losses",
    "path_grid",
    "pca_plane",
    "plane_coordinates",
    "plane_grid",
    "plane_losses",
    "plane_points",
    "plane_through",
    "random_plane",
    "random_plane_losses",
    "random_slice_losses",
    "view_directions",
]
__all__ += sorted(_LAZY)

#: Names that moved to :mod:`landform.studies.volume` (old name -> new name), kept for one release.
_MOVED = {
    "RunFolderError": "RunFolderError",
    "VolumeRun": "VolumeRun",
    "Minimum": "SavedMinimum",
    "read_volume_run": "read_volume_run",
    "available_minima": "available_minima",
    "find_minimum": "find_minimum",
    "default_levels": "default_levels",
    "load_pool": "load_pool",
    "volume_run_video": "volume_run_video",
    "load_three_minima": "load_three_minima",
    "ThreeMinima": "ThreeMinima",
    "ViewSource": "ViewSource",
    "landscape_view": "landscape_view",
    "load_view_source": "load_view_source",
    "record_trajectory": "record_trajectory",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import warnings

        warnings.warn(
            f"landform.views.{name} moved to landform.studies.volume.{_MOVED[name]}; the old path goes in the next "
            "release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("landform.studies.volume"), _MOVED[name])
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'landform.views' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
