"""First-layer reuse: exit radii, the grid protocol and a plane, with and without it, in one run.

Along a line θ* + r·d the first layer of a network whose first operation is linear in its
weights is affine in r: z_1(θ* + r·d) = z_1(θ*) + r·z_1(d). With reuse (``Model.first_layer``,
:class:`landform.landscape.Span`), z_1(d) is computed once per direction and every further radius
costs only the rest of the network. One trained MNIST MLP [256, 128] (the minima-volume paper's)
on the first ``--examples`` training images, τ = 0.1, filter_scale directions:

(1) exit radii (``exit_radii``, tolerance 1e-4) with and without reuse, against the search of
    Scherlis & Belrose's basin-volume estimator (EleutherAI): for all directions at once, double
    r until L(θ* + r·d) > τ, then bisect until (hi − lo)/lo ≤ its relative tolerance (1e-2 by
    default; also run at 1e-4 for equal accuracy), every iteration one batched call over all
    directions (written here from that description). Radius errors against a 1e-7 bisection.
(2) the paper's grid protocol (100 coefficients, one direction at a time, every point evaluated)
    and its batched form, with and without reuse (radii must be identical).
(3) a 51 × 51 plane through θ* (``plane_losses``), with and without reuse.
(4) how one evaluation's cost grows with examples (60 → ``--max-examples``) and width, against
    the cost model FLOPs = 2·N·Σ(fan_in·fan_out) (full) and the rest of the network (reused).

Full-evaluation equivalents per ray = (first-layer products + evaluations × rest) / full, in
FLOPs. Every throughput is a fraction of a 4096² float32 matmul timed in the same run (the machine
may be shared: numbers are what this run measured). Prints one JSON object.

    .venv/bin/python benchmarks/first_layer_reuse.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import best_seconds, machine, matmul_gflops
from volume_vs_grid import mnist_train, reference_radii, train

from landform.flat import leaf_slices
from landform.landscape import Landscape
from landform.models import mlp
from landform.views.planes import plane_losses, plane_through
from landform.volume import exit_radii, grid_radii, random_directions

WARMUP_OFFSET = 1_000_000


def layer_flops(widths: list[int]) -> tuple[float, float]:
    """(first layer, rest) multiply-add FLOPs per example of an MLP with these layer widths."""
    pairs = list(zip(widths[:-1], widths[1:]))
    return 2.0 * pairs[0][0] * pairs[0][1], 2.0 * sum(a * b for a, b in pairs[1:])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def basin_volume_search(landscape: Landscape, theta, dirs, tau: float, rtol: float, r0: float):
    """Doubling, then bisection to (hi − lo)/lo ≤ rtol, all directions in one call per iteration.

    Returns (radii, iterations): the midpoint of the final bracket and the number of batched
    evaluations (each evaluates every direction)."""
    k = dirs.shape[0]

    def outside(r):
        thetas = theta[None] + jnp.asarray(r, theta.dtype)[:, None] * dirs
        return np.asarray(landscape.loss_batch(thetas)) > tau

    lo, hi = np.zeros(k), np.full(k, r0)
    iterations = 0
    out = outside(hi)
    iterations += 1
    while not out.all():
        lo = np.where(out, lo, hi)
        hi = np.where(out, hi, 2 * hi)
        out = np.where(out, True, outside(hi))
        iterations += 1
    while np.max((hi - lo) / np.maximum(lo, 1e-30)) > rtol:
        mid = 0.5 * (lo + hi)
        out = outside(mid)
        iterations += 1
        hi, lo = np.where(out, mid, hi), np.where(out, lo, mid)
    return 0.5 * (lo + hi), iterations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=6000)
    parser.add_argument("--directions", type=int, default=128, help="rays for exit radii")
    parser.add_argument("--grid-directions", type=int, default=12)
    parser.add_argument("--plane", type=int, default=51, help="plane resolution per axis")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--max-examples", type=int, default=60000, help="largest N of the scaling part")
    parser.add_argument("--quick", action="store_true", help="fewer rays, smaller plane, N ≤ 6,000 (about a minute)")
    args = parser.parse_args()
    if args.quick:
        args.directions, args.grid_directions, args.plane, args.max_examples = 32, 4, 21, 6000

    widths = [784, 256, 128, 10]
    first_flops, rest_flops = layer_flops(widths)
    full_flops = first_flops + rest_flops
    x, y = mnist_train(max(args.examples, args.max_examples))
    model = mlp((784,), widths[1:-1], widths[-1])
    params = jax.block_until_ready(
        train(model.init, model.apply, x[: args.examples], y[: args.examples], args.epochs, seed=0)
    )
    reuse = Landscape.from_apply(
        model.apply, params, x[: args.examples], y[: args.examples], first_layer=model.first_layer
    )
    plain = reuse.without_first_layer()
    theta = reuse.theta
    n = args.examples
    directions = random_directions(jax.random.key(7), theta, leaf_slices(params), normalization="filter_scale")
    tau, k = args.threshold, args.directions
    peak = [matmul_gflops(repeats=3)]
    result: dict = {
        "benchmark": "first_layer_reuse",
        "model": "mlp[256,128] 784->10",
        "parameters": int(theta.shape[0]),
        "examples": n,
        "threshold": tau,
        "loss_at_minimum": float(reuse.loss(theta)),
        "cost_model_flops_per_example": {"full": full_flops, "first_layer": first_flops, "rest": rest_flops},
    }

    # ---------------------------------------------------------------- (1) exit radii
    warm = WARMUP_OFFSET + np.arange(k)
    search = {"tolerance": args.tolerance}
    runs = {}
    for name, land in (("reuse", reuse), ("plain", plain)):
        exit_radii(land, directions, warm, tau, **search)
        runs[name], seconds = timed(lambda land=land: exit_radii(land, directions, k, tau, **search))
        runs[name + "_seconds"] = seconds
    dirs = directions.batch(np.arange(k))
    ours = runs["reuse"]
    ok = np.flatnonzero(ours.status[:, 0, 0] == 0)
    reference = reference_radii(plain, theta, dirs[ok], ours.lower[ok, 0, 0], ours.upper[ok, 0, 0], tau, n)
    r0 = float(np.min(ours.radii)) / 16  # a generous start: 4 doublings below the smallest exit
    baseline = {}
    for rtol in (1e-2, args.tolerance):
        basin_volume_search(plain, theta, directions.batch(warm[:k]), tau, rtol, r0)
        (radii, iterations), seconds = timed(lambda rtol=rtol: basin_volume_search(plain, theta, dirs, tau, rtol, r0))
        baseline[f"rtol_{rtol:g}"] = {
            "seconds_per_direction": round(seconds / k, 5),
            "evaluations_per_ray": iterations,
            "max_relative_error": float(np.max(np.abs(radii[ok] / reference - 1))),
        }
    peak.append(matmul_gflops(repeats=3))
    evals = float(ours.evaluations.mean())
    equivalents = (first_flops + evals * rest_flops) / full_flops
    per_dir = {name: runs[name + "_seconds"] / k for name in ("reuse", "plain")}
    equal = baseline[f"rtol_{args.tolerance:g}"]["seconds_per_direction"]
    result["exit_radii"] = {
        "directions": k,
        "tolerance": args.tolerance,
        "resolution": ours.settings.resolution,
        "seconds_per_direction": {name: round(v, 5) for name, v in per_dir.items()},
        "evaluations_per_ray": round(evals, 2),
        "full_evaluation_equivalents_per_ray": {"reuse": round(equivalents, 2), "plain": round(evals, 2)},
        "max_relative_error": {
            "reuse": float(np.max(np.abs(ours.radii[ok, 0, 0] / reference - 1))),
            "plain": float(np.max(np.abs(runs["plain"].radii[ok, 0, 0] / reference - 1))),
        },
        "radii_reuse_vs_plain_max_relative_difference": float(
            np.max(np.abs(ours.radii[:, 0, 0] / runs["plain"].radii[:, 0, 0] - 1))
        ),
        "basin_volume_search": baseline,
        "speedup": {
            "reuse_over_plain": round(per_dir["plain"] / per_dir["reuse"], 2),
            "reuse_over_basin_volume_equal_accuracy": round(equal / per_dir["reuse"], 2),
            "reuse_over_basin_volume_default_tolerance": round(
                baseline["rtol_0.01"]["seconds_per_direction"] / per_dir["reuse"], 2
            ),
        },
        "throughput_ratio_to_matmul_reuse": round(
            (equivalents * full_flops * n) / per_dir["reuse"] / 1e9 / np.mean(peak[-2:]), 3
        ),
        "targets": {"equivalents_per_ray": 2, "max_relative_error": 1e-4, "speedup_over_basin_volume": 10},
    }

    # ---------------------------------------------------------------- (2) the grid protocol
    coefficients = np.linspace(0.0, 2.0 * float(np.max(ours.radii[:, 0, 0])), 100)
    kg = args.grid_directions
    grids, grid_seconds = {}, {}
    for one in (True, False):
        for name, land in (("reuse", reuse), ("plain", plain)):
            label = f"{'paper_one_at_a_time' if one else 'batched'}_{name}"
            grid_radii(land, directions, warm[:kg], tau, coefficients=coefficients, one_at_a_time=one)
            grids[label], seconds = timed(
                lambda land=land, one=one: grid_radii(
                    land, directions, kg, tau, coefficients=coefficients, one_at_a_time=one
                )
            )
            grid_seconds[label] = seconds / kg
    peak.append(matmul_gflops(repeats=3))
    result["grid"] = {
        "directions": kg,
        "points": coefficients.size,
        "seconds_per_direction": {label: round(v, 4) for label, v in grid_seconds.items()},
        "radii_identical": {
            protocol: bool(np.array_equal(grids[f"{protocol}_reuse"].radii, grids[f"{protocol}_plain"].radii))
            for protocol in ("paper_one_at_a_time", "batched")
        },
        "speedup_reuse_over_plain": {
            protocol: round(grid_seconds[f"{protocol}_plain"] / grid_seconds[f"{protocol}_reuse"], 2)
            for protocol in ("paper_one_at_a_time", "batched")
        },
        "target_speedup": 5,
    }

    # ---------------------------------------------------------------- (3) a plane
    d1, d2 = directions.batch(np.array([0, 1]))
    plane = plane_through(theta, theta + d1, theta + d2, kind="affine")
    span = float(np.median(ours.radii[:, 0, 0])) * 2
    resolution = args.plane
    planes = {}
    for name, land in (("reuse", reuse), ("plain", plain)):
        plane_losses(land, plane, grid=3)  # compile the block shape once
        planes[name], planes[name + "_seconds"] = timed(
            lambda land=land: plane_losses(land, plane, grid=_grid(resolution, span))
        )
    peak.append(matmul_gflops(repeats=3))
    result["plane"] = {
        "points": resolution * resolution,
        "seconds": {name: round(planes[name + "_seconds"], 3) for name in ("reuse", "plain")},
        "speedup_reuse_over_plain": round(planes["plain_seconds"] / planes["reuse_seconds"], 2),
        "max_abs_difference": float(np.max(np.abs(planes["reuse"].losses - planes["plain"].losses))),
        "target_speedup": 4,
    }

    # ---------------------------------------------------------------- (4) scaling
    scaling = []
    sizes = [s for s in (60, 600, 6000, 20000, 60000) if s <= args.max_examples]
    cases = [(widths, s) for s in sizes] + [
        ([784, w, w // 2, 10], 6000) for w in (64, 1024) if 6000 <= args.max_examples
    ]
    for layer_widths, size in cases:
        net = mlp((784,), layer_widths[1:-1], 10)
        p = net.init(jax.random.key(1))
        land = Landscape.from_apply(net.apply, p, x[:size], y[:size], first_layer=net.first_layer)
        flat = land.without_first_layer()
        f1, fr = layer_flops(layer_widths)
        batch = 0.01 * jax.random.normal(jax.random.key(2), (8, land.dim))
        rows, radii = np.arange(8), np.linspace(0.5, 2.0, 8)
        pts = land.theta[None] + jnp.asarray(radii)[:, None] * batch
        t_plain = best_seconds(lambda flat=flat, pts=pts: flat.per_example_batch(pts)) / 8
        t_first = best_seconds(lambda land=land, batch=batch: land.span(land.theta, batch)._z) / 8
        sp = land.span(land.theta, batch)
        t_rest = best_seconds(lambda sp=sp, rows=rows, radii=radii: sp.per_example(rows, radii)) / 8
        top = matmul_gflops(size=2048, repeats=3)
        scaling.append(
            {
                "widths": layer_widths,
                "examples": size,
                "seconds_per_full_evaluation": round(t_plain, 6),
                "seconds_per_first_layer_product": round(t_first, 6),
                "seconds_per_reused_point": round(t_rest, 6),
                "reused_point_fraction_of_full": round(t_rest / t_plain, 3),
                "cost_model_rest_fraction": round(fr / (f1 + fr), 3),
                "throughput_ratio_to_matmul": {
                    "full": round((f1 + fr) * size / t_plain / 1e9 / top, 3),
                    "reused_point": round(fr * size / t_rest / 1e9 / top, 3),
                },
            }
        )
    result["scaling"] = scaling
    result["matmul_4096_gflops"] = [round(v, 1) for v in peak]
    result.update(machine(), device=str(jax.devices()[0]))
    print(json.dumps(result))


def _grid(resolution: int, span: float):
    from landform.views.planes import plane_grid

    return plane_grid(resolution, (-span, span))


if __name__ == "__main__":
    main()
