"""Behavioural basin of a ~10M-parameter language model: exit radii in JAX and in PyTorch.

The zoo's character-level transformer (6 pre-LN blocks of width 384, 6 heads, context 128,
vocabulary 65: 10.8M parameters, random initialisation) in JAX, and a GPT-NeoX of the same shape
built from a ``GPTNeoXConfig`` (random initialisation, no download) through
``landform.models.hf.causal_lm_landscape`` (PyTorch, ``torch.func``). Each is measured on the
same N tiny-Shakespeare validation windows: L(θ) = mean KL(p_θ* ‖ p_θ) over the N·T tokens,
K filter_scale-normalised rays, exit radii at a KL cutoff τ by the bracketing search. Reported
per backend: seconds of one full evaluation L(θ) (best of 3 after a warm-up), evaluations and
seconds per ray of a first search (compiling) and of a second one with other directions (warm),
and the ratio of warm seconds per ray to one evaluation.

    PYTHONPATH=src LANDFORM_DATA=... python benchmarks/lm_basin.py [--quick] [--backends jax torch]
        [--sequences N] [--rays K] [--threshold TAU] [--torch-threads T]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np
from _common import best_seconds, machine

from landform.behaviour import behavioural_landscape
from landform.data import load
from landform.models import transformer
from landform.volume import exit_radii, random_directions


def rays(landscape, layout, unit_axis, count, tau, seed):
    directions = random_directions(jax.random.key(seed), landscape.theta, layout, unit_axis=unit_axis)
    started = time.perf_counter()
    result = exit_radii(landscape, directions, count, [tau], max_radius=100.0, tolerance=1e-2)
    seconds = time.perf_counter() - started
    return {
        "evaluations_per_ray": float(np.mean(result.evaluations)),
        "seconds_per_ray": seconds / count,
        "median_radius": float(np.median(result.radii)),
        "status": sorted({str(s) for s in result.status_names().ravel()}),
    }


def measure(landscape, layout, unit_axis, count, tau) -> dict:
    evaluation = best_seconds(lambda: landscape.loss_batch(landscape.theta[None]))
    first = rays(landscape, layout, unit_axis, count, tau, seed=0)
    warm = rays(landscape, layout, unit_axis, count, tau, seed=1)
    return {
        "parameters": int(landscape.dim),
        "evaluation_seconds": evaluation,
        "first_search": first,
        "warm_search": warm,
        "warm_seconds_per_ray_in_evaluations": warm["seconds_per_ray"] / evaluation,
        "caches_reference": bool(getattr(landscape, "caches_reference", landscape.y.ndim > 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 blocks of width 128, 8 windows of 64, 4 rays")
    parser.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=["jax", "torch"])
    parser.add_argument("--sequences", type=int, default=None)
    parser.add_argument("--rays", type=int, default=None)
    parser.add_argument("--threshold", type=float, default=0.01)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="PyTorch's intra-op threads (default: its own choice; on a loaded shared CPU, 1 avoids "
        "oversubscription, which made a forward pass 30x slower there)",
    )
    args = parser.parse_args()
    layers, width, heads, context = (2, 128, 4, 64) if args.quick else (6, 384, 6, 128)
    sequences = args.sequences or (8 if args.quick else 16)
    count = args.rays or (4 if args.quick else 8)
    tokens = np.asarray(load("shakespeare", context=context)["validation"].x[:sequences])
    vocabulary = 65
    out = {
        "benchmark": "lm_basin",
        "quick": args.quick,
        "shape": {"layers": layers, "width": width, "heads": heads, "context": context, "vocabulary": vocabulary},
        "sequences": sequences,
        "tokens": sequences * context,
        "rays": count,
        "threshold": args.threshold,
        **machine(),
    }
    if "jax" in args.backends:
        model = transformer(vocab_size=vocabulary, context=context, layers=layers, heads=heads, width=width)
        params = model.init(jax.random.key(0))
        landscape = behavioural_landscape(model.apply, params, tokens)
        out["jax"] = measure(landscape, params, model.unit_axis, count, args.threshold)
    if "torch" in args.backends:
        import torch
        import transformers

        from landform.models.hf import causal_lm_landscape

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        torch.manual_seed(0)
        config = transformers.GPTNeoXConfig(
            vocab_size=vocabulary,
            hidden_size=width,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * width,
            max_position_embeddings=context,
        )
        model = transformers.GPTNeoXForCausalLM(config).eval()
        landscape = causal_lm_landscape(model, tokens)
        out["torch"] = {
            **measure(landscape, landscape.layout, landscape.unit_axis, count, args.threshold),
            "torch_threads": torch.get_num_threads(),
            "attention": model.config._attn_implementation,
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
