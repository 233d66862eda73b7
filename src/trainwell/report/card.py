"""The model card's content drawn from the run (TW-E06, TW-R05), in Hugging Face's format.

``model_card.md`` follows Hugging Face's model card (https://huggingface.co/docs/hub/model-cards):
a YAML metadata block that ``huggingface_hub.ModelCard.load`` parses (license, library_name,
tags, datasets, ``model-index`` with the test metrics, ``co2_eq_emissions``), then the
sections a reader of those cards expects. Every limitation names evidence from this run: a
finding, the worst errors, a group gap or the width of a confidence interval. Nothing here is
boilerplate that holds for any model.

Every string that comes from the user's data or command line (class names, column names,
group values, paths, the run's name) is Markdown-escaped (:func:`md`) or set as a code span
(:func:`code`), so a class named ``<svg onload=...>`` shows as text, not as HTML.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from trainwell.report.load import RunFiles

# Markdown punctuation that can start emphasis, links, code, tables or headings mid-line.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~#])")
PIPELINE_TAGS = {
    "table": {"regression": "tabular-regression", "default": "tabular-classification"},
    "image": {"default": "image-classification"},
    "text": {"default": "text-classification"},
    "series": {"regression": "time-series-forecasting", "default": "tabular-classification"},
}


def md(value: Any) -> str:
    r"""``value`` as Markdown text that renders literally: HTML special characters become
    entities, Markdown punctuation is backslash-escaped, line breaks become spaces.

    Example:
        >>> md("<svg onload=alert(1)>")
        '&lt;svg onload=alert(1)&gt;'
        >>> print(md("a_b*c"))
        a\_b\*c
    """
    text = " ".join(str(value).splitlines())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def code(value: Any) -> str:
    """``value`` as a Markdown code span (shown verbatim, never as HTML), whatever backticks
    it holds (CommonMark: a longer run of backticks fences it)."""
    text = " ".join(str(value).splitlines())
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def limitations(run: RunFiles, evaluation: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for f in run.findings:
        if f.severity in {"error", "warning"}:
            found.append(f"{md(f.message)} ({f.practice}, finding `{f.id}`; fix: {md(f.fix)})")
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
                    f"; the most frequent mistake among the worst is true {md(true)} predicted "
                    f"as {md(predicted)} ({n}x), and the worst (row {first['row']}) was "
                    f"predicted {md(first['predicted'])} with confidence "
                    f"{first['confidence']:.3f}"
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
        notes.append(f"Personal data: {md(f.message)} (`{f.id}`).")
    named = run.config.get("report", {}).get("groups", [])
    if named:
        gaps = [f for f in run.findings if f.id == "group-gap"]
        notes.append(
            f"Performance was compared across {', '.join(map(code, named))}: "
            + ("; ".join(md(f.message) for f in gaps) if gaps else "no gap above the threshold.")
        )
    else:
        notes.append(
            "No sensitive groups were named, so fairness across groups was not measured; "
            "re-run with --groups COLUMN[,COLUMN] to measure it (TW-E04)."
        )
    if not personal:
        notes.append("The audit found no column that looks like personal data (TW-R03).")
    return notes


def _pipeline_tag(run: RunFiles) -> str:
    kind = (run.manifest.get("modality") or {}).get("kind") or "table"
    tags = PIPELINE_TAGS.get(kind, PIPELINE_TAGS["table"])
    return tags.get(run.task, tags["default"])


def _shipped_library(shipped: str | None) -> str:
    return {"network": "pytorch", "lightgbm": "lightgbm"}.get(shipped or "", "scikit-learn")


def metadata(run: RunFiles, evaluation: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML metadata (Hugging Face's model card fields; see the module docstring).

    ``model-index`` holds the shipped model's test metrics from ``metrics.json``;
    ``co2_eq_emissions`` is codecarbon's estimate in grams (TW-R04).
    """
    data = run.manifest.get("data", {})
    # The file or folder name: a local path means nothing on the Hub and may reveal folders.
    source = Path(str(data.get("source") or "data")).name
    shipped = (run.metrics or {}).get("shipped")
    tags = ["trainwell", _pipeline_tag(run)]
    if shipped:
        tags.append(_shipped_library(shipped))
    if shipped == "network":
        tags.append("safetensors")
    chosen = _license(run)
    found: dict[str, Any] = {
        # trainwell cannot know the terms under which the data and model may be used: unless
        # the user set report.license, the card says so.
        **({"license": chosen} if chosen else {"license": "other", "license_name": "unspecified"}),
        "library_name": "trainwell",
        "pipeline_tag": _pipeline_tag(run),
        "tags": list(dict.fromkeys(tags)),
        "datasets": [source],
    }
    metrics = run.metrics
    if metrics:
        found["model-index"] = [
            {
                "name": run.path.name,
                "results": [
                    {
                        "task": {"type": _pipeline_tag(run), "name": run.task},
                        "dataset": {
                            "name": source,
                            "type": source,
                            "split": "test",
                            **({"revision": data["sha256"]} if data.get("sha256") else {}),
                        },
                        "metrics": [
                            {"type": key, "value": value, "name": f"test {key}"}
                            for key in evaluation.get("keys", [])
                            if (value := metrics["test"].get(key)) is not None
                        ],
                    }
                ],
            }
        ]
    total = (run.energy or {}).get("total") or {}
    if total.get("emissions_kg") is not None:
        hardware = _hardware(run)
        found["co2_eq_emissions"] = {
            "emissions": float(total["emissions_kg"]) * 1000.0,
            "source": "codecarbon",
            "training_type": "fine-tuning"
            if run.config.get("model", {}).get("pretrained")
            else "pre-training",
            "geographical_location": _country(run),
            "hardware_used": hardware,
        }
    return found


