"""The tables of the minima-volume study (:mod:`landform.studies.volume`) and their analysis:
one row per (minimum, landscape, threshold) in ``volumes``, the ``cutoffs``, the
``ranking_stability`` of the minima's volumes and, with measures, the ``rank_correlations``;
:func:`analyse` writes them, draws the figures and writes the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from landform.landscape import Landscape
from landform.losses import get_loss
from landform.store import Figure, RunFolder
from landform.studies.analysis import per_minimum, rank_correlations
from landform.studies.volume import layout
from landform.studies.volume.config import Config
from landform.studies.volume.figures import RadiusHistogram, volume_figures
from landform.studies.volume.minimum import Minimum
from landform.studies.volume.reference import reference_figure, reference_table
from landform.studies.volume.report import write_volume_report
from landform.train import load_trained
from landform.volume import cutoffs, estimate, load_radii, ranking_stability
from landform.volume.radii import UNRESOLVED

STATISTICS = ("log_volume", "log_max_volume", "mean_log_radius", "median_radius")


class StabilityMember(NamedTuple):
    """One minimum's sphere radii in one landscape at one threshold, for the ranking stability
    of the minima of one seed, arm and checkpoint."""

    model_level: int
    sphere_radii: np.ndarray  # (K,)
    dimension: int


class MinimumTables(NamedTuple):
    """What one minimum adds to the tables and figures."""

    volumes: list[dict[str, Any]]  # rows of ``volumes``: one per landscape and threshold
    cutoffs: list[dict[str, Any]]  # rows of ``cutoffs``: one per threshold
    stability: list[tuple[tuple, StabilityMember]]  # (seed, arm, checkpoint, landscape size, τ), member
    histograms: list[RadiusHistogram]  # its exit radii in its own landscape at the smallest τ


def analyse(config: Config, run_folder: RunFolder, minima: list[Minimum], log) -> Path:
    """Write the tables of ``minima`` (their stages finished) into ``run_folder``, draw the figures
    and write the report; returns the report's path."""
    level_of = dict(zip(config.sizes, config.data.levels))
    rows, cutoff_rows, histograms = [], [], []
    stability_inputs: dict[tuple, list[StabilityMember]] = {}
    for minimum in minima:
        tables = _measure_minimum(config, minimum, level_of)
        rows += tables.volumes
        cutoff_rows += tables.cutoffs
        histograms += tables.histograms
        for group, member in tables.stability:
            stability_inputs.setdefault(group, []).append(member)
    table = pd.DataFrame(rows)
    run_folder.write_table("volumes", table)
    cutoff_table = pd.DataFrame(cutoff_rows)
    run_folder.write_table("cutoffs", cutoff_table)
    stability = _stability(stability_inputs)
    run_folder.write_table("ranking_stability", stability)
    correlations = None
    if config.measures is not None:
        # which measure of a minimum, in its own landscape at the smallest τ, predicts its generalisation
        own = per_minimum(table, config.volume.thresholds[0])
        correlations = rank_correlations(own, resamples=config.measures.correlation_resamples, seed=0)
        run_folder.write_table("rank_correlations", correlations)

    reference = reference_table(minima, table) if config.reference is not None else pd.DataFrame()
    if not reference.empty:
        run_folder.write_table("reference", reference)
    figures = volume_figures(
        run_folder,
        table,
        stability,
        histograms,
        threshold=config.volume.thresholds[0],
        fixed_examples=config.data.base + config.figure_landscape,
        correlations=correlations,
    )
    figure = reference_figure(reference)
    if figure is not None:
        caption = (
            "Reference basin measure: the capped log-volume of each minimum by tethered annealing with its reported "
            "error (filled: converged; open: unconverged, its error a lower bound; red crosses: samples reached the "
            "cap), against the size of its training set; right: the paper's ray estimate of the same cells."
        )
        figures.insert(0, Figure(run_folder.save_figure("reference", figure), caption))
    return write_volume_report(config, run_folder, table, figures, len(minima), log, correlations, reference)


def _measure_minimum(config: Config, minimum: Minimum, level_of: dict[int, int]) -> MinimumTables:
    """The volume estimates, cutoffs and test metrics of one minimum, from its radii stage."""
    spec = config.volume
    result = load_radii(minimum.radii.folder)
    per_example = np.load(minimum.radii.folder / layout.PER_EXAMPLE_FILE)
    test_loss, test_accuracy = _test_metrics(config, minimum)
    estimates = {
        s: estimate(
            result,
            statistic=s,
            include_ball=spec.include_ball,
            num_resamples=max(spec.bootstrap, 1),
            seed=minimum.model_seed,
        )
        for s in STATISTICS
    }
    cutoff_of = {
        tau: cutoffs(per_example[None], tau, training_sizes=[minimum.model_examples]) for tau in spec.thresholds
    }
    key = minimum.identity()
    measure_columns = _measure_columns(config, minimum)
    tables = MinimumTables([], [], [], [])
    for tau in result.thresholds:
        cutoff = cutoff_of[tau]
        tables.cutoffs.append(
            {**key, "threshold": tau, "cutoff_examples": int(cutoff.cutoff[0]), "leaves_pool": bool(cutoff.leaves[0])}
        )
    for q, size in enumerate(result.sizes):
        train_loss = float(result.center_values[q])
        for t, tau in enumerate(result.thresholds):
            outside = bool(result.outside_by[q, t] > 0)
            row = {
                **key,
                "landscape_level": level_of[size],
                "landscape_examples": size,
                "threshold": tau,
                "status": _status(result, q, t, outside),
                "outside_by": float(max(result.outside_by[q, t], 0.0)),
                "train_loss": train_loss,
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "cutoff_examples": int(cutoff_of[tau].cutoff[0]),
                "parameters": int(result.dimension),
                "directions": int(result.radii.shape[0]),
                "censored": int(result.censored[:, q, t].sum()),
                "unresolved": int((result.status[:, q, t] == UNRESOLVED).sum()),
                "evaluations_per_ray": float(np.mean(result.evaluations)),
                **_estimate_columns(estimates, q, t, outside),
                **measure_columns(size),
            }
            tables.volumes.append(row)
            if outside:
                continue
            group = (minimum.model_seed, minimum.arm, minimum.checkpoint, size, tau)
            tables.stability.append(
                (group, StabilityMember(minimum.model_level, result.sphere_radii[:, q, t], result.dimension))
            )
            if size == minimum.model_examples and t == 0:
                histogram = RadiusHistogram(
                    minimum.model_level, minimum.model_seed, minimum.arm, minimum.checkpoint, result.radii[:, q, t]
                )
                tables.histograms.append(histogram)
    return tables


