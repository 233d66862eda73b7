"""What ``loop_overhead.py``'s small case costs over its whole timed region, measured so that
the machine's load moves it little.

``loop_step_counts.py`` counts the work of steps 6-25 (calls, ATen ops); this looks at all of
each run (every step, epoch ends, validation, checkpoints) and at what counts cannot see:

- main-thread CPU time per step: the benchmark's own step intervals, clocked with
  ``time.thread_time`` instead of ``perf_counter`` (time spent waiting for a core, which is
  what a loaded machine adds, is not in it), as the median over all steps;
- per run, from ``/proc/self/task/*/schedstat``: CPU time of the main thread and of every other
  thread (OpenMP workers, TensorBoard's writers), the main thread's time waiting for a core,
  and its time slices; from ``getrusage``: page faults and context switches; from ``gc``:
  collections per generation and the time spent in them; the number of threads.

It imports ``benchmarks/loop_overhead.py`` from the working directory, so it runs on an older
revision too: ``python benchmarks/against_revision.py 9ef0b64 benchmarks/loop_region_counts.py
--rounds 2 --pick "median|per run"``. Run alone: ``python benchmarks/loop_region_counts.py``.
"""

from __future__ import annotations

import collections
import gc
import importlib.util
import os
import resource
import statistics
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPEATS = 3
VARIANTS: dict[str, dict[str, Any]] = {
    "clipping": {},
    "monitoring only": {"clip": None},
    "with the doctor": {"doctor": True},
}


def load_benchmark() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("loop_overhead", "benchmarks/loop_overhead.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def threads() -> dict[int, tuple[str, int, int, int, int]]:
    """tid -> (name, cpu ns, runqueue wait ns, time slices, voluntary context switches) for
    every thread of this process."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        task = Path(f"/proc/self/task/{tid}")
        try:
            name = (task / "comm").read_text().strip()
            run, wait, slices = map(int, (task / "schedstat").read_text().split())
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        switches = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        found[int(tid)] = (name, run, wait, slices, switches)
    return found


class GcTimer:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self.started


def measure(run: Callable[[], Any], totals: dict[str, float]) -> Any:
    """Call ``run`` and add what it cost to ``totals``."""
    main = threading_main_tid()
    timer = GcTimer()
    before_t, before_u = threads(), resource.getrusage(resource.RUSAGE_SELF)
    before_gc = [s["collections"] for s in gc.get_stats()]
    gc.callbacks.append(timer)
    try:
        result = run()
    finally:
        gc.callbacks.remove(timer)
    after_t, after_u = threads(), resource.getrusage(resource.RUSAGE_SELF)
    after_gc = [s["collections"] for s in gc.get_stats()]
    totals["runs"] += 1
    for tid, (name, run_ns, wait_ns, slices, switches) in after_t.items():
        _, run0, wait0, slices0, switches0 = before_t.get(tid, (name, 0, 0, 0, 0))
        if tid == main:
            totals["main thread CPU ms"] += (run_ns - run0) / 1e6
            totals["main thread wait-for-core ms"] += (wait_ns - wait0) / 1e6
            totals["main thread time slices"] += slices - slices0
            totals["main thread voluntary switches"] += switches - switches0
        else:
            totals[f"other threads ({name}): CPU ms"] += (run_ns - run0) / 1e6
            totals[f"other threads ({name}): voluntary switches"] += switches - switches0
    totals["threads at the end"] += len(after_t)
    totals["minor page faults"] += after_u.ru_minflt - before_u.ru_minflt
    totals["voluntary context switches"] += after_u.ru_nvcsw - before_u.ru_nvcsw
    totals["involuntary context switches"] += after_u.ru_nivcsw - before_u.ru_nivcsw
    for gen, (a, b) in enumerate(zip(after_gc, before_gc, strict=True)):
        totals[f"gc collections, generation {gen}"] += a - b
    totals["gc ms"] += timer.seconds * 1e3
    return result


def threading_main_tid() -> int:
    import threading

    tid = threading.main_thread().native_id
    assert tid is not None
    return tid


def main() -> None:
    bench = load_benchmark()
    # The benchmark's own clock, switched to this thread's CPU time: its step intervals then
    # leave out the time the thread waited for a core.
    bench.time = types.SimpleNamespace(perf_counter=time.thread_time)
    rows, features, width, depth, batch = next(iter(bench.CASES.values()))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{REPEATS} repeats interleaved; small case\n"
    )
    steps: dict[str, list[float]] = collections.defaultdict(list)
    totals: dict[str, dict[str, float]] = collections.defaultdict(
        lambda: collections.defaultdict(float)
    )
    for _ in range(REPEATS):
        steps["plain"] += measure(
            lambda: bench.plain(rows, features, width, depth, batch), totals["plain"]
        )
        for variant, kwargs in VARIANTS.items():
            with tempfile.TemporaryDirectory() as tmp:
                got = measure(
                    lambda kw=kwargs, t=tmp: bench.ours(
                        rows, features, width, depth, batch, Path(t), **kw
                    ),
                    totals[variant],
                )
            steps[variant] += got[0]
    base = statistics.median(steps["plain"])
    for name, intervals in steps.items():
        cpu = statistics.median(intervals)
        print(
            f"{name}: median step CPU (main thread) {cpu * 1e3:.4f} ms, ratio {cpu / base:.3f} "
            f"({len(intervals)} steps)"
        )
        for key, value in sorted(totals[name].items()):
            if key != "runs":
                print(f"    per run  {value / totals[name]['runs']:12.2f}  {key}")


if __name__ == "__main__":
    main()