def _license(run: RunFiles) -> str | None:
    """``report.license`` from the run's config, or None when it was not set."""
    value = run.manifest.get("config", {}).get("report", {}).get("license")
    return str(value) if value else None


def license_line(run: RunFiles) -> str:
    """The card's sentence on the license, as set (or not) by ``report.license``."""
    chosen = _license(run)
    if chosen:
        return f"License: `{chosen}` (set by `report.license`)."
    return (
        "License: not set by the run (`license: other` above); set it with "
        "`report.license=ID` (a Hugging Face license identifier) before sharing the model."
    )


def front_matter(run: RunFiles, evaluation: dict[str, Any]) -> str:
    """The metadata as the YAML block that opens the card, between ``---`` lines."""
    text = yaml.safe_dump(metadata(run, evaluation), sort_keys=False, allow_unicode=True)
    return f"---\n{text}---\n"


def _country(run: RunFiles) -> str:
    sessions = (run.energy or {}).get("sessions") or [{}]
    last = sessions[-1]
    return str(last.get("country_name") or last.get("country") or "unknown")


def _hardware(run: RunFiles) -> str:
    hardware = run.manifest.get("environment", {}).get("hardware", {})
    sessions = (run.energy or {}).get("sessions") or [{}]
    # A session codecarbon could not finish (an interrupted run) names the CPU "Unknown".
    names = [sessions[-1].get("cpu_model"), hardware.get("machine")]
    cpu = next((n for n in names if n and str(n).lower() != "unknown"), None)
    cores = hardware.get("cpu_count", "?")
    text = f"{cores} {cpu} cores" if cpu else f"{cores} CPU cores"
    gpu = hardware.get("gpu") or sessions[-1].get("gpu_model")
    return f"{text} and {gpu}" if gpu else text


def _choice_name(value: Any) -> str:
    """A config choice's name: ``{"name": "sgd", ...}`` (or a bare name) -> ``sgd``."""
    return str(value.get("name") if isinstance(value, dict) else value)


