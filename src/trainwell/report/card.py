"""The model card's limitations and ethical notes, drawn from the run (TW-E06, TW-R05).

Every limitation names evidence from this run: a finding, the worst errors, a group gap or
the width of a confidence interval. Nothing here is boilerplate that holds for any model.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from trainwell.report.load import RunFiles


def limitations(run: RunFiles, evaluation: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for f in run.findings:
        if f.severity in {"error", "warning"}:
            found.append(f"{f.message} ({f.practice}, finding `{f.id}`; fix: {f.fix})")
    worst = evaluation.get("worst")
    if worst:
        rows = worst["rows"]
        if run.task == "regression":
            if rows:
                found.append(
                    f"The largest test errors reach {rows[0]['loss']:.4g} (absolute); the "
                    f"{len(rows)} worst rows (e.g. row {rows[0]['row']}: true "
                    f"{rows[0]['true']:.4g}, predicted {rows[0]['predicted']:.4g}) are listed in "
                    "the report."
                )
        else:
            pairs = Counter(
                (r["true"], r["predicted"]) for r in rows if r["true"] != r["predicted"]
            )
            text = f"{worst['wrong']} of {worst['total']} test rows are misclassified"
            if pairs:
                (true, predicted), n = pairs.most_common(1)[0]
                first = next(r for r in rows if r["true"] != r["predicted"])
                text += (
                    f"; the most frequent mistake among the worst is true {true} predicted as "
                    f"{predicted} ({n}x), and the worst (row {first['row']}) was predicted "
                    f"{first['predicted']} with confidence {first['confidence']:.3f}"
                )
            found.append(text + ".")
    ci = evaluation.get("ci") or {}
    metric = "rmse" if run.task == "regression" else "accuracy"
    interval = ci.get(metric)
    if interval:
        size = run.manifest.get("splits", {}).get("sizes", {}).get("test", 0)
        found.append(
            f"The test split has {size} rows: the 95% interval "
            f"({evaluation.get('ci_method', {}).get(metric, 'bootstrap')}) of test {metric} is "
            f"{interval[0]:.4g} to {interval[1]:.4g}; differences smaller than that are noise."
        )
    if run.manifest.get("status") != "complete":
        found.append(f"The run is {run.manifest.get('status')}: no model was evaluated or shipped.")
    return found


def ethics(run: RunFiles) -> list[str]:
    notes: list[str] = []
    personal = [f for f in run.findings if f.practice == "TW-R03"]
    for f in personal:
        notes.append(f"Personal data: {f.message} ({f.id}).")
    named = run.config.get("report", {}).get("groups", [])
    if named:
        gaps = [f for f in run.findings if f.id == "group-gap"]
        notes.append(
            f"Performance was compared across {', '.join(map(repr, named))}: "
            + ("; ".join(f.message for f in gaps) if gaps else "no gap above the threshold.")
        )
    else:
        notes.append(
            "No sensitive groups were named, so fairness across groups was not measured; "
            "re-run with --groups COLUMN[,COLUMN] to measure it (TW-E04)."
        )
    if not personal:
        notes.append("The audit found no column that looks like personal data (TW-R03).")
    return notes
