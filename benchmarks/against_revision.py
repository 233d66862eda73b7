"""Run one benchmark on this tree and on an older revision, alternately, to compare them.

"Ratios no worse than before" can only be judged side by side: two runs of the same benchmark
an hour apart on a shared machine disagree by more than most changes are worth. This checks
``REV`` out into a temporary git worktree and runs ``BENCHMARK`` there and here in turn,
``--rounds`` times, so both see the same load; the side that runs first alternates between
rounds (old, new; new, old; ...), since load that rises or falls during a run would otherwise
favour one side. ``--control`` adds a third side, a second copy of this tree's HEAD, which
shows how far two copies of the same code read apart under the same conditions (the orders
then rotate through all six). Each run's own
output (its ratios against its own plain baseline) is printed under a heading, and the lines
matching ``--pick`` are collected at the end per side.

Run: ``python benchmarks/against_revision.py 9ef0b64 benchmarks/loop_overhead.py --rounds 3``.
The older revision runs with the same interpreter and installed packages, its own ``src``
first on ``PYTHONPATH``; the benchmark file is taken from that revision when it exists there.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(tree: Path, benchmark: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    script = tree / benchmark if (tree / benchmark).exists() else ROOT / benchmark
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{script} failed in {tree}:\n{done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="the older git revision (commit, tag or branch)")
    parser.add_argument("benchmark", help="path of the benchmark script, from the repo root")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument(
        "--pick", default=r"ratio", help="regex of the output lines to summarize (default: ratio)"
    )
    parser.add_argument(
        "--control", action="store_true", help="add a second copy of HEAD as a third side"
    )
    args = parser.parse_args()
    sides = ["old", "new", "copy"] if args.control else ["old", "new"]
    orders = list(itertools.permutations(sides)) if args.control else [sides, sides[::-1]]
    if args.control:  # each side first, second and last equally often, over six rounds
        orders = [orders[i] for i in (0, 3, 4, 1, 2, 5)]
    picked: dict[str, list[str]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"new": ROOT}
        for side, revision in (("old", args.revision), ("copy", "HEAD")):
            if side in sides:
                trees[side] = Path(tmp) / side
                subprocess.run(
                    ["git", "worktree", "add", "--detach", "-q", str(trees[side]), revision],
                    cwd=ROOT,
                    check=True,
                )
        try:
            for i in range(args.rounds):
                for side in orders[i % len(orders)]:
                    tree = trees[side]
                    out = run(tree, args.benchmark)
                    name = {"old": args.revision, "new": "HEAD", "copy": "HEAD, second copy"}
                    load = os.getloadavg()[0]
                    print(f"===== round {i + 1}, {side} ({name[side]}), load {load:.2f}")
                    print(out, flush=True)
                    section = ""
                    for line in out.splitlines():
                        if line and not line.startswith(" "):
                            section = line.split(":")[0]
                        if re.search(args.pick, line):
                            picked[side].append(f"round {i + 1} | {section} | {line.strip()}")
        finally:
            for side, tree in trees.items():
                if side != "new":
                    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT)
    for side in sides:
        print(f"\n== {side}")
        print("\n".join(sorted(picked[side], key=lambda s: s.split("|", 1)[1])))


if __name__ == "__main__":
    main()
