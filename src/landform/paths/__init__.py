"""Curves in parameter space: Bézier curves and polychains, their geometry, and training curves
of networks whose every point has low loss (loss tunnels; Dold et al. 2025, "Paths and Ambient
Spaces in Neural Loss Landscapes", arXiv 2503.03382; mode connectivity, Garipov et al. 2018).

- :mod:`~landform.paths.curves`: :class:`Curve`, :func:`bezier`, :func:`polychain`,
  :func:`evaluate`, :func:`derivative`, :func:`basis`.
- :mod:`~landform.paths.geometry`: arc length (with error), chord, polygon length, gyration
  radius, centre norm, curvature, inverse arc length, arc-length weights.
- :mod:`~landform.paths.symmetry`: ascending biases (permutation-symmetry removal).
- :mod:`~landform.paths.networks`: :class:`CurveModel` (a point of a curve as a network),
  evaluating many networks at once.
- :mod:`~landform.paths.training`: :func:`fit_curve` and its :class:`CurveTrainConfig`;
  :func:`make_curve_trainer` for the compiled pieces.
- :mod:`~landform.paths.evaluation`: metrics along a trained curve, barrier height, functional
  diversity, predictive curves for 1-D regression.
- :mod:`~landform.paths.plots`: matplotlib helpers (imported on demand).
"""

from landform.paths.curves import (
    CURVE_KINDS,
    Curve,
    basis,
    bernstein,
    bezier,
    check_dimension,
    derivative,
    evaluate,
    make_curve,
    polychain,
)
from landform.paths.evaluation import (
    CurveEvaluation,
    FunctionalDiversity,
    Predictive,
    SplitAlongCurve,
    barrier_height,
    curve_predictive,
    evaluate_curve,
    functional_diversity,
    network_outputs,
    prediction_values,
)
from landform.paths.geometry import (
    ArcLengthTable,
    Estimate,
    Geometry,
    arc_length,
    arc_length_table,
    arc_length_weights,
    centre_norm,
    chord,
    curvature,
    curve_geometry,
    gyration_radius,
    integrate_speed,
    mean_curvature,
    polygon_length,
    quadrature,
    sample_t_by_length,
    speed,
    t_at_fraction,
    t_at_length,
    total_curvature,
    turning_angles,
)
from landform.paths.networks import (
    LOOP_MODES,
    CurveModel,
    has_convolution,
    make_curve_model,
    make_output_evaluator,
    make_split_evaluator,
    network_losses,
    network_parameters,
    resolve_loop,
)
from landform.paths.symmetry import Reparametrisation, ascending_biases
from landform.paths.training import (
    GEOMETRY_FIELDS,
    CurveTrainConfig,
    CurveTrainer,
    CurveTrainResult,
    CurveTrainState,
    fit_curve,
    init_control_points,
    make_curve_trainer,
)

__all__ = [
    "CURVE_KINDS",
    "GEOMETRY_FIELDS",
    "LOOP_MODES",
    "ArcLengthTable",
    "Curve",
    "CurveEvaluation",
    "CurveModel",
    "CurveTrainConfig",
    "CurveTrainResult",
    "CurveTrainState",
    "CurveTrainer",
    "Estimate",
    "FunctionalDiversity",
    "Geometry",
    "Predictive",
    "Reparametrisation",
    "SplitAlongCurve",
    "arc_length",
    "arc_length_table",
    "arc_length_weights",
    "ascending_biases",
    "barrier_height",
    "basis",
    "bernstein",
    "bezier",
    "centre_norm",
    "check_dimension",
    "chord",
    "curvature",
    "curve_geometry",
    "curve_predictive",
    "derivative",
    "evaluate",
    "evaluate_curve",
    "fit_curve",
    "functional_diversity",
    "gyration_radius",
    "has_convolution",
    "init_control_points",
    "integrate_speed",
    "make_curve",
    "make_curve_model",
    "make_curve_trainer",
    "make_output_evaluator",
    "make_split_evaluator",
    "mean_curvature",
    "network_losses",
    "network_outputs",
    "network_parameters",
    "polychain",
    "polygon_length",
    "prediction_values",
    "quadrature",
    "resolve_loop",
    "sample_t_by_length",
    "speed",
    "t_at_fraction",
    "t_at_length",
    "total_curvature",
    "turning_angles",
]
