"""Tuned vs default ``fit`` on sklearn's bundled datasets, on the same sealed test rows.

For each dataset: ``trainwell fit`` with the defaults, then ``trainwell tune`` (its best config
fitted the same way), both with the same seed and split settings, so both are evaluated on the
same test rows (the script checks the test-split hashes). Prints, per dataset, the network's
and the shipped model's test accuracy, wall time, and the share of trial time pruning saved
(pruned trials' epochs against the completed trials' mean; ``study.json``). Asserts nothing.

    python benchmarks/tune.py [--trials 8] [--max-epochs 30] [--datasets wine,breast_cancer,digits]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sklearn import datasets

import trainwell
from trainwell.tune import tune

LOADERS = {
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
    "iris": datasets.load_iris,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--datasets", default="wine,breast_cancer,digits")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    common = [
        f"train.max_epochs={args.max_epochs}",
        "logging.progress=false",
        "logging.tensorboard=false",
        "report.energy=false",
        "report.bootstrap=0",
        "report.explain_examples=0",
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in args.datasets.split(","):
            frame = LOADERS[name](as_frame=True).frame  # type: ignore[operator]
            data = root / f"{name}.csv"
            frame.to_csv(data, index=False)
            start = time.perf_counter()
            default = trainwell.fit(
                str(data), "target", out=root / f"{name}-fit", overrides=common, quiet=True
            )
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            tuned = tune(
                str(data), "target", trials=args.trials, out=root / f"{name}-tune",
                overrides=common, quiet=True,
            )  # fmt: skip
            tune_s = time.perf_counter() - start
            assert tuned is not None
            hashes = {
                json.loads((run.path / "manifest.json").read_text())["splits"]["hashes"]["test"]
                for run in (default, tuned)
            }
            study = json.loads((tuned.path / "study.json").read_text())
            row = {
                "dataset": name,
                "same_test_rows": len(hashes) == 1,
                "default_network_acc": default.metrics["network"]["test"]["accuracy"],
                "tuned_network_acc": tuned.metrics["network"]["test"]["accuracy"],
                "default_shipped": default.metrics["shipped"],
                "default_shipped_acc": default.metrics["test"]["accuracy"],
                "tuned_shipped": tuned.metrics["shipped"],
                "tuned_shipped_acc": tuned.metrics["test"]["accuracy"],
                "fit_s": round(fit_s, 1),
                "tune_s": round(tune_s, 1),
                "trials": study["states"],
                "pruning_saved": study["pruning"].get("saved_fraction"),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
