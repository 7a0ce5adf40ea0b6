"""Figures of moving frames (each helper draws on matplotlib Axes the caller owns).

Compares the Frenet frame, the transported frame of Dold et al. 2025 ("Paths and Ambient Spaces
in Neural Loss Landscapes", arXiv 2503.03382) and the rotation-minimising frame (double
reflection, Wang et al. 2008) on a 2-D or a 3-D curve: the curve, and at a few values of t its
tangent and normal arrows. Studies decide where the figures go.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from landform.errors import ConfigError
from landform.paths.curves import Curve, bezier, evaluate
from landform.subspace.frames import FRAME_KINDS, moving_frame

FRAME_TITLES = {
    "frenet": "Frenet",
    "transported": "transported (Dold et al.)",
    "rotation_minimising": "rotation-minimising",
}
ARROW_COLOURS = ("black", "tab:red", "tab:blue", "tab:green")


def s_curve() -> Curve:
    """A planar cubic Bézier S-curve with an inflection at t = 0.5 (Frenet flips there)."""
    return bezier(jnp.asarray([[0.0, 0.0], [1.0, 1.5], [2.0, -1.5], [3.0, 0.0]]))


def twisted_curve() -> Curve:
    """A cubic Bézier curve in 3-D with torsion (Frenet normals rotate about the tangent)."""
    return bezier(jnp.asarray([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]))


def plot_frame(
    ax: Any,
    curve: Curve,
    kind: str,
    *,
    arrows: int = 9,
    arrow_length: float | None = None,
    lower: float = 0.0,
    upper: float = 1.0,
    title: bool = True,
):
    """Draw ``curve`` (2-D, or 3-D on an Axes with ``projection="3d"``) and the ``kind`` frame
    at ``arrows`` equally spaced t in [lower, upper]: the tangent in black, normals in colour."""
    if kind not in FRAME_KINDS:
        from landform.errors import UnknownNameError

        raise UnknownNameError("frame kind", kind, FRAME_KINDS)
    if curve.dim not in (2, 3):
        raise ConfigError(f"frames can be drawn for curves in 2 or 3 dimensions, not {curve.dim}")
    frame = moving_frame(curve, kind, lower=min(lower, -0.1), upper=max(upper, 1.1))
    dense = np.asarray(evaluate(curve, jnp.linspace(lower, upper, 200)))
    ax.plot(*dense.T, color="0.5", linewidth=1.5)
    t = jnp.linspace(lower, upper, arrows)
    values = frame(t)
    points = np.asarray(evaluate(curve, t))
    vectors = np.asarray(values.matrix)  # (arrows, K, K)
    if arrow_length is None:
        span = np.ptp(dense, axis=0).max()
        arrow_length = 0.12 * span if span > 0 else 1.0
    for index in range(curve.dim):
        direction = vectors[:, index] * arrow_length
        colour = ARROW_COLOURS[index % len(ARROW_COLOURS)]
        label = "tangent" if index == 0 else f"normal {index}"
        if curve.dim == 2:
            ax.quiver(
                points[:, 0],
                points[:, 1],
                direction[:, 0],
                direction[:, 1],
                color=colour,
                angles="xy",
                scale_units="xy",
                scale=1,
                width=0.004,
                label=label,
            )
        else:
            ax.quiver(
                points[:, 0],
                points[:, 1],
                points[:, 2],
                direction[:, 0],
                direction[:, 1],
                direction[:, 2],
                color=colour,
                label=label,
            )
    if curve.dim == 2:
        ax.set_aspect("equal", adjustable="datalim")
    else:
        low, high = dense.min(axis=0) - arrow_length, dense.max(axis=0) + arrow_length
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_zlim(low[2], high[2])
        ax.set_box_aspect(tuple(high - low))
        ax.view_init(elev=20, azim=-50)
    if title:
        ax.set_title(FRAME_TITLES[kind])
    return ax


def plot_frame_comparison(axes: Sequence[Any], curve: Curve, kinds: Sequence[str] = FRAME_KINDS, **options):
    """One panel per frame kind (``axes`` in the order of ``kinds``), same curve and t values;
    the first panel carries the legend."""
    if len(axes) != len(kinds):
        raise ConfigError(f"give one Axes per frame kind: {len(kinds)} kinds, {len(axes)} axes")
    for ax, kind in zip(axes, kinds):
        plot_frame(ax, curve, kind, **options)
    axes[0].legend(loc="best", fontsize="small")
    return axes
