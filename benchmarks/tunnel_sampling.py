"""Sampling efficiency in tunnel coordinates versus the plain subspace for the showcase of Dold
et al. 2025 ("Paths and Ambient Spaces in Neural Loss Landscapes", arXiv 2503.03382).

Takes ``configs/tunnels/showcase.yaml`` (the paper form, or ``--quick`` for its quick variant):
the fixed toy regression file, a Bézier tunnel of K = 10 through MLPs of depth 3, width 16, ReLU,
inputs [x, x², x³], learned σ; the tempered posterior at T = 10 with σ ~ LogNormal(0, 1)
sampled. The curve comes from the tunnels study's cached ``curve`` stage (trained once, in
``--cache``); then MCLMC samples the posterior in tunnel coordinates (t, ξ; rotation-minimising
frame, tube scale 0.1, arc-length prior on t, ξ ~ N(0, 0.5²)) and in volume coordinates
(φ ~ N(0, 1)) with the same chains, warm-up and draws, hence the same number of gradient
evaluations. Reports per space: bulk/tail ESS (minimum over the 10 subspace coordinates φ,
tunnel draws mapped to φ) per second of sampling and per gradient evaluation, R-hat,
validation/test LPPD and RMSE, and the gradient evaluations per second, also as achieved
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

from landform.bayes import (  # noqa: E402
    convergence,
    coordinate_draws,
    curve_posterior,
    efficiency,
    evaluate_run,
    sample_posterior,
)
from landform.runtime import enable_compilation_cache  # noqa: E402
from landform.store import stage_summary  # noqa: E402
from landform.studies import load_config  # noqa: E402
from landform.studies.common import curve_stage, data_stage, load_curve, load_data  # noqa: E402


def gradient_flops(posterior) -> float:
    """FLOPs of one value-and-gradient evaluation of the log density (XLA cost analysis)."""
    z = jnp.zeros((posterior.dimension,), jnp.float32)
    compiled = jax.jit(jax.value_and_grad(posterior.log_density)).lower(z).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan"))) if analysis else float("nan")


def run_space(name, posterior, settings, key, splits):
    result = sample_posterior(key, posterior, settings)
    row = {"space": name, "chains_failed": result.num_failed}
    if result.num_failed == result.num_chains:
        row["failures"] = list(result.failures)
        return row
    diagnostics = convergence(coordinate_draws(posterior, result))
    work = efficiency(result, diagnostics["ess_bulk_min"])
    row.update(diagnostics)
    keys = (
        "sampling_seconds",
        "warmup_seconds",
        "compile_seconds",
        "gradient_evaluations",
        "warmup_gradient_evaluations",
        "gradient_evaluations_per_draw",
        "ess_per_second",
        "ess_per_gradient_evaluation",
    )
    row.update({k: work[k] for k in keys})
    row["ess_bulk_median_per_gradient_evaluation"] = diagnostics["ess_bulk_median"] / work["gradient_evaluations"]
    row["gradient_evaluations_per_second"] = work["gradient_evaluations"] / work["sampling_seconds"]
    row["step_size_mean"] = float(np.mean(result.step_size[result.valid]))
    row["L_mean"] = float(np.mean(result.trajectory_length[result.valid]))
    scores = evaluate_run(
        posterior,
        result,
        test=(splits["test"].x, splits["test"].y),
        validation=(splits["validation"].x, splits["validation"].y),
    )
    row.update({k: v for k, v in scores.items() if k.startswith(("test_", "validation_"))})
    if result.num_failed:
        row["failures"] = [reason for reason in result.failures if reason]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="the showcase's quick variant (short curve training and chains)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=_REPO / "runs" / "benchmarks" / "stages",
        help="stage cache: the trained curve is reused from here",
    )
    parser.add_argument(
        "--volume-temperatures",
        default="1",
        help=(
            "further temperatures for the volume space (comma-separated; '' for none): at the showcase's T the volume "
            "posterior predicts worse, so compare also where its validation LPPD comes closest to the tunnel's"
        ),
    )
    arguments = parser.parse_args()
    enable_compilation_cache()
    _, config = load_config(_REPO / "configs" / "tunnels" / "showcase.yaml", "quick" if arguments.quick else None)
    setting = config.settings()[0]
    spec, settings, seed = setting.posterior, setting.sampler, config.seeds[0]
    temperature = spec.temperatures[0]

    # 1. the showcase's tunnel (cached stage of the tunnels study)
    started = time.perf_counter()
    quiet = lambda message: None  # noqa: E731
    data = data_stage(arguments.cache, setting.data, log=quiet)
    curve = curve_stage(
        arguments.cache, data, setting.model, config.learned_sigma, config.loss, setting.curve_fields, seed, log=quiet
    )
    training_seconds = time.perf_counter() - started
    splits = load_data(data)
    trained = load_curve(curve)

    # 2. the same MCLMC budget in tunnel and volume coordinates
    runs = [("tunnel", temperature), ("volume", temperature)]
    runs += [
        ("volume", float(t)) for t in arguments.volume_temperatures.split(",") if t.strip() and float(t) != temperature
    ]
    train, curve_settings, symmetry = splits["train"], spec.curve_settings(), trained.config.get("symmetry")
    posteriors = {
        (space, t): curve_posterior(
            space, trained.curve, trained.model, trained.loss, curve_settings, train.x, train.y, t, symmetry=symmetry
        ).posterior
        for space, t in runs
    }
    key = jax.random.key(seed)
    rows = []
    for i, ((space, t), posterior) in enumerate(posteriors.items()):
        rows.append({"temperature": t, **run_space(space, posterior, settings, jax.random.fold_in(key, i), splits)})

    # 3. the machine's reference speed, and the gradient throughput against it
    peak = matmul_gflops()
    for row, posterior in zip(rows, posteriors.values()):
        flops = gradient_flops(posterior)
        row["flops_per_gradient_evaluation"] = flops
        if "gradient_evaluations_per_second" in row:
            achieved = flops * row["gradient_evaluations_per_second"] / 1e9
            row["achieved_gflops"] = achieved
            row["fraction_of_matmul"] = achieved / peak

    summary = {}
    tunnel = rows[0]
    same_t = rows[1]
    usable = [row for row in rows[1:] if "validation_lppd" in row]
    if "ess_per_gradient_evaluation" in tunnel and usable:
        closest = min(usable, key=lambda row: abs(row["validation_lppd"] - tunnel["validation_lppd"]))
        for name, other in (("same_temperature", same_t), ("closest_validation_lppd", closest)):
            if "ess_per_gradient_evaluation" in other:
                summary[f"tunnel_over_volume_{name}"] = {
                    "volume_temperature": other["temperature"],
                    "validation_lppd": {"tunnel": tunnel["validation_lppd"], "volume": other["validation_lppd"]},
                    "ess_bulk_min_per_gradient_evaluation": tunnel["ess_per_gradient_evaluation"]
                    / other["ess_per_gradient_evaluation"],
                    "ess_bulk_median_per_gradient_evaluation": tunnel["ess_bulk_median_per_gradient_evaluation"]
                    / other["ess_bulk_median_per_gradient_evaluation"],
                    "ess_per_second": tunnel["ess_per_second"] / other["ess_per_second"],
                }
    curve_summary = stage_summary(curve)
    report = {
        "benchmark": "tunnel_sampling",
        "config": "configs/tunnels/showcase.yaml",
        "variant": config.variant,
        "device": str(jax.devices()[0]),
        "parameters": int(posteriors[runs[0]].to_parameters(jnp.zeros(posteriors[runs[0]].dimension)).shape[0]),
        "degree": setting.curve.degree,
        "curve": {"cached": curve.cached, "seconds": training_seconds, **curve_summary},
        "sampler": settings.as_dict(),
        "temperature": temperature,
        "matmul_gflops": peak,
        "spaces": rows,
        **summary,
    }
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
