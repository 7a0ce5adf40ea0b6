"""The ``landform`` command line.

Every :class:`landform.errors.LandformError` becomes one readable line on standard error and exit
status 2; no tracebacks for mistakes a user can fix.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from landform import __version__
from landform.errors import LandformError

app = typer.Typer(
    name="landform",
    help="Measure the geometry of neural-network loss landscapes: minima volumes, loss tunnels, "
    "and Bayesian inference in their ambient spaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)  # a log line stays one line in a log file, whatever its length
errors = Console(stderr=True, soft_wrap=True)


def friendly(command):
    """Turn landform's own errors into one line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from landform.runtime import enable_compilation_cache

        enable_compilation_cache()
        try:
            return command(*args, **kwargs)
        except LandformError as error:
            errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ValidationError as error:  # settings built outside a config file
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            errors.print(f"[bold red]error:[/] invalid settings: {escape(problems)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


@app.command()
@friendly
def version() -> None:
    """Print the versions of landform and of the libraries it computes with."""
    import importlib.metadata as md

    console.print(f"landform {__version__}")
    for package in ("jax", "jaxlib", "flax", "optax", "blackjax", "arviz", "numpy"):
        try:
            console.print(f"  {package} {md.version(package)}")
        except md.PackageNotFoundError:
            console.print(f"  {package} (not installed)")
    import jax

    console.print(f"  backend: {jax.default_backend()} ({len(jax.devices())} device(s))")


@app.command()
@friendly
def datasets() -> None:
    """List the datasets, where they come from, and whether they are available locally now."""
    from landform.data import catalog, data_dir

    table = Table(title=f"datasets (data folder: {data_dir()})")
    for column in ("name", "local", "description", "source"):
        table.add_column(column, overflow="fold")
    for entry in catalog():
        local = "[green]yes[/]" if entry["available"] else "[yellow]no[/]"
        table.add_row(entry["name"], local, entry["description"], entry["source"])
    console.print(table)
    console.print("Set LANDFORM_DATA to a folder holding the files to use local copies.")


@app.command()
@friendly
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's run (tables, figures, report).")] = Path("runs/demo"),
    quick: Annotated[bool, typer.Option(help="An even smaller demo (for tests).")] = False,
) -> None:
    (
        "Run the demonstration: minima volumes on nested data, "
        "and a loss tunnel sampled in tunnel and volume coordinates."
    )  # fmt: skip
    from landform.studies.demo import run_demo

    report = run_demo(out, quick=quick, progress=True, log=console.print)
    console.print(f"[bold green]report:[/] {report}")


@app.command("run")
@friendly
def run_study(
    config: Annotated[
        Path, typer.Argument(help="A study config file (YAML), e.g. configs/volume/swiss_roll_low_data.yaml.")
    ],
    variant: Annotated[
        str,
        typer.Option(
            help=(
                "Which variant of the config: 'paper' (the file's own settings) or one under 'variants' (e.g. 'quick')."
            )
        ),
    ] = "paper",
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<name>-<variant>).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: --set train.epochs=50 (repeatable).")
    ] = None,
    track: Annotated[
        list[str] | None,
        typer.Option(
            "--track",
            help=(
                "Send the run to a tracking sink: wandb (offline unless logged in) or mlflow "
                "(SQLite in the run folder unless MLFLOW_TRACKING_URI is set); repeatable."
            ),
        ),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Folder of cached stages shared between runs (default: <out>/stages).")
    ] = None,
) -> None:
    """Run a study from its config file; finished stages are reused, unfinished ones resumed."""
    from landform.studies import run_config_file

    # the study logs its report's path as its last line
    if not track:
        run_config_file(
            config, variant=variant, out=out, overrides=set_ or [], cache=cache, progress=True, log=console.print
        )
    else:
        from landform.run.attempts import run_tracked
        from landform.run.tracking import track_settings
        from landform.studies import default_folder, load_config

        settings = track_settings(track)
        _, loaded = load_config(config, variant, set_ or [])
        run_tracked(
            loaded,
            Path(out) if out is not None else default_folder(loaded),
            track=settings,
            cache=cache,
            progress=True,
            log=console.print,
        )


