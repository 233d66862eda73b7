"""How long the audit takes on a generated 100,000-row x 50-column table (issue 3: < 20 s).

Prints the time of every check and the total of one ``run_audit`` call; asserts nothing.

    python benchmarks/audit_speed.py [--rows 100000] [--columns 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from trainwell.audit import audit_steps, run_audit
from trainwell.config import DataConfig, SplitConfig
from trainwell.data import build_dataset
from trainwell.split import make_splits


def make_table(n_rows: int, n_columns: int, seed: int) -> pd.DataFrame:
    """A mixed table: 70% numeric columns (2% missing), 30% categorical, a binary target.

    The target depends on a few columns plus noise, like real tabular data.
    """
    rng = np.random.default_rng(seed)
    n_categorical = int(n_columns * 0.3)
    n_numeric = n_columns - n_categorical
    numbers = rng.normal(size=(n_rows, n_numeric))
    columns: dict[str, object] = {}
    for j in range(n_numeric):
        values = numbers[:, j].copy()
        values[rng.random(n_rows) < 0.02] = np.nan
        columns[f"num_{j}"] = values
    for j in range(n_categorical):
        levels = np.array([f"level_{k}" for k in range(3 + j * 2)])
        columns[f"cat_{j}"] = levels[rng.integers(0, len(levels), n_rows)]
    signal = numbers[:, 0] + 0.5 * numbers[:, 1] - 0.5 * numbers[:, 2]
    signal += (columns["cat_0"] == "level_0").astype(float)
    columns["target"] = np.where(signal + rng.normal(size=n_rows) > 0.3, "yes", "no")
    return pd.DataFrame(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frame = make_table(args.rows, args.columns, args.seed)
    dataset = build_dataset(frame, DataConfig(target="target"), "generated", "-")
    splits = make_splits(dataset, SplitConfig(), seed=args.seed)
    print(f"table: {dataset.n_rows} rows x {len(dataset.features)} feature columns + target")

    print("per check (each run once, separately):")
    for name, run in audit_steps(dataset, splits, seed=args.seed):
        start = time.perf_counter()
        found = run()
        elapsed = time.perf_counter() - start
        ids = ", ".join(f"{f.id}:{f.severity}" for f in found) or "-"
        print(f"  {name:<26} {elapsed:6.2f} s   {ids}")

    start = time.perf_counter()
    findings = run_audit(dataset, splits, seed=args.seed)
    total = time.perf_counter() - start
    print(f"run_audit total: {total:.2f} s ({len(findings)} findings)")


if __name__ == "__main__":
    main()
