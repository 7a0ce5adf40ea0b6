"""A whole MNIST low-data seed at the paper's settings, with its time broken down.

Runs ``landform run configs/volume/mnist_low_data.yaml`` for one (model, data) seed pair (six
minima trained on 60 … 60,000 examples, 500 filter_scale directions, every minimum in each nested
landscape up to its cutoff, τ ∈ {0.01, 0.02, 0.05, 0.1}) into ``--out`` and reads the time of
every stage from the run's stage markers: training per minimum, exit radii per minimum (with
evaluations per ray and the examples they touched), and the rest (data, cutoffs, tables, figures
and report: the wall time not spent in training or radii). A folder that already holds the run
is only read (its stages are cached); ``--fresh`` removes it first.

Cost model of the radii: with the first layer reused along each ray, a ray costs one first-layer
product on the largest landscape it is measured in plus, per evaluated example, the rest of the
network: FLOPs = 2·n_max·784·256 + 2·(256·128 + 128·10)·(examples evaluated). The matmul peak is
timed before and after (the machine may be shared). Prints one JSON object.

    .venv/bin/python benchmarks/mnist_seed.py --out runs/mnist-seed0-0 [--model-seed 0 --data-seed 0] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import machine, matmul_gflops

ROOT = Path(__file__).resolve().parent.parent
FIRST = 2.0 * 784 * 256
REST = 2.0 * (256 * 128 + 128 * 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model-seed", type=int, default=0)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "volume" / "mnist_low_data.yaml")
    parser.add_argument("--fresh", action="store_true", help="remove --out first, so every stage runs")
    parser.add_argument("--cache", type=Path, default=None, help="the stage cache (default: OUT/stages)")
    parser.add_argument("--set", action="append", default=[], help="more overrides for landform run")
    args = parser.parse_args()
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    if "LANDFORM_DATA" not in os.environ and (ROOT.parent / "shared" / "datasets").is_dir():
        os.environ["LANDFORM_DATA"] = str(ROOT.parent / "shared" / "datasets")
    peak_before = matmul_gflops(repeats=3)
    command = [
        str(Path(sys.executable).with_name("landform")),
        "run",
        str(args.config),
        "--out",
        str(args.out),
        "--set",
        f"seeds.model=[{args.model_seed}]",
        "--set",
        f"seeds.data=[{args.data_seed}]",
    ]
    for item in args.set:
        command += ["--set", item]
    if args.cache is not None:
        command += ["--cache", str(args.cache)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"landform run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    peak_after = matmul_gflops(repeats=3)

    train, radii, other = [], [], {}
    for marker in sorted((args.cache or args.out / "stages").glob("*/_stage.json")):
        info = json.loads(marker.read_text())
        stage, seconds = info["stage"], float(info["seconds"])
        if stage == "train":
            train.append({"seconds": round(seconds, 1), "key": info["key"]})
        elif stage == "radii":
            folder = marker.parent
            stored = np.load(folder / "radii.npz")
            sizes = info["summary"]["sizes"]
            examples = float(np.mean(stored["example_evaluations"]))
            flops = FIRST * max(sizes) + REST * examples
            radii.append(
                {
                    "sizes": sizes,
                    "seconds": round(seconds, 1),
                    "rays": int(stored["evaluations"].size),
                    "evaluations_per_ray": round(float(np.mean(stored["evaluations"])), 1),
                    "examples_evaluated_per_ray": round(examples),
                    "cost_model_gflop_per_ray": round(flops / 1e9, 2),
                    "gflops_achieved": round(flops * stored["evaluations"].size / seconds / 1e9, 1),
                }
            )
        else:
            other[stage] = round(other.get(stage, 0.0) + seconds, 1)
    radii.sort(key=lambda r: max(r["sizes"]))
    seconds_train = sum(t["seconds"] for t in train)
    seconds_radii = sum(r["seconds"] for r in radii)
    result = {
        "benchmark": "mnist_seed",
        "config": str(args.config.relative_to(ROOT)) if args.config.is_relative_to(ROOT) else str(args.config),
        "seeds": {"model": args.model_seed, "data": args.data_seed},
        "wall_seconds_this_call": round(wall, 1),
        "stage_seconds": {
            "training": round(seconds_train, 1),
            "radii": round(seconds_radii, 1),
            "other_stages": other,
            "rest_of_wall (cutoffs, tables, figures, report; 0 if cached)": round(
                max(wall - seconds_train - seconds_radii - sum(other.values()), 0.0), 1
            )
            if wall > seconds_train + seconds_radii
            else None,
        },
        "training": train,
        "radii": radii,
        "target_radii_seconds": 600,
        "matmul_4096_gflops": {"before": round(peak_before, 1), "after": round(peak_after, 1)},
        **machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
