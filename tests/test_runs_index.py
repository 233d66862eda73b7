"""``trainwell runs``: a complete, a failed and an interrupted run, listed as they are (TW-M05)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import mixed_frame
from helpers import InterruptAfter, run_cli

import trainwell
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

SETTINGS = [
    "train.max_epochs=2",
    "logging.progress=false",
    "baselines.lightgbm_rounds=20",
    "doctor.enabled=false",
    "report.energy=false",
    "report.bootstrap=0",
]


class FailAt(Callback):
    """A bug in the middle of training: the run must be recorded as failed."""

    def on_epoch_end(self, state: TrainState) -> None:
        raise RuntimeError("planted failure")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("results")
    data = folder / "data.csv"
    mixed_frame(200).to_csv(data, index=False)
    runs = folder / "runs"
    trainwell.fit(data, target="label", out=runs / "a-complete", overrides=SETTINGS, quiet=True)
    with pytest.raises(RuntimeError, match="planted failure"):
        trainwell.fit(
            data,
            target="label",
            out=runs / "b-failed",
            overrides=[*SETTINGS, "seed=1"],
            quiet=True,
            callbacks=[FailAt()],
        )
    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(
            data,
            target="label",
            out=runs / "c-interrupted",
            overrides=SETTINGS,
            quiet=True,
            callbacks=[InterruptAfter(1)],
        )
    (runs / "not-a-run").mkdir()  # folders without a manifest are skipped
    return runs


def test_json_lists_each_run_with_its_status(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["runs", str(results), "--format", "json"], capsys)
    assert code == 0, err
    runs = {r["name"]: r for r in json.loads(out)}
    assert set(runs) == {"a-complete", "b-failed", "c-interrupted"}
    complete, failed, interrupted = runs["a-complete"], runs["b-failed"], runs["c-interrupted"]
    assert complete["status"] == "complete"
    metrics = json.loads((results / "a-complete" / "metrics.json").read_text())
    assert complete["shipped"] == metrics["shipped"]
    assert complete["metric"] == "accuracy"
    assert complete["value"] == metrics["test"]["accuracy"]
    assert failed["status"] == "failed"
    assert failed["error"] == "RuntimeError: planted failure"
    assert interrupted["status"] == "interrupted"
    assert "--resume" in interrupted["error"]
    for stopped in (failed, interrupted):
        assert stopped["shipped"] is None
        assert stopped["value"] is None
    for run in runs.values():
        assert run["data"].endswith("data.csv")
        assert run["task"] == "binary"
    # Only the seed differs between these runs' configs.
    assert {r["name"]: r["differences"] for r in runs.values()} == {
        "a-complete": {"seed": 0},
        "b-failed": {"seed": 1},
        "c-interrupted": {"seed": 0},
    }


def test_table_shows_status_model_metric_and_differences(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["runs", str(results)], capsys)
    assert code == 0, err
    metrics = json.loads((results / "a-complete" / "metrics.json").read_text())
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if "│ " in line}
    assert "complete" in lines["a-complete"]
    assert f"accuracy {metrics['test']['accuracy']:.4g}" in lines["a-complete"]
    assert metrics["shipped"] in lines["a-complete"]
    assert "failed" in lines["b-failed"]
    assert "seed=1" in lines["b-failed"]
    assert "interrupted" in lines["c-interrupted"]


def test_bad_folder_and_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["runs", str(tmp_path / "missing")], capsys)
    assert code == 2
    assert "does not exist" in err
    assert "Traceback" not in err
    code, out, _ = run_cli(["runs", str(tmp_path)], capsys)
    assert code == 0
    assert "no runs in" in out
    code, _, err = run_cli(["runs", str(tmp_path), "--format", "yaml"], capsys)
    assert code == 2
    assert "--format must be table or json" in err
