"""Figures of planes and slices: loss on a log colour scale, contour lines, the minima marked.

The drawing functions take a matplotlib Axes the caller owns and return what they drew, so
studies and reports decide where figures go. :func:`new_figure` makes a figure on the Agg
canvas without touching pyplot's global state (safe in worker threads and headless runs), and
:func:`figure_to_rgb` turns one into an RGB array (a video frame).

Losses span orders of magnitude between the floor of a basin and the walls around it, so they
are shown on a logarithmic colour scale (``LogNorm``); frames of one video share one scale
(:func:`shared_norm`) so that colours mean the same loss in every frame.

Planes of every kind are drawn by :func:`plot_plane`: through three points ("affine",
"orthonormal"), along random directions ("random", :mod:`landform.views.random`) and of a
trajectory's principal components ("pca", :mod:`landform.views.trajectory`, with the optimiser's
path drawn by :func:`plot_path`). :func:`plot_surface` shows the same grid as a surface over the
plane, its height log10 of the loss.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from landform.errors import ConfigError
from landform.views.planes import PlaneLosses, SliceLosses

DEFAULT_LABELS = ("θ0", "θ1", "θ2")
KIND_LABELS = {"random": ("θ*",), "pca": ("end", "start")}
AXIS_LABELS = {
    "affine": ("a (θ0 → θ1)", "b (θ0 → θ2)"),
    "orthonormal": ("distance along u (toward θ1)", "distance along v"),
    "random": ("a (random direction 1)", "b (random direction 2)"),
    "pca": ("principal component 1", "principal component 2"),
}


def _labels(losses: PlaneLosses, labels: Sequence[str] | None) -> Sequence[str] | None:
    """The default labels fit three-point planes; other kinds get their own."""
    if labels is DEFAULT_LABELS and len(losses.anchors) != len(DEFAULT_LABELS):
        return KIND_LABELS.get(losses.kind, tuple(f"θ{p}" for p in range(len(losses.anchors))))
    return labels


def log_ticks(ax: Any, values: Sequence[float], axis: str = "x", fmt: Callable[[float], str] | None = None) -> None:
    """Make ``axis`` of ``ax`` logarithmic, labelled with the given ``values`` only.

    Minor ticks (and their labels) are removed, so the axis reads e.g. ``64 256 1024`` instead
    of powers of ten. ``fmt`` formats a value (default: ``str`` of integers, ``%g`` otherwise).
    """
    from matplotlib.ticker import NullFormatter, NullLocator

    if axis not in ("x", "y"):
        raise ConfigError(f"axis must be 'x' or 'y', got {axis!r}")
    values = [float(v) for v in values]
    if any(not np.isfinite(v) or v <= 0 for v in values):
        raise ConfigError(f"a log axis needs positive, finite tick values; got {values}")
    fmt = fmt or (lambda v: str(int(v)) if float(v).is_integer() else f"{v:g}")
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target.set_minor_locator(NullLocator())
    target.set_minor_formatter(NullFormatter())
    (ax.set_xticks if axis == "x" else ax.set_yticks)(values, [fmt(v) for v in values])


def shared_norm(
    *arrays: Any,
    log: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    decades: float | None = None,
):
    """One colour normalisation for every array given (the frames of a video).

    With ``log`` (default) a ``LogNorm`` from the smallest positive finite value to the largest
    finite value; ``decades`` caps the range at that many powers of ten below the maximum.
    ``vmin``/``vmax`` override the data. Without ``log``, a linear ``Normalize``.
    """
    from matplotlib.colors import LogNorm, Normalize

    values = np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in arrays]) if arrays else np.array([])
    finite = values[np.isfinite(values)]
    if log:
        finite = finite[finite > 0]
    if vmax is None:
        vmax = float(finite.max()) if finite.size else 1.0
    if vmin is None:
        vmin = float(finite.min()) if finite.size else (vmax / 10.0 if log else 0.0)
    if log:
        if vmax <= 0:
            raise ConfigError(f"a log colour scale needs positive values; the largest is {vmax}")
        if decades is not None:
            vmin = max(vmin, vmax / 10.0**decades)
        vmin = min(vmin, vmax)
        if vmin >= vmax:  # a flat landscape: widen so that the scale is defined
            vmin, vmax = vmin / 1.5, vmax * 1.5
        return LogNorm(vmin=vmin, vmax=vmax, clip=True)
    if vmin >= vmax:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return Normalize(vmin=vmin, vmax=vmax, clip=True)


def _prepare(values: np.ndarray, norm) -> np.ndarray:
    """Values inside the norm's range (NaN and ±inf pushed to its ends) so nothing is blank."""
    values = np.asarray(values, np.float64)
    values = np.where(np.isnan(values) | (values == np.inf), norm.vmax, values)
    return np.clip(values, norm.vmin, norm.vmax)


