"""Start-up cost of the zero-code doctor (issue 12): ``trainwell doctor -- python -c pass``
against plain ``python -c pass``, and the same for a script that imports torch.

Each round runs the plain command and the doctored one back to back (order alternating), so
both see the same load; the median wall time of each side over the rounds, their difference in
milliseconds and their ratio are printed, with ``uptime`` before and after. So is the CPU time
(user + system) of each command's whole process tree (``trainwell doctor`` and the script it
runs), which other processes' load inflates far less than wall time.

Run: ``python benchmarks/doctor_startup.py --rounds 10``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

CHILDREN = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}
DOCTOR = [sys.executable, "-m", "trainwell", "doctor", "--"]


def wall(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``command`` and every process it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for name, child in CHILDREN.items():
        plain: list[tuple[float, float]] = []
        doctored: list[tuple[float, float]] = []
        wall(child), wall(DOCTOR + child)  # warm the file cache
        for i in range(args.rounds):
            pair = [(plain, child), (doctored, DOCTOR + child)]
            for times, command in pair if i % 2 == 0 else pair[::-1]:
                times.append(wall(command))
        for k, clock in enumerate(("wall", "CPU")):
            p = statistics.median(t[k] for t in plain)
            d = statistics.median(t[k] for t in doctored)
            print(
                f"{name}, {clock}: plain {p * 1000:.0f} ms, under the doctor {d * 1000:.0f} ms "
                f"(+{(d - p) * 1000:.0f} ms, {d / p:.2f}x; medians of {args.rounds})"
            )
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
