"""6 · Explanations (TW-E05): permutation importance on validation and captum attributions
for a few validation examples, from explanations.json."""

from __future__ import annotations

from typing import Any

from trainwell.report import figures
from trainwell.report.load import RunFiles

TOP = 15  # features in the importance chart
TOP_LOCAL = 8  # features in each example's chart


def build(run: RunFiles) -> dict[str, Any]:
    saved = run.explanations
    if not saved:
        modality = run.manifest.get("modality") or {}
        return {"available": False, "modality": modality.get("kind")}
    importance = saved["importance"]
    top = importance["features"][:TOP]
    metric = importance["metric"].replace("_", " ")
    result: dict[str, Any] = {
        "available": True,
        "model": saved["model"],
        "importance": importance,
        "importance_figure": figures.bars(
            [f["name"] for f in top],
            {"importance": [f["mean"] for f in top]},
            errors=[f["std"] for f in top],
            ylabel=f"increase in validation {metric} when shuffled",
            caption=f"Permutation importance of the {TOP if len(top) == TOP else len(top)} "
            f"most important columns ({importance['repeats']} shuffles each, ± one standard "
            f"deviation), model {saved['model']}.",
            horizontal=True,
        ),
        "examples": [],
    }
    local = saved.get("local") or {}
    result["method"] = local.get("method")
    for example in local.get("examples", []):
        items = list(example["attributions"].items())[:TOP_LOCAL]
        figure = figures.bars(
            [f"{name} = {example['values'].get(name)}" for name, _ in items],
            {"contribution": [value for _, value in items]},
            ylabel=f"contribution to the {example['explains']}",
            caption=f"Row {example['row']} ({example['why']}): true {example['true']}, "
            f"predicted {example['predicted']}. The {example['explains']} is "
            f"{example['output']:.3g} against {example['reference_output']:.3g} for the "
            "reference row; the bars add up to the difference.",
            horizontal=True,
        )
        result["examples"].append({**example, "figure": figure})
    return result
