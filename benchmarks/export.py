"""Export and compression side by side (issue 16): ONNX Runtime vs eager PyTorch latency for
a shipped MLP and CNN, int8 vs fp32 speed and metric, size ratios, in one run.

Fits two runs as a user would (``trainwell.fit``, the shipped network forced with
``baselines.ship=network``):

* ``mlp``: a Linear-heavy residual MLP (``model.width=512 model.depth=3``) on a generated
  20,000-row table (benchmarks/audit_speed.py's generator, 20 columns), the case dynamic
  int8 quantization targets;
* ``cnn``: the small CNN on scikit-learn's 1,797 8x8 digits written as PNG files.

Then ``compress_run`` measures each variant on the validation split (latency p50/p95 at batch
1 and 64 on this machine's CPU, throughput, file size, validation metric) and this script
prints the table and the ratios. Asserts nothing. Latencies on a shared machine are noisy:
compare the ratios within one run, and read the load average printed with them.

    python benchmarks/export.py [--workdir DIR] [--rows 20000] [--epochs 10]

Then the latencies are measured again side by side: the eager network, its ONNX file and the
int8 file called in turn, round after round (the order rotated each round), so that each
round's ratio compares the three under the same load; the range of the per-round ratios is
printed. Results and the load: ``benchmarks/export.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

import trainwell
from trainwell.export.compress import _torch_runner, compress_run
from trainwell.export.data import reopen
from trainwell.export.formats import OnnxCandidate
from trainwell.run import Run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_speed import make_table


def write_digits(folder: Path) -> Path:
    digits = load_digits()
    for i, (img, y) in enumerate(zip(digits.images, digits.target, strict=True)):
        (folder / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).astype(np.uint8)).save(folder / str(y) / f"{i:04d}.png")
    return folder


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    by = {r["variant"]: r for r in rows if "validation" in r}
    eager, onnx, int8 = by["fp32 eager"], by["fp32 onnx"], by["int8 onnx"]

    def lat(row: dict[str, Any], batch: str) -> float:
        return float(row["latency_ms"][batch]["p50"])

    return {
        "eager/onnx latency @1": lat(eager, "batch_1") / lat(onnx, "batch_1"),
        "eager/onnx latency @64": lat(eager, "batch_64") / lat(onnx, "batch_64"),
        "fp32/int8 onnx latency @1": lat(onnx, "batch_1") / lat(int8, "batch_1"),
        "fp32/int8 onnx latency @64": lat(onnx, "batch_64") / lat(int8, "batch_64"),
        "int8 metric drop (points)": onnx["validation"] - int8["validation"],
        "fp32/int8 onnx bytes": onnx["bytes"] / int8["bytes"],
        "eager safetensors/onnx bytes": eager["bytes"] / onnx["bytes"],
    }


def _one_thread(data: bytes) -> Any:
    """An ONNX Runtime session on one intra-op thread, as eager PyTorch runs here
    (``OMP_NUM_THREADS=1``); trainwell's own sessions take ONNX Runtime's default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(inputs: tuple[Any, ...]) -> Any:
        return session.run(None, {n: x.numpy() for n, x in zip(names, inputs, strict=True)})[0]

    return run


def side_by_side(run_dir: Path, rounds: int, calls: dict[int, int]) -> dict[str, list[float]]:
    """Per-round latency ratios of the eager network, its ONNX file (trainwell's session, and
    one on one thread) and the int8 file, timed in turn within each round (order rotated;
    each side's median of ``calls`` single calls); {ratio name: one value per round}."""
    run = Run(run_dir)
    validation, _ = reopen(run).split("validation")
    task = run.model.task
    folder = run_dir / "export" / "variants"
    fp32, int8 = (folder / "fp32.onnx").read_bytes(), (folder / "int8.onnx").read_bytes()
    runners = {
        "eager": _torch_runner(run.model.candidate.model),  # type: ignore[attr-defined]
        "onnx": OnnxCandidate("onnx", fp32, task, "network").run,
        "int8": OnnxCandidate("int8", int8, task, "network").run,
        "onnx 1 thread": _one_thread(fp32),
        "int8 1 thread": _one_thread(int8),
    }
    ratios: dict[str, list[float]] = {}
    for batch, n_calls in calls.items():
        rows = np.arange(batch) % len(validation.inputs[0])
        x = tuple(t[rows] for t in validation.inputs)
        for run_one in runners.values():
            run_one(x)  # warm-up
        for r in range(rounds):
            names = list(runners)
            names = names[r % len(names) :] + names[: r % len(names)]
            took = {}
            for name in names:
                seconds = []
                for _ in range(n_calls):
                    start = time.perf_counter()
                    runners[name](x)
                    seconds.append(time.perf_counter() - start)
                took[name] = float(np.median(seconds))
            pairs = {
                "eager/onnx": ("eager", "onnx"),
                "eager/onnx 1 thread": ("eager", "onnx 1 thread"),
                "fp32/int8 onnx": ("onnx", "int8"),
                "fp32/int8 onnx 1 thread": ("onnx 1 thread", "int8 1 thread"),
            }
            for label, (a, b) in pairs.items():
                ratios.setdefault(f"{label} @{batch}", []).append(took[a] / took[b])
            for name in ("eager", "onnx", "onnx 1 thread"):
                ratios.setdefault(f"{name} ms @{batch}", []).append(took[name] * 1e3)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="trainwell-export-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    common = [
        f"train.max_epochs={args.epochs}", "baselines.ship=network", "logging.progress=false",
        "report.energy=false", "report.explain_examples=0", "report.importance_repeats=1",
    ]  # fmt: skip
    table = work / "table.csv"
    make_table(args.rows, 20, seed=0).to_csv(table, index=False)
    photos = write_digits(work / "digits")
    cases = {
        "mlp": (table, {"target": "target"}, ["model.width=512", "model.depth=3"]),
        "cnn": (photos, {"target": "label"}, []),
    }
    summary = {}
    for name, (data, options, extra) in cases.items():
        start = time.perf_counter()
        run = trainwell.fit(
            data, out=work / name, overrides=[*common, *extra], quiet=True, **options
        )
        fitted = time.perf_counter() - start
        rows = compress_run(run.path, sparsities=(0.5, 0.9), epochs=2, repeats=200)
        print(f"\n## {name}: fit {fitted:.0f} s, {run.manifest['network']['parameters']} params")
        print((run.path / "export" / "variants.md").read_text())
        summary[name] = ratios(rows)
        paired = side_by_side(run.path, args.rounds, {1: 41, 64: 11})
        for key, values in paired.items():
            low, mid, high = np.percentile(values, [0, 50, 100])
            print(f"{name} side by side {key}: median {mid:.2f}, range {low:.2f}-{high:.2f}")
    print(f"torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for name, values in summary.items():
        print(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in values.items()))


if __name__ == "__main__":
    main()
