"""The behavioural basin of a language model: exit radii of random rays with a KL cutoff.

After the basin-volume project (Scherlis & Belrose 2025, "Estimating the Probability of
Sampling a Trained Neural Network at Random", arXiv 2501.18812): the basin of a trained model θ*
is the set of parameters whose next-token predictions stay within a KL cutoff τ of θ*'s,

    B_τ = {θ : L(θ) ≤ τ},   L(θ) = (1/(N·T)) Σ_i Σ_t KL(p_θ*(· | x_i,≤t) ‖ p_θ(· | x_i,≤t)),

over N token sequences of length T (:mod:`landform.behaviour`). No labels are needed. The model
is given, not trained here: a Hugging Face causal language model (``model: {hf_model: <name or
folder>}``, evaluated by PyTorch through ``torch.func``; needs the ``hf`` extra), or a zoo
transformer (``model: {name: transformer, ...}``) whose parameters come from ``checkpoint`` (a
folder written by :func:`landform.train.save_trained`) or from a brief training run (``train``)
on the dataset's training windows. Its rays, exit radii and volume estimates are those of the
minima-volume study (the same ``volume`` settings, :func:`landform.volume.exit_radii`,
:func:`landform.volume.estimate`), measured in the nested landscapes of the first ``sizes``
sequences.

Stages: ``basin-train`` (zoo models trained here) → ``basin-radii`` (per seed: exit radii,
θ*'s KL per sequence (0), timings) → analysis (``tables/basin``, one row per seed, landscape and
cutoff; the radius histogram; ``report.html``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from landform.behaviour import behavioural_landscape
from landform.data import Split, load
from landform.errors import ConfigError
from landform.store import Figure, RunFolder, open_run, run_stage, write_report
from landform.studies import Study
from landform.studies.common import make_model
from landform.studies.config import Strict, StudyConfig
from landform.studies.volume.config import VolumeSpec
from landform.studies.volume.report import diagnostics_line, diagnostics_notes
from landform.studies.volume.tables import STATISTICS
from landform.train import TrainConfig, fit, load_trained, save_trained
from landform.volume import estimate, exit_radii, grid_radii, load_radii, random_directions, save_radii
from landform.volume.radii import UNRESOLVED

MEBIBYTE = 1 << 20


class TextSpec(Strict):
    """The token sequences the basin is measured on."""

    dataset: str = "shakespeare"
    options: dict[str, Any] = Field(default_factory=lambda: {"context": 64}, description="options of the loader")
    split: Literal["train", "validation", "test"] = "validation"
    sequences: int = Field(64, gt=0, description="the first N windows of the split")
    tokens: Literal["characters", "tokenizer"] = Field(
        "characters",
        description="token ids: the dataset's own (characters), or the Hugging Face model's tokenizer applied to the "
        "text (tiny Shakespeare only; same context and split)",
    )
    train_sequences: int = Field(512, gt=0, description="training windows of a zoo model trained here")


class Config(StudyConfig):
    """A behavioural-basin measurement (see the module docstring)."""

    study: Literal["basin"] = "basin"
    model: dict[str, Any] = Field(
        description="{hf_model: <Hub name or folder>, download: false} or a zoo spec ({name: transformer, ...}) with "
        "an optional checkpoint folder"
    )
    data: TextSpec = Field(default_factory=TextSpec)
    train: dict[str, Any] | None = Field(None, description="TrainConfig fields: train a zoo model briefly first")
    volume: VolumeSpec
    sizes: list[int] | None = Field(None, description="nested landscapes: numbers of leading sequences (default: N)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="direction (and init) seeds")
    memory_budget_mib: int = Field(1024, gt=0)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(k < 1 for k in value) or sorted(set(value)) != value):
            raise ValueError("sizes must be distinct, positive and increasing")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if "hf_model" in self.model:
            unknown = set(self.model) - {"hf_model", "download"}
            if unknown:
                raise ValueError(f"a Hugging Face model takes hf_model and download only, not {sorted(unknown)}")
            if self.train is not None:
                raise ValueError("a Hugging Face model is measured as it is; remove the train section")
        else:
            if "name" not in self.model and "factory" not in self.model:
                raise ValueError("model needs hf_model, or a zoo spec with a name (e.g. name: transformer)")
            if self.data.tokens == "tokenizer":
                raise ValueError("tokens: tokenizer needs a Hugging Face model (hf_model)")
            if self.train is not None:
                TrainConfig.model_validate(self.train)
        if self.sizes is not None and self.sizes[-1] > self.data.sequences:
            raise ValueError(f"sizes go up to {self.sizes[-1]} but data.sequences is {self.data.sequences}")
        return self

    @property
    def landscape_sizes(self) -> list[int]:
        return self.sizes or [self.data.sequences]


# ============================================================================ model and data


def _sequences(config: Config) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """The measured token windows (N, T), the training windows (zoo models) and the description."""
    spec = config.data
    dataset = load(spec.dataset, **spec.options)
    if spec.split not in dataset.splits:
        raise ConfigError(f"dataset {spec.dataset!r} has no {spec.split!r} split; it has {sorted(dataset.splits)}")
    x = np.asarray(dataset[spec.split].x)
    if spec.tokens == "tokenizer":
        x = _tokenizer_windows(config, x.shape[1])
    if x.ndim != 2 or x.dtype.kind not in "iu":
        raise ConfigError(f"dataset {spec.dataset!r} does not hold token windows (its inputs have shape {x.shape})")
    if len(x) < spec.sequences:
        raise ConfigError(f"the {spec.split} split has {len(x)} windows; data.sequences asks for {spec.sequences}")
    train = dataset.train.take(slice(0, spec.train_sequences)) if "train" in dataset.splits else None
    return x[: spec.sequences], train, dataset.describe()


def _tokenizer_windows(config: Config, context: int) -> np.ndarray:
    """Tiny Shakespeare encoded by the Hugging Face model's own tokenizer, as consecutive windows
    of the same split (the first or last part of the text, split at the same fraction)."""
    from landform.data.sources import fetch
    from landform.data.text import consecutive_windows
    from landform.models.hf import load_tokenizer

    if config.data.dataset != "shakespeare":
        raise ConfigError("tokens: tokenizer is available for the shakespeare dataset only")
    text = fetch("shakespeare", "shakespeare.txt").read_text(encoding="utf-8")
    fraction = float(config.data.options.get("validation_fraction", 0.1))
    boundary = int(round((1.0 - fraction) * len(text)))
    part = text[boundary:] if config.data.split == "validation" else text[:boundary]
    tokenizer = load_tokenizer(config.model["hf_model"], download=bool(config.model.get("download", False)))
    ids = np.asarray(tokenizer(part)["input_ids"], np.int64)
    return consecutive_windows(ids, context)[0]


def _model_identity(config: Config) -> dict[str, Any]:
    """What identifies the measured model in stage keys: a Hub name, a folder's files (name, size,
    modification time), or the zoo spec with its checkpoint's files or training settings."""
    model = dict(config.model)
    folder = model.get("hf_model") or model.get("checkpoint")
    if folder is not None and Path(folder).expanduser().is_dir():
        files = sorted(p for p in Path(folder).expanduser().rglob("*") if p.is_file())
        digest = hashlib.sha256(
            json.dumps([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]).encode()
        ).hexdigest()
        model["files"] = digest[:16]
    if config.train is not None:
        model["train"] = config.train
        model["data"] = config.data.model_dump(exclude={"sequences", "split", "tokens"})
    return model


