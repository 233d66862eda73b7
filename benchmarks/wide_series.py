"""A table whose columns are one signal: trained as a series (default) vs as a table (TW-A01).

Synthetic wide-form data (one row per example, columns ``t0 ... t95``): three shapes (sine,
square, sawtooth) of random period and phase plus noise; the label is the shape. A table model
sees each step as an unrelated feature, and the random phase moves the pattern across columns;
a temporal CNN sees the shape wherever it lies. Both runs use the same rows, splits and seed;
the table run's LightGBM baseline is the comparison the guides ask for (TW-A08).

    .venv/bin/python benchmarks/wide_series.py [--rows 900]

Prints test accuracy of the network, each baseline and the shipped model for both layouts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import trainwell


def make(rows: int, steps: int = 96, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    data, labels = [], []
    for i in range(rows):
        shape = ["sine", "square", "sawtooth"][i % 3]
        period, phase = rng.uniform(12, 30), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * t / period + phase)
        if shape == "square":
            wave = np.sign(wave)
        elif shape == "sawtooth":
            wave = ((t / period + phase / (2 * np.pi)) % 1.0) * 2 - 1
        data.append(wave + rng.normal(0, 0.4, steps))
        labels.append(shape)
    frame = pd.DataFrame(np.array(data), columns=[f"t{i}" for i in t])
    frame["shape"] = labels
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=900)
    args = parser.parse_args()
    frame = make(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        frame.to_csv(path, index=False)
        for layout in ("auto", "table"):
            start = time.perf_counter()
            run = trainwell.fit(
                path, target="shape", out=Path(tmp) / layout, quiet=True,
                overrides=[f"data.layout={layout}", "report.energy=false"],
            )  # fmt: skip
            seconds = time.perf_counter() - start
            metrics = run.metrics
            kind = run.manifest["modality"]["kind"]
            models = {"network": metrics["network"]["test"]["accuracy"]}
            models.update({n: b["test"]["accuracy"] for n, b in metrics["baselines"].items()})
            listed = ", ".join(f"{n} {a:.3f}" for n, a in models.items())
            print(
                f"data.layout={layout}: read as {kind}; test accuracy {listed}; shipped "
                f"{metrics['shipped']} ({metrics['test']['accuracy']:.3f}); {seconds:.0f} s"
            )


if __name__ == "__main__":
    main()
