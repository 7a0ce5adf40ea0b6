"""What several studies share: the data, model and curve stages, one power-law fit, labels.

- :class:`DataSpec` and :func:`data_stage`: a dataset's train / validation / test splits,
  cached as one stage (the paths and tunnels studies).
- :func:`make_model`: the model a config names (a zoo name, a registered name, or a factory of
  the user's own, ``{factory: module:function, options: {...}}``; see
  :mod:`landform.models.factory`) for inputs of a given shape, optionally with a learned σ.
- :func:`curve_stage` and :func:`load_curve`: one trained Bézier curve or polychain, cached, so
  that a curve trained by the paths study is reused by the tunnels study in a shared cache.
- :func:`log_linear_fit` and :func:`power_law_fit`: least squares of log y = log a + b·log x.
- :func:`label`: a grid value as a table cell.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from pydantic import Field

from landform.data import Split, load
from landform.losses import check_compatible, get_loss
from landform.models import Model, build, with_learned_sigma
from landform.paths import Curve, CurveTrainConfig, fit_curve, make_curve
from landform.store import StageResult, load_splits, run_stage, save_splits
from landform.studies.config import Strict

#: The splits a dataset may have, in the order they are saved.
SPLITS = ("train", "validation", "test")


# ============================================================================ data


class DataSpec(Strict):
    """A dataset and its splits: the loader's options, an optional validation hold-out and sizes.

    ``dataset`` is a built-in or registered name, or a function of the user's own by import path
    (``my_package.data:make`` or ``path/to/file.py:make``; see :func:`landform.data.load`)."""

    dataset: str
    options: dict[str, Any] = Field(default_factory=dict)
    validation_fraction: float = Field(
        0.0, ge=0, lt=1, description="hold out this fraction of train as validation when the dataset has none"
    )
    train_size: int | None = Field(None, gt=0, description="use only the first train_size training examples")
    test_size: int | None = Field(None, gt=0)


def build_splits(spec: DataSpec, seed: int = 0) -> tuple[dict[str, Split], dict]:
    """The splits of ``spec`` by name, and the dataset's description.

    Without a validation split of its own, a fraction ``validation_fraction`` of the training
    examples (a seeded permutation) is held out as validation.
    """
    dataset = load(spec.dataset, **spec.options)
    splits = {name: dataset[name] for name in SPLITS if name in dataset.splits}
    if spec.train_size is not None:
        splits["train"] = splits["train"].take(slice(0, spec.train_size))
    if "validation" not in splits and spec.validation_fraction > 0:
        train = splits["train"]
        order = np.random.default_rng(seed).permutation(len(train))
        count = max(1, int(round(spec.validation_fraction * len(train))))
        splits["validation"], splits["train"] = train.take(order[:count]), train.take(order[count:])
    if spec.test_size is not None and "test" in splits:
        splits["test"] = splits["test"].take(slice(0, spec.test_size))
    return splits, dataset.describe()


def data_stage(cache: Path, spec: DataSpec, log: Callable[[str], None]) -> StageResult:
    """The splits of ``spec`` saved as ``data.npz`` (and ``dataset.json``), cached."""

    def compute(out: Path) -> dict:
        splits, description = build_splits(spec)
        save_splits(out / "data.npz", splits)
        (out / "dataset.json").write_text(json.dumps(description, default=str))
        return {name: len(split) for name, split in splits.items()}

    return run_stage(cache, "data", {"data": spec.model_dump()}, compute, log=log)


def load_data(stage: StageResult) -> dict[str, Split]:
    """The splits saved by :func:`data_stage` (or the volume study's data stage), by name."""
    return load_splits(stage.folder / "data.npz")


# ============================================================================ models and curves


def make_model(model_spec: dict, input_shape: Sequence[int], learned_sigma: float | None = None) -> Model:
    """The model of ``model_spec`` (anything :func:`landform.models.build` takes: a zoo or
    registered name with its arguments, or ``{"factory": ..., "options": ...}``) for inputs of
    ``input_shape``; wrapped with a learned σ (initial value ``learned_sigma``) for regression
    when it is given."""
    model = build({**model_spec, "input_shape": list(input_shape)})
    return with_learned_sigma(model, learned_sigma) if learned_sigma else model


class TrainedCurve(NamedTuple):
    """A trained curve read back from its stage."""

    curve: Curve
    model: Model  # the network every point of the curve is
    loss: str  # the loss it was trained with
    config: dict  # its CurveTrainConfig fields


def curve_stage(
    cache: Path,
    data: StageResult,
    model_spec: dict,
    learned_sigma: float | None,
    loss_name: str,
    curve_settings: dict,
    seed: int,
    *,
    ends: StageResult | None = None,
    progress: Any = None,
    log: Callable[[str], None] = print,
) -> StageResult:
    """Train one curve (cached by its settings, data and seed). The paths and tunnels studies
    both call this, so a curve trained once is reused whenever the same settings come up in
    the same cache. ``curve_settings``: CurveTrainConfig fields as the config gives them."""
    inputs = {
        "data": data.key,
        "model": model_spec,
        "learned_sigma": learned_sigma,
        "loss": loss_name,
        "curve": curve_settings,
        "seed": seed,
        "ends": None if ends is None else ends.key,
    }

    def compute(out: Path) -> dict:
        splits = load_data(data)
        train = splits["train"]
        model = make_model(model_spec, train.x.shape[1:], learned_sigma)
        output_shape = jax.eval_shape(model.apply, model.init(jax.random.key(0)), train.x[:1]).shape
        check_compatible(get_loss(loss_name), output_shape, train.y)
        config = CurveTrainConfig.model_validate({**curve_settings, "loss": loss_name, "seed": seed})
        end_points = None
        if ends is not None:
            end_points = tuple(jnp.asarray(np.load(ends.folder / f"end{i}.npy")) for i in (0, 1))
        log(f"  training a {config.kind} curve of degree {config.degree} ({config.steps} steps, seed {seed})")
        result = fit_curve(
            model, train, config, validation=splits.get("validation"), ends=end_points, progress=progress
        )
        np.save(out / "control_points.npy", np.asarray(result.curve.control_points))
        meta = {"kind": result.curve.kind, "model": model.spec, "loss": loss_name, "config": config.model_dump()}
        (out / "curve.json").write_text(json.dumps(meta, default=str))
        pd.DataFrame(result.history).to_parquet(out / "history.parquet", index=False)
        return {
            "status": result.status,
            "reason": result.reason,
            "best_step": int(result.best_step),
            "steps_run": int(result.steps_run),
        }

    return run_stage(cache, "curve", inputs, compute, log=log)


def load_curve(stage: StageResult) -> TrainedCurve:
    """The trained curve of a :func:`curve_stage`."""
    meta = json.loads((stage.folder / "curve.json").read_text())
    curve = make_curve(jnp.asarray(np.load(stage.folder / "control_points.npy")), meta["kind"])
    return TrainedCurve(curve, build(meta["model"]), meta["loss"], meta["config"])


# ============================================================================ fits and labels


def log_linear_fit(log_x: Sequence[float], log_y: Sequence[float]) -> tuple[float, float, float]:
    """Least squares of log y = c + b·log x over the finite pairs, on values already in logs
    (log-volumes, say, that cannot be exponentiated). Returns (c, b, r²); NaNs when fewer than
    two usable pairs or no spread in log x."""
    lx, ly = np.asarray(log_x, float), np.asarray(log_y, float)
    ok = np.isfinite(lx) & np.isfinite(ly)
    if ok.sum() < 2 or np.ptp(lx[ok]) == 0:
        return float("nan"), float("nan"), float("nan")
    lx, ly = lx[ok], ly[ok]
    b, c = np.polyfit(lx, ly, 1)
    residual = ly - (c + b * lx)
    total = np.sum((ly - ly.mean()) ** 2)
    r2 = 1.0 - float(np.sum(residual**2) / total) if total > 0 else 1.0
    return float(c), float(b), r2


def power_law_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Least squares of log y = log a + b·log x over the positive, finite pairs.

    Returns (a, b, r²) with y ≈ a·x^b; NaNs when fewer than two usable pairs (or no spread in x).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    c, b, r2 = log_linear_fit(np.log(x[ok]), np.log(y[ok]))
    return (math.exp(c) if math.isfinite(c) else float("nan")), b, r2


def label(value: Any) -> Any:
    """A grid value as a table cell: lists become strings such as '16x16x16'."""
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return value
