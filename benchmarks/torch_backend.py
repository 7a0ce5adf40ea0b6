"""PyTorch backend: the MNIST MLP landscape evaluated by PyTorch against the same network in JAX.

MNIST MLP [256, 128] (784 → 256 → 128 → 10) with PyTorch's initialisation; per-example
cross-entropy at V different parameter vectors on N MNIST examples, through
``landform.models.torch.TorchLandscape`` (``torch.func.functional_call`` under ``torch.func.vmap``)
and through the JAX twin (``Landscape.from_apply`` of the zoo MLP with the same weights), each with
the chunking it chooses itself. Each backend's GFLOP/s is reported as a fraction of its own
framework's 4096² float32 matmul, timed in the same run (the baseline), and the two sets of
losses are checked to agree.

    .venv/bin/python benchmarks/torch_backend.py [--vectors 16] [--examples 10000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import numpy as np
import torch
from _common import best_seconds, matmul_gflops

from landform.data import load
from landform.landscape import Landscape
from landform.models.torch import TorchLandscape, twin, twin_order


def torch_matmul_gflops(size: int = 4096, repeats: int = 5) -> float:
    """GFLOP/s of a float32 size×size matmul in PyTorch: its peak on this machine."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def torch_seconds(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=16)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="4 vectors, 2,000 examples, smaller matmuls")
    args = parser.parse_args()
    vectors, examples = (4, 2_000) if args.quick else (args.vectors, args.examples)
    repeats = 2 if args.quick else 3
    size = 2048 if args.quick else 4096

    train = load("mnist").train
    x, y = train.x[:examples], train.y[:examples]
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(784, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    ).eval()
    torch_landscape = TorchLandscape(module, x, y, "cross_entropy")
    model, params = twin(module, (784,))
    jax_landscape = Landscape.from_apply(model.apply, params, x, y, "cross_entropy")
    noise = jax.random.normal(jax.random.key(1), (vectors, torch_landscape.dim))
    thetas = torch_landscape.theta[None] + 0.01 * noise  # in PyTorch's order
    jax_thetas = thetas[:, np.asarray(twin_order(model, module))]  # the same vectors in the twin's order

    torch_time = torch_seconds(lambda: torch_landscape.per_example_batch(thetas), repeats)
    jax_time = best_seconds(lambda: jax_landscape.per_example_batch(jax_thetas), repeats=repeats)
    difference = float(
        np.max(np.abs(torch_landscape.per_example_batch(thetas) - jax_landscape.per_example_batch(jax_thetas)))
    )
    flops = vectors * examples * 2 * (784 * 256 + 256 * 128 + 128 * 10)
    torch_peak, jax_peak = torch_matmul_gflops(size, repeats), matmul_gflops(size, repeats)
    torch_gflops, jax_gflops = flops / torch_time / 1e9, flops / jax_time / 1e9
    print(
        json.dumps(
            {
                "benchmark": "torch_backend",
                "model": "mlp[256,128] 784->10 (PyTorch nn.Sequential and its JAX twin)",
                "vectors": vectors,
                "examples": examples,
                "torch": {
                    "seconds": round(torch_time, 4),
                    "gflops": round(torch_gflops, 1),
                    "matmul_gflops": round(torch_peak, 1),
                    "fraction_of_matmul": round(torch_gflops / torch_peak, 3),
                    "chunking": list(torch_landscape.choose_chunking(vectors)),
                    "threads": torch.get_num_threads(),
                },
                "jax": {
                    "seconds": round(jax_time, 4),
                    "gflops": round(jax_gflops, 1),
                    "matmul_gflops": round(jax_peak, 1),
                    "fraction_of_matmul": round(jax_gflops / jax_peak, 3),
                    "chunking": list(jax_landscape.choose_chunking(vectors)),
                },
                "torch_over_jax_time": round(torch_time / jax_time, 2),
                "max_abs_loss_difference": difference,
                "matmul_size": size,
                "versions": {"torch": torch.__version__, "jax": jax.__version__},
                "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
            }
        )
    )


if __name__ == "__main__":
    main()
