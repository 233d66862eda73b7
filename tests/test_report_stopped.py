"""A stopped run's report rebuilds, and the training log survives ``--resume`` exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import mixed_frame
from helpers import InterruptAfter, run_cli

import trainwell

SETTINGS = [
    "train.max_epochs=6",
    "train.patience=100",
    "logging.progress=false",
    "baselines.lightgbm_rounds=50",
    "report.bootstrap=50",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stopped") / "data.csv"
    mixed_frame(300).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def stopped(data: Path) -> Path:
    out = data.parent / "cut"
    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(
            data,
            target="label",
            out=out,
            overrides=SETTINGS,
            quiet=True,
            callbacks=[InterruptAfter(3)],
        )
    return out


def test_report_of_a_stopped_run_rebuilds(
    stopped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["report", str(stopped)], capsys)
    assert code == 0, err
    html = (stopped / "report.html").read_text()
    assert "Status: <b>interrupted</b>" in html
    assert "Incomplete run (interrupted)" in html
    assert "No evaluation: the run stopped before the test split was opened." in html
    log = json.loads((stopped / "training_log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [1, 2, 3]
    assert 'data-key="training.epoch3.val_loss"' in html
    card = (stopped / "model_card.md").read_text()
    assert "The run is interrupted: no model was evaluated or shipped." in card
    # No claim of a choice that was never made, and the command that finishes the run
    # (found by trying trainwell: "none (the run is not complete), chosen on validation –",
    # then a `trainwell predict` that fails on this run).
    assert "- Shipped model: **none**: the run is not complete" in card
    assert "chosen on validation" not in card
    assert f"trainwell fit --resume {stopped.resolve()}" in card
    energy = json.loads((stopped / "energy.json").read_text())
    assert [s["status"] for s in energy["sessions"]] == ["interrupted"]


def test_resumed_training_log_equals_an_uninterrupted_one(stopped: Path, data: Path) -> None:
    trainwell.fit(resume=stopped, quiet=True)
    whole = data.parent / "whole"
    trainwell.fit(data, target="label", out=whole, overrides=SETTINGS, quiet=True)
    resumed = json.loads((stopped / "training_log.json").read_text())
    uninterrupted = json.loads((whole / "training_log.json").read_text())
    assert [e["epoch"] for e in resumed["epochs"]] == [1, 2, 3, 4, 5, 6]
    assert resumed["steps"] == uninterrupted["steps"]  # the pre-interruption steps included
    assert resumed["epochs"] == uninterrupted["epochs"]
    energy = json.loads((stopped / "energy.json").read_text())
    assert [s["status"] for s in energy["sessions"]] == ["interrupted", "complete"]
    assert "resumed" in (stopped / "report.html").read_text()
