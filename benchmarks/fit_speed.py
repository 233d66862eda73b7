"""`trainwell fit` with defaults against a user's obvious alternatives, side by side in one run.

For each data size: trainwell fit (a fresh process, so imports count), LightGBM alone and
scikit-learn's MLPClassifier alone (each also a fresh process that reads the same CSV), all
three scored on the same test rows (trainwell's sealed test split, read from its
``splits.json``; the alternatives train on trainwell's training split). Printed: wall seconds
with process start and CPU seconds (user + system), each trainwell stage's seconds (the
manifest's timings), the seconds the alternatives spend in ``fit``, peak memory (max RSS of
each process) and test accuracy. The machine may be shared, so read the ratios of one run,
not the seconds.

    python benchmarks/fit_speed.py                       # 569 rows (breast cancer), 10k, 100k
    python benchmarks/fit_speed.py --sizes 569,10000,100000,1000000 --json fit_speed.json
    python benchmarks/fit_speed.py --sizes 569 --repeat 5   # each size 5 times; medians last

Goals (issue 19): breast cancer fit <= 3x LightGBM-alone wall; 100k-row training <= 2x the
MLP's fit at equal or better test accuracy; 1M rows finishes, memory stated.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HANG_GUARD_S = 6 * 3600  # not a time limit: a guard against a hung child


def make_data(n: int, folder: Path) -> Path:
    """breast_cancer for 569, else make_classification with 23 features (12 informative)."""
    path = folder / f"data_{n}.csv"
    if n == 569:
        from sklearn.datasets import load_breast_cancer

        frame = load_breast_cancer(as_frame=True).frame
    else:
        from sklearn.datasets import make_classification

        x, y = make_classification(
            n_samples=n, n_features=23, n_informative=12, n_redundant=4, flip_y=0.02,
            class_sep=0.8, random_state=0,
        )  # fmt: skip
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
        frame["target"] = y
    frame.to_csv(path, index=False)
    return path


def child(kind: str, csv: str, splits: str) -> dict[str, Any]:
    """One alternative, in this (fresh) process: read, fit on the training split, score."""
    frame = pd.read_csv(csv)
    parts = json.loads(Path(splits).read_text())
    train, test = (np.asarray(parts[k]) for k in ("train", "test"))
    x, y = frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        model: Any = LGBMClassifier(verbose=-1, random_state=0)
    else:
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
    start = time.perf_counter()
    model.fit(x[train], y[train])
    fit_s = time.perf_counter() - start
    accuracy = float((model.predict(x[test]) == y[test]).mean())
    return {"fit_s": fit_s, "accuracy": accuracy, "peak_mb": _peak_mb()}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall and CPU seconds (user + system), peak memory (MB, max RSS) and stdout of one
    child process.

    The child is reaped with ``os.wait4``, whose resource usage is that child's alone (and
    its waited-for descendants'), so every run reports its own peak; ``RUSAGE_CHILDREN``
    would keep the largest child so far.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        guard = threading.Timer(HANG_GUARD_S, proc.kill)
        guard.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            guard.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def measure(n: int, folder: Path, extra: list[str]) -> dict[str, Any]:
    csv = make_data(n, folder)
    run_dir = folder / f"run_{n}"
    wall, cpu, peak, _ = _run(
        [sys.executable, "-m", "trainwell", "fit", str(csv), "--target", "target",
         "--out", str(run_dir), "logging.progress=false", *extra]
    )  # fmt: skip
    manifest = json.loads((run_dir / "manifest.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    row: dict[str, Any] = {
        "rows": n,
        "trainwell": {
            "wall_s": wall,
            "cpu_s": cpu,
            "stages_s": manifest.get("timings", {}),
            "peak_mb": peak,
            "accuracy_shipped": metrics["test"].get("accuracy"),
            "accuracy_network": metrics["network"]["test"].get("accuracy"),
            "shipped": metrics["shipped"],
            "batch_size": manifest["network"].get("batch_size"),
            "threads": manifest["network"].get("threads"),
            "lr": manifest["network"].get("lr"),
            "epochs": manifest["network"].get("epochs_run"),
            "steps": manifest["network"].get("steps"),
        },
    }
    for kind in ("lightgbm", "mlp"):
        wall, cpu, _, stdout = _run(
            [sys.executable, __file__, "--child", kind, "--csv", str(csv),
             "--splits", str(run_dir / "splits.json")]
        )  # fmt: skip
        result = json.loads(stdout.strip().splitlines()[-1])
        row[kind] = {"wall_s": wall, "cpu_s": cpu, **result}
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """One line per size; ``wall (cpu)`` seconds, so a busy machine's waits show."""
    lines = [
        "| rows | trainwell wall (cpu) s | its stages (s) | train / MLP fit | fit / LightGBM "
        "wall (cpu) | test acc: trainwell shipped / network, LightGBM, MLP | peak MB: "
        "trainwell, LightGBM, MLP | LightGBM wall (cpu), fit s | MLP wall (cpu), fit s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        tw, lgb, mlp = r["trainwell"], r["lightgbm"], r["mlp"]
        stages = ", ".join(f"{k} {v:.1f}" for k, v in tw["stages_s"].items())
        outside = tw["wall_s"] - sum(tw["stages_s"].values())
        train_ratio = tw["stages_s"].get("train", float("nan")) / mlp["fit_s"]
        lines.append(
            f"| {r['rows']} | {tw['wall_s']:.1f} ({tw['cpu_s']:.1f}) | {stages}; outside "
            f"stages {outside:.1f} (batch {tw['batch_size']}, {tw['threads']} thread(s), "
            f"{tw['epochs']} epochs, {tw['steps']} steps, lr {tw['lr']:.3g}) "
            f"| {train_ratio:.2f}x | {tw['wall_s'] / lgb['wall_s']:.2f}x "
            f"({tw['cpu_s'] / lgb['cpu_s']:.2f}x) "
            f"| {tw['accuracy_shipped']:.4f} ({tw['shipped']}) / {tw['accuracy_network']:.4f}, "
            f"{lgb['accuracy']:.4f}, {mlp['accuracy']:.4f} "
            f"| {tw['peak_mb'] or float('nan'):.0f}, {lgb['peak_mb']:.0f}, {mlp['peak_mb']:.0f} "
            f"| {lgb['wall_s']:.1f} ({lgb['cpu_s']:.1f}), {lgb['fit_s']:.1f} "
            f"| {mlp['wall_s']:.1f} ({mlp['cpu_s']:.1f}), {mlp['fit_s']:.1f} |"
        )
    return "\n".join(lines)


def medians(rows: list[dict[str, Any]]) -> str:
    """Per size, the median and range of trainwell's wall and CPU seconds and of its ratios."""
    lines = []
    for n in sorted({r["rows"] for r in rows}):
        runs = [r for r in rows if r["rows"] == n]

        def spread(values: list[float], unit: str = "") -> str:
            return f"median {np.median(values):.2f}{unit} ({min(values):.2f}-{max(values):.2f})"

        tw = [r["trainwell"] for r in runs]
        wall = spread([t["wall_s"] for t in tw], " s")
        lines.append(
            f"{n} rows, {len(runs)} runs: trainwell wall {wall}, "
            f"CPU {spread([t['cpu_s'] for t in tw], ' s')}; fit / LightGBM wall "
            f"{spread([r['trainwell']['wall_s'] / r['lightgbm']['wall_s'] for r in runs], 'x')}, "
            f"CPU {spread([r['trainwell']['cpu_s'] / r['lightgbm']['cpu_s'] for r in runs], 'x')}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="569,10000,100000")
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each size this many times (a busy "
        "machine's seconds vary run to run); a line of medians follows"
    )  # fmt: skip
    parser.add_argument("--child", choices=["lightgbm", "mlp"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--splits", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="trainwell key=value overrides")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.csv, args.splits)))
        return
    # trainwell's own modules byte-compiled first, as `pip install` does for an installed
    # package (and already is for LightGBM's and scikit-learn's): with PYTHONDONTWRITEBYTECODE
    # set (this sandbox sets it) an editable install would recompile ~140 modules in every
    # child, ~0.15 s that no installed copy pays.
    import compileall

    import trainwell

    compileall.compile_dir(Path(trainwell.__file__).parent, quiet=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(int(s) for s in args.sizes.split(",")):
            for i in range(args.repeat):
                folder = Path(tmp) / f"{n}_{i}"  # a fresh run directory for each repeat
                folder.mkdir()
                load_before = os.getloadavg()
                rows.append(measure(n, folder, args.overrides))
                rows[-1]["load_avg_1_5_15"] = {"before": load_before, "after": os.getloadavg()}
                print(table(rows[-1:]), flush=True)
                print(f"load average (1, 5, 15 min) before {load_before}, after {os.getloadavg()}")
    print("\n" + table(rows))
    if args.repeat > 1:
        print("\n" + medians(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
