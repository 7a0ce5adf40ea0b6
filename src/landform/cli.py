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
from rich.console import Console
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
console = Console()
errors = Console(stderr=True)


def friendly(command):
    """Turn landform's own errors into one line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from landform.runtime import enable_compilation_cache

        enable_compilation_cache()
        try:
            return command(*args, **kwargs)
        except LandformError as error:
            errors.print(f"[bold red]error:[/] {error}", highlight=False)
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
    """Run the demonstration: train minima on nested data and report their landscapes."""
    from landform.studies.demo import run_demo

    report = run_demo(out, quick=quick, progress=True, log=console.print)
    console.print(f"[bold green]report:[/] {report}")


@app.command("run")
@friendly
def run_study(
    config: Annotated[Path, typer.Argument(help="A study config file (YAML), e.g. configs/volume/swiss_roll_low_data.yaml.")],
    variant: Annotated[str, typer.Option(help="Which variant of the config: 'paper' (the file's own settings) or one under 'variants' (e.g. 'quick').")] = "paper",
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<name>-<variant>).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a field: --set train.epochs=50 (repeatable).")] = None,
) -> None:
    """Run a study from its config file; finished stages are reused, unfinished ones resumed."""
    from landform.studies import run_config_file

    report = run_config_file(config, variant=variant, out=out, overrides=set_ or [], progress=True, log=console.print)
    console.print(f"[bold green]report:[/] {report}")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
