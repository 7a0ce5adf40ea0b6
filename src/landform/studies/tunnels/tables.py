"""The tunnel-posterior study's tables: one row per posterior run, and whether the runs behind
each temperature chosen by validation LPPD converged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from landform.store import stage_summary
from landform.studies.common import label
from landform.studies.tunnels.config import ConvergenceSpec, PosteriorRun

#: Columns reported at the temperature chosen by validation LPPD, after the test LPPD and metric.
SELECTION_DIAGNOSTICS = ("ess_bulk_min", "rhat_max", "sampling_seconds", "ess_per_gradient_evaluation")
#: Columns of the report's table of posterior runs, before and after the test metric (after the grid).
SUMMARY_HEAD = ("K", "space", "temperature", "seed", "chains_failed", "validation_lppd", "test_lppd")
SUMMARY_TAIL = (
    "train_elpd_loo",
    "train_pareto_k_max",
    "train_pareto_k_bad_count",
    "converged",
    "ess_bulk_min",
    "ess_tail_min",
    "rhat_max",
    "sampling_seconds",
    "gradient_evaluations_per_draw",
    "ess_per_second",
    "ess_per_gradient_evaluation",
    "status",
)


def results_table(runs: list[PosteriorRun], convergence: ConvergenceSpec) -> pd.DataFrame:
    """One row per posterior run: its grid values, setting, K, seed, space, T and stage summary."""
    rows = []
    for item in runs:
        degree = int(np.load(item.curve.folder / "control_points.npy").shape[0] - 1)
        rows.append(
            {
                **{k: label(v) for k, v in item.setting.labels.items()},
                "setting": item.setting.index,
                "K": degree,
                "seed": item.seed,
                "space": item.space,
                "temperature": item.temperature,
                "sampler_name": item.setting.sampler.sampler,
                "t_prior": item.setting.posterior.t_prior,
                "curve_status": stage_summary(item.curve).get("status"),
                **stage_summary(item.sample),
            }
        )
    table = pd.DataFrame(rows)
    for column in ("chains", "chains_failed"):
        if column in table:
            table[column] = table[column].fillna(0).astype(int)
    if "rhat_max" in table:
        rhat, ess = table["rhat_max"].astype(float), table["ess_bulk_min"].astype(float)
        table["converged"] = (rhat <= convergence.rhat_limit) & (ess >= convergence.ess_limit)
    else:  # every run failed: nothing converged
        table["converged"] = False
    return table


def selection_converged(selection: pd.DataFrame, table: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """``selection`` with ``converged``: whether every run (every seed) of the group at its chosen
    temperature converged, so that a chosen test metric resting on unmixed chains is visible."""
    if selection.empty:
        return selection
    flags = []
    for _, row in selection.iterrows():
        members = table[np.isclose(table.temperature.astype(float), float(row.temperature))]
        for name in group:
            members = members[members[name] == row[name]]
        members = members[members.status == "completed"]
        flags.append(bool(len(members)) and bool(members.converged.astype(bool).all()))
    return selection.assign(converged=flags)
