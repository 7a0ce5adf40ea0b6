"""One command for a machine with an accelerator: the volume and landscape benchmarks on whatever
JAX backend is present, in a few minutes, as one JSON object.

On a GPU machine the only extra step is ``pip install -e '.[cuda]'`` (or ``make test`` then
``.venv/bin/pip install -e '.[cuda]'``); then

    .venv/bin/python benchmarks/device_check.py

runs, on the default JAX device, with small settings so the whole check stays within
``--budget`` seconds (default 300): landscape throughput (``landscape_throughput.py``), exit
radii against the paper's grid protocol (``volume_vs_grid.py``), and first-layer reuse along rays,
the grid and a plane (``first_layer_reuse.py --quick``), and the cost of a tethered-annealing basin
estimate on the paper's MNIST network (``mnist_basin_cost.py``: evaluations per second, a small
run, and the default run's cost extrapolated from it). Each part's JSON is kept as it is under
its name, with the device, the JAX version, a matmul timed on that device and the seconds each
part took; a part that fails or runs out of the budget is recorded with its error, and the
others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
from _common import matmul_gflops

HERE = Path(__file__).resolve().parent

PARTS = {
    "landscape_throughput": ["landscape_throughput.py", "--vectors", "16", "--examples", "6000"],
    "volume_vs_grid": ["volume_vs_grid.py", "--grid-directions", "4", "--directions", "64", "--epochs", "5"],
    "first_layer_reuse": ["first_layer_reuse.py", "--quick", "--epochs", "5"],
    "mnist_basin_cost": ["mnist_basin_cost.py", "--chains", "64", "--rungs", "4", "--steps", "2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the whole check")
    args = parser.parse_args()
    start = time.perf_counter()
    result = {
        "benchmark": "device_check",
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "matmul_4096_gflops": round(matmul_gflops(repeats=5), 1),
        "parts": {},
    }
    environment = dict(os.environ)
    for name, command in PARTS.items():
        left = args.budget - (time.perf_counter() - start)
        if left < 20:
            result["parts"][name] = {"error": "skipped: the time budget is spent"}
            continue
        began = time.perf_counter()
        try:
            done = subprocess.run(
                [sys.executable, *command],
                cwd=HERE,
                capture_output=True,
                text=True,
                timeout=left,
                env=environment,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode == 0 and lines:
                part = json.loads(lines[-1])
            else:
                part = {"error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}
        except subprocess.TimeoutExpired:
            part = {"error": f"ran past the remaining budget ({left:.0f} s)"}
        part["seconds"] = round(time.perf_counter() - began, 1)
        result["parts"][name] = part
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
