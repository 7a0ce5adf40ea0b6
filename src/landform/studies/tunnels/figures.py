"""Figures of the tunnel-posterior study (Dold, Kobialka, Palm, Sommer, Rügamer, Dürr 2025,
"Paths and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382, second half).

Every figure is drawn from the results table and from arrays the study has already loaded: a
:class:`FigureRun` holds one posterior run's draws, prior draws, predictive draws, data splits
and the :class:`~landform.bayes.CurvePosterior` (subspace, tunnel, posterior) built once for it.
Each function takes ``plt`` (matplotlib.pyplot) and the run folder, saves one figure there and
returns its :class:`~landform.store.Figure` (None when it has nothing to show).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from landform.bayes import CurvePosterior, CurvePosteriorSettings
from landform.bayes import space as space_of
from landform.bayes.transforms import interval_log_jacobian, interval_to_unconstrained
from landform.data import Split
from landform.paths import Curve, bezier, curve_predictive, evaluate
from landform.store import Figure, RunFolder
from landform.subspace import FRAME_KINDS

LINE_STYLES = {"tunnel": "-", "volume": "--", "line": ":", "full": "-."}
SPACE_COLOURS = {"tunnel": "C0", "volume": "C1", "line": "C2", "full": "C3"}
DIAGNOSTIC_TITLES = {
    "ess_bulk_min": "smallest bulk ESS (log)",
    "rhat_max": "largest R-hat",
    "ess_per_evaluation": "bulk ESS per evaluation (log)",
}


class FigureRun(NamedTuple):
    """One posterior run as the figures see it.

    - ``space``, ``temperature``, ``settings``: what was sampled.
    - ``built``: the posterior with its subspace, tunnel and curve, built once for this run.
    - ``draws``: the coordinates of the kept draws, (chains, draws, K) in φ (θ in the full space).
    - ``prior``: prior draws in φ, (count, K), or None (full space).
    - ``predictive``: (x, means) with x (G,) and means (draws, G) of 1-D regression, or None.
    - ``splits``: the data splits by name.
    """

    space: str
    temperature: float
    settings: CurvePosteriorSettings
    built: CurvePosterior
    draws: np.ndarray
    prior: np.ndarray | None
    predictive: tuple[np.ndarray, np.ndarray] | None
    splits: dict[str, Split]


class SlicePick(NamedTuple):
    """A tunnel run whose log-posterior is sliced: the group value (e.g. an activation, or None),
    the run, and its row of the results table."""

    value: Any
    run: FigureRun
    row: pd.Series


def metrics_figure(plt, run_folder: RunFolder, groups: list[str], table: pd.DataFrame, metric: str) -> Figure | None:
    """Validation LPPD, test LPPD and ``metric`` against T: one panel row per combination of
    the ``groups`` columns, one line per space (style; colour too when there is one K) and K
    (colour), mean ± std over seeds; red rings where a run did not converge."""
    if table.temperature.nunique() < 2:
        return None
    panels = list(table.groupby(groups, sort=True)) if groups else [((), table)]
    metrics = [m for m in ("validation_lppd", "test_lppd", metric) if m in table.columns]
    size = (4.2 * len(metrics), 3.4 * len(panels))
    fig, axes = plt.subplots(len(panels), len(metrics), figsize=size, squeeze=False)
    degrees = sorted(table.K.unique())
    for row, (key, rows) in enumerate(panels):
        key = key if isinstance(key, tuple) else (key,)
        title = ", ".join(f"{g.split('.')[-1]}={v}" for g, v in zip(groups, key))
        unmixed = False
        for column, name in enumerate(metrics):
            ax = axes[row, column]
            for (space, degree), group in rows.groupby(["space", "K"]):
                if len(degrees) > 1:
                    colour = plt.cm.viridis(degrees.index(degree) / max(len(degrees) - 1, 1))
                else:  # one K: the spaces get colours as well as line styles
                    colour = SPACE_COLOURS.get(space, "k")
                style = LINE_STYLES.get(space, "-")
                unmixed |= _mean_and_spread(ax, group, name, style, colour, f"{space}, K={degree}")
            ax.set_xscale("log")
            ax.set_xlabel("temperature T")
            ax.set_ylabel(name.replace("_", " "))
            ax.set_title(title or name.replace("_", " "), fontsize=9)
        if unmixed:  # a legend entry for the rings
            axes[row, 0].plot([], [], label="did not converge", **UNCONVERGED_MARKER)
        axes[row, 0].legend(fontsize=6)
    fig.tight_layout()
    what = metric.split("_")[-1].upper() if "rmse" in metric else "accuracy"
    return Figure(
        run_folder.save_figure("metrics_against_temperature", fig),
        f"Validation and test LPPD and test {what} against the posterior temperature T per space (line style) "
        "and K (colour; with one K, the space), mean ± std over seeds; a red ring marks a temperature where a "
        "run did not converge.",
    )


UNCONVERGED_MARKER = dict(linestyle="none", marker="o", markersize=7, markerfacecolor="none", markeredgecolor="crimson")


def _mean_and_spread(ax, group: pd.DataFrame, name: str, style: str, colour, text: str) -> bool:
    """The mean of ``name`` over seeds against T, with a ± std band when there are several seeds;
    temperatures where a run did not converge get a red ring. Returns whether any did."""
    stats = group.groupby("temperature")[name].agg(["mean", "std"]).sort_index()
    ax.plot(stats.index, stats["mean"], style, color=colour, marker="o", markersize=3, label=text)
    if group.seed.nunique() > 1:
        spread = stats["std"].fillna(0)
        ax.fill_between(stats.index, stats["mean"] - spread, stats["mean"] + spread, color=colour, alpha=0.12)
    if "converged" not in group:
        return False
    mixed = group.groupby("temperature").converged.agg(lambda flags: bool(flags.astype(bool).all()))
    unmixed = ~mixed.reindex(stats.index).fillna(False).astype(bool).to_numpy()
    if unmixed.any():
        ax.plot(stats.index[unmixed], stats["mean"].to_numpy()[unmixed], **UNCONVERGED_MARKER)
    return bool(unmixed.any())


def diagnostics_figure(plt, run_folder: RunFolder, table: pd.DataFrame, groups: list[str]) -> Figure:
    """Smallest bulk ESS, largest R-hat and ESS per evaluation: one dot per run, grouped by K and
    by the ``groups`` columns that vary, one colour per space, bars at the medians."""
    spaces = list(table.space.unique())
    by = ["K"] + [c for c in groups if c in table.columns and table[c].nunique() > 1]
    # the distinct tuples of the grouping columns, in sorted order (pandas 2 and 3 alike)
    keys = list(table[by].drop_duplicates().sort_values(by).itertuples(index=False, name=None))
    fields = [f for f in ("ess_bulk_min", "rhat_max", "ess_per_evaluation") if f in table.columns]
    size = (max(4.3, 1.1 * len(keys) + 2.2) * len(fields), 3.6)
    fig, axes = plt.subplots(1, len(fields), figsize=size, squeeze=False)
    width = 0.8 / max(len(spaces), 1)
    for ax, field in zip(axes[0], fields):
        for i, space in enumerate(spaces):
            for j, key in enumerate(keys):
                rows = table[table.space.eq(space)]
                for column, value in zip(by, key):
                    rows = rows[rows[column] == value]
                values = rows[field].dropna().to_numpy(float)
                if values.size == 0:
                    continue
                position = j + (i - (len(spaces) - 1) / 2) * width
                jitter = np.random.default_rng(j).uniform(-width / 4, width / 4, values.size)
                text = space if j == 0 else None
                ax.scatter(np.full(values.size, position) + jitter, values, s=9, color=f"C{i}", alpha=0.6, label=text)
                ax.hlines(np.median(values), position - width / 2.5, position + width / 2.5, color=f"C{i}")
        labels = ["\n".join(f"{c.split('.')[-1]}={v}" for c, v in zip(by, key)) for key in keys]
        ax.set_xticks(range(len(keys)), labels, fontsize=7)
        ax.set_title(DIAGNOSTIC_TITLES[field], fontsize=9)
        if field != "rhat_max":
            ax.set_yscale("log")
        else:
            ax.axhline(1.01, color="0.4", linewidth=0.8, linestyle=":")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return Figure(
        run_folder.save_figure("ess_rhat", fig),
        "Convergence per space and setting over every temperature and seed (one dot per run, bar: median): the "
        "smallest bulk ESS and the largest R-hat over the subspace coordinates φ (θ in the full space), and bulk ESS "
        "per gradient evaluation (per density evaluation for random-walk Metropolis).",
    )


def trace_rank_figure(plt, run_folder: RunFolder, representatives: dict[str, FigureRun]) -> Figure | None:
    """Traces and per-chain rank histograms of the first three coordinates, one row per space."""
    if not representatives:
        return None
    spaces = list(representatives)
    coordinates = 3
    size = (2.6 * 2 * coordinates, 2.2 * len(spaces))
    fig, axes = plt.subplots(len(spaces), 2 * coordinates, figsize=size, squeeze=False)
    for row, space in enumerate(spaces):
        draws = representatives[space].draws
        chains, count, dimension = draws.shape
        ranks = pd.DataFrame(draws.reshape(chains * count, dimension)).rank().to_numpy()
        ranks = ranks.reshape(chains, count, dimension)
        for c in range(min(coordinates, dimension)):
            trace, rank = axes[row, 2 * c], axes[row, 2 * c + 1]
            for chain in range(chains):
                trace.plot(draws[chain, :, c], linewidth=0.5, alpha=0.7)
                rank.hist(ranks[chain, :, c], bins=20, histtype="step", linewidth=0.8)
            trace.set_title(f"{space}: φ{c + 1} trace", fontsize=8)
            rank.set_title(f"{space}: φ{c + 1} ranks per chain", fontsize=8)
            rank.set_yticks([])
    fig.tight_layout()
    temperatures = ", ".join(f"{s} T={representatives[s].temperature:g}" for s in spaces)
    return Figure(
        run_folder.save_figure("trace_rank", fig),
        f"Trace and rank plots of the first three subspace coordinates φ for the first setting and seed "
        f"({temperatures}; T chosen by validation LPPD). Flat, overlapping rank histograms mean well-mixed chains.",
    )


def coverage_figure(plt, run_folder: RunFolder, representatives: dict[str, FigureRun]) -> Figure | None:
    """Prior and posterior draws in (φ1, φ2) with the curve c(t) and its control points, per space."""
    spaces = [s for s in representatives if space_of(s).coordinate == "phi"]  # draws and prior in φ
    if not spaces:
        return None
    size = (4.2 * len(spaces), 4)
    fig, axes = plt.subplots(1, len(spaces), figsize=size, squeeze=False, sharex=True, sharey=True)
    for ax, space in zip(axes[0], spaces):
        item = representatives[space]
        posterior_phi = item.draws.reshape(-1, item.draws.shape[-1])
        if item.prior is not None:
            ax.scatter(item.prior[:, 0], item.prior[:, 1], s=2, color="0.7", alpha=0.4, label="prior")
        step = max(1, len(posterior_phi) // 3000)
        phi = posterior_phi[::step]
        ax.scatter(phi[:, 0], phi[:, 1], s=2, color="C3", alpha=0.35, label="posterior")
        curve_phi = item.built.curve_phi
        dense = np.asarray(evaluate(curve_phi, jnp.linspace(0, 1, 200)))
        ax.plot(dense[:, 0], dense[:, 1], color="k", linewidth=1.2, label="curve c(t)")
        control = np.asarray(curve_phi.control_points)[:, :2]
        ax.scatter(*control.T, s=14, color="k", marker="s", label="control points")
        ax.set_xlabel("φ1")
        ax.set_ylabel("φ2")
        ax.set_title(f"{space} space, T = {item.temperature:g}", fontsize=9)
    axes[0, 0].legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return Figure(
        run_folder.save_figure("coverage", fig),
        "Prior (grey) and posterior (red) draws projected onto the first two subspace coordinates (φ1, φ2), with "
        "the trained curve and its control points: the tunnel prior concentrates around the curve, the volume prior "
        "spreads over the whole plane.",
    )


def predictive_figure(plt, run_folder: RunFolder, representatives: dict[str, FigureRun]) -> Figure | None:
    """1-D regression: functions along the curve, functions of posterior draws and their mean."""
    spaces = [s for s in representatives if representatives[s].predictive is not None]
    if not spaces:
        return None
    fig, axes = plt.subplots(1, len(spaces), figsize=(5 * len(spaces), 3.8), squeeze=False, sharey=True)
    for ax, space in zip(axes[0], spaces):
        item = representatives[space]
        x, means = item.predictive
        built = item.built
        along = curve_predictive(built.curve_model, built.curve, x[:, None], t=20, loss=built.loss)
        for line in np.asarray(along.mean)[..., 0]:
            ax.plot(x, line, color="0.75", linewidth=0.8)
        for line in means:
            ax.plot(x, line, color="C0", linewidth=0.6, alpha=0.35)
        ax.plot(x, means.mean(axis=0), color="C3", linewidth=1.6, label="posterior mean")
        train = item.splits["train"]
        ax.scatter(train.x[:, 0], np.asarray(train.y).reshape(-1), s=9, color="k", label="train")
        if "test" in item.splits:
            test = item.splits["test"]
            ax.scatter(test.x[:, 0], np.asarray(test.y).reshape(-1), s=12, color="k", marker="x", label="test")
        ax.set_title(f"{space} space, T = {item.temperature:g}", fontsize=9)
        ax.set_xlabel("x")
    axes[0, 0].set_ylabel("y")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return Figure(
        run_folder.save_figure("predictive_with_draws", fig),
        "The curve predictive: functions of 20 networks along the trained curve (grey), functions of posterior draws "
        "(blue) and their mean (red), with the training (dots) and test (crosses) data.",
    )


def slices_figure(plt, run_folder: RunFolder, picks: list[SlicePick]) -> Figure | None:
    """The tempered log-posterior of the tunnel space in the (t, ξ_1) and (t, ξ_2) planes, the
    other ξ = 0 (σ at its posterior mean when sampled), one row per pick."""
    if not picks:
        return None
    planes = 2
    fig, axes = plt.subplots(len(picks), planes, figsize=(4.6 * planes, 3.6 * len(picks)), squeeze=False)
    for row, (value, item, stats) in enumerate(picks):
        settings = item.settings
        size = item.built.tunnel.dimension
        t = np.linspace(settings.t_lower + 1e-3, settings.t_upper - 1e-3, 81, dtype=np.float32)
        xi = np.linspace(-3 * settings.xi_scale, 3 * settings.xi_scale, 61, dtype=np.float32)
        for plane in range(min(planes, size - 1)):
            tt, xx = np.meshgrid(t, xi)
            density = _slice_density(item, stats, tt, xx, plane)
            ax = axes[row, plane]
            finite = density[np.isfinite(density)]
            # colours span the upper part of the range: the steep walls at the ends of the t range
            # would otherwise take the whole colour scale
            levels = np.linspace(np.percentile(finite, 40), finite.max(), 30) if finite.size else 30
            shown = np.where(np.isfinite(density), density, np.nan)
            mesh = ax.contourf(tt, xx, shown, levels=levels, cmap="magma", extend="min")
            fig.colorbar(mesh, ax=ax, fraction=0.046)
            ax.set_xlabel("t")
            ax.set_ylabel(f"ξ{plane + 1}")
            title = f"{'' if value is None else f'{value}, '}T = {item.temperature:g}"
            ax.set_title(f"log posterior in (t, ξ{plane + 1}): {title}", fontsize=8)
    fig.tight_layout()
    ending = ", per activation: ReLU networks give a rougher landscape than ELU." if len(picks) > 1 else "."
    return Figure(
        run_folder.save_figure("log_posterior_slices", fig),
        "The tempered log-posterior of the tunnel space (density in t and ξ) in the (t, ξ1) and (t, ξ2) planes with "
        "the other offsets at 0" + ending,
    )


def _slice_density(item: FigureRun, stats: pd.Series, tt: np.ndarray, xx: np.ndarray, plane: int) -> np.ndarray:
    """log p_T(t, ξ) on the grid (tt, xx) with ξ_plane = xx and the other offsets 0: the density
    in (t, ξ), i.e. log p_T(z) minus the log-Jacobian of the map from t to its unconstrained u."""
    posterior = item.built.posterior
    lower, upper = item.settings.t_lower, item.settings.t_upper
    sigma_mean = float(stats.get("sigma_mean", np.nan))
    sigma = sigma_mean if np.isfinite(sigma_mean) else 1.0
    offsets = np.zeros((tt.size, item.built.tunnel.dimension - 1), np.float32)
    offsets[:, plane] = xx.ravel()
    values = {"t": jnp.asarray(tt.ravel()), "xi": jnp.asarray(offsets)}
    if posterior.likelihood.samples_sigma:
        values["sigma"] = jnp.full((tt.size,), sigma)
    z = posterior.unconstrain(values)
    log_jacobian = interval_log_jacobian(interval_to_unconstrained(values["t"], lower, upper), lower, upper)
    density = jax.jit(jax.vmap(posterior.log_density))(z) - log_jacobian
    return np.asarray(density).reshape(tt.shape)


def frames_figure(plt, run_folder: RunFolder, curve_phi: Curve) -> Figure | None:
    """The three moving frames on the trained curve c(t) projected onto (φ1, φ2) and (φ1, φ2, φ3)."""
    from landform.subspace.plots import plot_frame_comparison

    rows = [d for d in (2, 3) if curve_phi.dim >= d]
    if not rows or curve_phi.kind != "bezier":
        return None
    fig = plt.figure(figsize=(4.2 * len(FRAME_KINDS), 3.8 * len(rows)))
    for r, dimension in enumerate(rows):
        projected = bezier(jnp.asarray(curve_phi.control_points)[:, :dimension])
        axes = [
            fig.add_subplot(
                len(rows),
                len(FRAME_KINDS),
                r * len(FRAME_KINDS) + i + 1,
                **({"projection": "3d"} if dimension == 3 else {}),
            )
            for i in range(len(FRAME_KINDS))
        ]
        scale = float(np.ptp(np.asarray(evaluate(projected, jnp.linspace(0, 1, 100))), axis=0).max()) * 0.12
        plot_frame_comparison(axes, projected, FRAME_KINDS, arrow_length=scale)
    fig.tight_layout()
    return Figure(
        run_folder.save_figure("frames", fig),
        "Frenet, transported (Dold et al.) and rotation-minimising frames along the trained curve projected onto its "
        "first two and three subspace coordinates: tangent in black, normals in colour. The Frenet normals flip where "
        "the curve inflects; the rotation-minimising frame turns as little as possible.",
    )
