"""Training: optimisers, sharpness-aware gradients, training loops, ensembles, checkpoints.

- :class:`TrainConfig`, :func:`make_optimizer`, :func:`make_schedule`: what to train with.
- :func:`fit` (one model), :func:`fit_ensemble` and :func:`init_ensemble` (``vmap`` over
  stacked parameters): the loops; :class:`TrainResult`, :class:`EnsembleResult`: their outcome.
- :mod:`landform.train.engine`: the engine under these loops and curve training
  (:mod:`landform.paths.training`): run states, the non-finite rule, scan or Python loops.
- :func:`sam_gradient`, :func:`sam_value_and_gradient`, :func:`sam_perturbation`: SAM
  (Foret et al. 2021) and ASAM (Kwon et al. 2021).
- :func:`evaluate`: loss and accuracy on a whole split, in chunks.
- :func:`save_trained`, :func:`load_trained`: θ as ``theta.npy`` plus ``model.json``.
"""

from landform.train.checkpoint import CheckpointError, load_trained, save_trained
from landform.train.config import (
    OPTIMIZER_NAMES,
    SAM_NAMES,
    SCHEDULE_NAMES,
    TrainConfig,
    make_optimizer,
    make_schedule,
)
from landform.train.evaluate import evaluate
from landform.train.loop import (
    EnsembleResult,
    TrainResult,
    TrainState,
    ensemble_size,
    fit,
    fit_ensemble,
    init_ensemble,
)
from landform.train.sam import sam_gradient, sam_perturbation, sam_value_and_gradient

__all__ = [
    "OPTIMIZER_NAMES",
    "SAM_NAMES",
    "SCHEDULE_NAMES",
    "CheckpointError",
    "EnsembleResult",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "ensemble_size",
    "evaluate",
    "fit",
    "fit_ensemble",
    "init_ensemble",
    "load_trained",
    "make_optimizer",
    "make_schedule",
    "sam_gradient",
    "sam_perturbation",
    "sam_value_and_gradient",
    "save_trained",
]
