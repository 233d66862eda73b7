"""Instructions and simulated cache misses per step of ``loop_overhead.py``'s small case, by
phase of the whole run: steps inside each epoch, and the two epoch boundaries.

Counts, not times: valgrind's callgrind counts the instructions executed (``Ir``) and, with
``--cache-sim=yes``, the misses of a simulated cache (first level ``I1``/``D1`` and an ``LL``
sized like this machine's per-core L2: 32 KiB 8-way L1s, 1 MiB 8-way L2), which a loaded
machine does not move. One thread (``OMP_NUM_THREADS=1``): valgrind runs threads one at a
time, so OpenMP's spin-waits would otherwise be counted as work.

Each of the benchmark's runs (the plain loop, then ``ours`` with clipping, monitoring only and
the doctor) is run once to warm up, then once more with instrumentation on; its step clock
(``time.perf_counter``, called once per step on both sides) zeroes and dumps the counters at
fixed steps, so each phase is counted alone: steps 3-28 of epoch 1 (26 steps), the interval
that spans the end of epoch 1 (validation, checkpoint, epoch logs, then step 30), steps
32-57, the end of epoch 2, steps 61-86.

Needs ``valgrind`` and a C compiler with ``valgrind/callgrind.h`` (says so and exits 0 when
missing). Runs on an older revision too (it imports ``benchmarks/loop_overhead.py`` from the
working directory): ``python benchmarks/against_revision.py 9ef0b64
benchmarks/loop_callgrind_phases.py --rounds 1 --pick "per step"``. Takes ~10 minutes.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

CACHE = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=1048576,8,64"]
VARIANTS: dict[str, dict[str, Any]] = {
    "clipping": {},
    "monitoring only": {"clip": None},
    "with the doctor": {"doctor": True},
}
# the k-th clock call ends step k (29 steps per epoch): zero the counters there, or dump them
PLAN = {
    2: "zero",
    28: "dump epoch 1 steps",
    29: "zero",
    30: "dump epoch 1 end",
    31: "zero",
    57: "dump epoch 2 steps",
    58: "zero",
    59: "dump epoch 2 end",
    60: "zero",
    86: "dump epoch 3 steps",
}
STEPS = {"steps": 26, "end": 1}  # intervals in a phase
CLIENT = r"""
#include <valgrind/callgrind.h>
void start(void) { CALLGRIND_START_INSTRUMENTATION; }
void stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void zero(void) { CALLGRIND_ZERO_STATS; }
void dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def inside(library: str) -> None:
    """Under valgrind: run the benchmark and dump the counters at the planned steps."""
    client = ctypes.CDLL(library)
    spec = importlib.util.spec_from_file_location("loop_overhead", "benchmarks/loop_overhead.py")
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows, features, width, depth, batch = next(iter(bench.CASES.values()))
    state = {"calls": 0, "run": "", "on": False}

    def clock() -> float:
        state["calls"] += 1
        action = PLAN.get(state["calls"]) if state["on"] else None
        if action == "zero":
            client.zero()
        elif action is not None:
            client.dump(f"{state['run']}|{action.removeprefix('dump ')}".encode())
        return time.perf_counter()

    bench.time = types.SimpleNamespace(perf_counter=clock)

    def runs() -> dict[str, Any]:
        def ours(kwargs: dict[str, Any]) -> Any:
            def call() -> None:
                with tempfile.TemporaryDirectory() as tmp:
                    bench.ours(rows, features, width, depth, batch, Path(tmp), **kwargs)

            return call

        found: dict[str, Any] = {"plain": lambda: bench.plain(rows, features, width, depth, batch)}
        return found | {name: ours(kwargs) for name, kwargs in VARIANTS.items()}

    for run in runs().values():  # warm-up: lazy imports and first-call caches
        run()
    client.start()
    for name, run in runs().items():
        state.update(calls=0, run=name, on=True)
        run()
        state["on"] = False
    client.stop()


def read(folder: Path) -> dict[tuple[str, str], dict[str, int]]:
    found = {}
    for dump in folder.glob("callgrind.out.*.*"):
        trigger, events, summary = "", [], []
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger: Client Request:"):
                trigger = line.split("Request:", 1)[1].strip()
            elif line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:"):
                summary = [int(x) for x in line.split()[1:]]
        if "|" in trigger:
            run, phase = trigger.split("|", 1)
            found[(run, phase)] = dict(zip(events, summary, strict=True))
    return found


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--inside":
        inside(sys.argv[2])
        return
    compiler = shutil.which("cc") or shutil.which("gcc")
    if shutil.which("valgrind") is None or compiler is None:
        print("needs valgrind and a C compiler; skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "client.c").write_text(CLIENT)
        built = subprocess.run(
            [compiler, "-O1", "-shared", "-fPIC", "-o", str(folder / "client.so"),
             str(folder / "client.c")],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if built.returncode:
            print(f"could not build the callgrind client (valgrind/callgrind.h?); skipped\n"
                  f"{built.stderr[-500:]}")  # fmt: skip
            return
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes", *CACHE,
            f"--callgrind-out-file={folder}/callgrind.out.%p",
            sys.executable, __file__, "--inside", str(folder / "client.so"),
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"valgrind run failed:\n{done.stderr[-2000:]}")
        counts = read(folder)
    print("small case, 1 thread; per step: Ir (instructions), L1 and L2 misses (simulated)\n")
    for run in ("plain", *VARIANTS):
        print(f"{run}:")
        for (name, phase), c in sorted(counts.items()):
            if name != run:
                continue
            n = STEPS[phase.split()[-1]]
            l2 = (c["ILmr"] + c["DLmr"] + c["DLmw"]) / n
            print(
                f"  {phase:14s} per step  Ir {c['Ir'] / n:12,.0f}  I1 miss {c['I1mr'] / n:8,.0f}"
                f"  D1 miss {(c['D1mr'] + c['D1mw']) / n:8,.0f}  L2 miss {l2:8,.0f}"
            )


if __name__ == "__main__":
    main()
