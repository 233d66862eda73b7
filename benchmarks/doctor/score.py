"""Score the doctor on the benchmark suite: recall, false alarms, steps to detection.

Runs every script in ``scripts/`` under the no-code-change runner (``trainwell doctor``):
each faulty script as is and with ``--fixed`` (its corrected twin), each ``healthy-*``
script once. A faulty run counts as detected when a finding carries the problem's practice
ID. A false alarm is a warning or error finding on a corrected or healthy run (info notes
are listed separately). Usage::

    python benchmarks/doctor/score.py [--jobs 2] [--only PREFIX] [--details]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from trainwell.doctor import run_doctor
from trainwell.findings import Finding, read_findings

SCRIPTS = Path(__file__).resolve().parent / "scripts"
PROBLEMS = {  # file prefix -> (problem, practice ID that counts as detection)
    "init": ("loss at init", "TW-A07"),
    "mismatch": ("output/loss mismatch", "TW-A06"),
    "inputs": ("inputs not normalized", "TW-D08"),
    "shuffle": ("batches not shuffled", "TW-D12"),
    "zerograd": ("no gradient / not optimized", "TW-X08"),
    "evalmode": ("trains in eval mode", "TW-T05"),
    "nan": ("NaN / Inf", "TW-X02"),
    "explode": ("exploding gradients", "TW-X03"),
    "vanish": ("vanishing / dead / saturated", "TW-X04"),
    "lrhigh": ("LR too high", "TW-X05"),
    "lrlow": ("LR too low", "TW-X06"),
    "overfit": ("overfitting", "TW-X07"),
    "leak": ("val better than train", "TW-D06"),
    "stop": ("stopped too soon", "TW-T04"),
}


def run(script: Path, fixed: bool) -> tuple[list[Finding], int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "findings.json"
        command = [sys.executable, str(script), *(["--fixed"] if fixed else [])]
        start = time.perf_counter()
        code = run_doctor(
            command, out, console=Console(quiet=True), child_output=subprocess.DEVNULL
        )
        return read_findings(out), code, time.perf_counter() - start


def describe(findings: list[Finding]) -> str:
    return ", ".join(f"{f.practice}:{f.id}@{f.step}" for f in findings) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="")
    parser.add_argument("--details", action="store_true")
    args = parser.parse_args()

    scripts = sorted(p for p in SCRIPTS.glob("*.py") if not p.name.startswith("_"))
    scripts = [p for p in scripts if p.name.startswith(args.only)]
    jobs = []
    for p in scripts:
        prefix = p.name.split("-")[0]
        if prefix == "healthy":
            jobs.append((p, False, None))
        else:
            jobs += [(p, False, prefix), (p, True, None)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: run(j[0], j[1]), jobs))

    detected: dict[str, list[int | None]] = {}
    clean_runs, alarms, infos = 0, [], []
    for (path, fixed, prefix), (findings, code, secs) in zip(jobs, results, strict=True):
        label = path.stem + (" --fixed" if fixed else "")
        if args.details:
            print(f"{label:34} exit {code:3} {secs:5.1f}s  {describe(findings)}")
        if prefix is not None:
            practice = PROBLEMS[prefix][1]
            hits = [f.step or 0 for f in findings if f.practice == practice]
            detected.setdefault(prefix, []).append(min(hits) if hits else None)
            continue
        clean_runs += 1
        serious = [f for f in findings if f.severity != "info"]
        if serious:
            alarms.append((label, serious))
        infos += [(label, f) for f in findings if f.severity == "info"]

    print(f"\n{'problem':32} {'practice':8} {'recall':>8} {'median steps':>13}")
    total_hit = total = 0
    for prefix, steps in detected.items():
        name, practice = PROBLEMS[prefix]
        hit = [s for s in steps if s is not None]
        total_hit, total = total_hit + len(hit), total + len(steps)
        median = f"{statistics.median(hit):g}" if hit else "-"
        print(f"{name:32} {practice:8} {len(hit):>3}/{len(steps):<4} {median:>13}")
    print(f"\noverall recall: {total_hit}/{total} = {total_hit / max(total, 1):.2f}")
    rate = len(alarms) / max(clean_runs, 1)
    print(f"false alarms: {len(alarms)}/{clean_runs} corrected+healthy runs = {rate:.2f}")
    for label, found in alarms:
        print(f"  {label}: {describe(found)}")
    print(f"info notes on clean runs: {len(infos)}")
    for label, f in infos:
        print(f"  {label}: {f.practice}:{f.id}@{f.step}")


if __name__ == "__main__":
    main()
