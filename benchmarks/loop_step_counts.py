"""Work per optimizer step of ``loop_overhead.py``'s small case, counted, not timed.

Wall-clock step times on a shared machine swing by more than a per-step regression is worth;
counts do not. For each variant of ``loop_overhead.ours`` (clipping, monitoring only, with the
doctor) this counts, over steps 6-25 of the first epoch (no epoch boundary inside):

- Python function calls per step (``cProfile``; one row per function with ``--detail``);
- ATen operator calls per step (a ``TorchDispatchMode`` that counts, on a separate run).

It imports ``benchmarks/loop_overhead.py`` from the working directory, so it runs on an older
revision too: ``python benchmarks/against_revision.py 9ef0b64 benchmarks/loop_step_counts.py
--rounds 1 --pick "per step"``. Run alone: ``python benchmarks/loop_step_counts.py``.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import importlib.util
import pstats
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode

FIRST, LAST = 5, 25  # count from the end of step FIRST to the end of step LAST (29 per epoch)
STEPS = LAST - FIRST
VARIANTS: dict[str, dict[str, Any]] = {
    "clipping": {},
    "monitoring only": {"clip": None},
    "with the doctor": {"doctor": True},
}


class OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loop_overhead", "benchmarks/loop_overhead.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def count(bench: ModuleType, variant: str, what: str) -> tuple[float, dict[str, float]]:
    """Calls (``what="calls"``) or ATen ops per step, in total and per function or op."""
    profile, ops = cProfile.Profile(), OpCounter()

    class Window(bench.Callback):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.times: list[tuple[int, float]] = []  # read by ours() like StepClock's

        def on_step_end(self, state: Any) -> None:
            if state.step in (FIRST, LAST):
                starting = state.step == FIRST
                if what == "calls":
                    profile.enable() if starting else profile.disable()
                else:
                    ops.__enter__() if starting else ops.__exit__(None, None, None)

    bench.StepClock = Window
    rows, features, width, depth, batch = next(iter(bench.CASES.values()))
    with tempfile.TemporaryDirectory() as tmp:
        bench.ours(rows, features, width, depth, batch, Path(tmp), **VARIANTS[variant])
    if what == "calls":
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        per = {
            f"{Path(file).name}:{name}": calls / STEPS
            for (file, _, name), (_, calls, *_) in stats.items()
        }
    else:
        per = {op: n / STEPS for op, n in ops.counts.items()}
    return sum(per.values()), per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detail", action="store_true", help="list every function and op")
    args = parser.parse_args()
    bench = load_benchmark()
    print(f"small case, steps {FIRST + 1}-{LAST} of epoch 1\n")
    for variant in VARIANTS:
        calls, by_function = count(bench, variant, "calls")
        ops, by_op = count(bench, variant, "ops")
        print(f"{variant}: {calls:.1f} Python calls per step, {ops:.2f} ATen ops per step")
        if args.detail:
            for name, n in sorted({**by_function, **by_op}.items(), key=lambda kv: -kv[1]):
                print(f"    {n:8.2f}  {name}")


if __name__ == "__main__":
    main()
