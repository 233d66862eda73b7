"""The speed/accuracy table of ``trainwell compress`` for the report's cost section (TW-P08)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainwell.errors import TrainwellError
from trainwell.run_files import read_run_json

VARIANTS = "export/variants.json"


def variants_section(run: Path) -> dict[str, Any] | None:
    """``RUN_DIR/export/variants.json`` for the report, None when the run was not
    compressed; a damaged file is reported as such rather than breaking the report."""
    if not (run / VARIANTS).is_file():
        return None
    try:
        record = read_run_json(run, VARIANTS)
    except TrainwellError as err:
        return {"error": str(err), "variants": []}
    if not isinstance(record, dict) or not isinstance(record.get("variants"), list):
        return {"error": f"{VARIANTS} is not a trainwell variants table", "variants": []}
    return record
