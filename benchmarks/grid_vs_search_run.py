"""Grid protocol against the exit-radius search on the minima of a finished volume run.

For every trained minimum of RUN (final parameters), in the landscape of the first FIXED pool
examples at threshold TAU, with the study's own directions (seed fold_in(model_seed, 1),
filter_scale): the log-volume and mean log radius by ``exit_radii`` and by ``grid_radii`` (100
points over [0, MAX]). Prints one JSON object.

    python benchmarks/grid_vs_search_run.py RUN [--fixed 60] [--tau 0.1] [--max 0.5] [--directions 500]
"""

import argparse
import json
import pathlib

import jax

from landform.landscape import Landscape
from landform.studies.volume import layout
from landform.train import load_trained
from landform.volume import estimate, exit_radii, grid_radii, random_directions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=pathlib.Path)
    parser.add_argument("--fixed", type=int, default=60)
    parser.add_argument("--tau", type=float, default=0.1)
    parser.add_argument("--max", type=float, default=0.5, help="the grid's largest coefficient")
    parser.add_argument("--directions", type=int, default=500)
    args = parser.parse_args()
    stages = layout.stages_folder(args.run)
    data_stage = layout.stage_folders(stages, layout.DATA_STAGE)[0]
    pool = layout.load_stage_splits(data_stage)[layout.POOL].take(slice(0, args.fixed))
    trained = [(marker["inputs"], folder) for folder, marker in layout.finished_stages(stages, layout.TRAIN_STAGE)]
    rows = []
    for inputs, folder in sorted(trained, key=lambda item: item[0]["size"]):
        model, params, _ = load_trained(folder / layout.FINAL)
        landscape = Landscape.from_apply(model.apply, params, pool.x, pool.y, "cross_entropy")
        key = jax.random.fold_in(jax.random.key(inputs["model_seed"]), 1)
        directions = random_directions(
            key, landscape.theta, params, normalization="filter_scale", unit_axis=model.unit_axis
        )
        row = {"examples": inputs["size"], "model_seed": inputs["model_seed"]}
        for name, radii in (
            ("search", exit_radii(landscape, directions, args.directions, [args.tau], max_radius=100.0)),
            ("grid", grid_radii(landscape, directions, args.directions, [args.tau], max_radius=args.max)),
        ):
            for statistic in ("log_volume", "mean_log_radius"):
                value = estimate(radii, statistic=statistic, num_resamples=1).value[0, 0]
                row[f"{name}_{statistic}"] = float(value)
        rows.append(row)
    print(
        json.dumps({"run": str(args.run), "fixed": args.fixed, "tau": args.tau, "grid_max": args.max, "minima": rows})
    )


if __name__ == "__main__":
    main()
