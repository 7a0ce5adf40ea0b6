"""What a tethered-annealing basin estimate costs on the minima-volume paper's MNIST network.

The paper's MLP [256, 128] (n = 235,146 parameters), trained here by ``--steps-train`` full-batch
AdamW steps on the first ``--train`` MNIST images; its basin in the landscape of the first ``--small``
(60) images at τ = ``--threshold`` (0.1), membership L(θ) ≤ τ evaluated in float64 on a batch of
chains at a time. Three measurements, each on the default JAX device:

1. seconds per membership evaluation, batched as the sampler batches them (``--chains`` vectors
   per call, best of 5 after compilation);
2. a small annealing run (:func:`landform.volume.tethered_log_volume` with the reduced settings
   printed under ``settings``, a cap of ``--cap`` in units of θ*'s own RMS per coordinate so the
   set is bounded): its membership evaluations, wall time, and evaluations per chain step;
3. the evaluations a run at :class:`landform.volume.AnnealingSettings`'s defaults would make,
   extrapolated from (2)'s evaluations per chain step (rounding passes, then replicas at one and
   two chain lengths, each a full ladder; the pilot and anchor counted as in (2)), and the
   seconds that takes at (1)'s rate. The extrapolation is labelled as such: it is an
   estimate, not a measurement.

Prints one JSON object. On a shared CPU the seconds are what this run measured; on a GPU run it
through ``benchmarks/device_check.py``.

    python benchmarks/mnist_basin_cost.py [--steps-train 300] [--chains 64]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import optax
from _common import machine
from jax.flatten_util import ravel_pytree
from volume_vs_grid import build_model, mnist_train

from landform.volume import AnnealingSettings, tethered_log_volume


def fit(init, apply, x, y, steps: int, seed: int):
    """Full-batch AdamW (lr 1e-3, weight decay 1e-4) for ``steps`` steps: θ*."""
    params = init(jax.random.key(seed))
    optimizer = optax.adamw(1e-3, weight_decay=1e-4)
    x, y = jnp.asarray(x), jnp.asarray(y)

    def loss_fn(p):
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, x), y).mean()

    def step(carry, _):
        p, s = carry
        updates, s = optimizer.update(jax.grad(loss_fn)(p), s, p)
        return (optax.apply_updates(p, updates), s), None

    return jax.jit(lambda p: jax.lax.scan(step, (p, optimizer.init(p)), None, length=steps)[0][0])(params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=60, help="training examples of the minimum")
    parser.add_argument("--small", type=int, default=60, help="examples of the landscape")
    parser.add_argument("--steps-train", type=int, default=300, help="full-batch AdamW steps")
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--chains", type=int, default=64)
    parser.add_argument("--cap", type=float, default=10.0, help="cap radius, in units of θ*'s RMS")
    parser.add_argument("--rungs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    init, apply, _, _ = build_model()
    x, y = mnist_train(max(args.train, args.small))
    start = time.perf_counter()
    params = fit(init, apply, x[: args.train], y[: args.train], args.steps_train, args.seed)
    train_seconds = time.perf_counter() - start

    with jax.enable_x64(True):
        flat, unravel = ravel_pytree(jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params))
        xs, ys = jnp.asarray(x[: args.small], jnp.float64), jnp.asarray(y[: args.small])
        n = int(flat.size)

        def loss(theta):
            logits = apply(unravel(theta), xs)
            return optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean()

        loss_star = float(loss(flat))
        inside = jax.jit(
            lambda thetas: jax.vmap(loss)(thetas.reshape(-1, n)).reshape(thetas.shape[:-1]) <= args.threshold
        )

        # (1) batched membership evaluations
        batch = flat[None] + 1e-3 * jax.random.normal(jax.random.key(1), (args.chains, n), jnp.float64)
        jax.block_until_ready(inside(batch))
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            jax.block_until_ready(inside(batch))
            best = min(best, time.perf_counter() - t0)
        per_eval = best / args.chains

        # (2) a small annealing run, capped at R · RMS(θ*) per coordinate
        rms = float(jnp.sqrt(jnp.mean(flat**2)))
        settings = AnnealingSettings(
            chains=args.chains, rungs=args.rungs, steps=args.steps, pilot_steps=args.steps,
            anchor_samples=4 * args.chains, rounding_passes=1, replicas=2,
        )  # fmt: skip
        t0 = time.perf_counter()
        estimate = tethered_log_volume(inside, flat, cap=args.cap * rms, settings=settings, key=args.seed)
        run_seconds = time.perf_counter() - t0

    # (3) extrapolation to the default settings, from evaluations per chain step
    ladders = settings.rounding_passes + 3 * settings.replicas  # short runs count once, long twice
    chain_steps = ladders * settings.rungs * settings.chains * 1.5 * settings.steps
    per_step = estimate.evaluations / chain_steps
    d = AnnealingSettings()
    default_ladders = d.rounding_passes + 3 * d.replicas
    default_evals = per_step * default_ladders * d.rungs * d.chains * 1.5 * d.steps
    print(
        json.dumps(
            {
                "benchmark": "mnist_basin_cost",
                "machine": machine(),
                "dimension": n,
                "train_examples": args.train,
                "landscape_examples": args.small,
                "threshold": args.threshold,
                "loss_at_minimum": loss_star,
                "train_seconds": round(train_seconds, 1),
                "seconds_per_evaluation": per_eval,
                "evaluations_per_second": 1.0 / per_eval,
                "settings": settings._asdict(),
                "cap_radius": args.cap * rms,
                "small_run": {
                    "evaluations": int(estimate.evaluations),
                    "seconds": round(run_seconds, 1),
                    "evaluations_per_chain_step": per_step,
                    "log_volume": estimate.log_volume,
                    "error": estimate.error,
                    "converged": bool(estimate.converged),
                    "unbounded": bool(estimate.unbounded),
                },
                "extrapolated_default_run": {
                    "note": "estimate from the small run's evaluations per chain step, not measured",
                    "evaluations": float(default_evals),
                    "seconds_at_measured_rate": float(default_evals * per_eval),
                },
            },
            indent=1,
            default=float,
        )
    )


if __name__ == "__main__":
    main()
