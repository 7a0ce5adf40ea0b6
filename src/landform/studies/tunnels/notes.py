"""The notes of the tunnel-posterior study's report: unconverged and failed runs, single-chain
runs, a missing validation split, and temperature choices that rest on unmixed chains."""

from __future__ import annotations

import pandas as pd

from landform.studies.tunnels.config import ConvergenceSpec


def selection_notes(selection: pd.DataFrame, group: list[str]) -> list[str]:
    """A warning for each chosen temperature whose test metrics rest on unconverged chains (a
    group without any usable run has no chosen temperature; the failed-run note covers it)."""
    if selection.empty or "converged" not in selection:
        return []
    chosen = selection[~selection.converged.astype(bool) & selection.temperature.notna()]
    if not len(chosen):
        return []
    labels = [
        ", ".join(f"{name}={row[name]}" for name in group) + f" (T = {row.temperature:g})"
        for _, row in chosen.iterrows()
    ]
    return [
        f"⚠ {len(chosen)} of {len(selection)} temperature choice(s) rest on posterior runs that did not converge: "
        + "; ".join(labels)
        + ". Their test metrics in the selection table are not to be trusted; run longer chains."
    ]


def run_notes(table: pd.DataFrame, convergence: ConvergenceSpec) -> list[str]:
    """The report's notes: unconverged runs, failed chains and runs, single-chain runs, a missing
    validation split."""
    notes = []
    unconverged = table[(table.status == "completed") & ~table.converged.astype(bool)]
    if len(unconverged):
        notes.append(
            f"⚠ {len(unconverged)} of {len(table)} posterior run(s) did not converge (R-hat ≤ "
            f"{convergence.rhat_limit:g} and bulk ESS ≥ {convergence.ess_limit:g} on every coordinate): "
            "their metrics rest on unmixed chains; see the 'converged' column."
        )
    failed_chains = int(table.get("chains_failed", pd.Series(dtype=int)).sum())
    all_chains = int(table.get("chains", pd.Series(dtype=int)).sum())
    if failed_chains:
        notes.append(
            f"{failed_chains} of {all_chains} chains failed (non-finite values or too many divergences); they are "
            "excluded from every estimate and listed in the 'failures' column."
        )
    failed_runs = table[table.status == "failed"]
    if len(failed_runs):
        notes.append(
            f"{len(failed_runs)} posterior run(s) produced no usable chain; their metrics are missing (see 'reason')."
        )
    if "rhat_max" in table.columns:
        single = table[(table.status == "completed") & table.rhat_max.isna()]
        if len(single):
            notes.append(
                f"{len(single)} run(s) kept a single chain, so R-hat (which compares chains) is not defined for them."
            )
    if "validation_lppd" not in table.columns:
        notes.append(
            "The data have no validation split, so no temperature is selected; set data.validation_fraction to hold "
            "some training data out."
        )
    return notes
