"""Seed and snapshot ensembles against the single network, on sklearn's bundled datasets.

For each dataset, two ``trainwell fit`` runs with the same seed and split (so the same test
rows): ``ensemble.method=seeds`` and ``ensemble.method=snapshot`` (cosine restarts of
``--cycle`` epochs, the last ``--size`` cycle ends averaged), both with
``baselines.ship=ensemble`` so that the ensemble is scored on the test split even where it was
not kept (the keep decision itself is on validation: the finding's numbers). Prints, per run,
the validation selection score (log loss / RMSE) of the average and of the best single network,
whether the average was kept, the test score of the average and of the run's network, and the
seconds of the ensemble stage against the training stage. Asserts nothing.

    python benchmarks/ensembles.py [--size 3] [--max-epochs 30] [--cycle 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from sklearn import datasets

import trainwell

LOADERS = {
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--cycle", type=int, default=5)
    parser.add_argument("--datasets", default="wine,breast_cancer,diabetes")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    common = [
        f"train.max_epochs={args.max_epochs}",
        f"ensemble.size={args.size}",
        "baselines.ship=ensemble",
        "logging.progress=false",
        "logging.tensorboard=false",
        "report.energy=false",
        "report.bootstrap=0",
        "report.explain_examples=0",
    ]
    methods = {
        "seeds": ["ensemble.method=seeds"],
        "snapshot": [
            "ensemble.method=snapshot",
            "train.schedule=cosine_restarts",
            f"train.schedule.cycle_epochs={args.cycle}",
            "train.schedule.cycle_mult=1",
            f"train.patience={args.max_epochs}",  # let the cycles finish (Huang et al.)
        ],
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in args.datasets.split(","):
            frame = LOADERS[name](as_frame=True).frame  # type: ignore[operator]
            data = root / f"{name}.csv"
            frame.to_csv(data, index=False)
            for method, extra in methods.items():
                run = trainwell.fit(str(data), "target", out=root / f"{name}-{method}",
                                    overrides=[*common, *extra], quiet=True)  # fmt: skip
                note = next(f for f in run.findings if f.id.startswith("ensemble-"))
                scores = note.evidence.get("validation", {})
                singles = {k: v for k, v in scores.items() if k != "ensemble"}
                metric = "rmse" if note.evidence.get("metric") == "RMSE" else "log_loss"
                timings = json.loads((run.path / "manifest.json").read_text())["timings"]
                test = run.metrics
                rows.append(
                    {
                        "dataset": name,
                        "method": method,
                        "members": note.evidence.get("members"),
                        "metric": metric,
                        "val_ensemble": scores.get("ensemble"),
                        "val_best_single": min(singles.values()) if singles else None,
                        "beats_on_validation": "did not beat" not in note.message,
                        "test_ensemble": test["test"].get(metric),
                        "test_network": test["network"]["test"].get(metric),
                        "train_s": timings.get("train"),
                        "ensemble_s": timings.get("ensemble"),
                        "note": note.message,
                    }
                )
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "note"}))
    if args.out is not None:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
