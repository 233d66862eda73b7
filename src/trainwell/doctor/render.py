"""How findings look on a terminal: one line each, live, then a summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from trainwell.findings import Finding, sort_findings

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _where(f: Finding) -> str:
    where = f"step {f.step}" if f.step is not None else f.stage
    ranks = f.evidence.get("ranks") or []
    if len(ranks) > 1:  # a distributed run: the workers that found it
        where += ", ranks " + ",".join(map(str, ranks))
    elif "rank" in f.evidence:
        where += f", rank {f.evidence['rank']}"
    return where


def finding_line(f: Finding) -> str:
    """Rich markup for one finding: where, what, and the fix."""
    where = _where(f)
    if f.epoch is not None:
        where += f", epoch {f.epoch}"
    style = _STYLE[f.severity]
    return (
        f"[{style}]doctor {f.severity}[/] [dim]{escape(where)} · {f.practice} {escape(f.id)}[/]\n"
        f"  {escape(f.message)}\n  [dim]fix:[/] {escape(f.fix)}"
    )


def print_finding(console: Console, f: Finding) -> None:
    console.print(finding_line(f), highlight=False)


def print_summary(console: Console, findings: Sequence[Finding], exit_code: int) -> None:
    """The closing block: counts by severity and the findings, most serious first."""
    counts = Counter(f.severity for f in findings)
    if not findings:
        console.print(f"[green]doctor: no problems found[/] (script exit code {exit_code})")
        return
    parts = ", ".join(f"{counts[s]} {s}" for s in ("error", "warning", "info") if counts[s])
    console.print(f"[bold]doctor summary:[/] {parts} (script exit code {exit_code})")
    for f in sort_findings(list(findings)):
        where = _where(f)
        console.print(
            f"  [{_STYLE[f.severity]}]{f.severity:7}[/] {f.practice:7} {escape(f.id):24} "
            f"{escape(where)}",
            highlight=False,
        )
