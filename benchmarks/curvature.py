"""Curvature on the MNIST MLP [256, 128]: Hessian-vector products, top-20 Lanczos, 1,000-probe trace.

One run, one MNIST MLP 784-256-128-10 (235,146 parameters; the minima-volume paper's model,
built with :func:`landform.models.mlp`) trained for a few epochs with AdamW on the first 6,000
training images, and its landscape on those 6,000 examples. Measured, each after a warm-up
call that compiles it:

- the gradient of the mean loss over all examples (landform's chunked gradient, and the
  landscape's own ``value_and_grad`` as the baseline), and one Hessian-vector product: their
  ratio is the cost of an HVP in gradients (target ≤ 3);
- 16 HVPs at once (``matmat``: the forward and backward pass at θ shared by the 16 vectors),
  per vector;
- the top 20 eigenvalues by Lanczos (default iterations, full reorthogonalisation);
- a 1,000-probe Hutchinson trace (and tr(H²) from the same probes).

Each is reported as seconds and as a fraction of the float32 matmul peak (a 4096² matmul timed
right before and after it, since the machine may be shared): fraction = (FLOPs / seconds) /
peak, with the FLOPs of one gradient and one HVP read from XLA's cost analysis of the compiled
programs (times the number of chunks of examples, since the analysis counts a loop body once;
Lanczos: iterations HVPs plus its reorthogonalisation; trace: probes/16 batched products).
Prints one JSON object.

    .venv/bin/python benchmarks/curvature.py [--quick] [--examples 6000] [--probes 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np
from _common import matmul_gflops

ROOT = Path(__file__).resolve().parent.parent
if "LANDFORM_DATA" not in os.environ and (ROOT.parent / "shared" / "datasets").is_dir():
    os.environ["LANDFORM_DATA"] = str(ROOT.parent / "shared" / "datasets")

from landform.curvature import curvature_operator, hutchinson, top_eigenvalues  # noqa: E402
from landform.curvature.operator import loss_and_gradient  # noqa: E402
from landform.data import Split, load  # noqa: E402
from landform.landscape import Landscape  # noqa: E402
from landform.models import mlp  # noqa: E402
from landform.train import TrainConfig, fit  # noqa: E402


class Timer:
    """Best wall time of a call, beside the matmul peak timed right before and after it.

    The machine may be shared: each measurement's peak is the mean of the matmul GFLOP/s timed
    just before and just after it (consecutive measurements share the one between them).
    """

    def __init__(self, peak_repeats: int) -> None:
        self.peak_repeats = peak_repeats
        self.last_peak = matmul_gflops(repeats=peak_repeats)

    def __call__(self, fn, repeats: int) -> tuple[object, float, float]:
        """(result, best seconds over ``repeats`` runs, matmul GFLOP/s around them)."""
        before = self.last_peak
        best, result = float("inf"), None
        for _ in range(repeats):
            start = time.perf_counter()
            result = jax.block_until_ready(fn())
            best = min(best, time.perf_counter() - start)
        self.last_peak = matmul_gflops(repeats=self.peak_repeats)
        return result, best, 0.5 * (before + self.last_peak)


def compiled_flops(fn, *args) -> float:
    """FLOPs of one call of ``fn(*args)`` from XLA's cost analysis of the compiled program."""
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis.get("flops", float("nan")))


