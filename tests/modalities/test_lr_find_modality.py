"""``trainwell lr-find`` on images, text and series sweeps the network fit would train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli
from modality_data import make_sensors

import trainwell

SETTINGS = ["train.max_epochs=2", "logging.progress=false", "report.energy=false"]


def test_lr_find_on_series_matches_the_sweep_inside_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sensors.csv"
    make_sensors(60).to_csv(path, index=False)
    options = {"target": "activity", "series": "id", "time": "t"}
    trainwell.fit(path, out=tmp_path / "run", quiet=True, overrides=SETTINGS, **options)  # type: ignore[arg-type]
    recorded = json.loads((tmp_path / "run" / "lr_find.json").read_text())

    test = trainwell.lr_find(path, overrides=SETTINGS, **options)  # type: ignore[arg-type]
    assert test.suggestion is not None
    assert test.suggestion == recorded["suggestion"]
    assert test.lrs == recorded["lrs"]

    args = ["lr-find", str(path), "--target", "activity", "--series", "id", "--time", "t"]
    code, out, err = run_cli([*args, "--plot", str(tmp_path / "lr.svg"), *SETTINGS], capsys)
    assert code == 0, err
    assert f"suggested learning rate: {test.suggestion:.3g}" in out
    assert (tmp_path / "lr.svg").read_text().startswith("<?xml")
