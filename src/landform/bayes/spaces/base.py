"""The record every posterior space exposes (:class:`PosteriorSpace`) and the pieces of a
trained curve a space builds its posterior from (:class:`AroundCurve`).

A space is one module of :mod:`landform.bayes.spaces` holding its constructor and one
:class:`PosteriorSpace` (in the style of optax's ``GradientTransformation`` or BlackJAX's
``SamplingAlgorithm``: a named tuple of functions and facts); callers look it up by name with
:func:`landform.bayes.spaces.space` and never branch on the name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from landform.bayes.posterior import Likelihood, Posterior
from landform.errors import ConfigError
from landform.paths.curves import Curve
from landform.subspace.affine import Subspace
from landform.subspace.tunnel import TunnelMap


class AroundCurve(NamedTuple):
    """What a space needs to build its posterior around a trained curve.

    - ``settings``: the priors and likelihood (:class:`landform.bayes.CurvePosteriorSettings`).
    - ``subspace``: θ = μ + φ B of the curve's control points; ``curve_phi``: the curve in φ.
    - ``tunnel``: the tunnel map (spaces with ``needs_tunnel``), otherwise None.
    - ``predict``: f(θ, x); ``x``, ``y``: the training data; ``likelihood``, ``temperature``.
    - ``ensemble_points``: (m, n) starting points (spaces with ``needs_ensemble``), or None.
    """

    settings: Any
    subspace: Subspace
    curve_phi: Curve
    tunnel: TunnelMap | None
    predict: Callable
    x: Any
    y: Any
    likelihood: Likelihood
    temperature: float
    ensemble_points: Any = None


class PosteriorSpace(NamedTuple):
    """One posterior space: everything the rest of the code asks of it.

    - ``name``: "volume", "tunnel", "line" or "full".
    - ``coordinate``: the constrained value the spaces are compared in: "phi" (the subspace
      coordinates) or "theta" (all n weights).
    - ``coordinate_names``: d → the names of the space's own coordinates of z (d = K, or n for
      the full space), before a sampled σ's "log_sigma".
    - ``needs_tunnel``: the posterior is built on a tunnel map around the curve (K >= 2).
    - ``needs_ensemble``: chains start from the members of a deep ensemble (``values['theta']``).
    - ``records_constrained``: a sampling record stores the constrained values beside z (not
      when they are z itself, as θ in the full space).
    - ``posterior``: the space's constructor (e.g. :func:`~landform.bayes.spaces.volume.volume_posterior`).
    - ``around_curve``: :class:`AroundCurve` → the :class:`~landform.bayes.Posterior`, options
      taken from its settings.
    - ``from_pieces``: ``(predict, x, y, subspace, tunnel, curve, dimension, **options)`` → the
      posterior (what :func:`~landform.bayes.spaces.make_posterior` calls).
    - ``prior_draws``: ``(settings, curve_phi, tunnel, count, rng)`` → ``count`` prior draws in φ,
      shape (count, K), from the ``numpy.random.Generator`` ``rng``; None when the prior lives
      in θ.
    """

    name: str
    coordinate: str
    coordinate_names: Callable[[int], tuple[str, ...]]
    needs_tunnel: bool
    needs_ensemble: bool
    records_constrained: bool
    posterior: Callable[..., Posterior]
    around_curve: Callable[[AroundCurve], Posterior]
    from_pieces: Callable[..., Posterior]
    prior_draws: Callable[[Any, Curve, TunnelMap | None, int, np.random.Generator], np.ndarray | None]


def need(space: str, name: str, value):
    """``value``, or :class:`~landform.errors.ConfigError` saying that ``space`` needs ``name``."""
    if value is None:
        raise ConfigError(f"the {space!r} space needs {name}")
    return value
