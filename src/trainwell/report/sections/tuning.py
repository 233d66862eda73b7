"""Tuning and cross-validation (TW-H01-H03, D05): the study that chose this run's config,
and the spread of the validation metrics over K folds (``split.cv``).

Read from ``study.json``: every trial's state, validation loss, parameters and time; Optuna's
parameter importances (fANOVA) when at least two trials completed; pruned trials with the
reason (the doctor's finding or Optuna's pruner); the share of trial time pruning saved.
Absent for a run made by ``trainwell fit``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from trainwell.report.figures import PALETTE, Figure, _axes, _encode
from trainwell.report.load import RunFiles


def trials_over_time(trials: Sequence[dict[str, Any]]) -> Figure:
    """Each finished trial's validation loss in the order trials finished, the best so far as
    a step line; pruned trials marked at their last reported value (none when the doctor
    stopped them before an epoch ended)."""
    ordered = sorted(
        (t for t in trials if t["state"] in {"complete", "pruned"}),
        key=lambda t: (t.get("finished") or "", t["number"]),
    )
    with _axes(height=2.8) as (fig, ax):
        xs = list(range(1, len(ordered) + 1))
        done = [
            (x, t["value"]) for x, t in zip(xs, ordered, strict=True) if t["state"] == "complete"
        ]
        if done:
            ax.scatter(*zip(*done, strict=True), color=PALETTE[0], label="completed", zorder=3)
            best, line = math.inf, []
            for t in ordered:
                if t["state"] == "complete" and t["value"] is not None:
                    best = min(best, t["value"])
                line.append(best if math.isfinite(best) else math.nan)
            ax.step(xs, line, where="post", color=PALETTE[2], label="best so far")
        pruned = [x for x, t in zip(xs, ordered, strict=True) if t["state"] == "pruned"]
        for x in pruned:
            ax.axvline(x, color=PALETTE[1], alpha=0.35, linewidth=3)
        if pruned:
            ax.plot([], [], color=PALETTE[1], alpha=0.35, linewidth=3, label="pruned")
        ax.set_xlabel("trial (in the order they finished)")
        ax.set_ylabel("validation loss")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
        src = _encode(fig)
    return Figure(
        src,
        "validation loss of each tuning trial, in the order trials finished",
        "Trials over time: each completed trial's lowest validation loss, the best so far, and "
        "the pruned trials (shaded)",
    )


def build(run: RunFiles) -> dict[str, Any] | None:
    """The study (``study.json``) and the cross-validation spread (``metrics.json`` ``cv``);
    None when the run has neither."""
    cv = (run.metrics or {}).get("cv")
    path = run.path / "study.json"
    if not path.is_file():
        return {"study": None, "cv": cv} if cv else None
    try:
        study: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {"error": "study.json is damaged", "cv": cv}
    trials = study.get("trials", [])
    importances = study.get("importances") or {}
    return {
        "cv": cv,
        "study": study,
        "trials": trials,
        "pruned": [t for t in trials if t["state"] == "pruned"],
        "importances": sorted(importances.items(), key=lambda kv: -kv[1]),
        "figure": trials_over_time(trials) if trials else None,
    }
