"""The tunnel-posterior study (Dold, Kobialka, Palm, Sommer, Rügamer, Dürr 2025, "Paths and
Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382, second half).

A trained Bézier tunnel (the loss-tunnel study's ``curve`` stage, reused from a shared cache
when the same curve settings ran before) becomes a low-dimensional space for Bayesian
inference: the affine subspace of its K + 1 control points (whitened coordinates φ ∈ R^K), the
tunnel coordinates (t, ξ) around the curve in a moving frame, and tempered posteriors in the
``tunnel``, ``volume`` (φ ~ N(0, s²I)), ``line`` (t alone) and ``full`` (every weight; chains
from a deep ensemble) spaces. Each (setting, seed, space, temperature) is sampled by MCLMC, NUTS
or random-walk Metropolis (BlackJAX) and scored: validation and test LPPD, RMSE or accuracy,
PSIS-LOO on the training data, bulk/tail ESS and R-hat on φ (so spaces are comparable),
sampling time, gradient evaluations per draw, ESS per second and per gradient evaluation.
Failed chains are excluded from the estimates and counted in the table.

Stages (cached by input hash): ``data`` → ``curve`` (shared with the paths study) →
``ensemble`` (full space only) → ``sample`` (one per setting, seed, space and T: ArviZ
ArviZ ``DataTree`` in ``posterior.nc``, prior draws, predictive draws) → analysis (tables,
temperature selection on validation LPPD, figures, report).

A ``grid`` varies settings within one run: dotted paths into ``data``, ``model``, ``curve``,
``posterior`` or ``sampler`` (e.g. ``curve.degree``, ``model.activation``, ``sampler.sampler``,
``posterior.t_prior``); spaces and temperatures are lists of their own.

The package, one concept a module: :mod:`~landform.studies.tunnels.config` (the config schema
and its grid settings), :mod:`~landform.studies.tunnels.stages` (ensemble and sample stages),
:mod:`~landform.studies.tunnels.tables` (the results table), :mod:`~landform.studies.tunnels.notes`
(the report's notes), :mod:`~landform.studies.tunnels.figure_runs` (which runs the figures show,
and what they are drawn from), :mod:`~landform.studies.tunnels.figures` (the drawings) and
:mod:`~landform.studies.tunnels.study` (:func:`run` and the report).
"""

from landform.studies.tunnels.config import (
    GRID_SECTIONS,
    Config,
    ConvergenceSpec,
    EnsembleSpec,
    EvaluationSpec,
    PosteriorRun,
    PosteriorSetting,
    PosteriorSpec,
)
from landform.studies.tunnels.stages import build_run_posterior, ensemble_stage, sample_stage
from landform.studies.tunnels.study import STUDY, run
from landform.studies.tunnels.tables import SELECTION_DIAGNOSTICS, SUMMARY_HEAD, SUMMARY_TAIL

__all__ = [
    "GRID_SECTIONS",
    "SELECTION_DIAGNOSTICS",
    "STUDY",
    "SUMMARY_HEAD",
    "SUMMARY_TAIL",
    "Config",
    "ConvergenceSpec",
    "EnsembleSpec",
    "EvaluationSpec",
    "PosteriorRun",
    "PosteriorSetting",
    "PosteriorSpec",
    "build_run_posterior",
    "ensemble_stage",
    "run",
    "sample_stage",
]

#: Old names of this study: ``Setting`` (renamed: the paths study has a ``Setting`` of its own).
_RENAMED = {"Setting": "PosteriorSetting"}


def __getattr__(name: str):
    if name in _RENAMED:
        import warnings

        warnings.warn(
            f"landform.studies.tunnels.{name} is now landform.studies.tunnels.{_RENAMED[name]}; "
            "the old name goes away in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
