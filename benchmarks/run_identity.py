"""Fingerprint every quick config's run folder, so a refactor can prove it changed no output.

``record`` runs each config that has a ``quick`` variant (``landform run CONFIG --variant quick``)
into a folder of its own and prints one JSON object: per config, the SHA-256 of every file the run
wrote (wall-clock content left out: JSON keys, table columns and NetCDF attributes named like
``seconds``, ``*_per_second``, ``created``; stage markers also without their file checksums,
which cover those fields; the report without its "written" timestamp and with the cells of its
tables' clock columns emptied; everything else, figures and embedded images included, exact)
and the list of stage keys. ``compare`` prints the files that differ
between two such objects. Configs that cannot run here (no CIFAR-10 copy, no Pythia weights)
are recorded with their error, so before and after are compared on the same set.

    python benchmarks/run_identity.py record --out /tmp/before > before.json
    python benchmarks/run_identity.py compare before.json after.json
    python benchmarks/run_identity.py rehash before.json --out /tmp/before > before2.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_WRITTEN = re.compile(rb"landform report, written \d{4}-\d\d-\d\d \d\d:\d\d")
# wall-clock fields and columns a rerun may change without any computed output changing
_CLOCK = re.compile(r"seconds|per_second|^elapsed$|^started$|^finished$|^created(_at)?$|^host$|^pid$|marker_checksum")
_TABLE = re.compile(r"<table.*?</table>", re.S)
_CELL = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)


def _strip_clock(value):
    if isinstance(value, dict):
        return {k: _strip_clock(v) for k, v in value.items() if not _CLOCK.search(str(k))}
    if isinstance(value, list):
        return [_strip_clock(v) for v in value]
    return value


def _frame_digest(frame) -> bytes:
    """Column names and exact values of a table, its clock columns left out."""
    import pandas as pd

    keep = [c for c in frame.columns if not _CLOCK.search(str(c))]
    values = pd.util.hash_pandas_object(frame[keep], index=True).to_numpy().tobytes()
    return json.dumps([list(map(str, frame.columns)), [str(t) for t in frame[keep].dtypes]]).encode() + values


def _blank_clock_cells(table: str) -> str:
    """An HTML table (pandas' ``to_html``) with the cells of its clock columns emptied."""
    rows = re.findall(r"<tr.*?</tr>", table, re.S)
    if not rows:
        return table
    header = _CELL.findall(rows[0])
    clock = {i for i, name in enumerate(header) if _CLOCK.search(name.strip())}
    out = [rows[0]]
    for row in rows[1:]:
        cells = _CELL.findall(row)
        out.append("|".join("" if i in clock else c for i, c in enumerate(cells)))
    return "\n".join(out)


def _netcdf_digest(path: Path) -> bytes:
    import numpy as np
    import xarray as xr

    parts = []
    tree = xr.open_datatree(path)
    for group in sorted(tree.groups):
        data = tree[group].to_dataset()
        attrs = _strip_clock(dict(data.attrs))
        parts.append(json.dumps([group, sorted(data.data_vars), attrs], sort_keys=True, default=str).encode())
        parts += [np.ascontiguousarray(data[name].values).tobytes() for name in sorted(data.data_vars)]
    return b"".join(parts)


def fingerprint(path: Path) -> str:
    """SHA-256 of a run file, with its wall-clock content removed."""
    data = path.read_bytes()
    if path.suffix == ".json":
        value = _strip_clock(json.loads(data))
        if path.name == "_stage.json":  # its file checksums cover wall-clock fields; files are compared themselves
            value.pop("files", None)
        data = json.dumps(value, sort_keys=True).encode()
    elif path.suffix == ".parquet":
        import pandas as pd

        data = _frame_digest(pd.read_parquet(path))
    elif path.suffix == ".csv":
        import pandas as pd

        data = _frame_digest(pd.read_csv(path))
    elif path.suffix == ".nc":
        data = _netcdf_digest(path)
    elif path.suffix == ".html":
        text = _WRITTEN.sub(b"landform report, written <time>", data).decode()
        data = _TABLE.sub(lambda m: _blank_clock_cells(m.group(0)), text).encode()
    return hashlib.sha256(data).hexdigest()


def quick_configs() -> list[Path]:
    return sorted(p for p in (ROOT / "configs").glob("*/*.yaml") if re.search(r"^\s+quick:", p.read_text(), re.M))


def manifest(folder: Path) -> dict:
    """Fingerprints of every file of a run folder and its stage keys."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".log"))
    return {
        "files": {str(p.relative_to(folder)): fingerprint(p) for p in files},
        "stage_keys": sorted(p.parent.name for p in folder.rglob("_stage.json")),
    }


def rehash(recorded: dict, out: Path) -> dict:
    """A recording's manifests recomputed from its folders under ``out`` (rc and seconds kept)."""
    return {name: {**entry, **manifest(out / name)} for name, entry in recorded.items()}


def record(out: Path, only: list[str]) -> dict:
    result = {}
    for config in quick_configs():
        name = f"{config.parent.name}/{config.stem}"
        if only and not any(o in name for o in only):
            continue
        folder = out / config.parent.name / config.stem
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "landform.cli", "run", str(config), "--variant", "quick", "--out", str(folder)],
            capture_output=True,
            text=True,
        )
        entry: dict = {"seconds": round(time.perf_counter() - start, 1), "rc": proc.returncode}
        if proc.returncode:
            entry["error"] = proc.stderr.strip().splitlines()[-1:] or proc.stdout.strip().splitlines()[-1:]
        entry.update(manifest(folder))
        result[name] = entry
        print(
            f"{name}: rc={proc.returncode} {entry['seconds']} s, {len(entry['files'])} files",
            file=sys.stderr,
            flush=True,
        )
    return result


def compare(before: dict, after: dict) -> dict:
    report = {"configs": len(before), "identical": [], "differ": {}}
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name, {}), after.get(name, {})
        fa, fb = a.get("files", {}), b.get("files", {})
        diff = sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))
        if diff or a.get("rc") != b.get("rc") or a.get("stage_keys") != b.get("stage_keys"):
            report["differ"][name] = {"files": diff, "rc": [a.get("rc"), b.get("rc")]}
        else:
            report["identical"].append(f"{name} ({len(fa)} files, rc={a.get('rc')})")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--only", nargs="*", default=[], help="substrings of config names to run")
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("before", type=Path)
    cmp_.add_argument("after", type=Path)
    re_ = sub.add_parser("rehash", help="recompute a recording's fingerprints from its run folders")
    re_.add_argument("recording", type=Path)
    re_.add_argument("--out", type=Path, required=True, help="the folder the recording ran into")
    args = parser.parse_args()
    if args.command == "record":
        result = record(args.out, args.only)
    elif args.command == "rehash":
        result = rehash(json.loads(args.recording.read_text()), args.out)
    else:
        result = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
