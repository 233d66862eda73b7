"""``trainwell runs [FOLDER]``: the runs in a results folder, side by side (TW-M05, TW-X13).

Each run directory's ``manifest.json`` says its status (``complete``, ``failed``,
``interrupted``, or ``running``: still training, or killed without a chance to record it),
its data and its fully resolved config; ``metrics.json`` holds the test metrics of the
shipped model. The listing shows, per run: status, data, shipped model, the key test metric
(accuracy for classification, RMSE for regression) and the config keys whose values differ
between the listed runs (one change at a time is an ablation, TW-X13).

Example:
    >>> import tempfile
    >>> list_runs(Path(tempfile.mkdtemp()))
    []
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trainwell.errors import DataError

KEY_METRIC = {"regression": "rmse", "binary": "accuracy", "multiclass": "accuracy"}
# Sections that change how a run looks, not what it learns (as the test-set ledger's hash).
IGNORED = ("logging.",)


@dataclass
class RunSummary:
    """One run directory, as listed (JSON-able with :func:`dataclasses.asdict`)."""

    name: str
    path: str
    status: str
    started: str | None
    finished: str | None
    error: str | None
    data: str | None
    data_sha256: str | None
    task: str | None
    target: str | None
    shipped: str | None
    metric: str | None
    value: float | None
    test: dict[str, float | None] = field(default_factory=dict)
    differences: dict[str, Any] = field(default_factory=dict)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing or damaged: listed as such, never a crash
    return data if isinstance(data, dict) else None


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(_flatten(value, f"{name}."))
        else:
            found[name] = value
    return found


def _summary(folder: Path, manifest: dict[str, Any]) -> RunSummary:
    metrics = _read(folder / "metrics.json") or {}
    data = manifest.get("data") or {}
    task = data.get("task")
    metric = KEY_METRIC.get(str(task))
    complete = manifest.get("status") == "complete"
    # Only a complete run shipped a model; a stopped one's leftover files are not its result.
    test = (metrics.get("test") or {}) if complete else {}
    value = test.get(metric) if metric else None
    return RunSummary(
        name=folder.name,
        path=str(folder),
        status=str(manifest.get("status", "unknown")),
        started=manifest.get("started"),
        finished=manifest.get("finished"),
        error=manifest.get("error"),
        data=data.get("source"),
        data_sha256=data.get("sha256"),
        task=task,
        target=data.get("target"),
        shipped=metrics.get("shipped") if complete else None,
        metric=metric if value is not None else None,
        value=float(value) if isinstance(value, int | float) else None,
        test={k: v for k, v in test.items() if isinstance(v, int | float) or v is None},
    )


def list_runs(folder: Path) -> list[RunSummary]:
    """Every run directory directly inside ``folder`` (oldest first), with the config keys
    whose values differ between them.

    Raises:
        DataError: ``folder`` does not exist or is not a folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"results folder {str(folder)!r} does not exist; pass the folder that holds the "
            "run directories (trainwell fit --out FOLDER/NAME)"
        )
    runs: list[tuple[RunSummary, dict[str, Any]]] = []
    for child in sorted(folder.iterdir()):
        manifest = _read(child / "manifest.json") if child.is_dir() else None
        if manifest is None:
            continue
        config = _flatten(manifest.get("config") or {})
        config = {k: v for k, v in config.items() if not k.startswith(IGNORED)}
        runs.append((_summary(child, manifest), config))
    runs.sort(key=lambda pair: (pair[0].started or "", pair[0].name))
    keys = sorted({k for _, config in runs for k in config})
    missing = object()
    differing = [
        k for k in keys if len({json.dumps(c.get(k, missing), default=str) for _, c in runs}) > 1
    ]
    for summary, config in runs:
        summary.differences = {k: config.get(k) for k in differing}
    return [summary for summary, _ in runs]


def to_json(runs: list[RunSummary]) -> str:
    """The listing as JSON: a list of runs (the fields of :class:`RunSummary`)."""
    return json.dumps([asdict(r) for r in runs], indent=2, default=str)


def to_table(runs: list[RunSummary], folder: Path) -> Any:
    """The listing as a rich Table (``rich.table.Table``)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"runs in {escape(str(folder))}", title_justify="left")
    for column in ("run", "status", "started", "data", "shipped", "test metric", "differs"):
        table.add_column(column, overflow="fold")
    for run in runs:
        status = {"complete": "green", "failed": "red", "interrupted": "yellow"}.get(run.status)
        shown = f"[{status}]{run.status}[/]" if status else escape(run.status)
        if run.error:
            shown += f"\n{escape(run.error[:80])}"
        metric = f"{run.metric} {run.value:.4g}" if run.metric and run.value is not None else "–"
        differs = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in run.differences.items())
        table.add_row(
            escape(run.name),
            shown,
            (run.started or "–").replace("T", " ").replace("+00:00", ""),
            escape(str(run.data or "–")),
            escape(run.shipped or "–"),
            metric,
            escape(differs or "–"),
        )
    return table
