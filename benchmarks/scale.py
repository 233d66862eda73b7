"""Training steps per second of ``trainwell fit`` at 1 and N local processes (TW-T14).

Each case runs the real command, ``python -m trainwell fit DATA --devices N`` (gloo on CPU,
NCCL on GPUs), on the same synthetic regression table with the same global batch, so every
case takes the same optimizer steps on the same batches (trainwell.distributed). Reported:
steps per second from the median interval between two optimizer steps, read from the wall
times of rank 0's TensorBoard ``step/loss`` events (every step is logged here), and the
largest resident memory of any process of the case (``ru_maxrss`` of the waited children).
Cases are interleaved (1, N, 1, N, ...) so each sees the same machine load. Each process
gets its share of the cores (``OMP_NUM_THREADS`` = cores / N, as ``--devices`` sets it), or
``--threads`` each.

Run: ``python benchmarks/scale.py [--rows 20000] [--devices 2] [--repeats 1]``.

``--memory 1000000,10000000`` measures instead the peak memory (``ru_maxrss`` of the one
``fit`` process) of a one-process fit on synthetic Parquet tables of those many rows (18
numeric columns, one categorical, the target: 20 columns; row groups of 100,000 rows),
with the streaming reader (``data.streaming=on``, trainwell.streaming) and without it
(``off``: the whole table in memory). Tables above ``--in-memory-max`` rows are not fitted
without streaming (skipped, and the output says so). Training is cut short by one epoch
and ``train.time_budget`` so a case ends in minutes; ``--epoch-pass`` also reads one whole
streamed epoch (every row group, no training) and reports its peak RSS (``--skip-fits``: only
that). Results: ``scale.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def table(rows: int, features: int, path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(features)])
    frame["y"] = x @ rng.normal(size=features) + np.sin(x[:, 0]) + 0.1 * rng.normal(size=rows)
    frame.to_csv(path, index=False)


def fit(
    data: Path, out: Path, devices: int, epochs: int, batch: int, threads: int | None
) -> tuple[float, int]:
    """Steps per second of one run and the peak RSS (KiB) of its largest process."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["OMP_NUM_THREADS"] = str(threads or max(1, (os.cpu_count() or 1) // devices))
    command = [sys.executable, "-m", "trainwell", "fit", str(data), "--target", "y"]
    command += ["--out", str(out), "--devices", str(devices), "--quiet"]
    command += [f"train.max_epochs={epochs}", "train.patience=100", f"train.batch_size={batch}"]
    command += ["train.lr=0.001", "report.bootstrap=0", "report.energy=false"]
    command += ["baselines.lightgbm_rounds=20", "logging.progress=false", "logging.log_every=1"]
    # A fresh wrapper per case: its RUSAGE_CHILDREN covers this case's processes only (the
    # launcher and its workers), not the cases before it.
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"--devices {devices} failed:\n{done.stderr[-3000:]}")
    peak = int(done.stdout.split()[-1])
    manifest = json.loads((out / "manifest.json").read_text())
    per_epoch = -(-manifest["splits"]["sizes"]["train"] // batch)
    return 1.0 / step_seconds(out / "tensorboard", per_epoch), peak


def step_seconds(folder: Path, per_epoch: int) -> float:
    """Median seconds between consecutive optimizer steps within an epoch, from the wall
    times TensorBoard recorded with ``step/loss`` (written every step here); intervals that
    cross an epoch's end (validation, checkpoint) are left out, as in loop_overhead.py."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for events in sorted(folder.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        if "step/loss" in acc.Tags()["scalars"]:
            points = acc.Scalars("step/loss")
            gaps = [
                b.wall_time - a.wall_time
                for a, b in itertools.pairwise(points)
                if b.step == a.step + 1 and a.step % per_epoch != 0  # steps count from 1
            ]
            return statistics.median(gaps)
    raise SystemExit(f"no step/loss events under {folder}")


_MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(code)
"""


def parquet_table(rows: int, path: Path, group_rows: int = 100_000) -> None:
    """A synthetic regression table written one row group at a time (never whole in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    coef = rng.normal(size=18)
    writer = None
    for start in range(0, rows, group_rows):
        n = min(group_rows, rows - start)
        x = rng.normal(size=(n, 18)).astype(np.float32)
        cat = rng.choice(np.array(["red", "green", "blue", "grey", "pink", "teal"]), n)
        y = x @ coef + np.sin(x[:, 0]) + (cat == "red") + 0.1 * rng.normal(size=n)
        columns = {f"x{i}": x[:, i] for i in range(18)} | {"cat": cat, "y": y}
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=group_rows)
    assert writer is not None
    writer.close()


def fit_memory(data: Path, out: Path, streaming: str, budget: str) -> dict[str, float]:
    """Peak RSS (MiB) of one ``fit`` process, its wall seconds and optimizer steps."""
    import time

    command = [sys.executable, "-m", "trainwell", "fit", str(data), "--target", "y"]
    command += ["--out", str(out), "--quiet", f"data.streaming={streaming}", "data.layout=table"]
    command += ["train.max_epochs=1", f"train.time_budget={budget}", "train.lr=0.001"]
    command += ["report.bootstrap=0", "report.energy=false", "report.importance_repeats=1"]
    command += ["baselines.lightgbm_rounds=20", "logging.progress=false"]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"data.streaming={streaming} failed:\n{done.stderr[-3000:]}")
    log = json.loads((out / "training_log.json").read_text())
    steps = log["steps"]["step"][-1] if log.get("steps", {}).get("step") else float("nan")
    return {"peak_mib": int(done.stdout.split()[-1]) / 1024, "seconds": seconds, "steps": steps}


_EPOCH = """
import resource, sys, time
import numpy as np, torch
from trainwell.config import options_config
from trainwell.pipeline import prepare
cfg = options_config(None, ["data.streaming=on", "data.layout=table"], target="y")
start = time.perf_counter()
stream = prepare(sys.argv[1], cfg, audit=False).samples.stream
data = stream.batches(lambda y: torch.from_numpy(y.astype(np.float32)), 1024, seed=0,
                      device=torch.device("cpu"))
rows = sum(len(t) for _, t in data.epoch(0))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(rows, stream.n_train, len(data), round(time.perf_counter() - start), peak)
"""


def epoch_pass(data: Path) -> str:
    """Peak RSS of reading a streamed file's whole training epoch (prepare, then every batch
    of epoch 0 at 1024 rows, no training): does memory stay flat over every row group?"""
    done = subprocess.run(
        [sys.executable, "-c", _EPOCH, str(data)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"epoch pass failed:\n{done.stderr[-3000:]}")
    rows, n_train, batches, seconds, peak = done.stdout.split()[-5:]
    return (
        f"  one streamed epoch, no training: {rows} of {n_train} training rows in {batches} "
        f"batches, peak RSS {int(peak) / 1024:.0f} MiB, {seconds} s wall"
    )


def memory(
    sizes: list[int],
    in_memory_max: int,
    budget: str,
    epoch: bool,
    skip_fits: bool = False,
    modes: tuple[str, ...] = ("on", "off"),
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            data = Path(tmp) / f"table-{rows}.parquet"
            parquet_table(rows, data)
            mib = data.stat().st_size / 2**20
            print(f"{rows} rows x 20 columns, Parquet {mib:.0f} MiB, budget {budget}:")
            for streaming in () if skip_fits else modes:
                if streaming == "off" and rows > in_memory_max:
                    print(f"  streaming off: skipped (above --in-memory-max {in_memory_max})")
                    continue
                got = fit_memory(data, Path(tmp) / f"run-{rows}-{streaming}", streaming, budget)
                print(
                    f"  streaming {streaming:3}: peak RSS {got['peak_mib']:7.0f} MiB, "
                    f"{got['seconds']:5.0f} s wall, {got['steps']} optimizer steps",
                    flush=True,
                )
            if epoch:
                print(epoch_pass(data), flush=True)
            data.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", default=None, help="rows of each table, comma-separated")
    parser.add_argument("--in-memory-max", type=int, default=1_000_000)
    parser.add_argument("--budget", default="60s", help="train.time_budget of a memory case")
    parser.add_argument(
        "--epoch-pass", action="store_true", help="also read one whole streamed epoch"
    )
    parser.add_argument("--skip-fits", action="store_true", help="only the epoch pass")
    parser.add_argument(
        "--modes", default="on,off", help="data.streaming values of a memory case, in order"
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=None, help="OpenMP threads per process (cores / N)"
    )
    args = parser.parse_args()
    if args.memory:
        sizes = [int(r) for r in args.memory.split(",")]
        modes = tuple(args.modes.split(","))
        memory(sizes, args.in_memory_max, args.budget, args.epoch_pass, args.skip_fits, modes)
        return
    results: dict[int, list[float]] = {1: [], args.devices: []}
    peaks: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "table.csv"
        table(args.rows, args.features, data)
        for repeat in range(args.repeats):
            for devices in results:
                out = Path(tmp) / f"run-{devices}-{repeat}"
                rate, peak = fit(data, out, devices, args.epochs, args.batch, args.threads)
                results[devices].append(rate)
                peaks[devices] = peak
    print(
        f"{args.rows} rows x {args.features} features, global batch {args.batch}, "
        f"{args.epochs} epochs, {os.cpu_count()} cores, OpenMP threads per process: "
        f"{args.threads or 'cores / N'}"
    )
    base = statistics.median(results[1])
    for devices, rates in results.items():
        rate = statistics.median(rates)
        print(
            f"  {devices} process(es): {rate:7.1f} steps/s  ({rate / base:4.2f}x of 1)  "
            f"largest process {peaks[devices] / 1024:.0f} MiB peak RSS; every repeat: "
            + ", ".join(f"{r:.1f}" for r in rates)
        )


if __name__ == "__main__":
    main()
