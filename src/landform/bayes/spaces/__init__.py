"""Posterior spaces, one module each, looked up by name in one place (Dold et al. 2025, "Paths
and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382, Section on Bayesian inference).

Every space is a module holding its constructor and one :class:`PosteriorSpace` record (how to
build its posterior, around a trained curve or from pieces; how to draw from its prior in φ;
whether it needs a tunnel map or an ensemble; its coordinate names):

- :mod:`~landform.bayes.spaces.volume`: φ ~ N(0, s² I) in the subspace of the curve;
- :mod:`~landform.bayes.spaces.tunnel`: (t, ξ) around the curve in a moving frame;
- :mod:`~landform.bayes.spaces.line`: t alone on the curve;
- :mod:`~landform.bayes.spaces.full`: all n weights, chains from a deep ensemble.

:func:`space` is the only place that turns a name into a space; the arc-length prior on t that
the tunnel and line spaces share is :class:`~landform.bayes.spaces.arc_length.ArcLengthPrior`.
"""

from __future__ import annotations

from collections.abc import Callable

from landform.bayes.posterior import Posterior
from landform.bayes.spaces import full, line, tunnel, volume
from landform.bayes.spaces.arc_length import ArcLengthPrior, arc_length_prior
from landform.bayes.spaces.base import AroundCurve, PosteriorSpace
from landform.bayes.spaces.full import full_posterior
from landform.bayes.spaces.line import line_posterior
from landform.bayes.spaces.tunnel import tunnel_posterior
from landform.bayes.spaces.volume import volume_posterior
from landform.errors import UnknownNameError
from landform.paths.curves import Curve
from landform.subspace.affine import Subspace
from landform.subspace.tunnel import TunnelMap

_RECORDS: dict[str, PosteriorSpace] = {module.SPACE.name: module.SPACE for module in (volume, tunnel, line, full)}

#: The names of the posterior spaces, in the order they are documented.
SPACES: tuple[str, ...] = tuple(_RECORDS)


def space(name: str) -> PosteriorSpace:
    """The :class:`PosteriorSpace` called ``name``; :class:`UnknownNameError` lists the known ones."""
    return _record(name)


def _record(name: str) -> PosteriorSpace:
    if name not in _RECORDS:
        raise UnknownNameError("posterior space", name, SPACES)
    return _RECORDS[name]


def make_posterior(
    space: str,
    predict: Callable,
    x,
    y,
    *,
    subspace: Subspace | None = None,
    tunnel: TunnelMap | None = None,
    curve: Curve | None = None,
    dimension: int | None = None,
    **options,
) -> Posterior:
    """The posterior of ``space`` ("volume", "tunnel", "line", "full") with its pieces:
    ``subspace`` (volume, tunnel, line), ``tunnel`` (tunnel), ``curve`` in φ coordinates (line;
    taken from ``tunnel`` when omitted), ``dimension`` (full). Other options go to the space's
    constructor (``likelihood``, ``temperature``, ``prior_scale``, ``t_prior``, ...)."""
    return _record(space).from_pieces(
        predict, x, y, subspace=subspace, tunnel=tunnel, curve=curve, dimension=dimension, **options
    )


__all__ = [
    "SPACES",
    "ArcLengthPrior",
    "AroundCurve",
    "PosteriorSpace",
    "arc_length_prior",
    "full_posterior",
    "line_posterior",
    "make_posterior",
    "space",
    "tunnel_posterior",
    "volume_posterior",
]
