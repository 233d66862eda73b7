"""The train stage against scikit-learn's MLP fit in CPU seconds, for a shared machine.

``benchmarks/fit_speed.py`` measures wall seconds, which mean nothing while other processes
share the cores. This script measures what a busy machine cannot inflate much: the CPU
seconds (``time.process_time``) of trainwell's train stage (``train_and_validate``: the LR
range test, the doctor's overfit-one-batch preflight and training with every default on)
and of ``MLPClassifier.fit`` (the same ``StandardScaler`` + ``MLPClassifier(random_state=0)``
pipeline as fit_speed.py), on the same training rows (trainwell's split), each in a fresh
process, both sides pinned to the same number of threads (torch, OpenMP, MKL and OpenBLAS;
1 by default), and the two sides interleaved ``--repeats`` times. Test accuracy is scored on
trainwell's test split for both. The range test's and the preflight's own CPU seconds are
printed apart.

    python benchmarks/train_cpu.py --rows 30000 --repeats 2
    python benchmarks/train_cpu.py --rows 30000 model.width=128 model.depth=2   # overrides
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HANG_GUARD_S = 6 * 3600  # not a time limit: a guard against a hung child


def _timed(module: Any, name: str, seconds: dict[str, float]) -> None:
    """Wrap ``module.name`` so its CPU seconds add up in ``seconds[name]``."""
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[name] = seconds.get(name, 0.0) + time.process_time() - start

    setattr(module, name, wrapper)


def trainwell_side(csv: str, overrides: list[str]) -> dict[str, Any]:
    import numpy as np

    import trainwell.trainer as trainer_module
    from trainwell.config import options_config
    from trainwell.pipeline import prepare, train_and_validate

    parts: dict[str, float] = {}
    _timed(trainer_module.Trainer, "range_test", parts)
    _timed(trainer_module, "overfit_one_batch", parts)
    cfg = options_config(None, ["logging.progress=false", *overrides], target="target")
    prepared = prepare(csv, cfg, block=False, audit=False)
    start = time.process_time()
    result = train_and_validate(prepared)
    cpu = time.process_time() - start
    test, y_test = prepared.sealed_test().open()
    net = result.net.eval()
    probabilities = net.predict(*test.inputs).numpy()
    accuracy = float((np.argmax(probabilities, axis=1) == y_test).mean())
    details = result.details
    splits = {k: prepared.splits.indices(k).tolist() for k in ("train", "test")}
    return {
        "cpu_s": cpu,
        "parts_cpu_s": parts,
        "accuracy": accuracy,
        "splits": splits,
        **{
            k: details.get(k)
            for k in ("width", "depth", "parameters", "batch_size", "threads", "lr", "steps")
        },
        "epochs": details.get("epochs_run"),
    }


def mlp_side(csv: str, splits: dict[str, list[int]]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_csv(csv)
    train, test = np.asarray(splits["train"]), np.asarray(splits["test"])
    x, y = frame.drop(columns="target").to_numpy(), frame["target"].to_numpy()
    model = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
    start = time.process_time()
    model.fit(x[train], y[train])
    cpu = time.process_time() - start
    accuracy = float((model.predict(x[test]) == y[test]).mean())
    return {"cpu_s": cpu, "accuracy": accuracy, "epochs": model[-1].n_iter_}


def _child(args: list[str], threads: int) -> dict[str, Any]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    proc = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANG_GUARD_S,
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--side", choices=["trainwell", "mlp"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--splits", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="trainwell key=value overrides")
    args = parser.parse_args()
    if args.side == "trainwell":
        print(json.dumps(trainwell_side(args.csv, args.overrides)))
        return
    if args.side == "mlp":
        print(json.dumps(mlp_side(args.csv, json.loads(Path(args.splits).read_text()))))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from fit_speed import make_data

    with tempfile.TemporaryDirectory() as tmp:
        csv = make_data(args.rows, Path(tmp))
        splits = Path(tmp) / "splits.json"
        for repeat in range(args.repeats):
            load = os.getloadavg()[0]
            tw = _child(["--side", "trainwell", "--csv", str(csv), *args.overrides], args.threads)
            splits.write_text(json.dumps(tw.pop("splits")))
            mlp_args = ["--side", "mlp", "--csv", str(csv), "--splits", str(splits)]
            mlp = _child(mlp_args, args.threads)
            parts = ", ".join(f"{k} {v:.1f}" for k, v in tw["parts_cpu_s"].items())
            print(
                f"rows {args.rows} repeat {repeat + 1}: train stage {tw['cpu_s']:.1f} CPU s "
                f"({parts}) / MLP fit {mlp['cpu_s']:.1f} CPU s = {tw['cpu_s'] / mlp['cpu_s']:.2f}x;"
                f" test acc {tw['accuracy']:.4f} vs {mlp['accuracy']:.4f}; network "
                f"{tw['width']}x{tw['depth']} ({tw['parameters']} params), batch "
                f"{tw['batch_size']}, {tw['threads']} thread(s), lr {tw['lr']:.3g}, "
                f"{tw['epochs']} epochs, {tw['steps']} steps; MLP {mlp['epochs']} epochs; "
                f"load {load:.1f}->{os.getloadavg()[0]:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