@app.command()
@friendly
def video(
    run_folder: Annotated[
        Path, typer.Argument(help="The folder of a finished volume-study run (the --out of 'landform run').")
    ],
    levels: Annotated[
        tuple[int, int, int] | None,
        typer.Option(
            help="Levels q of the three minima spanning the plane (default: the smallest, middle and largest)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Model seed of the minima (default: the run's first).")] = None,
    arm: Annotated[str | None, typer.Option(help="Training arm of the minima (default: the run's first).")] = None,
    resolution: Annotated[int, typer.Option(help="Grid points per side of the plane.")] = 41,
    fps: Annotated[float, typer.Option(help="Frames (landscapes) per second.")] = 2.0,
    orthonormal: Annotated[
        bool, typer.Option(help="True distances (Gram-Schmidt axes) instead of affine coordinates.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Output path stem; .mp4, .gif and .npz are added (default: <run>/figures/plane_...)."),
    ] = None,
) -> None:
    (
        "Render the plane through three minima of a volume run in every nested landscape, "
        "one frame per landscape (MP4 and GIF)."
    )  # fmt: skip
    from landform.studies.volume import volume_run_video

    written = volume_run_video(
        run_folder,
        levels,
        model_seed=seed,
        arm=arm,
        resolution=resolution,
        out=out,
        fps=fps,
        kind="orthonormal" if orthonormal else "affine",
        progress=True,
    )
    for kind, path in written.items():
        console.print(f"[bold green]{kind}:[/] {path}")


# Options shared by the commands that find one minimum (view, curvature).
_Level = Annotated[int | None, typer.Option(help="Run folder: the level q of the minimum (default: the smallest).")]
_ModelSeed = Annotated[int | None, typer.Option(help="Run folder: model seed (default: the first).")]
_Arm = Annotated[str | None, typer.Option(help="Run folder: training arm (default: the first).")]
_Data = Annotated[
    str | None,
    typer.Option(help="Checkpoint outside a run: a dataset name (its training split) or an .npz with x, y."),
]
_Loss = Annotated[str | None, typer.Option(help="The loss (default: the run's, or the dataset's).")]


@app.command()
@friendly
def view(
    source: Annotated[
        Path,
        typer.Argument(help="A finished volume-study run folder, or a trained-model folder (theta.npy + model.json)."),
    ],
    kind: Annotated[
        str,
        typer.Option(
            help="random: plane and slices along filter-normalised random directions; pca: the plane of the "
            "training trajectory's first two principal components with the path; minima: the plane through "
            "three minima of a run."
        ),
    ] = "random",
    resolution: Annotated[int, typer.Option(help="Grid points per axis.")] = 31,
    range_: Annotated[
        tuple[float, float] | None,
        typer.Option(
            "--range",
            help="Coordinates of both axes, e.g. --range -1 1 (default: [-1, 1] for random; pca and minima "
            "frame their path or points).",
        ),
    ] = None,
    normalization: Annotated[
        str, typer.Option(help="Random directions: filter, filter_scale, layer or none.")
    ] = "filter",
    seed: Annotated[int, typer.Option(help="Seed of the random directions.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: <run>/figures/views or <checkpoint>/views)."),
    ] = None,
    level: _Level = None,
    levels: Annotated[
        tuple[int, int, int] | None,
        typer.Option(help="--kind minima: the levels of the three minima (default: smallest, middle, largest)."),
    ] = None,
    model_seed: _ModelSeed = None,
    arm: _Arm = None,
    examples: Annotated[
        int | None, typer.Option(help="Evaluate on the first N examples of the minimum's data only.")
    ] = None,
    data: _Data = None,
    loss: _Loss = None,
    trajectory: Annotated[
        Path | None,
        typer.Option(help="--kind pca: a recorded trajectory (.npz with thetas, epochs; see save_trajectory)."),
    ] = None,
    record_every: Annotated[
        int, typer.Option(help="--kind pca, retraining: record the parameters every N epochs.")
    ] = 1,
    orthonormal: Annotated[
        bool, typer.Option(help="--kind minima: true distances (Gram-Schmidt axes) instead of affine coordinates.")
    ] = False,
) -> None:
    """Draw a classic view of a minimum's landscape (contour and surface figures, log colour scale)
    and save the grid as .npz."""
    from landform.studies.volume import landscape_view

    result = landscape_view(
        source,
        kind,
        resolution=resolution,
        range_=range_,
        normalization=normalization,
        seed=seed,
        out=out,
        level=level,
        levels=levels,
        model_seed=model_seed,
        arm=arm,
        examples=examples,
        data=data,
        loss=loss,
        trajectory=trajectory,
        record_every=record_every,
        orthonormal=orthonormal,
        progress=True,
        log=console.print,
    )
    for name, value in result.summary.items():
        console.print(f"{name}: {value}")
    for name, path in result.written.items():
        console.print(f"[bold green]{name}:[/] {path}")


