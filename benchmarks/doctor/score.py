"""Score the doctor on the benchmark suite: recall, false alarms, cause named first, steps.

Runs every script in ``scripts/`` under the no-code-change runner (``trainwell doctor``):
each faulty script as is and with ``--fixed`` (its corrected twin), each ``healthy-*``
script once. The first line of each faulty script cites the public bug report it was rebuilt
from. A faulty run counts as detected when a finding carries the problem's practice ID (or
one of its cause IDs); the cause is named first when the top warning/error (most severe,
then earliest) is one of the problem's cause findings (or, for problems without cause IDs,
carries its practice). A false alarm is a warning or error finding on a corrected or healthy
run (info notes are listed separately).

``--variants`` runs cases again another way (``--variant=NAME`` to the script, see
``scripts/_common.py``): ``functional`` every case (and every healthy script) that builds an
``nn.*Loss`` module, with the loss as a ``torch.nn.functional`` call (the cases written with
a functional loss are their own functional variant); ``lightning`` and ``hf`` every case
that trains through ``_common.fit()`` (generated: ``fit()`` becomes a Lightning ``Trainer``
or the Hugging Face ``Trainer``; ``FRAMEWORK_EXCLUDED`` names the problems a framework removes
by design; ``--list-framework`` prints which cases apply and why the others do not). Each
variant is scored on its own. ``--log`` appends every run as a JSON line as it finishes;
``--summarize LOG`` scores such a log (also a partial one). Usage::

    python benchmarks/doctor/score.py [--jobs 2] [--only PREFIX] [--details]
        [--variants functional,lightning,hf] [--log runs.jsonl] [--summarize runs.jsonl]
        [--list-framework]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
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
    "gradreset": ("gradients never reset", "TW-T08", frozenset({"gradients-not-reset"})),
}


# The framework variants are generated from the cases themselves: every script that trains
# through _common.fit() (the fault lives in the model, the data, the loss, the optimizer, the
# early stopping or the script's own per-step code) runs again with fit() replaced by a
# Lightning Trainer or the Hugging Face Trainer. The cases below keep their own hand-written
# loop because the fault is a statement of that loop which a framework's loop owns and does
# right by design (``--list-framework`` prints them with these reasons):
LOOP_ONLY: dict[str, str] = {
    "evalmode-after-val": "the frameworks call model.train() at the start of every training "
    "epoch, after their own validation",
    "evalmode-before": "the frameworks call model.train() before the first training step "
    "whatever mode the model was loaded in",
    "samebatch-next-iter": "the frameworks draw every batch from the loader themselves; a batch "
    "drawn once before the loop cannot be fed to them",
    "samebatch-slice-start": "the frameworks slice batches through the DataLoader's sampler, not "
    "by a hand-written index",
    "overfit-fn-eval": "its point is the script's own validation code (eval() without no_grad, "
    "a hand-summed loss); the frameworks validate with their own code (overfit-wide is the "
    "same model and data through the frameworks)",
    "gradreset-sgd": "the frameworks reset the gradients themselves (Lightning's closure "
    "calls zero_grad before backward, the HF Trainer model.zero_grad() after each step)",
    "valleak-eval-no-grad-fn": "its point is the script's own validation on tensor slices "
    "under eval() without no_grad; the frameworks validate from a loader under no_grad "
    "(valleak-from-train and valleak-train-loader-typo are the fault through the frameworks)",
}
# Problems or cases a framework removes by design, or cannot express as a user writes it:
FRAMEWORK_EXCLUDED: dict[str, dict[str, str]] = {
    "lightning": {},
    "hf": {
        # The HF Trainer always draws training batches with a RandomSampler.
        "shuffle": "the Trainer always shuffles the training set (RandomSampler)",
        "sched-plateau-per-batch": "the Trainer steps a ReduceLROnPlateau only after "
        "evaluation, with the validation metric; it cannot be stepped per batch",
        "labels-two-loaders": "the Trainer builds its one training loader from one Dataset; "
        "two loaders zipped together cannot be passed to it",
    },
}
_FIT_CALL = re.compile(r"^\s*(?:\w+\s*=\s*)?fit\(", re.MULTILINE)
_LOSS_MODULE = re.compile(
    r"nn\.(CrossEntropyLoss|NLLLoss|MSELoss|L1Loss|SmoothL1Loss|HuberLoss|BCELoss|BCEWithLogitsLoss)\("
)


def applies(script: Path, variant: str) -> bool:
    """Whether ``variant`` changes how ``script`` trains (else it would repeat the base run)."""
    if not variant:
        return True
    if variant == "functional":  # every case that builds a loss module
        return bool(_LOSS_MODULE.search(script.read_text()))
    if variant not in FRAMEWORK_EXCLUDED:
        return False
    return framework_reason(script, variant) is None


def framework_reason(script: Path, variant: str) -> str | None:
    """Why a framework variant does not apply to ``script``; ``None`` when it does.

    Raises:
        ValueError: a faulty case with its own loop that names no reason in ``LOOP_ONLY``.
    """
    if not _FIT_CALL.search(script.read_text()):
        if script.stem.startswith("healthy"):
            return "a healthy script with its own loop"
        if script.stem not in LOOP_ONLY:
            raise ValueError(f"{script.name}: own loop without a reason in LOOP_ONLY")
        return LOOP_ONLY[script.stem]
    excluded = FRAMEWORK_EXCLUDED[variant]
    return excluded.get(script.stem, excluded.get(script.name.split("-")[0]))


def run(script: Path, fixed: bool, variant: str = "") -> tuple[list[Finding], int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "findings.json"
        command = [sys.executable, str(script), *(["--fixed"] if fixed else [])]
        command += [f"--variant={variant}"] if variant else []
        start = time.perf_counter()
        code = run_doctor(
            command, out, console=Console(quiet=True), child_output=subprocess.DEVNULL
        )
        return read_findings(out), code, time.perf_counter() - start


def describe(findings: list[Finding]) -> str:
    return ", ".join(f"{f.practice}:{f.id}@{f.step}" for f in findings) or "-"


PLAIN = "(plain)"  # a healthy script run without the doctor
Result = dict  # one run: script, fixed, variant, prefix, findings, exit code, seconds


def score(results: list[Result], variant: str) -> None:
    """Print one variant's table: recall, cause named first, steps, false alarms, wall time."""
    detected: dict[str, list[int | None]] = {}
    named: dict[str, list[bool]] = {}
    clean_runs, alarms, infos = 0, [], []
    plain = {r["script"]: r["seconds"] for r in results if r["prefix"] == PLAIN}
    ratios = [
        r["seconds"] / plain[r["script"]]
        for r in results
        if not variant and r["variant"] == variant and r["prefix"] is None and r["script"] in plain
    ]
    for r in (r for r in results if r["variant"] == variant and r["prefix"] != PLAIN):
        findings = [Finding(**f) for f in r["findings"]]
        label = r["script"] + (" --fixed" if r["fixed"] else "")
        serious = [f for f in findings if f.severity != "info"]
        prefix = r["prefix"]
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

    print(f"\n=== variant: {variant or 'base (as written)'}")
    header = f"{'problem':28} {'practice':8} {'recall':>8} {'cause 1st':>9} {'median steps':>13}"
    print(header)
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
    missed = [
        r["script"]
        for r in results
        if r["variant"] == variant
        and r["prefix"] not in (None, PLAIN)
        and not any(
            f["practice"] == PROBLEMS[r["prefix"]][1] or f["id"] in PROBLEMS[r["prefix"]][2]
            for f in r["findings"]
        )
    ]
    if missed:
        print(f"missed: {', '.join(missed)}")
    if ratios:
        print(
            f"wall-time ratio, healthy scripts with / without the doctor: median "
            f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}, "
            f"{len(ratios)} scripts; start-up included)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="", help="file prefixes, comma-separated")
    parser.add_argument("--details", action="store_true")
    parser.add_argument("--variants", default="", help="functional,lightning,hf")
    parser.add_argument("--skip-base", action="store_true", help="run the variants only")
    parser.add_argument("--log", type=Path, help="append each run as a JSON line")
    parser.add_argument("--summarize", type=Path, help="score a --log file instead of running")
    parser.add_argument(
        "--list-framework", action="store_true", help="which cases run through the frameworks"
    )
    args = parser.parse_args()

    if args.list_framework:
        faulty = sorted(p for p in SCRIPTS.glob("*.py") if not p.name.startswith(("_", "healthy")))
        for variant in FRAMEWORK_EXCLUDED:
            apply = [p.stem for p in faulty if applies(p, variant)]
            print(f"{variant}: {len(apply)} of {len(faulty)} cases: {', '.join(apply)}")
            for p in faulty:
                reason = framework_reason(p, variant)
                if reason is not None:
                    print(f"  not applied: {p.stem}: {reason}")
        return

    if args.summarize:
        results = [json.loads(line) for line in args.summarize.read_text().splitlines() if line]
        for variant in dict.fromkeys(r["variant"] for r in results):
            score(results, variant)
        return

    scripts = sorted(p for p in SCRIPTS.glob("*.py") if not p.name.startswith("_"))
    scripts = [p for p in scripts if p.name.startswith(tuple(args.only.split(",")))]
    variants = [*([] if args.skip_base else [""]), *(v for v in args.variants.split(",") if v)]
    jobs = []
    for variant in variants:  # the scripts as written first, then each variant
        for p in scripts:
            if not applies(p, variant):
                continue
            prefix = p.name.split("-")[0]
            if prefix == "healthy":
                jobs.append((p, False, None, variant))
                if not variant:  # the same script without the doctor, for the wall-time ratio
                    jobs.append((p, False, PLAIN, variant))
            else:
                jobs += [(p, False, prefix, variant), (p, True, None, variant)]
    lock = threading.Lock()

    def one(job: tuple[Path, bool, str | None, str]) -> Result:
        path, fixed, prefix, variant = job
        if prefix == PLAIN:
            start = time.perf_counter()
            code = subprocess.run(
                [sys.executable, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            ).returncode
            findings, secs = [], time.perf_counter() - start
        else:
            findings, code, secs = run(path, fixed, variant)
        result = {
            "script": path.stem,
            "fixed": fixed,
            "variant": variant,
            "prefix": prefix,
            "findings": [f.to_dict() for f in findings],
            "exit": code,
            "seconds": round(secs, 2),
        }
        with lock:
            if args.log:
                with args.log.open("a") as fh:
                    fh.write(json.dumps(result) + "\n")
            if args.details:
                label = (
                    path.stem + (" --fixed" if fixed else "") + (f" [{variant}]" if variant else "")
                )
                print(f"{label:46} exit {code:3} {secs:5.1f}s  {describe(findings)}", flush=True)
        return result

    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(one, jobs))
    for variant in variants:
        score(results, variant)


if __name__ == "__main__":
    main()