def _train_stage(config: Config, cache: Path, train: Split | None, description: dict, log) -> Path:
    """A zoo model trained briefly on the training windows (next-token cross-entropy), cached."""
    if train is None or len(train) < 2:
        raise ConfigError(f"dataset {config.data.dataset!r} has no training windows to train the model on")
    inputs = {"model": config.model, "data": config.data.model_dump(), "train": config.train}

    def compute(out: Path) -> dict:
        model = make_model(config.model, train.x.shape[1:])
        params = model.init(jax.random.key(config.seeds[0]))
        train_config = TrainConfig.model_validate(config.train)
        log(f"  training the {model.name} on {len(train)} windows ({train_config.epochs} epochs)")
        result = fit(model, params, train, "token_cross_entropy", train_config, progress=False)
        save_trained(
            out / "final",
            model,
            result.params,
            config=train_config,
            dataset_description=description,
            history=result.history,
        )
        return {"train_loss": result.history["train_loss"][-1], "epochs_run": result.epochs_run}

    return run_stage(cache, "basin-train", inputs, compute, log=log).folder / "final"


def _landscape(config: Config, cache: Path, tokens: np.ndarray, train, description, log):
    """The behavioural landscape of the configured model and how its directions are laid out:
    (landscape, layout, unit_axis)."""
    budget = config.memory_budget_mib * MEBIBYTE
    if "hf_model" in config.model:
        from landform.models.hf import causal_lm_landscape, load_causal_lm

        model = load_causal_lm(config.model["hf_model"], download=bool(config.model.get("download", False)))
        landscape = causal_lm_landscape(model, tokens, memory_budget=budget)
        return landscape, landscape.layout, landscape.unit_axis
    spec = {k: v for k, v in config.model.items() if k != "checkpoint"}
    if "checkpoint" in config.model:
        model, params, _ = load_trained(Path(config.model["checkpoint"]).expanduser())
    elif config.train is not None:
        model, params, _ = load_trained(_train_stage(config, cache, train, description, log))
    else:
        model = make_model(spec, tokens.shape[1:])
        params = model.init(jax.random.key(config.seeds[0]))
    landscape = behavioural_landscape(model.apply, params, tokens, memory_budget=budget)
    return landscape, params, model.unit_axis


