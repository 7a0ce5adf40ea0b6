"""``landform report FOLDER``: one self-contained HTML file for a run or a whole sweep.

For a run folder: its status, figures (with the captions of the study's own report), tables
and configuration. For a sweep folder: the state of every run, the sweep's analyses across
seeds (for volume sweeps: figures (A) and (B) of Fan, Sandlund, Ko 2025 with mean ± std), the
collected tables, and every run's figures, one section per run. Figures are embedded as data
URIs, so the file can be mailed or archived alone; nothing is loaded from the network.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from landform.errors import ConfigError
from landform.files import atomic_write_text
from landform.store.folder import RunFolder
from landform.store.report import REPORT_STYLE, Figure, embed_figure

_EXTRA_STYLE = """
nav ul{columns:2;font-size:.9em} .scroll{overflow-x:auto;max-width:100%}
.state-done{color:#1e7b34} .state-failed{color:#b03a2e} .state-running{color:#2c5fa8}
.state-interrupted,.state-outdated,.state-missing{color:#9a6b00} h3{font-size:1.05em;margin-top:1.4em}
"""


def _captions(report: Path) -> dict[str, str]:
    """Figure captions of a study's own report, by figure name."""
    if not report.is_file():
        return {}
    text = report.read_text(errors="replace")
    found = {}
    for match in re.finditer(
        r'<figure data-name="([^"]+)">.*?(?:<figcaption>(.*?)</figcaption>)?</figure>', text, flags=re.S
    ):
        if match.group(2):
            found[html.unescape(match.group(1))] = html.unescape(match.group(2))
    return found


def _figures(folder: Path, prefix: str = "") -> list[Figure]:
    captions = _captions(folder / "report.html")
    paths = sorted(folder.glob("figures/*.png")) + sorted(folder.glob("figures/*.svg"))
    return [Figure(path, f"{prefix}{captions.get(path.stem, path.stem.replace('_', ' '))}") for path in paths]


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for path in sorted(folder.glob("tables/*.parquet")):
        try:
            tables[path.stem] = pd.read_parquet(path)
        except Exception:  # noqa: BLE001 - an unreadable table is skipped, not fatal
            continue
    return tables


def _table_html(name: str, table: pd.DataFrame, max_rows: int, level: str = "h2") -> str:
    parts = [f"<{level}>Table: {html.escape(name)} <span class='meta'>({len(table)} rows)</span></{level}>"]
    parts.append(
        "<div class='scroll'>"
        + table.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="–")
        + "</div>"
    )
    if len(table) > max_rows:
        parts.append(
            f"<p class='meta'>first {max_rows} of {len(table)} rows; "
            f"the whole table is in tables/{html.escape(name)}.parquet and .csv</p>"
        )
    return "\n".join(parts)


def _page(title: str, body: list[str]) -> str:
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{REPORT_STYLE}{_EXTRA_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='meta'>landform report, written {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>"
    )
    return head + "\n".join(body) + "</body></html>"


def run_report(folder: str | Path, out: str | Path | None = None, *, max_rows: int = 60) -> Path:
    """A self-contained HTML report of one run folder."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else None
    title = (
        f"Run: {config.get('name', folder.name)} ({config.get('variant', '')})"
        if isinstance(config, dict)
        else f"Run: {folder.name}"
    )
    body = []
    status = folder / "status.json"
    if status.is_file():
        info = json.loads(status.read_text())
        state = info.get("state", "?")
        body.append(
            f"<p>State: <b class='state-{html.escape(state)}'>{html.escape(state)}</b>, "
            f"attempts {info.get('attempts', 0)}"
            + (f", {info['seconds']:.1f} s" if isinstance(info.get("seconds"), (int, float)) else "")
            + "</p>"
        )
        if info.get("error"):
            body.append(f"<p class='note'>{html.escape(info['error'])}</p>")
    figures = _figures(folder)
    if figures:
        body.append("<h2>Figures</h2>")
        body.extend(embed_figure(f) for f in figures)
    for name, table in _tables(folder).items():
        body.append(_table_html(name, table, max_rows))
    if config is not None:
        body.append("<h2>Configuration</h2>")
        body.append(f"<pre>{html.escape(json.dumps(config, indent=2, default=str))}</pre>")
    return atomic_write_text(Path(out) if out else folder / "overview.html", _page(title, body))


def _sweep_figures(
    folder: Path, tables: dict[str, pd.DataFrame], manifest: dict, log: Callable[[str], None] | None
) -> list[Figure]:
    """Analyses across seeds that fit the collected tables (volume sweeps: figures A and B).

    Mean ± std are over seeds, separately for each combination of the sweep's other grid
    values (and of the study's arms).
    """
    from landform.studies import analysis

    figures = []
    volumes = tables.get("volumes")
    if (
        volumes is not None
        and set(analysis.VOLUME_COLUMNS) <= set(volumes.columns)
        and (volumes["status"] != "outside").any()
    ):
        target = RunFolder(folder)
        seed_column = manifest.get("seed_column", "seed")
        tau = volumes["threshold"].min()
        at_tau = volumes[volumes["threshold"] == tau]
        candidates = [c for c in manifest.get("columns", []) if c != seed_column] + ["arm"]
        by = [c for c in candidates if c in at_tau.columns and at_tau[c].nunique() > 1]
        made = [
            (
                "sweep_fixed_landscape",
                analysis.sweep_fixed_landscape_figure,
                f"(A) across the sweep: mean ± std over seeds of the log-volume of minima trained on n examples, "
                f"in the smallest landscape, smallest threshold (τ = {tau:g}){' per ' + ', '.join(by) if by else ''}; "
                "right: test accuracy against log-volume for every seed.",
            ),
            (
                "sweep_across_landscapes",
                analysis.sweep_across_landscapes_figure,
                "(B) across the sweep: each minimum's mean ± std log-volume over seeds in every landscape it lies in "
                f"(τ = {tau:g}){' per ' + ', '.join(by) if by else ''}, "
                "coloured by mean test accuracy; black: the minima's own landscapes.",
            ),
        ]
        for name, function, caption in made:
            try:
                figures.append(Figure(target.save_figure(name, function(volumes, by=by)), caption))
            except Exception as e:  # noqa: BLE001 - a figure that cannot be drawn is skipped, said once
                if log:
                    log(f"figure {name} skipped: {type(e).__name__}: {e}")
    return figures


def sweep_report(
    folder: str | Path, out: str | Path | None = None, *, max_rows: int = 60, log: Callable[[str], None] | None = None
) -> Path:
    """A self-contained HTML report of a sweep folder: run states, analyses, tables, every run's figures."""
    from landform.run.attempts import run_state
    from landform.run.plan import read_manifest
    from landform.run.sweep import collect

    folder = Path(folder)
    manifest = read_manifest(folder)
    tables = collect(folder, write=True)
    states = [run_state(folder / "runs" / r["id"], r["config_hash"], r["id"]) for r in manifest["runs"]]
    counts = pd.Series([s.state for s in states]).value_counts().to_dict() if states else {}
    body = []
    description = manifest.get("description") or ""
    body.append(
        f"<p>{html.escape(description + ' — ' if description else '')}study <b>{html.escape(manifest['study'])}</b>, "
        f"config {html.escape(Path(manifest['config_file']).name)}, "
        f"variant {html.escape(str(manifest.get('variant') or 'paper'))}; "
        f"{len(manifest['runs'])} runs: "
        + ", ".join(f"{n} {html.escape(k)}" for k, n in sorted(counts.items()))
        + ".</p>"
    )
    columns = manifest.get("columns", [])
    rows = []
    for run, state in zip(manifest["runs"], states):
        rows.append(
            {
                "run": run["id"],
                **{c: run["columns"].get(c) for c in columns},
                "state": state.state,
                "attempts": state.attempts,
                "seconds": state.seconds,
                "error": (state.error or "")[:200],
            }
        )
    runs_table = pd.DataFrame(rows)
    body.append("<h2>Runs</h2>")
    body.append(
        "<div class='scroll'>"
        + runs_table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, na_rep="–")
        + "</div>"
    )
    figures = _sweep_figures(folder, tables, manifest, log)
    if figures:
        body.append("<h2>Across the sweep</h2>")
        body.extend(embed_figure(f) for f in figures)
    for name, table in tables.items():
        body.append(_table_html(f"{name} (collected)", table, max_rows))
    body.append("<h2>Runs' figures</h2>")
    body.append(
        "<nav><ul>"
        + "".join(
            f"<li><a href='#run-{html.escape(r['id'])}'>{html.escape(r['id'])}</a></li>" for r in manifest["runs"]
        )
        + "</ul></nav>"
    )
    for run, state in zip(manifest["runs"], states):
        run_folder = folder / "runs" / run["id"]
        body.append(
            f"<h3 id='run-{html.escape(run['id'])}'>{html.escape(run['id'])} "
            f"<span class='state-{state.state}'>({state.state})</span></h3>"
        )
        run_figures = _figures(run_folder, prefix=f"{run['id']}: ") if state.state == "done" else []
        if run_figures:
            body.extend(embed_figure(f) for f in run_figures)
        else:
            body.append(
                "<p class='meta'>no figures" + (f": {html.escape(state.error)}" if state.error else "") + "</p>"
            )
    if manifest.get("sweep_text"):
        body.append("<h2>Sweep file</h2>")
        body.append(f"<pre>{html.escape(manifest['sweep_text'])}</pre>")
    return atomic_write_text(Path(out) if out else folder / "report.html", _page(f"Sweep: {manifest['name']}", body))


def folder_report(
    folder: str | Path, out: str | Path | None = None, *, max_rows: int = 60, log: Callable[[str], None] | None = None
) -> Path:
    """The report of a sweep folder (has ``sweep.json``) or of a run folder (has ``config.json``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; give a run folder or a sweep folder")
    if (folder / "sweep.json").is_file():
        return sweep_report(folder, out, max_rows=max_rows, log=log)
    if (folder / "config.json").is_file() or (folder / "tables").is_dir():
        return run_report(folder, out, max_rows=max_rows)
    raise ConfigError(f"{folder} is neither a run folder (config.json, tables/) nor a sweep folder (sweep.json)")
