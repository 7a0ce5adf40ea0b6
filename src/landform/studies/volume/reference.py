"""The reference basin measure of the minima-volume study (:mod:`landform.studies.volume`).

With a ``reference:`` block in the config (:class:`~landform.studies.volume.config.ReferenceSpec`),
every minimum gets a ``reference`` stage: for each landscape it is measured in (its own, or every
one of its radii stage) and each threshold τ, the capped volume

    log Vol_R(S) = log Vol(star(S) ∩ {θ : ‖θ − θ*‖ ≤ R}),  S = {θ : L(θ) ≤ τ},  R = cap·‖θ*‖,

in parameter space (Euclidean), by tethered annealing (:func:`landform.volume.capped_log_volume`;
membership evaluated in float64). The ``reference`` table carries each estimate with its reported
error (the largest of the within-run standard error, the spread of the replicas and the shift when
the chains are doubled), its replicas, the convergence flag, whether samples reached the cap, and
its cost, beside the paper's ray estimate of the same minimum, landscape and τ (``paper_log_volume``:
a volume in filter-normalised ray coordinates, which rests on the largest ray in high dimension;
the two are different measures of the same set, compared by their ordering of the minima).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree

from landform.losses import get_loss
from landform.store import StageResult, run_stage
from landform.studies.volume import layout
from landform.studies.volume.config import Config
from landform.studies.volume.minimum import Minimum
from landform.train import load_trained
from landform.volume import capped_log_volume, load_radii, sublevel_membership

#: The estimate's columns in the ``reference`` table (a :class:`landform.volume.BasinEstimate`'s fields).
ESTIMATE_COLUMNS = (
    "log_volume", "error", "standard_error", "replica_spread", "doubling_shift", "mbar_log_volume",
    "converged", "unbounded", "cap_fraction", "evaluations", "seconds",
)  # fmt: skip


def reference_stage(config: Config, cache: Path, minimum: Minimum, log) -> StageResult:
    """The reference estimates of ``minimum`` (``reference.json``), cached like every stage."""
    spec = config.reference
    thresholds = spec.thresholds or config.volume.thresholds
    if spec.landscapes == "own":
        sizes = [minimum.model_examples]
    else:
        sizes = [int(size) for size in load_radii(minimum.radii.folder).sizes]
    inputs = {
        "minimum": minimum.train.key,
        "checkpoint": minimum.checkpoint,
        "reference": spec.model_dump(exclude={"thresholds", "landscapes"}),
        "thresholds": thresholds,
        "sizes": sizes,
        "loss": config.loss,
        "model_seed": minimum.model_seed,
    }

    def compute(out: Path) -> dict:
        model, params, _ = load_trained(minimum.train.folder / minimum.checkpoint)
        pool = layout.load_stage_splits(minimum.data.folder)[layout.POOL]
        per_example = get_loss(config.loss).per_example
        records = []
        with jax.enable_x64(True):
            theta, unravel = ravel_pytree(jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params))
            radius = spec.cap * float(jnp.linalg.norm(theta))
            for size in sizes:
                x = jnp.asarray(pool.x[:size], jnp.float64)
                y = jnp.asarray(pool.y[:size])

                def loss(flat, x=x, y=y):
                    return jnp.mean(per_example(model.apply(unravel(flat), x), y))

                centre = float(loss(theta))
                for tau in thresholds:
                    record = {"landscape_examples": size, "threshold": tau, "cap_radius": radius, "train_loss": centre}
                    if centre > tau:
                        log(f"  reference: the minimum is outside the τ={tau} set of the {size}-example landscape")
                        records.append({**record, "status": "outside"})
                        continue
                    log(f"  reference basin measure in the {size}-example landscape, τ={tau}")
                    key = jax.random.fold_in(jax.random.key(minimum.model_seed), 3)
                    inside = jax.jit(sublevel_membership(loss, tau))
                    result = capped_log_volume(inside, theta, radius, settings=spec.settings(), key=key)
                    fields = result._asdict()
                    record.update({name: _plain(fields[name]) for name in ESTIMATE_COLUMNS})
                    record["replicas"] = [float(v) for v in result.replicas]
                    records.append({**record, "status": "measured"})
        (out / layout.REFERENCE_FILE).write_text(json.dumps(records))
        measured = [r for r in records if r["status"] == "measured"]
        return {"estimates": len(measured), "converged": sum(bool(r["converged"]) for r in measured)}

    return run_stage(cache, layout.REFERENCE_STAGE, inputs, compute, log=log)


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (NaN and ±inf are kept as floats)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def reference_table(minima: list[Minimum], volumes: pd.DataFrame) -> pd.DataFrame:
    """One row per (minimum, landscape, threshold) of the reference stages, with the paper's
    estimate of the same cell from ``volumes`` as ``paper_log_volume`` and its reliability flag."""
    rows = []
    for minimum in minima:
        if minimum.reference is None:
            continue
        records = json.loads((minimum.reference.folder / layout.REFERENCE_FILE).read_text())
        for record in records:
            record = {k: v for k, v in record.items() if k != "replicas"} | {
                "replicas": len(record.get("replicas", []))
            }
            rows.append({**minimum.identity(), **record})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    cell = [*minima[0].identity(), "landscape_examples", "threshold"]
    paper = volumes[[*cell, "log_volume", "log_volume_reliable"]].rename(
        columns={"log_volume": "paper_log_volume", "log_volume_reliable": "paper_reliable"}
    )
    return table.merge(paper, on=cell, how="left")


def reference_figure(table: pd.DataFrame):
    """The reference log-volume of each measured cell against the size of its minimum's training
    set, with its reported error (open markers: unconverged; crosses: samples reached the cap),
    and the paper's ray estimate of the same cell on the right. None without reference rows."""
    import matplotlib.pyplot as plt

    measured = table[table.status == "measured"] if not table.empty else table
    if measured.empty:
        return None
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for (size, tau), cell in measured.groupby(["landscape_examples", "threshold"]):
        label = f"{size}-example landscape, τ={tau}"
        line = left.errorbar(
            cell.model_examples, cell.log_volume, yerr=cell.error, fmt="o", capsize=3, label=label, mfc="none"
        )
        good = cell[cell.converged.astype(bool)]
        left.plot(good.model_examples, good.log_volume, "o", color=line[0].get_color())
        capped = cell[cell.unbounded.astype(bool)]
        left.plot(capped.model_examples, capped.log_volume, "x", color="red")
        right.plot(cell.model_examples, cell.paper_log_volume, "s", color=line[0].get_color(), label=label)
    left.set(xscale="log", xlabel="examples the minimum was trained on", ylabel="log Vol_R (tethered annealing)")
    right.set(xscale="log", xlabel="examples the minimum was trained on", ylabel="paper's log-volume (rays)")
    left.legend(fontsize=7)
    return figure


