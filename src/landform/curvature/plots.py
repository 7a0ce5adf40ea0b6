"""Figures of curvature measurements (matplotlib; each returns a Figure the caller saves or shows)."""

from __future__ import annotations

from typing import Any

import numpy as np

from landform.curvature.llc import LLCEstimate
from landform.curvature.spectrum import SpectralDensity


def llc_figure(estimate: LLCEstimate, *, ax: Any = None, title: str | None = None):
    """The loss trace of every SGLD chain of an LLC estimate, the burn-in shaded and L_n(w*) drawn.

    Drifting chains are drawn dashed. Returns the figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        figure, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    else:
        figure = ax.figure
    steps = np.arange(estimate.loss_traces.shape[1])
    colours = plt.get_cmap("tab10")
    for chain, trace in enumerate(estimate.loss_traces):
        drifting = bool(estimate.drifting[chain])
        ax.plot(
            steps,
            trace,
            color=colours(chain % 10),
            linewidth=0.8,
            alpha=0.8,
            linestyle="--" if drifting else "-",
            label=f"chain {chain}: λ̂ = {estimate.per_chain[chain]:.3g}" + (" (drifts)" if drifting else ""),
        )
    ax.axvspan(0, estimate.burn_in, color="0.85", zorder=0, label="burn-in")
    ax.axhline(estimate.loss_at_center, color="black", linewidth=1, label="L(w*)")
    ax.set_xlabel("SGLD step")
    ax.set_ylabel("loss")
    error = "" if not np.isfinite(estimate.standard_error) else f" ± {estimate.standard_error:.2g}"
    nbeta = estimate.num_examples * estimate.beta
    heading = f"local learning coefficient λ̂ = {estimate.llc:.3g}{error} (nβ = {nbeta:.3g}, γ = {estimate.gamma:.3g})"
    ax.set_title(title or heading)
    if len(estimate.per_chain) <= 10:
        ax.legend(fontsize="small", loc="best")
    return figure


def spectral_density_figure(density: SpectralDensity, *, ax: Any = None, log: bool = True, title: str | None = None):
    """The SLQ spectral density with its ±2 standard-error band (log density scale by default)."""
    import matplotlib.pyplot as plt

    if ax is None:
        figure, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    else:
        figure = ax.figure
    floor = 1e-12
    low = np.maximum(density.density - 2 * density.standard_error, floor)
    high = density.density + 2 * density.standard_error
    ax.fill_between(density.grid, low, high, color="C0", alpha=0.25, linewidth=0, label="± 2 s.e.")
    ax.plot(density.grid, np.maximum(density.density, floor), color="C0", label="density")
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(floor, float(np.max(density.density)) * 1e-8))
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    ax.set_title(title or f"spectral density (SLQ, {density.nodes.shape[0]} probes, σ = {density.width:.2g})")
    ax.legend(fontsize="small")
    return figure
