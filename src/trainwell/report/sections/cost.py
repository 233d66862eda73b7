"""8 · Cost (TW-R04): time per stage and codecarbon's energy and carbon estimate."""

from __future__ import annotations

from typing import Any

from trainwell.export.report import variants_section
from trainwell.report.load import RunFiles


def build(run: RunFiles) -> dict[str, Any]:
    timings = run.manifest.get("timings", {})
    energy = run.energy or {}
    sessions = energy.get("sessions", [])
    measured = [s for s in sessions if "energy_kwh" in s]
    enabled = run.config.get("report", {}).get("energy", True)
    return {
        "timings": timings,
        "total_seconds": sum(timings.values()) if timings else None,
        "train_seconds": timings.get("train"),
        "enabled": enabled,
        "sessions": sessions,
        "total": energy.get("total"),
        "assumptions": measured[-1]["assumptions"] if measured else [],
        "errors": [s["error"] for s in sessions if "error" in s],
        "variants": variants_section(run.path),  # trainwell compress (TW-P08)
    }