def reference_notes(table: pd.DataFrame) -> list[str]:
    """The report's lead notes on the reference estimates (empty without them)."""
    if table.empty:
        return []
    measured = table[table.status == "measured"]
    converged = int(measured.converged.astype(bool).sum())
    capped = int(measured.unbounded.astype(bool).sum())
    notes = [
        f"Reference basin measure (tethered annealing, log-volume within R = cap·‖θ*‖ in parameter space): "
        f"{converged} of {len(measured)} estimates converged (doubling the chains moved them by at most twice their "
        "error). Its error is validated against exact bodies only in moderate dimension; an unconverged estimate's "
        "error is a lower bound of its true error. paper_log_volume beside it is the paper's ray estimate of the same "
        "cell, in filter-normalised ray coordinates."
    ]
    if converged < len(measured):
        notes.append(
            f"⚠ {len(measured) - converged} reference estimates are unconverged: give the reference more chains, "
            "steps or rungs (reference: in the config) before comparing them."
        )
    if capped:
        notes.append(
            f"⚠ in {capped} reference estimates samples reached the cap: the set extends to R in some directions, so "
            "the measure depends on the cap."
        )
    return notes


def reference_line(table: pd.DataFrame) -> str:
    """One terminal line on the reference estimates, or why there are none."""
    if table.empty:
        return (
            "reference basin measure: not computed in this run (add a reference: block to the config; it costs "
            "10^5-10^7 loss evaluations per minimum)"
        )
    measured = table[table.status == "measured"]
    converged = int(measured.converged.astype(bool).sum())
    return f"reference basin measure: {converged} of {len(measured)} estimates converged"


__all__ = [
    "ESTIMATE_COLUMNS",
    "reference_figure",
    "reference_line",
    "reference_notes",
    "reference_stage",
    "reference_table",
]
