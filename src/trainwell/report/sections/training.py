"""3 · Training: the learning-rate range test (TW-T02), learning curves with the early-stopping
point, learning rate and gradient norm per step, the doctor's findings and what the remedy did
(TW-M01, TW-M03, TW-X*)."""

from __future__ import annotations

from typing import Any

from trainwell.report import figures
from trainwell.report.load import RunFiles
from trainwell.report.sections.common import findings_of


def build(run: RunFiles) -> dict[str, Any]:
    log = run.training or {}
    epochs = log.get("epochs")
    if epochs is None and run.history:  # runs from before training_log.json existed
        epochs = [{**h, "epoch": int(h["epoch"]) + 1} for h in run.history]
    network = run.manifest.get("network", {})
    best = log.get("best_epoch") or network.get("best_epoch")
    remedies = [f.to_dict() for f in run.findings if f.id == "remedy-applied"]
    result: dict[str, Any] = {
        "network": network,
        "epochs": epochs or [],
        "best_epoch": best,
        "stop_reason": network.get("stop_reason") or log.get("stop_reason"),
        "findings": [f for f in findings_of(run.findings, "preflight", "train")],
        "remedies": remedies,
        "figures": [],
        "clip": run.config.get("train", {}).get("clip_grad_norm"),
    }
    sweep = run.lr_find
    if sweep and sweep.get("lrs"):
        chosen = network.get("lr", sweep.get("suggestion"))  # the LR training started from
        result["figures"].append(
            figures.range_test(
                sweep["lrs"], sweep["losses"], sweep["smoothed"], chosen, sweep.get("reason", "")
            )
        )
    if epochs:
        metric = next(
            (k for k in ("val_accuracy", "val_rmse") if any(e.get(k) is not None for e in epochs)),
            None,
        )
        result["metric"] = metric
        result["figures"].append(figures.learning_curves(epochs, best, metric))
    steps = log.get("steps") or {}
    if steps.get("step"):
        marks = [
            (int(r["evidence"].get("restored_step", r["step"] or 0)), "remedy: restored here")
            for r in remedies
        ]
        result["figures"].append(figures.step_series(steps["step"], steps["lr"], "learning rate"))
        clip = result["clip"]
        result["figures"].append(
            figures.step_series(
                steps["step"],
                steps["grad_norm"],
                "gradient norm (before clipping)",
                log=True,
                hline=clip,
                hline_label=f"clipping threshold ({clip})" if clip else "",
                marks=marks,
            )
        )
        result["steps_recorded"] = len(steps["step"])
        result["step_stride"] = log.get("step_stride", 1)
    return result