# ============================================================================ stages and analysis


def run(
    config: Config,
    folder: str | Path,
    *,
    cache: str | Path | None = None,
    progress: Any = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the study into ``folder``; returns the report's path."""
    run_folder, cache = open_run(folder, config.model_dump(), cache)
    tokens, train, description = _sequences(config)
    landscape = None
    stages = []
    for seed in config.seeds:
        inputs = {
            "model": _model_identity(config),
            "data": config.data.model_dump(),
            "volume": config.volume.model_dump(exclude={"bootstrap", "include_ball", "landscapes"}),
            "sizes": config.landscape_sizes,
            "seed": seed,
            "memory_budget_mib": config.memory_budget_mib,
        }

        def compute(out: Path, seed=seed) -> dict:
            nonlocal landscape
            if landscape is None:
                landscape = _landscape(config, cache, tokens, train, description, log)
            return _measure(config, landscape, seed, out, log)

        stages.append((seed, run_stage(cache, "basin-radii", inputs, compute, log=log)))
    return _analyse(config, run_folder, stages, description, log)


def _measure(config: Config, built, seed: int, out: Path, log) -> dict:
    """Exit radii of ``config.volume.directions`` rays (directions of ``seed``) and the timings."""
    landscape, layout, unit_axis = built
    spec = config.volume
    theta = landscape.theta
    log(f"  {landscape.dim:,} parameters, {landscape.num_examples} sequences; one full evaluation ...")
    landscape.loss_batch(theta[None])  # compile
    started = time.perf_counter()
    centre = float(np.asarray(landscape.loss_batch(theta[None]))[0])
    evaluation_seconds = time.perf_counter() - started
    directions = random_directions(
        jax.random.fold_in(jax.random.key(seed), 1),
        theta,
        layout,
        normalization=spec.normalization,
        biases=spec.biases,
        perturb=spec.perturb,
        unit_axis=unit_axis,
    )
    log(f"  exit radii of {spec.directions} rays at KL cutoffs {spec.thresholds}")
    started = time.perf_counter()
    common = {"sizes": config.landscape_sizes, "metric": spec.metric, "max_radius": spec.max_radius}
    if spec.method == "grid":
        result = grid_radii(
            landscape, directions, spec.directions, spec.thresholds, num_points=spec.grid_points, **common
        )
    else:
        result = exit_radii(
            landscape,
            directions,
            spec.directions,
            spec.thresholds,
            tolerance=spec.tolerance,
            resolution=spec.resolution,
            **common,
        )
    seconds = time.perf_counter() - started
    save_radii(out, result)
    timings = {
        "seconds": seconds,
        "seconds_per_ray": seconds / spec.directions,
        "evaluations_per_ray": float(np.mean(result.evaluations)),
        "evaluation_seconds": evaluation_seconds,
        "centre_kl": centre,
        "backend": "torch" if "hf_model" in config.model else "jax",
    }
    (out / "timings.json").write_text(json.dumps(timings))
    return timings


def _analyse(config: Config, run_folder: RunFolder, stages, description: dict, log) -> Path:
    spec = config.volume
    rows, radii_of = [], {}
    for seed, stage in stages:
        result = load_radii(stage.folder)
        timings = json.loads((stage.folder / "timings.json").read_text())
        estimates = {
            s: estimate(
                result, statistic=s, include_ball=spec.include_ball, num_resamples=max(spec.bootstrap, 1), seed=seed
            )
            for s in STATISTICS
        }
        for q, size in enumerate(result.sizes):
            for t, tau in enumerate(result.thresholds):
                outside = bool(result.outside_by[q, t] > 0)
                row = {
                    "seed": seed,
                    "landscape_sequences": int(size),
                    "threshold": float(tau),
                    "status": _status(result, q, t, outside),
                    "centre_kl": float(result.center_values[q]),
                    "parameters": int(result.dimension),
                    "directions": int(result.radii.shape[0]),
                    "censored": int(result.censored[:, q, t].sum()),
                    "unresolved": int((result.status[:, q, t] == UNRESOLVED).sum()),
                    "outside_by": float(max(result.outside_by[q, t], 0.0)),
                    "evaluations_per_ray": timings["evaluations_per_ray"],
                    "seconds_per_ray": timings["seconds_per_ray"],
                    "evaluation_seconds": timings["evaluation_seconds"],
                    "backend": timings["backend"],
                }
                for name, statistic in estimates.items():
                    row[name] = float(statistic.value[q, t]) if not outside else float("nan")
                    row[f"{name}_low"] = float(statistic.lower[q, t]) if not outside else float("nan")
                    row[f"{name}_high"] = float(statistic.upper[q, t]) if not outside else float("nan")
                    row[f"{name}_is_lower_bound"] = bool(statistic.is_lower_bound[q, t])
                    row[f"{name}_reliable"] = bool(statistic.reliable[q, t])
                rows.append(row)
        largest = int(np.argmax(result.sizes))
        for t, tau in enumerate(result.thresholds):
            radii_of.setdefault(float(tau), []).append(result.radii[:, largest, t])
    table = pd.DataFrame(rows)
    run_folder.write_table("basin", table)
    figures = [_histogram(run_folder, radii_of)]
    notes = diagnostics_notes(table, spec.max_radius)
    first = table.iloc[0]
    summary = (
        f"{config.description or config.name} — variant {config.variant}: the behavioural basin (mean KL from θ*'s "
        f"next-token distributions) of a {int(first.parameters):,}-parameter model ({first.backend}) on "
        f"{config.data.sequences} sequences of {config.data.dataset}; {spec.directions} "
        f"{spec.normalization}-normalised rays per seed, KL cutoffs {spec.thresholds}; "
        f"{first.evaluations_per_ray:.1f} evaluations and {first.seconds_per_ray:.2f} s per ray, "
        f"one full evaluation {first.evaluation_seconds:.3f} s."
    )
    report = write_report(
        run_folder.path("report.html"),
        title=f"Behavioural basin: {config.name} ({config.variant})",
        summary=summary,
        notes=notes,
        config=config.model_dump(),
        tables={"exit radii and volume estimates per landscape and KL cutoff": table},
        figures=figures,
    )
    log(diagnostics_line(table))
    log(f"report: {report}")
    return report


def _status(result, q: int, t: int, outside: bool) -> str:
    if outside:
        return "outside"
    if (result.status[:, q, t] == UNRESOLVED).any():
        return "unresolved"
    return "censored" if result.censored[:, q, t].any() else "inside"


def _histogram(run_folder: RunFolder, radii_of: dict[float, list[np.ndarray]]) -> Figure:
    """The exit radii in the largest landscape, one histogram per KL cutoff."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for tau, radii in sorted(radii_of.items()):
        values = np.concatenate(radii)
        ax.hist(np.log10(np.maximum(values, 1e-12)), bins=20, alpha=0.6, label=f"KL ≤ {tau:g}")
    ax.set_xlabel("log10 exit radius (coefficient along the normalised direction)")
    ax.set_ylabel("rays")
    ax.legend()
    ax.set_title("exit radii of the behavioural basin")
    path = run_folder.save_figure("exit_radii", fig)
    plt.close(fig)
    return Figure(path, "Exit radii of every ray in the largest landscape, one histogram per KL cutoff.")


STUDY = Study("basin", Config, run)
