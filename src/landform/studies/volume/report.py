"""The report of the minima-volume study (:mod:`landform.studies.volume`): its notes on the
estimates (unreliable log-volumes, censored and unresolved rays, minima outside a landscape's
sublevel set, flagged LLCs), its headline table and the terminal's diagnostics line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from landform.store import RunFolder, write_report
from landform.studies.analysis import GENERALISATION_MEASURES
from landform.studies.volume.config import Config
from landform.studies.volume.reference import reference_line, reference_notes
from landform.volume.estimators import INTERVAL, MAX_PARETO_K, MIN_EFFECTIVE_RAYS

HEADLINE_COLUMNS = [
    "model_seed",
    "arm",
    "checkpoint",
    "model_examples",
    "mean_log_radius",
    "mean_log_radius_low",
    "mean_log_radius_high",
    "log_volume",
    "log_volume_low",
    "log_volume_high",
    "log_volume_effective_rays",
    "log_volume_reliable",
    "test_loss",
    "test_accuracy",
    "status",
]


def diagnostics_notes(table: pd.DataFrame, max_radius: float) -> list[str]:
    """The report's warnings about the estimates: unreliable log-volumes, censored and
    unresolved rays (each one line, empty when there is nothing to say)."""
    notes = []
    measured = table[table.status != "outside"]
    unreliable = measured[~measured.log_volume_reliable.astype(bool)]
    if len(unreliable):
        notes.append(
            f"⚠ {len(unreliable)} of {len(measured)} log-volumes are unreliable (log_volume_reliable = False): they "
            f"rest on fewer than {MIN_EFFECTIVE_RAYS} effective rays (weights ρ_i^n, (Σw)²/Σw²), or the weights' "
            f"Pareto k̂ exceeds {MAX_PARETO_K} (or ArviZ's sample-size threshold), or a ray is unresolved. In high "
            "dimension log V̂ is then set by the few largest rays and its low/high columns (a "
            f"{INTERVAL}) sit below the truth; compare mean_log_radius or median_radius instead."
        )
    if measured.censored.sum():
        notes.append(
            f"⚠ {int(measured.censored.sum())} rays did not cross the threshold up to r_max={max_radius} and are "
            "right-censored; estimates with censored rays are lower bounds."
        )
    if measured.unresolved.sum():
        notes.append(
            f"⚠ {int(measured.unresolved.sum())} rays ended unresolved (their exit could not be bracketed); the "
            "estimates of those cells are flagged unreliable and the status column says 'unresolved'."
        )
    return notes


def diagnostics_line(table: pd.DataFrame) -> str:
    """A one-line summary of the diagnostics for the terminal."""
    measured = table[table.status != "outside"]
    unreliable = int((~measured.log_volume_reliable.astype(bool)).sum())
    return (
        f"diagnostics: {unreliable} of {len(measured)} log-volumes unreliable, {int(measured.censored.sum())} rays "
        f"censored, {int(measured.unresolved.sum())} unresolved, {int((table.status == 'outside').sum())} cells outside"
    )


def write_volume_report(
    config: Config,
    run_folder: RunFolder,
    table: pd.DataFrame,
    figures: list,
    minima: int,
    log,
    correlations: pd.DataFrame | None = None,
    reference: pd.DataFrame | None = None,
) -> Path:
    """Write ``report.html`` of a volume run: the summary, the notes on the estimates, the headline
    table (the fixed landscape at the smallest τ), the rank correlations (with measures), every
    volume and ``figures``; logs the diagnostics line and the report's path, and returns it. With
    ``reference`` estimates (:mod:`landform.studies.volume.reference`) the notes and tables lead
    with them."""
    spec = config.volume
    reference = pd.DataFrame() if reference is None else reference
    notes = reference_notes(reference)
    outside = table[table.status == "outside"]
    if len(outside):
        notes.append(
            f"{len(outside)} (minimum, landscape, threshold) rows are outside the τ-sublevel set (their loss at the "
            "minimum exceeds τ); their volumes are left empty and the status column says so."
        )
    notes += diagnostics_notes(table, spec.max_radius)
    summary = (
        f"{config.description or config.name} — variant {config.variant}: {minima} minima "
        f"({len(config.seeds.pairs())} seed pair(s), {len(config.arms)} arm(s), levels {config.data.levels}), "
        f"{spec.directions} {spec.normalization}-normalised directions each, thresholds {spec.thresholds}."
    )
    headline = table[(table.landscape_level == config.figure_landscape) & (table.threshold == spec.thresholds[0])]
    headline_title = (
        f"volumes in the {config.data.base + config.figure_landscape}-example landscape, τ={spec.thresholds[0]}"
    )
    tables = {}
    if not reference.empty:
        tables["reference basin measure (tethered annealing) beside the paper's ray estimate"] = reference
    tables[headline_title] = headline[HEADLINE_COLUMNS]
    if correlations is not None:
        title = (
            f"rank correlation (Kendall τ, {config.measures.correlation_resamples}-draw bootstrap interval over "
            f"minima) of each measure with test loss and generalisation gap; each minimum in its own landscape, "
            f"τ={spec.thresholds[0]}"
        )
        tables[title] = correlations
        measured = [m for m in GENERALISATION_MEASURES if m in table.columns]
        if "llc_flagged" in table.columns:
            minima_rows = table.drop_duplicates(["model_seed", "data_seed", "arm", "model_level", "checkpoint"])
            flagged = int(minima_rows.llc_flagged.sum())
        else:
            flagged = 0
        if flagged:
            notes.append(
                f"⚠ the LLC of {flagged} minima is flagged (its SGLD chains drifted, diverged or were too short, or "
                "the estimate is negative): see llc_flagged in the table and take more or smaller steps."
            )
        log(f"measures: {', '.join(measured)}; rank correlations over {int(correlations.minima.max())} minima")
    tables["all volumes"] = table
    report = write_report(
        run_folder.path("report.html"),
        title=f"Minima volume: {config.name} ({config.variant})",
        summary=summary,
        notes=notes,
        config=config.model_dump(),
        tables=tables,
        figures=figures,
    )
    log(diagnostics_line(table))
    if config.reference is not None:
        log(reference_line(reference))
    log(f"report: {report}")
    return report


__all__ = ["HEADLINE_COLUMNS", "diagnostics_line", "diagnostics_notes", "write_volume_report"]