@app.command()
@friendly
def curvature(
    source: Annotated[
        Path,
        typer.Argument(help="A finished volume-study run folder, or a trained-model folder (theta.npy + model.json)."),
    ],
    measures: Annotated[
        str,
        typer.Option(
            help="Comma-separated: top_eigenvalue, trace, average_sharpness, adaptive_sharpness, llc (or 'all')."
        ),
    ] = "top_eigenvalue,trace,average_sharpness,adaptive_sharpness",
    top: Annotated[int, typer.Option(help="Top Hessian eigenvalues to list (Lanczos).")] = 5,
    iterations: Annotated[int, typer.Option(help="Lanczos steps.")] = 40,
    probes: Annotated[int, typer.Option(help="Hutchinson probes of the trace.")] = 100,
    average_radius: Annotated[float, typer.Option(help="σ of the average-case sharpness (Gaussian).")] = 0.01,
    adaptive_radius: Annotated[float, typer.Option(help="ρ of the adaptive worst-case sharpness (l2).")] = 0.5,
    llc_steps: Annotated[int, typer.Option(help="SGLD steps per chain of the LLC.")] = 1000,
    llc_batch: Annotated[int | None, typer.Option(help="Minibatch of the LLC's SGLD (default: all examples).")] = None,
    parameters: Annotated[
        str, typer.Option(help="Hessian measures on these leaves only: all, weights or a regex of leaf paths.")
    ] = "all",
    level: _Level = None,
    model_seed: _ModelSeed = None,
    arm: _Arm = None,
    examples: Annotated[
        int | None, typer.Option(help="Measure on the first N examples of the minimum's data only.")
    ] = None,
    data: _Data = None,
    loss: _Loss = None,
    seed: Annotated[int, typer.Option(help="Seed of the probes, perturbations and chains.")] = 0,
    save: Annotated[Path | None, typer.Option(help="Also write the measures to this JSON file.")] = None,
) -> None:
    """Print the curvature measures of a saved minimum: top Hessian eigenvalues, trace, sharpness, LLC."""
    import json

    from landform.curvature import MEASURE_NAMES, measure, top_eigenvalues
    from landform.errors import ConfigError
    from landform.studies.volume import load_view_source

    chosen = list(MEASURE_NAMES) if measures.strip() == "all" else [m.strip() for m in measures.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(MEASURE_NAMES))
    if unknown:
        raise ConfigError(f"unknown measure(s) {', '.join(unknown)}; choose from {', '.join(MEASURE_NAMES)} or 'all'")
    found = load_view_source(source, level=level, model_seed=model_seed, arm=arm, data=data, loss=loss)
    landscape = found.landscape(examples)
    options = {
        "top_eigenvalue": {"iterations": iterations},
        "trace": {"probes": probes},
        "average_sharpness": {"radius": average_radius},
        "adaptive_sharpness": {"radius": adaptive_radius},
        "llc": {"steps": llc_steps, "batch_size": llc_batch},
    }
    console.print(
        f"{found.label}: {landscape.dim} parameters, {landscape.num_examples} examples, loss {found.loss} "
        f"= {float(landscape.loss(landscape.theta)):.4g}"
    )
    values = measure(
        landscape,
        **{name: options[name] if name in chosen else False for name in MEASURE_NAMES},
        parameters=parameters,
        unit_axis=found.model.unit_axis,
        key=seed,
    )
    table = Table(title=f"curvature of {found.label}")
    for column in ("measure", "value", "± error"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, value in values.items():
        if name.endswith("_error") or name == "llc_flagged":
            continue
        error = values.get(f"{name}_error")
        table.add_row(name, f"{value:.5g}", "" if error is None else f"{error:.2g}")
    if "llc_flagged" in values:
        table.add_row("llc_flagged", "yes" if values["llc_flagged"] else "no", "")
    if "top_eigenvalue" in chosen and top > 1:
        pairs = top_eigenvalues(landscape, top, iterations=max(iterations, 2 * top), parameters=parameters, key=seed)
        values["top_eigenvalues"] = [float(v) for v in pairs.values]
        for index, (value, residual) in enumerate(zip(pairs.values, pairs.residuals)):
            table.add_row(f"eigenvalue {index + 1}", f"{value:.5g}", f"{residual:.2g}")
    console.print(table)
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        save.write_text(json.dumps({"source": str(source), "label": found.label, **values}, indent=2))
        console.print(f"[bold green]measures:[/] {save}")


# ============================================================================ sweeps

sweep_app = typer.Typer(
    help="Grids of study runs from one sweep file: plan, run (here or on a Dask cluster), status, collect.",
    no_args_is_help=True,
)
app.add_typer(sweep_app, name="sweep")

_SweepFile = Annotated[Path, typer.Argument(help="A sweep file (YAML) naming a study config, a variant and a grid.")]
_SweepOut = Annotated[
    Path | None, typer.Option("--out", help="The sweep folder (default: the file's `folder`, else runs/sweeps/<name>).")
]

_STATE_STYLE = {
    "done": "green",
    "failed": "red",
    "running": "blue",
    "interrupted": "yellow",
    "outdated": "yellow",
    "missing": "dim",
}


def _states_table(sweep, title: str, *, only_unfinished: bool = False) -> Table:
    from landform.run.sweep import status_table

    frame = status_table(sweep)
    table = Table(title=title)
    columns = ["run_id", *sweep.columns, "state", "attempts", "seconds", "detail"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        values = dict(zip(frame.columns, row))
        if only_unfinished and values["state"] == "done":
            continue
        style = _STATE_STYLE.get(values["state"], "")
        cells = []
        for column in columns:
            value = values.get(column)
            if column == "seconds":
                cells.append("" if value is None or value != value else f"{value:.1f}")
            elif column == "detail":
                cells.append(str(values.get("error") or value or "")[:160])
            else:
                cells.append(str(value))
        table.add_row(*cells, style=style)
    return table


def _counts(sweep) -> str:
    from collections import Counter

    from landform.run.attempts import STATES, run_states

    counts = Counter(state.state for state in run_states(sweep))
    return ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])


