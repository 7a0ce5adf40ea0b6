"""Deprecated: random directions and leaf selection moved to :mod:`landform.directions` (the core).

Every name is still available here for one release, with a :class:`DeprecationWarning`; import
from :mod:`landform.directions` (or :mod:`landform.volume`) instead.
"""

from __future__ import annotations

from landform.errors import moved_names

#: Old name here -> name in :mod:`landform.directions`.
_MOVED = {
    "NORMALIZATION_NAMES": "NORMALIZATION_NAMES",
    "BIASES_NAMES": "BIASES_NAMES",
    "PERTURB_NAMES": "PERTURB_NAMES",
    "GROUP": "GROUP",
    "Directions": "Directions",
    "random_directions": "random_directions",
    "_Leaf": "Leaf",
    "_layout": "parameter_layout",
    "_selected": "is_perturbed",
    "_gaussians": "gaussian_batch",
    "_grouped": "grouped",
}

__all__: list[str] = []  # nothing is defined here any more


__getattr__ = moved_names("landform.volume.directions", "landform.directions", _MOVED, "import it from there")
