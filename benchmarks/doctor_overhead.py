"""Doctor overhead: step time with the doctor on vs off, side by side in one run.

Two copies of each model train on the same batches; steps alternate between the watched and
the unwatched copy, so drift in machine load hits both equally. The doctor's global forward
hooks are attached only around the watched copy's steps (attaching is not timed). The loss
probe's pass-through wrappers (``torch.nn.functional`` losses, ``Tensor.backward``) stay in
place for the whole run, as in a real one, and are paused during the unwatched copy's steps
(a flag check per call): swapping them in and out every step would change ``torch.Tensor``
and ``torch.nn.functional`` each time, which drops the interpreter's cached attribute
lookups for every piece of code using them, a cost no real run pays. Each step is timed
twice: wall time (``perf_counter``) and this process's CPU time (``process_time``, which
other processes' load does not inflate). Two ratios (on / off) per case: of the median
step, and of the total over all timed steps (which counts the doctor's sampled heavy steps
and gradient reads that a median hides). The measurement is repeated and the range of each
ratio printed, for an MLP and a small CNN on CPU. Target: <= 1.05. Usage::

    python benchmarks/doctor_overhead.py [--steps 400] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from trainwell.doctor import Doctor
from trainwell.doctor.loss_probe import LossProbe
from trainwell.doctor.probes import ForwardProbe, OptimizerProbe


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 512),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(512, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


Times = dict[bool, list[tuple[float, float]]]  # watched? -> (wall, cpu) seconds per step


def measure(make: Callable[[], nn.Module], x: torch.Tensor, steps: int) -> Times:
    """(wall, CPU) seconds of each timed step, unwatched (False) and watched (True)."""
    torch.manual_seed(0)
    off = make()
    on = copy.deepcopy(off)
    opts = {m: torch.optim.AdamW(m.parameters(), 1e-3) for m in (off, on)}
    y = torch.randint(0, 10, (len(x),))
    loss_fn = nn.CrossEntropyLoss()
    times: Times = {False: [], True: []}

    def step(model: nn.Module) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        opts[model].zero_grad()
        loss_fn(model(x), y).backward()
        opts[model].step()
        return time.perf_counter() - wall, time.process_time() - cpu

    dr = Doctor(roots=[on])
    forward = ForwardProbe(dr, {id(m) for m in on.modules()})
    optimizer = OptimizerProbe(dr, opts[on]).attach()
    losses = LossProbe(dr).attach()  # functional losses and .backward(), paused when off
    for i in range(steps):
        order = (off, on) if i % 2 else (on, off)  # alternate who goes first
        for model in order:
            losses.paused = model is off
            if model is on:
                forward.attach()
            t = step(model)
            forward.remove()
            if i >= 20:  # warm-up steps are not timed
                times[model is on].append(t)
    optimizer.remove()
    losses.remove()
    if dr.step != steps or dr.findings:
        raise RuntimeError(f"doctor saw {dr.step} steps, findings: {dr.findings}")
    return times


def ratios(times: Times) -> dict[str, float]:
    """on / off: median step and total, for wall and CPU time."""
    out = {}
    for k, clock in enumerate(("wall", "cpu")):
        off = [t[k] for t in times[False]]
        on = [t[k] for t in times[True]]
        out[f"{clock} median"] = statistics.median(on) / statistics.median(off)
        out[f"{clock} total"] = sum(on) / sum(off)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Doctor overhead on CPU")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = {
        "mlp (256-512-256-10, batch 128)": (mlp, torch.randn(128, 256)),
        "cnn (2 conv + bn, 3x32x32, batch 32)": (cnn, torch.randn(32, 3, 32, 32)),
    }
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} interleaved steps, "
        f"{args.repeats} repeats; load average {os.getloadavg()[0]:.1f} at the start"
    )
    for name, (make, x) in cases.items():
        runs = [measure(make, x, args.steps) for _ in range(args.repeats)]
        off = statistics.median(t[1] for r in runs for t in r[False])
        print(f"{name}: median CPU time per step off {off * 1e3:.3f} ms")
        found = [ratios(r) for r in runs]
        for key in found[0]:
            values = sorted(f[key] for f in found)
            print(
                f"  ratio on/off, {key:12} median {statistics.median(values):.3f} "
                f"(range {values[0]:.3f}-{values[-1]:.3f})"
            )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
