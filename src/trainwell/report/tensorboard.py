"""The LR range test and the findings in TensorBoard, next to the training curves (TW-M02).

Written with the report, from the run directory alone (``lr_find.json``, ``findings.json``),
into the run ``tensorboard/run_summary/``, which every ``trainwell report`` rebuilds:

- ``lr_find/loss``, ``lr_find/smoothed_loss`` and ``lr_find/lr`` against the sweep's step
  (TensorBoard's x axis is a step, so the rate is its own chart), and the suggestion with
  its reason as text (``lr_find/suggestion``), TW-T02;
- ``findings``: the audit and doctor findings as a Markdown table (user strings escaped).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from trainwell.report.card import md
from trainwell.report.load import RunFiles

RUN = "run_summary"


def write_summary(run: RunFiles, folder: Path) -> Path | None:
    """Write the range test and findings under ``folder/run_summary``; None when the run
    has no TensorBoard folder (``logging.tensorboard=false``)."""
    if not folder.is_dir():
        return None
    target = folder / RUN
    shutil.rmtree(target, ignore_errors=True)  # only this run's own summary is rebuilt
    with SummaryWriter(str(target)) as writer:
        sweep = run.lr_find
        if sweep and sweep.get("lrs"):
            for step, (lr, loss, smoothed) in enumerate(
                zip(sweep["lrs"], sweep["losses"], sweep["smoothed"], strict=False)
            ):
                writer.add_scalar("lr_find/lr", lr, step)
                for tag, value in (("lr_find/loss", loss), ("lr_find/smoothed_loss", smoothed)):
                    if value is not None and math.isfinite(value):
                        writer.add_scalar(tag, value, step)
            chosen = run.manifest.get("network", {}).get("lr", sweep.get("suggestion"))
            suggestion = sweep.get("suggestion")
            said = (
                f"Suggested learning rate **{suggestion:.3g}**"
                if suggestion is not None
                else "No suggestion (the curve could not be trusted)"
            )
            started = f"{chosen:.3g}" if chosen is not None else "the fallback"
            writer.add_text(
                "lr_find/suggestion",
                f"{said} ({md(sweep.get('method', ''))}: {md(sweep.get('reason', ''))}); "
                f"training started from {started}. {md(sweep.get('stopped', ''))}.",
                0,
            )
        rows = [
            f"| {f.severity} | {f.stage} | `{f.id}` | {f.practice} | {md(f.message)} | "
            f"{md(f.fix)} |"
            for f in run.findings
        ]
        header = ["| severity | stage | id | practice | message | fix |", "|---|" * 6]
        table = "\n".join([*header, *rows])
        writer.add_text("findings", table if rows else "No findings.", 0)
    return target
