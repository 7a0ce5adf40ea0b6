"""What checking cached stages against their checksums costs a rerun of a finished run.

A finished run (by default the quick MNIST low-data run, computed first if ``--out`` holds none)
is rerun with every stage cached, alternately with the check (each cached stage's files hashed
with SHA-256 and compared with its marker, the process's memory of checked folders cleared
first, as in a fresh ``landform run``) and without it (``verify_stage`` replaced by one that
passes everything). Reported: the rerun's best wall time both ways, the time of checking every
stage folder alone (best of ``--repeats``; the files are in the page cache, as right after a
run: on a cold cache the rerun reads them from disk with or without the check), the bytes and
files checked, and SHA-256 against BLAKE2b throughput on those files.

By default a rerun stops before the study's analysis (tables, figures, report), which reads the
same files with or without the check and takes the same time either way: the overhead is then a
fraction of the part of the rerun it can change, so an upper bound on its fraction of the whole
rerun. ``--with-analysis`` times the whole rerun. Prints one JSON object.

    PYTHONPATH=src .venv/bin/python benchmarks/stage_verification.py [--out /tmp/store-mnist] [--repeats 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

from _common import machine

ROOT = Path(__file__).resolve().parent.parent
if "LANDFORM_DATA" not in os.environ and (ROOT.parent / "shared" / "datasets").is_dir():
    os.environ["LANDFORM_DATA"] = str(ROOT.parent / "shared" / "datasets")
os.environ.setdefault("LANDFORM_PROGRESS", "0")

from landform.store import stages  # noqa: E402
from landform.studies import run_config_file  # noqa: E402
from landform.studies.volume import stages as volume_stages  # noqa: E402


def _run(config: Path, variant: str, out: Path, *, analysis: bool, log) -> None:
    """Run (or rerun) ``config`` into ``out``; without ``analysis``, stop once every stage is there."""
    original = volume_stages.analyse
    if not analysis:
        volume_stages.analyse = lambda config, run_folder, measured, log: run_folder.path("report.html")
    try:
        run_config_file(config, variant=variant, out=out, progress=False, log=log)
    finally:
        volume_stages.analyse = original


def _rerun(config: Path, variant: str, out: Path, *, verify: bool, analysis: bool) -> float:
    """Wall seconds of one rerun of the finished run in ``out`` (every stage must be cached)."""
    stages._VERIFIED.clear()
    original = stages.verify_stage
    if not verify:
        stages.verify_stage = lambda folder: None
    logs: list[str] = []
    try:
        start = time.perf_counter()
        _run(config, variant, out, analysis=analysis, log=logs.append)
        seconds = time.perf_counter() - start
    finally:
        stages.verify_stage = original
    if any(line.endswith("running") or "is damaged" in line for line in logs):
        raise SystemExit(f"the rerun computed stages; is {out} a finished run of this code? {logs}")
    return seconds


def _hash_throughput(paths: list[Path], algorithm: str) -> float:
    """MB/s of hashing ``paths`` with ``algorithm`` (streamed, as the check does)."""
    start = time.perf_counter()
    size = 0
    for path in paths:
        with open(path, "rb") as handle:
            hashlib.file_digest(handle, algorithm)
        size += path.stat().st_size
    return size / 1e6 / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "volume" / "mnist_low_data.yaml")
    parser.add_argument("--variant", default="quick")
    parser.add_argument("--out", type=Path, default=Path("/tmp/store-mnist"))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--with-analysis", action="store_true", help="time the whole rerun, analysis included")
    args = parser.parse_args()

    first_run_seconds = None
    if not list((args.out / "stages").glob(f"*/{stages.DONE}")):
        start = time.perf_counter()
        _run(args.config, args.variant, args.out, analysis=args.with_analysis, log=lambda line: None)
        first_run_seconds = time.perf_counter() - start
    folders = sorted(path.parent for path in (args.out / "stages").glob(f"*/{stages.DONE}"))
    files = [folder / name for folder in folders for name in stages.read_marker(folder).get("files", {})]
    unverifiable = sum("files" not in stages.read_marker(folder) for folder in folders)

    _rerun(args.config, args.variant, args.out, verify=False, analysis=args.with_analysis)  # warm-up: imports, JIT
    with_check, without_check = [], []
    for _ in range(args.repeats):  # alternated, so that load on a shared machine hits both alike
        with_check.append(_rerun(args.config, args.variant, args.out, verify=True, analysis=args.with_analysis))
        without_check.append(_rerun(args.config, args.variant, args.out, verify=False, analysis=args.with_analysis))

    check_alone = float("inf")
    for _ in range(args.repeats):
        stages._VERIFIED.clear()
        start = time.perf_counter()
        problems = [stages.verify_stage(folder) for folder in folders]
        check_alone = min(check_alone, time.perf_counter() - start)
    assert not any(problems), problems
    total = sum(path.stat().st_size for path in files)
    print(
        json.dumps(
            {
                "benchmark": "stage_verification",
                "config": str(args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config),
                "variant": args.variant,
                "analysis_timed": args.with_analysis,
                "stages": len(folders),
                "stages_without_checksums": unverifiable,
                "files_checked": len(files),
                "megabytes_checked": round(total / 1e6, 1),
                "first_run_seconds": first_run_seconds,
                "rerun_seconds_with_check": [round(s, 2) for s in with_check],
                "rerun_seconds_without_check": [round(s, 2) for s in without_check],
                "rerun_overhead_seconds": round(min(with_check) - min(without_check), 2),
                "check_alone_seconds": round(check_alone, 3),
                "sha256_mb_per_s": round(_hash_throughput(files, "sha256"), 1),
                "blake2b_mb_per_s": round(_hash_throughput(files, "blake2b"), 1),
                **machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