def plot_plane(
    ax: Any,
    losses: PlaneLosses,
    index: int = -1,
    *,
    norm=None,
    labels: Sequence[str] | None = DEFAULT_LABELS,
    cmap: str = "viridis",
    contours: int = 10,
    colorbar: bool = True,
    title: str | None = None,
    show_values: bool = True,
    xlabel: str | None = None,
    ylabel: str | None = None,
    aspect: str | float | None = None,
):
    """Draw landscape ``index`` of ``losses`` on ``ax``: colour (log scale), contour lines and
    the plane's points (anchors) marked and labelled (with their loss when ``show_values``).

    ``norm`` defaults to :func:`shared_norm` of this landscape alone; pass one norm to every
    frame of a series. Axis labels follow the plane's kind unless given; ``aspect`` defaults to
    "equal" (true proportions), except for "pca" planes, whose second component is often much
    shorter than the first ("auto"). Returns the colour mesh (for a colour bar elsewhere).
    """
    from matplotlib import patheffects

    if not -len(losses.sizes) <= index < len(losses.sizes):
        raise ConfigError(f"landscape index {index} is out of range: the plane holds {len(losses.sizes)} landscapes")
    values = losses.losses[index]
    log = losses.metric == "loss"
    norm = norm or shared_norm(values, log=log)
    shown = _prepare(values, norm)
    mesh = ax.pcolormesh(losses.a, losses.b, shown, norm=norm, cmap=cmap, shading="gouraud", rasterized=True)
    if contours and np.ptp(shown) > 0:
        if log:
            levels = np.geomspace(norm.vmin, norm.vmax, contours + 2)[1:-1]
        else:
            levels = np.linspace(norm.vmin, norm.vmax, contours + 2)[1:-1]
        ax.contour(losses.a, losses.b, shown, levels=levels, colors="white", linewidths=0.6, alpha=0.6)
    stroke = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    labels = _labels(losses, labels)
    if labels is not None:
        if len(labels) != len(losses.anchors):
            raise ConfigError(f"give {len(losses.anchors)} labels (one per point), got {len(labels)}")
        ax.scatter(losses.anchors[:, 0], losses.anchors[:, 1], s=46, c="white", edgecolors="black", zorder=5)
        for p, (label, (a, b)) in enumerate(zip(labels, losses.anchors)):
            text = str(label)
            if show_values:
                text += f"\n{losses.anchor_losses[index, p]:.3g}"
            ax.annotate(
                text,
                (a, b),
                xytext=(6, 6),
                textcoords="offset points",
                color="white",
                fontsize=9,
                fontweight="bold",
                path_effects=stroke,
                zorder=6,
            )
    ax.set_xlim(losses.a[0], losses.a[-1])
    ax.set_ylim(losses.b[0], losses.b[-1])
    aspect = aspect if aspect is not None else ("auto" if losses.kind == "pca" else "equal")
    ax.set_aspect(aspect, adjustable="box")
    default_x, default_y = AXIS_LABELS.get(losses.kind, AXIS_LABELS["affine"])
    ax.set_xlabel(default_x if xlabel is None else xlabel)
    ax.set_ylabel(default_y if ylabel is None else ylabel)
    size = losses.sizes[index]
    ax.set_title(title if title is not None else f"{size}-example landscape")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="loss" if log else losses.metric)
    return mesh


def plot_path(
    ax: Any,
    path: np.ndarray,
    *,
    color: str = "#ff5a36",
    label: str | None = "training path",
    markers: bool = True,
):
    """Draw a path (T, 2) of plane coordinates on ``ax`` (the optimiser's path projected on a
    trajectory plane): a line through the points, its start marked by a square and its end by
    a star. Returns the line."""
    from matplotlib import patheffects

    path = np.asarray(path, np.float64)
    if path.ndim != 2 or path.shape[1] != 2:
        raise ConfigError(f"a path must have shape (T, 2), got {path.shape}")
    stroke = [patheffects.withStroke(linewidth=3.0, foreground="black")]
    (line,) = ax.plot(
        path[:, 0],
        path[:, 1],
        color=color,
        lw=1.6,
        marker="o" if markers else None,
        ms=2.5,
        label=label,
        path_effects=stroke,
        zorder=7,
    )
    ax.scatter(path[:1, 0], path[:1, 1], marker="s", s=40, c=color, edgecolors="black", zorder=8)
    ax.scatter(path[-1:, 0], path[-1:, 1], marker="*", s=120, c=color, edgecolors="black", zorder=8)
    return line


