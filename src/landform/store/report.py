"""One self-contained HTML report per run: configuration, tables and figures (embedded)."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from landform.files import atomic_write_text

#: The style sheet of every HTML report (and of the run overviews, :mod:`landform.run.overview`).
REPORT_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}
h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.meta{color:#666;font-size:.9em} figure{margin:1em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#444;font-size:.92em;margin-top:.3em} table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right} th{background:#f5f5f5}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
p.note{background:#f4f8ff;padding:.6em .9em;border-left:3px solid #6a8fd8}
"""


@dataclass(frozen=True)
class Figure:
    """A figure file (PNG or SVG) and its caption."""

    path: Path
    caption: str = ""


def embed_figure(figure: Figure) -> str:
    """The figure as an HTML ``<figure>`` with its image inlined (base64 PNG or SVG) and its caption."""
    data = Path(figure.path).read_bytes()
    mime = "image/svg+xml" if str(figure.path).endswith(".svg") else "image/png"
    encoded = base64.b64encode(data).decode("ascii")
    alt = html.escape(figure.caption or Path(figure.path).stem)
    caption = f"<figcaption>{html.escape(figure.caption)}</figcaption>" if figure.caption else ""
    return (
        f'<figure data-name="{html.escape(Path(figure.path).stem)}">'
        f'<img alt="{alt}" src="data:{mime};base64,{encoded}">{caption}</figure>'
    )


def write_report(
    path: str | Path,
    *,
    title: str,
    summary: str = "",
    config: Any = None,
    tables: dict[str, pd.DataFrame] | None = None,
    figures: list[Figure] | None = None,
    notes: list[str] | None = None,
    max_rows: int = 60,
) -> Path:
    """Write a self-contained HTML report (figures embedded as data URIs)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{REPORT_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>landform report, written {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>",
    ]
    if summary:
        parts.append(f"<p>{html.escape(summary)}</p>")
    for note in notes or []:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    if figures:
        parts.append("<h2>Figures</h2>")
        parts.extend(embed_figure(f) for f in figures)
    for name, table in (tables or {}).items():
        parts.append(f"<h2>Table: {html.escape(name)}</h2>")
        shown = table.head(max_rows)
        parts.append(shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
        if len(table) > max_rows:
            parts.append(
                f"<p class='meta'>first {max_rows} of {len(table)} rows; "
                f"the full table is in tables/{html.escape(name)}.parquet</p>"
            )
    if config is not None:
        parts.append("<h2>Configuration</h2>")
        parts.append(f"<pre>{html.escape(json.dumps(config, indent=2, default=str))}</pre>")
    parts.append("</body></html>")
    return atomic_write_text(path, "\n".join(parts))