def _test_metrics(config: Config, minimum: Minimum) -> tuple[float, float]:
    """Test loss and test accuracy (NaN for losses without one) of a minimum."""
    model, params, _ = load_trained(minimum.train.folder / minimum.checkpoint)
    test = layout.load_stage_splits(minimum.data.folder)[layout.TEST]
    landscape = Landscape.from_apply(model.apply, params, test.x, test.y, config.loss)
    test_loss = float(landscape.loss(landscape.theta))
    test_accuracy = float(landscape.accuracy(landscape.theta)) if get_loss(config.loss).accuracy_kind else float("nan")
    return test_loss, test_accuracy


def _status(result, q: int, t: int, outside: bool) -> str:
    """One word for a (landscape, threshold) cell: outside (θ* above τ), unresolved (some ray's
    exit could not be bracketed), censored (some ray still inside at r_max) or inside."""
    if outside:
        return "outside"
    if (result.status[:, q, t] == UNRESOLVED).any():
        return "unresolved"
    return "censored" if result.censored[:, q, t].any() else "inside"


def _estimate_columns(estimates: dict, q: int, t: int, outside: bool) -> dict[str, Any]:
    """The columns of each statistic's estimate in landscape ``q`` at threshold ``t``: the value,
    its percentile bootstrap over directions (``_low``, ``_high``), whether it is a lower bound
    (censored rays) and whether it is reliable (:func:`landform.volume.estimators.estimate`);
    for the log-volume also the effective number of rays and the Pareto k̂ of the weights.
    Never a silent -inf: outside rows get NaN and the status says why."""
    columns: dict[str, Any] = {}
    for name, statistic in estimates.items():
        value = float(statistic.value[q, t])
        columns[name] = value if np.isfinite(value) and not outside else float("nan")
        columns[f"{name}_low"] = float(statistic.lower[q, t]) if not outside else float("nan")
        columns[f"{name}_high"] = float(statistic.upper[q, t]) if not outside else float("nan")
        columns[f"{name}_is_lower_bound"] = bool(statistic.is_lower_bound[q, t])
        columns[f"{name}_reliable"] = bool(statistic.reliable[q, t])
        if name == "log_volume":
            columns["log_volume_effective_rays"] = (
                float(statistic.effective_rays[q, t]) if not outside else float("nan")
            )
            columns["log_volume_pareto_k"] = float(statistic.pareto_k[q, t]) if not outside else float("nan")
    return columns


def _measure_columns(config: Config, minimum: Minimum) -> Callable[[int], dict[str, Any]]:
    """landscape size → the curvature columns of that row of ``minimum`` (none without measures)."""
    if minimum.measures is None:
        return lambda size: {}
    records = json.loads((minimum.measures.folder / layout.MEASURES_FILE).read_text())
    if config.measures.landscapes == "own":
        own = records[str(minimum.model_examples)]
        return lambda size: {"measure_examples": minimum.model_examples, **own}
    return lambda size: {"measure_examples": size, **records[str(size)]}


STABILITY_COLUMNS = [
    "model_seed",
    "arm",
    "checkpoint",
    "landscape_examples",
    "threshold",
    "directions",
    "probability",
    "models",
]


def _stability(groups: dict[tuple, list[StabilityMember]]) -> pd.DataFrame:
    """Ranking stability of the minima of one seed, arm and checkpoint in each landscape."""
    rows = []
    for (seed, arm, checkpoint, size, tau), members in groups.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda member: member.model_level)
        radii = np.stack([member.sphere_radii for member in members])  # (M, K)
        dimension = members[0].dimension
        k_max = radii.shape[1]
        subset_sizes = sorted({k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if k <= k_max} | {k_max})
        result = ranking_stability(radii, dimension, subset_sizes, num_draws=200, seed=seed)
        for directions, probability in zip(result.subset_sizes, result.probability):
            rows.append(
                {
                    "model_seed": seed,
                    "arm": arm,
                    "checkpoint": checkpoint,
                    "landscape_examples": size,
                    "threshold": tau,
                    "directions": int(directions),
                    "probability": float(probability),
                    "models": len(members),
                }
            )
    return pd.DataFrame(rows, columns=STABILITY_COLUMNS)


__all__ = ["STABILITY_COLUMNS", "STATISTICS", "MinimumTables", "StabilityMember", "analyse"]