def plot_surface(
    ax: Any,
    losses: PlaneLosses,
    index: int = -1,
    *,
    norm=None,
    cmap: str = "viridis",
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
):
    """Draw landscape ``index`` of ``losses`` as a surface on a 3-D ``ax``
    (``figure.add_subplot(projection="3d")``): height log10 L for losses (the metric itself
    otherwise), coloured on the same log scale as :func:`plot_plane`. Returns the surface."""
    if not -len(losses.sizes) <= index < len(losses.sizes):
        raise ConfigError(f"landscape index {index} is out of range: the plane holds {len(losses.sizes)} landscapes")
    values = losses.losses[index]
    log = losses.metric == "loss"
    norm = norm or shared_norm(values, log=log)
    shown = _prepare(values, norm)
    height = np.log10(shown) if log else shown
    low, high = (np.log10(norm.vmin), np.log10(norm.vmax)) if log else (norm.vmin, norm.vmax)
    ga, gb = np.meshgrid(losses.a, losses.b)
    # faces coloured by their mean height: on log10 L a linear scale is the log colour scale
    surface = ax.plot_surface(
        ga, gb, height, cmap=cmap, vmin=low, vmax=high, rstride=1, cstride=1, linewidth=0, antialiased=False
    )
    default_x, default_y = AXIS_LABELS.get(losses.kind, AXIS_LABELS["affine"])
    ax.set_xlabel(default_x if xlabel is None else xlabel, fontsize=8)
    ax.set_ylabel(default_y if ylabel is None else ylabel, fontsize=8)
    ax.set_zlabel("log10 loss" if log else losses.metric, fontsize=8)
    ax.set_title(title if title is not None else f"{losses.sizes[index]}-example landscape")
    return surface


def surface_figure(
    losses: PlaneLosses,
    index: int = -1,
    *,
    norm=None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 5.6),
    dpi: int = 100,
    elevation: float = 35.0,
    azimuth: float = -60.0,
    **options: Any,
):
    """A figure of one landscape of a plane as a surface (see :func:`plot_surface`), with a
    colour bar on the log scale."""
    from matplotlib.cm import ScalarMappable

    figure = new_figure(figsize, dpi)
    ax = figure.add_subplot(1, 1, 1, projection="3d")
    log = losses.metric == "loss"
    norm = norm or shared_norm(losses.losses[index], log=log)
    plot_surface(ax, losses, index, norm=norm, title=title, **options)
    ax.view_init(elev=elevation, azim=azimuth)
    mappable = ScalarMappable(norm=norm, cmap=options.get("cmap", "viridis"))
    figure.colorbar(mappable, ax=ax, shrink=0.6, pad=0.1, label="loss" if log else losses.metric)
    return figure


def plot_slice(
    ax: Any,
    slice_losses: SliceLosses,
    *,
    labels: Sequence[str] | None = None,
    cmap: str = "viridis",
    log: bool | None = None,
    marks: Sequence[float] = (),
):
    """One line per nested landscape of ``slice_losses`` against t (colour from small to large
    landscapes), on a log y-axis for losses; vertical lines at ``marks`` (e.g. t = 0, 1)."""
    from matplotlib import colormaps

    log = slice_losses.metric == "loss" if log is None else log
    sizes = slice_losses.sizes
    labels = labels or [f"{k} examples" for k in sizes]
    colours = colormaps[cmap](np.linspace(0.0, 0.9, len(sizes)))
    lines = []
    for colour, label, values in zip(colours, labels, slice_losses.losses):
        (line,) = ax.plot(slice_losses.t, values, color=colour, label=label)
        lines.append(line)
    for t in marks:
        ax.axvline(t, color="grey", lw=0.8, ls=":")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("loss" if slice_losses.metric == "loss" else slice_losses.metric)
    ax.legend(fontsize=8)
    return lines


def new_figure(figsize: tuple[float, float] = (6.4, 5.6), dpi: int = 100):
    """A matplotlib Figure on the Agg canvas, not registered with pyplot (no global state, no
    need to close it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def plane_figure(
    losses: PlaneLosses,
    index: int = -1,
    *,
    norm=None,
    labels: Sequence[str] | None = DEFAULT_LABELS,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 5.6),
    dpi: int = 100,
    **options: Any,
):
    """A figure of one landscape of a plane (see :func:`plot_plane`; options go there)."""
    figure = new_figure(figsize, dpi)
    ax = figure.add_subplot(1, 1, 1)
    plot_plane(ax, losses, index, norm=norm, labels=labels, title=title, **options)
    figure.tight_layout()
    return figure


def figure_to_rgb(figure) -> np.ndarray:
    """Render ``figure`` with Agg and return its pixels, shape (height, width, 3), uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return np.array(canvas.buffer_rgba())[..., :3]
