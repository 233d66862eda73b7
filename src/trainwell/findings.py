"""The finding: one observation about the data or the training run, with evidence and a fix.

Findings are what the audit and the doctor produce and what ``findings.json`` holds; the schema
is the one in DESIGN.md. ``practice`` is an ID from PRACTICES.md, prefixed ``TW-``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
Stage = Literal["audit", "preflight", "train", "evaluate"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One problem (or notable fact) with the numbers behind it and what to do about it.

    Example:
        >>> f = Finding(id="class-imbalance", practice="TW-D11", severity="info",
        ...             stage="audit", message="Class 'b' is 5% of rows.",
        ...             fix="Class weights are applied (train.class_weights=auto).")
        >>> f.to_dict()["practice"]
        'TW-D11'
    """

    id: str
    practice: str
    severity: Severity
    stage: Stage
    message: str
    fix: str
    evidence: dict[str, Any] = field(default_factory=dict)
    step: int | None = None
    epoch: int | None = None

    def __post_init__(self) -> None:
        if not self.practice.startswith("TW-"):
            raise ValueError(f"practice must be a TW- ID, got {self.practice!r}")
        if self.severity not in SEVERITY_ORDER:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**data)


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most serious first, then by stage order of appearance (stable)."""
    return sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])


def write_findings(path: Path, findings: list[Finding]) -> None:
    path.write_text(json.dumps([f.to_dict() for f in findings], indent=2, default=str) + "\n")


def read_findings(path: Path) -> list[Finding]:
    """The findings in ``findings.json`` inside a run directory; ``[]`` when it is absent.

    Raises:
        RunDirError: the file is a symlink, not a list of findings, or damaged.
    """
    from trainwell.errors import RunDirError
    from trainwell.run_files import read_run_json

    if not path.exists() and not path.is_symlink():
        return []
    data = read_run_json(path.parent, path.name)
    try:
        if not isinstance(data, list):
            raise TypeError("not a list")
        return [Finding.from_dict(d) for d in data]
    except (TypeError, ValueError, KeyError) as err:
        raise RunDirError(f"{str(path)!r} is malformed: {err}") from None