def record(seconds: float, flops: float, peak: float, **extra) -> dict:
    rate = flops / seconds / 1e9
    return {
        "seconds": seconds,
        "gflop": flops / 1e9,
        "gflops": rate,
        "matmul_gflops": peak,
        "fraction_of_peak": rate / peak,
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 examples, 100 probes, 1 epoch: about a minute")
    parser.add_argument("--examples", type=int, default=None, help="training examples (default 6,000)")
    parser.add_argument("--probes", type=int, default=None, help="Hutchinson probes (default 1,000)")
    parser.add_argument("--top", type=int, default=20, help="eigenvalues by Lanczos")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the gradient and HVP (best counts)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    examples = args.examples or (2000 if args.quick else 6000)
    probes = args.probes or (100 if args.quick else 1000)
    epochs = args.epochs or (1 if args.quick else 5)

    train = load("mnist", normalize="standard").train
    split = Split(np.asarray(train.x[:examples], np.float32), np.asarray(train.y[:examples]))
    model = mlp(input_shape=(784,), hidden=[256, 128], outputs=10)
    start = time.perf_counter()
    result = fit(
        model, model.init(jax.random.key(args.seed)), split, "cross_entropy", TrainConfig(epochs=epochs, batch_size=100)
    )
    train_seconds = time.perf_counter() - start
    landscape = Landscape.from_apply(model.apply, result.params, split.x, split.y, "cross_entropy")
    theta = landscape.theta
    v = jax.random.normal(jax.random.key(1), theta.shape, theta.dtype)
    measured = Timer(peak_repeats=1 if args.quick else 3)

    # the gradient: landform's chunked one and the landscape's own
    value_and_grad, data = loss_and_gradient(landscape, theta)
    gradient_fn = jax.jit(value_and_grad)
    gradient_chunks = 1 if data[0] is None or data[0].ndim == landscape.x.ndim else data[0].shape[0]
    gradient_flops = gradient_chunks * compiled_flops(value_and_grad, theta, *data)
    _, gradient_seconds, gradient_peak = measured(lambda: gradient_fn(theta, *data), args.repeats)
    _, baseline_seconds, baseline_peak = measured(lambda: landscape.value_and_grad(theta), args.repeats)

    # one HVP, and 16 at once
    operator = curvature_operator(landscape)
    # XLA's cost analysis counts a loop body once: scale by the number of chunks of examples
    chunks = -(-landscape.num_examples // operator.examples)
    hvp_flops = chunks * compiled_flops(operator.product, v, *operator.arguments)
    _, hvp_seconds, hvp_peak = measured(lambda: operator.matvec(v), args.repeats)
    block = jax.random.normal(jax.random.key(2), (operator.width, theta.size), theta.dtype)
    batched = jax.vmap(operator.product, in_axes=(0,) + (None,) * len(operator.arguments))
    block_flops = chunks * compiled_flops(batched, block, *operator.arguments)
    _, block_seconds, block_peak = measured(lambda: operator.matmat(block), args.repeats)

    # top-k Lanczos (its first call compiles)
    top_eigenvalues(operator, args.top, key=3)
    pairs, lanczos_seconds, lanczos_peak = measured(lambda: top_eigenvalues(operator, args.top, key=3), 1)
    steps = pairs.iterations
    lanczos_flops = steps * hvp_flops + steps * 4.0 * steps * theta.size  # + full reorthogonalisation

    # Hutchinson trace (its first call compiles)
    hutchinson(operator, probes, key=4)
    estimate, trace_seconds, trace_peak = measured(lambda: hutchinson(operator, probes, key=4), 1)
    trace_flops = probes / operator.width * block_flops

    report = {
        "benchmark": "curvature",
        "quick": bool(args.quick),
        "machine": platform.machine(),
        "device": str(jax.devices()[0]),
        "examples": examples,
        "parameters": int(theta.size),
        "train_epochs": epochs,
        "train_seconds": train_seconds,
        "train_loss": float(landscape.loss(theta)),
        "chunk_examples": operator.examples,
        "batch_width": operator.width,
        "gradient": record(gradient_seconds, gradient_flops, gradient_peak),
        "gradient_landscape_baseline": record(baseline_seconds, gradient_flops, baseline_peak),
        "hvp": record(hvp_seconds, hvp_flops, hvp_peak, relative_to_gradient=hvp_seconds / gradient_seconds),
        "hvp_batched": record(
            block_seconds,
            block_flops,
            block_peak,
            vectors=operator.width,
            seconds_per_vector=block_seconds / operator.width,
            relative_to_gradient=block_seconds / operator.width / gradient_seconds,
        ),
        "lanczos": record(
            lanczos_seconds,
            lanczos_flops,
            lanczos_peak,
            top=args.top,
            iterations=steps,
            hvp_equivalents=lanczos_seconds / hvp_seconds,
            largest=float(pairs.values[0]),
            largest_residual=float(pairs.residuals[0]),
            converged=int(pairs.converged.sum()),
        ),
        "trace": record(
            trace_seconds,
            trace_flops,
            trace_peak,
            probes=probes,
            value=estimate.trace.value,
            standard_error=estimate.trace.standard_error,
            trace_of_square=estimate.trace_of_square.value,
            seconds_per_probe=trace_seconds / probes,
        ),
        "target_hvp_over_gradient": 3.0,
        "meets_target": bool(hvp_seconds / gradient_seconds <= 3.0),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
