"""Basin volumes of exact bodies: tethered annealing against the ray estimator (negative control).

Bodies (:mod:`landform.volume.bodies`), each rotated by Householder reflections whose seed is
the benchmark seed, at n = 10^4 and 10^5:

- ellipsoid {½ xᵀHx ≤ 1}, power-law spectrum spanning 10^6;
- ℓ_0.5 and ℓ_4 bodies with semi-axes a_i = √(2/λ_i) (the same spread of scales);
- quadratic-plus-quartic body Σ ½λ_i y² + ¼ y⁴ ≤ 1 (saddlepoint log-volume).

For each body and seed: tethered annealing (:func:`landform.volume.tethered_log_volume`) with the
preconditioner ``--preconditioner``: ``deflated`` (default; :func:`landform.volume.deflated_preconditioner`
from the exact curvature diagonal and product, what a network's Hutchinson diagonal and Hessian-vector
products would give), ``lanczos`` (the curvature diagonal, then :func:`landform.volume.low_rank_refinement`
inside the estimator after every rounding pass) or ``diagonal``; and the ray estimator
(:func:`landform.volume.paper_ray_log_volume`) on the closed-form exit radii of ``--rays`` isotropic
directions. Error = estimate − exact log-volume. Pass (per body, annealing): |error| ≤ 2 ×
reported error in at least 9 of 10 seeds and reported error ≤ 10 nats.

Prints one JSON object (machine info from ``_common.machine``). The machine may be shared: the
seconds are what this run measured.

    nice python benchmarks/basin_reference.py --quick [--seeds 10] [--bodies ellipsoid,l0.5,l4,quartic]

Measured (``cd benchmarks && nice -n 10 python basin_reference.py --quick --seeds 1 --bodies ellipsoid
--chains 16 --rungs 16 --steps 8 --rounding-passes 0 --replicas 4``, a 2-core CPU shared with four
other jobs): see the "Measured so far" paragraph of :mod:`landform.volume.annealing`. The full
``--quick`` (10 seeds × 4 bodies at the default settings) does not fit in 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
from _common import machine

from landform.volume import (
    AnnealingSettings,
    deflated_preconditioner,
    ellipsoid,
    isotropic_directions,
    lp_body,
    paper_ray_log_volume,
    power_law,
    quartic_body,
    tether_preconditioner,
    tethered_log_volume,
)

BODIES = ("ellipsoid", "l0.5", "l4", "quartic")


def make_body(name: str, n: int, seed: int):
    lam = power_law(n, 1e6)
    if name == "ellipsoid":
        return ellipsoid(lam, key=seed)
    if name == "l0.5":
        return lp_body(np.sqrt(2.0 / lam), 0.5, key=seed)
    if name == "l4":
        return lp_body(np.sqrt(2.0 / lam), 4.0, key=seed)
    if name == "quartic":
        return quartic_body(lam, np.ones(n), key=seed)
    raise ValueError(name)


def ray_control(body, rays: int, seed: int) -> dict:
    start = time.perf_counter()
    u = isotropic_directions(rays, body.dimension, key=10_000 + seed)
    radii = np.concatenate([np.asarray(body.exit_radius(u[i : i + 256])) for i in range(0, rays, 256)])
    value = paper_ray_log_volume(radii, body.dimension)
    return {
        "estimate": value,
        "error": value - body.log_volume,
        "reported_error": None,
        "evaluations": rays,  # closed-form radii: one evaluation per ray (bisection would cost ~50)
        "seconds": time.perf_counter() - start,
    }


def annealing(body, settings: AnnealingSettings, seed: int, preconditioner: str) -> dict:
    start = time.perf_counter()
    if preconditioner == "deflated":
        pre = deflated_preconditioner(body.curvature_diagonal, body.curvature_product)
    else:
        pre = tether_preconditioner(curvature=body.curvature_diagonal)
    pre_seconds = time.perf_counter() - start
    result = tethered_log_volume(
        body.contains,
        np.zeros(body.dimension),
        precondition=pre,
        curvature_product=body.curvature_product if preconditioner == "lanczos" else None,
        settings=settings,
        key=seed,
    )
    error = result.log_volume - body.log_volume
    return {
        "estimate": result.log_volume,
        "error": error,
        "reported_error": result.error,
        "passes": bool(abs(error) <= 2.0 * result.error and result.error <= 10.0),
        "standard_error": result.standard_error,
        "replica_spread": result.replica_spread,
        "doubling_shift": result.doubling_shift,
        "mbar_error": result.mbar_log_volume - body.log_volume,
        "ti_error": result.ti_log_volume - body.log_volume,
        "overlap": result.overlap,
        "converged": result.converged,
        "unbounded": result.unbounded,
        "rounding_errors": [float(v - body.log_volume) for v in result.rounding],
        "rungs": int(len(result.ladder)),
        "evaluations": int(result.evaluations),
        "seconds": result.seconds + pre_seconds,
        "preconditioner_seconds": pre_seconds,
        "low_rank": int(pre.basis.shape[1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 10^4 only")
    parser.add_argument("--dimensions", default="10000,100000")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--bodies", default=",".join(BODIES))
    parser.add_argument("--rays", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--rungs", type=int, default=48)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--rounding-passes", type=int, default=6)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--preconditioner", choices=("deflated", "lanczos", "diagonal"), default="deflated")
    parser.add_argument("--skip-annealing", action="store_true", help="the ray estimator alone")
    args = parser.parse_args()
    dimensions = [10_000] if args.quick else [int(v) for v in args.dimensions.split(",")]
    settings = AnnealingSettings(
        chains=args.chains,
        rungs=args.rungs,
        steps=args.steps,
        rounding_passes=args.rounding_passes,
        replicas=args.replicas,
    )
    rows = []
    for n in dimensions:
        for name in args.bodies.split(","):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                body = make_body(name, n, seed)
                row = {"dimension": n, "body": name, "seed": seed, "exact": body.log_volume}
                row["rays"] = ray_control(body, args.rays, seed)
                if not args.skip_annealing:
                    row["annealing"] = annealing(body, settings, seed, args.preconditioner)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)  # progress: one line per row
    summary = {}
    for n in dimensions:
        for name in args.bodies.split(","):
            mine = [r for r in rows if r["dimension"] == n and r["body"] == name]
            ann = [r["annealing"] for r in mine if "annealing" in r]
            summary[f"{name}@{n}"] = {
                "seeds": len(mine),
                "annealing_pass_count": sum(a["passes"] for a in ann) if ann else None,
                "annealing_max_abs_error": max(abs(a["error"]) for a in ann) if ann else None,
                "annealing_max_reported_error": max(a["reported_error"] for a in ann) if ann else None,
                "rays_pass_count": 0,  # the ray estimator reports no error bar: it cannot pass
                "rays_errors": [r["rays"]["error"] for r in mine],
                "body_passes": (sum(a["passes"] for a in ann) >= math.ceil(0.9 * len(ann))) if ann else None,
            }
    print(
        json.dumps(
            {
                "benchmark": "basin_reference",
                "machine": machine(),
                "settings": settings._asdict() | {"rays": args.rays, "preconditioner": args.preconditioner},
                "summary": summary,
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
