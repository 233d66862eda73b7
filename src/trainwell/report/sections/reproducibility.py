"""7 · Reproducibility (TW-R02): the manifest in readable form and the command to re-run."""

from __future__ import annotations

import json
from typing import Any

from trainwell.report.load import RunFiles


def _flatten(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


def build(run: RunFiles) -> dict[str, Any]:
    manifest = run.manifest
    env = manifest.get("environment", {})
    data = manifest.get("data", {})
    git = manifest.get("git") or {}
    return {
        "reproduce": manifest.get("reproduce"),
        "seed": manifest.get("seed"),
        "versions": {
            "python": env.get("python"),
            "trainwell": env.get("trainwell"),
            "torch": env.get("torch"),
            "cuda": env.get("cuda"),
            "cudnn": env.get("cudnn"),
            **(env.get("packages") or {}),
        },
        "hardware": {**(env.get("hardware") or {}), "platform": env.get("platform")},
        "git": git,
        "data": {
            "source": data.get("source"),
            "path": data.get("path"),
            "sha256": data.get("sha256"),
            "rows": data.get("rows"),
        },
        "split_hashes": manifest.get("splits", {}).get("hashes", {}),
        "test_set": manifest.get("test_set"),
        "resumed": manifest.get("resumed", []),
        "started": manifest.get("started"),
        "finished": manifest.get("finished"),
        "config": _flatten(manifest.get("config", {})),
        "manifest_json": json.dumps(manifest, indent=2, default=str),
    }