def hyperparameters(run: RunFiles) -> list[tuple[str, str]]:
    """(name, value) rows of the training hyperparameters, taken from the manifest.

    Values are exact (``repr`` of floats), so a reader (or a test) can compare them with
    ``manifest.json``. Empty when no network was trained.
    """
    network = run.manifest.get("network") or {}
    if not network:
        return []
    train = run.config.get("train", {})
    rows: list[tuple[str, str]] = [
        ("optimizer", md(_choice_name(train.get("optimizer")))),
        ("weight decay", repr(train.get("weight_decay"))),
        ("learning rate", repr(network.get("lr"))),
        ("learning rate chosen by", md(network.get("lr_source", "configuration"))),
    ]
    if network.get("lr_reason"):
        rows.append(("how", md(network["lr_reason"])))
    rows += [
        ("schedule", md(network.get("schedule"))),
        ("batch size", str(network.get("batch_size"))),
        ("gradient accumulation", str(network.get("accumulate", 1))),
        ("effective batch size", str(network.get("effective_batch_size"))),
        ("maximum epochs", str(train.get("max_epochs"))),
        ("epochs run", str(network.get("epochs_run"))),
        ("early-stopping epoch (best, weights restored)", str(network.get("best_epoch"))),
        ("early-stopping patience", str(train.get("patience"))),
        ("stopped because", md(network.get("stop_reason"))),
        ("gradient clipping (max norm)", repr(train.get("clip_grad_norm"))),
        ("precision", str(network.get("precision"))),
        ("device", str(network.get("device"))),
        ("seed", str(run.manifest.get("seed"))),
    ]
    return rows


def examination(run: RunFiles, top: int = 10) -> dict[str, Any]:
    """What the run's explanations found (TW-E05): the most important columns by
    permutation importance, and the local attribution method and examples."""
    saved = run.explanations
    if not saved:
        return {"available": False}
    importance = saved["importance"]
    local = saved.get("local") or {}
    examples = []
    for example in local.get("examples", []):
        first = next(iter(example["attributions"].items()), None)
        examples.append(
            {
                "row": example["row"],
                "why": md(example["why"]),
                "true": md(example["true"]),
                "predicted": md(example["predicted"]),
                "top": (code(first[0]), first[1]) if first else None,
            }
        )
    return {
        "available": True,
        "model": saved["model"],
        "split": saved.get("split", "validation"),
        "metric": importance["metric"],
        "repeats": importance["repeats"],
        "features": [
            {"name": code(f["name"]), "mean": f["mean"], "std": f["std"]}
            for f in importance["features"][:top]
        ],
        "method": md(local.get("method") or ""),
        "examples": examples,
    }


def environment(run: RunFiles) -> dict[str, Any]:
    """Hardware, hours and codecarbon's energy and emissions (TW-R04), for the card."""
    energy = run.energy or {}
    total = energy.get("total") or {}
    timings = run.manifest.get("timings", {})
    seconds = total.get("duration_s") or (sum(timings.values()) if timings else None)
    sessions = energy.get("sessions") or []
    return {
        "hardware": md(_hardware(run)),
        "hours": seconds / 3600.0 if seconds is not None else None,
        "energy_kwh": total.get("energy_kwh"),
        "emissions_g": total["emissions_kg"] * 1000.0
        if total.get("emissions_kg") is not None
        else None,
        "country": md(_country(run)),
        "intensity": sessions[-1].get("carbon_intensity_g_per_kwh") if sessions else None,
        "codecarbon": energy.get("sessions", [{}])[-1].get("codecarbon") if sessions else None,
    }


def get_started(run: RunFiles) -> dict[str, str]:
    """Copy-pastable commands to load the model: the run folder's full path (so they work
    from any directory), shell-quoted (or a placeholder when the path could break out of a
    code block)."""
    name = str(run.path.resolve())
    safe = "`" not in name and "\n" not in name and "\r" not in name
    folder = name if safe else "RUN_DIR"
    return {"shell": shlex.quote(folder), "python": repr(folder)}
