"""``report.html`` and ``model_card.md``, built from the run directory alone.

This is the first version of the report: summary, metrics beside the baselines, findings,
learning curves and the manifest. Everything it shows is read from the run's files, so
``trainwell report RUN_DIR`` can rebuild it later, also for a stopped run.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import jinja2

from trainwell.findings import read_findings

TEMPLATES = Path(__file__).parent / "templates"


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def learning_curve_svg(history: list[dict[str, float]], best_epoch: int | None) -> str:
    """Training and validation loss per epoch, the early-stopping point marked (TW-M01)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [int(h["epoch"]) + 1 for h in history]
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    ax.plot(epochs, [h["train_loss"] for h in history], label="training loss")
    if any("val_loss" in h for h in history):
        ax.plot(epochs, [h.get("val_loss", float("nan")) for h in history], label="validation loss")
    if best_epoch:
        ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch ({best_epoch})")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def build_context(run: Path) -> dict[str, Any]:
    manifest = _read(run / "manifest.json") or {}
    history = _read(run / "history.json") or []
    network = manifest.get("network", {})
    return {
        "run": run.name,
        "manifest": manifest,
        "metrics": _read(run / "metrics.json"),
        "findings": [f.to_dict() for f in read_findings(run / "findings.json")],
        "curve": learning_curve_svg(history, network.get("best_epoch")) if history else None,
        "manifest_json": json.dumps(manifest, indent=2, default=str),
    }


def write_report(run_dir: Any) -> None:
    """Write ``report.html`` and ``model_card.md`` into a run directory."""
    path = Path(run_dir.path) if hasattr(run_dir, "path") else Path(run_dir)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["num"] = lambda v: "–" if v is None else f"{v:.4g}"
    context = build_context(path)
    (path / "report.html").write_text(env.get_template("report.html.j2").render(**context))
    (path / "model_card.md").write_text(env.get_template("model_card.md.j2").render(**context))
