"""Score the doctor on the benchmark suite: recall, false alarms, cause named first, steps.

Runs every script in ``scripts/`` under the no-code-change runner (``trainwell doctor``):
each faulty script as is and with ``--fixed`` (its corrected twin), each ``healthy-*``
script once. The first line of each faulty script cites the public bug report it was rebuilt
from. A faulty run counts as detected when a finding carries the problem's practice ID (or
one of its cause IDs); the cause is named first when the top warning/error (most severe,
then earliest) is one of the problem's cause findings (or, for problems without cause IDs,
carries its practice). A false alarm is a warning or error finding on a corrected or healthy
run (info notes are listed separately). Usage::

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
from trainwell.findings import Finding, read_findings, sort_findings

SCRIPTS = Path(__file__).resolve().parent / "scripts"
# file prefix -> (problem, practice ID that counts as detection, finding IDs that name the cause)
PROBLEMS: dict[str, tuple[str, str, frozenset[str]]] = {
    "init": ("loss at init", "TW-A07", frozenset()),
    "mismatch": ("output/loss mismatch", "TW-A06", frozenset({"output-loss-mismatch"})),
    "inputs": ("inputs not normalized", "TW-D08", frozenset()),
    "shuffle": ("batches not shuffled", "TW-D12", frozenset()),
    "zerograd": ("no gradient / not optimized", "TW-X08", frozenset()),
    "evalmode": ("trains in eval mode", "TW-T05", frozenset()),
    "nan": ("NaN / Inf", "TW-X02", frozenset()),
    "explode": ("exploding gradients", "TW-X03", frozenset()),
    "vanish": ("vanishing / dead / saturated", "TW-X04", frozenset()),
    "lrhigh": ("LR too high", "TW-X05", frozenset()),
    "lrlow": ("LR too low", "TW-X06", frozenset()),
    "overfit": ("overfitting", "TW-X07", frozenset()),
    "leak": ("val better than train", "TW-D06", frozenset()),
    "stop": ("stopped too soon", "TW-T04", frozenset()),
    "sched": ("LR schedule decayed away", "TW-T03", frozenset({"lr-decayed-away"})),
    "wdecay": ("weight decay too strong", "TW-T05", frozenset({"weight-decay-too-strong"})),
    "broadcast": ("loss broadcasts shapes", "TW-A06", frozenset({"loss-broadcast"})),
    "axis": ("softmax over the batch", "TW-A06", frozenset({"softmax-over-batch"})),
    "rnnlayout": ("RNN without batch_first", "TW-A06", frozenset({"rnn-batch-first"})),
    "labels": ("labels apart from inputs", "TW-X09", frozenset({"labels-unlearnable"})),
    "samebatch": ("same batch every step", "TW-X09", frozenset({"same-batch"})),
    "valleak": ("validation from training", "TW-D06", frozenset({"validation-overlaps-train"})),
    "targetleak": ("target among features", "TW-D06", frozenset({"target-in-features"})),
    "imbalance": ("predicts majority class", "TW-D11", frozenset({"majority-class"})),
    "dropout": ("regularization too strong", "TW-T05", frozenset({"regularization-too-strong"})),
    "graphleak": ("loss kept with its graph", "TW-X09", frozenset({"loss-graph-kept"})),
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
    parser.add_argument("--only", default="", help="file prefixes, comma-separated")
    parser.add_argument("--details", action="store_true")
    args = parser.parse_args()

    scripts = sorted(p for p in SCRIPTS.glob("*.py") if not p.name.startswith("_"))
    scripts = [p for p in scripts if p.name.startswith(tuple(args.only.split(",")))]
    jobs = []
    for p in scripts:
        prefix = p.name.split("-")[0]
        if prefix == "healthy":
            jobs.append((p, False, None))
        else:
            jobs += [(p, False, prefix), (p, True, None)]
    detected: dict[str, list[int | None]] = {}
    named: dict[str, list[bool]] = {}
    clean_runs, alarms, infos = 0, [], []
    pool = ThreadPoolExecutor(args.jobs)
    results = pool.map(lambda j: run(j[0], j[1]), jobs)  # in order, as they finish
    for (path, fixed, prefix), (findings, code, secs) in zip(jobs, results, strict=True):
        label = path.stem + (" --fixed" if fixed else "")
        if args.details:
            print(f"{label:34} exit {code:3} {secs:5.1f}s  {describe(findings)}", flush=True)
        serious = [f for f in findings if f.severity != "info"]
        if prefix is not None:
            _, practice, causes = PROBLEMS[prefix]
            hits = [f.step or 0 for f in findings if f.practice == practice or f.id in causes]
            detected.setdefault(prefix, []).append(min(hits) if hits else None)
            top = sort_findings(serious)[0] if serious else None
            first = top is not None and (top.id in causes if causes else top.practice == practice)
            named.setdefault(prefix, []).append(first)
            continue
        clean_runs += 1
        if serious:
            alarms.append((label, serious))
        infos += [(label, f) for f in findings if f.severity == "info"]
    pool.shutdown()

    header = f"{'problem':28} {'practice':8} {'recall':>8} {'cause 1st':>9} {'median steps':>13}"
    print("\n" + header)
    total_hit = total = total_named = 0
    all_steps: list[int] = []
    for prefix, steps in detected.items():
        name, practice, _ = PROBLEMS[prefix]
        hit = [s for s in steps if s is not None]
        first = sum(named[prefix])
        total_hit, total = total_hit + len(hit), total + len(steps)
        total_named += first
        all_steps += hit
        median = f"{statistics.median(hit):g}" if hit else "-"
        print(
            f"{name:28} {practice:8} {len(hit):>3}/{len(steps):<4} "
            f"{first:>4}/{len(steps):<4} {median:>13}"
        )
    print(f"\noverall recall: {total_hit}/{total} = {total_hit / max(total, 1):.2f}")
    print(f"cause named first: {total_named}/{total} = {total_named / max(total, 1):.2f}")
    if all_steps:
        print(f"median steps to detection: {statistics.median(all_steps):g}")
    rate = len(alarms) / max(clean_runs, 1)
    print(f"false alarms: {len(alarms)}/{clean_runs} corrected+healthy runs = {rate:.2f}")
    for label, found in alarms:
        print(f"  {label}: {describe(found)}")
    print(f"info notes on clean runs: {len(infos)}")
    for label, f in infos:
        print(f"  {label}: {f.practice}:{f.id}@{f.step}")


if __name__ == "__main__":
    main()
