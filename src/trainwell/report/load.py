"""Everything the report reads, from the run directory alone (missing files are None)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from trainwell.analysis.energy import read_energy
from trainwell.analysis.predictions import read_test_predictions
from trainwell.findings import Finding, read_findings


def _read(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # a damaged file is reported as missing rather than stopping the report


@dataclass
class RunFiles:
    """The files of one run directory, as the report sections consume them."""

    path: Path
    manifest: dict[str, Any]
    metrics: dict[str, Any] | None
    findings: list[Finding]
    training: dict[str, Any] | None  # training_log.json
    history: list[dict[str, Any]] | None  # history.json (older runs have only this)
    data: dict[str, Any] | None  # data_summary.json
    predictions: pd.DataFrame | None
    test_inputs: pd.DataFrame | None
    groups: dict[str, Any] | None
    explanations: dict[str, Any] | None
    energy: dict[str, Any] | None
    lr_find: dict[str, Any] | None  # lr_find.json: the range test's curve (TW-T02)

    @property
    def task(self) -> str:
        return str(self.manifest.get("data", {}).get("task", ""))

    @property
    def classes(self) -> list[str] | None:
        classes = self.manifest.get("data", {}).get("classes")
        return [str(c) for c in classes] if classes is not None else None

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = self.manifest.get("config", {})
        return config

    @classmethod
    def read(cls, path: Path) -> RunFiles:
        saved = read_test_predictions(path)
        return cls(
            path=path,
            manifest=_read(path / "manifest.json") or {},
            metrics=_read(path / "metrics.json"),
            findings=read_findings(path / "findings.json"),
            training=_read(path / "training_log.json"),
            history=_read(path / "history.json"),
            data=_read(path / "data_summary.json"),
            predictions=saved[0] if saved else None,
            test_inputs=saved[1] if saved else None,
            groups=_read(path / "groups.json"),
            explanations=_read(path / "explanations.json"),
            energy=read_energy(path),
            lr_find=_read(path / "lr_find.json"),
        )
