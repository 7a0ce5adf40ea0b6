"""Landscape throughput: per-example losses at many parameter vectors.

MNIST MLP [256, 128] (784 → 256 → 128 → 10), per-example cross-entropy at 64 different
parameter vectors on 10,000 examples, with the chunking the landscape chooses by itself.
Prints GFLOP/s and the ratio to a 4096² float32 matmul timed in the same run
(target: ratio >= 0.7, issue 2).

    .venv/bin/python benchmarks/landscape_throughput.py [--vectors 64] [--examples 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import jax
import numpy as np
from _common import best_seconds, matmul_gflops

from landform.landscape import Landscape
from landform.models import mlp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=64)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument(
        "--real-data", action="store_true", help="use MNIST from LANDFORM_DATA instead of random inputs"
    )
    args = parser.parse_args()

    model = mlp(input_shape=(784,), hidden=[256, 128], outputs=10)
    params = model.init(jax.random.key(0))
    if args.real_data:
        from landform.data import load

        train = load("mnist").train
        x, y = train.x[: args.examples], train.y[: args.examples]
    else:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(args.examples, 784)).astype(np.float32)
        y = rng.integers(0, 10, args.examples).astype(np.int32)
    landscape = Landscape.from_apply(model.apply, params, x, y, "cross_entropy")
    # 64 *different* parameter vectors around θ*
    noise = jax.random.normal(jax.random.key(1), (args.vectors, landscape.dim))
    thetas = landscape.theta[None] + 0.01 * noise
    chunking = landscape.choose_chunking(args.vectors)

    seconds = best_seconds(lambda: landscape.per_example_batch(thetas))
    flops_per_example = 2 * (784 * 256 + 256 * 128 + 128 * 10)  # multiply-adds of the three layers
    gflops = args.vectors * args.examples * flops_per_example / seconds / 1e9
    peak = matmul_gflops()
    print(
        json.dumps(
            {
                "benchmark": "landscape_throughput",
                "model": "mlp[256,128] 784->10",
                "vectors": args.vectors,
                "examples": args.examples,
                "chunking": chunking._asdict(),
                "seconds": round(seconds, 4),
                "seconds_per_vector": round(seconds / args.vectors, 5),
                "gflops": round(gflops, 1),
                "matmul_4096_gflops": round(peak, 1),
                "ratio_to_matmul": round(gflops / peak, 3),
                "target_ratio": 0.7,
                "backend": jax.default_backend(),
                "cpu_count": os.cpu_count(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
