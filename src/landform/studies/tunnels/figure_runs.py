"""Which posterior runs the tunnel-posterior study's figures show, what each figure is drawn
from (built or loaded once per run), and drawing them all (:func:`draw_figures`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from landform.bayes import CurvePosterior, load_posterior
from landform.data import Split
from landform.store import Figure, RunFolder
from landform.studies.common import load_data
from landform.studies.tunnels import figures as drawing
from landform.studies.tunnels.config import Config, PosteriorRun
from landform.studies.tunnels.stages import build_run_posterior

#: The space whose log-posterior the slices figure cuts in (t, ξ) planes.
SLICED_SPACE = "tunnel"


def _best_temperature(rows: pd.DataFrame) -> float:
    """The temperature of the best mean validation LPPD (without one: the middle temperature)."""
    if "validation_lppd" in rows and rows.validation_lppd.notna().any():
        return float(rows.groupby("temperature").validation_lppd.mean().idxmax())
    return float(sorted(rows.temperature.unique())[len(rows.temperature.unique()) // 2])


def _run_index(runs: list[PosteriorRun], setting: int, seed: int, space: str, temperature: float) -> int:
    """The position in ``runs`` of the run with these values."""
    for index, item in enumerate(runs):
        if (item.setting.index, item.seed, item.space, item.temperature) == (setting, seed, space, temperature):
            return index
    raise LookupError(f"no posterior run for setting {setting}, seed {seed}, {space} space, T = {temperature:g}")


def representative_runs(table: pd.DataFrame, runs: list[PosteriorRun]) -> dict[str, int]:
    """For the first setting and seed: per space, the run (its position) at its best validation temperature."""
    usable = table[table.status == "completed"]
    if usable.empty:
        return {}
    first = usable.iloc[0]
    chosen = {}
    for space in usable.space.unique():
        rows = usable[(usable.setting == first.setting) & (usable.seed == first.seed) & usable.space.eq(space)]
        if rows.empty:
            continue
        chosen[space] = _run_index(runs, first.setting, first.seed, space, _best_temperature(rows))
    return chosen


def slice_picks(table: pd.DataFrame, runs: list[PosteriorRun]) -> list[tuple[Any, int, pd.Series]]:
    """Tunnel runs to slice: per activation (or once), the first setting and seed at the
    temperature chosen by validation LPPD, as (activation or None, run position, table row)."""
    tunnel_rows = table[table.space.eq(SLICED_SPACE) & (table.status == "completed")]
    if tunnel_rows.empty:
        return []
    group = "model.activation" if "model.activation" in table.columns else None
    picks = []
    for value in tunnel_rows[group].unique() if group else [None]:
        rows = tunnel_rows if group is None else tunnel_rows[tunnel_rows[group] == value]
        first = rows.iloc[0]
        rows = rows[(rows.setting == first.setting) & (rows.seed == first.seed)]
        temperature = _best_temperature(rows)
        index = _run_index(runs, first.setting, first.seed, SLICED_SPACE, temperature)
        picks.append((value, index, rows[rows.temperature == temperature].iloc[0]))
    return picks


def saved_coordinate_draws(folder: Path) -> np.ndarray:
    """The saved draws in the coordinates spaces are compared in: φ (θ in the full space; z
    when neither is saved), shape (chains, draws, dimension)."""
    group = load_posterior(folder / "posterior.nc").posterior
    name = "phi" if "phi" in group else ("theta" if "theta" in group else "z")
    values = np.asarray(group[name])
    return values if values.ndim == 3 else values[..., None]


def figure_inputs(runs: list[PosteriorRun]):
    """Two cached look-ups by run position: the run's :class:`CurvePosterior` and its
    :class:`~landform.studies.tunnels.figures.FigureRun`, each built or loaded at most once."""

    @functools.cache
    def splits(index: int) -> dict[str, Split]:
        return load_data(runs[index].data)

    @functools.cache
    def built(index: int) -> CurvePosterior:
        item = runs[index]
        points = None if item.ensemble is None else np.load(item.ensemble.folder / "points.npy")
        return build_run_posterior(
            item.space, item.temperature, item.setting, item.curve, splits(index)["train"], points
        )

    @functools.cache
    def figure_run(index: int) -> drawing.FigureRun:
        item = runs[index]
        folder = item.sample.folder
        prior = np.load(folder / "prior_phi.npy") if (folder / "prior_phi.npy").exists() else None
        predictive = None
        if (folder / "predictive.npz").exists():
            with np.load(folder / "predictive.npz") as values:
                predictive = (values["x"], values["mean"])
        settings = item.setting.posterior.curve_settings()
        draws = saved_coordinate_draws(folder)
        return drawing.FigureRun(
            item.space, item.temperature, settings, built(index), draws, prior, predictive, splits(index)
        )

    return built, figure_run


def draw_figures(
    config: Config, run_folder: RunFolder, table: pd.DataFrame, runs: list[PosteriorRun], metric: str, log
) -> list[Figure]:
    """Every figure of the study that can be drawn (one that cannot is skipped and logged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: list[Figure] = []
    completed = table[table.status == "completed"]
    groups = [c for c in config.grid if c != "curve.degree"]
    representatives = representative_runs(table, runs)
    built, figure_run = figure_inputs(runs)

    def attempt(name, function):
        try:
            figure = function()
            if figure is not None:
                figures.append(figure)
        except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn is skipped and said
            log(f"figure {name} skipped: {type(e).__name__}: {e}")
        finally:
            plt.close("all")

    def chosen() -> dict[str, drawing.FigureRun]:
        return {space: figure_run(index) for space, index in representatives.items()}

    def picks() -> list[drawing.SlicePick]:
        return [drawing.SlicePick(value, figure_run(index), row) for value, index, row in slice_picks(table, runs)]

    if not completed.empty:
        attempt(
            "metrics_against_temperature", lambda: drawing.metrics_figure(plt, run_folder, groups, completed, metric)
        )
        attempt("ess_rhat", lambda: drawing.diagnostics_figure(plt, run_folder, completed, groups))
        attempt("trace_rank", lambda: drawing.trace_rank_figure(plt, run_folder, chosen()))
        attempt("coverage", lambda: drawing.coverage_figure(plt, run_folder, chosen()))
        attempt("predictive", lambda: drawing.predictive_figure(plt, run_folder, chosen()))
        attempt("slices", lambda: drawing.slices_figure(plt, run_folder, picks()))
    attempt("frames", lambda: drawing.frames_figure(plt, run_folder, built(0).curve_phi) if runs else None)
    return figures
