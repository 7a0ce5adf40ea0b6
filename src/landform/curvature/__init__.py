"""Curvature beside volume: Hessian spectra, traces, sharpness and the local learning coefficient.

Every measure is a function of a :class:`landform.landscape.Landscape` (a model, data and a loss
as a function of one flat parameter vector θ), so it works for any model landform accepts and
for analytic functions of θ.

- :func:`curvature_operator` → :class:`CurvatureOperator`: Hessian- (or Gauss–Newton-) vector
  products of the mean loss over all examples, chunked within the memory budget, optionally on
  a subset of the parameters (a regex over leaf paths) or per layer (:meth:`CurvatureOperator.layers`);
  :func:`hvp` for one product.
- :func:`top_eigenvalues` → :class:`Eigenpairs` (Lanczos, with residual error bars);
  :func:`spectral_density` → :class:`SpectralDensity` (stochastic Lanczos quadrature).
- :func:`trace`, :func:`diagonal`, :func:`trace_of_square`, :func:`hutchinson` → :class:`Estimate`
  (Hutchinson, or the variance-reduced XTrace/XDiag with ``method="xtrace"``), each with a
  standard error. Lanczos, SLQ and XTrace come from matfree (wrapped in one module).
- :func:`average_sharpness`, :func:`worst_sharpness`, :func:`adaptive_sharpness` → :class:`Sharpness`
  (Keskar et al. 2017; Andriushchenko et al. 2023), normalised like volume directions.
- :func:`local_learning_coefficient` → :class:`LLCEstimate` (Lau et al. 2023, by localised SGLD
  with BlackJAX), with per-chain loss traces and warnings (:class:`LLCWarning`);
  :func:`llc_figure` draws the traces.
- :func:`measure`: the measures of one minimum as a flat dict (the columns the volume study
  and ``landform curvature`` report).
"""

from landform.curvature.llc import LLCEstimate, LLCWarning, default_step_size, local_learning_coefficient
from landform.curvature.measures import MEASURE_NAMES, measure
from landform.curvature.operator import KIND_NAMES, CurvatureOperator, curvature_operator, hvp
from landform.curvature.plots import llc_figure, spectral_density_figure
from landform.curvature.sharpness import (
    AVERAGE_NORMALIZATIONS,
    WORST_NORMALIZATIONS,
    Sharpness,
    adaptive_sharpness,
    average_sharpness,
    worst_sharpness,
)
from landform.curvature.spectrum import Eigenpairs, SpectralDensity, spectral_density, top_eigenvalues
from landform.curvature.traces import (
    METHOD_NAMES,
    Estimate,
    HutchinsonEstimate,
    diagonal,
    hutchinson,
    trace,
    trace_of_square,
)

__all__ = [
    "AVERAGE_NORMALIZATIONS",
    "KIND_NAMES",
    "MEASURE_NAMES",
    "METHOD_NAMES",
    "WORST_NORMALIZATIONS",
    "CurvatureOperator",
    "Eigenpairs",
    "Estimate",
    "HutchinsonEstimate",
    "LLCEstimate",
    "LLCWarning",
    "Sharpness",
    "SpectralDensity",
    "adaptive_sharpness",
    "average_sharpness",
    "curvature_operator",
    "default_step_size",
    "diagonal",
    "hutchinson",
    "hvp",
    "llc_figure",
    "local_learning_coefficient",
    "measure",
    "spectral_density",
    "spectral_density_figure",
    "top_eigenvalues",
    "trace",
    "trace_of_square",
    "worst_sharpness",
]
