"""Median step time of trainwell's loop (defaults on) against a plain PyTorch loop.

trainwell's side runs what ``fit`` runs around each step: gradient clipping with norm
monitoring, the warmup-cosine scheduler, the training log (per-step loss, LR, gradient norm),
TensorBoard logging every 10 steps, and per epoch validation, early stopping and an atomic
checkpoint; a third variant adds the training doctor (on in ``fit`` by default; its own cost
is measured by ``doctor_overhead.py``). The plain side is the 15-line loop.

Step time is the interval between two consecutive optimizer steps inside an epoch, recorded
the same way on both sides (a ``perf_counter`` after each step); intervals that span an epoch
boundary are reported separately as epoch overhead. Runs are interleaved (plain, trainwell,
plain, ...) so both see the same machine load. Run: ``python benchmarks/loop_overhead.py``.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from trainwell.doctor import DoctorCallback
from trainwell.models.tabular import build_head
from trainwell.train.callback import Callback
from trainwell.train.callbacks import Checkpointing, EarlyStopping, GradientNorm, TensorBoardLogger
from trainwell.train.callbacks.history import TrainingLog
from trainwell.train.loop import InMemoryData, train
from trainwell.train.precision import Precision
from trainwell.train.schedule import warmup_cosine
from trainwell.train.state import TrainState

CASES = {  # name: (rows, features, width, depth, batch): what fit picks for such data
    "small (455 rows, like breast_cancer)": (455, 30, 64, 1, 16),
    "medium (20k rows x 50 features)": (20_000, 50, 256, 3, 128),
}
EPOCHS, REPEATS = 3, 3


class StepClock(Callback):
    def __init__(self) -> None:
        self.times: list[tuple[int, float]] = []

    def on_step_end(self, state: TrainState) -> None:
        self.times.append((state.epoch, time.perf_counter()))


def split_intervals(times: list[tuple[int, float]]) -> tuple[list[float], list[float]]:
    steps, boundaries = [], []
    for (e0, t0), (e1, t1) in itertools.pairwise(times):
        (steps if e0 == e1 else boundaries).append(t1 - t0)
    return steps, boundaries


def make(
    rows: int, features: int, width: int, depth: int
) -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(rows, features, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    torch.manual_seed(0)
    spec = {
        "type": "mlp",
        "in": features,
        "out": 2,
        "width": width,
        "depth": depth,
        "dropout": 0.2,
        "activation": "relu",
    }
    return build_head(spec), x, y, x[: rows // 10], y[: rows // 10]


def plain(rows: int, features: int, width: int, depth: int, batch: int) -> list[float]:
    model, x, y, _, _ = make(rows, features, width, depth)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(rows, generator=torch.Generator().manual_seed(epoch))
        for start in range(0, rows, batch):
            rows_ = order[start : start + batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[rows_]), y[rows_])
            loss.backward()
            opt.step()
            times.append((epoch, time.perf_counter()))
    return split_intervals(times)[0]


def ours(
    rows: int,
    features: int,
    width: int,
    depth: int,
    batch: int,
    folder: Path,
    clip: float | None = 1.0,
    doctor: bool = False,
) -> tuple[list[float], list[float]]:
    model, x, y, xv, yv = make(rows, features, width, depth)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = InMemoryData((x,), y, batch)
    sched = warmup_cosine(opt, total_steps=len(data) * 100, warmup_steps=len(data))
    precision = Precision("fp32")
    early = EarlyStopping(patience=10)
    clock = StepClock()

    @torch.no_grad()
    def validate(m: nn.Module) -> dict[str, float]:
        m.eval()
        return {"val_loss": float(nn.functional.cross_entropy(m(xv), yv))}

    callbacks: list[Callback] = [GradientNorm(clip), early, TrainingLog(folder / "log.json")]
    if doctor:
        callbacks.append(DoctorCallback())
    callbacks += [
        Checkpointing(folder / "ckpt", [early], precision),
        TensorBoardLogger(folder / "tb", every=10),
        clock,
    ]
    train(
        model,
        opt,
        nn.functional.cross_entropy,
        data,
        max_epochs=EPOCHS,
        scheduler=sched,
        callbacks=callbacks,
        validate=validate,
        precision=precision,
    )
    return split_intervals(clock.times)


def main() -> None:
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{EPOCHS} epochs x {REPEATS} repeats, interleaved\n"
    )
    for name, (rows, features, width, depth, batch) in CASES.items():
        base: list[float] = []
        mine: list[float] = []
        unclipped: list[float] = []
        doctored: list[float] = []
        boundary: list[float] = []
        for _ in range(REPEATS):
            base += plain(rows, features, width, depth, batch)
            with tempfile.TemporaryDirectory() as tmp:
                steps, bounds = ours(rows, features, width, depth, batch, Path(tmp))
            mine += steps
            boundary += bounds
            with tempfile.TemporaryDirectory() as tmp:
                unclipped += ours(rows, features, width, depth, batch, Path(tmp), clip=None)[0]
            with tempfile.TemporaryDirectory() as tmp:
                doctored += ours(rows, features, width, depth, batch, Path(tmp), doctor=True)[0]
        b, m = statistics.median(base), statistics.median(mine)
        u = statistics.median(unclipped)
        d = statistics.median(doctored)
        print(f"{name}: width {width}, depth {depth}, batch {batch}")
        print(f"  plain loop      median step {b * 1e3:8.3f} ms  ({len(base)} steps)")
        print(f"  trainwell loop  median step {m * 1e3:8.3f} ms  ({len(mine)} steps)")
        print(f"  ratio (trainwell / plain): {m / b:.3f}   target <= 1.05")
        print(
            "  without clipping (monitoring only, norm every 10 steps): "
            f"{u * 1e3:.3f} ms, ratio {u / b:.3f}"
        )
        print(
            f"  with the training doctor too (fit's default): {d * 1e3:.3f} ms, ratio {d / b:.3f}"
        )
        print(
            "  per-epoch work (validation, early stopping, checkpoint): "
            f"median {statistics.median(boundary) * 1e3:.1f} ms per epoch\n"
        )


if __name__ == "__main__":
    main()
