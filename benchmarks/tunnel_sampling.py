"""Sampling efficiency in tunnel coordinates versus the plain subspace (Dold et al. 2025,
"Paths and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382, showcase problem).

Trains a Bézier tunnel of K = 10 (11 control points) for the toy regression file with an MLP of
depth 3, width 16, ReLU, features [x, x², x³] and a learned σ; spans the subspace of its control
points; then samples the tempered posterior (T = 10, σ ~ LogNormal(0, 1) sampled) with MCLMC in
tunnel coordinates (t, ξ; rotation-minimising frame, tube scale 0.1, arc-length prior on t,
ξ ~ N(0, 0.5²)) and in volume coordinates (φ ~ N(0, 1)), with the same chains, warm-up and
draws, hence the same number of gradient evaluations. Reports ESS (bulk, minimum over the 10
subspace coordinates φ, tunnel draws mapped to φ) per second of sampling and per gradient
evaluation, R-hat, test LPPD/RMSE, and the gradient evaluations per second, also as achieved
FLOP/s (XLA's cost analysis of one gradient) relative to a float32 matmul timed in the same run.

Run: ``LANDFORM_DATA=/work/shared/datasets python benchmarks/tunnel_sampling.py [--quick]``.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
_SHARED = _REPO.parent / "shared" / "datasets"
if "LANDFORM_DATA" not in os.environ and _SHARED.is_dir():
    os.environ["LANDFORM_DATA"] = str(_SHARED)
os.environ.setdefault("LANDFORM_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import matmul_gflops  # noqa: E402

import landform.data as data  # noqa: E402
from landform.bayes import (  # noqa: E402
    SamplerSettings,
    convergence,
    coordinate_draws,
    efficiency,
    make_posterior,
    predictive_metrics,
    sample_posterior,
)
from landform.models import mlp, with_learned_sigma  # noqa: E402
from landform.paths import CurveTrainConfig, fit_curve  # noqa: E402
from landform.subspace import tunnel_from_curve  # noqa: E402


def gradient_flops(posterior) -> float:
    """FLOPs of one value-and-gradient evaluation of the log density (XLA cost analysis)."""
    z = jnp.zeros((posterior.dimension,), jnp.float32)
    compiled = jax.jit(jax.value_and_grad(posterior.log_density)).lower(z).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan"))) if analysis else float("nan")


def run_space(name, posterior, settings, key, test):
    result = sample_posterior(key, posterior, settings)
    row = {"space": name, "chains_failed": result.num_failed}
    if result.num_failed == result.num_chains:
        row["failures"] = list(result.failures)
        return row
    diagnostics = convergence(coordinate_draws(posterior, result))
    work = efficiency(result, diagnostics["ess_bulk_min"])
    row.update(diagnostics)
    row.update(
        {
            key: work[key]
            for key in (
                "sampling_seconds",
                "warmup_seconds",
                "compile_seconds",
                "gradient_evaluations",
                "warmup_gradient_evaluations",
                "gradient_evaluations_per_draw",
                "ess_per_second",
                "ess_per_gradient_evaluation",
            )
        }
    )
    row["ess_bulk_median_per_gradient_evaluation"] = diagnostics["ess_bulk_median"] / work["gradient_evaluations"]
    row["gradient_evaluations_per_second"] = work["gradient_evaluations"] / work["sampling_seconds"]
    row["step_size_mean"] = float(np.mean(result.step_size[result.valid]))
    row["L_mean"] = float(np.mean(result.trajectory_length[result.valid]))
    row.update(predictive_metrics(posterior, result, test.x, test.y, prefix="test_"))
    if result.num_failed:
        row["failures"] = [reason for reason in result.failures if reason]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer training steps and draws")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    quick = arguments.quick

    dataset = data.load("toy_file")
    train, test = dataset["train"], dataset["test"]
    model = with_learned_sigma(mlp(input_shape=(1,), hidden=[16, 16, 16], outputs=1, polynomial_features=3))

    # 1. a loss tunnel of K = 10
    config = CurveTrainConfig(
        degree=10,
        steps=300 if quick else 2000,
        learning_rate=5e-3,
        samples_per_step=20,
        validate_every=100 if quick else 250,
        seed=arguments.seed,
    )
    started = time.perf_counter()
    trained = fit_curve(model, train, config)
    training_seconds = time.perf_counter() - started
    curve_model = trained.curve_model
    subspace, tunnel = tunnel_from_curve(trained.curve, "rotation_minimising", tube_scale=0.1)

    def predict(theta, x):
        return curve_model.apply(theta, x)[:, :-1]  # the mean; σ is sampled

    # 2. the same MCLMC budget in tunnel and volume coordinates
    settings = SamplerSettings(
        "mclmc",
        num_chains=4,
        num_warmup=1000 if quick else 4000,
        num_draws=1000 if quick else 4000,
    )
    temperature = 10.0
    tunnel_posterior = make_posterior(
        "tunnel", predict, train.x, train.y, subspace=subspace, tunnel=tunnel, temperature=temperature
    )
    volume_posterior = make_posterior(
        "volume", predict, train.x, train.y, subspace=subspace, tunnel=tunnel, temperature=temperature, prior_scale=1.0
    )
    key = jax.random.key(arguments.seed)
    rows = [
        run_space("tunnel", tunnel_posterior, settings, jax.random.fold_in(key, 0), test),
        run_space("volume", volume_posterior, settings, jax.random.fold_in(key, 1), test),
    ]

    # 3. the machine's reference speed, and the gradient throughput against it
    peak = matmul_gflops()
    for row, posterior in zip(rows, (tunnel_posterior, volume_posterior)):
        flops = gradient_flops(posterior)
        row["flops_per_gradient_evaluation"] = flops
        if "gradient_evaluations_per_second" in row:
            achieved = flops * row["gradient_evaluations_per_second"] / 1e9
            row["achieved_gflops"] = achieved
            row["fraction_of_matmul"] = achieved / peak

    by_space = {row["space"]: row for row in rows}
    summary = {}
    if all("ess_per_gradient_evaluation" in row for row in rows):
        summary = {
            "tunnel_over_volume_ess_per_gradient_evaluation": by_space["tunnel"]["ess_per_gradient_evaluation"]
            / by_space["volume"]["ess_per_gradient_evaluation"],
            "tunnel_over_volume_ess_per_second": by_space["tunnel"]["ess_per_second"]
            / by_space["volume"]["ess_per_second"],
        }
    report = {
        "benchmark": "tunnel_sampling",
        "quick": quick,
        "device": str(jax.devices()[0]),
        "dataset": "toy_file",
        "model": "mlp depth 3 width 16 relu, features [x, x^2, x^3], learned sigma",
        "parameters": int(subspace.ambient_dimension),
        "degree": 10,
        "training": {
            "steps": config.steps,
            "seconds": training_seconds,
            "status": trained.status,
            "best_step": trained.best_step,
            "best_validation_loss": float(min(trained.history["validation_loss"])),
            "length": float(trained.history["length"][-1]),
        },
        "sampler": settings.as_dict(),
        "temperature": temperature,
        "matmul_gflops": peak,
        "spaces": rows,
        **summary,
    }
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
