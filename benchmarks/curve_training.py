"""Curve (loss-tunnel) training throughput: optimiser steps and network forward passes per second.

Two tunnels of Dold et al. 2025 ("Paths and Ambient Spaces in Neural Loss Landscapes",
arXiv 2503.03382), both Bézier curves of degree K = 10 with all 11 control points free:

- toy: MLP [16, 16, 16] on polynomial features [x, x², x³] with a learned σ
  (``with_learned_sigma(mlp((1,), [16, 16, 16], 1, polynomial_features=3))``), 70 training
  points, full batch, M = 20 values of t per step;
- lenet: LeNet-5 on MNIST (random images of the same shape when MNIST is not available, or with
  ``--random-data``), minibatches of 480, M = 1 value of t per step (``--lenet-samples``).

FLOPs are counted from the networks' multiply-adds only (the curve's own basis @ control points
product and the optimiser are not counted): a forward pass is 2·MACs per example per value of
t, a training step 3× the forward cost of its M networks on its batch. Throughput is compared
with a 4096² float32 matmul timed in the same run. Prints one JSON object.

    .venv/bin/python benchmarks/curve_training.py [--lenet-samples 1] [--random-data]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import best_seconds, matmul_gflops

from landform.data.base import Split
from landform.models import lenet5, mlp, with_learned_sigma
from landform.paths import Curve, CurveTrainConfig, make_curve_trainer, network_losses, network_parameters

# multiply-adds per example
TOY_MACS = 3 * 16 + 16 * 16 + 16 * 16 + 16 * 1
LENET_MACS = (
    28 * 28 * 6 * 5 * 5 * 1  # conv 6@5×5, padding 2
    + 10 * 10 * 16 * 5 * 5 * 6  # conv 16@5×5, valid
    + 400 * 120
    + 120 * 84
    + 84 * 10
)


def measure(name, model, train, config, macs, block, repeats):
    """Steps per second of the compiled training scan and forward passes per second of the
    same M networks on the same batch, with FLOP rates."""
    trainer = make_curve_trainer(
        model, train, config.model_copy(update={"validate_every": block, "steps": block * (repeats + 2)})
    )
    state = trainer.state
    started = time.perf_counter()
    state, _ = trainer.run(state, 0, block)  # compiles
    jax.block_until_ready(state.free)
    compile_seconds = time.perf_counter() - started

    best = float("inf")
    for r in range(repeats):
        start = time.perf_counter()
        state, loss = trainer.run(state, (r + 1) * block, (r + 2) * block)
        jax.block_until_ready(state.free)
        best = min(best, time.perf_counter() - start)
    steps_per_second = block / best

    batch = len(train) if config.batch_size is None else config.batch_size
    samples = config.samples_per_step
    x, y = jnp.asarray(train.x[:batch]), jnp.asarray(train.y[:batch])
    curve = Curve(config.kind, trainer.assemble(state.free))
    t = jnp.linspace(0.05, 0.95, samples)

    @jax.jit
    def forward(points, x, y):
        thetas = network_parameters(trainer.curve_model, Curve(config.kind, points), t)
        return network_losses(trainer.curve_model, trainer.loss, thetas, x, y)

    points = curve.control_points

    def forward_block():
        # several forward evaluations per timing so that dispatch overhead stays small
        return [forward(points, x, y) for _ in range(10)]

    forward_seconds = best_seconds(forward_block, repeats=repeats) / 10
    forward_flops = 2.0 * macs * batch * samples
    return {
        "case": name,
        "degree": config.degree,
        "control_points": config.degree + 1,
        "parameters_per_network": trainer.curve_model.dim,
        "samples_per_step": samples,
        "batch": batch,
        "training_examples": len(train),
        "macs_per_example": macs,
        "steps_per_second": round(steps_per_second, 2),
        "seconds_per_step": round(1 / steps_per_second, 6),
        "training_gflops": round(3 * forward_flops * steps_per_second / 1e9, 3),
        "forward_passes_per_second": round(batch * samples / forward_seconds, 1),
        "network_evaluations_per_second": round(samples / forward_seconds, 2),
        "forward_gflops": round(forward_flops / forward_seconds / 1e9, 3),
        "first_block_seconds_with_compile": round(compile_seconds, 2),
        "final_step_loss": float(loss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lenet-samples", type=int, default=1, help="M for the LeNet tunnel")
    parser.add_argument("--random-data", action="store_true", help="random MNIST-shaped images instead of MNIST")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    peak = matmul_gflops()

    # (i) the toy tunnel
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (70, 1)).astype(np.float32)
    y = (x[:, 0] ** 3 - x[:, 0] + 0.05 * rng.normal(size=70)).astype(np.float32)
    toy_model = with_learned_sigma(mlp(input_shape=(1,), hidden=[16, 16, 16], outputs=1, polynomial_features=3))
    toy_config = CurveTrainConfig(degree=10, samples_per_step=20, learning_rate=1e-3)
    toy = measure(
        "toy K=10, MLP[16,16,16] poly3 + learned sigma, 70 points, M=20, full batch",
        toy_model,
        Split(x, y),
        toy_config,
        TOY_MACS,
        block=500,
        repeats=args.repeats,
    )

    # (ii) the LeNet-5 MNIST tunnel
    data_source = "random"
    if not args.random_data:
        try:
            from landform.data import load

            train = load("mnist").train
            data_source = "mnist"
        except Exception as error:  # noqa: BLE001 - fall back to random data, say so in the output
            data_source = f"random ({type(error).__name__}: {error})"
    if data_source != "mnist":
        rng = np.random.default_rng(1)
        train = Split(rng.random((60_000, 784), dtype=np.float32), rng.integers(0, 10, 60_000).astype(np.int32))
    lenet_config = CurveTrainConfig(degree=10, samples_per_step=args.lenet_samples, batch_size=480, learning_rate=1e-3)
    lenet = measure(
        f"lenet5 K=10, MNIST ({data_source}), batch 480, M={args.lenet_samples}",
        lenet5(input_shape=(784,)),
        train,
        lenet_config,
        LENET_MACS,
        block=20,
        repeats=args.repeats,
    )

    for case in (toy, lenet):
        case["training_ratio_to_matmul"] = round(case["training_gflops"] / peak, 4)
        case["forward_ratio_to_matmul"] = round(case["forward_gflops"] / peak, 4)
    print(
        json.dumps(
            {
                "benchmark": "curve_training",
                "toy": toy,
                "lenet": lenet,
                "matmul_4096_gflops": round(peak, 1),
                "flop_count": "networks only: forward = 2*MACs per example per t; training step = 3x forward",
                "backend": jax.default_backend(),
                "cpu_count": os.cpu_count(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
