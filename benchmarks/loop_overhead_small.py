"""``loop_overhead.py`` on its small case only (455 rows, batch 16: ~1 ms steps).

The small case is where per-step Python work shows; the medium one takes most of the run's
time. This runs the ``benchmarks/loop_overhead.py`` of the working directory, so under
``benchmarks/against_revision.py`` each revision runs its own copy:
``python benchmarks/against_revision.py 9ef0b64 benchmarks/loop_overhead_small.py --rounds 2``.
"""

from __future__ import annotations

import importlib.util

spec = importlib.util.spec_from_file_location("loop_overhead", "benchmarks/loop_overhead.py")
assert spec is not None
assert spec.loader is not None
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
bench.CASES = {name: case for name, case in bench.CASES.items() if name.startswith("small")}

if __name__ == "__main__":
    bench.main()
