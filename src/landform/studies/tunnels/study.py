"""The tunnel-posterior study: every setting, seed, space and temperature sampled through its
stages, then the tables, figures and report (:func:`run`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from landform.bayes import space as space_of
from landform.store import RunFolder, StageResult, open_run, write_report
from landform.studies import Study
from landform.studies.analysis.statistics import select_best
from landform.studies.common import curve_stage, data_stage
from landform.studies.tunnels.config import Config, PosteriorRun, PosteriorSetting
from landform.studies.tunnels.figure_runs import draw_figures
from landform.studies.tunnels.notes import run_notes, selection_notes
from landform.studies.tunnels.stages import ensemble_stage, sample_stage
from landform.studies.tunnels.tables import (
    SELECTION_DIAGNOSTICS,
    SUMMARY_HEAD,
    SUMMARY_TAIL,
    results_table,
    selection_converged,
)


def run(
    config: Config,
    folder: str | Path,
    *,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the study of ``config`` into ``folder`` (the :class:`~landform.studies.StudyRun` contract):
    every setting, seed, space and temperature through its stages, then :func:`analyse`."""
    run_folder, cache = open_run(folder, config.model_dump(), cache)
    settings = config.settings()
    total = sum(len(s.posterior.spaces) * len(s.posterior.temperatures) for s in settings) * len(config.seeds)
    runs: list[PosteriorRun] = []
    for setting in settings:
        data = data_stage(cache, setting.data, log)
        for seed in config.seeds:
            runs += _setting_runs(cache, config, setting, data, seed, (len(runs), total), progress, log)
    return analyse(config, run_folder, settings, runs, log)


def _setting_runs(
    cache: Path,
    config: Config,
    setting: PosteriorSetting,
    data: StageResult,
    seed: int,
    counts: tuple[int, int],
    progress,
    log,
) -> list[PosteriorRun]:
    """The curve (and ensemble) of one setting and seed, then one sample stage per space and T;
    ``counts``: (posteriors sampled before, posteriors in all) for the log."""
    title = setting.title()
    log(f"curve for {title}, seed {seed}")
    curve = curve_stage(
        cache,
        data,
        setting.model,
        config.learned_sigma,
        config.loss,
        setting.curve_fields,
        seed,
        progress=progress,
        log=log,
    )
    spec = setting.posterior
    ensemble = None
    if any(space_of(name).needs_ensemble for name in spec.spaces):
        ensemble = ensemble_stage(cache, data, setting, config, setting.sampler.num_chains, seed, log, progress)
    runs = []
    for space in spec.spaces:
        space_ensemble = ensemble if space_of(space).needs_ensemble else None
        for temperature in spec.temperatures:
            log(
                f"posterior {counts[0] + len(runs) + 1}/{counts[1]}: {space} space, T = {temperature:g} "
                f"({title}, seed {seed})"
            )
            stage = sample_stage(
                cache, data, curve, space_ensemble, setting, space, temperature, seed, config.evaluation, log, progress
            )
            runs.append(PosteriorRun(setting, seed, space, temperature, data, curve, space_ensemble, stage))
    return runs


def analyse(
    config: Config, run_folder: RunFolder, settings: list[PosteriorSetting], runs: list[PosteriorRun], log
) -> Path:
    """The tables, figures and report of the posterior runs ``runs`` of ``settings``; the report's path."""
    table = results_table(runs, config.convergence)
    run_folder.write_table("posteriors", table)
    metric = "test_accuracy" if config.posterior.likelihood == "categorical" else "test_rmse"
    setting_columns = [c for c in [*config.grid, "space", "K"] if c in table.columns and c != "curve.degree"]
    selection = pd.DataFrame()
    if "validation_lppd" in table.columns:
        wanted = [m for m in ("test_lppd", metric, *SELECTION_DIAGNOSTICS) if m in table.columns]
        selection = select_best(
            table, group=setting_columns, candidate="temperature", selection="validation_lppd", metrics=wanted
        )
        selection = selection_converged(selection, table, setting_columns)
        run_folder.write_table("temperature_selection", selection)
    figures = draw_figures(config, run_folder, table, runs, metric, log)
    summary = [*config.grid, *SUMMARY_HEAD, metric, *SUMMARY_TAIL]
    summary_columns = [c for c in summary if c in table.columns and c != "curve.degree"]
    tables = {"posterior runs": table[summary_columns]}
    if not selection.empty:
        tables["temperature chosen by validation LPPD (mean ± std over seeds of the test metrics there)"] = selection
    temperatures = ", ".join(f"{t:g}" for t in config.posterior.temperatures)
    report = write_report(
        run_folder.path("report.html"),
        title=f"Tunnel posteriors: {config.name} ({config.variant})",
        summary=(
            f"{config.description or config.name}: {len(runs)} posterior(s) — {len(settings)} setting(s) × "
            f"{len(config.seeds)} seed(s) × spaces {', '.join(config.posterior.spaces)} × T in {{{temperatures}}}."
        ),
        notes=run_notes(table, config.convergence) + selection_notes(selection, setting_columns),
        config=config.model_dump(),
        tables=tables,
        figures=figures,
    )
    completed = table[table.status == "completed"]
    unconverged = int((~completed.converged.astype(bool)).sum())
    log(
        f"diagnostics: {unconverged} of {len(table)} posteriors unconverged "
        f"(R-hat ≤ {config.convergence.rhat_limit:g}, "
        f"bulk ESS ≥ {config.convergence.ess_limit:g}), {len(table) - len(completed)} failed"
    )
    log(f"report: {report}")
    return report


STUDY = Study("tunnels", Config, run)