@sweep_app.command("plan")
@friendly
def sweep_plan(file: _SweepFile, out: _SweepOut = None) -> None:
    """Expand and validate the grid; list the runs and what is already done (runs nothing)."""
    from landform.run.plan import load_sweep

    sweep = load_sweep(file, out)
    console.print(
        _states_table(
            sweep,
            f"sweep {sweep.name}: {len(sweep.runs)} runs of {sweep.study} "
            f"({sweep.config_file.name}, variant {sweep.variant or 'paper'})",
        )
    )
    console.print(f"folder: {sweep.folder}")
    console.print(f"state: {_counts(sweep)}; `landform sweep run {file}` runs the ones not done.")


@sweep_app.command("run")
@friendly
def sweep_run(
    file: _SweepFile,
    out: _SweepOut = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Run on a local Dask cluster of N worker processes (one thread each)."),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786.")
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(
            "--retries", help="Extra attempts for a failing run (default: the sweep file's `retries`, else 1)."
        ),
    ] = None,
    track: Annotated[
        list[str] | None, typer.Option("--track", help="Send every run to wandb and/or mlflow (repeatable).")
    ] = None,
    threads_per_worker: Annotated[int, typer.Option(help="Threads (cores) per Dask worker.")] = 1,
    collect_tables: Annotated[
        bool, typer.Option("--collect/--no-collect", help="Collect the tables when the runs are done.")
    ] = True,
) -> None:
    """Execute the runs that are not done: missing, failed, interrupted or outdated ones."""
    from landform.run.executors import make_executor
    from landform.run.plan import load_sweep
    from landform.run.sweep import collect, run_sweep
    from landform.run.tracking import track_settings

    sweep = load_sweep(file, out)
    if retries is not None and retries < 0:
        raise typer.BadParameter("--retries must be at least 0")
    settings = track_settings(track, sweep.spec.track)
    executor = make_executor(workers, scheduler, threads_per_worker=threads_per_worker, log=console.print)
    summary = run_sweep(sweep, executor, retries=retries, track=settings, progress=True, log=console.print)
    if collect_tables:
        collect(sweep, log=console.print)
    console.print(f"sweep {sweep.name}: {_counts(sweep)} ({summary.seconds:.0f} s); folder {sweep.folder}")
    if summary.elsewhere:
        console.print(
            f"{len(summary.elsewhere)} run(s) are being run by another process; "
            f"`landform sweep status {file}` follows them."
        )
    if summary.failed:
        errors.print(
            f"[bold red]{len(summary.failed)} run(s) failed:[/] "
            + ", ".join(summary.failed)
            + f"; their errors are in {sweep.runs_folder}/<run>/status.json and log.txt"
        )
        raise typer.Exit(1)


