"""Fingerprint every quick config's run folder, so a refactor can prove it changed no output.

``record`` runs each config that has a ``quick`` variant (``landform run CONFIG --variant quick``)
into a folder of its own and prints one JSON object: per config, the SHA-256 of every file the run
wrote (JSON files without wall-clock fields such as training ``seconds``, stage markers also
without their file checksums, which cover those fields; the report without its "written"
timestamp) and the list of stage keys. ``compare`` prints the files that differ
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
    if path.suffix == ".json":
        value = _strip_clock(json.loads(data))
        if path.name == "_stage.json":  # its file checksums cover wall-clock fields; files are compared themselves
            value.pop("files", None)
        data = json.dumps(value, sort_keys=True).encode()
    elif path.suffix == ".html":
        data = _WRITTEN.sub(b"landform report, written <time>", data)
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
