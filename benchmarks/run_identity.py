"""Fingerprint every quick config's run folder, so a refactor can prove it changed no output.

``record`` runs each config that has a ``quick`` variant (``landform run CONFIG --variant quick``)
into a folder of its own and prints one JSON object: per config, the SHA-256 of every file the run
wrote (stage markers without their wall-clock ``seconds`` and self-checksum, the report without
its "written" timestamp) and the list of stage keys. ``compare`` prints the files that differ
between two such objects. Configs that cannot run here (no CIFAR-10 copy, no Pythia weights)
are recorded with their error, so before and after are compared on the same set.

    python benchmarks/run_identity.py record --out /tmp/before > before.json
    python benchmarks/run_identity.py compare before.json after.json
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
# wall-clock fields a rerun may change without any output changing
_CLOCK_KEYS = {"seconds", "marker_checksum", "elapsed", "started", "finished", "created", "host", "pid"}


def _strip_clock(value):
    if isinstance(value, dict):
        return {k: _strip_clock(v) for k, v in value.items() if k not in _CLOCK_KEYS}
    if isinstance(value, list):
        return [_strip_clock(v) for v in value]
    return value


def fingerprint(path: Path) -> str:
    """SHA-256 of a run file, with its wall-clock content removed."""
    data = path.read_bytes()
    if path.name == "_stage.json" or path.name.endswith("status.json"):
        data = json.dumps(_strip_clock(json.loads(data)), sort_keys=True).encode()
    elif path.suffix == ".html":
        data = _WRITTEN.sub(b"landform report, written <time>", data)
    return hashlib.sha256(data).hexdigest()


def quick_configs() -> list[Path]:
    return sorted(p for p in (ROOT / "configs").glob("*/*.yaml") if re.search(r"^\s+quick:", p.read_text(), re.M))


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
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".log"))
        entry["files"] = {str(p.relative_to(folder)): fingerprint(p) for p in files}
        entry["stage_keys"] = sorted(p.parent.name for p in folder.rglob("_stage.json"))
        result[name] = entry
        print(f"{name}: rc={proc.returncode} {entry['seconds']} s, {len(files)} files", file=sys.stderr, flush=True)
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
    args = parser.parse_args()
    if args.command == "record":
        result = record(args.out, args.only)
    else:
        result = compare(json.loads(args.before.read_text()), json.loads(args.after.read_text()))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