@sweep_app.command("status")
@friendly
def sweep_status(file: _SweepFile, out: _SweepOut = None) -> None:
    """Show which runs are done, failed, running, interrupted, outdated or missing."""
    from landform.run.plan import load_sweep

    sweep = load_sweep(file, out)
    console.print(_states_table(sweep, f"sweep {sweep.name} ({sweep.folder})"))
    console.print(f"state: {_counts(sweep)}")


@sweep_app.command("collect")
@friendly
def sweep_collect(file: _SweepFile, out: _SweepOut = None) -> None:
    """Gather every done run's tables into one per table name, with the grid fields as columns."""
    from landform.run.plan import load_sweep
    from landform.run.sweep import collect

    sweep = load_sweep(file, out)
    sweep.write_manifest()
    tables = collect(sweep, log=console.print)
    for name in tables:
        console.print(f"  {sweep.folder / 'tables' / name}.parquet (and .csv)")


# ============================================================================ reports


@app.command("report")
@friendly
def report(
    folder: Annotated[Path, typer.Argument(help="A run folder or a sweep folder.")],
    out: Annotated[
        Path | None, typer.Option(help="The HTML file (default: <sweep>/report.html, or <run>/overview.html).")
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Rows shown per table.")] = 60,
) -> None:
    """Write one self-contained HTML report (figures embedded) of a run or of a whole sweep."""
    from landform.run.overview import folder_report

    path = folder_report(folder, out, max_rows=max_rows, log=console.print)
    console.print(f"[bold green]report:[/] {path}")


# ============================================================================ analyses

analyse_app = typer.Typer(
    help=(
        "Analyses across the runs of a sweep, on a collected table "
        "(a .parquet/.csv file, a sweep folder or a sweep file)."
    ),
    no_args_is_help=True,
)
app.add_typer(analyse_app, name="analyse")

_Source = Annotated[Path, typer.Argument(help="A table (.parquet or .csv), a sweep folder, or a sweep file (.yaml).")]


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _read_table(source: Path, name: str | None):
    import pandas as pd

    from landform.errors import ConfigError

    if source.suffix == ".parquet":
        return pd.read_parquet(source)
    if source.suffix == ".csv":
        return pd.read_csv(source)
    if source.suffix in (".yaml", ".yml"):
        from landform.run.plan import load_sweep
        from landform.run.sweep import collect

        sweep = load_sweep(source)
        folder = sweep.folder
        if not (folder / "tables").is_dir():
            sweep.write_manifest()
            collect(sweep)
    elif source.is_dir():
        folder = source
    else:
        raise ConfigError(f"{source}: give a .parquet or .csv table, a sweep folder or a sweep file")
    tables = sorted((folder / "tables").glob("*.parquet"))
    if name is None:
        if len(tables) != 1:
            raise ConfigError(
                f"{folder} has {len(tables)} tables ({', '.join(t.stem for t in tables)}); choose one with --table"
            )
        return pd.read_parquet(tables[0])
    path = folder / "tables" / f"{name}.parquet"
    if not path.is_file():
        raise ConfigError(
            f"no table {name!r} in {folder / 'tables'}; there are: "
            f"{', '.join(t.stem for t in tables) or 'none (run `landform sweep collect`)'}"
        )
    return pd.read_parquet(path)


def _show(frame, title: str, out: Path | None) -> None:
    table = Table(title=title)
    shown = frame.reset_index() if frame.index.name or getattr(frame.index, "names", [None])[0] else frame
    for column in shown.columns:
        table.add_column(str(column), overflow="fold")
    for row in shown.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    console.print(table)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        shown.to_csv(out, index=False)
        console.print(f"written: {out}")


_Table = Annotated[
    str | None, typer.Option("--table", help="Which collected table (e.g. volumes), for a sweep folder or file.")
]


@analyse_app.command("select")
@friendly
def analyse_select(
    source: _Source,
    table: _Table = None,
    group: Annotated[str, typer.Option(help="Comma-separated group columns, e.g. space,K.")] = "",
    candidate: Annotated[str, typer.Option(help="The column to choose a value of.")] = "temperature",
    selection: Annotated[
        str, typer.Option(help="The metric that chooses it (averaged over seeds).")
    ] = "validation_lppd",
    metrics: Annotated[
        str, typer.Option(help="Comma-separated metrics reported at the chosen value.")
    ] = "test_lppd,test_rmse",
    seed: Annotated[str, typer.Option(help="The seed column ('' for none).")] = "seed",
    lower_is_better: Annotated[
        bool, typer.Option(help="Choose the lowest selection metric instead of the highest.")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Write the result as CSV.")] = None,
) -> None:
    (
        "Choose a value (e.g. the temperature) per group by a validation metric; "
        "test metrics as mean ± std over seeds."
    )  # fmt: skip
    from landform.studies.analysis import select_best

    frame = select_best(
        _read_table(source, table),
        group=_split(group),
        candidate=candidate,
        selection=selection,
        metrics=_split(metrics),
        seed=seed or None,
        higher_is_better=not lower_is_better,
    )
    _show(frame, f"{candidate} chosen by {selection}", out)


@analyse_app.command("pivot")
@friendly
def analyse_pivot(
    source: _Source,
    table: _Table = None,
    rows: Annotated[str, typer.Option(help="Comma-separated row columns.")] = "space",
    columns: Annotated[str, typer.Option(help="The column whose values become columns.")] = "K",
    metrics: Annotated[
        str,
        typer.Option(
            help=(
                "Comma-separated metric columns, one table each (default: test LPPD, RMSE or accuracy, "
                "smallest bulk ESS, largest R-hat, sampling seconds, where present)."
            )
        ),
    ] = "",
    seed: Annotated[str, typer.Option(help="The seed column ('' for none).")] = "seed",
    digits: Annotated[int, typer.Option(help="Significant digits.")] = 3,
    out: Annotated[Path | None, typer.Option(help="A folder for one CSV per metric.")] = None,
) -> None:
    """Mean ± std over seeds of each metric, rows by columns (the tunnel paper's tables)."""
    from landform.studies.analysis import tunnel_tables

    tables = tunnel_tables(
        _read_table(source, table),
        metrics=_split(metrics) or None,
        index=_split(rows),
        columns=columns,
        seed=seed or None,
        digits=digits,
    )
    for metric, frame in tables.items():
        _show(frame, metric, out / f"{metric}.csv" if out else None)


@analyse_app.command("volume")
@friendly
def analyse_volume(
    source: _Source,
    table: _Table = "volumes",
    threshold: Annotated[float | None, typer.Option(help="The threshold τ (default: the smallest).")] = None,
    landscape: Annotated[
        int | None, typer.Option(help="The fixed landscape's size in examples (default: the smallest).")
    ] = None,
    by: Annotated[str, typer.Option(help="Comma-separated columns to keep apart (e.g. arm).")] = "",
    out: Annotated[Path, typer.Option(help="Folder for the tables (CSV) and figures (PNG).")] = Path("analysis"),
) -> None:
    """The volume paper's figures across seeds: a fixed landscape (A) and across landscapes (B)."""
    from landform.store.folder import RunFolder
    from landform.studies import analysis

    volumes = _read_table(source, table)
    folder = RunFolder(out)
    fixed = analysis.fixed_landscape(volumes, landscape_examples=landscape, threshold=threshold, by=_split(by))
    across = analysis.across_landscapes(volumes, threshold=threshold, by=_split(by))
    _show(fixed, "fixed landscape: mean ± std over seeds", None)
    folder.write_table("fixed_landscape", fixed)
    folder.write_table("across_landscapes", across)
    for name, figure in (
        (
            "fixed_landscape",
            analysis.sweep_fixed_landscape_figure(
                volumes, landscape_examples=landscape, threshold=threshold, by=_split(by)
            ),
        ),
        ("across_landscapes", analysis.sweep_across_landscapes_figure(volumes, threshold=threshold, by=_split(by))),
    ):
        console.print(f"figure: {folder.save_figure(name, figure)}")
    console.print(f"tables: {folder.path('tables')}")


@analyse_app.command("correlations")
@friendly
def analyse_correlations(
    source: _Source,
    table: _Table = "volumes",
    threshold: Annotated[float | None, typer.Option(help="The threshold τ (default: the smallest).")] = None,
    by: Annotated[str, typer.Option(help="Comma-separated columns to correlate within (e.g. arm).")] = "",
    resamples: Annotated[int, typer.Option(help="Bootstrap draws of each interval.")] = 1000,
    out: Annotated[Path, typer.Option(help="Folder for the table (CSV) and figure (PNG).")] = Path("analysis"),
) -> None:
    """Which measure predicts generalisation: Kendall τ of log V, mean log r and the curvature
    measures with test loss and generalisation gap, over the minima of a run or sweep."""
    from landform.store.folder import RunFolder
    from landform.studies import analysis

    minima = analysis.per_minimum(_read_table(source, table), threshold)
    correlations = analysis.rank_correlations(minima, group=_split(by), resamples=resamples)
    folder = RunFolder(out)
    _show(correlations, f"Kendall τ over {len(minima)} minima (each in its own landscape)", None)
    folder.write_table("rank_correlations", correlations)
    console.print(f"figure: {folder.save_figure('rank_correlations', analysis.rank_correlation_figure(correlations))}")
    console.print(f"tables: {folder.path('tables')}")


@analyse_app.command("length")
@friendly
def analyse_length(
    source: _Source,
    table: _Table = None,
    x: Annotated[str, typer.Option(help="The column of the number of control points.")] = "K",
    y: Annotated[str, typer.Option(help="The column of the curve length.")] = "length",
    by: Annotated[str, typer.Option(help="Comma-separated columns, one fit each.")] = "depth",
    out: Annotated[Path, typer.Option(help="Folder for the fits (CSV) and the figure (PNG).")] = Path("analysis"),
) -> None:
    """Curve length against K with power-law fits length ≈ a·K^b per group."""
    from landform.store.folder import RunFolder
    from landform.studies.analysis import length_figure, length_power_laws

    frame = _read_table(source, table)
    folder = RunFolder(out)
    fits = length_power_laws(frame, x=x, y=y, by=_split(by))
    _show(fits, f"{y} ≈ a·{x}^b", None)
    folder.write_table("length_power_laws", fits)
    console.print(f"figure: {folder.save_figure('length_against_K', length_figure(frame, x=x, y=y, by=_split(by)))}")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
