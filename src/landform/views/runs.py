"""Deprecated: reading finished minima-volume runs moved to :mod:`landform.studies.volume.runs`
(it reads run folders, which sit above the pure geometry of :mod:`landform.views`).

The old names still work from here for one release, with a :class:`DeprecationWarning`;
``Minimum`` is now :class:`landform.studies.volume.SavedMinimum`.
"""

from __future__ import annotations

from landform.errors import moved_names

#: old name -> its name in :mod:`landform.studies.volume.runs`.
_MOVED = {
    "RunFolderError": "RunFolderError",
    "VolumeRun": "VolumeRun",
    "Minimum": "SavedMinimum",
    "ThreeMinima": "ThreeMinima",
    "read_volume_run": "read_volume_run",
    "available_minima": "available_minima",
    "find_minimum": "find_minimum",
    "load_pool": "load_pool",
    "default_levels": "default_levels",
    "load_three_minima": "load_three_minima",
    "volume_run_video": "volume_run_video",
}


__getattr__ = moved_names(
    "landform.views.runs", "landform.studies.volume.runs", _MOVED, "the old path goes in the next release"
)
