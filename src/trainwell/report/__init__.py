"""``report.html`` and ``model_card.md``, built from the run directory alone.

``write_report(run_dir)`` reads the run's files (:mod:`trainwell.report.load`), turns each into
one section's values (:mod:`trainwell.report.sections`, in the report's order) and renders
``templates/report.html.j2`` and ``templates/model_card.md.j2``. Figures are SVG data URIs, so
the page is one self-contained file that opens without a network; a Content-Security-Policy
forbids it from loading anything at all. ``trainwell report RUN_DIR`` rebuilds both files,
also for a run that was stopped: sections whose files are missing say so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2

from trainwell.report import card
from trainwell.report.load import RunFiles
from trainwell.report.sections import (
    cost,
    data,
    evaluation,
    explanations,
    groups,
    reproducibility,
    summary,
    training,
    tuning,
)
from trainwell.report.tensorboard import write_summary
from trainwell.run import RunDir
from trainwell.train.checkpoint import atomic_write_bytes

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SECTIONS = {
    "summary": summary,
    "data": data,
    "training": training,
    "evaluation": evaluation,
    "groups": groups,
    "explanations": explanations,
    "reproducibility": reproducibility,
    "cost": cost,
    "tuning": tuning,  # only for a run made by `trainwell tune`
}

__all__ = ["build_context", "write_report"]


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def _exact(value: Any) -> str:
    """The full-precision value for ``data-value`` attributes (what the tests compare)."""
    return "" if value is None else repr(value)


def build_context(run: Path) -> dict[str, Any]:
    """All values the two templates show, keyed by section name."""
    return _context(RunFiles.read(run), run)


def _context(files: RunFiles, run: Path) -> dict[str, Any]:
    context: dict[str, Any] = {name: module.build(files) for name, module in SECTIONS.items()}
    context.update(
        run=run.name,
        run_dir=str(run.resolve()),  # the folder `trainwell predict` needs, not just its name
        manifest=files.manifest,
        metrics=files.metrics,
        findings=[f.to_dict() for f in files.findings],
        findings_saved=(run / "findings.json").exists(),  # an empty list is a clean run
        limitations=card.limitations(files, context["evaluation"]),
        card={
            "front_matter": card.front_matter(files, context["evaluation"]),
            "hyperparameters": card.hyperparameters(files),
            "examination": card.examination(files),
            "environment": card.environment(files),
            "get_started": card.get_started(files),
            "license": card.license_line(files),
        },
        ethics=card.ethics(files),
        classes=files.classes,
    )
    return context


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["exact"] = _exact
    # The model card is Markdown, which jinja's autoescape does not cover: user strings there
    # go through these (trainwell.report.card).
    env.filters["md"] = card.md
    env.filters["code"] = card.code
    return env


def write_report(run_dir: RunDir | Path | str) -> None:
    """Write ``report.html`` and ``model_card.md`` into a run directory (atomically)."""
    path = Path(run_dir.path) if isinstance(run_dir, RunDir) else Path(run_dir)
    files = RunFiles.read(path)
    context = _context(files, path)
    env = _environment()
    for template, name in (
        ("report.html.j2", "report.html"),
        ("model_card.md.j2", "model_card.md"),
    ):
        text = env.get_template(template).render(**context)
        atomic_write_bytes(path / name, text.encode())
    write_summary(files, path / "tensorboard")  # the range test and findings (TW-M02)
